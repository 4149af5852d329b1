/*
 * web_http.h - the portal's HTTP side: libmicrohttpd with a thread pool and
 * connection, memory, timeout and body-size limits, and the request and
 * response structs that handlers see (independent of libmicrohttpd, so that
 * handlers can be driven by tests).
 *
 * Every response gets the security headers (CSP without inline script,
 * X-Frame-Options, nosniff, no referrer); pages that depend on a session are
 * also Cache-Control: no-store. Each worker thread opens its own store
 * connection on first use (closed when the thread ends).
 */
#ifndef OPES_WEB_HTTP_H
#define OPES_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/web_form.h"
#include "opes/web_route.h"
#include "opes/web_session.h"

#define WEB_ADDR_MAX 64 /* a numeric address as text, with its NUL */

struct opes_config;
struct store;
struct web_svcinfo;

/* What every request shares: loaded once at start. */
struct web_ctx {
    const struct opes_config *cfg;
    bool secure;             /* base_url is https: cookies get Secure */
    struct web_svcinfo *svc; /* the configured services, in order */
    size_t nsvc;
    char *privacy_text; /* the operator's policy text, or NULL */
};

struct web_req {
    struct web_ctx *ctx;
    struct store *st; /* this thread's connection */
    const char *method;
    const char *path;
    struct web_form query;
    struct web_form form; /* the urlencoded POST body */
    const char *body;     /* the raw body of a JSON request (not a form), or NULL */
    size_t body_len;
    const char *cookie;        /* the session cookie's value, or NULL */
    const char *authorization; /* /api/'s Authorization header: when set, it alone authenticates */
    const char *csrf_header;   /* X-CSRF-Token: a session's API write without a form */
    const char *origin;        /* the Origin header, or NULL */
    const char *accept_language; /* the Accept-Language header, or NULL */
    const char *lang;            /* the language of the answer (web_page_locale) */
    char tz[64];                 /* the reader's time zone, "" for the system's */
    char client[WEB_ADDR_MAX];   /* the client's address (forwarded by a trusted proxy) */
    char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX];
    struct web_session sess;
    char via[STORE_VIA_MAX]; /* the API token that authenticated ("token 3 laptop"), or "" */
    int64_t now;
};

struct web_resp {
    int status;
    char *body; /* malloc'ed, owned */
    size_t len;
    const char *type;
    char location[1024];
    char cookie[256];
    bool no_store;
    bool origin_referrer;  /* Referrer-Policy strict-origin: the origin, never the path */
    bool bearer_challenge; /* a 401 of the API: WWW-Authenticate: Bearer */
};

/* web_resp_html - status and the page in h (taken over). */
struct html;
void web_resp_html(struct web_resp *r, int status, struct html *h);
/* web_resp_text - a body of another type (copied). */
void web_resp_text(struct web_resp *r, int status, const char *type, const char *text, size_t len);
/* web_resp_redirect - 303 See Other to a local path. */
void web_resp_redirect(struct web_resp *r, const char *path);
void web_resp_free(struct web_resp *r);

/* web_req_free - what the request owns (its forms). */
void web_req_free(struct web_req *req);

/* web_http_store - this thread's store connection (opened on first use), or NULL. */
struct store *web_http_store(struct web_ctx *ctx, const char **error_r);

/* web_addr_listed - is the address addr one of the space-separated numeric addresses in
 * list? (compared as addresses: ::ffff:127.0.0.1 is 127.0.0.1) */
bool web_addr_listed(const char *list, const char *addr);

/*
 * web_http_client_addr - the client of a request from peer: when peer is listed in trusted,
 * the rightmost hop of xff (X-Forwarded-For), or without one of forwarded (Forwarded's for=),
 * that is not itself a trusted proxy; a hop that is no numeric address ends the walk at the
 * proxy before it. Headers from any other peer are ignored. Writes the canonical address into
 * out; true when it is not the peer's.
 */
bool web_http_client_addr(const char *peer, const char *trusted, const char *xff,
                          const char *forwarded, char out[WEB_ADDR_MAX]);

struct web_http;
/* web_http_start - listen on [web] listen; NULL with *error_r. */
struct web_http *web_http_start(struct web_ctx *ctx, const char **error_r);
void web_http_stop(struct web_http **hp);

#endif
