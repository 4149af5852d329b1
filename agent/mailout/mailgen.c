/*
 * mailgen.c - composing opesd's own mail: buffers, templates, header fields
 * and MIME bodies (see mailgen.h). Every value that comes from a message or
 * a user goes through mailgen_header (no CR/LF, RFC 2047) or through the
 * template filler (HTML-escaped in HTML parts, mailgen_text in plain text),
 * never straight into output.
 */
#include "opes/mailgen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/vec.h"

/* the built-in templates, generated from agent/mailout/templates/ */
struct mailgen_builtin {
    const char *name;
    const char *text;
};
extern const struct mailgen_builtin mailgen_builtins[];

void mailgen_add(struct mailgen_buf *b, const char *s, size_t n)
{
    b->data = vec_reserve(b->data, &b->cap, b->len + n + 1, 1);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mailgen_str(struct mailgen_buf *b, const char *s)
{
    mailgen_add(b, s, strlen(s));
}

void mailgen_printf(struct mailgen_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        fatal("vasprintf");
    mailgen_add(b, s, (size_t)n);
    free(s);
}

void mailgen_free(struct mailgen_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mailgen_html_escape(struct mailgen_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            mailgen_str(out, "&amp;");
            break;
        case '<':
            mailgen_str(out, "&lt;");
            break;
        case '>':
            mailgen_str(out, "&gt;");
            break;
        case '"':
            mailgen_str(out, "&quot;");
            break;
        case '\'':
            mailgen_str(out, "&#39;");
            break;
        default:
            mailgen_add(out, s, 1);
        }
    }
}

/* mg_break - the length of a control character or Unicode line break at s, or 0. */
static size_t mg_break(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    if (u[0] < 0x20 || u[0] == 0x7f)
        return 1;
    if (u[0] == 0xc2 && u[1] == 0x85) /* NEL */
        return 2;
    if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) /* LS, PS */
        return 3;
    return 0;
}

void mailgen_text(struct mailgen_buf *out, const char *s)
{
    mailgen_add(out, "", 0);
    while (*s != '\0') {
        size_t n = mg_break(s), plain = 0;
        if (n > 0) {
            mailgen_add(out, " ", 1);
            s += n;
            continue;
        }
        while (s[plain] != '\0' && mg_break(s + plain) == 0)
            plain++;
        mailgen_add(out, s, plain);
        s += plain;
    }
}

static char *mg_clean(const char *value);

/* mg_var - the value of the variable called name, or NULL. */
static const char *mg_var(const struct mailgen_var *vars, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(vars[i].name, name) == 0)
            return vars[i].value;
    return NULL;
}

void mailgen_catalog(struct mailgen_buf *out, const char *lang, const char *key,
                     const struct mailgen_var *vars, size_t n, bool html)
{
    const char *args[2 * MAILGEN_CATALOG_ARGS + 1];
    char *clean[MAILGEN_CATALOG_ARGS], one[160];
    const char *count = mg_var(vars, n, "count"), *text;
    size_t k = 0, len;
    char *filled;

    /* a KEY.one / KEY.other pair is chosen by the variable count */
    snprintf(one, sizeof(one), "%s.one", key);
    if (i18n_has(I18N_BASE, one))
        text = i18n_plural(lang, key, count != NULL ? strtoul(count, NULL, 10) : 0);
    else
        text = i18n_text(lang, key);
    for (size_t i = 0; i < n && k < MAILGEN_CATALOG_ARGS; i++) {
        if (vars[i].raw || vars[i].value == NULL)
            continue;
        clean[k] = mg_clean(vars[i].value);
        args[2 * k] = vars[i].name;
        args[2 * k + 1] = clean[k];
        k++;
    }
    args[2 * k] = NULL;
    len = i18n_fill(NULL, 0, text, args);
    filled = malloc(len + 1);
    if (filled == NULL)
        fatal("malloc");
    i18n_fill(filled, len + 1, text, args);
    if (html)
        mailgen_html_escape(out, filled);
    else
        mailgen_str(out, filled);
    free(filled);
    for (size_t i = 0; i < k; i++)
        free(clean[i]);
}

void mailgen_fill(struct mailgen_buf *out, const char *tmpl, const struct mailgen_var *vars,
                  size_t n, bool html)
{
    mailgen_fill_lang(out, tmpl, vars, n, html, I18N_BASE);
}

/*
 * mg_section - where to go on after the start of the section name[0..len),
 * whose body begins at body: the body itself when the variable has a value,
 * else past the section's end (the body when there is no end).
 */
static const char *mg_section(const char *body, const char *name, size_t len,
                              const struct mailgen_var *vars, size_t n)
{
    char key[160], end[170];
    const char *value, *e;

    memcpy(key, name, len);
    key[len] = '\0';
    value = mg_var(vars, n, key);
    if (value != NULL && value[0] != '\0')
        return body;
    snprintf(end, sizeof(end), "{{/%s}}", key);
    e = strstr(body, end);
    return e != NULL ? e + strlen(end) : body;
}

void mailgen_fill_lang(struct mailgen_buf *out, const char *tmpl, const struct mailgen_var *vars,
                       size_t n, bool html, const char *lang)
{
    const char *p = tmpl;

    mailgen_add(out, "", 0);
    for (;;) {
        const char *open = strstr(p, "{{"), *close;
        size_t len;

        if (open == NULL || (close = strstr(open + 2, "}}")) == NULL) {
            mailgen_str(out, p);
            return;
        }
        mailgen_add(out, p, (size_t)(open - p));
        len = (size_t)(close - open - 2);
        if (len > 1 && len < 160 && (open[2] == '#' || open[2] == '/')) {
            p = close + 2; /* an end, or the start of a section that is written */
            if (open[2] == '#')
                p = mg_section(p, open + 3, len - 1, vars, n);
            continue;
        }
        if (len > 2 && len < 160 && strncmp(open + 2, "t:", 2) == 0) {
            char key[160];
            memcpy(key, open + 4, len - 2);
            key[len - 2] = '\0';
            mailgen_catalog(out, lang, key, vars, n, html);
            p = close + 2;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (strlen(vars[i].name) != len || memcmp(vars[i].name, open + 2, len) != 0)
                continue;
            if (vars[i].value == NULL)
                break;
            if (html && !vars[i].raw)
                mailgen_html_escape(out, vars[i].value);
            else if (!vars[i].raw)
                mailgen_text(out, vars[i].value);
            else
                mailgen_str(out, vars[i].value);
            break;
        }
        p = close + 2;
    }
}

/* mg_clean - value as mailgen_text writes it, trimmed (malloc'ed). */
static char *mg_clean(const char *value)
{
    struct mailgen_buf b = {0};
    size_t start;

    mailgen_text(&b, value != NULL ? value : "");
    while (b.len > 0 && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    start = strspn(b.data, " ");
    memmove(b.data, b.data + start, b.len - start + 1);
    return b.data;
}

static bool mg_ascii(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* mg_encoded_words - s as UTF-8 B encoded-words, never splitting a character; col: current column.
 */
static void mg_encoded_words(struct mailgen_buf *out, const char *s, size_t col)
{
    size_t len = strlen(s), i = 0;
    bool first = true;

    while (i < len) {
        char b64[128];
        size_t n = len - i < 39 ? len - i : 39; /* 52 base64 characters */
        /* back off to the start of a UTF-8 character */
        while (i + n < len && n > 1 && ((unsigned char)s[i + n] & 0xC0) == 0x80)
            n--;
        sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s + i, n,
                          sodium_base64_VARIANT_ORIGINAL);
        if (!first || col + strlen(b64) + 12 > 78)
            mailgen_str(out, "\r\n ");
        mailgen_printf(out, "=?UTF-8?B?%s?=", b64);
        first = false;
        i += n;
    }
}

/* mg_folded - ASCII text folded at spaces so that lines stay under 78 where possible. */
static void mg_folded(struct mailgen_buf *out, const char *s, size_t col)
{
    while (*s != '\0') {
        size_t len = strlen(s), cut;
        if (col + len <= 78) {
            mailgen_str(out, s);
            return;
        }
        /* the last space that keeps this line within 78, else the first space at all */
        cut = 0;
        for (size_t i = 1; i < len && col + i <= 78; i++)
            if (s[i] == ' ')
                cut = i;
        if (cut == 0) {
            const char *sp = strchr(s + 1, ' ');
            if (sp == NULL) {
                mailgen_str(out, s);
                return;
            }
            cut = (size_t)(sp - s);
        }
        mailgen_add(out, s, cut);
        mailgen_str(out, "\r\n");
        s += cut; /* the space starts the continuation line */
        col = 0;
    }
}

void mailgen_header(struct mailgen_buf *out, const char *name, const char *value)
{
    char *v = mg_clean(value);
    size_t col = strlen(name) + 2;

    mailgen_printf(out, "%s: ", name);
    if (mg_ascii(v))
        mg_folded(out, v, col);
    else
        mg_encoded_words(out, v, col);
    mailgen_str(out, "\r\n");
    free(v);
}

void mailgen_clean_address(char *dst, size_t size, const char *addr)
{
    size_t k = 0;

    for (const char *p = addr != NULL ? addr : ""; *p != '\0' && k + 1 < size; p++)
        if ((unsigned char)*p > ' ' && *p != 0x7f && strchr("<>\"(),;\\", *p) == NULL)
            dst[k++] = *p;
    dst[k] = '\0';
}

void mailgen_header_address(struct mailgen_buf *out, const char *name, const char *display,
                            const char *addr)
{
    char a[300];
    char *d = mg_clean(display);

    mailgen_clean_address(a, sizeof(a), addr);
    mailgen_printf(out, "%s: ", name);
    if (*d != '\0' && mg_ascii(d)) {
        mailgen_str(out, "\"");
        for (const char *p = d; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                mailgen_str(out, "\\");
            mailgen_add(out, p, 1);
        }
        mailgen_str(out, "\" ");
    } else if (*d != '\0') {
        mg_encoded_words(out, d, strlen(name) + 2);
        mailgen_str(out, " ");
    }
    mailgen_printf(out, "<%s>\r\n", a);
    free(d);
}

void mailgen_parse_from(const char *from, const char *host, char *display, size_t dsize, char *addr,
                        size_t asize)
{
    const char *lt = from != NULL ? strrchr(from, '<') : NULL;
    char *d;

    if (from == NULL || *from == '\0') {
        snprintf(display, dsize, "Mail filter");
        snprintf(addr, asize, "postmaster@%s", host);
        return;
    }
    if (lt == NULL) {
        snprintf(display, dsize, "Mail filter");
        mailgen_clean_address(addr, asize, from);
        return;
    }
    mailgen_clean_address(addr, asize, lt + 1);
    d = strndup(from, (size_t)(lt - from));
    if (d == NULL)
        fatal("strndup");
    {
        char *c = mg_clean(d), *p = c;
        size_t n = strlen(c);
        if (n >= 2 && c[0] == '"' && c[n - 1] == '"') {
            c[n - 1] = '\0';
            p++;
        }
        snprintf(display, dsize, "%s", *p != '\0' ? p : "Mail filter");
        free(c);
    }
    free(d);
}

void mailgen_date(char *buf, size_t size, time_t t)
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

void mailgen_message_id(char *buf, size_t size, const char *host)
{
    unsigned char r[12];
    char hex[25];

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(buf, size, "<%lld.%s@%s>", (long long)time(NULL), hex, host);
}

void mailgen_boundary(char *buf, size_t size)
{
    unsigned char r[12];
    char hex[25];

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(buf, size, "=_opesd_%s", hex);
}

void mailgen_crlf(struct mailgen_buf *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        if (*p == '\n' || *p == '\r') /* a bare CR ends a line too */
            mailgen_str(out, "\r\n");
        else
            mailgen_add(out, p, 1);
    }
}

void mailgen_qp(struct mailgen_buf *out, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        char enc[4];
        size_t n;
        bool eol = *p == '\n' || (*p == '\r' && p[1] == '\n');

        if (eol) {
            if (*p == '\r')
                p++;
            mailgen_str(out, "\r\n");
            col = 0;
            continue;
        }
        /* a space or tab before a line end (or at the end) must be encoded */
        if ((c == ' ' || c == '\t') &&
            (p[1] == '\0' || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n'))) {
            enc[0] = '=', enc[1] = hex[c >> 4], enc[2] = hex[c & 15], n = 3;
        } else if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
            enc[0] = (char)c, n = 1;
        } else {
            enc[0] = '=', enc[1] = hex[c >> 4], enc[2] = hex[c & 15], n = 3;
        }
        if (col + n > 75) {
            mailgen_str(out, "=\r\n");
            col = 0;
        }
        mailgen_add(out, enc, n);
        col += n;
    }
    if (col > 0)
        mailgen_str(out, "\r\n");
}

/* mg_template_file - the file dir/name (malloc'ed), or NULL when there is none. */
static char *mg_template_file(const char *dir, const char *name)
{
    char path[4096];
    FILE *fp;

    if (dir == NULL || *dir == '\0')
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "rb");
    if (fp != NULL) {
        struct mailgen_buf b = {0};
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && b.len < 256 * 1024)
            mailgen_add(&b, chunk, n);
        if (ferror(fp)) {
            log_warnx("template=%s unreadable, using the built-in one", path);
            mailgen_free(&b);
        }
        fclose(fp);
        /* a NUL inside ends the template */
        return b.data;
    }
    if (errno != ENOENT)
        log_warn("template=%s", path);
    return NULL;
}

/* mg_template_builtin - the built-in template called name (malloc'ed), or NULL. */
static char *mg_template_builtin(const char *name)
{
    for (const struct mailgen_builtin *t = mailgen_builtins; t->name != NULL; t++) {
        if (strcmp(t->name, name) == 0) {
            char *s = strdup(t->text);
            if (s == NULL)
                fatal("strdup");
            return s;
        }
    }
    return NULL;
}

char *mailgen_template(const char *dir, const char *name)
{
    char *t = mg_template_file(dir, name);

    return t != NULL ? t : mg_template_builtin(name);
}

char *mailgen_template_lang(const char *dir, const char *lang, const char *name)
{
    char file[300];
    char *t = NULL;
    bool has_lang = lang != NULL && *lang != '\0' && strchr(lang, '/') == NULL;

    snprintf(file, sizeof(file), "%s/%s", has_lang ? lang : "", name);
    /* the operator's files first, in the language and then for all; then ours alike */
    if (has_lang)
        t = mg_template_file(dir, file);
    if (t == NULL)
        t = mg_template_file(dir, name);
    if (t == NULL && has_lang)
        t = mg_template_builtin(file);
    if (t == NULL)
        t = mg_template_builtin(name);
    return t;
}

void mailgen_compose(struct mailgen_buf *out, const struct mailgen_msg *m)
{
    char display[200], addr[300], date[64], msgid[400], boundary[64];

    mailgen_parse_from(m->from, m->host, display, sizeof(display), addr, sizeof(addr));
    mailgen_date(date, sizeof(date), time(NULL));
    mailgen_message_id(msgid, sizeof(msgid), m->host);
    mailgen_header_address(out, "From", display, addr);
    mailgen_header_address(out, "To", NULL, m->to);
    mailgen_header(out, "Subject", m->subject);
    mailgen_header(out, "Date", date);
    mailgen_header(out, "Message-ID", msgid);
    mailgen_header(out, "Auto-Submitted", m->auto_submitted);
    mailgen_str(out, "MIME-Version: 1.0\r\n");
    if (m->html == NULL) {
        mailgen_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        mailgen_qp(out, m->text);
        return;
    }
    mailgen_boundary(boundary, sizeof(boundary));
    mailgen_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    mailgen_printf(out,
                   "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   boundary);
    mailgen_qp(out, m->text);
    mailgen_printf(out,
                   "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   boundary);
    mailgen_qp(out, m->html);
    mailgen_printf(out, "--%s--\r\n", boundary);
}
