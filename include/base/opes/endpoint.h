/*
 * endpoint.h - socket addresses as written in the configuration.
 *
 * "host:port", "[v6addr]:port" and "unix:/path" (listen lists and LMTP
 * targets), parsed without touching the network so that the configuration
 * check can reject a bad value with its line number.
 */
#ifndef OPES_ENDPOINT_H
#define OPES_ENDPOINT_H

#include <stddef.h>

enum endpoint_kind { ENDPOINT_INET, ENDPOINT_UNIX };

struct endpoint {
    enum endpoint_kind kind;
    char host[256]; /* ENDPOINT_INET: name or address, no brackets */
    char port[8];
    char path[108]; /* ENDPOINT_UNIX: absolute path (sun_path size) */
};

/* endpoint_parse - one endpoint; 0 or -1 with *error_r set. */
int endpoint_parse(const char *s, struct endpoint *ep, const char **error_r);

/*
 * endpoint_parse_list - comma- or space-separated list into eps[0..max);
 * returns the count (at least 1) or -1 with *error_r set.
 */
int endpoint_parse_list(const char *s, struct endpoint *eps, size_t max, const char **error_r);

/* endpoint_format - "host:port" or "unix:/path" into buf; returns buf. */
char *endpoint_format(const struct endpoint *ep, char *buf, size_t size);

#endif
