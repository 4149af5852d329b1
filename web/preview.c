/*
 * preview.c - a bounded, socket-free look into a held message for the
 * portal: header fields, the text to preview, and the attachment list.
 *
 * The structure, parameters, file names, transfer decoding and charsets come
 * from the MIME parser (mime.h), read as the rules engine reads them. What is
 * the portal's own is here: which part to show (text/plain preferred, HTML
 * reduced to its text when there is nothing else), which parts to list as
 * attachments, and the bounds. It never produces markup: the page escapes
 * everything it gets from here.
 */
#include "opes/web_preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/log.h"
#include "opes/mime.h"

#define PV_MAX_DEPTH 8
#define PV_MAX_PARTS 500
#define PV_MAX_VALUE 2000 /* bytes of a header field value shown */

static char *pv_strdup(const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        fatal("strdup");
    return d;
}

/* pv_headers - the message's own header fields, for display. */
static void pv_headers(const struct mime_message *m, struct web_preview *p)
{
    char value[PV_MAX_VALUE + 1];

    for (size_t i = 0; i < m->nfields && p->nhdr < WEB_PREVIEW_MAX_HEADERS; i++) {
        struct web_preview_field *f = &p->hdr[p->nhdr++];
        mime_field_text(m->fields[i].value, true, value, sizeof(value));
        f->name = pv_strdup(m->fields[i].name);
        f->value = pv_strdup(value);
    }
}

/* pv_in_message - whether part i lies inside an attached message (which is listed, not shown). */
static bool pv_in_message(const struct mime_message *m, size_t i)
{
    for (int k = m->parts[i].parent; k >= 0; k = m->parts[k].parent)
        if (m->parts[k].kind == MIME_KIND_MESSAGE)
            return true;
    return false;
}

static void pv_attach(struct web_preview *p, const struct mime_part *part)
{
    struct web_preview_attach *a;
    char type[256];

    if (p->natt == WEB_PREVIEW_MAX_ATTACH)
        return;
    snprintf(type, sizeof(type), "%s/%s", part->type, part->subtype);
    a = &p->att[p->natt++];
    a->name = pv_strdup(part->filename != NULL ? part->filename : "(no name)");
    a->type = pv_strdup(type);
    a->size = (size_t)(part->body_end - part->body_start);
}

/* pv_set_text - the preview text: raw[0..n) in the part's charset as UTF-8, bounded. */
static void pv_set_text(struct web_preview *p, const struct mime_part *part, const char *raw,
                        size_t n)
{
    bool cut;
    size_t len;

    free(p->text);
    p->text =
        mime_text_utf8(mime_part_param(part, "charset"), raw, n, WEB_PREVIEW_MAX_TEXT, &len, &cut);
    if (cut)
        p->truncated = true;
}

/* pv_entity - decode a few common entities at s; the byte written or 0. */
static char pv_entity(const char *s, size_t *skip)
{
    static const struct {
        const char *name;
        char c;
    } e[] = {{"&lt;", '<'},   {"&gt;", '>'},   {"&amp;", '&'},
             {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '}};

    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
        size_t n = strlen(e[i].name);
        if (strncasecmp(s, e[i].name, n) == 0) {
            *skip = n;
            return e[i].c;
        }
    }
    return 0;
}

/* pv_strip - the text of an HTML document: tags, scripts and styles dropped. */
static char *pv_strip(const char *h, size_t len, size_t *out_len)
{
    char *d = malloc(len + 1);
    size_t o = 0;

    if (d == NULL)
        fatal("malloc");
    for (size_t i = 0; i < len; i++) {
        size_t skip;
        char c;
        if (h[i] == '<') {
            const char *end = NULL;
            if (strncasecmp(h + i, "<script", 7) == 0 || strncasecmp(h + i, "<style", 6) == 0) {
                const char *close = strncasecmp(h + i, "<script", 7) == 0 ? "</script" : "</style";
                for (size_t j = i; j + strlen(close) <= len; j++)
                    if (strncasecmp(h + j, close, strlen(close)) == 0) {
                        end = memchr(h + j, '>', len - j);
                        break;
                    }
            } else {
                end = memchr(h + i, '>', len - i);
            }
            if (end == NULL)
                break;
            i = (size_t)(end - h);
            if (o > 0 && d[o - 1] != '\n' && d[o - 1] != ' ')
                d[o++] = ' ';
            continue;
        }
        if (h[i] == '&' && (c = pv_entity(h + i, &skip)) != 0) {
            d[o++] = c;
            i += skip - 1;
            continue;
        }
        d[o++] = h[i];
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

/* pv_show - the preview text from part: transfer-decoded, HTML reduced to its text. */
static void pv_show(struct web_preview *p, const struct mime_message *m,
                    const struct mime_part *part, const char *msg, size_t len, bool html)
{
    size_t n;
    bool cut;
    char *body = mime_part_body(m, (size_t)(part - m->parts), msg, len,
                                html ? WEB_PREVIEW_MAX_INPUT : WEB_PREVIEW_MAX_TEXT, &n, &cut);

    if (body == NULL)
        return;
    if (html) {
        char *t = pv_strip(body, n, &n);
        free(body);
        body = t;
        p->from_html = true;
    }
    pv_set_text(p, part, body, n);
    p->truncated |= cut;
    free(body);
}

void web_preview_parse(const char *msg, size_t len, struct web_preview *p)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mime_message *m;
    const struct mime_part *plain = NULL, *html = NULL;

    memset(p, 0, sizeof(*p));
    if (len > WEB_PREVIEW_MAX_INPUT) {
        len = WEB_PREVIEW_MAX_INPUT;
        p->truncated = true;
    }
    lim.max_depth = PV_MAX_DEPTH;
    lim.max_parts = PV_MAX_PARTS;
    m = mime_parse(msg, len, &lim);
    pv_headers(m, p);
    for (size_t i = 0; i < m->nparts; i++) {
        const struct mime_part *part = &m->parts[i];
        bool multipart = strcmp(part->type, "multipart") == 0;
        if (part->kind == MIME_KIND_MULTIPART || pv_in_message(m, i) ||
            (multipart && (part->flags & MIME_F_LIMIT)))
            continue; /* shown through its parts, or nested too deep */
        if (part->attachment || part->filename != NULL || strcmp(part->type, "text") != 0)
            pv_attach(p, part);
        else if (strcmp(part->subtype, "html") == 0)
            html = html != NULL ? html : part;
        else
            plain = plain != NULL ? plain : part;
    }
    if (plain != NULL)
        pv_show(p, m, plain, msg, len, false);
    else if (html != NULL)
        pv_show(p, m, html, msg, len, true);
    mime_message_free(&m);
    if (p->text == NULL)
        p->text = pv_strdup("");
}

void web_preview_free(struct web_preview *p)
{
    for (size_t i = 0; i < p->nhdr; i++) {
        free(p->hdr[i].name);
        free(p->hdr[i].value);
    }
    for (size_t i = 0; i < p->natt; i++) {
        free(p->att[i].name);
        free(p->att[i].type);
    }
    free(p->text);
    memset(p, 0, sizeof(*p));
}
