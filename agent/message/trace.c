/*
 * trace.c - trace ids and the Received / OPES-System / OPES-Via header block.
 *
 * New fields go on top; existing trace fields are never touched (RFC 5321
 * 4.4). A field whose name a DKIM signature covers is not added: its text
 * goes into a comment of the Received field instead, so the trace is never
 * lost (RFC 4902 4) and the signature still verifies. Peer-supplied names are reduced to a safe
 * alphabet before they enter a header.
 */
#include "opes/trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "opes/log.h"

void trace_id_new(char id[TRACE_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* 32 */
    unsigned char raw[TRACE_ID_LEN];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        fatal("getrandom");
    for (int i = 0; i < TRACE_ID_LEN; i++)
        id[i] = alphabet[raw[i] & 31];
    id[TRACE_ID_LEN] = '\0';
}

void trace_sanitize(char *dst, size_t size, const char *src)
{
    size_t o = 0;

    for (; src != NULL && *src != '\0' && o + 1 < size && o < 255; src++) {
        char c = *src;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr(".:-_[]", c) != NULL;
        dst[o++] = ok ? c : '_';
    }
    dst[o] = '\0';
}

struct trace_out {
    char *buf;
    size_t size, len, col;
    int overflow;
};

static void tout_raw(struct trace_out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->size) {
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
    for (size_t i = 0; i < n; i++)
        o->col = s[i] == '\n' ? 0 : o->col + 1;
}

/* tout_word - append a word, folding first when the line would pass 78. */
static void tout_word(struct trace_out *o, const char *word, int space)
{
    size_t n = strlen(word);

    if (n > 900) { /* cannot be folded and would break the 998-octet limit */
        o->overflow = 1;
        return;
    }

    if (o->col > 1 && o->col + (space ? 1 : 0) + n > 78)
        tout_raw(o, "\r\n\t", 3);
    else if (space)
        tout_raw(o, " ", 1);
    tout_raw(o, word, n);
}

static void tout_wordf(struct trace_out *o, int space, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tout_wordf(struct trace_out *o, int space, const char *fmt, ...)
{
    char w[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w, sizeof(w), fmt, ap);
    va_end(ap);
    tout_word(o, w, space);
}

/*
 * tout_comment - a comment on a line of its own, at most max octets of text:
 * characters a comment cannot hold become '_', and it folds between words.
 */
static void tout_comment(struct trace_out *o, const char *text, size_t max)
{
    char c[TRACE_COMMENT_MAX], *save = NULL;
    size_t n = 0;

    if (max > sizeof(c) - 1)
        max = sizeof(c) - 1;
    for (const char *p = text; *p != '\0' && n < max; p++)
        c[n++] = (*p < 32 || *p > 126 || *p == '(' || *p == ')' || *p == '\\') ? '_' : *p;
    c[n] = '\0';
    tout_raw(o, "\r\n\t(", 4);
    for (char *w = strtok_r(c, " ", &save), *next; w != NULL; w = next) {
        next = strtok_r(NULL, " ", &save);
        tout_wordf(o, w != c, "%s%s", w, next == NULL ? ")" : "");
    }
}

/* trace_opes_system - the OPES-System field's text, name included. */
static void trace_opes_system(char *buf, size_t size, const struct trace_info *ti)
{
    snprintf(buf, size, "OPES-System: %s; trace=%s", ti->system_uri, ti->id);
}

/* trace_opes_via - the OPES-Via field's text, name included (truncated to size). */
static void trace_opes_via(char *buf, size_t size, const struct trace_info *ti)
{
    int n = snprintf(buf, size, "OPES-Via: %s; action=relay", ti->system_uri);

    for (size_t i = 0; i < ti->nvia && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, ", %s; action=%s", ti->via[i].uri,
                      ti->via[i].action);
}

static void trace_received(struct trace_out *o, const struct trace_info *ti)
{
    char helo[256], name[256], addr[256], date[64];
    struct tm tm;

    trace_sanitize(helo, sizeof(helo), ti->helo != NULL && *ti->helo ? ti->helo : "unknown");
    trace_sanitize(name, sizeof(name), ti->peer_name != NULL ? ti->peer_name : "unknown");
    trace_sanitize(addr, sizeof(addr), ti->peer_addr != NULL ? ti->peer_addr : "unknown");
    localtime_r(&ti->when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);

    tout_raw(o, "Received:", 9);
    tout_wordf(o, 1, "from %s", helo);
    if (strcmp(addr, "unix") == 0)
        tout_word(o, "(unix socket)", 1);
    else {
        tout_wordf(o, 1, "(%s", name);
        tout_wordf(o, 1, "[%s])", addr);
    }
    tout_raw(o, "\r\n\t", 3);
    tout_wordf(o, 0, "by %s (opesd)", ti->by_host);
    tout_wordf(o, 1, "with %s id %s", ti->protocol, ti->id);
    if (ti->note != NULL)
        tout_comment(o, ti->note, 199);
    if (ti->carry != 0) {
        char c[TRACE_COMMENT_MAX];
        if (ti->carry & TRACE_CARRY_SYSTEM) {
            trace_opes_system(c, sizeof(c), ti);
            tout_comment(o, c, sizeof(c));
        }
        if (ti->carry & TRACE_CARRY_VIA) {
            trace_opes_via(c, sizeof(c), ti);
            tout_comment(o, c, sizeof(c));
        }
    }
    if (ti->for_rcpt != NULL && strlen(ti->for_rcpt) < 300) {
        tout_raw(o, "\r\n\t", 3);
        tout_wordf(o, 0, "for <%s>;", ti->for_rcpt);
    } else {
        tout_raw(o, ";", 1);
    }
    tout_word(o, date, 1);
    tout_raw(o, "\r\n", 2);
}

size_t trace_headers(char *buf, size_t size, const struct trace_info *ti)
{
    struct trace_out o = {.buf = buf, .size = size};

    trace_received(&o, ti);
    if (!(ti->carry & TRACE_CARRY_SYSTEM)) {
        tout_raw(&o, "OPES-System:", 12);
        tout_wordf(&o, 1, "%s;", ti->system_uri);
        tout_wordf(&o, 1, "trace=%s", ti->id);
        tout_raw(&o, "\r\n", 2);
    }
    if (!(ti->carry & TRACE_CARRY_VIA)) {
        tout_raw(&o, "OPES-Via:", 9);
        tout_wordf(&o, 1, "%s;", ti->system_uri);
        tout_wordf(&o, 1, "action=relay%s", ti->nvia > 0 ? "," : "");
        for (size_t i = 0; i < ti->nvia; i++) {
            tout_wordf(&o, 1, "%s;", ti->via[i].uri);
            tout_wordf(&o, 1, "action=%s%s", ti->via[i].action, i + 1 < ti->nvia ? "," : "");
        }
        tout_raw(&o, "\r\n", 2);
    }
    if (ti->delivery_id != NULL) {
        tout_raw(&o, "OPES-Delivery-Id:", 17);
        tout_word(&o, ti->delivery_id, 1);
        tout_raw(&o, "\r\n", 2);
    }
    return o.overflow ? 0 : o.len;
}

bool trace_check(const char *prefix, size_t len, const char *id)
{
    char want[64];
    bool received = false;
    const char *p = prefix, *end = prefix + len;

    if (len < 2 || memcmp(end - 2, "\r\n", 2) != 0 || memchr(prefix, '\0', len) != NULL)
        return false;
    snprintf(want, sizeof(want), " id %s", id);
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        size_t n;
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
            return false;
        n = (size_t)(eol - p);
        if (n > 998 || n == 0 || memchr(p, '\n', n) != NULL)
            return false;
        if (strncmp(p, "Received:", 9) == 0)
            received = true;
        if (strncmp(p, "OPES-System:", 12) == 0) {
            char t[64];
            snprintf(t, sizeof(t), "trace=%s", id);
            if (memmem(p, n, t, strlen(t)) == NULL)
                return false;
        }
        if (p == prefix && (*p == ' ' || *p == '\t'))
            return false; /* a block cannot start with a continuation */
        p = eol + 2;
    }
    return received && memmem(prefix, len, want, strlen(want)) != NULL;
}
