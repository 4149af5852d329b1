/*
 * fuzz_mime.c - libFuzzer target for the MIME parser and its decoders.
 *
 * The input is a message. It is parsed in one piece, in pieces cut at
 * pseudo-random points (seeded from the input, so a crash repeats) and, when
 * short, byte by byte; every result must be the same, and each must hold
 * together: offsets inside the input and in document order, every part inside
 * its parent, parents before children, depth and part count within the
 * limits, header fields inside their part's header block, decoded strings
 * valid UTF-8. This is done with the default limits and with tiny ones (so
 * that the limit paths run too). Each leaf is then decoded, and the base64
 * and quoted-printable decoders and mime_decode_2047() run over the raw
 * input whole and in pieces; the readers for callers that hold a header
 * block or a message in memory (mime_header_find, mime_part_body,
 * mime_text_utf8) keep their bounds. The limits reached are the same in
 * every way of feeding, appear exactly when a limit flag does, and are
 * named, as are the ambiguities; every file name reading is valid UTF-8 and
 * the one used is among them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/mime.h"

#include "fuzz_check.h"

static uint32_t next_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* hash - FNV-1a, only to derive split points from the input. */
static uint32_t hash(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h | 1;
}

/* utf8_valid - whether s is well-formed UTF-8 (no overlongs, surrogates or NUL inside). */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s != '\0') {
        unsigned c = *s++, need, min;
        uint32_t cp;
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000, cp = c & 0x07;
        else
            return false;
        for (unsigned k = 0; k < need; k++, s++) {
            if ((*s & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*s & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

static bool str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void same_params(const struct mime_param *a, size_t na, const struct mime_param *b,
                        size_t nb)
{
    FUZZ_CHECK(na == nb);
    for (size_t i = 0; i < na; i++)
        FUZZ_CHECK(str_same(a[i].name, b[i].name) && str_same(a[i].value, b[i].value));
}

static void same_part(const struct mime_part *a, const struct mime_part *b)
{
    FUZZ_CHECK(a->parent == b->parent && a->depth == b->depth && a->kind == b->kind);
    FUZZ_CHECK(a->is_message == b->is_message && a->attachment == b->attachment);
    FUZZ_CHECK(str_same(a->type, b->type) && str_same(a->subtype, b->subtype));
    FUZZ_CHECK(str_same(a->cte, b->cte) && str_same(a->disposition, b->disposition));
    FUZZ_CHECK(str_same(a->filename, b->filename));
    FUZZ_CHECK(a->header_start == b->header_start && a->body_start == b->body_start);
    FUZZ_CHECK(a->body_end == b->body_end && a->preamble_end == b->preamble_end);
    FUZZ_CHECK(a->epilogue_start == b->epilogue_start);
    FUZZ_CHECK(a->flags == b->flags && a->protected == b->protected);
    same_params(a->params, a->nparams, b->params, b->nparams);
    same_params(a->disp_params, a->ndisp_params, b->disp_params, b->ndisp_params);
    FUZZ_CHECK(a->nfields == b->nfields);
    for (size_t i = 0; i < a->nfields; i++) {
        const struct mime_field *x = &a->fields[i], *y = &b->fields[i];
        FUZZ_CHECK(str_same(x->name, y->name) && str_same(x->value, y->value));
        FUZZ_CHECK(x->offset == y->offset && x->raw_len == y->raw_len);
        FUZZ_CHECK(x->trace == y->trace && x->truncated == y->truncated);
    }
}

static void same_message(const struct mime_message *a, const struct mime_message *b)
{
    FUZZ_CHECK(a->nparts == b->nparts && a->size == b->size);
    FUZZ_CHECK(a->flags == b->flags && a->protected == b->protected);
    FUZZ_CHECK(a->limits == b->limits);
    FUZZ_CHECK(a->dkim_signatures == b->dkim_signatures && a->ndkim_signed == b->ndkim_signed);
    for (size_t i = 0; i < a->ndkim_signed; i++)
        FUZZ_CHECK(strcmp(a->dkim_signed[i], b->dkim_signed[i]) == 0);
    for (size_t i = 0; i < a->nparts; i++)
        same_part(&a->parts[i], &b->parts[i]);
}

static void check_fields(const struct mime_part *p, const struct mime_limits *lim)
{
    uint64_t prev_end = p->header_start;

    FUZZ_CHECK(p->nfields <= lim->max_fields);
    for (size_t i = 0; i < p->nfields; i++) {
        const struct mime_field *f = &p->fields[i];
        FUZZ_CHECK(f->offset >= prev_end && f->offset + f->raw_len <= p->body_start);
        FUZZ_CHECK(f->name[0] != '\0' && strpbrk(f->name, ": \t\r\n") == NULL);
        FUZZ_CHECK(strchr(f->value, '\n') == NULL);
        FUZZ_CHECK(strlen(f->name) + strlen(f->value) < lim->max_header_line);
        prev_end = f->offset + f->raw_len;
    }
}

static void check_strings(const struct mime_part *p)
{
    FUZZ_CHECK(p->type != NULL && p->subtype != NULL && p->cte != NULL);
    FUZZ_CHECK(p->type[0] != '\0' && p->subtype[0] != '\0' && p->cte[0] != '\0');
    for (const char *c = p->type; *c != '\0'; c++)
        FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'));
    FUZZ_CHECK(p->filename == NULL || utf8_valid(p->filename));
    for (size_t i = 0; i < p->nparams; i++)
        FUZZ_CHECK(utf8_valid(p->params[i].value));
    for (size_t i = 0; i < p->ndisp_params; i++)
        FUZZ_CHECK(utf8_valid(p->disp_params[i].value));
}

/* check_readings - every file name reading is text, and the name used is one of them. */
static void check_readings(const struct mime_part *p)
{
    const char *names[64];
    size_t n = mime_part_names(p, names, 64);
    bool found = p->filename == NULL;

    FUZZ_CHECK(n <= 64);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(names[i][0] != '\0' && utf8_valid(names[i]));
        found = found || strcmp(names[i], p->filename) == 0;
    }
    FUZZ_CHECK(found || n == 64);
}

/* check_named - the limits reached and the ambiguities found are named, within out's size. */
static void check_named(const struct mime_message *m)
{
    char out[48];

    FUZZ_CHECK((m->limits != 0) == ((m->flags & (MIME_F_LIMIT | MIME_F_HEADER_TOO_LONG)) != 0));
    mime_limit_text(m, out, sizeof(out));
    FUZZ_CHECK(strlen(out) < sizeof(out) && (out[0] != '\0') == (m->limits != 0));
    mime_ambiguity_text(m->flags, out, sizeof(out));
    FUZZ_CHECK(strlen(out) < sizeof(out) &&
               (out[0] != '\0') == ((m->flags & MIME_F_AMBIGUOUS) != 0));
}

/* check_message - the invariants of one result for an input of size bytes. */
static void check_message(const struct mime_message *m, size_t size, const struct mime_limits *lim)
{
    unsigned flags = 0, protected = 0;

    FUZZ_CHECK(m->size == size && m->nparts >= 1 && m->nparts <= lim->max_parts);
    FUZZ_CHECK(m->fields == m->parts[0].fields && m->nfields == m->parts[0].nfields);
    for (size_t i = 0; i < m->nparts; i++) {
        const struct mime_part *p = &m->parts[i];
        FUZZ_CHECK(p->header_start <= p->body_start && p->body_start <= p->body_end);
        FUZZ_CHECK(p->body_end <= size && p->depth <= lim->max_depth);
        if (p->kind == MIME_KIND_MULTIPART) {
            FUZZ_CHECK(p->body_start <= p->preamble_end && p->preamble_end <= p->epilogue_start);
            FUZZ_CHECK(p->epilogue_start <= p->body_end);
            FUZZ_CHECK(strcmp(p->type, "multipart") == 0);
        }
        if (i == 0) {
            FUZZ_CHECK(p->parent == -1 && p->depth == 0 && p->is_message);
            FUZZ_CHECK(p->header_start == 0 && p->body_end == size);
        } else {
            const struct mime_part *up = &m->parts[p->parent];
            FUZZ_CHECK(p->parent >= 0 && (size_t)p->parent < i);
            FUZZ_CHECK(up->kind != MIME_KIND_LEAF && p->depth == up->depth + 1);
            FUZZ_CHECK(p->header_start >= up->body_start && p->body_end <= up->body_end);
            FUZZ_CHECK(p->header_start >= m->parts[i - 1].header_start);
            FUZZ_CHECK(p->is_message == (up->kind == MIME_KIND_MESSAGE));
        }
        check_fields(p, lim);
        check_strings(p);
        check_readings(p);
        flags |= p->flags;
        protected |= p->protected;
    }
    FUZZ_CHECK(flags == m->flags && protected == m->protected);
    check_named(m);
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].nfields > 0)
            FUZZ_CHECK(mime_header_get(m, (int)i, m->parts[i].fields[0].name) ==
                       m->parts[i].fields[0].value);
    for (size_t i = 0; i < m->ndkim_signed; i++) {
        const char *n = m->dkim_signed[i];
        FUZZ_CHECK(mime_dkim_signs(m, n));
        FUZZ_CHECK(n[0] != '\0' && strpbrk(n, ":; \t\r\n") == NULL);
        for (; *n != '\0'; n++)
            FUZZ_CHECK(!(*n >= 'A' && *n <= 'Z'));
    }
}

/* parse - mode 0: one piece; 1: byte by byte; 2: random pieces from seed. */
static struct mime_message *parse(const char *in, size_t len, const struct mime_limits *lim,
                                  int mode, uint32_t seed)
{
    struct mime_parser *p = mime_parser_new(lim);
    size_t pos = 0;

    while (pos < len) {
        size_t n = len - pos;
        if (mode == 1)
            n = 1;
        else if (mode == 2)
            n = 1 + next_rand(&seed) % (n < 200 ? n : 200);
        mime_parser_feed(p, in + pos, n);
        pos += n;
    }
    if (mode == 0 && len == 0)
        mime_parser_feed(p, in, 0);
    struct mime_message *m = mime_parser_finish(&p);
    FUZZ_CHECK(p == NULL && m != NULL);
    return m;
}

static int count_writer(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

/* decode_leaves - every non-multipart body decodes, within the size its encoding allows. */
static void decode_leaves(const struct mime_message *m, const char *in, size_t len)
{
    struct mime_buffer buf = {in, len};

    for (size_t i = 0; i < m->nparts; i++) {
        const struct mime_part *p = &m->parts[i];
        size_t out = 0, body = (size_t)(p->body_end - p->body_start);
        const char *error = NULL;
        if (p->kind == MIME_KIND_MULTIPART) {
            FUZZ_CHECK(mime_part_decode(m, i, mime_buffer_read, &buf, count_writer, &out, &error) ==
                           -1 &&
                       error != NULL);
            continue;
        }
        FUZZ_CHECK(mime_part_decode(m, i, mime_buffer_read, &buf, count_writer, &out, &error) == 0);
        FUZZ_CHECK(out <= 2 * body + 4);
        if (mime_encoding_of(p->cte) == MIME_ENC_IDENTITY)
            FUZZ_CHECK(out == body);
        /* the same into memory, bounded: the start of it, cut where the bound says */
        size_t n, max = i % 2 == 0 ? 16 : 4096;
        bool cut;
        char *mem = mime_part_body(m, i, in, len, max, &n, &cut);
        FUZZ_CHECK(mem != NULL && mem[n] == '\0');
        FUZZ_CHECK(n == (out < max ? out : max) && cut == (out > max));
        free(mem);
    }
}

/* decoder_run - in[0..len) through a decoder in pieces (whole when seed is 0). */
static char *decoder_run(enum mime_encoding enc, const char *in, size_t len, uint32_t seed,
                         size_t *outlen)
{
    struct mime_decoder d;
    char *out = malloc(MIME_DECODER_OUT(len));
    size_t pos = 0, o = 0;

    FUZZ_CHECK(out != NULL);
    mime_decoder_init(&d, enc);
    while (pos < len) {
        size_t n = seed == 0 ? len - pos : 1 + next_rand(&seed) % (len - pos < 64 ? len - pos : 64);
        size_t w = mime_decoder_feed(&d, in + pos, n, out + o);
        FUZZ_CHECK(w <= MIME_DECODER_OUT(n));
        o += w;
        pos += n;
    }
    o += mime_decoder_finish(&d, out + o);
    FUZZ_CHECK(o <= MIME_DECODER_OUT(len));
    *outlen = o;
    return out;
}

static void fuzz_decoders(const char *in, size_t len, uint32_t seed)
{
    static const enum mime_encoding encs[] = {MIME_ENC_BASE64, MIME_ENC_QP};

    for (size_t e = 0; e < 2; e++) {
        size_t n1, n2;
        char *a = decoder_run(encs[e], in, len, 0, &n1);
        char *b = decoder_run(encs[e], in, len, seed, &n2);
        FUZZ_CHECK(n1 == n2 && memcmp(a, b, n1) == 0);
        if (encs[e] == MIME_ENC_BASE64)
            FUZZ_CHECK(n1 <= len * 3 / 4 + 3);
        free(a);
        free(b);
    }
}

static void fuzz_2047(const char *in, size_t len)
{
    char *s = malloc(len + 1), out[512], small[7];
    size_t n;

    FUZZ_CHECK(s != NULL);
    memcpy(s, in, len);
    s[len] = '\0'; /* the text up to the first NUL, as a header value would be */
    n = mime_decode_2047(s, out, sizeof(out));
    FUZZ_CHECK(n < sizeof(out) && strlen(out) == n && utf8_valid(out));
    n = mime_decode_2047(s, small, sizeof(small));
    FUZZ_CHECK(n < sizeof(small) && strlen(small) == n && utf8_valid(small));
    /* the short result is the start of the long one */
    FUZZ_CHECK(strncmp(out, small, n) == 0);
    free(s);
}

/* fuzz_readers - a field of the input read for display, and the input as text. */
static void fuzz_readers(const char *in, size_t len)
{
    char out[200];
    size_t n;
    bool cut;
    char *t;

    if (mime_header_find(in, len, "subject", true, out, sizeof(out))) {
        FUZZ_CHECK(strlen(out) < sizeof(out) && utf8_valid(out));
        for (const char *c = out; *c != '\0'; c++)
            FUZZ_CHECK((unsigned char)*c >= 32 && *c != 127);
    }
    t = mime_text_utf8(len % 2 == 0 ? "utf-8" : NULL, in, len, 100, &n, &cut);
    FUZZ_CHECK(n <= 100 && strlen(t) == n && utf8_valid(t));
    free(t);
}

static void fuzz_parse(const char *in, size_t len, const struct mime_limits *lim, uint32_t seed)
{
    struct mime_message *whole = parse(in, len, lim, 0, 0), *other;

    check_message(whole, len, lim);
    other = parse(in, len, lim, 2, seed);
    same_message(whole, other);
    mime_message_free(&other);
    FUZZ_CHECK(other == NULL);
    if (len <= 2048) {
        other = parse(in, len, lim, 1, 0);
        same_message(whole, other);
        mime_message_free(&other);
    }
    decode_leaves(whole, in, len);
    mime_message_free(&whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    uint32_t seed = hash(data, size);
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mime_limits tiny = {.max_depth = 3,
                               .max_parts = 8,
                               .max_header_block = 200,
                               .max_header_line = 64,
                               .max_fields = 4,
                               .max_header_total = 600};

    fuzz_parse(in, size, &lim, seed);
    fuzz_parse(in, size, &tiny, seed * 7u + 1u);
    fuzz_decoders(in, size, seed);
    fuzz_2047(in, size < 4096 ? size : 4096);
    fuzz_readers(in, size);
    return 0;
}
