/*
 * bypass.h - in-band bypass requests (RFC 4902 3.2; PROTOCOL.md 22).
 *
 * The same grammar serves the OPES-Bypass header field and the decoded
 * XOPES-BYPASS dialog parameter:  "*" / 1#( absoluteURI *( ";" param ) ).
 * A URI that names no service of this system counts as "*". Values larger
 * than BYPASS_MAX are not honoured at all (PROTOCOL.md 20).
 */
#ifndef OPES_BYPASS_H
#define OPES_BYPASS_H

#include <stdbool.h>
#include <stddef.h>

#define BYPASS_MAX 2048
#define BYPASS_URIS_MAX 16

struct bypass_request {
    bool present; /* a request was made (even if malformed) */
    bool valid;   /* it parsed and was not too large */
    bool all;     /* "*", or a URI naming no service */
    char uris[BYPASS_URIS_MAX][320];
    char tokens[BYPASS_URIS_MAX][512]; /* the "token=" parameter of each URI, or "" */
    size_t n;
};

/*
 * bypass_parse - parse value (NULL: no request). uris[] keeps the named URIs;
 * a URI that is none of the service URIs known[0..nknown) makes the request
 * cover everything. A malformed or oversized value grants nothing.
 */
void bypass_parse(const char *value, const char *const *known, size_t nknown,
                  struct bypass_request *r);

/* bypass_covers - does the request name the service with this URI? */
bool bypass_covers(const struct bypass_request *r, const char *uri);
/* bypass_token - the token given with this service's URI, or NULL. */
const char *bypass_token(const struct bypass_request *r, const char *uri);

#endif
