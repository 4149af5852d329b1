/*
 * spamd.c - the SPAMC/1.5 client for SpamAssassin's spamd, and the parser of
 * its response.
 *
 * Owns one connection per check. The request is "SYMBOLS SPAMC/1.5" with
 * Content-length and an optional User header, then the message; the response
 * is a status line ("SPAMD/1.1 0 EX_OK"), headers (Content-length and
 * "Spam: True ; 1000.0 / 5.0"), an empty line and the names of the rules that
 * hit. The parser works on bytes only, so tables of responses can test it.
 * All waits of one check share one deadline.
 */
#include "opes/spamd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/log.h"
#include "opes/netio.h"
#include "opes/spool.h"

#define SPAMD_CHUNK_SIZE 65536

static _Thread_local char spamd_errbuf[512];

/* spamd_fail - set *error_r to the formatted text; returns -1. */
static int spamd_fail(const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int spamd_fail(const char **error_r, const char *fmt, ...)
{
    char text[sizeof(spamd_errbuf)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memcpy(spamd_errbuf, text, sizeof(spamd_errbuf));
    *error_r = spamd_errbuf;
    return -1;
}

/* spamd_error - "spamd ENDPOINT: text"; returns -1. */
static int spamd_error(const struct endpoint *ep, const char **error_r, const char *text)
{
    char where[160], line[sizeof(spamd_errbuf)];

    /* text may be spamd_errbuf itself */
    snprintf(line, sizeof(line), "spamd %s: %s", endpoint_format(ep, where, sizeof(where)), text);
    memcpy(spamd_errbuf, line, sizeof(spamd_errbuf));
    *error_r = spamd_errbuf;
    return -1;
}

/* ---- the parser ---- */

/* spamd_line - the next line from *p (up to end) without CR LF; 0 if no LF yet. */
static int spamd_line(const char **p, const char *end, const char **line_r, size_t *len_r)
{
    const char *lf = memchr(*p, '\n', (size_t)(end - *p));
    size_t len;

    if (lf == NULL)
        return 0;
    len = (size_t)(lf - *p);
    if (len > 0 && (*p)[len - 1] == '\r')
        len--;
    *line_r = *p;
    *len_r = len;
    *p = lf + 1;
    return 1;
}

/* spamd_number - "[-]digits[.digits]" at s[*i..len); locale-free. 0 or -1. */
static int spamd_number(const char *s, size_t len, size_t *i, double *value_r)
{
    double v = 0;
    int neg = 0, digits = 0;

    if (*i < len && s[*i] == '-') {
        neg = 1;
        (*i)++;
    }
    for (; *i < len && s[*i] >= '0' && s[*i] <= '9' && digits < 15; (*i)++, digits++)
        v = v * 10 + (s[*i] - '0');
    if (digits == 0)
        return -1;
    if (*i < len && s[*i] == '.') {
        double scale = 1;

        (*i)++;
        for (digits = 0; *i < len && s[*i] >= '0' && s[*i] <= '9' && digits < 6; (*i)++, digits++)
            v += (s[*i] - '0') * (scale /= 10);
        if (digits == 0)
            return -1;
    }
    *value_r = neg ? -v : v;
    return 0;
}

static void spamd_skip_spaces(const char *s, size_t len, size_t *i)
{
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
}

/* spamd_expect - s[*i..) starts with word (case-insensitive); advances past it. */
static int spamd_expect(const char *s, size_t len, size_t *i, const char *word)
{
    size_t n = strlen(word);

    if (len - *i < n || strncasecmp(s + *i, word, n) != 0)
        return 0;
    *i += n;
    return 1;
}

/* spamd_parse_spam - the value "True ; 1000.0 / 5.0"; 0 or -1. */
static int spamd_parse_spam(const char *v, size_t len, struct spamd_result *r)
{
    size_t i = 0;

    spamd_skip_spaces(v, len, &i);
    if (spamd_expect(v, len, &i, "True"))
        r->is_spam = true;
    else if (spamd_expect(v, len, &i, "False"))
        r->is_spam = false;
    else
        return -1;
    spamd_skip_spaces(v, len, &i);
    if (!spamd_expect(v, len, &i, ";"))
        return -1;
    spamd_skip_spaces(v, len, &i);
    if (spamd_number(v, len, &i, &r->score) < 0)
        return -1;
    spamd_skip_spaces(v, len, &i);
    if (!spamd_expect(v, len, &i, "/"))
        return -1;
    spamd_skip_spaces(v, len, &i);
    if (spamd_number(v, len, &i, &r->threshold) < 0)
        return -1;
    spamd_skip_spaces(v, len, &i);
    return i == len ? 0 : -1;
}

/* spamd_parse_status - "SPAMD/1.1 0 EX_OK"; 0, or -1 with the quoted status. */
static int spamd_parse_status(const char *line, size_t len, const char **error_r)
{
    char quoted[200];
    size_t i = 0;
    double version;

    if (!spamd_expect(line, len, &i, "SPAMD/") || spamd_number(line, len, &i, &version) < 0 ||
        i >= len || line[i] != ' ') {
        log_escape(quoted, sizeof(quoted), line, len);
        return spamd_fail(error_r, "malformed status line \"%s\"", quoted);
    }
    i++;
    if (len - i >= 2 && line[i] == '0' && line[i + 1] == ' ')
        return 0;
    log_escape(quoted, sizeof(quoted), line + i, len - i);
    return spamd_fail(error_r, "not EX_OK: \"%s\"", quoted);
}

/* spamd_parse_length - Content-length: digits only, at most SPAMD_RESPONSE_MAX. */
static int spamd_parse_length(const char *v, size_t len, size_t *clen_r)
{
    size_t i = 0, n = 0;

    spamd_skip_spaces(v, len, &i);
    if (i == len)
        return -1;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        n = n * 10 + (size_t)(v[i] - '0');
        if (n > SPAMD_RESPONSE_MAX)
            return -1;
    }
    spamd_skip_spaces(v, len, &i);
    if (i != len)
        return -1;
    *clen_r = n;
    return 0;
}

/* spamd_parse_header - one "Name: value" line; unknown names are ignored. */
static int spamd_parse_header(const char *line, size_t len, struct spamd_result *r, bool *have_spam,
                              size_t *clen, bool *have_clen, const char **error_r)
{
    const char *colon = memchr(line, ':', len);
    char quoted[200];
    size_t nlen, vlen;
    const char *value;

    log_escape(quoted, sizeof(quoted), line, len);
    if (colon == NULL || colon == line)
        return spamd_fail(error_r, "malformed header \"%s\"", quoted);
    nlen = (size_t)(colon - line);
    value = colon + 1;
    vlen = len - nlen - 1;
    if (nlen == 14 && strncasecmp(line, "Content-length", nlen) == 0) {
        if (*have_clen || spamd_parse_length(value, vlen, clen) < 0)
            return spamd_fail(error_r, "bad header \"%s\"", quoted);
        *have_clen = true;
    } else if (nlen == 4 && strncasecmp(line, "Spam", nlen) == 0) {
        if (*have_spam || spamd_parse_spam(value, vlen, r) < 0)
            return spamd_fail(error_r, "bad header \"%s\"", quoted);
        *have_spam = true;
    }
    return 0;
}

/* spamd_parse_symbols - the body: rule names, cut after the last whole name that fits. */
static int spamd_parse_symbols(const char *body, size_t len, struct spamd_result *r,
                               const char **error_r)
{
    size_t i, cut;

    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
        len--;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c <= 0x20 || c >= 0x7f)
            return spamd_fail(error_r, "unexpected octet 0x%02x in the rule names", c);
    }
    cut = len;
    r->symbols_truncated = false;
    if (len > sizeof(r->symbols) - 1) {
        r->symbols_truncated = true;
        for (cut = sizeof(r->symbols) - 1; cut > 0 && body[cut] != ','; cut--)
            ;
    }
    memcpy(r->symbols, body, cut);
    r->symbols[cut] = '\0';
    return 0;
}

/* spamd_incomplete - more octets needed: 0, or -1 once the connection is closed. */
static int spamd_incomplete(bool at_eof, const char **error_r)
{
    return at_eof ? spamd_fail(error_r, "response cut short") : 0;
}

/*
 * spamd_parse_start - the size limit and the status line of buf[0..len): 1
 * with *p after it, 0 when more octets are needed, -1 with *error_r.
 */
static int spamd_parse_start(const char *buf, size_t len, bool at_eof, const char **p,
                             const char **error_r)
{
    const char *line;
    size_t llen;

    *p = buf;
    if (len > SPAMD_RESPONSE_MAX)
        return spamd_fail(error_r, "response longer than %d octets", SPAMD_RESPONSE_MAX);
    if (!spamd_line(p, buf + len, &line, &llen))
        return spamd_incomplete(at_eof, error_r);
    return spamd_parse_status(line, llen, error_r) < 0 ? -1 : 1;
}

int spamd_parse_response(const char *buf, size_t len, bool at_eof, struct spamd_result *r,
                         const char **error_r)
{
    const char *p, *end = buf + len, *line;
    bool have_spam = false, have_clen = false;
    size_t llen, clen = 0, body_len;
    int rc = spamd_parse_start(buf, len, at_eof, &p, error_r);

    if (rc <= 0)
        return rc;
    for (;;) {
        if (!spamd_line(&p, end, &line, &llen))
            return spamd_incomplete(at_eof, error_r);
        if (llen == 0)
            break;
        if (spamd_parse_header(line, llen, r, &have_spam, &clen, &have_clen, error_r) < 0)
            return -1;
    }
    if (!have_spam)
        return spamd_fail(error_r, "no Spam header in the response");
    body_len = (size_t)(end - p);
    if (have_clen && body_len < clen)
        return spamd_incomplete(at_eof, error_r);
    if (!have_clen && !at_eof)
        return 0;
    if (spamd_parse_symbols(p, have_clen ? clen : body_len, r, error_r) < 0)
        return -1;
    return 1;
}

int spamd_parse_tell(const char *buf, size_t len, bool at_eof, bool *learned_r,
                     const char **error_r)
{
    const char *p, *end = buf + len, *line;
    size_t llen;
    int rc = spamd_parse_start(buf, len, at_eof, &p, error_r);

    if (rc <= 0)
        return rc;
    *learned_r = false;
    for (;;) {
        if (!spamd_line(&p, end, &line, &llen))
            return spamd_incomplete(at_eof, error_r);
        if (llen == 0)
            return 1;
        if (llen > 7 && strncasecmp(line, "DidSet:", 7) == 0)
            *learned_r = true;
    }
}

/* ---- the client ---- */

/* spamd_user_ok - a User header value: not too long, no control characters. */
static bool spamd_user_ok(const char *user)
{
    size_t i, len = strlen(user);

    if (len > SPAMD_USER_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * spamd_send_body - exactly size octets of the spool. 0, -1 for a socket
 * error or -2 when the spool could not be read or its size changed, errno set.
 */
static int spamd_send_body(struct netio *io, struct spool *spool, uint64_t size, int64_t deadline)
{
    char *chunk = malloc(SPAMD_CHUNK_SIZE);
    uint64_t sent = 0;
    ssize_t n;
    int rc = 0;

    if (chunk == NULL)
        fatal("malloc");
    while (rc == 0 && (n = spool_read(spool, chunk, SPAMD_CHUNK_SIZE)) != 0) {
        if (n < 0 || (uint64_t)n > size - sent) {
            if (n > 0)
                errno = EIO;
            rc = -2;
        } else if (netio_write(io, chunk, (size_t)n, clock_ms_left(deadline)) < 0) {
            rc = -1;
        }
        sent += n > 0 ? (uint64_t)n : 0;
    }
    free(chunk);
    if (rc == 0 && sent != size) {
        errno = EIO;
        rc = -2;
    }
    return rc;
}

/*
 * spamd_send - request headers and the message, then shut down our side.
 * 0, -1 for a socket error or -2 when the message could not be read, errno set.
 */
static int spamd_send(struct netio *io, struct spool *spool, const char *verb, const char *head,
                      const char *user, int64_t deadline)
{
    uint64_t size = spool_size(spool);
    int rc;

    if (netio_printf(io, clock_ms_left(deadline),
                     "%s SPAMC/1.5\r\nContent-length: %" PRIu64 "\r\n%s%s%s%s\r\n", verb, size,
                     head, *user != '\0' ? "User: " : "", user, *user != '\0' ? "\r\n" : "") < 0)
        return -1;
    rc = spamd_send_body(io, spool, size, deadline);
    if (rc < 0)
        return rc;
    if (netio_flush(io, clock_ms_left(deadline)) < 0 || shutdown(netio_fd(io), SHUT_WR) < 0)
        return -1;
    return 0;
}

/* A parser of one kind of response: spamd_parse_response or spamd_parse_tell. */
typedef int spamd_parser(const char *buf, size_t len, bool at_eof, void *out, const char **error_r);

static int spamd_parse_check(const char *buf, size_t len, bool at_eof, void *out,
                             const char **error_r)
{
    return spamd_parse_response(buf, len, at_eof, out, error_r);
}

static int spamd_parse_told(const char *buf, size_t len, bool at_eof, void *out,
                            const char **error_r)
{
    return spamd_parse_tell(buf, len, at_eof, out, error_r);
}

/*
 * spamd_read_response - read and parse (parse into out) until complete,
 * closed or late. *replied_r tells whether spamd sent anything at all.
 */
static int spamd_read_response(const struct endpoint *ep, struct netio *io, int64_t deadline,
                               spamd_parser *parse, void *out, bool *replied_r,
                               const char **error_r)
{
    char text[300];
    const char *data, *err;
    bool eof = false;

    for (;;) {
        size_t avail = netio_peek(io, &data);
        int rc;

        *replied_r = avail > 0;
        rc = avail > 0 || eof ? parse(data, avail, eof, out, &err) : 0;
        if (rc == 1)
            return 0;
        if (rc < 0 && avail == 0)
            return spamd_error(ep, error_r, "connection closed without a response");
        if (rc < 0) {
            snprintf(text, sizeof(text), "%s", err);
            return spamd_error(ep, error_r, text);
        }
        rc = netio_fill(io, clock_ms_left(deadline));
        if (rc == 0)
            eof = true;
        else if (rc < 0 && errno == ETIMEDOUT)
            return spamd_error(ep, error_r, "timed out waiting for the response");
        else if (rc < 0) {
            snprintf(text, sizeof(text), "reading the response: %s", strerror(errno));
            return spamd_error(ep, error_r, text);
        }
    }
}

/* spamd_cut_short - the request did not get through: spamd's reason if it gave one. */
static int spamd_cut_short(const struct endpoint *ep, struct netio *io, int64_t deadline,
                           int send_errno, const char **error_r)
{
    struct spamd_result ignored;
    char text[300];
    bool replied;
    int rc;

    rc = spamd_read_response(ep, io, deadline, spamd_parse_check, &ignored, &replied, error_r);
    if (rc == 0)
        return spamd_error(ep, error_r, "response before the end of the message");
    if (replied)
        return -1;
    if (send_errno == ETIMEDOUT)
        snprintf(text, sizeof(text), "timed out sending the message");
    else
        snprintf(text, sizeof(text), "sending the message: %s", strerror(send_errno));
    return spamd_error(ep, error_r, text);
}

/*
 * spamd_exchange - one request (verb, extra header lines head) with the
 * message in spool, its response parsed by parse into out; 0 or -1.
 */
static int spamd_exchange(const struct endpoint *ep, int timeout_ms, struct spool *spool,
                          const char *verb, const char *head, const char *user, spamd_parser *parse,
                          void *out, const char **error_r)
{
    int64_t deadline;
    struct netio *io;
    const char *err;
    char text[300];
    bool replied;
    int fd, rc;

    if (user == NULL)
        user = "";
    if (!spamd_user_ok(user))
        return spamd_error(ep, error_r, "user name too long or with control characters");
    if (spool_error(spool) != 0 || spool_rewind(spool) < 0) {
        snprintf(text, sizeof(text), "message unreadable: %s",
                 strerror(spool_error(spool) != 0 ? spool_error(spool) : errno));
        return spamd_error(ep, error_r, text);
    }
    deadline = clock_now_ms() + timeout_ms;
    fd = netio_connect(ep, timeout_ms, &err);
    if (fd < 0)
        return spamd_error(ep, error_r, err);
    io = netio_new(fd, -1);
    rc = spamd_send(io, spool, verb, head, user, deadline);
    if (rc == 0) {
        rc = spamd_read_response(ep, io, deadline, parse, out, &replied, error_r);
    } else if (rc == -2) {
        snprintf(text, sizeof(text), "reading the message: %s", strerror(errno));
        rc = spamd_error(ep, error_r, text);
    } else {
        rc = spamd_cut_short(ep, io, deadline, errno, error_r);
    }
    netio_free(&io);
    return rc;
}

int spamd_check(const struct endpoint *ep, int timeout_ms, struct spool *spool, const char *user,
                struct spamd_result *r, const char **error_r)
{
    memset(r, 0, sizeof(*r));
    return spamd_exchange(ep, timeout_ms, spool, "SYMBOLS", "", user, spamd_parse_check, r,
                          error_r);
}

int spamd_tell(const struct endpoint *ep, int timeout_ms, struct spool *spool, const char *user,
               bool spam, bool *learned_r, const char **error_r)
{
    *learned_r = false;
    return spamd_exchange(ep, timeout_ms, spool, "TELL",
                          spam ? "Message-class: spam\r\nSet: local\r\n"
                               : "Message-class: ham\r\nSet: local\r\n",
                          user, spamd_parse_told, learned_r, error_r);
}
