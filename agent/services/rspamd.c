/*
 * rspamd.c - the client of rspamd's HTTP scan protocol (POST /checkv2), and
 * the parsers of its response and of the JSON reply in it.
 *
 * Also the controller's learn requests (POST /learnham, /learnspam), sent
 * and read the same way with a parser of their own.
 *
 * Owns one connection per check: "Connection: close", so the response ends
 * at the latest when rspamd closes. The response is collected in a buffer
 * that grows up to RSPAMD_RESPONSE_MAX octets and no further, then read by
 * the parsers, which never touch the socket. All waits of one check share
 * one deadline.
 */
#include "opes/rspamd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/clock.h"
#include "opes/log.h"
#include "opes/netio.h"
#include "opes/spool.h"
#include "opes/vec.h"

#define RSPAMD_CHUNK_SIZE 65536
#define RSPAMD_SCORE_LIMIT 1e9 /* a score beyond this is not one rspamd gives */

static _Thread_local char rspamd_errbuf[512];

static const char *const rspamd_action_names[RSPAMD_N_ACTIONS] = {
    "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"};

const char *rspamd_action_name(enum rspamd_action a)
{
    return (unsigned)a < RSPAMD_N_ACTIONS ? rspamd_action_names[a] : "?";
}

int rspamd_action_parse(const char *s)
{
    for (int i = 0; i < RSPAMD_N_ACTIONS; i++)
        if (strcmp(rspamd_action_names[i], s) == 0)
            return i;
    return -1;
}

/* rspamd_fail - set *error_r to the formatted text; returns -1. */
static int rspamd_fail(const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int rspamd_fail(const char **error_r, const char *fmt, ...)
{
    char text[sizeof(rspamd_errbuf)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memcpy(rspamd_errbuf, text, sizeof(rspamd_errbuf));
    *error_r = rspamd_errbuf;
    return -1;
}

/* ---- the JSON reply ---- */

struct rspamd_sym {
    const char *name;
    double score;
};

/* rspamd_sym_cmp - highest score first, then by name */
static int rspamd_sym_cmp(const void *a, const void *b)
{
    const struct rspamd_sym *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* rspamd_name_ok - a symbol name: 1 to RSPAMD_SYMBOL_NAME_MAX printable octets, no separators. */
static bool rspamd_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > RSPAMD_SYMBOL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == ';' || c == ',')
            return false;
    }
    return true;
}

/* rspamd_number - member key of obj as a plausible score; 0, or -1 with *error_r. */
static int rspamd_number(const json_t *obj, const char *key, const char *where, double *value_r,
                         const char **error_r)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return rspamd_fail(error_r, "no \"%s\"%s in the reply", key, where);
    if (!json_is_number(v))
        return rspamd_fail(error_r, "\"%s\"%s is not a number", key, where);
    *value_r = json_number_value(v);
    if (!isfinite(*value_r) || fabs(*value_r) > RSPAMD_SCORE_LIMIT)
        return rspamd_fail(error_r, "\"%s\"%s out of range", key, where);
    return 0;
}

/* rspamd_symbols_list - r->symbols from the sorted syms[0..n), whole symbols only. */
static void rspamd_symbols_list(struct rspamd_result *r, const struct rspamd_sym *syms, size_t n)
{
    size_t o = 0;

    r->symbols[0] = '\0';
    r->n_symbols = n;
    r->n_listed = 0;
    for (size_t i = 0; i < n; i++) {
        char one[RSPAMD_SYMBOL_NAME_MAX + 40];
        int len =
            snprintf(one, sizeof(one), "%s%s(%.2f)", i ? " " : "", syms[i].name, syms[i].score);
        if (len < 0 || (size_t)len >= sizeof(r->symbols) - o)
            break;
        memcpy(r->symbols + o, one, (size_t)len + 1);
        o += (size_t)len;
        r->n_listed++;
    }
}

/* rspamd_parse_symbols - the "symbols" object, if any; 0, or -1 with *error_r. */
static int rspamd_parse_symbols(const json_t *symbols, struct rspamd_result *r,
                                const char **error_r)
{
    struct rspamd_sym *syms = NULL;
    size_t n = 0, cap = 0;
    char quoted[80];
    int rc = 0;

    r->symbols[0] = '\0';
    if (symbols == NULL)
        return 0;
    if (!json_is_object(symbols))
        return rspamd_fail(error_r, "\"symbols\" is not an object");
    for (void *it = json_object_iter((json_t *)symbols); it != NULL;
         it = json_object_iter_next((json_t *)symbols, it)) {
        const char *name = json_object_iter_key(it);
        const json_t *sym = json_object_iter_value(it);
        double score;
        if (!rspamd_name_ok(name)) {
            log_escape(quoted, sizeof(quoted), name, strlen(name));
            rc = rspamd_fail(error_r, "bad symbol name \"%s\"", quoted);
            break;
        }
        if (!json_is_object(sym)) {
            rc = rspamd_fail(error_r, "symbol %s is not an object", name);
            break;
        }
        if (rspamd_number(sym, "score", " of a symbol", &score, error_r) < 0) {
            rc = -1;
            break;
        }
        syms = vec_reserve(syms, &cap, n + 1, sizeof(*syms));
        syms[n++] = (struct rspamd_sym){name, score};
    }
    if (rc == 0) {
        if (n > 1)
            qsort(syms, n, sizeof(*syms), rspamd_sym_cmp);
        rspamd_symbols_list(r, syms, n);
    }
    free(syms);
    return rc;
}

int rspamd_parse_reply(const char *body, size_t len, struct rspamd_result *r, const char **error_r)
{
    json_error_t jerr;
    const json_t *action;
    char quoted[80];
    json_t *root;
    int a, rc = -1;

    memset(r, 0, sizeof(*r));
    if (len > RSPAMD_RESPONSE_MAX)
        return rspamd_fail(error_r, "reply longer than %d octets", RSPAMD_RESPONSE_MAX);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return rspamd_fail(error_r, "reply is not JSON: %s at octet %d", jerr.text, jerr.position);
    if (!json_is_object(root)) {
        rspamd_fail(error_r, "reply is not a JSON object");
        goto out;
    }
    action = json_object_get(root, "action");
    if (action == NULL) {
        rspamd_fail(error_r, "no \"action\" in the reply");
        goto out;
    }
    if (!json_is_string(action)) {
        rspamd_fail(error_r, "\"action\" is not a string");
        goto out;
    }
    a = rspamd_action_parse(json_string_value(action));
    if (a < 0) {
        log_escape(quoted, sizeof(quoted), json_string_value(action), json_string_length(action));
        rspamd_fail(error_r, "unknown action \"%s\"", quoted);
        goto out;
    }
    r->action = (enum rspamd_action)a;
    if (rspamd_number(root, "score", "", &r->score, error_r) < 0 ||
        rspamd_number(root, "required_score", "", &r->required_score, error_r) < 0 ||
        rspamd_parse_symbols(json_object_get(root, "symbols"), r, error_r) < 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- the HTTP response ---- */

/* rspamd_line - the next line from *p (up to end) without CR LF; false if no LF yet. */
static bool rspamd_line(const char **p, const char *end, const char **line_r, size_t *len_r)
{
    const char *lf = memchr(*p, '\n', (size_t)(end - *p));
    size_t len;

    if (lf == NULL)
        return false;
    len = (size_t)(lf - *p);
    if (len > 0 && (*p)[len - 1] == '\r')
        len--;
    *line_r = *p;
    *len_r = len;
    *p = lf + 1;
    return true;
}

/* rspamd_trim - v[0..*len) without the spaces and tabs around it */
static const char *rspamd_trim(const char *v, size_t *len)
{
    while (*len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        (*len)--;
    }
    while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
        (*len)--;
    return v;
}

/* rspamd_parse_status - "HTTP/1.x NNN text"; the status code, or -1 with *error_r. */
static int rspamd_parse_status(const char *line, size_t len, const char **error_r)
{
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
        line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' ')) {
        char quoted[200];

        log_escape(quoted, sizeof(quoted), line, len);
        return rspamd_fail(error_r, "malformed status line \"%s\"", quoted);
    }
    return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

struct rspamd_head {
    bool have_clen;
    size_t clen;
};

/* rspamd_parse_field - one "Name: value" line; unknown names are ignored. */
static int rspamd_parse_field(const char *line, size_t len, struct rspamd_head *h,
                              const char **error_r)
{
    const char *colon = memchr(line, ':', len), *v;
    char quoted[200];
    size_t nlen, vlen;

    log_escape(quoted, sizeof(quoted), line, len);
    if (colon == NULL || colon == line)
        return rspamd_fail(error_r, "malformed header field \"%s\"", quoted);
    nlen = (size_t)(colon - line);
    vlen = len - nlen - 1;
    v = rspamd_trim(colon + 1, &vlen);
    if (nlen == 14 && strncasecmp(line, "Content-Length", nlen) == 0) {
        size_t n = 0;
        if (h->have_clen || vlen == 0)
            return rspamd_fail(error_r, "bad header field \"%s\"", quoted);
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return rspamd_fail(error_r, "bad header field \"%s\"", quoted);
            n = n * 10 + (size_t)(v[i] - '0');
            if (n > RSPAMD_RESPONSE_MAX)
                return rspamd_fail(error_r, "reply longer than %d octets", RSPAMD_RESPONSE_MAX);
        }
        h->have_clen = true;
        h->clen = n;
    } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", nlen) == 0 &&
               !(vlen == 8 && strncasecmp(v, "identity", 8) == 0)) {
        return rspamd_fail(error_r, "unsupported \"%s\"", quoted);
    } else if (nlen == 16 && strncasecmp(line, "Content-Encoding", nlen) == 0 &&
               !(vlen == 8 && strncasecmp(v, "identity", 8) == 0)) {
        return rspamd_fail(error_r, "unsupported \"%s\"", quoted);
    }
    return 0;
}

/* rspamd_status_error - a status other than 200, with the "error" text of a JSON body. */
static int rspamd_status_error(const char *status, size_t slen, const char *body, size_t blen,
                               const char **error_r)
{
    char quoted[200], text[200] = "";
    json_t *root = json_loadb(body, blen, 0, NULL);
    const json_t *e = json_object_get(root, "error");

    if (json_is_string(e))
        log_escape(text, sizeof(text), json_string_value(e), json_string_length(e));
    json_decref(root);
    log_escape(quoted, sizeof(quoted), status, slen);
    return rspamd_fail(error_r, "\"%s\"%s%s", quoted, text[0] ? ": " : "", text);
}

/* rspamd_incomplete - more octets needed: 0, or -1 once the connection is closed. */
static int rspamd_incomplete(bool at_eof, const char **error_r)
{
    return at_eof ? rspamd_fail(error_r, "response cut short") : 0;
}

/*
 * rspamd_parse_http - the HTTP response in buf[0..len): 1 when complete, with
 * *code_r, the status text after the code and the body; 0 when more octets
 * are needed (never when at_eof); -1 with *error_r.
 */
static int rspamd_parse_http(const char *buf, size_t len, bool at_eof, int *code_r,
                             const char **status_r, size_t *slen_r, const char **body_r,
                             size_t *blen_r, const char **error_r)
{
    const char *p = buf, *end = buf + len, *status, *line;
    struct rspamd_head h = {false, 0};
    size_t slen, llen, blen;
    int code;

    if (len > RSPAMD_RESPONSE_MAX)
        return rspamd_fail(error_r, "response longer than %d octets", RSPAMD_RESPONSE_MAX);
    if (!rspamd_line(&p, end, &status, &slen))
        return len > RSPAMD_HEADER_MAX ? rspamd_fail(error_r, "status line too long")
                                       : rspamd_incomplete(at_eof, error_r);
    code = rspamd_parse_status(status, slen, error_r);
    if (code < 0)
        return -1;
    for (;;) {
        if (!rspamd_line(&p, end, &line, &llen))
            return len > RSPAMD_HEADER_MAX
                       ? rspamd_fail(error_r, "header longer than %d octets", RSPAMD_HEADER_MAX)
                       : rspamd_incomplete(at_eof, error_r);
        if ((size_t)(p - buf) > RSPAMD_HEADER_MAX)
            return rspamd_fail(error_r, "header longer than %d octets", RSPAMD_HEADER_MAX);
        if (llen == 0)
            break;
        if (rspamd_parse_field(line, llen, &h, error_r) < 0)
            return -1;
    }
    blen = (size_t)(end - p);
    if (h.have_clen && blen < h.clen)
        return rspamd_incomplete(at_eof, error_r);
    if (!h.have_clen && !at_eof)
        return 0;
    *code_r = code;
    *status_r = status + 9;
    *slen_r = slen - 9;
    *body_r = p;
    *blen_r = h.have_clen ? h.clen : blen;
    return 1;
}

int rspamd_parse_response(const char *buf, size_t len, bool at_eof, struct rspamd_result *r,
                          const char **error_r)
{
    const char *status, *body;
    size_t slen, blen;
    int code,
        rc = rspamd_parse_http(buf, len, at_eof, &code, &status, &slen, &body, &blen, error_r);

    if (rc <= 0)
        return rc;
    if (code != 200)
        return rspamd_status_error(status, slen, body, blen, error_r);
    return rspamd_parse_reply(body, blen, r, error_r) < 0 ? -1 : 1;
}

int rspamd_parse_learn(const char *buf, size_t len, bool at_eof, bool *learned_r,
                       const char **error_r)
{
    const char *status, *body;
    size_t slen, blen;
    json_t *root;
    int code,
        rc = rspamd_parse_http(buf, len, at_eof, &code, &status, &slen, &body, &blen, error_r);

    if (rc <= 0)
        return rc;
    if (code == 208) { /* "already learned": nothing changed */
        *learned_r = false;
        return 1;
    }
    if (code != 200)
        return rspamd_status_error(status, slen, body, blen, error_r);
    root = json_loadb(body, blen, 0, NULL);
    rc = json_is_true(json_object_get(root, "success"))
             ? 1
             : rspamd_fail(error_r, "the controller did not say \"success\"");
    json_decref(root);
    *learned_r = rc == 1;
    return rc;
}

/* ---- the client ---- */

/* rspamd_error - "rspamd ENDPOINT: text"; returns -1. */
static int rspamd_error(const struct endpoint *ep, const char **error_r, const char *text)
{
    char where[160], line[sizeof(rspamd_errbuf)];

    /* text may be rspamd_errbuf itself */
    snprintf(line, sizeof(line), "rspamd %s: %s", endpoint_format(ep, where, sizeof(where)), text);
    memcpy(rspamd_errbuf, line, sizeof(rspamd_errbuf));
    *error_r = rspamd_errbuf;
    return -1;
}

/* what a learn request's response says */
struct rspamd_learn_out {
    bool learned;
};

/* One request: the path, the controller's password (NULL: none), what the scan
 * is told (NULL: nothing), and the parser of the response into out. */
struct rspamd_call {
    const char *path;
    const char *password;
    const struct rspamd_request *req;
    int (*parse)(const char *buf, size_t len, bool at_eof, void *out, const char **error_r);
    void *out;
};

/* rspamd_value_ok - a request header value: no control characters (UTF-8 is fine). */
static bool rspamd_value_ok(const char *v)
{
    for (; *v != '\0'; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

/* rspamd_field - queue "name: value" when value is set and safe; 0 or -1 (write error). */
static int rspamd_field(struct netio *io, int64_t deadline, const char *name, const char *value)
{
    if (value == NULL || *value == '\0' || !rspamd_value_ok(value))
        return 0;
    return netio_printf(io, clock_ms_left(deadline), "%s: %s\r\n", name, value);
}

/* rspamd_is_ip - s is an IPv4 or IPv6 address (not "unix" or a name). */
static bool rspamd_is_ip(const char *s)
{
    unsigned char addr[16];

    return s != NULL && (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1);
}

/* rspamd_send_head - the request line and header fields; 0 or -1 with errno. */
static int rspamd_send_head(struct netio *io, const struct endpoint *ep, uint64_t size,
                            const struct rspamd_call *call, int64_t deadline)
{
    const struct rspamd_request *req = call->req;
    const char *from;

    if (netio_printf(io, clock_ms_left(deadline),
                     "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                     "Content-Length: %" PRIu64 "\r\n",
                     call->path, ep->kind == ENDPOINT_INET ? ep->host : "localhost", size) < 0 ||
        rspamd_field(io, deadline, "Password", call->password) < 0)
        return -1;
    if (req == NULL)
        return netio_write(io, "\r\n", 2, clock_ms_left(deadline));
    from = req->from != NULL && *req->from != '\0' ? req->from : "<>";
    if (rspamd_field(io, deadline, "From", from) < 0 ||
        rspamd_field(io, deadline, "IP", rspamd_is_ip(req->ip) ? req->ip : NULL) < 0 ||
        rspamd_field(io, deadline, "Helo", req->helo) < 0 ||
        rspamd_field(io, deadline, "Hostname", req->hostname) < 0 ||
        rspamd_field(io, deadline, "Queue-Id", req->queue_id) < 0)
        return -1;
    for (size_t i = 0; i < req->nrcpts; i++)
        if (rspamd_field(io, deadline, "Rcpt", req->rcpts[i]) < 0)
            return -1;
    return netio_write(io, "\r\n", 2, clock_ms_left(deadline));
}

/*
 * rspamd_send - the request and the message. 0, -1 for a socket error or -2
 * when the message could not be read or its size changed, errno set.
 */
static int rspamd_send(struct netio *io, const struct endpoint *ep, struct spool *spool,
                       const struct rspamd_call *call, int64_t deadline)
{
    uint64_t size = spool_size(spool), sent = 0;
    char *chunk;
    ssize_t n;
    int rc = 0;

    if (rspamd_send_head(io, ep, size, call, deadline) < 0)
        return -1;
    chunk = malloc(RSPAMD_CHUNK_SIZE);
    if (chunk == NULL)
        fatal("malloc");
    while (rc == 0 && (n = spool_read(spool, chunk, RSPAMD_CHUNK_SIZE)) != 0) {
        if (n < 0 || (uint64_t)n > size - sent) {
            if (n > 0)
                errno = EIO;
            rc = -2;
            break;
        }
        if (netio_write(io, chunk, (size_t)n, clock_ms_left(deadline)) < 0)
            rc = -1;
        sent += (uint64_t)n;
    }
    free(chunk);
    if (rc == 0 && sent != size) {
        errno = EIO;
        rc = -2;
    }
    if (rc == 0 && netio_flush(io, clock_ms_left(deadline)) < 0)
        rc = -1;
    return rc;
}

/* The response as collected so far: grows up to RSPAMD_RESPONSE_MAX + 1 octets. */
struct rspamd_buf {
    char *data;
    size_t len, cap;
};

/* rspamd_collect - move what netio holds into b, within the cap; false once over it. */
static bool rspamd_collect(struct netio *io, struct rspamd_buf *b)
{
    const char *data;
    size_t avail = netio_peek(io, &data), take = avail;

    if (take > RSPAMD_RESPONSE_MAX + 1 - b->len)
        take = RSPAMD_RESPONSE_MAX + 1 - b->len;
    if (take > 0) {
        b->data = vec_reserve(b->data, &b->cap, b->len + take, 1);
        memcpy(b->data + b->len, data, take);
        b->len += take;
    }
    netio_consume(io, avail);
    return b->len <= RSPAMD_RESPONSE_MAX;
}

/*
 * rspamd_read_response - read and parse until complete, closed or late.
 * *replied_r tells whether rspamd sent anything at all.
 */
static int rspamd_read_response(const struct endpoint *ep, struct netio *io, int64_t deadline,
                                const struct rspamd_call *call, void *out, bool *replied_r,
                                const char **error_r)
{
    struct rspamd_buf b = {NULL, 0, 0};
    char text[sizeof(rspamd_errbuf)];
    const char *err = "";
    bool eof = false;
    int rc;

    for (;;) {
        rc = 0;
        if (!rspamd_collect(io, &b)) {
            snprintf(text, sizeof(text), "response longer than %d octets", RSPAMD_RESPONSE_MAX);
            break;
        }
        *replied_r = b.len > 0;
        if (b.len == 0 && eof) {
            snprintf(text, sizeof(text), "connection closed without a response");
            rc = -1;
            break;
        }
        if (b.len > 0)
            rc = call->parse(b.data, b.len, eof, out, &err);
        if (rc == 1)
            break;
        if (rc < 0) {
            snprintf(text, sizeof(text), "%s", err);
            break;
        }
        rc = netio_fill(io, clock_ms_left(deadline));
        if (rc == 0) {
            eof = true;
            continue;
        }
        if (rc < 0) {
            if (errno == ETIMEDOUT)
                snprintf(text, sizeof(text), "timed out waiting for the response");
            else
                snprintf(text, sizeof(text), "reading the response: %s", strerror(errno));
            break;
        }
    }
    free(b.data);
    return rc == 1 ? 0 : rspamd_error(ep, error_r, text);
}

/* rspamd_exchange - one request with the message in spool, its response parsed; 0 or -1. */
static int rspamd_exchange(const struct endpoint *ep, int timeout_ms, struct spool *spool,
                           const struct rspamd_call *call, const char **error_r)
{
    int64_t deadline;
    struct netio *io;
    const char *err;
    char text[300];
    bool replied = false;
    int fd, rc, send_errno;

    if (spool_error(spool) != 0 || spool_rewind(spool) < 0) {
        snprintf(text, sizeof(text), "message unreadable: %s",
                 strerror(spool_error(spool) != 0 ? spool_error(spool) : errno));
        return rspamd_error(ep, error_r, text);
    }
    deadline = clock_now_ms() + timeout_ms;
    fd = netio_connect(ep, timeout_ms, &err);
    if (fd < 0)
        return rspamd_error(ep, error_r, err);
    io = netio_new(fd, -1);
    rc = rspamd_send(io, ep, spool, call, deadline);
    send_errno = errno;
    if (rc == 0) {
        rc = rspamd_read_response(ep, io, deadline, call, call->out, &replied, error_r);
    } else if (rc == -2) {
        snprintf(text, sizeof(text), "reading the message: %s", strerror(send_errno));
        rc = rspamd_error(ep, error_r, text);
    } else {
        /* rspamd may have said why it stopped reading (413, 400); a reply that
         * parses is still an error here */
        rc = rspamd_read_response(ep, io, deadline, call, call->out, &replied, error_r);
        if (rc == 0 || !replied) {
            if (rc == 0)
                snprintf(text, sizeof(text), "response before the end of the message");
            else if (send_errno == ETIMEDOUT)
                snprintf(text, sizeof(text), "timed out sending the message");
            else
                snprintf(text, sizeof(text), "sending the message: %s", strerror(send_errno));
            rc = rspamd_error(ep, error_r, text);
        } else {
            rc = -1;
        }
    }
    netio_free(&io);
    return rc;
}

static int rspamd_parse_scan(const char *buf, size_t len, bool at_eof, void *out,
                             const char **error_r)
{
    return rspamd_parse_response(buf, len, at_eof, out, error_r);
}

static int rspamd_parse_learned(const char *buf, size_t len, bool at_eof, void *out,
                                const char **error_r)
{
    return rspamd_parse_learn(buf, len, at_eof, &((struct rspamd_learn_out *)out)->learned,
                              error_r);
}

int rspamd_check(const struct endpoint *ep, int timeout_ms, struct spool *spool,
                 const struct rspamd_request *req, struct rspamd_result *r, const char **error_r)
{
    const struct rspamd_call call = {"/checkv2", NULL, req, rspamd_parse_scan, r};

    memset(r, 0, sizeof(*r));
    return rspamd_exchange(ep, timeout_ms, spool, &call, error_r);
}

int rspamd_learn(const struct endpoint *controller, int timeout_ms, struct spool *spool,
                 const char *password, bool spam, bool *learned_r, const char **error_r)
{
    struct rspamd_learn_out out = {false};
    const struct rspamd_call call = {spam ? "/learnspam" : "/learnham", password, NULL,
                                     rspamd_parse_learned, &out};
    int rc = rspamd_exchange(controller, timeout_ms, spool, &call, error_r);

    *learned_r = out.learned;
    return rc;
}
