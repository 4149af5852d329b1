/*
 * authres.c - Authentication-Results (RFC 8601) of a held message read for
 * one question: did a trusted upstream verify the envelope sender (see
 * authres.h)?
 */
#include "opes/authres.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/mime.h"

#define AUTHRES_VALUE_MAX 4096 /* longer fields are not read (no real one comes close) */
#define AUTHRES_TOKENS 32      /* tokens read from one resinfo */

/* authres_uncomment - value without its comments (each becomes a space); quoted strings kept. */
static void authres_uncomment(const char *value, char *out, size_t size)
{
    size_t o = 0;
    int depth = 0;
    bool quoted = false;

    for (const char *s = value; *s != '\0' && o + 1 < size; s++) {
        if (*s == '\\' && s[1] != '\0' && (quoted || depth > 0)) {
            if (quoted && o + 2 < size) {
                out[o++] = *s;
                out[o++] = s[1];
            }
            s++;
        } else if (quoted) {
            quoted = *s != '"';
            out[o++] = *s;
        } else if (*s == '(') {
            depth++;
        } else if (*s == ')' && depth > 0) {
            if (--depth == 0)
                out[o++] = ' ';
        } else if (depth == 0) {
            quoted = *s == '"';
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/*
 * authres_tokens - split one resinfo (NUL-terminated, changed in place) into
 * "name=value" tokens: white space around '=' dropped, quotes removed.
 */
static size_t authres_tokens(char *s, char **tok, size_t max)
{
    size_t n = 0, o = 0;
    bool quoted = false, in_tok = false;

    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (c == '"') {
            quoted = !quoted;
            continue;
        }
        if (c == '\\' && quoted && s[i + 1] != '\0') {
            s[o++] = s[++i];
            continue;
        }
        if (!quoted && (c == ' ' || c == '\t')) {
            size_t j = i;
            while (s[j] == ' ' || s[j] == '\t')
                j++;
            /* "spf = pass": the blanks around '=' belong to no token boundary */
            if (s[j] == '=' || (o > 0 && s[o - 1] == '=')) {
                i = j - 1;
                continue;
            }
            if (in_tok) {
                s[o++] = '\0';
                in_tok = false;
            }
            i = j - 1;
            continue;
        }
        if (!in_tok) {
            if (n == max)
                break;
            tok[n++] = s + o;
            in_tok = true;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return n;
}

/* authres_domain - the domain of an address ("user@d" or "@d"), or the value itself. */
static const char *authres_domain(const char *v)
{
    const char *at = strrchr(v, '@');

    return at != NULL ? at + 1 : v;
}

/* authres_under - whether domain is d or a subdomain of it (d with at least one dot). */
static bool authres_under(const char *domain, const char *d)
{
    size_t n = strlen(domain), k = strlen(d);

    if (k == 0 || strchr(d, '.') == NULL || k > n)
        return false;
    if (n == k)
        return strcasecmp(domain, d) == 0;
    return domain[n - k - 1] == '.' && strcasecmp(domain + n - k, d) == 0;
}

/* authres_trusted - whether id is one of the names in the list trusted. */
static bool authres_trusted(const char *id, const char *trusted)
{
    size_t n = strlen(id);

    for (const char *s = trusted; *s != '\0';) {
        size_t k;
        s += strspn(s, " \t,");
        k = strcspn(s, " \t,");
        if (k > 0 && k == n && strncasecmp(s, id, n) == 0)
            return true;
        s += k;
    }
    return false;
}

/* authres_resinfo - one "method=result prop=value ..." of a trusted field: does it verify? */
static bool authres_resinfo(char *resinfo, const char *domain, const char *id, char *how,
                            size_t size)
{
    char *tok[AUTHRES_TOKENS];
    size_t n = authres_tokens(resinfo, tok, AUTHRES_TOKENS);
    bool spf, dkim;

    if (n == 0)
        return false;
    spf = strcasecmp(tok[0], "spf=pass") == 0;
    dkim = strncasecmp(tok[0], "dkim", 4) == 0 && (tok[0][4] == '=' || tok[0][4] == '/') &&
           strcasecmp(strchr(tok[0], '=') != NULL ? strchr(tok[0], '=') : "", "=pass") == 0;
    for (size_t i = 1; i < n && (spf || dkim); i++) {
        const char *eq = strchr(tok[i], '=');
        size_t k = eq != NULL ? (size_t)(eq - tok[i]) : 0;
        bool ok = false;
        if (eq == NULL)
            continue;
        if (spf && k == 13 && strncasecmp(tok[i], "smtp.mailfrom", k) == 0)
            ok = strcasecmp(authres_domain(eq + 1), domain) == 0;
        else if (dkim && ((k == 8 && strncasecmp(tok[i], "header.d", k) == 0) ||
                          (k == 8 && strncasecmp(tok[i], "header.i", k) == 0)))
            ok = authres_under(domain, authres_domain(eq + 1));
        if (ok) {
            snprintf(how, size, "%s %s by %s", tok[0], tok[i], id);
            return true;
        }
    }
    return false;
}

/* authres_next - the next ';'-separated part of *sp outside quoted strings (cut in place). */
static char *authres_next(char **sp)
{
    char *s = *sp, *p;
    bool quoted = false;

    if (s == NULL)
        return NULL;
    for (p = s; *p != '\0' && (quoted || *p != ';'); p++) {
        if (*p == '\\' && quoted && p[1] != '\0')
            p++;
        else if (*p == '"')
            quoted = !quoted;
    }
    *sp = *p == ';' ? p + 1 : NULL;
    *p = '\0';
    return s;
}

/* authres_field - one Authentication-Results value: trusted, and does it verify? */
static bool authres_field(const char *value, const char *trusted, const char *domain, char *how,
                          size_t size)
{
    char *buf = malloc(AUTHRES_VALUE_MAX), *rest, *part, id[256];
    bool ok = false;

    if (buf == NULL || strlen(value) >= AUTHRES_VALUE_MAX) {
        free(buf);
        return false;
    }
    authres_uncomment(value, buf, AUTHRES_VALUE_MAX);
    rest = buf;
    part = authres_next(&rest);
    if (part == NULL || sscanf(part, " %255s", id) != 1 || !authres_trusted(id, trusted)) {
        free(buf);
        return false; /* another authserv-id: never believed */
    }
    while (!ok && (part = authres_next(&rest)) != NULL)
        ok = authres_resinfo(part, domain, id, how, size);
    free(buf);
    return ok;
}

bool authres_verified(const char *headers, size_t len, const char *trusted, const char *sender,
                      char *how, size_t size)
{
    const char *at = sender != NULL ? strrchr(sender, '@') : NULL;
    struct mime_message *m;
    bool ok = false;

    if (size > 0)
        how[0] = '\0';
    if (headers == NULL || len == 0 || at == NULL || at[1] == '\0' || trusted == NULL)
        return false;
    m = mime_parse(headers, len, NULL);
    for (size_t i = 0; i < m->nfields && !ok; i++)
        if (strcasecmp(m->fields[i].name, "Authentication-Results") == 0)
            ok = authres_field(m->fields[i].value, trusted, at + 1, how, size);
    mime_message_free(&m);
    return ok;
}
