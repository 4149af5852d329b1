/*
 * lmtp_server.c - the LMTP protocol facing the MTA.
 *
 * Owns the session (connection, LHLO name, XFORWARD attributes, bad command
 * count) and the transaction (sender, recipients, their replies), which is
 * created at MAIL and freed by lmtp_tx_free on RSET, after the final replies,
 * or at disconnect. Commands are dispatched through one table that also holds
 * the states each verb is allowed in. Everything a message means is asked of
 * the daemon through struct lmtp_server_callbacks: this file knows no store,
 * service, pipeline or delivery target.
 */
#include "opes/lmtp_server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/clock.h"
#include "opes/dotstuff.h"
#include "opes/lmtp_parse.h"
#include "opes/log.h"
#include "opes/netio.h"
#include "opes/spool.h"
#include "opes/vec.h"

enum lmtp_state { ST_INIT = 1, ST_READY = 2, ST_MAIL = 4, ST_RCPT = 8 };
#define ST_ANY (ST_INIT | ST_READY | ST_MAIL | ST_RCPT)

struct lmtp_xforward {
    char name[256], addr[64], port[8], proto[16], helo[256], ident[64], source[8];
};

struct lmtp_session {
    const struct lmtp_server_settings *set;
    const struct lmtp_server_callbacks *cb;
    void *ctx;
    struct netio *io;
    int stop_fd;
    char id[16];
    char peer_addr[64], peer_port[8];
    char helo[256];
    bool xforward_allowed, smtputf8_offered, eightbit_offered;
    struct lmtp_xforward xf;
    enum lmtp_state state;
    unsigned bad_commands;
    bool quit;
    struct lmtp_server_tx *tx;
    char *data_buf; /* DATA decoding, allocated at the first DATA: idle sessions hold none */
};

static unsigned long lmtp_session_seq;

/* ---------------------------------------------------------------- replies */

static int lmtp_ms(uint64_t seconds)
{
    return seconds > 86400 ? 86400000 : (int)seconds * 1000;
}

/* lmtp_has_id - inside a transaction that has an id to name in replies. */
static bool lmtp_has_id(const struct lmtp_session *s)
{
    return s->tx != NULL && s->tx->id[0] != '\0';
}

/* lmtp_reply - one reply line; the trace id is appended inside a transaction. */
static void lmtp_reply(struct lmtp_session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void lmtp_reply(struct lmtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* enhanced codes go on 2xx, 4xx and 5xx replies only (RFC 2034) */
    netio_printf(s->io, lmtp_ms(s->set->command_timeout), "%d %s%s%s%s%s%s\r\n", code,
                 enh != NULL ? enh : "", enh != NULL ? " " : "", text,
                 lmtp_has_id(s) ? " (trace " : "", lmtp_has_id(s) ? s->tx->id : "",
                 lmtp_has_id(s) ? ")" : "");
}

/* lmtp_reply_text - a relayed reply's text on one line, printable ASCII, bounded. */
static void lmtp_reply_text(const struct lmtp_reply *r, char *out, size_t size)
{
    size_t o = 0;

    for (const char *p = r->text; *p != '\0' && o + 1 < size && o < 400; p++) {
        unsigned char c = (unsigned char)*p;
        out[o++] = c == '\n' ? ' ' : (c < 32 || c > 126) ? '?' : (char)c;
    }
    out[o] = '\0';
}

/* lmtp_reply_relay - send a downstream (or our own) reply on, with enhanced code and trace. */
static void lmtp_reply_relay(struct lmtp_session *s, const struct lmtp_reply *r)
{
    char text[512], enh[16];

    lmtp_reply_text(r, text, sizeof(text));
    if (lmtp_enh_valid(r->enh, r->code))
        snprintf(enh, sizeof(enh), "%s", r->enh);
    else
        snprintf(enh, sizeof(enh), "%d.0.0", r->code / 100);
    lmtp_reply(s, r->code, enh, "%s", text);
}

/* lmtp_log_rcpt - the one final line for a recipient. */
static void lmtp_log_rcpt(struct lmtp_session *s, const struct lmtp_server_rcpt *rc,
                          const char *stage)
{
    const struct lmtp_reply *r = &rc->reply;
    char text[512], esc[600], raddr[300];
    const char *action = r->code / 100 == 4   ? "deferred"
                         : r->code / 100 == 5 ? "rejected"
                         : rc->action != NULL ? rc->action
                                              : "delivered";
    int64_t ms = s->tx != NULL ? clock_now_ms() - s->tx->start_ms : 0;

    lmtp_reply_text(r, text, sizeof(text));
    log_escape(esc, sizeof(esc), text, strlen(text));
    log_escape(raddr, sizeof(raddr), rc->addr, strlen(rc->addr));
    log_info("rcpt=<%s> action=%s stage=%s reply=\"%d %s %s\" services=%s ms=%lld", raddr, action,
             stage, r->code, r->enh[0] ? r->enh : "-", esc, rc->services[0] ? rc->services : "none",
             (long long)ms);
}

static void lmtp_set_log_context(struct lmtp_session *s)
{
    if (s->tx != NULL)
        log_set_context("session=%s trace=%s", s->id, s->tx->id);
    else
        log_set_context("session=%s", s->id);
}

/* ---------------------------------------------------------------- state */

static const char *lmtp_state_name(enum lmtp_state st)
{
    switch (st) {
    case ST_INIT:
        return "init";
    case ST_READY:
        return "ready";
    case ST_MAIL:
        return "mail";
    case ST_RCPT:
        return "rcpt";
    }
    return "?";
}

/* lmtp_enter_state - the only place the state changes. */
static void lmtp_enter_state(struct lmtp_session *s, enum lmtp_state st)
{
    if (s->state != st)
        log_debug("state %s -> %s", lmtp_state_name(s->state), lmtp_state_name(st));
    s->state = st;
}

/* lmtp_tx_destroy - the callbacks' part, then the server's. */
static void lmtp_tx_destroy(struct lmtp_session *s, struct lmtp_server_tx *tx)
{
    if (s->cb->tx_free != NULL)
        s->cb->tx_free(s->ctx, tx);
    for (size_t i = 0; i < tx->nrcpts; i++) {
        free(tx->rcpts[i].bypass);
        free(tx->rcpts[i].orcpt);
    }
    free(tx->rcpts);
    free(tx->bypass);
    free(tx);
}

/* lmtp_tx_free - end the transaction, whatever state it reached. */
static void lmtp_tx_free(struct lmtp_session *s)
{
    struct lmtp_server_tx *tx = s->tx;

    if (tx == NULL)
        return;
    s->tx = NULL;
    lmtp_tx_destroy(s, tx);
    memset(&s->xf, 0, sizeof(s->xf)); /* XFORWARD lasts for one transaction */
    lmtp_set_log_context(s);
    if (s->state != ST_INIT)
        lmtp_enter_state(s, ST_READY);
}

static bool lmtp_bad_command(struct lmtp_session *s)
{
    if (++s->bad_commands < s->set->max_bad_commands)
        return false;
    log_warnx("too many bad commands (%u), disconnecting", s->bad_commands);
    lmtp_reply(s, 421, "4.7.0", "%s Too many errors, closing connection", s->set->hostname);
    s->quit = true;
    return true;
}

/* ---------------------------------------------------------------- commands */

static void cmd_lhlo(struct lmtp_session *s, char *args)
{
    struct lmtp_caps caps = {0};
    int ms = lmtp_ms(s->set->command_timeout);

    if (*args == '\0' || strchr(args, ' ') != NULL) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: LHLO hostname");
        lmtp_bad_command(s);
        return;
    }
    lmtp_tx_free(s);
    snprintf(s->helo, sizeof(s->helo), "%s", args);
    lmtp_enter_state(s, ST_READY);
    if (s->cb->lhlo != NULL)
        s->cb->lhlo(s->ctx, &caps);
    s->eightbit_offered = caps.eightbitmime;
    s->smtputf8_offered = caps.smtputf8;
    netio_printf(s->io, ms, "250-%s\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n",
                 s->set->hostname);
    if (caps.eightbitmime)
        netio_printf(s->io, ms, "250-8BITMIME\r\n");
    if (caps.smtputf8)
        netio_printf(s->io, ms, "250-SMTPUTF8\r\n");
    if (s->xforward_allowed)
        netio_printf(s->io, ms, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n");
    netio_printf(s->io, ms, "250-XOPES-BYPASS\r\n250 SIZE %llu\r\n",
                 (unsigned long long)s->set->max_message_size);
}
static void cmd_helo(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_reply(s, 500, "5.5.1", "Error: this is an LMTP server, use LHLO");
    lmtp_bad_command(s);
}

/* lmtp_bypass_param - decode an XOPES-BYPASS=xtext value into *out. */
static int lmtp_bypass_param(const char *value, char **out)
{
    char buf[1024];

    if (value == NULL || lmtp_xtext_decode(value, buf, sizeof(buf)) <= 0)
        return -1;
    free(*out);
    if ((*out = strdup(buf)) == NULL)
        fatal("strdup");
    return 0;
}

/*
 * lmtp_orcpt_param - ORCPT=addr-type;xtext into *out. DSN is not advertised
 * (PROTOCOL.md 2), but a client that sends ORCPT anyway gets it kept for the
 * Original-Recipient of a later DSN (RFC 3464 2.3.1).
 */
static int lmtp_orcpt_param(const char *value, char **out)
{
    char buf[LMTP_ORCPT_MAX + 1];

    if (lmtp_parse_orcpt(value, buf, sizeof(buf)) < 0)
        return -1;
    free(*out);
    if ((*out = strdup(buf)) == NULL)
        fatal("strdup");
    return 0;
}

/* lmtp_params_too_long - the reply to a parameter over the limit: refused, never cut. */
static void lmtp_params_too_long(struct lmtp_session *s)
{
    lmtp_reply(s, 501, "5.5.4", "Syntax: parameter longer than %zu octets",
               s->set->limits.max_param_len);
}

/* lmtp_mail_params - SIZE, BODY, SMTPUTF8, XOPES-BYPASS; 0, or -1 after replying. */
static int lmtp_mail_params(struct lmtp_session *s, struct lmtp_server_tx *tx, char *params)
{
    struct lmtp_param p[LMTP_PARAMS_MAX];
    int n = lmtp_parse_params(params, p, &s->set->limits);

    if (n == LMTP_PARSE_TOO_LONG) {
        lmtp_params_too_long(s);
        return -1;
    }
    if (n < 0) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: bad MAIL parameters");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char *end;
        if (strcmp(p[i].name, "SIZE") == 0) {
            if (p[i].value == NULL || *p[i].value < '0' || *p[i].value > '9' ||
                strlen(p[i].value) > 20 ||
                (tx->size_param = strtoull(p[i].value, &end, 10), *end != '\0')) {
                lmtp_reply(s, 501, "5.5.4", "Syntax: SIZE=number");
                return -1;
            }
            if (tx->size_param > s->set->max_message_size) {
                lmtp_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
                return -1;
            }
        } else if (strcmp(p[i].name, "BODY") == 0 && p[i].value != NULL &&
                   (strcasecmp(p[i].value, "7BIT") == 0 ||
                    (s->eightbit_offered && strcasecmp(p[i].value, "8BITMIME") == 0))) {
            snprintf(tx->body, sizeof(tx->body), "%s", p[i].value);
            for (char *c = tx->body; *c != '\0'; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        } else if (strcmp(p[i].name, "SMTPUTF8") == 0 && p[i].value == NULL &&
                   s->smtputf8_offered) {
            tx->smtputf8 = true;
        } else if (strcmp(p[i].name, "XOPES-BYPASS") == 0) {
            if (lmtp_bypass_param(p[i].value, &tx->bypass) < 0) {
                lmtp_reply(s, 501, "5.5.4", "Syntax: XOPES-BYPASS=xtext");
                return -1;
            }
        } else {
            lmtp_reply(s, 555, "5.5.4", "Unsupported MAIL parameter %s", p[i].name);
            return -1;
        }
    }
    return 0;
}

/* lmtp_path_refused - the reply to a MAIL or RCPT path lmtp_parse_path refused with rc. */
static void lmtp_path_refused(struct lmtp_session *s, int rc, const char *error)
{
    if (rc == LMTP_PARSE_BAD_UTF8)
        lmtp_reply(s, 553, "5.6.7", "%s", error);
    else
        lmtp_reply(s, 501, "5.5.4", "%s", error);
    lmtp_bad_command(s);
}

static void cmd_mail(struct lmtp_session *s, char *args)
{
    struct lmtp_server_tx *tx = calloc(1, sizeof(*tx));
    const char *params, *error;
    char esc[300];
    struct lmtp_reply refused;
    int rc;

    if (tx == NULL)
        fatal("calloc");
    if ((rc = lmtp_parse_path(args, "FROM:", true, s->smtputf8_offered, tx->sender, &params,
                              &error)) < 0) {
        free(tx);
        lmtp_path_refused(s, rc, error);
        return;
    }
    /* the parameters are parsed in place, in the command line: nothing is cut to fit */
    if (lmtp_mail_params(s, tx, args + (params - args)) < 0) {
        free(tx->bypass);
        free(tx);
        lmtp_bad_command(s);
        return;
    }
    tx->start_ms = clock_now_ms();
    tx->helo = s->xf.helo[0] ? s->xf.helo : s->helo;
    tx->client_name = s->xf.name[0] ? s->xf.name : NULL;
    tx->client_addr = s->xf.addr[0] ? s->xf.addr : s->peer_addr;
    tx->queue_id = s->xf.ident[0] ? s->xf.ident : NULL;
    if (s->cb->mail != NULL && s->cb->mail(s->ctx, tx, &refused) < 0) {
        s->tx = tx; /* for the reply's trace id; no transaction began */
        lmtp_reply_relay(s, &refused);
        s->tx = NULL;
        lmtp_tx_destroy(s, tx);
        return;
    }
    s->tx = tx;
    lmtp_set_log_context(s);
    lmtp_enter_state(s, ST_MAIL);
    log_escape(esc, sizeof(esc), tx->sender, strlen(tx->sender));
    log_info("from=<%s> size=%llu client=%s helo=%s", esc, (unsigned long long)tx->size_param,
             tx->client_addr, tx->helo);
    lmtp_reply(s, 250, "2.1.0", "Sender <%s> OK", tx->sender);
}

static struct lmtp_server_rcpt *lmtp_rcpt_add(struct lmtp_server_tx *tx)
{
    tx->rcpts = vec_reserve(tx->rcpts, &tx->cap, tx->nrcpts + 1, sizeof(*tx->rcpts));
    memset(&tx->rcpts[tx->nrcpts], 0, sizeof(tx->rcpts[0]));
    return &tx->rcpts[tx->nrcpts];
}

static void cmd_rcpt(struct lmtp_session *s, char *args)
{
    struct lmtp_server_tx *tx = s->tx;
    struct lmtp_server_rcpt *r;
    struct lmtp_param p[LMTP_PARAMS_MAX];
    const char *params, *error;
    int n, rc;

    if (tx->nrcpts >= s->set->max_recipients) {
        lmtp_reply(s, 452, "4.5.3", "Too many recipients");
        return;
    }
    r = lmtp_rcpt_add(tx);
    if ((rc = lmtp_parse_path(args, "TO:", false, tx->smtputf8, r->addr, &params, &error)) < 0) {
        lmtp_path_refused(s, rc, error);
        return;
    }
    n = lmtp_parse_params(args + (params - args), p, &s->set->limits);
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].name, "XOPES-BYPASS") == 0 &&
            lmtp_bypass_param(p[i].value, &r->bypass) == 0)
            continue;
        if (strcmp(p[i].name, "ORCPT") == 0 && lmtp_orcpt_param(p[i].value, &r->orcpt) == 0)
            continue;
        free(r->bypass);
        free(r->orcpt);
        if (strcmp(p[i].name, "XOPES-BYPASS") == 0)
            lmtp_reply(s, 501, "5.5.4", "Syntax: XOPES-BYPASS=xtext");
        else if (strcmp(p[i].name, "ORCPT") == 0)
            lmtp_reply(s, 501, "5.5.4", "Syntax: ORCPT=addr-type;xtext");
        else
            lmtp_reply(s, 555, "5.5.4", "Unsupported RCPT parameter %s", p[i].name);
        lmtp_bad_command(s);
        return;
    }
    if (n == LMTP_PARSE_TOO_LONG) {
        lmtp_params_too_long(s);
        lmtp_bad_command(s);
        return;
    }
    if (n < 0) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: bad RCPT parameters");
        lmtp_bad_command(s);
        return;
    }
    if (s->cb->rcpt_filter != NULL)
        s->cb->rcpt_filter(s->ctx, tx, r);
    /* the check again, on the address as it will be delivered */
    r->first = tx->nrcpts;
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (strcasecmp(tx->rcpts[i].addr, r->addr) == 0) {
            r->first = i; /* a duplicate shares the first one's delivery */
            break;
        }
    }
    if (r->first != tx->nrcpts)
        r->reply = tx->rcpts[r->first].reply;
    else if (s->cb->rcpt != NULL)
        s->cb->rcpt(s->ctx, tx, r);
    else
        lmtp_reply_set(&r->reply, 250, "2.1.5", "<%s> OK", r->addr);
    lmtp_reply_relay(s, &r->reply);
    if (r->reply.code / 100 != 2) {
        lmtp_log_rcpt(s, r, "rcpt");
        free(r->bypass);
        free(r->orcpt);
        return;
    }
    tx->nrcpts++;
    lmtp_enter_state(s, ST_RCPT);
}

/*
 * lmtp_data_wait - how long to wait for more content: data_timeout, but no
 * longer than the client may take at min_data_rate for what it sent so far
 * (plus data_timeout): a client trickling a byte now and then is cut off,
 * like Postfix's smtpd_min_data_rate.
 */
static int lmtp_data_wait(const struct lmtp_server_settings *set, int64_t start, uint64_t got)
{
    int64_t wait = (int64_t)set->data_timeout * 1000, left;

    if (set->min_data_rate == 0)
        return (int)wait;
    left = start + wait + (int64_t)(got * 1000 / set->min_data_rate) - clock_now_ms();
    if (left < 1)
        left = 1; /* netio_fill then times out: ETIMEDOUT, 421 */
    return (int)(left < wait ? left : wait);
}

/* lmtp_read_data - the message after 354 into the spool; 0, or -1 when the client is gone
 * (-2 when it timed out). */
static int lmtp_read_data(struct lmtp_session *s, struct spool *spool, unsigned *flags,
                          uint64_t *size)
{
    char *out;
    struct dotstuff_decoder dec;
    bool done = false;
    int ret = 0;
    int64_t start = clock_now_ms();

    if (s->data_buf == NULL && (s->data_buf = malloc(2 * NETIO_RBUF_SIZE + 8)) == NULL)
        fatal("malloc");
    out = s->data_buf;

    dotstuff_decoder_init(&dec, s->set->bare_eol_normalize);
    *size = 0;
    while (!done) {
        const char *in;
        size_t avail = netio_peek(s->io, &in), outlen, used;
        if (avail == 0) {
            int rc = netio_fill(s->io, lmtp_data_wait(s->set, start, *size));
            if (rc <= 0) {
                log_warnx("client %s during DATA after %llu bytes",
                          rc == 0              ? "disconnected"
                          : errno == ETIMEDOUT ? "timed out"
                                               : strerror(errno),
                          (unsigned long long)*size);
                ret = -1;
                if (rc < 0 && errno == ETIMEDOUT) {
                    lmtp_reply(s, 421, "4.4.2", "%s Timeout during DATA, closing connection",
                               s->set->hostname);
                    netio_flush(s->io, 1000);
                    ret = -2;
                }
                break;
            }
            continue;
        }
        used = dotstuff_decode(&dec, in, avail, out, &outlen, &done);
        netio_consume(s->io, used);
        *size += outlen;
        /* over the limit: keep reading to the end, store nothing more */
        if (*size <= s->set->max_message_size) {
            spool_write(spool, out, outlen);
            if (s->cb->data_chunk != NULL)
                s->cb->data_chunk(s->ctx, s->tx, out, outlen); /* one pass over the message */
        }
    }
    *flags = dec.flags;
    return ret;
}

/* lmtp_data_verdict - a reply for every recipient when the content itself is refused. */
static bool lmtp_data_verdict(struct lmtp_session *s, struct spool *spool, unsigned flags,
                              uint64_t size, struct lmtp_reply *r)
{
    int err = spool_error(spool);

    if (size > s->set->max_message_size) {
        lmtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit");
    } else if ((flags & DOTSTUFF_NUL) != 0) {
        lmtp_reply_set(r, 554, "5.6.0", "Message contains NUL characters");
    } else if ((flags & (DOTSTUFF_BARE_CR | DOTSTUFF_BARE_LF)) != 0 && s->set->bare_eol_reject) {
        lmtp_reply_set(r, 554, "5.6.0", "Message contains bare CR or LF characters");
    } else if (err == ENOSPC || err == EDQUOT) {
        lmtp_reply_set(r, 452, "4.3.1", "Insufficient system storage");
    } else if (err != 0) {
        lmtp_reply_set(r, 451, "4.3.0", "Local error spooling the message");
    } else {
        return false;
    }
    if (err != 0) {
        errno = err;
        log_warn("spool write failed");
    }
    return true;
}

static void cmd_data(struct lmtp_session *s, char *args)
{
    struct lmtp_server_tx *tx = s->tx;
    struct spool *spool;
    struct lmtp_reply refused;
    unsigned flags = 0;
    uint64_t size = 0;
    int stop, cut;

    if (*args != '\0') {
        lmtp_reply(s, 501, "5.5.4", "Syntax: DATA takes no arguments");
        lmtp_bad_command(s);
        return;
    }
    lmtp_reply(s, 354, NULL, "Start mail input; end with <CRLF>.<CRLF>");
    /* a message in flight is finished even when opesd is asked to stop */
    stop = netio_set_stop(s->io, -1);
    spool = spool_new(s->set->spool_memory, s->set->spool_dir);
    if (s->cb->data_begin != NULL)
        s->cb->data_begin(s->ctx, tx);
    if ((cut = lmtp_read_data(s, spool, &flags, &size)) < 0) {
        /* nothing is delivered; the client keeps the message and may try again */
        for (size_t i = 0; i < tx->nrcpts; i++) {
            lmtp_reply_set(&tx->rcpts[i].reply, 421, "4.4.2", "%s during DATA, nothing delivered",
                           cut == -2 ? "Timeout" : "Connection lost");
            lmtp_log_rcpt(s, &tx->rcpts[i], "data");
        }
        spool_free(&spool);
        s->quit = true;
        return;
    }
    log_info("data size=%llu spooled=%s", (unsigned long long)size,
             spool_on_disk(spool) ? "file" : "memory");
    if (lmtp_data_verdict(s, spool, flags, size, &refused)) {
        for (size_t i = 0; i < tx->nrcpts; i++)
            tx->rcpts[i].reply = refused;
    } else if (s->cb->data_end != NULL) {
        s->cb->data_end(s->ctx, tx, spool);
    } else {
        for (size_t i = 0; i < tx->nrcpts; i++)
            lmtp_reply_set(&tx->rcpts[i].reply, 250, "2.0.0", "<%s> OK", tx->rcpts[i].addr);
    }
    for (size_t i = 0; i < tx->nrcpts; i++) {
        lmtp_reply_relay(s, &tx->rcpts[i].reply);
        lmtp_log_rcpt(s, &tx->rcpts[i], "data");
    }
    netio_flush(s->io, lmtp_ms(s->set->command_timeout));
    if (s->cb->data_replied != NULL)
        s->cb->data_replied(s->ctx, tx);
    spool_free(&spool);
    lmtp_tx_free(s);
    netio_flush(s->io, lmtp_ms(s->set->command_timeout));
    netio_set_stop(s->io, stop);
}
static void cmd_rset(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_tx_free(s);
    lmtp_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_vrfy(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_help(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_reply(s, 214, "2.0.0", "Commands: LHLO MAIL RCPT DATA RSET NOOP VRFY XFORWARD QUIT");
}

static void cmd_quit(struct lmtp_session *s, char *args)
{
    (void)args;
    lmtp_tx_free(s);
    lmtp_reply(s, 221, "2.0.0", "%s Bye", s->set->hostname);
    s->quit = true;
}

/* lmtp_xforward_attr - the field of one XFORWARD attribute, or NULL. */
static char *lmtp_xforward_attr(struct lmtp_xforward *xf, const char *name, size_t *size)
{
    const struct {
        const char *name;
        char *field;
        size_t size;
    } attrs[] = {
        {"NAME", xf->name, sizeof(xf->name)},       {"ADDR", xf->addr, sizeof(xf->addr)},
        {"PORT", xf->port, sizeof(xf->port)},       {"PROTO", xf->proto, sizeof(xf->proto)},
        {"HELO", xf->helo, sizeof(xf->helo)},       {"IDENT", xf->ident, sizeof(xf->ident)},
        {"SOURCE", xf->source, sizeof(xf->source)},
    };

    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        if (strcmp(name, attrs[i].name) == 0) {
            *size = attrs[i].size;
            return attrs[i].field;
        }
    }
    return NULL;
}

static void cmd_xforward(struct lmtp_session *s, char *args)
{
    struct lmtp_param p[LMTP_PARAMS_MAX];
    struct lmtp_xforward xf = s->xf;
    int n;

    if (!s->xforward_allowed) {
        lmtp_reply(s, 550, "5.7.0", "Error: insufficient authorization");
        lmtp_bad_command(s);
        return;
    }
    n = lmtp_parse_params(args, p, &s->set->limits);
    if (n == LMTP_PARSE_TOO_LONG) {
        lmtp_params_too_long(s);
        lmtp_bad_command(s);
        return;
    }
    if (n <= 0) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: XFORWARD attribute=value...");
        lmtp_bad_command(s);
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t size;
        char *field = lmtp_xforward_attr(&xf, p[i].name, &size);
        char value[512];
        if (field == NULL || p[i].value == NULL ||
            lmtp_xtext_decode(p[i].value, value, sizeof(value)) < 0) {
            lmtp_reply(s, 501, "5.5.4", "Syntax: bad XFORWARD attribute %s", p[i].name);
            lmtp_bad_command(s);
            return;
        }
        if (strcmp(value, "[UNAVAILABLE]") == 0 || strcmp(value, "[TEMPUNAVAIL]") == 0)
            value[0] = '\0';
        if (s->cb->xforward_value != NULL)
            s->cb->xforward_value(s->ctx, field, size, value);
        else
            snprintf(field, size, "%s", value);
    }
    s->xf = xf;
    lmtp_reply(s, 250, "2.0.0", "Ok");
}

struct lmtp_command {
    const char *verb;
    void (*fn)(struct lmtp_session *s, char *args);
    unsigned states;
    const char *wrong_state; /* text of the 503 outside those states */
};

static const struct lmtp_command lmtp_commands[] = {
    {"LHLO", cmd_lhlo, ST_ANY, NULL},
    {"HELO", cmd_helo, ST_ANY, NULL},
    {"EHLO", cmd_helo, ST_ANY, NULL},
    {"MAIL", cmd_mail, ST_READY, NULL},
    {"RCPT", cmd_rcpt, ST_MAIL | ST_RCPT, "Error: need MAIL command"},
    {"DATA", cmd_data, ST_RCPT, NULL},
    {"RSET", cmd_rset, ST_ANY, NULL},
    {"NOOP", cmd_noop, ST_ANY, NULL},
    {"VRFY", cmd_vrfy, ST_ANY, NULL},
    {"HELP", cmd_help, ST_ANY, NULL},
    {"QUIT", cmd_quit, ST_ANY, NULL},
    {"XFORWARD", cmd_xforward, ST_READY, "Error: XFORWARD only outside a transaction"},
};

/* lmtp_wrong_state - the 503 text for a verb used out of order. */
static const char *lmtp_wrong_state(const struct lmtp_session *s, const struct lmtp_command *c)
{
    if (s->state == ST_INIT)
        return "Error: send LHLO first";
    if (strcmp(c->verb, "MAIL") == 0)
        return "Error: nested MAIL command";
    if (strcmp(c->verb, "DATA") == 0)
        return s->state == ST_MAIL ? "Error: no valid recipients" : "Error: need RCPT command";
    return c->wrong_state;
}

static void lmtp_dispatch(struct lmtp_session *s, char *line, size_t len)
{
    char *verb, *args;
    int rc = lmtp_parse_command(line, len, &s->set->limits, &verb, &args);

    if (rc == LMTP_PARSE_TOO_LONG) {
        lmtp_reply(s, 500, "5.5.2", "Error: line too long");
        lmtp_bad_command(s);
        return;
    }
    if (rc < 0) {
        lmtp_reply(s, 500, "5.5.2", "Error: bad syntax");
        lmtp_bad_command(s);
        return;
    }
    for (size_t i = 0; i < sizeof(lmtp_commands) / sizeof(lmtp_commands[0]); i++) {
        const struct lmtp_command *c = &lmtp_commands[i];
        if (strcmp(c->verb, verb) != 0)
            continue;
        if ((c->states & s->state) == 0) {
            lmtp_reply(s, 503, "5.5.1", "%s", lmtp_wrong_state(s, c));
            lmtp_bad_command(s);
            return;
        }
        c->fn(s, args);
        return;
    }
    lmtp_reply(s, 500, "5.5.2", "Error: command not recognized");
    lmtp_bad_command(s);
}

/* lmtp_peer_trusted - is the peer listed in xforward_hosts? */
static bool lmtp_peer_trusted(const char *xforward_hosts, const char *addr)
{
    const char *p = xforward_hosts != NULL ? xforward_hosts : "";

    while (*p != '\0') {
        size_t n = strcspn(p, ", \t");
        if (n > 0 && n == strlen(addr) && strncmp(p, addr, n) == 0)
            return true;
        p += n + (p[n] != '\0');
    }
    return false;
}

void lmtp_server_session(const struct lmtp_server_settings *set,
                         const struct lmtp_server_callbacks *cb, void *ctx, int fd, int stop_fd)
{
    struct lmtp_session s = {
        .set = set, .cb = cb, .ctx = ctx, .stop_fd = stop_fd, .state = ST_INIT};
    int ms = lmtp_ms(set->command_timeout);

    snprintf(s.id, sizeof(s.id), "%lx", __atomic_add_fetch(&lmtp_session_seq, 1, __ATOMIC_SEQ_CST));
    s.io = netio_new(fd, stop_fd);
    netio_peer_name(fd, s.peer_addr, sizeof(s.peer_addr), s.peer_port, sizeof(s.peer_port));
    s.xforward_allowed = lmtp_peer_trusted(set->xforward_hosts, s.peer_addr);
    lmtp_set_log_context(&s);
    log_info("connect client=%s port=%s", s.peer_addr, s.peer_port);
    lmtp_reply(&s, 220, NULL, "%s LMTP opesd ready", set->hostname);

    while (!s.quit) {
        char *line;
        size_t len;
        int rc = netio_readline(s.io, set->limits.max_command_line, ms, &line, &len);

        if (rc == 1) {
            lmtp_dispatch(&s, line, len);
        } else if (rc == 2) {
            lmtp_reply(&s, 500, "5.5.2", "Error: line too long");
            lmtp_bad_command(&s);
        } else if (rc == 0) {
            log_info("client closed the connection state=%s", lmtp_state_name(s.state));
            break;
        } else if (errno == ECANCELED) {
            lmtp_reply(&s, 421, "4.3.2", "%s Service shutting down, closing connection",
                       set->hostname);
            break;
        } else {
            if (errno == ETIMEDOUT)
                lmtp_reply(&s, 421, "4.4.2", "%s Timeout, closing connection", set->hostname);
            log_warnx("connection ended: %s",
                      errno == ETIMEDOUT ? "idle timeout" : strerror(errno));
            break;
        }
    }
    netio_flush(s.io, 1000);
    lmtp_tx_free(&s);
    free(s.data_buf);
    log_info("disconnect bad_commands=%u", s.bad_commands);
    log_set_context(NULL);
    netio_free(&s.io);
}
