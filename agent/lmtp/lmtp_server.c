/*
 * lmtp_server.c - the LMTP session facing the MTA.
 *
 * Owns the session (connection, LHLO name, XFORWARD attributes, bad command
 * count) and the transaction (sender, recipients, spool, downstream
 * transaction), which is created at MAIL and freed by lmtp_tx_free on RSET,
 * after the final replies, or at disconnect. Commands are dispatched through
 * one table that also holds the states each verb is allowed in.
 */
#include "opes/lmtp_server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/dotstuff.h"
#include "opes/endpoint.h"
#include "opes/lmtp_parse.h"
#include "opes/log.h"
#include "opes/mime.h"
#include "opes/netio.h"
#include "opes/pipeline.h"
#include "opes/service.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/svc_rewrite.h"
#include "opes/trace.h"
#include "opes/tracelog.h"
#include "opes/variant.h"

enum lmtp_state { ST_INIT = 1, ST_READY = 2, ST_MAIL = 4, ST_RCPT = 8 };
#define ST_ANY (ST_INIT | ST_READY | ST_MAIL | ST_RCPT)

struct lmtp_rcpt {
    char addr[LMTP_ADDR_MAX + 1]; /* as delivered: after the rewrite services' address map */
    char orig[LMTP_ADDR_MAX + 1]; /* as the client gave it, when the map changed it; else "" */
    size_t first;                 /* index of the first RCPT of this address (itself if unique) */
    char *bypass;                 /* XOPES-BYPASS value (decoded), kept for the service pipeline */
    struct lmtp_reply reply;
    char services[256]; /* what the services did, for the log line */
    const char *action; /* quarantined, rejected ... when a policy decided; else from the code */
};

struct lmtp_tx {
    char trace[TRACE_ID_LEN + 1];
    char sender[LMTP_ADDR_MAX + 1];
    uint64_t size_param;
    char body[16];
    bool smtputf8;
    char *bypass;
    struct lmtp_rcpt *rcpts;
    size_t nrcpts, cap;
    struct deliver_tx *dtx;
    int64_t start_ms;
    struct tracelog_batch records; /* trace records, handed to the writer after the replies */
};

struct lmtp_xforward {
    char name[256], addr[64], port[8], proto[16], helo[256], ident[64], source[8];
};

struct lmtp_session {
    struct lmtp_env *env;
    const struct opes_config *cfg;
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
    struct lmtp_tx *tx;
    struct store *st; /* opened at the first message that needs it */
    bool st_failed;
    char *data_buf; /* DATA decoding, allocated at the first DATA: idle sessions hold none */
};

static unsigned long lmtp_session_seq;

/* ---------------------------------------------------------------- env */

struct lmtp_env *lmtp_env_new(struct opes_config *cfg, const char **error_r)
{
    struct lmtp_env *env = calloc(1, sizeof(*env));

    if (env == NULL)
        fatal("calloc");
    env->cfg = cfg;
    env->services = services_load(cfg, error_r);
    env->deliver = env->services != NULL ? deliver_new(cfg, error_r) : NULL;
    if (env->deliver == NULL) {
        services_free(&env->services);
        config_unref(&env->cfg);
        free(env);
        return NULL;
    }
    env->refs = 1;
    return env;
}

struct lmtp_env *lmtp_env_ref(struct lmtp_env *env)
{
    __atomic_add_fetch(&env->refs, 1, __ATOMIC_SEQ_CST);
    return env;
}

void lmtp_env_unref(struct lmtp_env **envp)
{
    struct lmtp_env *env = *envp;

    *envp = NULL;
    if (env == NULL || __atomic_sub_fetch(&env->refs, 1, __ATOMIC_SEQ_CST) != 0)
        return;
    deliver_free(&env->deliver);
    services_free(&env->services);
    config_unref(&env->cfg);
    free(env);
}

/* ---------------------------------------------------------------- replies */

static int lmtp_ms(uint64_t seconds)
{
    return seconds > 86400 ? 86400000 : (int)seconds * 1000;
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
    netio_printf(s->io, lmtp_ms(s->cfg->command_timeout), "%d %s%s%s%s%s%s\r\n", code,
                 enh != NULL ? enh : "", enh != NULL ? " " : "", text,
                 s->tx != NULL ? " (trace " : "", s->tx != NULL ? s->tx->trace : "",
                 s->tx != NULL ? ")" : "");
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
static void lmtp_log_rcpt(struct lmtp_session *s, const struct lmtp_rcpt *rc, const char *stage)
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
        log_set_context("session=%s trace=%s", s->id, s->tx->trace);
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

/* lmtp_tx_free - end the transaction, whatever state it reached. */
static void lmtp_tx_free(struct lmtp_session *s)
{
    struct lmtp_tx *tx = s->tx;

    if (tx == NULL)
        return;
    s->tx = NULL;
    deliver_tx_end(&tx->dtx);
    tracelog_batch_free(&tx->records);
    for (size_t i = 0; i < tx->nrcpts; i++)
        free(tx->rcpts[i].bypass);
    free(tx->rcpts);
    free(tx->bypass);
    free(tx);
    memset(&s->xf, 0, sizeof(s->xf)); /* XFORWARD lasts for one transaction */
    lmtp_set_log_context(s);
    if (s->state != ST_INIT)
        lmtp_enter_state(s, ST_READY);
}

static bool lmtp_bad_command(struct lmtp_session *s)
{
    if (++s->bad_commands < s->cfg->max_bad_commands)
        return false;
    log_warnx("too many bad commands (%u), disconnecting", s->bad_commands);
    lmtp_reply(s, 421, "4.7.0", "%s Too many errors, closing connection", s->cfg->hostname);
    s->quit = true;
    return true;
}

/* ---------------------------------------------------------------- commands */

static void cmd_lhlo(struct lmtp_session *s, char *args)
{
    struct lmtp_caps caps;
    int ms = lmtp_ms(s->cfg->command_timeout);

    if (*args == '\0' || strchr(args, ' ') != NULL) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: LHLO hostname");
        lmtp_bad_command(s);
        return;
    }
    lmtp_tx_free(s);
    snprintf(s->helo, sizeof(s->helo), "%s", args);
    lmtp_enter_state(s, ST_READY);
    caps = deliver_caps(s->env->deliver);
    s->eightbit_offered = caps.eightbitmime;
    s->smtputf8_offered = caps.smtputf8;
    netio_printf(s->io, ms, "250-%s\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n",
                 s->cfg->hostname);
    if (caps.eightbitmime)
        netio_printf(s->io, ms, "250-8BITMIME\r\n");
    if (caps.smtputf8)
        netio_printf(s->io, ms, "250-SMTPUTF8\r\n");
    if (s->xforward_allowed)
        netio_printf(s->io, ms, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n");
    netio_printf(s->io, ms, "250-XOPES-BYPASS\r\n250 SIZE %llu\r\n",
                 (unsigned long long)s->cfg->max_message_size);
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

/* lmtp_mail_params - SIZE, BODY, SMTPUTF8, XOPES-BYPASS; 0, or -1 after replying. */
static int lmtp_mail_params(struct lmtp_session *s, struct lmtp_tx *tx, char *params)
{
    struct lmtp_param p[LMTP_PARAMS_MAX];
    int n = lmtp_parse_params(params, p, LMTP_PARAMS_MAX);

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
            if (tx->size_param > s->cfg->max_message_size) {
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

static void cmd_mail(struct lmtp_session *s, char *args)
{
    struct lmtp_tx *tx = calloc(1, sizeof(*tx));
    const char *params, *error;
    char pbuf[1024], esc[300];
    struct deliver_mail dm;

    if (tx == NULL)
        fatal("calloc");
    if (lmtp_parse_path(args, "FROM:", true, s->smtputf8_offered, tx->sender, &params, &error) <
        0) {
        free(tx);
        lmtp_reply(s, 501, "5.5.4", "%s", error);
        lmtp_bad_command(s);
        return;
    }
    snprintf(pbuf, sizeof(pbuf), "%s", params);
    if (lmtp_mail_params(s, tx, pbuf) < 0) {
        free(tx->bypass);
        free(tx);
        lmtp_bad_command(s);
        return;
    }
    trace_id_new(tx->trace);
    tx->start_ms = clock_now_ms();
    dm = (struct deliver_mail){.sender = tx->sender,
                               .trace_id = tx->trace,
                               .size = tx->size_param,
                               .body = tx->body[0] ? tx->body : NULL,
                               .smtputf8 = tx->smtputf8};
    tx->dtx = deliver_tx_begin(s->env->deliver, &dm);
    s->tx = tx;
    lmtp_set_log_context(s);
    lmtp_enter_state(s, ST_MAIL);
    log_escape(esc, sizeof(esc), tx->sender, strlen(tx->sender));
    log_info("from=<%s> size=%llu client=%s helo=%s", esc, (unsigned long long)tx->size_param,
             s->xf.addr[0] ? s->xf.addr : s->peer_addr, s->xf.helo[0] ? s->xf.helo : s->helo);
    lmtp_reply(s, 250, "2.1.0", "Sender <%s> OK", tx->sender);
}

static struct lmtp_rcpt *lmtp_rcpt_add(struct lmtp_tx *tx)
{
    if (tx->nrcpts == tx->cap) {
        size_t cap = tx->cap ? tx->cap * 2 : 4;
        struct lmtp_rcpt *r = realloc(tx->rcpts, cap * sizeof(*r));
        if (r == NULL)
            fatal("realloc");
        tx->rcpts = r;
        tx->cap = cap;
    }
    memset(&tx->rcpts[tx->nrcpts], 0, sizeof(tx->rcpts[0]));
    return &tx->rcpts[tx->nrcpts];
}

/* lmtp_rewrite_rcpt - the rewrite services' address map, before the store sees the address. */
static void lmtp_rewrite_rcpt(struct lmtp_session *s, struct lmtp_rcpt *r)
{
    char mapped[LMTP_ADDR_MAX + 1];

    if (svc_rewrite_address(s->env->services, r->addr, mapped, sizeof(mapped)) != 1)
        return;
    log_info("rcpt=<%s> rewritten to <%s>", r->addr, mapped);
    memcpy(r->orig, r->addr, sizeof(r->orig));
    memcpy(r->addr, mapped, sizeof(r->addr));
}

static void cmd_rcpt(struct lmtp_session *s, char *args)
{
    struct lmtp_tx *tx = s->tx;
    struct lmtp_rcpt *r;
    struct lmtp_param p[LMTP_PARAMS_MAX];
    const char *params, *error;
    char pbuf[1024];
    int n;

    if (tx->nrcpts >= s->cfg->max_recipients) {
        lmtp_reply(s, 452, "4.5.3", "Too many recipients");
        return;
    }
    r = lmtp_rcpt_add(tx);
    if (lmtp_parse_path(args, "TO:", false, tx->smtputf8, r->addr, &params, &error) < 0) {
        lmtp_reply(s, 501, "5.5.4", "%s", error);
        lmtp_bad_command(s);
        return;
    }
    snprintf(pbuf, sizeof(pbuf), "%s", params);
    n = lmtp_parse_params(pbuf, p, LMTP_PARAMS_MAX);
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].name, "XOPES-BYPASS") == 0 &&
            lmtp_bypass_param(p[i].value, &r->bypass) == 0)
            continue;
        free(r->bypass);
        if (strcmp(p[i].name, "XOPES-BYPASS") == 0)
            lmtp_reply(s, 501, "5.5.4", "Syntax: XOPES-BYPASS=xtext");
        else
            lmtp_reply(s, 555, "5.5.4", "Unsupported RCPT parameter %s", p[i].name);
        lmtp_bad_command(s);
        return;
    }
    if (n < 0) {
        lmtp_reply(s, 501, "5.5.4", "Syntax: bad RCPT parameters");
        lmtp_bad_command(s);
        return;
    }
    lmtp_rewrite_rcpt(s, r);
    r->first = tx->nrcpts;
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (strcasecmp(tx->rcpts[i].addr, r->addr) == 0) {
            r->first = i; /* a duplicate shares the first one's delivery */
            break;
        }
    }
    if (r->first == tx->nrcpts)
        deliver_tx_rcpt(tx->dtx, r->addr, &r->reply);
    else
        r->reply = tx->rcpts[r->first].reply;
    lmtp_reply_relay(s, &r->reply);
    if (r->reply.code / 100 != 2) {
        lmtp_log_rcpt(s, r, "rcpt");
        free(r->bypass);
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
static int lmtp_data_wait(const struct opes_config *cfg, int64_t start, uint64_t got)
{
    int64_t wait = (int64_t)cfg->data_timeout * 1000, left;

    if (cfg->min_data_rate == 0)
        return (int)wait;
    left = start + wait + (int64_t)(got * 1000 / cfg->min_data_rate) - clock_now_ms();
    if (left < 1)
        left = 1; /* netio_fill then times out: ETIMEDOUT, 421 */
    return (int)(left < wait ? left : wait);
}

/* lmtp_read_data - the message after 354 into the spool; 0, or -1 when the client is gone. */
static int lmtp_read_data(struct lmtp_session *s, struct spool *spool, struct mime_parser *mp,
                          unsigned *flags, uint64_t *size)
{
    char *out;
    struct dotstuff_decoder dec;
    bool done = false;
    int ret = 0;
    int64_t start = clock_now_ms();

    if (s->data_buf == NULL && (s->data_buf = malloc(2 * NETIO_RBUF_SIZE + 8)) == NULL)
        fatal("malloc");
    out = s->data_buf;

    dotstuff_decoder_init(&dec, s->cfg->bare_eol == CONFIG_BARE_EOL_NORMALIZE);
    *size = 0;
    while (!done) {
        const char *in;
        size_t avail = netio_peek(s->io, &in), outlen, used;
        if (avail == 0) {
            int rc = netio_fill(s->io, lmtp_data_wait(s->cfg, start, *size));
            if (rc <= 0) {
                log_warnx("client %s during DATA after %llu bytes",
                          rc == 0              ? "disconnected"
                          : errno == ETIMEDOUT ? "timed out"
                                               : strerror(errno),
                          (unsigned long long)*size);
                if (rc < 0 && errno == ETIMEDOUT) {
                    lmtp_reply(s, 421, "4.4.2", "%s Timeout during DATA, closing connection",
                               s->cfg->hostname);
                    netio_flush(s->io, 1000);
                }
                ret = -1;
                break;
            }
            continue;
        }
        used = dotstuff_decode(&dec, in, avail, out, &outlen, &done);
        netio_consume(s->io, used);
        *size += outlen;
        /* over the limit: keep reading to the end, store nothing more */
        if (*size <= s->cfg->max_message_size) {
            spool_write(spool, out, outlen);
            mime_parser_feed(mp, out, outlen); /* the one pass over the message */
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

    if (size > s->cfg->max_message_size) {
        lmtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit");
    } else if ((flags & DOTSTUFF_NUL) != 0) {
        lmtp_reply_set(r, 554, "5.6.0", "Message contains NUL characters");
    } else if ((flags & (DOTSTUFF_BARE_CR | DOTSTUFF_BARE_LF)) != 0 &&
               s->cfg->bare_eol == CONFIG_BARE_EOL_REJECT) {
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

/* lmtp_store - the session's store connection, opened when first needed. */
static struct store *lmtp_store(struct lmtp_session *s)
{
    const char *error;

    if (s->st == NULL && !s->st_failed) {
        s->st = store_open(s->cfg->store_path, s->cfg->key_file, &error);
        if (s->st == NULL) {
            log_warnx("store unavailable: %s", error);
            s->st_failed = true; /* once per session */
        }
    }
    return s->st;
}

static ssize_t lmtp_spool_read(void *ctx, void *buf, size_t len)
{
    return spool_read(ctx, buf, len);
}

static int lmtp_spool_rewind(void *ctx)
{
    return spool_rewind(ctx);
}

/*
 * lmtp_quarantine - hold the message for the recipients the pipeline put in
 * quarantine: one content, one entry each, durable before the 250.
 */
static void lmtp_quarantine(struct lmtp_session *s, struct spool *spool,
                            const struct mime_message *mime, struct pipeline_rcpt *pr,
                            struct lmtp_reply *replies, size_t n)
{
    struct store_qitem *items = calloc(n, sizeof(*items));
    size_t *idx = calloc(n, sizeof(*idx)), k = 0;
    struct store *st = lmtp_store(s);
    struct store_reader rd = {.read = lmtp_spool_read, .rewind = lmtp_spool_rewind, .ctx = spool};
    const char *error = "store unavailable";
    const char *subject = mime != NULL ? mime_header_get(mime, -1, "Subject") : NULL;
    const char *date = mime != NULL ? mime_header_get(mime, -1, "Date") : NULL;

    if (items == NULL || idx == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        struct store_qitem *it = &items[k];
        if (pr[i].outcome != POLICY_QUARANTINE)
            continue;
        idx[k++] = i;
        snprintf(it->trace_id, sizeof(it->trace_id), "%s", s->tx->trace);
        snprintf(it->sender, sizeof(it->sender), "%s", s->tx->sender);
        snprintf(it->recipient, sizeof(it->recipient), "%s", pr[i].addr);
        if (subject != NULL)
            mime_decode_2047(subject, it->subject, sizeof(it->subject));
        snprintf(it->date, sizeof(it->date), "%s", date != NULL ? date : "");
        snprintf(it->service, sizeof(it->service), "%s",
                 pr[i].culprit != NULL ? pr[i].culprit->name : "blocklist");
        snprintf(it->reason, sizeof(it->reason), "%s", pr[i].reason);
    }
    if (k > 0 && (st == NULL || store_quarantine_add(st, items, k, &rd, &error) < 0)) {
        log_warnx("quarantine failed: %s", error);
        for (size_t j = 0; j < k; j++)
            lmtp_reply_set(&replies[idx[j]], 451, "4.3.0",
                           "<%s> Local error holding the message, try again later",
                           pr[idx[j]].addr);
    } else {
        char blocklist[400];
        snprintf(blocklist, sizeof(blocklist), "%s/policy/blocklist", s->cfg->system_uri);
        for (size_t j = 0; j < k; j++)
            lmtp_reply_set(&replies[idx[j]], 250, "2.0.0", "<%s> held in quarantine as %s by %s",
                           pr[idx[j]].addr, items[j].id,
                           pr[idx[j]].culprit != NULL ? pr[idx[j]].culprit->uri : blocklist);
    }
    free(items);
    free(idx);
}

/* lmtp_blocked_reply - reject or tempfail, with the service that decided it. */
static void lmtp_blocked_reply(const struct lmtp_session *s, const struct pipeline_rcpt *r,
                               struct lmtp_reply *reply)
{
    char uri[400];

    if (r->culprit != NULL)
        snprintf(uri, sizeof(uri), "%s", r->culprit->uri);
    else
        snprintf(uri, sizeof(uri), "%s/policy/blocklist", s->cfg->system_uri);
    if (r->outcome == POLICY_REJECT)
        lmtp_reply_set(reply, 550, "5.7.1", "<%s> blocked by %s", r->addr, uri);
    else
        lmtp_reply_set(reply, 451, r->culprit != NULL ? "4.3.0" : "4.7.1",
                       "<%s> %s unavailable, try again later", r->addr, uri);
}

/* lmtp_deliver_groups - recipients whose copies are identical share one delivery. */
static void lmtp_deliver_groups(struct lmtp_session *s, struct spool *spool,
                                struct pipeline_rcpt *pr, struct lmtp_reply *replies, size_t n)
{
    const char **group = calloc(n, sizeof(*group));
    size_t *slot = calloc(n, sizeof(*slot));
    struct lmtp_reply *got = calloc(n, sizeof(*got));
    bool *done = calloc(n, sizeof(*done));
    int64_t deadline = clock_now_ms() + (int64_t)s->cfg->processing_timeout * 1000;

    if (group == NULL || slot == NULL || got == NULL || done == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (done[i] || pr[i].outcome != POLICY_DELIVER)
            continue;
        if (pr[i].prefix_len == 0 || !trace_check(pr[i].prefix, pr[i].prefix_len, s->tx->trace)) {
            /* never deliver without an intact trace: a local fault, the MTA retries */
            log_warnx("trace fields missing or damaged; check [opes] system_uri");
            lmtp_reply_set(&replies[i], 451, "4.3.0", "Local error building the trace fields");
            continue;
        }
        for (size_t j = i; j < n; j++) {
            if (done[j] || pr[j].outcome != POLICY_DELIVER ||
                pr[j].prefix_len != pr[i].prefix_len ||
                memcmp(pr[j].prefix, pr[i].prefix, pr[i].prefix_len) != 0 ||
                !variant_edits_equal(&pr[j].edits, &pr[i].edits))
                continue;
            done[j] = true;
            slot[k] = j;
            group[k++] = pr[j].addr;
        }
        struct variant v = {.prefix = pr[i].prefix,
                            .prefix_len = pr[i].prefix_len,
                            .edits = &pr[i].edits,
                            .spool = spool};
        deliver_tx_content(s->tx->dtx, group, k, &v, deadline, got);
        for (size_t j = 0; j < k; j++)
            replies[slot[j]] = got[j];
    }
    free(group);
    free(slot);
    free(got);
    free(done);
}

/*
 * lmtp_deliver - the pipeline decides per unique recipient; then quarantine,
 * rejection, deferral or delivery, and one final reply each (duplicates share
 * their first's).
 */
static void lmtp_deliver(struct lmtp_session *s, struct spool *spool,
                         const struct mime_message *mime)
{
    struct lmtp_tx *tx = s->tx;
    struct pipeline_rcpt *pr = calloc(tx->nrcpts, sizeof(*pr));
    struct lmtp_reply *replies = calloc(tx->nrcpts, sizeof(*replies));
    size_t *slot = calloc(tx->nrcpts, sizeof(*slot));
    size_t nuniq = 0;

    if (pr == NULL || replies == NULL || slot == NULL)
        fatal("calloc");
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (tx->rcpts[i].first == i) {
            slot[i] = nuniq;
            pr[nuniq].addr = tx->rcpts[i].addr;
            pr[nuniq].orig = tx->rcpts[i].orig[0] ? tx->rcpts[i].orig : NULL;
            pr[nuniq++].bypass = tx->rcpts[i].bypass;
        } else {
            slot[i] = slot[tx->rcpts[i].first];
        }
    }
    struct pipeline_msg pm = {.cfg = s->cfg,
                              .services = s->env->services,
                              .st = lmtp_store(s),
                              .trace = &tx->records,
                              .spool = spool,
                              .mime = mime,
                              .sender = tx->sender,
                              .mail_bypass = tx->bypass,
                              .trace_id = tx->trace,
                              .helo = s->xf.helo[0] ? s->xf.helo : s->helo,
                              .peer_name = s->xf.name[0] ? s->xf.name : NULL,
                              .peer_addr = s->xf.addr[0] ? s->xf.addr : s->peer_addr,
                              .protocol = tx->smtputf8 ? "UTF8LMTP" : "LMTP",
                              .for_rcpt = nuniq == 1 ? pr[0].addr : NULL,
                              .size = spool_size(spool)};
    pipeline_run(&pm, pr, nuniq);
    for (size_t i = 0; i < nuniq; i++)
        if (pr[i].outcome == POLICY_REJECT || pr[i].outcome == POLICY_TEMPFAIL)
            lmtp_blocked_reply(s, &pr[i], &replies[i]);
    lmtp_quarantine(s, spool, mime, pr, replies, nuniq);
    lmtp_deliver_groups(s, spool, pr, replies, nuniq);
    for (size_t i = 0; i < tx->nrcpts; i++) {
        tx->rcpts[i].reply = replies[slot[i]];
        snprintf(tx->rcpts[i].services, sizeof(tx->rcpts[i].services), "%s", pr[slot[i]].services);
        tx->rcpts[i].action = policy_outcome_name(pr[slot[i]].outcome);
    }
    for (size_t i = 0; i < nuniq; i++)
        pipeline_rcpt_clear(&pr[i]);
    free(pr);
    free(replies);
    free(slot);
}

/* lmtp_trace_replies - the final answer of every recipient; then the records go out. */
static void lmtp_trace_replies(struct lmtp_session *s)
{
    struct lmtp_tx *tx = s->tx;

    for (size_t i = 0; i < tx->nrcpts; i++) {
        const struct lmtp_reply *r = &tx->rcpts[i].reply;
        struct store_trace *t = tracelog_batch_add(&tx->records);
        snprintf(t->trace_id, sizeof(t->trace_id), "%s", tx->trace);
        snprintf(t->recipient, sizeof(t->recipient), "%s", tx->rcpts[i].addr);
        snprintf(t->event, sizeof(t->event), "reply");
        snprintf(t->verdict, sizeof(t->verdict), "%d", r->code);
        snprintf(t->detail, sizeof(t->detail), "%d %s %s", r->code, r->enh, r->text);
        t->duration_ms = clock_now_ms() - tx->start_ms;
        t->at = (int64_t)time(NULL);
    }
    tracelog_submit(&tx->records, s->cfg->store_path, s->cfg->key_file);
}

static void cmd_data(struct lmtp_session *s, char *args)
{
    struct lmtp_tx *tx = s->tx;
    struct spool *spool;
    struct mime_parser *mp;
    struct mime_message *mime;
    struct lmtp_reply refused;
    unsigned flags = 0;
    uint64_t size = 0;
    int stop;

    if (*args != '\0') {
        lmtp_reply(s, 501, "5.5.4", "Syntax: DATA takes no arguments");
        lmtp_bad_command(s);
        return;
    }
    lmtp_reply(s, 354, NULL, "Start mail input; end with <CRLF>.<CRLF>");
    /* a message in flight is finished even when opesd is asked to stop */
    stop = netio_set_stop(s->io, -1);
    spool = spool_new((size_t)s->cfg->spool_memory, s->cfg->spool_dir);
    mp = mime_parser_new(NULL);
    if (lmtp_read_data(s, spool, mp, &flags, &size) < 0) {
        mime_parser_free(&mp);
        spool_free(&spool);
        s->quit = true;
        return;
    }
    mime = mime_parser_finish(&mp);
    log_info("data size=%llu spooled=%s", (unsigned long long)size,
             spool_on_disk(spool) ? "file" : "memory");
    if (lmtp_data_verdict(s, spool, flags, size, &refused)) {
        for (size_t i = 0; i < tx->nrcpts; i++)
            tx->rcpts[i].reply = refused;
    } else {
        lmtp_deliver(s, spool, mime);
    }
    for (size_t i = 0; i < tx->nrcpts; i++) {
        lmtp_reply_relay(s, &tx->rcpts[i].reply);
        lmtp_log_rcpt(s, &tx->rcpts[i], "data");
    }
    netio_flush(s->io, lmtp_ms(s->cfg->command_timeout));
    lmtp_trace_replies(s);
    mime_message_free(&mime);
    spool_free(&spool);
    lmtp_tx_free(s);
    netio_flush(s->io, lmtp_ms(s->cfg->command_timeout));
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
    lmtp_reply(s, 221, "2.0.0", "%s Bye", s->cfg->hostname);
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
    n = lmtp_parse_params(args, p, LMTP_PARAMS_MAX);
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
        trace_sanitize(field, size, value);
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

    if (lmtp_parse_command(line, len, &verb, &args) < 0) {
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
static bool lmtp_peer_trusted(const struct opes_config *cfg, const char *addr)
{
    const char *p = cfg->xforward_hosts;

    while (*p != '\0') {
        size_t n = strcspn(p, ", \t");
        if (n > 0 && n == strlen(addr) && strncmp(p, addr, n) == 0)
            return true;
        p += n + (p[n] != '\0');
    }
    return false;
}

void lmtp_server_session(struct lmtp_env *env, int fd, int stop_fd)
{
    struct lmtp_session s = {.env = env, .cfg = env->cfg, .stop_fd = stop_fd, .state = ST_INIT};
    int ms = lmtp_ms(s.cfg->command_timeout);

    snprintf(s.id, sizeof(s.id), "%lx", __atomic_add_fetch(&lmtp_session_seq, 1, __ATOMIC_SEQ_CST));
    s.io = netio_new(fd, stop_fd);
    netio_peer_name(fd, s.peer_addr, sizeof(s.peer_addr), s.peer_port, sizeof(s.peer_port));
    s.xforward_allowed = lmtp_peer_trusted(s.cfg, s.peer_addr);
    lmtp_set_log_context(&s);
    log_info("connect client=%s port=%s", s.peer_addr, s.peer_port);
    lmtp_reply(&s, 220, NULL, "%s LMTP opesd ready", s.cfg->hostname);

    while (!s.quit) {
        char *line;
        size_t len;
        int rc = netio_readline(s.io, s.cfg->max_command_line, ms, &line, &len);

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
                       s.cfg->hostname);
            break;
        } else {
            if (errno == ETIMEDOUT)
                lmtp_reply(&s, 421, "4.4.2", "%s Timeout, closing connection", s.cfg->hostname);
            log_warnx("connection ended: %s",
                      errno == ETIMEDOUT ? "idle timeout" : strerror(errno));
            break;
        }
    }
    netio_flush(s.io, 1000);
    lmtp_tx_free(&s);
    store_close(&s.st);
    free(s.data_buf);
    log_info("disconnect bad_commands=%u", s.bad_commands);
    log_set_context(NULL);
    netio_free(&s.io);
}
