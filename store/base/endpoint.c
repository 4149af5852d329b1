/*
 * endpoint.c - parse and print "host:port", "[v6]:port" and "unix:/path".
 */
#include "opes/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int endpoint_port_ok(const char *p)
{
    char *end;
    long v;

    if (*p == '\0' || strlen(p) > 5)
        return 0;
    v = strtol(p, &end, 10);
    return *end == '\0' && v > 0 && v < 65536;
}

int endpoint_parse(const char *s, struct endpoint *ep, const char **error_r)
{
    const char *colon;
    size_t hlen;

    memset(ep, 0, sizeof(*ep));
    if (strncmp(s, "unix:", 5) == 0) {
        ep->kind = ENDPOINT_UNIX;
        if (s[5] != '/') {
            *error_r = "unix socket path must be absolute";
            return -1;
        }
        if (strlen(s + 5) >= sizeof(ep->path)) {
            *error_r = "unix socket path too long";
            return -1;
        }
        strcpy(ep->path, s + 5);
        return 0;
    }
    ep->kind = ENDPOINT_INET;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            *error_r = "expected [address]:port";
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *error_r = "expected host:port or unix:/path";
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL) {
            *error_r = "IPv6 addresses need brackets: [address]:port";
            return -1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(ep->host)) {
        *error_r = "bad host";
        return -1;
    }
    if (!endpoint_port_ok(colon + 1)) {
        *error_r = "bad port";
        return -1;
    }
    memcpy(ep->host, s, hlen);
    strcpy(ep->port, colon + 1);
    return 0;
}

int endpoint_parse_list(const char *s, struct endpoint *eps, size_t max, const char **error_r)
{
    char item[512];
    size_t n = 0;

    while (*s != '\0') {
        size_t len = strcspn(s, ", \t");
        if (len == 0) {
            s++;
            continue;
        }
        if (len >= sizeof(item)) {
            *error_r = "list item too long";
            return -1;
        }
        if (n == max) {
            *error_r = "too many list items";
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (endpoint_parse(item, &eps[n], error_r) < 0)
            return -1;
        n++;
        s += len;
    }
    if (n == 0) {
        *error_r = "empty list";
        return -1;
    }
    return (int)n;
}

char *endpoint_format(const struct endpoint *ep, char *buf, size_t size)
{
    if (ep->kind == ENDPOINT_UNIX)
        snprintf(buf, size, "unix:%s", ep->path);
    else if (strchr(ep->host, ':') != NULL)
        snprintf(buf, size, "[%s]:%s", ep->host, ep->port);
    else
        snprintf(buf, size, "%s:%s", ep->host, ep->port);
    return buf;
}
