/*
 * bypass.c - parse OPES-Bypass / XOPES-BYPASS values and match them to services.
 */
#include "opes/bypass.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* bypass_known - is uri one of the service URIs? */
static bool bypass_known(const char *uri, const char *const *known, size_t nknown)
{
    for (size_t i = 0; i < nknown; i++)
        if (strcmp(uri, known[i]) == 0)
            return true;
    return false;
}

/* bypass_params - keep "; token=..." of the URI just read (the last one in r). */
static void bypass_params(struct bypass_request *r, const char *p, size_t len)
{
    const char *end = p + len;

    while (p < end) {
        size_t n;
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        n = strcspn(p, "; \t,");
        if (p + n > end)
            n = (size_t)(end - p);
        if (n > 6 && strncasecmp(p, "token=", 6) == 0 && n - 6 < sizeof(r->tokens[0]))
            memcpy(r->tokens[r->n - 1], p + 6, n - 6);
        p += n;
    }
}

void bypass_parse(const char *value, const char *const *known, size_t nknown,
                  struct bypass_request *r)
{
    const char *p = value;

    memset(r, 0, sizeof(*r));
    if (value == NULL)
        return;
    r->present = true;
    if (strlen(value) > BYPASS_MAX)
        return;
    while (*p != '\0') {
        size_t n;
        bool stored = false;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, ",; \t");
        if (n == 1 && *p == '*') {
            r->all = true;
        } else if (n == 0 || n >= sizeof(r->uris[0]) || memchr(p, ':', n) == NULL) {
            return; /* not an absolute URI: the request is malformed, nothing is granted */
        } else if (r->n < BYPASS_URIS_MAX) {
            memcpy(r->uris[r->n], p, n);
            r->uris[r->n][n] = '\0';
            if (!bypass_known(r->uris[r->n], known, nknown))
                r->all = true; /* PROTOCOL.md 22: an unknown URI counts as "*" */
            r->n++;
            stored = true;
        }
        p += n;
        if (stored)
            bypass_params(r, p, strcspn(p, ","));
        p += strcspn(p, ",");
    }
    r->valid = r->all || r->n > 0;
}

bool bypass_covers(const struct bypass_request *r, const char *uri)
{
    if (!r->valid)
        return false;
    if (r->all)
        return true;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->uris[i], uri) == 0)
            return true;
    return false;
}

const char *bypass_token(const struct bypass_request *r, const char *uri)
{
    if (!r->valid)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->uris[i], uri) == 0 && r->tokens[i][0] != '\0')
            return r->tokens[i];
    return NULL;
}
