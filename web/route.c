/*
 * route.c - the route table and the dispatcher in front of every handler.
 *
 * The dispatcher owns the generic checks, so that a handler cannot forget
 * one: 404/405, authentication per route (session, admin, token, metrics
 * address list, API token), and for every write (POST, DELETE) a same-origin
 * check plus, in a session, the session's CSRF token (403 when missing or
 * wrong). A request to the API with an Authorization header is judged by its
 * token alone: no cookie counts, and CSRF does not apply.
 */
#include "opes/web_route.h"

#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/web_api.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_session.h"

static const struct web_route web_routes[] = {
    {"GET", "/", page_home, WEB_AUTH_PUBLIC},
    {"GET", "/opes", page_opes, WEB_AUTH_PUBLIC},
    {"GET", "/opes/service/*", page_opes, WEB_AUTH_PUBLIC},
    {"GET", "/privacy", page_privacy, WEB_AUTH_PUBLIC},
    {"GET", "/static/opes.css", page_static_css, WEB_AUTH_PUBLIC},
    {"GET", "/login", page_login_form, WEB_AUTH_PUBLIC},
    {"POST", "/login", page_login_post, WEB_AUTH_PUBLIC},
    {"POST", "/login/password", page_login_password_post, WEB_AUTH_PUBLIC},
    {"GET", "/login/*", page_login_link, WEB_AUTH_TOKEN},
    {"POST", "/login/*", page_login_link_post, WEB_AUTH_TOKEN},
    {"GET", "/admin/login", page_admin_login_form, WEB_AUTH_PUBLIC},
    {"POST", "/admin/login", page_admin_login_post, WEB_AUTH_PUBLIC},
    {"POST", "/logout", page_logout, WEB_AUTH_SESSION},
    {"GET", "/action/*", page_action, WEB_AUTH_TOKEN},
    {"POST", "/action/*", page_action_post, WEB_AUTH_TOKEN},
    {"GET", "/quarantine", page_quarantine, WEB_AUTH_SESSION},
    {"POST", "/quarantine/bulk", page_quarantine_bulk, WEB_AUTH_SESSION},
    {"GET", "/quarantine/*", page_item, WEB_AUTH_SESSION},
    {"POST", "/quarantine/*", page_item_post, WEB_AUTH_SESSION},
    {"GET", "/trace/*", page_trace, WEB_AUTH_SESSION},
    {"GET", "/lists", page_lists, WEB_AUTH_SESSION},
    {"POST", "/lists", page_lists_post, WEB_AUTH_SESSION},
    {"GET", "/prefs", page_prefs, WEB_AUTH_SESSION},
    {"POST", "/prefs", page_prefs_post, WEB_AUTH_SESSION},
    {"GET", "/prefs/spam", page_spam, WEB_AUTH_SESSION},
    {"POST", "/prefs/spam", page_spam_post, WEB_AUTH_SESSION},
    {"GET", "/admin", page_admin, WEB_AUTH_ADMIN},
    /* approvers: global and domain administrators (the pages check, 404 for others) */
    {"GET", "/admin/requests", page_requests, WEB_AUTH_SESSION},
    {"POST", "/admin/requests", page_requests_post, WEB_AUTH_SESSION},
    {"GET", "/admin/delegates", page_delegates, WEB_AUTH_SESSION},
    {"POST", "/admin/delegates", page_delegates_post, WEB_AUTH_SESSION},
    {"GET", "/admin/lists", page_domain_lists, WEB_AUTH_SESSION},
    {"POST", "/admin/lists", page_domain_lists_post, WEB_AUTH_SESSION},
    {"GET", "/metrics", page_metrics, WEB_AUTH_METRICS},
    /* the JSON API: documented in web/openapi.json (tests/web/test_api.py holds them equal) */
    {"GET", "/api/v1/openapi.json", api_openapi, WEB_AUTH_PUBLIC},
    {"GET", "/api/v1/quarantine", api_quarantine_list, WEB_AUTH_API},
    {"GET", "/api/v1/quarantine/*", api_quarantine_item, WEB_AUTH_API},
    {"POST", "/api/v1/quarantine/*/release", api_quarantine_release, WEB_AUTH_API},
    {"POST", "/api/v1/quarantine/*/delete", api_quarantine_delete, WEB_AUTH_API},
    {"POST", "/api/v1/quarantine/*/restore", api_quarantine_restore, WEB_AUTH_API},
    {"GET", "/api/v1/lists", api_lists, WEB_AUTH_API},
    {"POST", "/api/v1/lists", api_lists_add, WEB_AUTH_API},
    {"DELETE", "/api/v1/lists/*", api_lists_remove, WEB_AUTH_API},
};

/* route_segment - length of the segment at p (up to '/' or end). */
static size_t route_segment(const char *p)
{
    return strcspn(p, "/");
}

/* route_path - does path fit pattern? copies "*" segments into args. */
static int route_path(const char *pattern, const char *path,
                      char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX])
{
    size_t nargs = 0;

    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            size_t n = route_segment(path);
            if (n == 0 || n >= WEB_ROUTE_ARG_MAX || nargs == WEB_ROUTE_ARGS)
                return 0;
            memcpy(args[nargs], path, n);
            args[nargs++][n] = '\0';
            pattern++;
            path += n;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

enum web_route_result web_route_match(const struct web_route *t, size_t n, const char *method,
                                      const char *path, const struct web_route **route_r,
                                      char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX])
{
    bool other_method = false;

    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (size_t i = 0; i < n; i++) {
        if (!route_path(t[i].pattern, path, args))
            continue;
        if (strcmp(t[i].method, method) == 0) {
            *route_r = &t[i];
            return WEB_ROUTE_FOUND;
        }
        other_method = true;
    }
    return other_method ? WEB_ROUTE_BAD_METHOD : WEB_ROUTE_NOT_FOUND;
}

/*
 * route_same_origin - a POST from a page of ours: Origin, when it names a
 * site, is base_url's. Browsers send "null" under Referrer-Policy
 * no-referrer, so that and a missing Origin rely on the CSRF token. A link
 * token's POST has no CSRF token: its confirmation page is served with
 * Referrer-Policy strict-origin, so that a browser names our origin (never
 * the path with the token), and "null" (a sandboxed frame, a data: page) is
 * refused there.
 */
static bool route_same_origin(const struct web_req *req, const struct web_route *r)
{
    const char *base = req->ctx->cfg->web_base_url;
    size_t n = strcspn(base + strcspn(base, ":") + 3, "/") + strcspn(base, ":") + 3;

    if (req->origin == NULL)
        return true;
    if (strcmp(req->origin, "null") == 0) /* a sandboxed or opaque origin: no token POST */
        return r->auth != WEB_AUTH_TOKEN;
    return strlen(req->origin) == n && strncmp(req->origin, base, n) == 0;
}

/* route_auth - may req reach route r? 0 yes, or an error/redirect response made. */
static int route_auth(struct web_req *req, struct web_resp *resp, const struct web_route *r)
{
    bool post = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;

    if (r->auth == WEB_AUTH_API && req->authorization != NULL) /* the token alone: no CSRF */
        return api_bearer(req, resp);
    if (r->auth == WEB_AUTH_API && !req->sess.valid) {
        api_unauthorized(req, resp, "Log in, or send an API token as Authorization: Bearer.");
        return -1;
    }

    if (r->auth == WEB_AUTH_METRICS &&
        !web_addr_listed(req->ctx->cfg->web_metrics_allow, req->client)) {
        web_page_error(req, resp, 403, "web.err.metrics");
        return -1;
    }
    if ((r->auth == WEB_AUTH_SESSION || r->auth == WEB_AUTH_ADMIN) && !req->sess.valid) {
        if (post)
            web_page_error(req, resp, 403, "web.err.session_ended");
        else
            web_resp_redirect(resp, r->auth == WEB_AUTH_ADMIN ? "/admin/login" : "/login");
        return -1;
    }
    if (r->auth == WEB_AUTH_ADMIN && !req->sess.admin) {
        web_page_error(req, resp, 403, "web.err.admin_only");
        return -1;
    }
    if (post && !route_same_origin(req, r)) {
        web_page_error(req, resp, 403, "web.err.other_site");
        return -1;
    }
    if (post &&
        (r->auth == WEB_AUTH_SESSION || r->auth == WEB_AUTH_ADMIN || r->auth == WEB_AUTH_API) &&
        !web_session_csrf_ok(req->sess.csrf, req->csrf_header != NULL
                                                 ? req->csrf_header
                                                 : web_form_get(&req->form, "csrf"))) {
        web_page_error(req, resp, 403,
                       "The form's security token is missing or wrong. "
                       "Please go back, reload the page and try again.");
        return -1;
    }
    return 0;
}

void web_route_dispatch(struct web_req *req, struct web_resp *resp)
{
    const struct web_route *r = NULL;
    enum web_route_result res =
        web_route_match(web_routes, sizeof(web_routes) / sizeof(web_routes[0]), req->method,
                        req->path, &r, req->args);

    if (res == WEB_ROUTE_NOT_FOUND) {
        web_page_error(req, resp, 404, "web.err.no_page");
        return;
    }
    if (res == WEB_ROUTE_BAD_METHOD) {
        web_page_error(req, resp, 405, "web.err.bad_method");
        return;
    }
    if (req->sess.valid || r->auth == WEB_AUTH_SESSION || r->auth == WEB_AUTH_ADMIN ||
        r->auth == WEB_AUTH_API)
        resp->no_store = true;
    if (route_auth(req, resp, r) < 0)
        return;
    r->fn(req, resp);
}
