/*
 * lmtp_client.h - connections to the downstream LMTP store, and their cache.
 *
 * A connection is opened (connect, greeting, LHLO, AUTH if configured) with
 * timeouts and knows the server's capabilities. Finished connections go back
 * to a small cache of idle ones and are reused; a cached connection that the
 * server has closed is noticed and dropped before use.
 */
#ifndef OPES_LMTP_CLIENT_H
#define OPES_LMTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "opes/endpoint.h"
#include "opes/lmtp_parse.h"

struct lmtp_caps {
    bool known;
    bool pipelining, eightbitmime, smtputf8, size, ignorequota;
    bool auth, auth_plain, auth_external; /* AUTH advertised; with PLAIN; with EXTERNAL */
};

/*
 * Authentication after LHLO, where the store demands it: SASL PLAIN with a
 * user and password, or EXTERNAL (the identity the transport gives, such as a
 * unix socket's peer). The password never appears in a log line.
 */
enum lmtp_auth_mech { LMTP_AUTH_NONE, LMTP_AUTH_PLAIN, LMTP_AUTH_EXTERNAL };

struct lmtp_auth {
    enum lmtp_auth_mech mech;
    char user[256];
    char password[256];
};

/*
 * lmtp_auth_line - the AUTH command for a (without CRLF): "AUTH PLAIN <base64
 * of NUL user NUL password>" (RFC 4616, no authorization identity) or "AUTH
 * EXTERNAL =" (RFC 4954: an empty initial response). Returns its length, or
 * -1 when out is too small or the mechanism is NONE. out holds the secret:
 * the caller wipes it.
 */
int lmtp_auth_line(const struct lmtp_auth *a, char *out, size_t outsize);

struct lmtp_client;
struct lmtp_pool;

/* lmtp_pool_new - a cache for one target; lhlo_name and ep are copied. */
struct lmtp_pool *lmtp_pool_new(const struct endpoint *ep, const char *lhlo_name, unsigned max_idle,
                                unsigned idle_timeout_s);
/* lmtp_pool_set_auth - authenticate every new connection with a (copied). */
void lmtp_pool_set_auth(struct lmtp_pool *pool, const struct lmtp_auth *a);
/* lmtp_pool_free - close every idle connection; connections out keep working. */
void lmtp_pool_free(struct lmtp_pool **poolp);

/*
 * lmtp_pool_get - an idle cached connection or a new one. *reused_r tells
 * which (a reused one may still turn out to be dead). On failure NULL, with
 * reply set to the 4xx that explains it (451 4.4.1 unreachable, or the
 * server's own 4xx/5xx greeting/LHLO answer turned into a 4xx).
 */
struct lmtp_client *lmtp_pool_get(struct lmtp_pool *pool, int connect_ms, int command_ms,
                                  bool *reused_r, struct lmtp_reply *reply);
/* lmtp_pool_put - give a connection in a clean state back (or close it). */
void lmtp_pool_put(struct lmtp_pool *pool, struct lmtp_client **cp);
/* lmtp_pool_caps - capabilities seen on the last connection opened. */
struct lmtp_caps lmtp_pool_caps(struct lmtp_pool *pool);

const struct lmtp_caps *lmtp_client_caps(const struct lmtp_client *c);
/* lmtp_client_close - QUIT is not waited for; sets *cp to NULL. */
void lmtp_client_close(struct lmtp_client **cp);

/* lmtp_client_send - queue one command line (CRLF added); 0 or -1. */
int lmtp_client_send(struct lmtp_client *c, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* lmtp_client_write - queue raw bytes (message content); 0 or -1. */
int lmtp_client_write(struct lmtp_client *c, const void *data, size_t len, int timeout_ms);
int lmtp_client_flush(struct lmtp_client *c, int timeout_ms);

enum lmtp_client_status { LMTP_CLIENT_OK = 0, LMTP_CLIENT_IO = -1, LMTP_CLIENT_PROTO = -2 };
/*
 * lmtp_client_read_reply - read one (multi-line) reply, flushing first.
 * LMTP_CLIENT_IO: the connection failed or timed out (errno tells);
 * LMTP_CLIENT_PROTO: the server sent something that is not a reply.
 * Either way the connection must be closed.
 */
enum lmtp_client_status lmtp_client_read_reply(struct lmtp_client *c, int timeout_ms,
                                               struct lmtp_reply *reply);

/* lmtp_reply_set - fill a reply of our own. */
void lmtp_reply_set(struct lmtp_reply *r, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
