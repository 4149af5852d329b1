/*
 * mime_testutil.c - see mime_testutil.h.
 */
#include "mime_testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mt_put(struct mt_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL)
            abort();
    }
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mt_free(struct mt_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

char *mt_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct mt_buf b = {0};
    char chunk[65536];
    size_t n;

    if (fp == NULL)
        return NULL;
    mt_put(&b, "", 0);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        mt_put(&b, chunk, n);
    fclose(fp);
    *len = b.len;
    return b.data;
}

static uint32_t mt_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

struct mime_message *mt_parse_split(const char *data, size_t len, const struct mime_limits *lim,
                                    size_t chunk, uint32_t seed)
{
    struct mime_parser *p = mime_parser_new(lim);
    size_t pos = 0;

    while (pos < len) {
        size_t n = chunk != 0 ? chunk : 1 + mt_rand(&seed) % 97;
        if (n > len - pos)
            n = len - pos;
        mime_parser_feed(p, data + pos, n);
        pos += n;
    }
    return mime_parser_finish(&p);
}

static bool str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool params_same(const struct mime_param *a, size_t na, const struct mime_param *b,
                        size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i].name, b[i].name) || !str_same(a[i].value, b[i].value))
            return false;
    return true;
}

static bool fields_same(const struct mime_field *a, size_t na, const struct mime_field *b,
                        size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i].name, b[i].name) || !str_same(a[i].value, b[i].value) ||
            a[i].offset != b[i].offset || a[i].raw_len != b[i].raw_len ||
            a[i].trace != b[i].trace || a[i].truncated != b[i].truncated)
            return false;
    return true;
}

static const char *part_diff(const struct mime_part *a, const struct mime_part *b, size_t i)
{
    static char why[128];

#define MT_DIFFERS(what)                                                                           \
    do {                                                                                           \
        snprintf(why, sizeof(why), "part %zu: %s differs", i, what);                               \
        return why;                                                                                \
    } while (0)
    if (a->parent != b->parent || a->depth != b->depth || a->kind != b->kind)
        MT_DIFFERS("place in the tree");
    if (a->is_message != b->is_message || a->attachment != b->attachment)
        MT_DIFFERS("is_message/attachment");
    if (!str_same(a->type, b->type) || !str_same(a->subtype, b->subtype))
        MT_DIFFERS("type");
    if (!str_same(a->cte, b->cte) || !str_same(a->disposition, b->disposition) ||
        !str_same(a->filename, b->filename))
        MT_DIFFERS("encoding/disposition/filename");
    if (!params_same(a->params, a->nparams, b->params, b->nparams) ||
        !params_same(a->disp_params, a->ndisp_params, b->disp_params, b->ndisp_params))
        MT_DIFFERS("parameters");
    if (!fields_same(a->fields, a->nfields, b->fields, b->nfields))
        MT_DIFFERS("header fields");
    if (a->header_start != b->header_start || a->body_start != b->body_start ||
        a->body_end != b->body_end || a->preamble_end != b->preamble_end ||
        a->epilogue_start != b->epilogue_start)
        MT_DIFFERS("offsets");
    if (a->flags != b->flags || a->protected != b->protected)
        MT_DIFFERS("flags");
#undef MT_DIFFERS
    return NULL;
}

const char *mt_diff(const struct mime_message *a, const struct mime_message *b)
{
    if (a->nparts != b->nparts)
        return "number of parts differs";
    if (a->flags != b->flags || a->protected != b->protected || a->size != b->size)
        return "message flags or size differ";
    if (a->nfields != b->nfields || a->dkim_signatures != b->dkim_signatures ||
        a->ndkim_signed != b->ndkim_signed)
        return "top-level fields or DKIM differ";
    for (size_t i = 0; i < a->ndkim_signed; i++)
        if (strcmp(a->dkim_signed[i], b->dkim_signed[i]) != 0)
            return "DKIM names differ";
    for (size_t i = 0; i < a->nparts; i++) {
        const char *why = part_diff(&a->parts[i], &b->parts[i], i);
        if (why != NULL)
            return why;
    }
    return NULL;
}

static void sb_str(struct mt_buf *b, const char *s)
{
    mt_put(b, s, strlen(s));
}

/* sb_escaped - raw bytes as mime4j writes them: only &, < and > escaped. */
static void sb_escaped(struct mt_buf *b, const char *s, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        if (s[i] == '&')
            sb_str(b, "&amp;");
        else if (s[i] == '<')
            sb_str(b, "&lt;");
        else if (s[i] == '>')
            sb_str(b, "&gt;");
        else
            mt_put(b, s + i, 1);
    }
}

static bool starts_with_boundary(const char *msg, size_t len, uint64_t at, const char *b)
{
    size_t bl = strlen(b);

    return at + 2 + bl <= len && msg[at] == '-' && msg[at + 1] == '-' &&
           memcmp(msg + at + 2, b, bl) == 0;
}

static void render_part(const struct mime_message *m, size_t i, const char *msg, size_t len,
                        struct mt_buf *b);

/*
 * lf_quirk - mime4j looks at two bytes after a close delimiter to skip its
 * line end; when the input ends in a lone LF there, it reports that LF as
 * the epilogue. Our epilogue is empty (the LF ends the delimiter line); the
 * rendering imitates mime4j so that the rest of those messages is compared.
 */
static bool lf_quirk(const struct mime_part *p, const char *msg, size_t len)
{
    return p->epilogue_start == len && p->body_end == len && len >= 2 && msg[len - 1] == '\n' &&
           msg[len - 2] != '\r' && (p->flags & MIME_F_TRUNCATED) == 0;
}

static void render_children(const struct mime_message *m, size_t i, const char *msg, size_t len,
                            struct mt_buf *b)
{
    for (size_t k = i + 1; k < m->nparts; k++)
        if (m->parts[k].parent == (int)i)
            render_part(m, k, msg, len, b);
}

static void render_multipart(const struct mime_message *m, size_t i, const char *msg, size_t len,
                             struct mt_buf *b)
{
    const struct mime_part *p = &m->parts[i];
    const char *boundary = mime_part_param(p, "boundary");

    sb_str(b, "<multipart>\r\n");
    if (!starts_with_boundary(msg, len, p->body_start, boundary)) {
        sb_str(b, "<preamble>\r\n");
        sb_escaped(b, msg, p->body_start, p->preamble_end);
        sb_str(b, "</preamble>\r\n");
    }
    render_children(m, i, msg, len, b);
    if (lf_quirk(p, msg, len)) {
        sb_str(b, "<epilogue>\r\n\n</epilogue>\r\n");
    } else if (p->epilogue_start < p->body_end) {
        sb_str(b, "<epilogue>\r\n");
        sb_escaped(b, msg, p->epilogue_start, p->body_end);
        sb_str(b, "</epilogue>\r\n");
    }
    sb_str(b, "</multipart>\r\n");
}

/* render_part - one entity in mime4j's event format. */
static void render_part(const struct mime_message *m, size_t i, const char *msg, size_t len,
                        struct mt_buf *b)
{
    const struct mime_part *p = &m->parts[i];
    const char *tag = p->is_message ? "message" : "body-part";

    sb_str(b, "<");
    sb_str(b, tag);
    sb_str(b, ">\r\n<header>\r\n");
    for (size_t f = 0; f < p->nfields; f++) {
        sb_str(b, "<field>\r\n");
        sb_escaped(b, msg, p->fields[f].offset, p->fields[f].offset + p->fields[f].raw_len);
        sb_str(b, "</field>\r\n");
    }
    sb_str(b, "</header>\r\n");
    if (p->kind == MIME_KIND_MULTIPART) {
        render_multipart(m, i, msg, len, b);
    } else if (p->kind == MIME_KIND_MESSAGE) {
        render_children(m, i, msg, len, b);
    } else {
        sb_str(b, "<body>\r\n");
        sb_escaped(b, msg, p->body_start, p->body_end);
        sb_str(b, "</body>\r\n");
    }
    sb_str(b, "</");
    sb_str(b, tag);
    sb_str(b, ">\r\n");
}

void mt_render(const struct mime_message *m, const char *msg, size_t len, struct mt_buf *out)
{
    render_part(m, 0, msg, len, out);
}
