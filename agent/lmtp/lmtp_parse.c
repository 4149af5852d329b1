/*
 * lmtp_parse.c - LMTP command, path, parameter, xtext and reply parsing.
 *
 * Pure functions over bytes: no sockets, no allocation. The grammar follows
 * RFC 5321 4.1.2 (paths) and 4.2 (replies), RFC 3461 4 (xtext) and RFC 2034
 * (enhanced status codes).
 */
#include "opes/lmtp_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const struct lmtp_parse_limits lmtp_parse_limits_default = {
    .max_command_line = 4096,
    .max_param_len = LMTP_PARAM_LEN_MAX,
    .max_params = LMTP_PARAMS_MAX,
};

int lmtp_parse_command(char *line, size_t len, const struct lmtp_parse_limits *limits,
                       char **verb_r, char **args_r)
{
    size_t i = 0;
    char *p;

    if (limits == NULL)
        limits = &lmtp_parse_limits_default;
    if (len + 2 > limits->max_command_line)
        return LMTP_PARSE_TOO_LONG;
    if (strlen(line) != len)
        return -1; /* NUL inside */
    for (p = line; *p != '\0'; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return -1;
    while (i < len && isalpha((unsigned char)line[i])) {
        line[i] = (char)toupper((unsigned char)line[i]);
        i++;
    }
    if (i == 0 || (i < len && line[i] != ' ' && line[i] != '\t'))
        return -1;
    *verb_r = line;
    if (i < len) {
        line[i++] = '\0';
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
    }
    *args_r = line + i;
    return 0;
}

static bool lmtp_atext(unsigned char c, bool utf8)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL) ||
           (utf8 && c >= 0x80);
}

/* lmtp_scan_local - length of a dot-string or quoted-string local part, or 0. */
static size_t lmtp_scan_local(const char *s, bool utf8)
{
    size_t i = 0;

    if (s[0] == '"') {
        for (i = 1; s[i] != '"'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                i++; /* quoted-pairSMTP: %d92 %d32-126 (RFC 5321 4.1.2, unchanged by 6531) */
                if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
                    return 0;
            } else if (c < 32 || c == 127 || (c >= 0x80 && !utf8)) {
                return 0;
            }
        }
        return i + 1;
    }
    while (lmtp_atext((unsigned char)s[i], utf8))
        i++;
    return i;
}

/* lmtp_scan_domain - length of a domain or address literal, or 0. */
static size_t lmtp_scan_domain(const char *s, bool utf8)
{
    size_t i = 0;

    if (s[0] == '[') {
        /* an address literal is ASCII, with or without SMTPUTF8 */
        for (i = 1; s[i] != ']'; i++)
            if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127 || s[i] == '[' ||
                s[i] == '\\')
                return 0;
        return i > 1 ? i + 1 : 0;
    }
    while (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.' ||
           (utf8 && (unsigned char)s[i] >= 0x80))
        i++;
    if (i == 0 || s[0] == '.' || s[0] == '-' || s[i - 1] == '-')
        return 0;
    return i;
}

/* lmtp_utf8_valid - is s[0..n) well-formed UTF-8 (RFC 3629: shortest form, no surrogates,
 * at most U+10FFFF)? */
static bool lmtp_utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        unsigned char lo = 0x80, hi = 0xbf;

        if (len == 0 || i + len > n)
            return false;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong 3-byte form */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
        else if (c == 0xf0)
            lo = 0x90; /* no overlong 4-byte form */
        else if (c == 0xf4)
            hi = 0x8f; /* nothing over U+10FFFF */
        for (size_t k = 1; k < len; k++) {
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xbf))
                return false;
        }
        i += len;
    }
    return true;
}

int lmtp_parse_path(const char *args, const char *keyword, bool allow_null, bool utf8, char *addr,
                    const char **params_r, const char **error_r)
{
    size_t klen = strlen(keyword), n;
    const char *p = args, *start;

    if (strncasecmp(p, keyword, klen) != 0) {
        *error_r = "Syntax: expected a path after the keyword";
        return -1;
    }
    p += klen;
    while (*p == ' ')
        p++;
    if (*p++ != '<') {
        *error_r = "Syntax: path must be enclosed in <>";
        return -1;
    }
    /* A-d-l: obsolete source route, accepted and dropped (RFC 5321 4.1.2) */
    if (*p == '@') {
        const char *colon = strchr(p, ':');
        const char *gt = strchr(p, '>');
        if (colon == NULL || (gt != NULL && gt < colon)) {
            *error_r = "Syntax: bad source route";
            return -1;
        }
        p = colon + 1;
    }
    start = p;
    if (*p == '>') {
        if (!allow_null) {
            *error_r = "Syntax: empty address";
            return -1;
        }
    } else {
        n = lmtp_scan_local(p, utf8);
        if (n == 0) {
            *error_r = "Syntax: bad local part";
            return -1;
        }
        p += n;
        if (*p == '@') {
            n = lmtp_scan_domain(++p, utf8);
            if (n == 0) {
                *error_r = "Syntax: bad domain";
                return -1;
            }
            p += n;
        } else if (allow_null || (size_t)(p - start) != 10 ||
                   strncasecmp(start, "postmaster", 10) != 0) {
            *error_r = "Syntax: address must be local@domain";
            return -1;
        }
    }
    if (*p != '>') {
        *error_r = "Syntax: unexpected character in address";
        return -1;
    }
    n = (size_t)(p - start);
    if (n > LMTP_ADDR_MAX - 2) {
        *error_r = "Syntax: address too long";
        return -1;
    }
    if (utf8 && !lmtp_utf8_valid((const unsigned char *)start, n)) {
        *error_r = "Address is not valid UTF-8";
        return LMTP_PARSE_BAD_UTF8;
    }
    memcpy(addr, start, n);
    addr[n] = '\0';
    p++;
    if (*p != '\0' && *p != ' ') {
        *error_r = "Syntax: garbage after the path";
        return -1;
    }
    while (*p == ' ')
        p++;
    *params_r = p;
    return 0;
}

int lmtp_parse_params(char *s, struct lmtp_param *out, const struct lmtp_parse_limits *limits)
{
    size_t n = 0, max;

    if (limits == NULL)
        limits = &lmtp_parse_limits_default;
    max = limits->max_params < LMTP_PARAMS_MAX ? limits->max_params : LMTP_PARAMS_MAX;
    while (*s != '\0') {
        char *name = s, *eq;
        while (*s != '\0' && *s != ' ')
            s++;
        if ((size_t)(s - name) > limits->max_param_len)
            return LMTP_PARSE_TOO_LONG;
        if (*s == ' ') {
            *s++ = '\0';
            while (*s == ' ')
                s++;
        }
        if (n == max)
            return -1;
        eq = strchr(name, '=');
        if (eq != NULL)
            *eq = '\0';
        if (*name == '\0')
            return -1;
        for (char *q = name; *q != '\0'; q++) {
            if (!isalnum((unsigned char)*q) && *q != '-')
                return -1;
            *q = (char)toupper((unsigned char)*q);
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(out[i].name, name) == 0)
                return -1;
        out[n].name = name;
        out[n].value = eq != NULL ? eq + 1 : NULL;
        if (eq != NULL)
            for (char *q = eq + 1; *q != '\0'; q++)
                if ((unsigned char)*q < 33 || *q == 127)
                    return -1;
        n++;
    }
    return (int)n;
}

static int lmtp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* RFC 3461: uppercase hex only */
}

int lmtp_xtext_decode(const char *in, char *out, size_t outsize)
{
    size_t o = 0;

    for (const char *p = in; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (o + 1 >= outsize)
            return -1;
        if (c == '+') {
            int hi = lmtp_hexval(p[1]), lo = hi < 0 ? -1 : lmtp_hexval(p[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            p += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return (int)o;
}

int lmtp_parse_orcpt(const char *value, char *out, size_t outsize)
{
    size_t tlen;
    int n;

    if (value == NULL || strlen(value) > LMTP_ORCPT_MAX)
        return -1;
    tlen = strcspn(value, ";");
    if (tlen == 0 || value[tlen] != ';' || tlen + 2 > outsize)
        return -1;
    for (size_t i = 0; i < tlen; i++)
        if (!isalnum((unsigned char)value[i]) && value[i] != '-')
            return -1;
    memcpy(out, value, tlen + 1);
    n = lmtp_xtext_decode(value + tlen + 1, out + tlen + 1, outsize - tlen - 1);
    if (n <= 0)
        return -1;
    for (const char *q = out + tlen + 1; *q != '\0'; q++)
        if ((unsigned char)*q < 32 || (unsigned char)*q > 126)
            return -1; /* RFC 3461 4.2: printable US-ASCII before encoding */
    return 0;
}

int lmtp_xtext_encode(const char *in, char *out, size_t outsize)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
            if (o + 4 > outsize)
                return -1;
            snprintf(out + o, 4, "+%02X", *p);
            o += 3;
        } else {
            if (o + 2 > outsize)
                return -1;
            out[o++] = (char)*p;
        }
    }
    if (outsize == 0)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* lmtp_enh_part - 1 to max digits, no leading zero unless "0"; returns chars used or 0. */
static size_t lmtp_enh_part(const char *p, size_t max)
{
    size_t n = 0;
    while (n < max && isdigit((unsigned char)p[n]))
        n++;
    if (n == 0 || isdigit((unsigned char)p[n]) || (n > 1 && p[0] == '0'))
        return 0;
    return n;
}

bool lmtp_enh_valid(const char *enh, int code)
{
    size_t n;
    const char *p = enh;

    if ((p[0] != '2' && p[0] != '4' && p[0] != '5') || p[0] - '0' != code / 100 || p[1] != '.')
        return false;
    p += 2;
    if ((n = lmtp_enh_part(p, 3)) == 0 || p[n] != '.')
        return false;
    p += n + 1;
    return (n = lmtp_enh_part(p, 3)) != 0 && p[n] == '\0';
}

void lmtp_reply_parser_init(struct lmtp_reply_parser *p)
{
    memset(p, 0, sizeof(*p));
}

/* lmtp_reply_append - add one line's text, truncating at the buffer end. */
static void lmtp_reply_append(struct lmtp_reply *r, const char *text, size_t len)
{
    size_t have = strlen(r->text), room;

    if (have > 0 && have + 1 < sizeof(r->text))
        r->text[have++] = '\n';
    room = sizeof(r->text) - 1 - have;
    if (len > room)
        len = room;
    memcpy(r->text + have, text, len);
    r->text[have + len] = '\0';
}

int lmtp_reply_parse_line(struct lmtp_reply_parser *p, const char *line, size_t len)
{
    struct lmtp_reply *r = &p->reply;
    int code;
    bool last;
    const char *text;
    size_t tlen;

    if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || line[0] < '2' || line[0] > '5' ||
        (len > 3 && line[3] != ' ' && line[3] != '-'))
        return -1;
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
            return -1;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->lines > 0 && code != r->code)
        return -1;
    if (++r->lines > LMTP_REPLY_LINES_MAX)
        return -1;
    r->code = code;
    last = len == 3 || line[3] == ' ';
    text = len > 4 ? line + 4 : "";
    tlen = len > 4 ? len - 4 : 0;
    /* an enhanced code leads every line; keep the first, strip it from all */
    {
        size_t n = 0;
        char enh[16];
        while (n < tlen && n < sizeof(enh) - 1 &&
               (isdigit((unsigned char)text[n]) || text[n] == '.'))
            n++;
        if (n > 0 && n < sizeof(enh) && (n == tlen || text[n] == ' ')) {
            memcpy(enh, text, n);
            enh[n] = '\0';
            if (lmtp_enh_valid(enh, code)) {
                if (r->enh[0] == '\0')
                    memcpy(r->enh, enh, n + 1);
                text += n;
                tlen -= n;
                while (tlen > 0 && *text == ' ') {
                    text++;
                    tlen--;
                }
            }
        }
    }
    lmtp_reply_append(r, text, tlen);
    return last ? 1 : 0;
}
