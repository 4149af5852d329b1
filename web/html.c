/*
 * html.c - the HTML buffer and its single escaping function.
 *
 * html_add() copies its literal format as markup and passes every string
 * argument through html_escape(); there is no other way to put text into a
 * page, so no template can emit raw text by accident.
 */
#include "opes/web_html.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/log.h"
#include "opes/vec.h"

static void html_grow(struct html *h, size_t more)
{
    h->buf = vec_reserve(h->buf, &h->cap, h->len + more + 1, 1);
}

static void html_raw(struct html *h, const char *s, size_t len)
{
    html_grow(h, len);
    memcpy(h->buf + h->len, s, len);
    h->len += len;
    h->buf[h->len] = '\0';
}

void html_escape(struct html *h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&':
            html_raw(h, "&amp;", 5);
            break;
        case '<':
            html_raw(h, "&lt;", 4);
            break;
        case '>':
            html_raw(h, "&gt;", 4);
            break;
        case '"':
            html_raw(h, "&quot;", 6);
            break;
        case '\'':
            html_raw(h, "&#39;", 5);
            break;
        default:
            if (c < 0x20 && c != '\n' && c != '\t')
                break; /* control bytes: dropped (CR, NUL, escape sequences) */
            if (c == 0x7f)
                break;
            html_raw(h, (const char *)&c, 1);
        }
    }
}

/* html_url - percent-encode s for a path segment or query value, then add it. */
static void html_url(struct html *h, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~@", c) != NULL) {
            html_raw(h, (const char *)&c, 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            html_raw(h, enc, 3);
        }
    }
}

static void html_num(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void html_num(struct html *h, const char *fmt, ...)
{
    char buf[32];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        html_raw(h, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void html_add_(struct html *h, const char *fmt, ...)
{
    va_list ap;
    const char *s;

    va_start(ap, fmt);
    while (*fmt != '\0') {
        const char *pct = strchr(fmt, '%');
        if (pct == NULL) {
            html_raw(h, fmt, strlen(fmt));
            break;
        }
        html_raw(h, fmt, (size_t)(pct - fmt));
        switch (pct[1]) {
        case 's':
            s = va_arg(ap, const char *);
            if (s != NULL)
                html_escape(h, s, strlen(s));
            break;
        case 'U':
            s = va_arg(ap, const char *);
            if (s != NULL)
                html_url(h, s);
            break;
        case 'd':
            html_num(h, "%d", va_arg(ap, int));
            break;
        case 'u':
            html_num(h, "%u", va_arg(ap, unsigned));
            break;
        case 'z':
            html_num(h, "%zu", va_arg(ap, size_t));
            break;
        case 'L':
            html_num(h, "%" PRId64, va_arg(ap, int64_t));
            break;
        case '%':
            html_raw(h, "%", 1);
            break;
        default:
            fatalx("html_add: bad directive in \"%s\"", fmt);
        }
        fmt = pct + 2;
    }
    va_end(ap);
}

char *html_take(struct html *h, size_t *len_r)
{
    char *b;

    html_grow(h, 0);
    b = h->buf;
    *len_r = h->len;
    memset(h, 0, sizeof(*h));
    return b;
}

void html_free(struct html *h)
{
    free(h->buf);
    memset(h, 0, sizeof(*h));
}

void html_paragraphs(struct html *h, const char *text)
{
    const char *p = text;

    while (*p != '\0') {
        const char *end = strstr(p, "\n\n");
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t skip = strspn(p, "\r\n \t");
        if (skip >= n) {
            p += end != NULL ? n + 2 : n;
            continue;
        }
        html_add(h, "<p>");
        html_escape(h, p, n);
        html_add(h, "</p>\n");
        p += end != NULL ? n + 2 : n;
    }
}
