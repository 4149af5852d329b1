/*
 * fuzz_web_form.c - libFuzzer target for the portal's form and query parser
 * (web/form.c) and the message preview (web/preview.c).
 *
 * The form parser must either refuse the input whole or give fields that
 * re-encode to a form parsing to the same fields; every field must be a
 * NUL-free string inside the bounds. The same bytes then go through the
 * preview, whose text must stay within its bound.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/web_form.h"
#include "opes/web_preview.h"

#include "fuzz_check.h"

/* encode - percent-encode every byte but unreserved ones. */
static size_t encode(char *dst, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    return o;
}

static void round_trip(const struct web_form *f)
{
    size_t cap = 1, o = 0;
    struct web_form g = {0};
    char *buf;

    for (size_t i = 0; i < f->n; i++)
        cap += 3 * (strlen(f->f[i].name) + strlen(f->f[i].value)) + 2;
    buf = malloc(cap);
    FUZZ_CHECK(buf != NULL);
    for (size_t i = 0; i < f->n; i++) {
        if (i > 0)
            buf[o++] = '&';
        o += encode(buf + o, f->f[i].name);
        buf[o++] = '=';
        o += encode(buf + o, f->f[i].value);
    }
    if (o <= WEB_FORM_MAX_INPUT) {
        FUZZ_CHECK(web_form_parse(&g, buf, o) == WEB_FORM_OK);
        /* empty pieces ("=" with an empty name too) survive as fields */
        FUZZ_CHECK(g.n == f->n);
        for (size_t i = 0; i < f->n; i++) {
            FUZZ_CHECK(strcmp(g.f[i].name, f->f[i].name) == 0);
            FUZZ_CHECK(strcmp(g.f[i].value, f->f[i].value) == 0);
        }
    }
    web_form_free(&g);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct web_form f = {0};
    struct web_preview p;
    enum web_form_result rc = web_form_parse(&f, (const char *)data, size);

    if (rc == WEB_FORM_OK) {
        FUZZ_CHECK(f.n <= WEB_FORM_MAX_FIELDS);
        for (size_t i = 0; i < f.n; i++)
            FUZZ_CHECK(strlen(f.f[i].name) <= size && strlen(f.f[i].value) <= size);
        round_trip(&f);
    } else {
        FUZZ_CHECK(f.n == 0);
    }
    web_form_free(&f);
    web_preview_parse((const char *)data, size, &p);
    FUZZ_CHECK(p.text != NULL && strlen(p.text) <= WEB_PREVIEW_MAX_TEXT);
    FUZZ_CHECK(p.nhdr <= WEB_PREVIEW_MAX_HEADERS && p.natt <= WEB_PREVIEW_MAX_ATTACH);
    web_preview_free(&p);
    return 0;
}
