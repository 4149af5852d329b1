/*
 * bypass.c - parse OPES-Bypass / XOPES-BYPASS values and match them to services.
 */
#include "opes/bypass.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* bypass_known - is uri one of the service URIs? */
static bool bypass_known(const char *uri, const char *const *known, size_t nknown)
{
    for (size_t i = 0; i < nknown; i++)
        if (strcmp(uri, known[i]) == 0)
            return true;
    return false;
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
        }
        p += n;
        p += strcspn(p, ","); /* parameters (token=...) are not used here */
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
