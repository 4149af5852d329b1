/*
 * form.c - application/x-www-form-urlencoded parsing with fixed bounds.
 *
 * The input is copied once and decoded in place (decoding only shrinks);
 * fields point into that copy. Used for POST bodies; query strings arrive
 * already split by libmicrohttpd and are added with web_form_add.
 */
#include "opes/web_form.h"

#include <stdlib.h>
#include <string.h>

#include "opes/hex.h"
#include "opes/log.h"

long web_form_decode(char *dst, const char *s, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            return -1;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

void web_form_free(struct web_form *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

/* form_piece - decode one "name=value" piece in place at p[0..len). */
static int form_piece(struct web_form *f, char *p, size_t len)
{
    char *eq = memchr(p, '=', len);
    size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
    char *v = eq != NULL ? eq + 1 : p + len;
    size_t vlen = eq != NULL ? len - nlen - 1 : 0;

    if (f->n == WEB_FORM_MAX_FIELDS)
        return WEB_FORM_TOO_BIG;
    if (web_form_decode(p, p, nlen) < 0 || web_form_decode(v, v, vlen) < 0)
        return WEB_FORM_MALFORMED;
    if (eq == NULL)
        v = p + strlen(p); /* the name's own terminator: an empty value */
    f->f[f->n].name = p;
    f->f[f->n].value = v;
    f->n++;
    return WEB_FORM_OK;
}

enum web_form_result web_form_parse(struct web_form *f, const char *data, size_t len)
{
    size_t start = 0;

    if (len > WEB_FORM_MAX_INPUT)
        return WEB_FORM_TOO_BIG;
    web_form_free(f);
    f->buf = malloc(len + 1);
    if (f->buf == NULL)
        fatal("malloc");
    memcpy(f->buf, data, len);
    f->buf[len] = '\0';
    for (size_t i = 0; i <= len; i++) {
        int rc;
        if (i < len && f->buf[i] != '&')
            continue;
        f->buf[i] = '\0';
        rc = i > start ? form_piece(f, f->buf + start, i - start) : WEB_FORM_OK;
        if (rc != WEB_FORM_OK) {
            web_form_free(f);
            return (enum web_form_result)rc;
        }
        start = i + 1;
    }
    return WEB_FORM_OK;
}

int web_form_add(struct web_form *f, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    size_t used = 0;
    char *nb;

    if (f->n == WEB_FORM_MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < f->n; i++)
        used += strlen(f->f[i].name) + strlen(f->f[i].value) + 2;
    if (used + nl + vl + 2 > WEB_FORM_MAX_INPUT)
        return -1;
    nb = malloc(used + nl + vl + 2);
    if (nb == NULL)
        fatal("malloc");
    /* rebuild so that every field lives in the one owned buffer */
    used = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t a = strlen(f->f[i].name) + 1, b = strlen(f->f[i].value) + 1;
        memcpy(nb + used, f->f[i].name, a);
        memcpy(nb + used + a, f->f[i].value, b);
        f->f[i].name = nb + used;
        f->f[i].value = nb + used + a;
        used += a + b;
    }
    memcpy(nb + used, name, nl + 1);
    memcpy(nb + used + nl + 1, value, vl + 1);
    f->f[f->n].name = nb + used;
    f->f[f->n].value = nb + used + nl + 1;
    f->n++;
    free(f->buf);
    f->buf = nb;
    return 0;
}

const char *web_form_get(const struct web_form *f, const char *name)
{
    size_t pos = 0;
    return web_form_next(f, name, &pos);
}

const char *web_form_next(const struct web_form *f, const char *name, size_t *pos)
{
    for (size_t i = *pos; i < f->n; i++) {
        if (strcmp(f->f[i].name, name) == 0) {
            *pos = i + 1;
            return f->f[i].value;
        }
    }
    *pos = f->n;
    return NULL;
}
