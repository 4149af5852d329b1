/*
 * clamd.c - the INSTREAM client for ClamAV's clamd.
 *
 * Owns one connection per scan: "zINSTREAM\0", the content as chunks each
 * preceded by its length (4 octets, big-endian), a zero-length chunk, then one
 * NUL-terminated reply. clamd answers early only to refuse (size limit), and
 * then closes, so the sender looks for input before every chunk and, when a
 * write fails, still reads what clamd said. All waits share one deadline.
 */
#include "opes/clamd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/log.h"
#include "opes/netio.h"
#include "opes/spool.h"

/* where the content comes from: a spool, or a buffer in memory */
struct clamd_source {
    struct spool *spool;
    const char *data;
    size_t len, pos;
};

static _Thread_local char clamd_errbuf[512];

/* clamd_error - format *error_r as "clamd ENDPOINT: text"; returns -1. */
static int clamd_error(const struct endpoint *ep, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int clamd_error(const struct endpoint *ep, const char **error_r, const char *fmt, ...)
{
    char where[160], text[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(clamd_errbuf, sizeof(clamd_errbuf), "clamd %s: %s",
             endpoint_format(ep, where, sizeof(where)), text);
    *error_r = clamd_errbuf;
    return -1;
}

static ssize_t clamd_source_read(struct clamd_source *src, char *buf, size_t size)
{
    size_t n;

    if (src->spool != NULL)
        return spool_read(src->spool, buf, size);
    n = src->len - src->pos < size ? src->len - src->pos : size;
    if (n == 0)
        return 0;
    memcpy(buf, src->data + src->pos, n);
    src->pos += n;
    return (ssize_t)n;
}

/* clamd_copy_name - the signature name, unprintable octets as '?'. */
static void clamd_copy_name(char *virus, size_t vsize, const char *name, size_t len)
{
    size_t i;

    if (vsize == 0)
        return;
    if (len > vsize - 1)
        len = vsize - 1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        virus[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    virus[len] = '\0';
}

int clamd_parse_reply(const char *reply, size_t len, char *virus, size_t vsize,
                      const char **error_r)
{
    static const char prefix[] = "stream: ", found[] = " FOUND";
    const size_t plen = sizeof(prefix) - 1, flen = sizeof(found) - 1;
    char quoted[200];

    if (len == plen + 2 && memcmp(reply, "stream: OK", len) == 0)
        return 0;
    if (len > plen + flen && memcmp(reply, prefix, plen) == 0 &&
        memcmp(reply + len - flen, found, flen) == 0 && reply[plen] != ' ') {
        clamd_copy_name(virus, vsize, reply + plen, len - plen - flen);
        return 1;
    }
    log_escape(quoted, sizeof(quoted), reply, len);
    if (len >= 6 && memcmp(reply + len - 6, " ERROR", 6) == 0)
        snprintf(clamd_errbuf, sizeof(clamd_errbuf), "error reply \"%s\"", quoted);
    else
        snprintf(clamd_errbuf, sizeof(clamd_errbuf), "malformed reply \"%s\"", quoted);
    *error_r = clamd_errbuf;
    return -1;
}

/*
 * clamd_read_reply - wait for the NUL-terminated reply and parse it.
 * *replied_r tells whether clamd said anything (an error reply) or not.
 */
static int clamd_read_reply(const struct endpoint *ep, struct netio *io,
                            int64_t deadline, char *virus, size_t vsize,
                            bool *replied_r, const char **error_r)
{
    char quoted[200];
    const char *data, *err;
    int rc;

    *replied_r = false;
    for (;;) {
        size_t avail = netio_peek(io, &data);
        const char *nul = memchr(data, '\0', avail < CLAMD_REPLY_MAX ? avail : CLAMD_REPLY_MAX);
        if (nul != NULL) {
            *replied_r = true;
            rc = clamd_parse_reply(data, (size_t)(nul - data), virus, vsize, &err);
            if (rc >= 0)
                return rc;
            clamd_error(ep, error_r, "%s", err);
            /* StreamMaxLength: the content was not scanned, which is no failure of clamd */
            return memmem(data, (size_t)(nul - data), "size limit exceeded", 19) != NULL
                       ? CLAMD_LIMIT
                       : -1;
        }
        if (avail >= CLAMD_REPLY_MAX)
            return clamd_error(ep, error_r, "reply longer than %d octets", CLAMD_REPLY_MAX);
        rc = netio_fill(io, clock_ms_left(deadline));
        if (rc == 0 && avail == 0)
            return clamd_error(ep, error_r, "connection closed without a reply");
        if (rc == 0) {
            log_escape(quoted, sizeof(quoted), data, avail);
            return clamd_error(ep, error_r, "reply cut short \"%s\"", quoted);
        }
        if (rc < 0 && errno == ETIMEDOUT)
            return clamd_error(ep, error_r, "timed out waiting for the reply");
        if (rc < 0)
            return clamd_error(ep, error_r, "reading the reply: %s", strerror(errno));
    }
}

/* clamd_write_chunk - one length-prefixed chunk; 0 or -1 with errno. */
static int clamd_write_chunk(struct netio *io, const char *data, size_t len,
                             int64_t deadline)
{
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};

    if (netio_write(io, hdr, sizeof(hdr), clock_ms_left(deadline)) < 0)
        return -1;
    if (len > 0 && netio_write(io, data, len, clock_ms_left(deadline)) < 0)
        return -1;
    return 0;
}

/* what clamd_send did */
enum clamd_sent {
    CLAMD_SENT_ALL,
    CLAMD_SENT_EARLY_REPLY,
    CLAMD_SENT_SOCKET_ERROR,
    CLAMD_SENT_SOURCE_ERROR
};

/*
 * clamd_send - the command and the whole stream; stops when clamd speaks
 * first (it refuses). errno is set for the two errors.
 */
static enum clamd_sent clamd_send(struct netio *io, struct clamd_source *src, char *chunk,
                                  int64_t deadline)
{
    if (netio_write(io, "zINSTREAM", sizeof("zINSTREAM"), clock_ms_left(deadline)) < 0)
        return CLAMD_SENT_SOCKET_ERROR;
    for (;;) {
        ssize_t n = clamd_source_read(src, chunk, CLAMD_CHUNK_SIZE);
        if (n < 0)
            return CLAMD_SENT_SOURCE_ERROR;
        if (n == 0)
            break;
        if (netio_readable_now(io))
            return CLAMD_SENT_EARLY_REPLY;
        if (clamd_write_chunk(io, chunk, (size_t)n, deadline) < 0)
            return CLAMD_SENT_SOCKET_ERROR;
    }
    if (clamd_write_chunk(io, NULL, 0, deadline) < 0 ||
        netio_flush(io, clock_ms_left(deadline)) < 0)
        return CLAMD_SENT_SOCKET_ERROR;
    return CLAMD_SENT_ALL;
}

/*
 * clamd_cut_short - the stream did not get through: clamd spoke first
 * (send_errno 0) or a write failed. clamd's own reason (size limit) beats our
 * EPIPE, and a verdict on part of the message is no verdict.
 */
static int clamd_cut_short(const struct endpoint *ep, struct netio *io,
                           int64_t deadline, int send_errno, const char **error_r)
{
    char name[CLAMD_VIRUS_MAX];
    bool replied;
    int rc;

    rc = clamd_read_reply(ep, io, deadline, name, sizeof(name), &replied, error_r);
    if (rc >= 0)
        return clamd_error(ep, error_r, "verdict before the end of the stream");
    if (replied || send_errno == 0)
        return rc;
    if (send_errno == ETIMEDOUT)
        return clamd_error(ep, error_r, "timed out sending the message");
    return clamd_error(ep, error_r, "sending the message: %s", strerror(send_errno));
}

static int clamd_exchange(const struct endpoint *ep, int timeout_ms, struct clamd_source *src,
                          char *virus, size_t vsize, const char **error_r)
{
    int64_t deadline;
    struct netio *io;
    const char *err;
    char *chunk;
    enum clamd_sent sent;
    bool replied;
    int fd, rc, send_errno;

    deadline = clock_now_ms() + timeout_ms;
    fd = netio_connect(ep, timeout_ms, &err);
    if (fd < 0)
        return clamd_error(ep, error_r, "%s", err);
    io = netio_new(fd, -1);
    chunk = malloc(CLAMD_CHUNK_SIZE);
    if (chunk == NULL)
        fatal("malloc");
    sent = clamd_send(io, src, chunk, deadline);
    send_errno = errno;
    free(chunk);
    switch (sent) {
    case CLAMD_SENT_ALL:
        rc = clamd_read_reply(ep, io, deadline, virus, vsize, &replied, error_r);
        break;
    case CLAMD_SENT_SOURCE_ERROR:
        rc = clamd_error(ep, error_r, "reading the message: %s", strerror(send_errno));
        break;
    case CLAMD_SENT_EARLY_REPLY:
        rc = clamd_cut_short(ep, io, deadline, 0, error_r);
        break;
    default:
        rc = clamd_cut_short(ep, io, deadline, send_errno, error_r);
        break;
    }
    netio_free(&io);
    return rc;
}

int clamd_scan(const struct endpoint *ep, int timeout_ms, struct spool *spool, char *virus,
               size_t vsize, const char **error_r)
{
    struct clamd_source src = {.spool = spool};

    if (spool_error(spool) != 0)
        return clamd_error(ep, error_r, "message incomplete: %s", strerror(spool_error(spool)));
    if (spool_rewind(spool) < 0)
        return clamd_error(ep, error_r, "rewinding the message: %s", strerror(errno));
    return clamd_exchange(ep, timeout_ms, &src, virus, vsize, error_r);
}

int clamd_scan_buffer(const struct endpoint *ep, int timeout_ms, const void *data, size_t len,
                      char *virus, size_t vsize, const char **error_r)
{
    struct clamd_source src = {.data = data, .len = len};

    return clamd_exchange(ep, timeout_ms, &src, virus, vsize, error_r);
}
