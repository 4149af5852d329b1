/*
 * web_route.h - the portal's route table: {method, path pattern, handler,
 * auth}. A pattern is literal segments and "*" for one non-empty segment,
 * whose text the handler gets as an argument. The dispatcher does the lookup,
 * 404 and 405, the authentication check and the CSRF check of every POST;
 * handlers only see requests they are allowed to serve.
 */
#ifndef OPES_WEB_ROUTE_H
#define OPES_WEB_ROUTE_H

#include <stddef.h>

struct web_req;
struct web_resp;

enum web_auth {
    WEB_AUTH_PUBLIC,  /* anyone */
    WEB_AUTH_SESSION, /* a logged-in recipient (or admin) */
    WEB_AUTH_ADMIN,   /* a logged-in administrator */
    WEB_AUTH_TOKEN,   /* anyone: the link token in the path is the authority */
    WEB_AUTH_METRICS, /* a client address listed in [web] metrics_allow */
    WEB_AUTH_API      /* an API token (Authorization: Bearer), or else a session */
};

typedef void (*web_handler)(struct web_req *req, struct web_resp *resp);

struct web_route {
    const char *method;
    const char *pattern;
    web_handler fn;
    enum web_auth auth;
};

#define WEB_ROUTE_ARGS 2
#define WEB_ROUTE_ARG_MAX 600

enum web_route_result { WEB_ROUTE_FOUND, WEB_ROUTE_NOT_FOUND, WEB_ROUTE_BAD_METHOD };

/*
 * web_route_match - find the route of (method, path) in t[0..n); on FOUND
 * *route_r is set and the "*" segments are copied into args (at most
 * WEB_ROUTE_ARGS, each shorter than WEB_ROUTE_ARG_MAX, else no match).
 * BAD_METHOD when the path exists for another method only. HEAD is GET.
 */
enum web_route_result web_route_match(const struct web_route *t, size_t n, const char *method,
                                      const char *path, const struct web_route **route_r,
                                      char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX]);

/* web_route_dispatch - the portal's table: route, authenticate, check CSRF, run. */
void web_route_dispatch(struct web_req *req, struct web_resp *resp);

#endif
