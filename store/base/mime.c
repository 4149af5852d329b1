/*
 * mime.c - streaming MIME structure parser (RFC 2045, 2046, 5322), header
 * decoding (RFC 2047, 2231), transfer decoding, and the facts the services
 * need before they touch a message: protected content and DKIM-signed names.
 *
 * The parser sees the message once, line by line, as it arrives. A stack of
 * open entities (message, multipart, message/rfc822, leaf) says where it is;
 * every line start is checked against the boundaries of the open multiparts,
 * innermost first. Header lines are buffered up to max_header_line; body
 * lines are never buffered beyond the few bytes needed to recognise a
 * delimiter (or an inline PGP armour line in text/plain). The parser owns the
 * work buffers; the result owns every string in it.
 */
#include "opes/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/hex.h"
#include "opes/vec.h"

/* ---- small helpers ---------------------------------------------------- */

static void mime_oom(void)
{
    fputs("mime: out of memory\n", stderr);
    abort();
}

static void *mime_alloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        mime_oom();
    return p;
}

static void *mime_zalloc(size_t n)
{
    void *p = calloc(1, n != 0 ? n : 1);

    if (p == NULL)
        mime_oom();
    return p;
}

static char *mime_strndup(const char *s, size_t n)
{
    char *d = mime_alloc(n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char mime_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static bool mime_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* mime_fws - white space of an unfolded value: SP, HT and stray CR/LF. */
static bool mime_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* mime_eq - s[0..n) equals the lower-case word w, ignoring case. */
static bool mime_eq(const char *s, size_t n, const char *w)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (w[i] == '\0' || mime_lower(s[i]) != w[i])
            return false;
    return w[n] == '\0';
}

/* mime_prefix - s[0..n) starts with the lower-case word w, ignoring case. */
static bool mime_prefix(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);

    return n >= wl && mime_eq(s, wl, w);
}

static bool mime_streq_nocase(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (mime_lower(*a) != mime_lower(*b))
            return false;
    return *a == *b;
}

static void mime_lower_str(char *s)
{
    for (; *s != '\0'; s++)
        *s = mime_lower(*s);
}

static uint64_t mime_max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* A growable byte string; callers check their limits before they append. */
struct mime_buf {
    char *data;
    size_t len;
    size_t cap;
};

static void buf_append(struct mime_buf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    b->data = vec_reserve(b->data, &b->cap, b->len + n + 1, 1);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_putc(struct mime_buf *b, char c)
{
    buf_append(b, &c, 1);
}

/* buf_take - the contents as a NUL-terminated string the caller owns; b is emptied. */
static char *buf_take(struct mime_buf *b)
{
    char *s = b->data != NULL ? b->data : mime_strndup("", 0);

    memset(b, 0, sizeof(*b));
    return s;
}

static void buf_free(struct mime_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- charsets to UTF-8 ------------------------------------------------ */

enum mime_charset {
    CS_UNKNOWN,
    CS_RAW,   /* undeclared bytes: UTF-8 where valid, windows-1252 otherwise */
    CS_UTF8,  /* declared UTF-8: invalid sequences become U+FFFD */
    CS_CP1252 /* windows-1252, also for iso-8859-1 and us-ascii (as browsers read them) */
};

/* cp1252 0x80..0x9f; 0 where the code page has no character */
static const uint16_t mime_cp1252[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

/* mime_charset_of - the converter for a charset name (an RFC 2231 "*lang" suffix is ignored). */
static enum mime_charset mime_charset_of(const char *name, size_t len)
{
    static const char *const utf8[] = {"utf-8", "utf8"};
    static const char *const cp1252[] = {
        "us-ascii", "ascii", "iso-8859-1",   "iso8859-1", "iso_8859-1", "latin1",        "latin-1",
        "l1",       "cp819", "windows-1252", "cp1252",    "x-cp1252",   "ansi_x3.4-1968"};
    const char *star = memchr(name, '*', len);
    size_t i;

    if (star != NULL)
        len = (size_t)(star - name);
    for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
        if (mime_eq(name, len, utf8[i]))
            return CS_UTF8;
    for (i = 0; i < sizeof(cp1252) / sizeof(cp1252[0]); i++)
        if (mime_eq(name, len, cp1252[i]))
            return CS_CP1252;
    return CS_UNKNOWN;
}

static void utf8_put(struct mime_buf *b, uint32_t cp)
{
    char u[4];

    if (cp == 0)
        cp = 0xfffd; /* keep C strings whole */
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        buf_append(b, u, 4);
    }
}

static void cp1252_put(struct mime_buf *b, unsigned char c)
{
    if (c >= 0x80 && c < 0xa0)
        utf8_put(b, mime_cp1252[c - 0x80] != 0 ? mime_cp1252[c - 0x80] : 0xfffd);
    else
        utf8_put(b, c);
}

/* A byte-at-a-time converter to UTF-8 that may be fed across several pieces. */
struct mime_conv {
    enum mime_charset cs;
    unsigned char pend[4];
    size_t npend;
    size_t need; /* length of the pending UTF-8 sequence */
};

static void conv_init(struct mime_conv *c, enum mime_charset cs)
{
    memset(c, 0, sizeof(*c));
    c->cs = cs;
}

/* conv_bad - a byte that is not part of valid UTF-8. */
static void conv_bad(struct mime_conv *c, struct mime_buf *out, unsigned char byte)
{
    if (c->cs == CS_UTF8)
        utf8_put(out, 0xfffd);
    else
        cp1252_put(out, byte);
}

static void conv_flush(struct mime_conv *c, struct mime_buf *out)
{
    size_t i;

    for (i = 0; i < c->npend; i++)
        conv_bad(c, out, c->pend[i]);
    c->npend = 0;
}

/* utf8_next_ok - whether byte b may follow the pending bytes of a sequence. */
static bool utf8_next_ok(const struct mime_conv *c, unsigned char b)
{
    unsigned char lead = c->pend[0];

    if (b < 0x80 || b > 0xbf)
        return false;
    if (c->npend == 1) {
        if (lead == 0xe0)
            return b >= 0xa0;
        if (lead == 0xed)
            return b <= 0x9f;
        if (lead == 0xf0)
            return b >= 0x90;
        if (lead == 0xf4)
            return b <= 0x8f;
    }
    return true;
}

static void conv_utf8(struct mime_conv *c, struct mime_buf *out, unsigned char b)
{
    if (c->npend > 0) {
        if (utf8_next_ok(c, b)) {
            c->pend[c->npend++] = b;
            if (c->npend == c->need + 1) {
                buf_append(out, (const char *)c->pend, c->npend);
                c->npend = 0;
            }
            return;
        }
        conv_flush(c, out);
    }
    if (b < 0x80) {
        utf8_put(out, b);
        return;
    }
    if (b >= 0xc2 && b <= 0xdf)
        c->need = 1;
    else if (b >= 0xe0 && b <= 0xef)
        c->need = 2;
    else if (b >= 0xf0 && b <= 0xf4)
        c->need = 3;
    else {
        conv_bad(c, out, b);
        return;
    }
    c->pend[0] = b;
    c->npend = 1;
}

static void conv_feed(struct mime_conv *c, struct mime_buf *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (c->cs == CS_CP1252)
            cp1252_put(out, b);
        else
            conv_utf8(c, out, b);
    }
}

/* mime_to_utf8 - s[0..n) in charset cs as a new UTF-8 string. */
static char *mime_to_utf8(const char *s, size_t n, enum mime_charset cs)
{
    struct mime_buf out = {0};
    struct mime_conv c;

    conv_init(&c, cs);
    conv_feed(&c, &out, s, n);
    conv_flush(&c, &out);
    return buf_take(&out);
}

/* ---- RFC 2047 encoded words ------------------------------------------- */

struct mime_word {
    size_t len;     /* of the whole "=?cs?e?text?=" */
    const char *cs; /* charset name */
    size_t cslen;
    char enc; /* 'b' or 'q' */
    const char *text;
    size_t textlen;
};

/* word_parse - an encoded word at s (which starts "=?"); false if there is none. */
static bool word_parse(const char *s, size_t n, struct mime_word *w)
{
    size_t i = 2, j;

    if (n < 8 || s[0] != '=' || s[1] != '?')
        return false;
    w->cs = s + i;
    while (i < n && s[i] != '?' && !mime_fws(s[i]) && i < 80)
        i++;
    w->cslen = (size_t)(s + i - w->cs);
    if (w->cslen == 0 || i + 2 >= n || s[i] != '?')
        return false;
    w->enc = mime_lower(s[i + 1]);
    if ((w->enc != 'b' && w->enc != 'q') || s[i + 2] != '?')
        return false;
    j = i + 3;
    w->text = s + j;
    while (j < n && s[j] != '?' && !mime_fws(s[j]))
        j++;
    if (j + 1 >= n || s[j] != '?' || s[j + 1] != '=')
        return false;
    w->textlen = (size_t)(s + j - w->text);
    w->len = j + 2;
    return true;
}

/* word_bytes - the decoded bytes of an encoded word's text, into raw. */
static void word_bytes(const struct mime_word *w, struct mime_buf *raw)
{
    size_t i;

    if (w->enc == 'b') {
        struct mime_decoder d;
        char out[MIME_DECODER_OUT(64)];
        mime_decoder_init(&d, MIME_ENC_BASE64);
        for (i = 0; i < w->textlen; i += 64) {
            size_t n = w->textlen - i < 64 ? w->textlen - i : 64;
            buf_append(raw, out, mime_decoder_feed(&d, w->text + i, n, out));
        }
        buf_append(raw, out, mime_decoder_finish(&d, out));
        return;
    }
    for (i = 0; i < w->textlen; i++) {
        char c = w->text[i];
        if (c == '_') {
            c = ' ';
        } else if (c == '=' && i + 2 < w->textlen && hex_digit(w->text[i + 1]) >= 0 &&
                   hex_digit(w->text[i + 2]) >= 0) {
            c = (char)(hex_digit(w->text[i + 1]) * 16 + hex_digit(w->text[i + 2]));
            i += 2;
        }
        buf_putc(raw, c);
    }
}

/* word_next_known - at s (after white space) an encoded word in a known charset. */
static bool word_next_known(const char *s, size_t n, struct mime_word *w)
{
    return word_parse(s, n, w) && mime_charset_of(w->cs, w->cslen) != CS_UNKNOWN;
}

/*
 * decode_2047 - in[0..n) for display, appended to out. Adjacent encoded words
 * in one charset are decoded as one byte string, so that a character split
 * across two words comes out whole.
 */
static void decode_2047(const char *in, size_t n, struct mime_buf *out)
{
    struct mime_conv raw, enc;
    struct mime_buf bytes = {0};
    struct mime_word w;
    bool in_word = false;
    size_t i = 0;

    conv_init(&raw, CS_RAW);
    conv_init(&enc, CS_UNKNOWN);
    while (i < n) {
        if (in[i] == '=' && word_next_known(in + i, n - i, &w)) {
            enum mime_charset cs = mime_charset_of(w.cs, w.cslen);
            conv_flush(&raw, out);
            if (in_word && cs != enc.cs)
                conv_flush(&enc, out);
            if (!in_word || cs != enc.cs)
                conv_init(&enc, cs);
            bytes.len = 0;
            word_bytes(&w, &bytes);
            conv_feed(&enc, out, bytes.data, bytes.len);
            in_word = true;
            i += w.len;
            continue;
        }
        if (in_word && mime_fws(in[i])) {
            size_t j = i;
            while (j < n && mime_fws(in[j]))
                j++;
            if (j < n && word_next_known(in + j, n - j, &w)) {
                i = j; /* white space between encoded words is dropped */
                continue;
            }
        }
        if (in_word) {
            conv_flush(&enc, out);
            in_word = false;
        }
        conv_feed(&raw, out, in + i, 1);
        i++;
    }
    conv_flush(&enc, out);
    conv_flush(&raw, out);
    buf_free(&bytes);
}

/* utf8_cut - the longest prefix of s[0..n) not longer than max that ends on a character. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

size_t mime_decode_2047(const char *in, char *out, size_t size)
{
    struct mime_buf b = {0};
    const char *src;
    size_t n;

    if (size == 0)
        return 0;
    decode_2047(in, strlen(in), &b);
    src = b.data != NULL ? b.data : "";
    n = utf8_cut(src, b.len, size - 1);
    memcpy(out, src, n);
    out[n] = '\0';
    buf_free(&b);
    return n;
}

size_t mime_field_text(const char *value, bool decode, char *out, size_t size)
{
    size_t n, a = 0;

    if (size == 0)
        return 0;
    if (decode) {
        n = mime_decode_2047(value, out, size);
    } else {
        n = utf8_cut(value, strlen(value), size - 1);
        memcpy(out, value, n);
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 32 || out[i] == 127)
            out[i] = ' ';
    while (a < n && out[a] == ' ')
        a++;
    while (n > a && out[n - 1] == ' ')
        n--;
    memmove(out, out + a, n - a);
    out[n - a] = '\0';
    return n - a;
}

size_t mime_display_name(const char *from, char *out, size_t size)
{
    const char *lt = strchr(from, '<'), *end = lt, *start = from;
    char phrase[1024];
    size_t o = 0;
    bool quoted = false;

    if (size == 0)
        return 0;
    if (lt == NULL) { /* addr (Name) */
        start = strchr(from, '(');
        end = start != NULL ? strrchr(start, ')') : NULL;
        if (start == NULL || end == NULL) {
            out[0] = '\0';
            return 0;
        }
        start++;
    }
    for (const char *p = start; p < end && o < sizeof(phrase) - 1; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (*p == '\\' && quoted && p + 1 < end)
            p++;
        phrase[o++] = *p;
    }
    phrase[o] = '\0';
    return mime_field_text(phrase, true, out, size);
}

char *mime_text_utf8(const char *charset, const char *s, size_t n, size_t max, size_t *len_r,
                     bool *cut)
{
    enum mime_charset cs = charset != NULL ? mime_charset_of(charset, strlen(charset)) : CS_RAW;
    char *t = mime_to_utf8(s, n, cs == CS_UNKNOWN ? CS_RAW : cs);
    size_t len = strlen(t), k = utf8_cut(t, len, max);

    t[k] = '\0';
    *len_r = k;
    *cut = k < len;
    return t;
}

/* ---- Content-Type and Content-Disposition values ---------------------- */

/* A parameter as written: name lower-cased, value unquoted but not decoded. */
struct mime_rawparam {
    char *name;
    char *value;
    size_t vlen;
};

/* What parsing a Content-Type or Content-Disposition value yields. */
struct mime_ctval {
    char *type;    /* lower-cased main token(s) */
    char *subtype; /* Content-Type only */
    struct mime_param *params;
    size_t nparams;
    char *boundary; /* raw bytes of the boundary parameter, NULL if none */
    size_t blen;
    unsigned flags; /* MIME_F_DUP_PARAM, MIME_F_DUP_BOUNDARY, MIME_F_LIMIT */
};

/* skip_cfws - past white space and (nested) comments. */
static size_t skip_cfws(const char *s, size_t n, size_t i)
{
    while (i < n) {
        if (mime_fws(s[i])) {
            i++;
        } else if (s[i] == '(') {
            int depth = 0;
            for (; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                else if (s[i] == '(')
                    depth++;
                else if (s[i] == ')' && --depth == 0)
                    break;
            }
            if (i < n)
                i++;
        } else {
            break;
        }
    }
    return i;
}

static bool mime_tchar(char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t scan_token(const char *s, size_t n, size_t i)
{
    while (i < n && mime_tchar(s[i]))
        i++;
    return i;
}

/* skip_to_semicolon - the next ';' outside a quoted string, or n. */
static size_t skip_to_semicolon(const char *s, size_t n, size_t i)
{
    bool quoted = false;

    for (; i < n; i++) {
        if (quoted && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == ';')
            return i;
    }
    return n;
}

/* param_value - a quoted string or a lenient token (to ';', comment at the end dropped). */
static size_t param_value(const char *s, size_t n, size_t i, struct mime_buf *v)
{
    if (i < n && s[i] == '"') {
        for (i++; i < n && s[i] != '"'; i++) {
            if (s[i] == '\\' && i + 1 < n)
                i++;
            buf_putc(v, s[i]);
        }
        return skip_to_semicolon(s, n, i < n ? i + 1 : n);
    }
    size_t end = skip_to_semicolon(s, n, i), e = end;
    while (e > i && mime_fws(s[e - 1]))
        e--;
    if (e > i && s[e - 1] == ')') {
        const char *open = NULL;
        for (size_t k = i; k + 1 < e; k++)
            if (s[k] == '(' && k > i && mime_fws(s[k - 1]))
                open = s + k;
        if (open != NULL) {
            e = (size_t)(open - s);
            while (e > i && mime_fws(s[e - 1]))
                e--;
        }
    }
    buf_append(v, s + i, e - i);
    return end;
}

/* parse_params - every "; name=value" from s[i..n) into raw[]; returns the count. */
static size_t parse_params(const char *s, size_t n, size_t i, struct mime_rawparam *raw,
                           unsigned *flags)
{
    size_t count = 0;

    for (i = skip_to_semicolon(s, n, i); i < n; i = skip_to_semicolon(s, n, i)) {
        size_t name, name_end;
        struct mime_buf v = {0};

        i = skip_cfws(s, n, i + 1);
        name = i;
        name_end = i = scan_token(s, n, i);
        i = skip_cfws(s, n, i);
        if (name_end == name || i >= n || s[i] != '=')
            continue;
        i = param_value(s, n, skip_cfws(s, n, i + 1), &v);
        if (count == MIME_MAX_PARAMS) {
            *flags |= MIME_F_LIMIT;
            buf_free(&v);
            continue;
        }
        raw[count].name = mime_strndup(s + name, name_end - name);
        mime_lower_str(raw[count].name);
        raw[count].vlen = v.len;
        raw[count].value = buf_take(&v);
        count++;
    }
    return count;
}

/* A parameter name split as RFC 2231 3-4 has it: base, section number, '*' at the end. */
struct mime_pname {
    size_t baselen;
    long section; /* -1 when there is none */
    bool extended;
};

static struct mime_pname pname_split(const char *name)
{
    struct mime_pname pn = {strlen(name), -1, false};
    const char *star = strchr(name, '*');
    const char *p;
    long sec = 0;

    if (star == NULL)
        return pn;
    p = star + 1;
    if (*p == '\0') {
        pn.baselen = (size_t)(star - name);
        pn.extended = true;
        return pn;
    }
    if (*p < '0' || *p > '9')
        return pn;
    for (; *p >= '0' && *p <= '9'; p++)
        if (sec < 100000)
            sec = sec * 10 + (*p - '0');
    if (*p == '*')
        pn.extended = true, p++;
    if (*p != '\0')
        return (struct mime_pname){strlen(name), -1, false};
    pn.baselen = (size_t)(star - name);
    pn.section = sec;
    return pn;
}

static bool pname_is(const char *name, const struct mime_pname *pn, const char *base, size_t blen)
{
    return pn->baselen == blen && memcmp(name, base, blen) == 0;
}

/* pct_decode - RFC 2231 %XX escapes of s[0..n) appended to out. */
static void pct_decode(const char *s, size_t n, struct mime_buf *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            buf_putc(out, (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
}

/*
 * ext_start - an extended first value "charset'lang'text": the charset (as
 * a converter) and where the text starts. Without the two quotes the whole
 * value is text in no declared charset.
 */
static size_t ext_start(const char *v, size_t n, enum mime_charset *cs)
{
    const char *q1 = memchr(v, '\'', n), *q2;

    *cs = CS_RAW;
    if (q1 == NULL)
        return 0;
    q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - v));
    if (q2 == NULL)
        return 0;
    if (q1 > v) {
        *cs = mime_charset_of(v, (size_t)(q1 - v));
        if (*cs == CS_UNKNOWN)
            *cs = CS_RAW; /* no converter: keep what is UTF-8, read the rest as windows-1252 */
    }
    return (size_t)(q2 + 1 - v);
}

/*
 * join_sections - the value of base from its RFC 2231 sections (name*0,
 * name*1*, ...) in section order, or from name* alone; NULL if there is none.
 * The raw joined bytes go to rawbytes (the boundary needs them).
 */
static char *join_sections(struct mime_rawparam *raw, size_t n, const char *base, size_t blen,
                           struct mime_buf *rawbytes, unsigned *flags)
{
    enum mime_charset cs = CS_RAW;
    long want;
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        struct mime_pname pn = pname_split(raw[i].name);
        if (pname_is(raw[i].name, &pn, base, blen) && pn.extended && pn.section < 0) {
            size_t t = ext_start(raw[i].value, raw[i].vlen, &cs);
            pct_decode(raw[i].value + t, raw[i].vlen - t, rawbytes);
            return mime_to_utf8(rawbytes->data, rawbytes->len, cs);
        }
    }
    /* sections in increasing order; a section given twice counts once */
    for (want = 0;;) {
        long next = -1;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            struct mime_pname pn = pname_split(raw[i].name);
            if (!pname_is(raw[i].name, &pn, base, blen) || pn.section < want)
                continue;
            if (next < 0 || pn.section < next)
                next = pn.section, at = i;
            else if (pn.section == next)
                *flags |= MIME_F_DUP_PARAM;
        }
        if (next < 0)
            break;
        struct mime_pname pn = pname_split(raw[at].name);
        size_t t = 0;
        if (pn.extended && !any)
            t = ext_start(raw[at].value, raw[at].vlen, &cs);
        if (pn.extended)
            pct_decode(raw[at].value + t, raw[at].vlen - t, rawbytes);
        else
            buf_append(rawbytes, raw[at].value, raw[at].vlen);
        any = true;
        want = next + 1;
    }
    return any ? mime_to_utf8(rawbytes->data != NULL ? rawbytes->data : "", rawbytes->len, cs)
               : NULL;
}

/* param_display - a plain value as text: file names may hold RFC 2047 words. */
static char *param_display(const char *base, const struct mime_rawparam *r)
{
    struct mime_buf out = {0};

    if (strcmp(base, "name") == 0 || strcmp(base, "filename") == 0)
        decode_2047(r->value, r->vlen, &out);
    else
        return mime_to_utf8(r->value, r->vlen, CS_RAW);
    return buf_take(&out);
}

/* How a parameter is defined: plain, "name*", and whether "name*N" sections exist. */
struct mime_defs {
    unsigned plain;
    unsigned ext;
    bool sections;
};

static struct mime_defs count_defs(struct mime_rawparam *raw, size_t n, const char *base,
                                   size_t blen)
{
    struct mime_defs d = {0, 0, false};

    for (size_t i = 0; i < n; i++) {
        struct mime_pname pn = pname_split(raw[i].name);
        if (!pname_is(raw[i].name, &pn, base, blen))
            continue;
        if (pn.section >= 0)
            d.sections = true;
        else if (pn.extended)
            d.ext++;
        else
            d.plain++;
    }
    return d;
}

/* plain_value - the first plain definition of base, for display and as raw bytes. */
static char *plain_value(struct mime_rawparam *raw, size_t n, const char *base, size_t blen,
                         struct mime_buf *bytes)
{
    for (size_t i = 0; i < n; i++) {
        struct mime_pname q = pname_split(raw[i].name);
        if (pname_is(raw[i].name, &q, base, blen) && q.section < 0 && !q.extended) {
            buf_append(bytes, raw[i].value, raw[i].vlen);
            return param_display(base, &raw[i]);
        }
    }
    return NULL;
}

/* add_reading - one more reading of a file name parameter, unless it is there already. */
static void add_reading(struct mime_ctval *cv, size_t first, const char *base, char *value)
{
    for (size_t i = first; i < cv->nparams; i++)
        if (strcmp(cv->params[i].value, value) == 0) {
            free(value);
            return;
        }
    cv->params[cv->nparams].name = mime_strndup(base, strlen(base));
    cv->params[cv->nparams++].value = value;
}

/*
 * other_readings - every definition of a file name parameter that a reader
 * may take instead of the one used: each plain one and each name*, after
 * it (each raw entry gives at most one, so params has room).
 */
static void other_readings(struct mime_rawparam *raw, size_t n, const char *base, size_t blen,
                           struct mime_ctval *cv)
{
    size_t first = cv->nparams - 1;

    for (size_t i = 0; i < n; i++) {
        struct mime_pname pn = pname_split(raw[i].name);
        if (!pname_is(raw[i].name, &pn, base, blen) || pn.section >= 0)
            continue;
        if (pn.extended) {
            struct mime_buf b = {0};
            enum mime_charset cs;
            size_t t = ext_start(raw[i].value, raw[i].vlen, &cs);
            pct_decode(raw[i].value + t, raw[i].vlen - t, &b);
            add_reading(cv, first, base, mime_to_utf8(b.data != NULL ? b.data : "", b.len, cs));
            buf_free(&b);
        } else {
            add_reading(cv, first, base, param_display(base, &raw[i]));
        }
    }
}

/*
 * assemble_one - the final parameter for the base name of raw[first]: name*
 * before name*0.., before the plain name (mail clients send the plain one as
 * a fallback). Two plain or two name* definitions are a duplicate; for the
 * boundary any second definition is (different readers pick different ones).
 * A file name defined more than once gets its other readings after it.
 */
static void assemble_one(struct mime_rawparam *raw, size_t n, size_t first, struct mime_ctval *cv)
{
    struct mime_pname pn = pname_split(raw[first].name);
    size_t blen = pn.baselen;
    char *base = mime_strndup(raw[first].name, blen);
    struct mime_buf bytes = {0};
    struct mime_defs d = count_defs(raw, n, base, blen);
    char *value = join_sections(raw, n, base, blen, &bytes, &cv->flags);
    bool is_boundary = strcmp(base, "boundary") == 0;
    struct mime_param *p;

    if (value == NULL)
        value = plain_value(raw, n, base, blen, &bytes);
    if (d.plain > 1 || d.ext > 1)
        cv->flags |= MIME_F_DUP_PARAM;
    if (is_boundary && d.plain + d.ext + (d.sections ? 1 : 0) > 1)
        cv->flags |= MIME_F_DUP_BOUNDARY;
    if (is_boundary && bytes.len > 0 && cv->boundary == NULL) {
        cv->blen = bytes.len;
        cv->boundary = buf_take(&bytes);
    }
    buf_free(&bytes);
    p = &cv->params[cv->nparams++];
    p->name = base;
    p->value = value != NULL ? value : mime_strndup("", 0);
    if ((strcmp(base, "name") == 0 || strcmp(base, "filename") == 0) &&
        d.plain + d.ext + (d.sections ? 1 : 0) > 1)
        other_readings(raw, n, base, blen, cv);
}

/* assemble_params - RFC 2231 assembly: one parameter per base name, in order of appearance. */
static void assemble_params(struct mime_rawparam *raw, size_t n, struct mime_ctval *cv)
{
    cv->params = mime_zalloc(n * sizeof(*cv->params));
    for (size_t i = 0; i < n; i++) {
        struct mime_pname pn = pname_split(raw[i].name);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            struct mime_pname q = pname_split(raw[k].name);
            seen = q.baselen == pn.baselen && memcmp(raw[k].name, raw[i].name, pn.baselen) == 0;
        }
        if (!seen)
            assemble_one(raw, n, i, cv);
    }
}

/*
 * parse_ctval - a Content-Type (with_subtype) or Content-Disposition value.
 * Returns false when the main token(s) are missing or malformed; the
 * parameters are parsed either way.
 */
static bool parse_ctval(const char *s, size_t n, bool with_subtype, struct mime_ctval *cv)
{
    struct mime_rawparam raw[MIME_MAX_PARAMS];
    size_t i = skip_cfws(s, n, 0), t0 = i, t1, s0 = 0, s1 = 0, nraw;
    bool ok;

    memset(cv, 0, sizeof(*cv));
    t1 = i = scan_token(s, n, i);
    ok = t1 > t0;
    if (with_subtype) {
        i = skip_cfws(s, n, i);
        ok = ok && i < n && s[i] == '/';
        if (ok) {
            s0 = skip_cfws(s, n, i + 1);
            s1 = i = scan_token(s, n, s0);
            ok = s1 > s0;
        }
    }
    if (ok) {
        cv->type = mime_strndup(s + t0, t1 - t0);
        mime_lower_str(cv->type);
        if (with_subtype) {
            cv->subtype = mime_strndup(s + s0, s1 - s0);
            mime_lower_str(cv->subtype);
        }
    }
    nraw = parse_params(s, n, i, raw, &cv->flags);
    assemble_params(raw, nraw, cv);
    for (i = 0; i < nraw; i++) {
        free(raw[i].name);
        free(raw[i].value);
    }
    return ok;
}

static void ctval_free(struct mime_ctval *cv)
{
    free(cv->type);
    free(cv->subtype);
    free(cv->boundary);
    for (size_t i = 0; i < cv->nparams; i++) {
        free(cv->params[i].name);
        free(cv->params[i].value);
    }
    free(cv->params);
    memset(cv, 0, sizeof(*cv));
}

static const char *params_get(const struct mime_param *ps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ps[i].name, name) == 0)
            return ps[i].value;
    return NULL;
}

/* ---- transfer decoding ------------------------------------------------ */

enum { QP_TEXT, QP_CR, QP_EQ, QP_EQ_HEX, QP_EQ_CR, QP_EQ_WS };

enum mime_encoding mime_encoding_of(const char *cte)
{
    if (cte == NULL)
        return MIME_ENC_IDENTITY;
    if (mime_streq_nocase(cte, "base64"))
        return MIME_ENC_BASE64;
    if (mime_streq_nocase(cte, "quoted-printable"))
        return MIME_ENC_QP;
    return MIME_ENC_IDENTITY;
}

void mime_decoder_init(struct mime_decoder *d, enum mime_encoding enc)
{
    memset(d, 0, sizeof(*d));
    d->enc = enc;
    d->state = QP_TEXT;
}

/* b64_pad - the bytes of a quantum cut short by '=' (or by the end). */
static size_t b64_pad(struct mime_decoder *d, char *out)
{
    size_t o = 0;

    if (d->nacc == 2) {
        out[o++] = (char)(d->acc >> 4);
    } else if (d->nacc == 3) {
        out[o++] = (char)(d->acc >> 10);
        out[o++] = (char)(d->acc >> 2);
    }
    d->acc = 0;
    d->nacc = 0;
    return o;
}

/* b64_table - the value of each base64 character, -1 for '=', -2 for the rest. */
static const signed char b64_table[256] = {
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, 62, -2, -2, -2, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -2, -2, -2, -1, -2, -2, -2, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -2, -2, -2, -2, -2,
    -2, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
    -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
};

static size_t b64_feed(struct mime_decoder *d, const char *in, size_t len, char *out)
{
    const signed char *t = b64_table;
    size_t o = 0, i = 0;

    while (i < len) {
        if (d->nacc == 0) {
            /* whole quanta at once: the bulk of a base64 body */
            while (i + 4 <= len) {
                int a = t[(unsigned char)in[i]], b = t[(unsigned char)in[i + 1]];
                int c = t[(unsigned char)in[i + 2]], e = t[(unsigned char)in[i + 3]];
                if ((a | b | c | e) < 0)
                    break;
                uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
                out[o++] = (char)(v >> 16);
                out[o++] = (char)(v >> 8);
                out[o++] = (char)v;
                i += 4;
            }
            if (i == len)
                break;
        }
        int v = t[(unsigned char)in[i++]];
        if (v == -1) {
            o += b64_pad(d, out + o);
            continue;
        }
        if (v < 0)
            continue;
        d->acc = (d->acc << 6) | (uint32_t)v;
        if (++d->nacc == 4) {
            out[o++] = (char)(d->acc >> 16);
            out[o++] = (char)(d->acc >> 8);
            out[o++] = (char)d->acc;
            d->acc = 0;
            d->nacc = 0;
        }
    }
    return o;
}

/* qp_ws_flush - pending white space turned out not to be trailing. */
static size_t qp_ws_flush(struct mime_decoder *d, char *out)
{
    size_t n = d->nws;

    memcpy(out, d->ws, n);
    d->nws = 0;
    return n;
}

/* qp_text - one byte in the middle of a line. */
static size_t qp_text(struct mime_decoder *d, char c, char *out)
{
    size_t o = 0;

    if (c == ' ' || c == '\t') {
        if (d->nws == MIME_QP_WS_MAX)
            o += qp_ws_flush(d, out);
        d->ws[d->nws++] = c;
        return o;
    }
    if (c == '\r') {
        d->state = QP_CR;
        return 0;
    }
    if (c == '\n') {
        d->nws = 0; /* trailing white space is dropped; a hard line break is CRLF */
        out[0] = '\r';
        out[1] = '\n';
        return 2;
    }
    o += qp_ws_flush(d, out);
    if (c == '=')
        d->state = QP_EQ;
    else
        out[o++] = c;
    return o;
}

/* qp_byte - one input byte; returns the output length (at most MIME_QP_WS_MAX + 3). */
static size_t qp_byte(struct mime_decoder *d, char c, char *out)
{
    size_t o = 0;

    switch (d->state) {
    case QP_CR:
        d->state = QP_TEXT;
        if (c == '\n') {
            d->nws = 0;
            out[0] = '\r';
            out[1] = '\n';
            return 2;
        }
        o = qp_ws_flush(d, out);
        out[o++] = '\r';
        return o + qp_text(d, c, out + o);
    case QP_EQ:
        if (hex_digit(c) >= 0) {
            d->hex = c;
            d->state = QP_EQ_HEX;
        } else if (c == '\r') {
            d->state = QP_EQ_CR;
        } else if (c == '\n') {
            d->state = QP_TEXT; /* soft line break */
        } else if (c == ' ' || c == '\t') {
            d->state = QP_EQ_WS;
            d->ws[d->nws++] = c;
        } else {
            d->state = QP_TEXT;
            out[0] = '=';
            return 1 + qp_text(d, c, out + 1);
        }
        return 0;
    case QP_EQ_HEX:
        d->state = QP_TEXT;
        if (hex_digit(c) >= 0) {
            out[0] = (char)(hex_digit(d->hex) * 16 + hex_digit(c));
            return 1;
        }
        out[0] = '=';
        out[1] = d->hex;
        return 2 + qp_text(d, c, out + 2);
    case QP_EQ_CR:
        d->state = QP_TEXT;
        if (c == '\n')
            return 0;
        out[0] = '=';
        out[1] = '\r';
        return 2 + qp_text(d, c, out + 2);
    case QP_EQ_WS:
        if ((c == ' ' || c == '\t') && d->nws < MIME_QP_WS_MAX) {
            d->ws[d->nws++] = c;
            return 0;
        }
        if (c == '\r' || c == '\n') {
            d->nws = 0; /* "=" and trailing white space: still a soft line break */
            d->state = c == '\r' ? QP_EQ_CR : QP_TEXT;
            return 0;
        }
        d->state = QP_TEXT;
        out[0] = '=';
        o = 1 + qp_ws_flush(d, out + 1);
        return o + qp_text(d, c, out + o);
    default:
        return qp_text(d, c, out);
    }
}

static bool qp_special(char c)
{
    return c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t qp_feed(struct mime_decoder *d, const char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;

    while (i < len) {
        if (d->state == QP_TEXT && d->nws == 0) {
            /* the common case: text, and single spaces between words */
            size_t run = 0;
            while (i + run < len) {
                char c = in[i + run];
                if (!qp_special(c))
                    run++;
                else if ((c == ' ' || c == '\t') && i + run + 1 < len &&
                         !qp_special(in[i + run + 1]))
                    run += 2;
                else
                    break;
            }
            memcpy(out + o, in + i, run);
            o += run;
            i += run;
            if (i == len)
                break;
        }
        o += qp_byte(d, in[i++], out + o);
    }
    return o;
}

size_t mime_decoder_feed(struct mime_decoder *d, const char *in, size_t len, char *out)
{
    switch (d->enc) {
    case MIME_ENC_BASE64:
        return b64_feed(d, in, len, out);
    case MIME_ENC_QP:
        return qp_feed(d, in, len, out);
    default:
        if (len > 0)
            memcpy(out, in, len);
        return len;
    }
}

size_t mime_decoder_finish(struct mime_decoder *d, char *out)
{
    size_t o = 0;

    if (d->enc == MIME_ENC_BASE64)
        return b64_pad(d, out);
    if (d->enc != MIME_ENC_QP)
        return 0;
    switch (d->state) {
    case QP_CR:
        out[o++] = '\r';
        break;
    case QP_EQ:
        out[o++] = '=';
        break;
    case QP_EQ_HEX:
        out[o++] = '=';
        out[o++] = d->hex;
        break;
    default:
        break;
    }
    d->state = QP_TEXT;
    d->nws = 0;
    return o;
}

/* ---- the parser ------------------------------------------------------- */

/* Where a multipart is between its delimiters. */
enum mime_mpstate {
    MP_PREAMBLE, /* before the first delimiter */
    MP_CHILD,    /* inside a body part (the part is the next frame up) */
    MP_SKIP,     /* inside a body part that was not recorded (part limit) */
    MP_EPILOGUE  /* after the close delimiter: the boundary no longer counts */
};

/* One open entity, from the message (stack[0]) to the innermost. */
struct mime_frame {
    size_t part;
    char *boundary; /* MIME_KIND_MULTIPART only */
    size_t blen;
    enum mime_mpstate state;
};

enum mime_phase {
    PH_HEADER, /* reading the header block of the innermost part */
    PH_BODY,   /* reading its body */
    PH_DELIM   /* skipping the rest of a delimiter line */
};

/* deeper nesting than this is never useful; it bounds the frame stack */
#define MIME_DEPTH_CAP 10000

static const char *const pgp_markers[2] = {"-----BEGIN PGP SIGNED MESSAGE-----",
                                           "-----BEGIN PGP MESSAGE-----"};

struct mime_parser {
    struct mime_limits lim;
    struct mime_message *m;
    size_t parts_cap;  /* of m->parts */
    size_t fields_cap; /* of the innermost part's fields (the only ones still growing) */
    size_t dkim_cap;   /* of m->dkim_signed */
    struct mime_frame *stack;
    size_t nstack;
    enum mime_phase phase;

    uint64_t off;        /* offset of the next byte */
    uint64_t line_start; /* offset of the current line's first byte */
    uint64_t prev_eol;   /* where the previous line's CRLF (or LF) began */
    char last;           /* the byte before off */

    /* header phase */
    struct mime_buf line;  /* the current line, cut at max_header_line + 8 */
    size_t line_len;       /* its real length */
    struct mime_buf field; /* the current field, unfolded, cut at max_header_line */
    bool field_open;
    bool field_cut;
    uint64_t field_off;
    uint64_t field_end;
    uint64_t block_len;  /* bytes of this header block so far */
    char *ct, *cte, *cd; /* first Content-Type, -Transfer-Encoding, -Disposition values */
    size_t stored_total; /* bytes of header text stored in m */

    /* body phase */
    struct mime_buf head; /* the first bytes of a body line, while they may be a delimiter */
    bool at_bol;          /* a body line starts and its head is being collected */
    size_t head_need;     /* 4 + the longest boundary that counts; 0 when none does */
    bool delim_close;     /* the delimiter line being skipped closes its multipart */

    /* inline PGP in text/plain (the innermost part) */
    bool scan;
    struct mime_decoder dec;
    int pgp_col;        /* column in the decoded line; -1 once no marker can match */
    unsigned pgp_alive; /* markers still matching this line */

    /* the transfer encoding's syntax in the innermost leaf (encoding_check) */
    enum mime_encoding chk_enc; /* MIME_ENC_IDENTITY: nothing (more) to check */
    unsigned chk_q;             /* base64: data characters of the quantum; QP: state after '=' */
    unsigned chk_pad;           /* base64: '=' of the quantum */
    bool chk_done;              /* base64: a quantum was padded: only white space may follow */
    bool chk_ws;                /* base64: white space met in this line */
    size_t chk_line;            /* base64: characters of this line (white space aside) */
};

void mime_limits_default(struct mime_limits *lim)
{
    *lim = (struct mime_limits)MIME_LIMITS_DEFAULT;
}

static struct mime_frame *top(struct mime_parser *p)
{
    return &p->stack[p->nstack - 1];
}

static struct mime_part *top_part(struct mime_parser *p)
{
    return &p->m->parts[top(p)->part];
}

static void part_flag(struct mime_parser *p, size_t part, unsigned flag)
{
    p->m->parts[part].flags |= flag;
}

/* hit_limit - a limit (MIME_L_*) stopped the parser at this part: flag it there and overall. */
static void hit_limit(struct mime_parser *p, struct mime_part *part, unsigned flag, unsigned limit)
{
    part->flags |= flag;
    p->m->limits |= limit;
}

/* new_part - append a part (the caller checked max_parts) and open a frame for it. */
static void new_part(struct mime_parser *p, int parent, unsigned depth, uint64_t header_start)
{
    struct mime_message *m = p->m;
    struct mime_part *part;
    struct mime_frame *f;

    /* the callers never go past max_parts (at least 1) */
    m->parts = vec_reserve(m->parts, &p->parts_cap, m->nparts + 1, sizeof(*m->parts));
    p->fields_cap = 0;
    part = &m->parts[m->nparts];
    memset(part, 0, sizeof(*part));
    part->parent = parent;
    part->depth = depth;
    part->header_start = part->body_start = part->body_end = header_start;
    f = &p->stack[p->nstack++];
    memset(f, 0, sizeof(*f));
    f->part = m->nparts++;
    p->phase = PH_HEADER;
    p->block_len = 0;
}

/* update_head_need - how many bytes of a line tell whether it is a delimiter. */
static void update_head_need(struct mime_parser *p)
{
    size_t need = 0;

    for (size_t j = 0; j < p->nstack; j++) {
        const struct mime_frame *f = &p->stack[j];
        if (f->boundary != NULL && f->blen + 4 > need)
            need = f->blen + 4; /* closed ones too: after_close() looks for their lines */
    }
    p->head_need = need;
}

/*
 * match_delim - whether h[0..n) (a line, or its head when the line goes on
 * for at least head_need bytes) is a delimiter of an open multipart,
 * innermost first: "--" boundary, then "--" (close), or white space or the
 * line end (anything after white space is transport padding to ignore). A
 * boundary that is a prefix of another ("b" and "b-1") cannot match the
 * other's lines.
 */
static bool match_delim(const struct mime_parser *p, const char *h, size_t n, size_t *level,
                        bool *close)
{
    if (n < 2 || h[0] != '-' || h[1] != '-')
        return false;
    for (size_t j = p->nstack; j-- > 0;) {
        const struct mime_frame *f = &p->stack[j];
        size_t bl = f->blen;
        if (f->boundary == NULL || f->state == MP_EPILOGUE || n < 2 + bl ||
            memcmp(h + 2, f->boundary, bl) != 0)
            continue;
        *level = j;
        if (n == 2 + bl || h[2 + bl] == ' ' || h[2 + bl] == '\t' || h[2 + bl] == '\r') {
            *close = false;
            return true;
        }
        if (n >= 4 + bl && h[2 + bl] == '-' && h[3 + bl] == '-') {
            *close = true;
            return true;
        }
    }
    return false;
}

/* ---- inline PGP ---- */

static void pgp_scan(struct mime_parser *p, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && p->scan) {
        if (p->pgp_col < 0) {
            const char *lf = memchr(s + i, '\n', n - i);
            if (lf == NULL)
                return;
            i = (size_t)(lf - s) + 1;
            p->pgp_col = 0;
            p->pgp_alive = 3;
            continue;
        }
        char c = s[i++];
        if (c == '\n') {
            p->pgp_col = 0;
            p->pgp_alive = 3;
            continue;
        }
        for (unsigned k = 0; k < 2; k++) {
            const char *mk = pgp_markers[k];
            if (!(p->pgp_alive & (1u << k)))
                continue;
            if (mk[p->pgp_col] != c) {
                p->pgp_alive &= ~(1u << k);
            } else if (mk[p->pgp_col + 1] == '\0') {
                top_part(p)->protected |= MIME_P_PGP_INLINE;
                p->scan = false; /* found: the rest need not be looked at */
                return;
            }
        }
        p->pgp_col = p->pgp_alive != 0 ? p->pgp_col + 1 : -1;
    }
}

/* ---- transfer encoding syntax ---- */

/* encoding_bad - the body is read differently by different decoders: flag it, check no more. */
static void encoding_bad(struct mime_parser *p)
{
    part_flag(p, top(p)->part, p->chk_enc == MIME_ENC_BASE64 ? MIME_F_BAD_BASE64 : MIME_F_BAD_QP);
    p->chk_enc = MIME_ENC_IDENTITY;
}

/* b64_line_bad - a base64 line that a line-by-line decoder, or a mail system, reads otherwise. */
static bool b64_line_bad(const struct mime_parser *p)
{
    return p->chk_line % 4 != 0 || p->chk_line > 998;
}

/* b64_check - base64 body bytes: anything but whole quanta, final padding and line ends. */
static void b64_check(struct mime_parser *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n && p->chk_enc == MIME_ENC_BASE64; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = b64_table[c];
        if (v >= 0) {
            size_t run = 1;
            if (p->chk_done || p->chk_pad > 0 || p->chk_ws) {
                encoding_bad(p); /* data after padding, or a space inside a line */
                return;
            }
            while (i + run < n && b64_table[(unsigned char)s[i + run]] >= 0)
                run++;
            p->chk_q = (unsigned)((p->chk_q + run) & 3);
            p->chk_line += run;
            i += run - 1;
        } else if (v == -1) {
            if (p->chk_done || p->chk_ws || p->chk_q < 2) {
                encoding_bad(p); /* padding where no quantum can end */
                return;
            }
            p->chk_line++;
            if (p->chk_q + ++p->chk_pad == 4)
                p->chk_done = true;
        } else if (c == '\n') {
            if (b64_line_bad(p)) {
                encoding_bad(p);
                return;
            }
            p->chk_line = 0;
            p->chk_ws = false;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->chk_ws = true; /* at the end of a line only */
        } else {
            encoding_bad(p); /* outside the alphabet: skipped by some, an error for others */
            return;
        }
    }
}

enum { QPC_TEXT, QPC_EQ, QPC_HEX, QPC_WS };

/* qp_check - quoted-printable body bytes: every '=' starts "=XX" or a soft line break. */
static void qp_check(struct mime_parser *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n && p->chk_enc == MIME_ENC_QP; i++) {
        char c = s[i];
        bool eol = c == '\r' || c == '\n', ws = c == ' ' || c == '\t';
        switch (p->chk_q) {
        case QPC_TEXT: {
            const char *eq = memchr(s + i, '=', n - i);
            if (eq == NULL)
                return;
            i = (size_t)(eq - s);
            p->chk_q = QPC_EQ;
            break;
        }
        case QPC_EQ:
            if (hex_digit(c) >= 0)
                p->chk_q = QPC_HEX;
            else if (eol || ws)
                p->chk_q = eol ? QPC_TEXT : QPC_WS;
            else
                encoding_bad(p);
            break;
        case QPC_HEX:
            if (hex_digit(c) >= 0)
                p->chk_q = QPC_TEXT;
            else
                encoding_bad(p);
            break;
        default: /* "=" and white space: a soft line break if only white space follows */
            if (eol)
                p->chk_q = QPC_TEXT;
            else if (!ws)
                encoding_bad(p);
            break;
        }
    }
}

/* encoding_check_start - check the syntax of this leaf's base64 or quoted-printable body. */
static void encoding_check_start(struct mime_parser *p, const struct mime_part *part)
{
    p->chk_enc = mime_encoding_of(part->cte);
    p->chk_q = p->chk_pad = 0;
    p->chk_done = p->chk_ws = false;
    p->chk_line = 0;
}

/* encoding_check_end - the leaf's body ended: a quantum, a line or an escape cut short. */
static void encoding_check_end(struct mime_parser *p)
{
    if (p->chk_enc == MIME_ENC_BASE64 && ((!p->chk_done && p->chk_q != 0) || b64_line_bad(p)))
        encoding_bad(p);
    else if (p->chk_enc == MIME_ENC_QP && p->chk_q != QPC_TEXT)
        encoding_bad(p);
    p->chk_enc = MIME_ENC_IDENTITY;
}

/* body_bytes - content of the innermost part's body (only text/plain is looked at). */
static void body_bytes(struct mime_parser *p, const char *s, size_t n)
{
    char out[MIME_DECODER_OUT(1024)];

    if (p->chk_enc == MIME_ENC_BASE64)
        b64_check(p, s, n);
    else if (p->chk_enc == MIME_ENC_QP)
        qp_check(p, s, n);
    if (!p->scan)
        return;
    if (p->dec.enc == MIME_ENC_IDENTITY) {
        pgp_scan(p, s, n);
        return;
    }
    while (n > 0 && p->scan) {
        size_t chunk = n < 1024 ? n : 1024;
        pgp_scan(p, out, mime_decoder_feed(&p->dec, s, chunk, out));
        s += chunk;
        n -= chunk;
    }
}

static void scan_start(struct mime_parser *p, const struct mime_part *part)
{
    encoding_check_start(p, part);
    p->scan = strcmp(part->type, "text") == 0 && strcmp(part->subtype, "plain") == 0;
    mime_decoder_init(&p->dec, mime_encoding_of(part->cte));
    p->pgp_col = 0;
    p->pgp_alive = 3;
}

static void scan_end(struct mime_parser *p)
{
    encoding_check_end(p);
    if (p->scan && p->dec.enc != MIME_ENC_IDENTITY) {
        char out[MIME_DECODER_OUT(0)] = {0};
        pgp_scan(p, out, mime_decoder_finish(&p->dec, out));
    }
    p->scan = false;
}

/* ---- header fields ---- */

static bool is_trace_field(const char *name, size_t n)
{
    return mime_eq(name, n, "received") || mime_eq(name, n, "return-path") ||
           mime_prefix(name, n, "resent-") || mime_eq(name, n, "opes-system") ||
           mime_eq(name, n, "opes-via");
}

/* store_cost - what a stored string counts against max_header_total. */
static size_t store_cost(size_t len)
{
    return len + 1 + sizeof(void *);
}

/* field_name_ok - a field name (RFC 5322 3.6.8): printable US-ASCII but ':', not empty. */
static bool field_name_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127 || s[i] == ':')
            return false;
    return n > 0;
}

/* dkim_add_names - the names in the h= tag of a DKIM-Signature value (RFC 6376 3.5). */
static void dkim_add_names(struct mime_parser *p, const char *v, size_t n)
{
    struct mime_message *m = p->m;
    size_t i = 0;

    m->dkim_signatures++;
    while (i < n) {
        size_t semi = i, t0, t1;
        while (semi < n && v[semi] != ';')
            semi++;
        t0 = skip_cfws(v, semi, i);
        t1 = t0;
        while (t1 < semi && v[t1] != '=' && !mime_fws(v[t1]))
            t1++;
        size_t eq = skip_cfws(v, semi, t1);
        if (t1 - t0 == 1 && v[t0] == 'h' && eq < semi && v[eq] == '=') {
            for (size_t k = eq + 1; k < semi;) {
                size_t a = k, b;
                while (a < semi && mime_fws(v[a]))
                    a++;
                b = a;
                while (b < semi && v[b] != ':')
                    b++;
                k = b + 1;
                while (b > a && mime_fws(v[b - 1]))
                    b--;
                if (!field_name_ok(v + a, b - a) ||
                    p->stored_total + store_cost(b - a) > p->lim.max_header_total)
                    continue;
                p->stored_total += store_cost(b - a);
                m->dkim_signed = vec_reserve(m->dkim_signed, &p->dkim_cap, m->ndkim_signed + 1,
                                             sizeof(*m->dkim_signed));
                m->dkim_signed[m->ndkim_signed] = mime_strndup(v + a, b - a);
                mime_lower_str(m->dkim_signed[m->ndkim_signed++]);
            }
        }
        i = semi + 1;
    }
}

/* keep_structural - remember the first Content-* value that shapes the part. */
static void keep_structural(struct mime_parser *p, const char *name, size_t nlen, const char *v,
                            size_t vlen)
{
    char **slot = NULL;

    if (mime_eq(name, nlen, "content-type"))
        slot = &p->ct;
    else if (mime_eq(name, nlen, "content-transfer-encoding"))
        slot = &p->cte;
    else if (mime_eq(name, nlen, "content-disposition"))
        slot = &p->cd;
    if (slot == NULL)
        return;
    if (*slot != NULL)
        part_flag(p, top(p)->part, MIME_F_DUP_FIELD);
    else
        *slot = mime_strndup(v, vlen);
}

/* store_field - add the field to the innermost part unless a limit says no. */
static void store_field(struct mime_parser *p, const char *name, size_t nlen, const char *v,
                        size_t vlen)
{
    struct mime_part *part = top_part(p);
    size_t cost = store_cost(nlen) + store_cost(vlen) + sizeof(struct mime_field);
    struct mime_field *f;

    if (p->block_len > p->lim.max_header_block) {
        hit_limit(p, part, MIME_F_HEADER_TOO_LONG, MIME_L_HEADER_BLOCK);
        return;
    }
    if (part->nfields >= p->lim.max_fields) {
        hit_limit(p, part, MIME_F_LIMIT, MIME_L_FIELDS);
        return;
    }
    if (p->stored_total + cost > p->lim.max_header_total) {
        hit_limit(p, part, MIME_F_LIMIT, MIME_L_HEADER_TOTAL);
        return;
    }
    p->stored_total += cost;
    part->fields =
        vec_reserve(part->fields, &p->fields_cap, part->nfields + 1, sizeof(*part->fields));
    f = &part->fields[part->nfields++];
    f->name = mime_strndup(name, nlen);
    f->value = mime_strndup(v, vlen);
    f->offset = p->field_off;
    f->raw_len = p->field_end - p->field_off;
    f->trace = is_trace_field(name, nlen);
    f->truncated = p->field_cut;
}

/* field_end - the field being read is complete: check, keep, interpret. */
static void field_end(struct mime_parser *p)
{
    const char *s = p->field.data, *colon;
    size_t n = p->field.len, nlen, v0, v1;

    if (!p->field_open)
        return;
    p->field_open = false;
    for (char *nul = n > 0 ? memchr(p->field.data, '\0', n) : NULL; nul != NULL;
         nul = memchr(nul, '\0', n - (size_t)(nul - s)))
        *nul = ' '; /* a C string cannot hold it, and a value must not end early */
    colon = n > 0 ? memchr(s, ':', n) : NULL;
    nlen = colon != NULL ? (size_t)(colon - s) : 0;
    while (nlen > 0 && mime_wsp(s[nlen - 1]))
        nlen--; /* obsolete syntax: white space before the colon */
    if (colon == NULL || !field_name_ok(s, nlen)) {
        part_flag(p, top(p)->part, MIME_F_BAD_HEADER);
        return;
    }
    v0 = (size_t)(colon - s) + 1;
    v1 = n;
    while (v0 < v1 && mime_fws(s[v0]))
        v0++;
    while (v1 > v0 && mime_fws(s[v1 - 1]))
        v1--;
    keep_structural(p, s, nlen, s + v0, v1 - v0);
    if (top(p)->part == 0 && mime_eq(s, nlen, "dkim-signature"))
        dkim_add_names(p, s + v0, v1 - v0);
    store_field(p, s, nlen, s + v0, v1 - v0);
}

/* field_append - more of the current field, cut at max_header_line. */
static void field_append(struct mime_parser *p, const char *s, size_t n)
{
    size_t room = p->lim.max_header_line - p->field.len;

    if (p->field.len >= p->lim.max_header_line)
        room = 0;
    if (n > room) {
        n = room;
        p->field_cut = true;
        hit_limit(p, top_part(p), MIME_F_HEADER_TOO_LONG, MIME_L_FIELD_LEN);
    }
    buf_append(&p->field, s, n);
}

/* header_line - one line of a header block that is not a delimiter (without its line end). */
static void header_line(struct mime_parser *p, const char *s, size_t n, uint64_t eol)
{
    if (mime_wsp(s[0])) {
        if (p->field_open) {
            field_append(p, s, n); /* unfolding: only the line end goes */
            p->field_end = eol;
        } else {
            part_flag(p, top(p)->part, MIME_F_BAD_HEADER);
        }
        return;
    }
    field_end(p);
    p->field.len = 0;
    p->field_cut = false;
    p->field_open = true;
    p->field_off = p->line_start;
    p->field_end = eol;
    field_append(p, s, n);
}

/* ---- the end of a header block: what the part is ---- */

static bool parent_is_digest(const struct mime_parser *p, const struct mime_part *part)
{
    const struct mime_part *parent;

    if (part->parent < 0)
        return false;
    parent = &p->m->parts[part->parent];
    return parent->kind == MIME_KIND_MULTIPART && strcmp(parent->subtype, "digest") == 0;
}

/* keep_params - move parsed parameters into the part, if max_header_total allows. */
static void keep_params(struct mime_parser *p, struct mime_part *part, struct mime_ctval *cv,
                        struct mime_param **ps, size_t *n)
{
    size_t cost = 0;

    for (size_t i = 0; i < cv->nparams; i++)
        cost += store_cost(strlen(cv->params[i].name)) + store_cost(strlen(cv->params[i].value));
    if (cv->flags & MIME_F_LIMIT)
        p->m->limits |= MIME_L_PARAMS;
    if (p->stored_total + cost > p->lim.max_header_total) {
        hit_limit(p, part, MIME_F_LIMIT, MIME_L_HEADER_TOTAL);
        return;
    }
    p->stored_total += cost;
    *ps = cv->params;
    *n = cv->nparams;
    cv->params = NULL;
    cv->nparams = 0;
}

/* apply_type - type, subtype and parameters; returns the raw boundary (caller frees). */
static char *apply_type(struct mime_parser *p, struct mime_part *part, size_t *blen)
{
    struct mime_ctval cv;
    bool ok = false;
    char *boundary;

    memset(&cv, 0, sizeof(cv));
    if (p->ct != NULL) {
        ok = parse_ctval(p->ct, strlen(p->ct), true, &cv);
        if (!ok)
            part->flags |= MIME_F_BAD_HEADER;
    }
    if (ok) {
        part->type = cv.type;
        part->subtype = cv.subtype;
        cv.type = cv.subtype = NULL;
    } else if (parent_is_digest(p, part)) {
        part->type = mime_strndup("message", 7);
        part->subtype = mime_strndup("rfc822", 6);
    } else {
        part->type = mime_strndup("text", 4);
        part->subtype = mime_strndup("plain", 5);
    }
    part->flags |= cv.flags;
    keep_params(p, part, &cv, &part->params, &part->nparams);
    boundary = cv.boundary;
    *blen = cv.blen;
    cv.boundary = NULL;
    ctval_free(&cv);
    return boundary;
}

/*
 * cte_may_decode - an unknown Content-Transfer-Encoding value that some
 * reader may still decode ("quoted printable", "x-uuencode", "base-64"):
 * readers disagree on it. Other unknown values ("7-bit", "plain") are read
 * as they are by all.
 */
static bool cte_may_decode(const char *v)
{
    static const char *const words[] = {"base", "64",   "quoted", "printable",
                                        "uu",   "gzip", "binhex"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(v, words[i]) != NULL)
            return true;
    return false;
}

static void apply_cte(struct mime_parser *p, struct mime_part *part)
{
    const char *v = p->cte != NULL ? p->cte : "";
    size_t n = strlen(v), i = skip_cfws(v, n, 0), e = scan_token(v, n, i);

    part->cte = e > i ? mime_strndup(v + i, e - i) : mime_strndup("7bit", 4);
    mime_lower_str(part->cte);
    if (mime_encoding_of(part->cte) == MIME_ENC_IDENTITY && cte_may_decode(v))
        part->flags |= MIME_F_BAD_CTE;
}

static void apply_disposition(struct mime_parser *p, struct mime_part *part)
{
    struct mime_ctval cv;
    const char *name;

    if (p->cd != NULL) {
        parse_ctval(p->cd, strlen(p->cd), false, &cv);
        part->disposition = cv.type;
        cv.type = NULL;
        part->flags |= cv.flags;
        keep_params(p, part, &cv, &part->disp_params, &part->ndisp_params);
        ctval_free(&cv);
    }
    name = params_get(part->disp_params, part->ndisp_params, "filename");
    if (name == NULL || *name == '\0')
        name = params_get(part->params, part->nparams, "name");
    if (name != NULL && *name != '\0')
        part->filename = mime_strndup(name, strlen(name));
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
    size_t n = s != NULL ? strlen(s) : 0, k = strlen(suffix);

    return n >= k && mime_streq_nocase(s + n - k, suffix);
}

/* apply_protected - PROTOCOL.md 27: signed or encrypted content at this part. */
static void apply_protected(struct mime_part *part)
{
    const char *t = part->type, *s = part->subtype;
    const char *name = params_get(part->params, part->nparams, "name");

    if (strcmp(t, "multipart") == 0 && strcmp(s, "signed") == 0)
        part->protected |= MIME_P_SIGNED;
    if (strcmp(t, "multipart") == 0 && strcmp(s, "encrypted") == 0)
        part->protected |= MIME_P_ENCRYPTED;
    if (strcmp(t, "application") == 0 &&
        (strcmp(s, "pkcs7-mime") == 0 || strcmp(s, "x-pkcs7-mime") == 0))
        part->protected |= MIME_P_PKCS7;
    if (ends_with_nocase(part->filename, ".p7m") || ends_with_nocase(name, ".p7m"))
        part->protected |= MIME_P_PKCS7;
    if (strcmp(t, "application") == 0 && strcmp(s, "pgp-encrypted") == 0)
        part->protected |= MIME_P_PGP_ENCRYPTED;
}

/* open_multipart - the innermost part splits at its boundary from now on. */
static void open_multipart(struct mime_parser *p, char *boundary, size_t blen)
{
    struct mime_frame *f = top(p);

    for (size_t j = 0; j + 1 < p->nstack; j++) {
        const struct mime_frame *o = &p->stack[j];
        size_t shorter = o->blen < blen ? o->blen : blen;
        if (o->boundary == NULL || o->state == MP_EPILOGUE ||
            memcmp(o->boundary, boundary, shorter) != 0)
            continue;
        if (o->blen == blen)
            part_flag(p, f->part, MIME_F_BAD_BOUNDARY); /* innermost wins */
        else
            part_flag(p, f->part, MIME_F_PREFIX_BOUNDARY);
    }
    f->boundary = boundary;
    f->blen = blen;
    f->state = MP_PREAMBLE;
    p->m->parts[f->part].kind = MIME_KIND_MULTIPART;
}

/* choose_kind - how the body is read: split, nested message, or content. */
static void choose_kind(struct mime_parser *p, char *boundary, size_t blen)
{
    size_t idx = top(p)->part;
    struct mime_part *part = &p->m->parts[idx];
    bool nested_room = part->depth + 1 <= p->lim.max_depth;

    if (strcmp(part->type, "multipart") == 0) {
        if (mime_encoding_of(part->cte) != MIME_ENC_IDENTITY)
            part->flags |= MIME_F_BAD_CTE; /* some readers decode it first */
        if (boundary == NULL)
            part->flags |= MIME_F_BAD_BOUNDARY;
        else if (!nested_room)
            hit_limit(p, part, MIME_F_LIMIT, MIME_L_DEPTH);
        else {
            open_multipart(p, boundary, blen);
            return;
        }
    } else if (strcmp(part->type, "message") == 0 &&
               (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0)) {
        if (mime_encoding_of(part->cte) != MIME_ENC_IDENTITY) {
            part->flags |= MIME_F_ENCODED_CONTAINER;
        } else if (!nested_room) {
            hit_limit(p, part, MIME_F_LIMIT, MIME_L_DEPTH);
        } else if (p->m->nparts >= p->lim.max_parts) {
            hit_limit(p, part, MIME_F_LIMIT, MIME_L_PARTS);
        } else {
            part->kind = MIME_KIND_MESSAGE;
            new_part(p, (int)idx, part->depth + 1, part->body_start);
            p->m->parts[p->m->nparts - 1].is_message = true;
            free(boundary);
            return;
        }
    }
    free(boundary);
    scan_start(p, part);
}

/* header_finish - the header block of the innermost part ends; its body starts at body_start. */
static void header_finish(struct mime_parser *p, uint64_t body_start)
{
    size_t idx = top(p)->part, blen = 0;
    struct mime_part *part;
    char *boundary;

    field_end(p);
    part = &p->m->parts[idx];
    part->body_start = part->body_end = mime_max64(body_start, part->header_start);
    boundary = apply_type(p, part, &blen);
    apply_cte(p, part);
    apply_disposition(p, part);
    apply_protected(part);
    free(p->ct);
    free(p->cte);
    free(p->cd);
    p->ct = p->cte = p->cd = NULL;
    p->phase = PH_BODY;
    p->at_bol = true;
    p->head.len = 0;
    choose_kind(p, boundary, blen);
    part = &p->m->parts[idx];
    part->attachment =
        (part->disposition != NULL && strcmp(part->disposition, "attachment") == 0) ||
        (part->kind == MIME_KIND_LEAF && part->filename != NULL);
    update_head_need(p);
}

/* ---- delimiters and the end of parts ---- */

static uint64_t mime_min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* close_frame - the innermost frame goes; its offsets were set by end_frames(). */
static void close_frame(struct mime_parser *p)
{
    struct mime_frame *f = top(p);
    struct mime_part *part = &p->m->parts[f->part];

    scan_end(p);
    if (part->kind == MIME_KIND_MULTIPART) {
        if (f->state == MP_PREAMBLE)
            part->preamble_end = part->body_end;
        if (f->state != MP_EPILOGUE) {
            part->epilogue_start = part->body_end;
            part->flags |= MIME_F_TRUNCATED;
        } else if (part->epilogue_start > part->body_end) {
            /* an enclosing delimiter right after the close one takes its line end */
            part->epilogue_start = part->body_end;
        }
    }
    free(f->boundary);
    f->boundary = NULL;
    p->nstack--;
}

/*
 * end_frames - the parts open above stack level keep end at e: the line end
 * before a delimiter (or the end of the input). What began after e is empty
 * and moves to e: a blank line that seemed to end a header was the line end
 * of the delimiter, and a part opened on the line before the delimiter holds
 * nothing. Outer parts first, so that each stays inside its parent.
 */
static void end_frames(struct mime_parser *p, size_t keep, uint64_t e)
{
    uint64_t floor = 0;

    for (size_t j = keep; j < p->nstack; j++) {
        struct mime_part *part = &p->m->parts[p->stack[j].part];
        part->header_start = mime_max64(mime_min64(part->header_start, e), floor);
        part->body_start = mime_max64(mime_min64(part->body_start, e), part->header_start);
        part->body_end = mime_max64(e, part->body_start);
        floor = part->body_start;
    }
    while (p->nstack > keep)
        close_frame(p);
}

/*
 * on_delim - a delimiter of the multipart at stack level lvl starts this
 * line. The line end before it belongs to it: every part inside ends there.
 */
static void on_delim(struct mime_parser *p, size_t lvl, bool close)
{
    uint64_t e = p->prev_eol;
    struct mime_frame *f;
    struct mime_part *part;

    while (p->phase == PH_HEADER)
        header_finish(p, e);
    end_frames(p, lvl + 1, e);
    f = top(p);
    part = &p->m->parts[f->part];
    if (f->state == MP_PREAMBLE)
        part->preamble_end = mime_max64(e, part->body_start);
    f->state = close ? MP_EPILOGUE : MP_CHILD;
    p->delim_close = close;
    p->phase = PH_DELIM;
    p->at_bol = false;
    p->head.len = 0;
    update_head_need(p);
}

/* delim_line_end - after the delimiter line: the epilogue, or the next body part. */
static void delim_line_end(struct mime_parser *p)
{
    struct mime_frame *f = top(p);
    struct mime_part *part = &p->m->parts[f->part];

    if (p->delim_close) {
        part->epilogue_start = p->off;
    } else if (p->m->nparts >= p->lim.max_parts) {
        f->state = MP_SKIP;
        hit_limit(p, part, MIME_F_LIMIT, MIME_L_PARTS);
    } else {
        new_part(p, (int)f->part, part->depth + 1, p->off);
        return;
    }
    p->phase = PH_BODY;
    p->at_bol = true;
}

/* ---- lines ---- */

/* line_end - bookkeeping once a line (ending at eol, before its CRLF or LF) is done. */
static void line_end(struct mime_parser *p, uint64_t eol)
{
    p->prev_eol = eol;
    p->line_start = p->off;
}

/* header_line_end - a complete header line is in p->line (eol: where its line end began). */
static void header_line_end(struct mime_parser *p, uint64_t eol, bool cr)
{
    const char *s = p->line.data != NULL ? p->line.data : "";
    size_t n = p->line.len, lvl;
    bool close;

    if (cr && n == p->line_len && n > 0)
        n--; /* the CR of CRLF */
    if (match_delim(p, s, n, &lvl, &close)) {
        on_delim(p, lvl, close);
        delim_line_end(p);
    } else if (n == 0) {
        header_finish(p, p->off);
    } else {
        header_line(p, s, n, eol);
    }
    p->line.len = 0;
    p->line_len = 0;
    line_end(p, eol);
}

static size_t feed_header(struct mime_parser *p, const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t take = lf != NULL ? (size_t)(lf - s) : n;
    size_t cap = p->lim.max_header_line + 8;
    uint64_t eol;
    bool cr;

    if (p->line.len < cap)
        buf_append(&p->line, s, take < cap - p->line.len ? take : cap - p->line.len);
    if (take > 0)
        p->last = s[take - 1];
    p->line_len += take;
    p->off += take;
    p->block_len += take;
    if (lf == NULL)
        return take;
    cr = p->line_len > 0 && p->last == '\r';
    eol = p->off - (cr ? 1 : 0);
    if (!cr)
        part_flag(p, top(p)->part, MIME_F_BARE_LF);
    p->off++;
    p->block_len++;
    p->last = '\n';
    header_line_end(p, eol, cr);
    return take + 1;
}

/* feed_delim - the rest of a delimiter line (transport padding or junk) is skipped. */
static size_t feed_delim(struct mime_parser *p, const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t take = lf != NULL ? (size_t)(lf - s) : n;
    uint64_t eol;

    if (take > 0)
        p->last = s[take - 1];
    p->off += take;
    if (lf == NULL)
        return take;
    eol = p->off - (p->last == '\r' ? 1 : 0);
    if (p->last != '\r')
        part_flag(p, top(p)->part, MIME_F_BARE_LF);
    p->off++;
    p->last = '\n';
    line_end(p, eol);
    delim_line_end(p);
    return take + 1;
}

/*
 * after_close - a body line that starts with the delimiter of a multipart
 * already closed: content a lenient reader takes for more parts.
 */
static void after_close(struct mime_parser *p, const char *h, size_t n)
{
    if (n < 2 || h[0] != '-' || h[1] != '-')
        return;
    for (size_t j = 0; j < p->nstack; j++) {
        const struct mime_frame *f = &p->stack[j];
        if (f->boundary != NULL && f->state == MP_EPILOGUE && n >= 2 + f->blen &&
            memcmp(h + 2, f->boundary, f->blen) == 0)
            part_flag(p, f->part, MIME_F_AFTER_CLOSE);
    }
}

/* head_decide - the head of a body line is known: a delimiter, or content to pass on. */
static void head_decide(struct mime_parser *p)
{
    size_t lvl;
    bool close;

    p->at_bol = false;
    if (match_delim(p, p->head.data, p->head.len, &lvl, &close)) {
        on_delim(p, lvl, close);
        return;
    }
    after_close(p, p->head.data, p->head.len);
    body_bytes(p, p->head.data, p->head.len);
    p->head.len = 0;
}

/* collect_head - gather the first bytes of a body line; returns bytes used. */
static size_t collect_head(struct mime_parser *p, const char *s, size_t n)
{
    size_t want = p->head_need - p->head.len, take;
    const char *lf;

    if (p->head.len == 0 && s[0] != '-') {
        p->at_bol = false; /* cannot be a delimiter: the common case */
        return 0;
    }
    take = n < want ? n : want;
    lf = memchr(s, '\n', take);
    if (lf != NULL)
        take = (size_t)(lf - s);
    buf_append(&p->head, s, take);
    p->off += take;
    if (take > 0)
        p->last = s[take - 1];
    if (lf != NULL || p->head.len == p->head_need || p->head.data[0] != '-')
        head_decide(p);
    return take;
}

/* stream_body - body bytes up to and including the next LF. */
static size_t stream_body(struct mime_parser *p, const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t take = lf != NULL ? (size_t)(lf - s) + 1 : n;
    uint64_t lf_off, eol;
    bool cr;

    body_bytes(p, s, take);
    if (lf == NULL) {
        p->last = s[n - 1];
        p->off += n;
        return n;
    }
    lf_off = p->off + take - 1;
    cr = lf_off > p->line_start && (lf > s ? lf[-1] : p->last) == '\r';
    eol = lf_off - (cr ? 1 : 0);
    if (!cr)
        part_flag(p, top(p)->part, MIME_F_BARE_LF);
    p->off = lf_off + 1;
    p->last = '\n';
    line_end(p, eol);
    p->at_bol = true;
    return take;
}

static size_t feed_body(struct mime_parser *p, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && p->phase == PH_BODY) {
        if (p->at_bol && p->head_need > 0) {
            size_t used = collect_head(p, s + i, n - i);
            i += used;
            if (p->at_bol)
                break; /* the head needs more input */
        } else {
            i += stream_body(p, s + i, n - i);
        }
    }
    return i;
}

void mime_parser_feed(struct mime_parser *p, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (p->phase == PH_HEADER)
            i += feed_header(p, data + i, len - i);
        else if (p->phase == PH_DELIM)
            i += feed_delim(p, data + i, len - i);
        else
            i += feed_body(p, data + i, len - i);
    }
}

/* ---- life cycle ---- */

struct mime_parser *mime_parser_new(const struct mime_limits *lim)
{
    struct mime_parser *p = mime_zalloc(sizeof(*p));

    if (lim != NULL)
        p->lim = *lim;
    else
        mime_limits_default(&p->lim);
    if (p->lim.max_parts == 0)
        p->lim.max_parts = 1;
    if (p->lim.max_depth > p->lim.max_parts)
        p->lim.max_depth =
            (unsigned)(p->lim.max_parts < MIME_DEPTH_CAP ? p->lim.max_parts : MIME_DEPTH_CAP);
    if (p->lim.max_depth > MIME_DEPTH_CAP)
        p->lim.max_depth = MIME_DEPTH_CAP; /* the stack is allocated at this size */
    if (p->lim.max_header_line == 0)
        p->lim.max_header_line = 1;
    p->m = mime_zalloc(sizeof(*p->m));
    p->m->lim = p->lim;
    p->stack = mime_zalloc((p->lim.max_depth + 2) * sizeof(*p->stack));
    new_part(p, -1, 0, 0);
    p->m->parts[0].is_message = true;
    return p;
}

static void message_totals(struct mime_message *m, uint64_t size)
{
    m->size = size;
    m->fields = m->parts[0].fields;
    m->nfields = m->parts[0].nfields;
    for (size_t i = 0; i < m->nparts; i++) {
        m->flags |= m->parts[i].flags;
        m->protected |= m->parts[i].protected;
    }
}

struct mime_message *mime_parser_finish(struct mime_parser **pp)
{
    struct mime_parser *p = *pp;
    struct mime_message *m;

    if (p == NULL)
        return NULL;
    if (p->phase == PH_HEADER && p->line_len > 0) {
        bool cr = p->last == '\r';
        header_line_end(p, p->off - (cr ? 1 : 0), cr);
    } else if (p->phase == PH_BODY && p->at_bol && p->head.len > 0) {
        head_decide(p);
    }
    if (p->phase == PH_DELIM)
        delim_line_end(p);
    while (p->phase == PH_HEADER)
        header_finish(p, p->off);
    end_frames(p, 0, p->off);
    m = p->m;
    p->m = NULL;
    message_totals(m, p->off);
    mime_parser_free(pp);
    return m;
}

void mime_parser_free(struct mime_parser **pp)
{
    struct mime_parser *p = *pp;

    if (p == NULL)
        return;
    for (size_t j = 0; j < p->nstack; j++)
        free(p->stack[j].boundary);
    free(p->stack);
    buf_free(&p->line);
    buf_free(&p->field);
    buf_free(&p->head);
    free(p->ct);
    free(p->cte);
    free(p->cd);
    mime_message_free(&p->m);
    free(p);
    *pp = NULL;
}

struct mime_message *mime_parse(const char *data, size_t len, const struct mime_limits *lim)
{
    struct mime_parser *p = mime_parser_new(lim);

    mime_parser_feed(p, data, len);
    return mime_parser_finish(&p);
}

static void params_free(struct mime_param *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
}

static void part_free(struct mime_part *part)
{
    free(part->type);
    free(part->subtype);
    free(part->cte);
    free(part->disposition);
    free(part->filename);
    params_free(part->params, part->nparams);
    params_free(part->disp_params, part->ndisp_params);
    for (size_t i = 0; i < part->nfields; i++) {
        free(part->fields[i].name);
        free(part->fields[i].value);
    }
    free(part->fields);
}

void mime_message_free(struct mime_message **mp)
{
    struct mime_message *m = *mp;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nparts; i++)
        part_free(&m->parts[i]);
    free(m->parts);
    for (size_t i = 0; i < m->ndkim_signed; i++)
        free(m->dkim_signed[i]);
    free(m->dkim_signed);
    free(m);
    *mp = NULL;
}

/* ---- lookups ---- */

const char *mime_header_get(const struct mime_message *m, int index, const char *name)
{
    const struct mime_part *part;

    if (index < 0)
        index = 0;
    if ((size_t)index >= m->nparts)
        return NULL;
    part = &m->parts[index];
    for (size_t i = 0; i < part->nfields; i++)
        if (mime_streq_nocase(part->fields[i].name, name))
            return part->fields[i].value;
    return NULL;
}

/* mime_names_text - "a (max N), b" for the bits of mask that are set, into out. */
struct mime_bit_name {
    unsigned bit;
    const char *name;
    size_t max;
};

static char *mime_names_text(const struct mime_bit_name *t, size_t nt, unsigned mask, char *out,
                             size_t size)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < nt && o < size; i++) {
        if (!(mask & t[i].bit))
            continue;
        if (t[i].max > 0)
            o += (size_t)snprintf(out + o, size - o, "%s%s (max %zu)", o ? ", " : "", t[i].name,
                                  t[i].max);
        else
            o += (size_t)snprintf(out + o, size - o, "%s%s", o ? ", " : "", t[i].name);
    }
    return out;
}

char *mime_limit_text(const struct mime_message *m, char *out, size_t size)
{
    const struct mime_limits *lim = &m->lim;
    const struct mime_bit_name t[] = {
        {MIME_L_FIELDS, "header fields", lim->max_fields},
        {MIME_L_FIELD_LEN, "field length", lim->max_header_line},
        {MIME_L_HEADER_BLOCK, "header size", lim->max_header_block},
        {MIME_L_HEADER_TOTAL, "header text in all", lim->max_header_total},
        {MIME_L_PARAMS, "parameters", MIME_MAX_PARAMS},
        {MIME_L_DEPTH, "nesting depth", lim->max_depth},
        {MIME_L_PARTS, "parts", lim->max_parts},
    };
    return mime_names_text(t, sizeof(t) / sizeof(t[0]), m->limits, out, size);
}

char *mime_ambiguity_text(unsigned flags, char *out, size_t size)
{
    static const struct mime_bit_name t[] = {
        {MIME_F_DUP_FIELD, "Content-Type, -Disposition or -Transfer-Encoding twice", 0},
        {MIME_F_DUP_BOUNDARY, "two boundary parameters", 0},
        {MIME_F_BAD_BOUNDARY, "a multipart without a boundary or with its parent's", 0},
        {MIME_F_PREFIX_BOUNDARY, "a boundary that is a prefix of another", 0},
        {MIME_F_AFTER_CLOSE, "parts after the close delimiter", 0},
        {MIME_F_BAD_CTE, "an unknown or misplaced transfer encoding", 0},
        {MIME_F_BAD_BASE64, "a base64 body that decoders read differently", 0},
        {MIME_F_BAD_QP, "a quoted-printable escape that decoders read differently", 0},
    };
    return mime_names_text(t, sizeof(t) / sizeof(t[0]), flags, out, size);
}

size_t mime_part_names(const struct mime_part *p, const char **names, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < p->ndisp_params && n < max; i++)
        if (strcmp(p->disp_params[i].name, "filename") == 0 && p->disp_params[i].value[0] != '\0')
            names[n++] = p->disp_params[i].value;
    for (size_t i = 0; i < p->nparams && n < max; i++)
        if (strcmp(p->params[i].name, "name") == 0 && p->params[i].value[0] != '\0')
            names[n++] = p->params[i].value;
    return n;
}

const char *mime_part_param(const struct mime_part *p, const char *name)
{
    return params_get(p->params, p->nparams, name);
}

size_t mime_dkim_signed_headers(const struct mime_message *m, const char **names, size_t max)
{
    for (size_t i = 0; i < m->ndkim_signed && i < max; i++)
        names[i] = m->dkim_signed[i];
    return m->ndkim_signed;
}

bool mime_dkim_signs(const struct mime_message *m, const char *name)
{
    for (size_t i = 0; i < m->ndkim_signed; i++)
        if (mime_streq_nocase(m->dkim_signed[i], name))
            return true;
    return false;
}

bool mime_header_find(const char *hdr, size_t len, const char *name, bool decode, char *out,
                      size_t size)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mime_message *m;
    const char *v;

    lim.max_depth = 0; /* the header is what is wanted, not the structure below it */
    lim.max_parts = 1;
    m = mime_parse(hdr, len, &lim);
    v = mime_header_get(m, -1, name);
    if (v != NULL)
        mime_field_text(v, decode, out, size);
    mime_message_free(&m);
    return v != NULL;
}

/* ---- decoding a part's body for the scanners ---- */

ssize_t mime_buffer_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const struct mime_buffer *b = ctx;
    size_t n;

    if (offset >= b->len)
        return 0;
    n = b->len - (size_t)offset < len ? b->len - (size_t)offset : len;
    memcpy(buf, b->data + offset, n);
    return (ssize_t)n;
}

int mime_part_decode(const struct mime_message *m, size_t index, mime_read_fn reader,
                     void *read_ctx, mime_write_fn writer, void *write_ctx, const char **error_r)
{
    enum { CHUNK = 16384 };
    char in[CHUNK], out[MIME_DECODER_OUT(CHUNK)];
    struct mime_decoder d;
    const struct mime_part *part;
    uint64_t pos, end;
    size_t n;

    if (index >= m->nparts) {
        *error_r = "no such part";
        return -1;
    }
    part = &m->parts[index];
    if (part->kind == MIME_KIND_MULTIPART) {
        *error_r = "a multipart has no body of its own";
        return -1;
    }
    mime_decoder_init(&d, mime_encoding_of(part->cte));
    for (pos = part->body_start, end = part->body_end; pos < end; pos += n) {
        size_t want = end - pos < CHUNK ? (size_t)(end - pos) : CHUNK;
        ssize_t got = reader(read_ctx, pos, in, want);
        if (got <= 0) {
            *error_r = got < 0 ? "cannot read the message" : "the message is shorter than parsed";
            return -1;
        }
        n = (size_t)got;
        size_t o = mime_decoder_feed(&d, in, n, out);
        if (o > 0 && writer(write_ctx, out, o) < 0) {
            *error_r = "the consumer stopped";
            return -1;
        }
    }
    n = mime_decoder_finish(&d, out);
    if (n > 0 && writer(write_ctx, out, n) < 0) {
        *error_r = "the consumer stopped";
        return -1;
    }
    return 0;
}

/* A mime_write_fn into memory, up to a bound. */
struct mime_membody {
    struct mime_buf b;
    size_t max;
    bool cut;
};

static int mime_membody_write(void *ctx, const void *data, size_t len)
{
    struct mime_membody *mb = ctx;
    size_t room = mb->max - mb->b.len;

    if (len > room) {
        buf_append(&mb->b, data, room);
        mb->cut = true;
        return -1; /* enough: the rest is not decoded */
    }
    buf_append(&mb->b, data, len);
    return 0;
}

char *mime_part_body(const struct mime_message *m, size_t index, const char *data, size_t len,
                     size_t max, size_t *len_r, bool *cut)
{
    struct mime_buffer in = {data, len};
    struct mime_membody mb = {.max = max};
    const char *error;

    if (mime_part_decode(m, index, mime_buffer_read, &in, mime_membody_write, &mb, &error) < 0 &&
        !mb.cut) {
        buf_free(&mb.b);
        return NULL;
    }
    *len_r = mb.b.len;
    *cut = mb.cut;
    return buf_take(&mb.b);
}
