/*
 * http.c - libmicrohttpd glue: the daemon with its limits, the per-request
 * state (freed in MHD's completion callback), the bounded POST body, the
 * translation into struct web_req / web_resp, and the headers every
 * response carries.
 */
#include "opes/web_http.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "opes/store.h"
#include "opes/vec.h"
#include "opes/web_html.h"
#include "opes/web_page.h"

#define HTTP_CSP                                                                                   \
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "                   \
    "frame-ancestors 'none'; base-uri 'none'"

struct web_http {
    struct MHD_Daemon *d;
    struct web_ctx *ctx;
};

/* What one request owns between MHD's calls. */
struct http_conn {
    char *body;
    size_t len, cap;
    bool too_big;
};

static pthread_key_t http_store_key;
static pthread_once_t http_store_once = PTHREAD_ONCE_INIT;

static void http_store_close(void *p)
{
    struct store *st = p;
    store_close(&st);
}

static void http_store_key_init(void)
{
    if (pthread_key_create(&http_store_key, http_store_close) != 0)
        fatalx("pthread_key_create");
}

struct store *web_http_store(struct web_ctx *ctx, const char **error_r)
{
    struct store *st;

    pthread_once(&http_store_once, http_store_key_init);
    st = pthread_getspecific(http_store_key);
    if (st != NULL)
        return st;
    st = store_open_config(ctx->cfg, error_r);
    if (st != NULL)
        pthread_setspecific(http_store_key, st);
    return st;
}

void web_resp_html(struct web_resp *r, int status, struct html *h)
{
    free(r->body);
    r->status = status;
    r->type = "text/html; charset=utf-8";
    r->body = html_take(h, &r->len);
}

void web_resp_text(struct web_resp *r, int status, const char *type, const char *text, size_t len)
{
    free(r->body);
    r->status = status;
    r->type = type;
    r->body = malloc(len + 1);
    if (r->body == NULL)
        fatal("malloc");
    memcpy(r->body, text, len);
    r->body[len] = '\0';
    r->len = len;
}

void web_resp_redirect(struct web_resp *r, const char *path)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 303;
    r->type = "text/plain";
    snprintf(r->location, sizeof(r->location), "%s", path);
}

void web_resp_free(struct web_resp *r)
{
    free(r->body);
    r->body = NULL;
}

void web_req_free(struct web_req *req)
{
    web_form_free(&req->query);
    web_form_free(&req->form);
}

static enum MHD_Result http_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct web_req *req = cls;
    (void)kind;
    web_form_add(&req->query, key, value != NULL ? value : "");
    return MHD_YES;
}

static void http_client(struct MHD_Connection *c, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
    socklen_t len = sa != NULL && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                            : sizeof(struct sockaddr_in);

    snprintf(buf, size, "unknown");
    if (sa != NULL)
        getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST);
}

/* http_send - queue resp with the security headers. */
static enum MHD_Result http_send(struct MHD_Connection *c, struct web_resp *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->len, resp->body != NULL ? resp->body : (char *)"",
        resp->body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    resp->body = NULL; /* MHD frees it */
    MHD_add_response_header(r, "Content-Type", resp->type != NULL ? resp->type : "text/plain");
    MHD_add_response_header(r, "Content-Security-Policy", HTTP_CSP);
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    if (resp->no_store)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (resp->location[0] != '\0')
        MHD_add_response_header(r, "Location", resp->location);
    if (resp->cookie[0] != '\0')
        MHD_add_response_header(r, "Set-Cookie", resp->cookie);
    ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* http_log_path - the path for the log, without link tokens. */
static const char *http_log_path(const char *path)
{
    if (strncmp(path, "/login/", 7) == 0)
        return "/login/(token)";
    if (strncmp(path, "/action/", 8) == 0)
        return "/action/(token)";
    return path;
}

static void http_handle(struct web_ctx *ctx, struct MHD_Connection *c, const char *url,
                        const char *method, struct http_conn *hc, struct web_resp *resp)
{
    struct web_req req;
    const char *error = NULL;
    char path[256];

    memset(&req, 0, sizeof(req));
    req.ctx = ctx;
    req.method = method;
    req.path = url;
    req.now = (int64_t)time(NULL);
    http_client(c, req.client, sizeof(req.client));
    req.cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_SESSION_COOKIE);
    req.origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, http_query_arg, &req);
    req.st = web_http_store(ctx, &error);
    if (req.st == NULL) {
        log_warnx("web: store: %s", error);
        web_page_error(&req, resp, 500, "The portal cannot reach its store right now.");
    } else if (hc->too_big) {
        web_page_error(&req, resp, 413, "The form was too large.");
    } else if (strcmp(method, "POST") == 0 &&
               web_form_parse(&req.form, hc->body != NULL ? hc->body : "", hc->len) != 0) {
        web_page_error(&req, resp, 400, "The form could not be read.");
    } else if (req.cookie != NULL &&
               web_session_lookup(req.st, req.cookie, req.now, (int64_t)ctx->cfg->web_session_idle,
                                  &req.sess, &error) < 0) {
        log_warnx("web: session: %s", error);
        web_page_error(&req, resp, 500, "The portal cannot reach its store right now.");
    } else {
        web_route_dispatch(&req, resp);
    }
    log_escape(path, sizeof(path), http_log_path(url), strlen(http_log_path(url)));
    log_info("web: client=%s method=%s path=%s status=%d%s%s", req.client, method, path,
             resp->status, req.sess.valid ? " user=" : "", req.sess.valid ? req.sess.address : "");
    web_req_free(&req);
}

/* http_body - take one piece of the POST body, up to max_post. */
static void http_body(struct http_conn *hc, const char *data, size_t n, size_t max)
{
    if (hc->too_big || n == 0)
        return;
    if (hc->len + n > max) {
        hc->too_big = true;
        free(hc->body);
        hc->body = NULL;
        hc->len = hc->cap = 0;
        return;
    }
    hc->body = vec_reserve(hc->body, &hc->cap, hc->len + n + 1, 1); /* n <= max - len */
    memcpy(hc->body + hc->len, data, n);
    hc->len += n;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct web_ctx *ctx = cls;
    struct http_conn *hc = *con_cls;
    struct web_resp resp = {.status = 500};
    enum MHD_Result ret;
    (void)version;

    if (hc == NULL) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        hc = calloc(1, sizeof(*hc));
        if (hc == NULL)
            fatal("calloc");
        *con_cls = hc;
        if (cl == NULL || strtoull(cl, NULL, 10) <= ctx->cfg->web_max_post)
            return MHD_YES;
        hc->too_big = true; /* answer now; the body is not read */
    } else if (*upload_data_size != 0) {
        http_body(hc, upload_data, *upload_data_size, (size_t)ctx->cfg->web_max_post);
        *upload_data_size = 0;
        return MHD_YES;
    }
    http_handle(ctx, c, url, method, hc, &resp);
    ret = http_send(c, &resp);
    web_resp_free(&resp);
    return ret;
}

static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_conn *hc = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (hc != NULL) {
        free(hc->body);
        free(hc);
    }
    *con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\r\n")] = '\0';
    log_warnx("web: httpd: %s", buf);
}

struct web_http *web_http_start(struct web_ctx *ctx, const char **error_r)
{
    static _Thread_local char err[300];
    const struct opes_config *cfg = ctx->cfg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    struct endpoint ep;
    struct web_http *h;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    int rc;

    if (endpoint_parse(cfg->web_listen, &ep, error_r) < 0)
        return NULL;
    if ((rc = getaddrinfo(ep.host, ep.port, &hints, &ai)) != 0) {
        snprintf(err, sizeof(err), "%s: %s", cfg->web_listen, gai_strerror(rc));
        *error_r = err;
        return NULL;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        fatal("calloc");
    h->ctx = ctx;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, http_access, ctx, MHD_OPTION_EXTERNAL_LOGGER,
                            http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->web_threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->web_connection_timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->d == NULL) {
        snprintf(err, sizeof(err), "cannot listen on %s", cfg->web_listen);
        *error_r = err;
        free(h);
        return NULL;
    }
    return h;
}

void web_http_stop(struct web_http **hp)
{
    struct web_http *h = *hp;

    *hp = NULL;
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
