/*
 * smtp_client.c - a small SMTP client for the rare mail opesd sends to the
 * MTA (sender DSNs): one connection per message, see smtp_client.h.
 */
#include "opes/smtp_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "opes/dotstuff.h"
#include "opes/endpoint.h"
#include "opes/lmtp_client.h"
#include "opes/log.h"
#include "opes/netio.h"

/* smtp_read - one (multi-line) reply; 0, or -1 with reply set to our 451. */
static int smtp_read(struct netio *io, int timeout_ms, struct lmtp_reply *reply)
{
    struct lmtp_reply_parser p;

    lmtp_reply_parser_init(&p);
    for (;;) {
        char *line;
        size_t len;
        int rc = netio_readline(io, 4096, timeout_ms, &line, &len);
        if (rc <= 0) {
            lmtp_reply_set(reply, 451, "4.4.2", "relay did not answer: %s",
                           rc == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        if (rc == 2 || (rc = lmtp_reply_parse_line(&p, line, len)) < 0) {
            lmtp_reply_set(reply, 451, "4.4.0", "relay protocol error");
            return -1;
        }
        if (rc == 1) {
            *reply = p.reply;
            return 0;
        }
    }
}

/* smtp_cmd - send one command line and read its reply; 0 when the code is expected. */
static int smtp_cmd(struct netio *io, int timeout_ms, int expect, struct lmtp_reply *reply,
                    const char *verb, const char *arg)
{
    if (netio_printf(io, timeout_ms, "%s%s\r\n", verb, arg) < 0 ||
        netio_flush(io, timeout_ms) < 0) {
        lmtp_reply_set(reply, 451, "4.4.2", "relay write failed: %s", strerror(errno));
        return -1;
    }
    if (smtp_read(io, timeout_ms, reply) < 0)
        return -1;
    return reply->code / 100 == expect / 100 ? 0 : -1;
}

void smtp_client_send(const struct endpoint *ep, const char *helo, const char *sender,
                      const char *rcpt, const char *msg, size_t len, int timeout_ms,
                      struct lmtp_reply *reply)
{
    const char *error;
    int fd = netio_connect(ep, timeout_ms, &error);
    struct netio *io;
    struct dotstuff_encoder enc;
    char out[2 * 4096 + 8], path[600];

    if (fd < 0) {
        lmtp_reply_set(reply, 451, "4.4.1", "relay unreachable: %s", error);
        return;
    }
    io = netio_new(fd, -1);
    if (smtp_read(io, timeout_ms, reply) < 0 || reply->code != 220)
        goto out;
    if (smtp_cmd(io, timeout_ms, 250, reply, "EHLO ", helo) < 0) {
        if (reply->code / 100 != 5 || smtp_cmd(io, timeout_ms, 250, reply, "HELO ", helo) < 0)
            goto out;
    }
    snprintf(path, sizeof(path), "<%s>", sender);
    if (smtp_cmd(io, timeout_ms, 250, reply, "MAIL FROM:", path) < 0)
        goto out;
    snprintf(path, sizeof(path), "<%s>", rcpt);
    if (smtp_cmd(io, timeout_ms, 250, reply, "RCPT TO:", path) < 0 ||
        smtp_cmd(io, timeout_ms, 354, reply, "DATA", "") < 0)
        goto out;
    dotstuff_encoder_init(&enc);
    for (size_t off = 0; off < len; off += 4096) {
        size_t n = len - off < 4096 ? len - off : 4096;
        size_t m = dotstuff_encode(&enc, msg + off, n, out);
        if (netio_write(io, out, m, timeout_ms) < 0) {
            lmtp_reply_set(reply, 451, "4.4.2", "relay write failed: %s", strerror(errno));
            goto out;
        }
    }
    {
        size_t m = dotstuff_encode_end(&enc, out);
        if (netio_write(io, out, m, timeout_ms) < 0 || netio_flush(io, timeout_ms) < 0) {
            lmtp_reply_set(reply, 451, "4.4.2", "relay write failed: %s", strerror(errno));
            goto out;
        }
    }
    if (smtp_read(io, timeout_ms, reply) == 0 && reply->code / 100 == 2) {
        struct lmtp_reply bye;
        if (netio_printf(io, timeout_ms, "QUIT\r\n") == 0 && netio_flush(io, timeout_ms) == 0)
            smtp_read(io, timeout_ms, &bye);
    }
out:
    netio_free(&io);
}
