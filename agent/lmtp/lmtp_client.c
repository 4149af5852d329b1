/*
 * lmtp_client.c - downstream LMTP connections and the idle-connection cache.
 *
 * Opening a connection is connect + 220 greeting + LHLO (+ AUTH where the
 * store demands it, RFC 4954), each bounded by a timeout (RFC 5321 4.5.3.2).
 * The cache keeps at most max_idle connections for idle_timeout seconds; it is
 * shared by all session threads.
 */
#include "opes/lmtp_client.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/log.h"
#include "opes/netio.h"

struct lmtp_client {
    struct netio *io;
    struct lmtp_caps caps;
    time_t idle_since;
    struct lmtp_client *next;
};

struct lmtp_pool {
    pthread_mutex_t lock;
    struct endpoint ep;
    char *lhlo_name;
    unsigned max_idle, idle_timeout, nidle;
    struct lmtp_client *idle;
    struct lmtp_caps caps;
    struct lmtp_auth auth;
};

void lmtp_reply_set(struct lmtp_reply *r, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;

    memset(r, 0, sizeof(*r));
    r->code = code;
    r->lines = 1;
    snprintf(r->enh, sizeof(r->enh), "%s", enh);
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

struct lmtp_pool *lmtp_pool_new(const struct endpoint *ep, const char *lhlo_name, unsigned max_idle,
                                unsigned idle_timeout_s)
{
    struct lmtp_pool *pool = calloc(1, sizeof(*pool));

    if (pool == NULL || (pool->lhlo_name = strdup(lhlo_name)) == NULL)
        fatal("calloc");
    pthread_mutex_init(&pool->lock, NULL);
    pool->ep = *ep;
    pool->max_idle = max_idle;
    pool->idle_timeout = idle_timeout_s;
    return pool;
}

void lmtp_pool_set_auth(struct lmtp_pool *pool, const struct lmtp_auth *a)
{
    pthread_mutex_lock(&pool->lock);
    pool->auth = *a;
    pthread_mutex_unlock(&pool->lock);
}

int lmtp_auth_line(const struct lmtp_auth *a, char *out, size_t outsize)
{
    unsigned char plain[2 + sizeof(a->user) + sizeof(a->password)];
    size_t ulen = strnlen(a->user, sizeof(a->user)),
           plen = strnlen(a->password, sizeof(a->password));
    size_t n = 0;
    int len;

    if (a->mech == LMTP_AUTH_EXTERNAL) {
        len = snprintf(out, outsize, "AUTH EXTERNAL =");
        return len < 0 || (size_t)len >= outsize ? -1 : len;
    }
    if (a->mech != LMTP_AUTH_PLAIN || ulen == sizeof(a->user) || plen == sizeof(a->password))
        return -1;
    /* authzid (empty) NUL authcid NUL passwd */
    plain[n++] = '\0';
    memcpy(plain + n, a->user, ulen);
    n += ulen;
    plain[n++] = '\0';
    memcpy(plain + n, a->password, plen);
    n += plen;
    if (outsize < 11 ||
        sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL) > outsize - 11) {
        sodium_memzero(plain, sizeof(plain));
        return -1;
    }
    memcpy(out, "AUTH PLAIN ", 11);
    sodium_bin2base64(out + 11, outsize - 11, plain, n, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(plain, sizeof(plain));
    return (int)strlen(out);
}

void lmtp_pool_free(struct lmtp_pool **poolp)
{
    struct lmtp_pool *pool = *poolp;

    *poolp = NULL;
    if (pool == NULL)
        return;
    while (pool->idle != NULL) {
        struct lmtp_client *c = pool->idle;
        pool->idle = c->next;
        lmtp_client_close(&c);
    }
    pthread_mutex_destroy(&pool->lock);
    sodium_memzero(&pool->auth, sizeof(pool->auth));
    free(pool->lhlo_name);
    free(pool);
}

const struct lmtp_caps *lmtp_client_caps(const struct lmtp_client *c)
{
    return &c->caps;
}

void lmtp_client_close(struct lmtp_client **cp)
{
    struct lmtp_client *c = *cp;

    *cp = NULL;
    if (c == NULL)
        return;
    netio_printf(c->io, 100, "QUIT\r\n");
    netio_flush(c->io, 100);
    netio_free(&c->io);
    free(c);
}

int lmtp_client_send(struct lmtp_client *c, int timeout_ms, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        return -1;
    memcpy(line + n, "\r\n", 2);
    return netio_write(c->io, line, (size_t)n + 2, timeout_ms);
}

int lmtp_client_write(struct lmtp_client *c, const void *data, size_t len, int timeout_ms)
{
    return netio_write(c->io, data, len, timeout_ms);
}

int lmtp_client_flush(struct lmtp_client *c, int timeout_ms)
{
    return netio_flush(c->io, timeout_ms);
}

enum lmtp_client_status lmtp_client_read_reply(struct lmtp_client *c, int timeout_ms,
                                               struct lmtp_reply *reply)
{
    struct lmtp_reply_parser p;

    lmtp_reply_parser_init(&p);
    for (;;) {
        char *line;
        size_t len;
        int rc = netio_readline(c->io, 4096, timeout_ms, &line, &len);
        if (rc == 0) {
            errno = ECONNRESET;
            return LMTP_CLIENT_IO;
        }
        if (rc < 0)
            return LMTP_CLIENT_IO;
        if (rc == 2)
            return LMTP_CLIENT_PROTO;
        rc = lmtp_reply_parse_line(&p, line, len);
        if (rc < 0)
            return LMTP_CLIENT_PROTO;
        if (rc == 1) {
            *reply = p.reply;
            return LMTP_CLIENT_OK;
        }
    }
}

/* lmtp_caps_auth - the mechanisms after the AUTH keyword (up to the line's end). */
static void lmtp_caps_auth(struct lmtp_caps *caps, const char *p)
{
    caps->auth = true;
    while (*p == ' ')
        p++;
    while (*p != '\0' && *p != '\n') {
        size_t n = strcspn(p, " \n");
        if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
            caps->auth_plain = true;
        else if (n == 8 && strncasecmp(p, "EXTERNAL", 8) == 0)
            caps->auth_external = true;
        p += n;
        while (*p == ' ')
            p++;
    }
}

/* lmtp_caps_parse - the LHLO reply's keywords, one per line after the first. */
static void lmtp_caps_parse(struct lmtp_caps *caps, const char *text)
{
    const char *line = strchr(text, '\n');

    memset(caps, 0, sizeof(*caps));
    caps->known = true;
    while (line != NULL) {
        char kw[32];
        size_t n;
        line++;
        n = strcspn(line, " \n");
        if (n < sizeof(kw)) {
            memcpy(kw, line, n);
            kw[n] = '\0';
            if (strcasecmp(kw, "PIPELINING") == 0)
                caps->pipelining = true;
            else if (strcasecmp(kw, "8BITMIME") == 0)
                caps->eightbitmime = true;
            else if (strcasecmp(kw, "SMTPUTF8") == 0)
                caps->smtputf8 = true;
            else if (strcasecmp(kw, "SIZE") == 0)
                caps->size = true;
            else if (strcasecmp(kw, "IGNOREQUOTA") == 0)
                caps->ignorequota = true;
            else if (strcasecmp(kw, "AUTH") == 0)
                lmtp_caps_auth(caps, line + n);
        }
        line = strchr(line, '\n');
    }
}

/* lmtp_reply_fail - our own 4xx for a downstream reply we cannot relay as is. */
static void lmtp_reply_fail(struct lmtp_reply *reply, const char *what,
                            const struct lmtp_reply *got)
{
    char text[200];

    log_escape(text, sizeof(text), got->text, strlen(got->text));
    log_warnx("downstream refused %s: code=%d text=\"%s\"", what, got->code, text);
    lmtp_reply_set(reply, 451, "4.4.0", "Mailbox store refused %s with %d", what, got->code);
}

/*
 * lmtp_client_auth - AUTH after LHLO when configured. Every failure is ours to
 * fix (credentials, mechanism), so it becomes a 4xx: the MTA keeps the mail.
 * Returns 0, or -1 with reply set.
 */
static int lmtp_client_auth(struct lmtp_pool *pool, struct lmtp_client *c, int command_ms,
                            const char *where, struct lmtp_reply *reply)
{
    struct lmtp_auth a;
    struct lmtp_reply r;
    char line[1024], text[200], user[256];
    enum lmtp_client_status st;
    const char *mech;
    int len;

    pthread_mutex_lock(&pool->lock);
    a = pool->auth;
    pthread_mutex_unlock(&pool->lock);
    if (a.mech == LMTP_AUTH_NONE)
        return 0;
    mech = a.mech == LMTP_AUTH_PLAIN ? "PLAIN" : "EXTERNAL";
    log_escape(user, sizeof(user), a.user, strnlen(a.user, sizeof(a.user)));
    if (!(a.mech == LMTP_AUTH_PLAIN ? c->caps.auth_plain : c->caps.auth_external)) {
        sodium_memzero(&a, sizeof(a));
        log_warnx("downstream=%s does not offer AUTH %s", where, mech);
        lmtp_reply_set(reply, 451, "4.7.0", "Mailbox store authentication not possible");
        return -1;
    }
    len = lmtp_auth_line(&a, line, sizeof(line));
    sodium_memzero(&a, sizeof(a));
    st = LMTP_CLIENT_IO;
    if (len > 0 && netio_write(c->io, line, (size_t)len, command_ms) == 0 &&
        netio_write(c->io, "\r\n", 2, command_ms) == 0)
        st = lmtp_client_read_reply(c, command_ms, &r);
    sodium_memzero(line, sizeof(line));
    if (st == LMTP_CLIENT_OK && r.code == 235)
        return 0;
    if (st == LMTP_CLIENT_OK) {
        if (r.code == 334) /* it wants more than the initial response: give up */
            lmtp_client_send(c, command_ms, "*");
        log_escape(text, sizeof(text), r.text, strlen(r.text));
        log_warnx("downstream=%s refused AUTH %s user=%s: code=%d text=\"%s\"", where, mech,
                  user[0] != '\0' ? user : "-", r.code, text);
        lmtp_reply_set(reply, 451, "4.7.0", "Mailbox store authentication failed");
    } else if (st == LMTP_CLIENT_PROTO) {
        lmtp_reply_set(reply, 451, "4.4.0", "Mailbox store protocol error");
    } else {
        int err = errno;
        log_warnx("downstream=%s AUTH failed: %s", where, strerror(err));
        lmtp_reply_set(reply, 451, "4.4.2", "Mailbox store did not answer: %s", strerror(err));
    }
    return -1;
}

/* lmtp_client_open - connect, read the greeting, say LHLO. */
static struct lmtp_client *lmtp_client_open(struct lmtp_pool *pool, int connect_ms, int command_ms,
                                            struct lmtp_reply *reply)
{
    const char *error;
    char where[300];
    struct lmtp_reply r;
    enum lmtp_client_status st;
    int fd = netio_connect(&pool->ep, connect_ms, &error);
    struct lmtp_client *c;

    endpoint_format(&pool->ep, where, sizeof(where));
    if (fd < 0) {
        log_warnx("downstream=%s %s", where, error);
        lmtp_reply_set(reply, 451, "4.4.1", "Mailbox store unreachable");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        fatal("calloc");
    c->io = netio_new(fd, -1);
    st = lmtp_client_read_reply(c, command_ms, &r);
    if (st == LMTP_CLIENT_OK && r.code == 220) {
        if (lmtp_client_send(c, command_ms, "LHLO %s", pool->lhlo_name) == 0)
            st = lmtp_client_read_reply(c, command_ms, &r);
        else
            st = LMTP_CLIENT_IO;
        if (st == LMTP_CLIENT_OK && r.code == 250) {
            lmtp_caps_parse(&c->caps, r.text);
            pthread_mutex_lock(&pool->lock);
            pool->caps = c->caps;
            pthread_mutex_unlock(&pool->lock);
            if (lmtp_client_auth(pool, c, command_ms, where, reply) == 0)
                return c;
            lmtp_client_close(&c);
            return NULL;
        }
    }
    if (st == LMTP_CLIENT_OK)
        lmtp_reply_fail(reply, "the session", &r);
    else if (st == LMTP_CLIENT_PROTO)
        lmtp_reply_set(reply, 451, "4.4.0", "Mailbox store protocol error");
    else
        lmtp_reply_set(reply, 451, "4.4.2", "Mailbox store did not answer: %s", strerror(errno));
    if (st != LMTP_CLIENT_OK)
        log_warnx("downstream=%s greeting failed: %s", where, reply->text);
    lmtp_client_close(&c);
    return NULL;
}

struct lmtp_client *lmtp_pool_get(struct lmtp_pool *pool, int connect_ms, int command_ms,
                                  bool *reused_r, struct lmtp_reply *reply)
{
    time_t now = time(NULL);

    pthread_mutex_lock(&pool->lock);
    while (pool->idle != NULL) {
        struct lmtp_client *c = pool->idle;
        pool->idle = c->next;
        pool->nidle--;
        c->next = NULL;
        if (now - c->idle_since < (time_t)pool->idle_timeout && !netio_readable_now(c->io)) {
            pthread_mutex_unlock(&pool->lock);
            *reused_r = true;
            return c;
        }
        lmtp_client_close(&c); /* expired, or the server said goodbye */
    }
    pthread_mutex_unlock(&pool->lock);
    *reused_r = false;
    return lmtp_client_open(pool, connect_ms, command_ms, reply);
}

void lmtp_pool_put(struct lmtp_pool *pool, struct lmtp_client **cp)
{
    struct lmtp_client *c = *cp;

    *cp = NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->nidle < pool->max_idle) {
        c->idle_since = time(NULL);
        c->next = pool->idle;
        pool->idle = c;
        pool->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    lmtp_client_close(&c);
}

struct lmtp_caps lmtp_pool_caps(struct lmtp_pool *pool)
{
    struct lmtp_caps caps;

    pthread_mutex_lock(&pool->lock);
    caps = pool->caps;
    pthread_mutex_unlock(&pool->lock);
    return caps;
}
