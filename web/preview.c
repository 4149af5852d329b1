/*
 * preview.c - a bounded, socket-free look into a held message for the
 * portal: header fields, the text to preview, and the attachment list.
 *
 * It walks multipart bodies by their boundaries (nesting capped), decodes
 * base64 and quoted-printable, prefers text/plain, and reduces HTML to its
 * text when there is nothing else. It never produces markup: the page
 * escapes everything it gets from here.
 */
#include "opes/web_preview.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/log.h"

#define PV_MAX_DEPTH 8
#define PV_MAX_VALUE 2000

struct pv_part {
    char type[128];     /* lower-cased type/subtype */
    char encoding[32];  /* lower-cased */
    char boundary[200]; /* or "" */
    char filename[256]; /* or "" */
    bool attachment;
};

struct pv_walk {
    struct web_preview *p;
    char *html; /* the first text/html, decoded */
    size_t html_len;
    bool have_plain;
    size_t parts;
};

static char *pv_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        fatal("malloc");
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* pv_line - length of the line at s (without its end) and *next after it. */
static size_t pv_line(const char *s, size_t len, size_t *next)
{
    const char *nl = memchr(s, '\n', len);
    size_t n = nl != NULL ? (size_t)(nl - s) : len;

    *next = nl != NULL ? n + 1 : len;
    return n > 0 && s[n - 1] == '\r' ? n - 1 : n;
}

/* pv_param - the value of parameter name in a header value (quotes removed). */
static void pv_param(const char *v, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);

    out[0] = '\0';
    for (const char *p = strchr(v, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        size_t o = 0;
        while (*q == ' ' || *q == '\t')
            q++;
        if (strncasecmp(q, name, nl) != 0 || (q[nl] != '=' && q[nl] != '*'))
            continue;
        q = strchr(q, '=');
        if (q == NULL)
            return;
        q++;
        if (*q == '"') {
            for (q++; *q != '\0' && *q != '"' && o + 1 < size; q++)
                out[o++] = *q == '\\' && q[1] != '\0' ? *++q : *q;
        } else {
            for (; *q != '\0' && *q != ';' && *q != ' ' && o + 1 < size; q++)
                out[o++] = *q;
        }
        out[o] = '\0';
        return;
    }
}

static void pv_lower_token(char *dst, size_t size, const char *v)
{
    size_t o = 0;

    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v != '\0' && *v != ';' && *v != ' ' && o + 1 < size; v++)
        dst[o++] = (char)tolower((unsigned char)*v);
    dst[o] = '\0';
}

/* pv_field - one unfolded field of a part's header. */
static void pv_field(struct pv_walk *w, struct pv_part *part, bool top, const char *name,
                     const char *value)
{
    if (strcasecmp(name, "Content-Type") == 0) {
        pv_lower_token(part->type, sizeof(part->type), value);
        pv_param(value, "boundary", part->boundary, sizeof(part->boundary));
        if (part->filename[0] == '\0')
            pv_param(value, "name", part->filename, sizeof(part->filename));
    } else if (strcasecmp(name, "Content-Transfer-Encoding") == 0) {
        pv_lower_token(part->encoding, sizeof(part->encoding), value);
    } else if (strcasecmp(name, "Content-Disposition") == 0) {
        char disp[32];
        pv_lower_token(disp, sizeof(disp), value);
        part->attachment = strcmp(disp, "attachment") == 0;
        pv_param(value, "filename", part->filename, sizeof(part->filename));
    }
    if (top && w->p->nhdr < WEB_PREVIEW_MAX_HEADERS) {
        struct web_preview_field *f = &w->p->hdr[w->p->nhdr++];
        f->name = pv_strndup(name, strlen(name));
        f->value = pv_strndup(value, strlen(value));
    }
}

/* pv_header - parse the header block at s; returns the body offset. */
static size_t pv_header(struct pv_walk *w, const char *s, size_t len, struct pv_part *part,
                        bool top)
{
    char name[80], value[PV_MAX_VALUE + 1];
    size_t off = 0, vlen = 0;
    bool have = false;

    while (off < len) {
        size_t next, n = pv_line(s + off, len - off, &next);
        const char *line = s + off;
        off += next;
        if (n > 0 && (line[0] == ' ' || line[0] == '\t') && have) {
            size_t room = PV_MAX_VALUE - vlen, k = n < room ? n : room;
            memcpy(value + vlen, line, k); /* unfold: keep the white space, drop the line end */
            vlen += k;
            continue;
        }
        if (have) {
            value[vlen] = '\0';
            pv_field(w, part, top, name, value);
            have = false;
        }
        if (n == 0)
            break;
        const char *colon = memchr(line, ':', n);
        if (colon == NULL || colon == line || (size_t)(colon - line) >= sizeof(name))
            continue; /* not a field: skipped */
        memcpy(name, line, (size_t)(colon - line));
        name[colon - line] = '\0';
        const char *v = colon + 1;
        size_t vl = n - (size_t)(v - line);
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        vlen = vl < PV_MAX_VALUE ? vl : PV_MAX_VALUE;
        memcpy(value, v, vlen);
        have = true;
    }
    if (have) {
        value[vlen] = '\0';
        pv_field(w, part, top, name, value);
    }
    return off;
}

static int pv_b64(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int pv_hex(int c)
{
    return isxdigit(c) ? (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10) : -1;
}

/* pv_decode - the body s[0..len) decoded per encoding into a new string; *out_len set. */
static char *pv_decode(const char *s, size_t len, const char *encoding, size_t *out_len)
{
    char *d = malloc(len + 1);
    size_t o = 0;

    if (d == NULL)
        fatal("malloc");
    if (strcmp(encoding, "base64") == 0) {
        unsigned acc = 0, bits = 0;
        for (size_t i = 0; i < len; i++) {
            int v = pv_b64((unsigned char)s[i]);
            if (v < 0)
                continue;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                d[o++] = (char)((acc >> bits) & 0xff);
            }
        }
    } else if (strcmp(encoding, "quoted-printable") == 0) {
        for (size_t i = 0; i < len; i++) {
            if (s[i] != '=') {
                d[o++] = s[i];
            } else if (i + 1 < len && (s[i + 1] == '\n' || s[i + 1] == '\r')) {
                i += s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n' ? 2 : 1;
            } else if (i + 2 < len && pv_hex((unsigned char)s[i + 1]) >= 0 &&
                       pv_hex((unsigned char)s[i + 2]) >= 0) {
                d[o++] =
                    (char)(pv_hex((unsigned char)s[i + 1]) * 16 + pv_hex((unsigned char)s[i + 2]));
                i += 2;
            } else {
                d[o++] = '=';
            }
        }
    } else {
        memcpy(d, s, len);
        o = len;
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

/* pv_set_text - the preview text from t[0..n) (taken over), bounded. */
static void pv_set_text(struct web_preview *p, char *t, size_t n)
{
    if (n > WEB_PREVIEW_MAX_TEXT) {
        n = WEB_PREVIEW_MAX_TEXT;
        p->truncated = true;
    }
    t[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (t[i] == '\0')
            t[i] = ' ';
    free(p->text);
    p->text = t;
}

static void pv_attach(struct web_preview *p, const struct pv_part *part, size_t size)
{
    struct web_preview_attach *a;

    if (p->natt == WEB_PREVIEW_MAX_ATTACH)
        return;
    a = &p->att[p->natt++];
    a->name = pv_strndup(part->filename, strlen(part->filename));
    a->type = pv_strndup(part->type, strlen(part->type));
    a->size = size;
}

static void pv_walk(struct pv_walk *w, const char *s, size_t len, unsigned depth, bool top);

/* pv_multipart - each body part between the boundary lines. */
static void pv_multipart(struct pv_walk *w, const char *s, size_t len, const char *boundary,
                         unsigned depth)
{
    size_t bl = strlen(boundary), off = 0, start = 0;
    bool in = false;

    while (off < len) {
        size_t next, n = pv_line(s + off, len - off, &next);
        const char *line = s + off;
        bool delim =
            n >= bl + 2 && line[0] == '-' && line[1] == '-' && memcmp(line + 2, boundary, bl) == 0;
        if (delim) {
            bool close = n >= bl + 4 && line[bl + 2] == '-' && line[bl + 3] == '-';
            if (in) {
                size_t end = off;
                if (end > start && s[end - 1] == '\n')
                    end--;
                if (end > start && s[end - 1] == '\r')
                    end--;
                pv_walk(w, s + start, end - start, depth + 1, false);
            }
            if (close)
                return;
            in = true;
            start = off + next;
        }
        off += next;
    }
    if (in)
        pv_walk(w, s + start, len - start, depth + 1, false); /* no close delimiter */
}

static void pv_walk(struct pv_walk *w, const char *s, size_t len, unsigned depth, bool top)
{
    struct pv_part part = {.type = "text/plain", .encoding = "7bit"};
    size_t body, n;
    char *d;

    if (++w->parts > 500 || depth > PV_MAX_DEPTH)
        return;
    body = pv_header(w, s, len, &part, top);
    s += body;
    len -= body;
    if (strncmp(part.type, "multipart/", 10) == 0 && part.boundary[0] != '\0') {
        pv_multipart(w, s, len, part.boundary, depth);
        return;
    }
    if (part.attachment || part.filename[0] != '\0' || strcmp(part.type, "message/rfc822") == 0 ||
        (strncmp(part.type, "text/", 5) != 0)) {
        if (part.filename[0] == '\0')
            strcpy(part.filename, "(no name)");
        pv_attach(w->p, &part, len);
        return;
    }
    if (strcmp(part.type, "text/html") == 0) {
        if (w->html == NULL)
            w->html = pv_decode(s, len, part.encoding, &w->html_len);
        return;
    }
    if (w->have_plain)
        return;
    d = pv_decode(s, len, part.encoding, &n);
    pv_set_text(w->p, d, n);
    w->have_plain = true;
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

void web_preview_parse(const char *msg, size_t len, struct web_preview *p)
{
    struct pv_walk w = {.p = p};

    memset(p, 0, sizeof(*p));
    if (len > WEB_PREVIEW_MAX_INPUT) {
        len = WEB_PREVIEW_MAX_INPUT;
        p->truncated = true;
    }
    pv_walk(&w, msg, len, 0, true);
    if (!w.have_plain && w.html != NULL) {
        size_t n;
        char *t = pv_strip(w.html, w.html_len, &n);
        pv_set_text(p, t, n);
        p->from_html = true;
    }
    free(w.html);
    if (p->text == NULL)
        p->text = pv_strndup("", 0);
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
