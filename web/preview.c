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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/log.h"
#include "opes/vec.h"
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

/* A growing UTF-8 text: the HTML reduced to what a reader sees. */
struct pv_out {
    char *d;
    size_t n, cap;
};

static void pv_put(struct pv_out *o, const char *s, size_t n)
{
    o->d = vec_reserve(o->d, &o->cap, o->n + n + 1, 1);
    memcpy(o->d + o->n, s, n);
    o->n += n;
    o->d[o->n] = '\0';
}

/* pv_space - one space between words: none at a line start or after another. */
static void pv_space(struct pv_out *o)
{
    if (o->n > 0 && o->d[o->n - 1] != ' ' && o->d[o->n - 1] != '\n')
        pv_put(o, " ", 1);
}

/* pv_break - a line break at a block's end, at most one empty line in a row. */
static void pv_break(struct pv_out *o)
{
    while (o->n > 0 && o->d[o->n - 1] == ' ')
        o->n--;
    if (o->n > 1 && o->d[o->n - 1] == '\n' && o->d[o->n - 2] == '\n')
        return;
    if (o->n > 0)
        pv_put(o, "\n", 1);
}

/* pv_utf8 - code point cp as UTF-8 into buf (4 bytes); its length, 0 for none. */
static size_t pv_utf8(unsigned long cp, char *buf)
{
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        cp = 0xfffd;
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xc0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    buf[0] = (char)(0xf0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * pv_entity - the character of the entity at s[0..len) ("&raquo;", "&#187;",
 * "&#xbb;") as UTF-8 into buf; its length (0: soft hyphen and the like, shown
 * as nothing) with *skip the entity's, or -1 when s is no entity we know.
 */
static int pv_entity(const char *s, size_t len, char buf[4], size_t *skip)
{
    static const struct {
        const char *name;
        unsigned cp;
    } e[] = {{"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
             {"apos", '\''},    {"nbsp", ' '},     {"raquo", 0xbb},   {"laquo", 0xab},
             {"copy", 0xa9},    {"reg", 0xae},     {"trade", 0x2122}, {"hellip", 0x2026},
             {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},
             {"ldquo", 0x201c}, {"rdquo", 0x201d}, {"bdquo", 0x201e}, {"bull", 0x2022},
             {"middot", 0xb7},  {"euro", 0x20ac},  {"pound", 0xa3},   {"yen", 0xa5},
             {"cent", 0xa2},    {"sect", 0xa7},    {"deg", 0xb0},     {"times", 0xd7},
             {"auml", 0xe4},    {"ouml", 0xf6},    {"uuml", 0xfc},    {"Auml", 0xc4},
             {"Ouml", 0xd6},    {"Uuml", 0xdc},    {"szlig", 0xdf},   {"eacute", 0xe9},
             {"egrave", 0xe8},  {"agrave", 0xe0},  {"aacute", 0xe1},  {"ccedil", 0xe7},
             {"ntilde", 0xf1},  {"shy", 0},        {"zwnj", 0},       {"zwj", 0}};
    const char *semi = memchr(s, ';', len < 12 ? len : 12);
    unsigned long cp;
    char *end;

    if (semi == NULL || semi == s + 1)
        return -1;
    *skip = (size_t)(semi - s) + 1;
    if (s[1] == '#') {
        bool hex = s[2] == 'x' || s[2] == 'X';
        if (!isxdigit((unsigned char)s[hex ? 3 : 2]))
            return -1;
        cp = strtoul(s + (hex ? 3 : 2), &end, hex ? 16 : 10);
        if (end != semi)
            return -1;
        if (cp == 0xad || cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0x34f)
            return 0;
        return (int)pv_utf8(cp == 0xa0 ? ' ' : cp, buf);
    }
    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
        if (strlen(e[i].name) == (size_t)(semi - s - 1) &&
            strncmp(s + 1, e[i].name, (size_t)(semi - s - 1)) == 0)
            return e[i].cp == 0 ? 0 : (int)pv_utf8(e[i].cp, buf);
    return -1;
}

/* pv_tag_is - whether the tag at t (after '<' and an optional '/') is name. */
static bool pv_tag_is(const char *t, const char *name)
{
    size_t n = strlen(name);

    return strncasecmp(t, name, n) == 0 && !isalnum((unsigned char)t[n]);
}

/* pv_href - the href value of the tag t[0..n), decoded of its entities, into buf. */
static void pv_href(const char *t, size_t n, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i + 5 < n; i++) {
        char q;
        if (strncasecmp(t + i, "href", 4) != 0 || isalnum((unsigned char)t[i - 1]))
            continue;
        i += 4;
        while (i < n && t[i] == ' ')
            i++;
        if (i >= n || t[i] != '=')
            continue;
        for (i++; i < n && t[i] == ' '; i++)
            ;
        q = i < n && (t[i] == '"' || t[i] == '\'') ? t[i++] : ' ';
        for (; i < n && t[i] != q && t[i] != '>' && o + 5 < size; i++) {
            char ch[4];
            size_t skip;
            int k = t[i] == '&' ? pv_entity(t + i, n - i, ch, &skip) : -1;
            if (k >= 0) {
                memcpy(buf + o, ch, (size_t)k);
                o += (size_t)k;
                i += skip - 1;
            } else if ((unsigned char)t[i] >= ' ') {
                buf[o++] = t[i];
            }
        }
        buf[o] = '\0';
        return;
    }
}

/*
 * pv_strip - the text of an HTML document (UTF-8): tags, scripts and styles
 * dropped, entities decoded, blocks on their own lines, and each link's
 * target written as text after its words: "Sign in [https://...]". Nothing
 * here is markup any more; the page escapes it.
 */
static char *pv_strip(const char *h, size_t len, size_t *out_len)
{
    static const char *const blocks[] = {"p",  "div", "br",         "tr", "li",   "h1",
                                         "h2", "h3",  "h4",         "h5", "h6",   "table",
                                         "ul", "ol",  "blockquote", "hr", "title"};
    struct pv_out o = {0};
    char href[600] = "";

    pv_put(&o, "", 0);
    for (size_t i = 0; i < len; i++) {
        if (h[i] == '<') {
            const char *t = h + i + 1, *end = NULL;
            bool close = *t == '/';
            if (pv_tag_is(t, "script") || pv_tag_is(t, "style") || pv_tag_is(t, "head")) {
                const char *cl = pv_tag_is(t, "script")  ? "</script"
                                 : pv_tag_is(t, "style") ? "</style"
                                                         : "</head";
                for (size_t j = i; j + strlen(cl) <= len; j++)
                    if (strncasecmp(h + j, cl, strlen(cl)) == 0) {
                        end = memchr(h + j, '>', len - j);
                        break;
                    }
            } else {
                end = memchr(h + i, '>', len - i);
            }
            if (end == NULL)
                break;
            t += close;
            if (pv_tag_is(t, "a") && !close) {
                pv_href(t, (size_t)(end - t), href, sizeof(href));
            } else if (pv_tag_is(t, "a") && href[0] != '\0') {
                if (strncasecmp(href, "#", 1) != 0 && strncasecmp(href, "javascript:", 11) != 0) {
                    pv_space(&o);
                    pv_put(&o, "[", 1);
                    pv_put(&o, href, strlen(href));
                    pv_put(&o, "]", 1);
                }
                href[0] = '\0';
            } else {
                bool block = false;
                for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++)
                    block = block || pv_tag_is(t, blocks[k]);
                if (block)
                    pv_break(&o);
                else if (pv_tag_is(t, "td") || pv_tag_is(t, "th"))
                    pv_space(&o);
            }
            i = (size_t)(end - h);
            continue;
        }
        if (h[i] == '&') {
            char ch[4];
            size_t skip;
            int k = pv_entity(h + i, len - i, ch, &skip);
            if (k >= 0) {
                if (k == 1 && ch[0] == ' ')
                    pv_space(&o);
                else
                    pv_put(&o, ch, (size_t)k);
                i += skip - 1;
                continue;
            }
        }
        if (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n')
            pv_space(&o);
        else
            pv_put(&o, h + i, 1);
    }
    while (o.n > 0 && (o.d[o.n - 1] == ' ' || o.d[o.n - 1] == '\n'))
        o.d[--o.n] = '\0';
    *out_len = o.n;
    return o.d;
}

/* pv_show - the preview text from part: transfer-decoded, HTML reduced to its text. */
static void pv_show(struct web_preview *p, const struct mime_message *m,
                    const struct mime_part *part, const char *msg, size_t len, bool html)
{
    size_t n, k;
    bool cut;
    char *body = mime_part_body(m, (size_t)(part - m->parts), msg, len,
                                html ? WEB_PREVIEW_MAX_INPUT : WEB_PREVIEW_MAX_TEXT, &n, &cut);

    if (body == NULL)
        return;
    if (!html) {
        pv_set_text(p, part, body, n);
        p->truncated |= cut;
        free(body);
        return;
    }
    /* HTML: to UTF-8 first, so that entities become UTF-8 in UTF-8 text */
    p->truncated |= cut;
    {
        char *u = mime_text_utf8(mime_part_param(part, "charset"), body, n, WEB_PREVIEW_MAX_INPUT,
                                 &n, &cut);
        free(body);
        body = pv_strip(u, n, &n);
        free(u);
    }
    k = n > WEB_PREVIEW_MAX_TEXT ? WEB_PREVIEW_MAX_TEXT : n;
    while (k < n && k > 0 && ((unsigned char)body[k] & 0xc0) == 0x80)
        k--;
    body[k] = '\0';
    p->truncated |= k < n;
    p->from_html = true;
    free(p->text);
    p->text = body;
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
