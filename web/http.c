/*
 * http.c - libmicrohttpd glue: the daemon with its limits, the per-request
 * state (freed in MHD's completion callback), the bounded POST body, the
 * translation into struct web_req / web_resp, and the headers every
 * response carries.
 *
 * The client of a request is the peer's address, or, when the peer is one of
 * [web] trusted_proxies, the address its X-Forwarded-For (or Forwarded) names.
 * Each client may hold max_client_connections at once: connections from the
 * peer counted from MHD's connection start to its close (refused at accept),
 * requests relayed by a proxy counted on the forwarded address from their
 * header to their completion (answered 503). Until a request's header is
 * complete a connection may stay idle header_timeout seconds only.
 */
#include "opes/web_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Connections or relayed requests open per client address. */
struct http_count {
    char addr[WEB_ADDR_MAX];
    unsigned n;
};

struct web_http {
    struct MHD_Daemon *d;
    struct web_ctx *ctx;
    pthread_mutex_t mu; /* guards counts */
    struct http_count *counts;
    size_t ncounts, cap;
    _Atomic int64_t refused_logged; /* the second of the last "refused" line */
};

/* What one request owns between MHD's calls. */
struct http_conn {
    char *body;
    size_t len, cap;
    bool too_big;
    bool limited;              /* the forwarded client has too many requests open */
    bool counted;              /* client is counted in web_http counts */
    char client[WEB_ADDR_MAX]; /* the request's client */
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

/* http_addr_bin - a numeric address as 16 bytes (IPv4 as IPv4-mapped IPv6); false if not one. */
static bool http_addr_bin(const char *a, unsigned char bin[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (inet_pton(AF_INET6, a, bin) == 1)
        return true;
    memcpy(bin, mapped, sizeof(mapped));
    return inet_pton(AF_INET, a, bin + 12) == 1;
}

bool web_addr_listed(const char *list, const char *addr)
{
    unsigned char want[16], bin[16];
    bool numeric = http_addr_bin(addr, want);
    size_t n = strlen(addr);
    char one[WEB_ADDR_MAX];

    for (const char *p = list; *p != '\0';) {
        size_t len;
        p += strspn(p, " \t,");
        len = strcspn(p, " \t,");
        if (len > 0 && len < sizeof(one)) {
            memcpy(one, p, len);
            one[len] = '\0';
            if (numeric ? http_addr_bin(one, bin) && memcmp(bin, want, 16) == 0
                        : len == n && strcmp(one, addr) == 0)
                return true;
        }
        p += len;
    }
    return false;
}

/* http_addr_norm - one hop of a forwarding header (bare, quoted, [v6]:port or v4:port) as a
 * canonical numeric address in out; false if it is no address. */
static bool http_addr_norm(const char *hop, size_t n, char out[WEB_ADDR_MAX])
{
    char a[WEB_ADDR_MAX];
    unsigned char bin[16];
    const char *colon;

    while (n > 0 && (*hop == ' ' || *hop == '\t' || *hop == '"'))
        hop++, n--;
    while (n > 0 && (hop[n - 1] == ' ' || hop[n - 1] == '\t' || hop[n - 1] == '"'))
        n--;
    if (n > 0 && *hop == '[') { /* [v6] or [v6]:port */
        const char *end = memchr(hop, ']', n);
        if (end == NULL)
            return false;
        hop++;
        n = (size_t)(end - hop);
    } else if ((colon = memchr(hop, ':', n)) != NULL &&
               memchr(colon + 1, ':', n - (size_t)(colon + 1 - hop)) == NULL) {
        n = (size_t)(colon - hop); /* v4:port */
    }
    if (n == 0 || n >= sizeof(a))
        return false;
    memcpy(a, hop, n);
    a[n] = '\0';
    if (inet_pton(AF_INET, a, bin) == 1)
        return inet_ntop(AF_INET, bin, out, WEB_ADDR_MAX) != NULL;
    return inet_pton(AF_INET6, a, bin) == 1 && inet_ntop(AF_INET6, bin, out, WEB_ADDR_MAX) != NULL;
}

/* http_fwd_for - the for= parameter of one Forwarded element [p, p + n), or NULL. */
static const char *http_fwd_for(const char *p, size_t n, size_t *len_r)
{
    for (const char *end = p + n; p < end;) {
        size_t len = strcspn(p, ";");
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        if (len > 4 && strncasecmp(p, "for=", 4) == 0) {
            *len_r = len - 4;
            return p + 4;
        }
        p += len + 1;
    }
    return NULL;
}

bool web_http_client_addr(const char *peer, const char *trusted, const char *xff,
                          const char *forwarded, char out[WEB_ADDR_MAX])
{
    const char *list = xff != NULL ? xff : forwarded;
    size_t end;

    snprintf(out, WEB_ADDR_MAX, "%s", peer);
    if (list == NULL || !web_addr_listed(trusted, peer))
        return false;
    /* from the right: the first hop that is not a trusted proxy is the client */
    for (end = strlen(list); end > 0;) {
        size_t start = end, n;
        const char *hop;
        char a[WEB_ADDR_MAX];

        while (start > 0 && list[start - 1] != ',')
            start--;
        hop = list + start;
        n = end - start;
        if (list == forwarded && (hop = http_fwd_for(hop, n, &n)) == NULL)
            break;
        if (!http_addr_norm(hop, n, a))
            break; /* "unknown", obfuscated or garbage: the last proxy is the client */
        snprintf(out, WEB_ADDR_MAX, "%s", a);
        if (!web_addr_listed(trusted, a))
            break;
        end = start > 0 ? start - 1 : 0;
    }
    return strcmp(out, peer) != 0;
}

/* http_peer - the connection's peer address, numeric. */
static void http_peer(struct MHD_Connection *c, const struct sockaddr *sa, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        sa == NULL ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    socklen_t len;

    if (sa == NULL)
        sa = ci != NULL ? ci->client_addr : NULL;
    len = sa != NULL && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in);
    snprintf(buf, size, "unknown");
    if (sa != NULL)
        getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST);
}

/* http_count_add - count one more for addr, unless limit (when not 0) is reached. */
static bool http_count_add(struct web_http *h, const char *addr, unsigned limit)
{
    size_t i;
    bool ok = true;

    pthread_mutex_lock(&h->mu);
    for (i = 0; i < h->ncounts && strcmp(h->counts[i].addr, addr) != 0; i++)
        ;
    if (i == h->ncounts) {
        h->counts = vec_reserve(h->counts, &h->cap, h->ncounts + 1, sizeof(*h->counts));
        snprintf(h->counts[i].addr, sizeof(h->counts[i].addr), "%s", addr);
        h->counts[i].n = 0;
        h->ncounts++;
    }
    if (limit != 0 && h->counts[i].n >= limit)
        ok = false;
    else
        h->counts[i].n++;
    pthread_mutex_unlock(&h->mu);
    return ok;
}

/* http_count_open - does addr have fewer than limit counted? */
static bool http_count_open(struct web_http *h, const char *addr, unsigned limit)
{
    bool ok = true;

    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->ncounts; i++)
        if (strcmp(h->counts[i].addr, addr) == 0)
            ok = h->counts[i].n < limit;
    pthread_mutex_unlock(&h->mu);
    return ok;
}

static void http_count_drop(struct web_http *h, const char *addr)
{
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->ncounts; i++) {
        if (strcmp(h->counts[i].addr, addr) == 0 && --h->counts[i].n == 0) {
            h->counts[i] = h->counts[--h->ncounts];
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

/* http_accept - MHD's accept policy: refuse a peer that has its connections open already. */
static enum MHD_Result http_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
    struct web_http *h = cls;
    const struct opes_config *cfg = h->ctx->cfg;
    char peer[WEB_ADDR_MAX];
    int64_t now = (int64_t)time(NULL);
    (void)len;

    http_peer(NULL, sa, peer, sizeof(peer));
    if (web_addr_listed(cfg->web_trusted_proxies, peer) ||
        http_count_open(h, peer, (unsigned)cfg->web_max_client_connections))
        return MHD_YES;
    /* one line a second at most: a flood of refusals must not flood the log */
    if (atomic_exchange(&h->refused_logged, now) != now)
        log_warnx("web: client=%s refused: %u connections open", peer,
                  (unsigned)cfg->web_max_client_connections);
    return MHD_NO;
}

/* http_connection - count a peer's connection from start to close; a short idle timeout
 * until the first request header is complete. */
static void http_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    struct web_http *h = cls;
    char *peer = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (peer != NULL)
            http_count_drop(h, peer);
        free(peer);
        *socket_context = NULL;
        return;
    }
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)h->ctx->cfg->web_header_timeout);
    peer = malloc(WEB_ADDR_MAX);
    if (peer == NULL)
        fatal("malloc");
    http_peer(c, NULL, peer, WEB_ADDR_MAX);
    if (web_addr_listed(h->ctx->cfg->web_trusted_proxies, peer)) {
        free(peer);
        return;
    }
    http_count_add(h, peer, 0);
    *socket_context = peer;
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
    MHD_add_response_header(r, "Referrer-Policy",
                            resp->origin_referrer ? "strict-origin" : "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    if (resp->no_store)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (resp->location[0] != '\0')
        MHD_add_response_header(r, "Location", resp->location);
    if (resp->cookie[0] != '\0')
        MHD_add_response_header(r, "Set-Cookie", resp->cookie);
    if (resp->bearer_challenge)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"opes-web\"");
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

/* http_json - is the request's body JSON (Content-Type application/json)? */
static bool http_json(struct MHD_Connection *c)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

    return type != NULL && strncasecmp(type, "application/json", 16) == 0 &&
           (type[16] == '\0' || type[16] == ';' || type[16] == ' ');
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
    snprintf(req.client, sizeof(req.client), "%s", hc->client);
    req.cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_SESSION_COOKIE);
    req.origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    /* the API's credential; pages ignore it (a proxy's own Basic auth may pass it on) */
    if (strncmp(url, "/api/", 5) == 0)
        req.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    req.csrf_header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    if (http_json(c)) {
        req.body = hc->body != NULL ? hc->body : "";
        req.body_len = hc->len;
    }
    req.accept_language = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language");
    web_page_locale(&req);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, http_query_arg, &req);
    req.st = web_http_store(ctx, &error);
    if (req.st == NULL) {
        log_warnx("web: store: %s", error);
        web_page_error(&req, resp, 503, "web.err.store");
    } else if (hc->limited) {
        web_page_error(&req, resp, 503, "web.err.busy");
    } else if (hc->too_big) {
        web_page_error(&req, resp, 413, "web.err.too_large");
    } else if (strcmp(method, "POST") == 0 && req.body == NULL &&
               web_form_parse(&req.form, hc->body != NULL ? hc->body : "", hc->len) != 0) {
        web_page_error(&req, resp, 400, "web.err.form");
    } else if (req.cookie != NULL && req.authorization == NULL && /* the API's token alone */
               web_session_lookup(req.st, req.cookie, req.now, (int64_t)ctx->cfg->web_session_idle,
                                  &req.sess, &error) < 0) {
        log_warnx("web: session: %s", error);
        web_page_error(&req, resp, 500, "web.err.store");
    } else {
        web_page_locale(&req); /* the signed-in user's own choice */
        web_route_dispatch(&req, resp);
    }
    /* the database went away during the request: whatever the page made of that,
     * the answer is "try again later" (the connection is made again next time) */
    if (req.st != NULL && store_unreachable(req.st))
        web_page_error(&req, resp, 503, "web.err.store");
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

/* http_access_answer - handle the complete request and queue its response. */
static enum MHD_Result http_access_answer(struct web_ctx *ctx, struct MHD_Connection *c,
                                          const char *url, const char *method, struct http_conn *hc)
{
    struct web_resp resp = {.status = 500};
    enum MHD_Result ret;

    http_handle(ctx, c, url, method, hc, &resp);
    ret = http_send(c, &resp);
    web_resp_free(&resp);
    return ret;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct web_http *h = cls;
    struct web_ctx *ctx = h->ctx;
    struct http_conn *hc = *con_cls;
    (void)version;

    if (hc == NULL) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        char peer[WEB_ADDR_MAX];
        hc = calloc(1, sizeof(*hc));
        if (hc == NULL)
            fatal("calloc");
        *con_cls = hc;
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)ctx->cfg->web_connection_timeout);
        http_peer(c, NULL, peer, sizeof(peer));
        if (web_http_client_addr(peer, ctx->cfg->web_trusted_proxies,
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"),
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Forwarded"),
                                 hc->client)) {
            hc->counted =
                http_count_add(h, hc->client, (unsigned)ctx->cfg->web_max_client_connections);
            hc->limited = !hc->counted;
        }
        if (hc->limited)
            return http_access_answer(ctx, c, url, method, hc);
        if (cl == NULL || strtoull(cl, NULL, 10) <= ctx->cfg->web_max_post)
            return MHD_YES;
        hc->too_big = true; /* answer now; the body is not read */
    } else if (*upload_data_size != 0) {
        http_body(hc, upload_data, *upload_data_size, (size_t)ctx->cfg->web_max_post);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return http_access_answer(ctx, c, url, method, hc);
}

static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct web_http *h = cls;
    struct http_conn *hc = *con_cls;
    (void)toe;
    if (hc != NULL) {
        if (hc->counted)
            http_count_drop(h, hc->client);
        free(hc->body);
        free(hc);
    }
    /* the next request on this connection: its header gets the short timeout again */
    if (c != NULL)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)h->ctx->cfg->web_header_timeout);
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
    pthread_mutex_init(&h->mu, NULL);
    /* the per-client limit is ours (http_accept, http_connection), not MHD's
     * PER_IP_CONNECTION_LIMIT, which would count a trusted proxy as one client */
    h->d = MHD_start_daemon(
        flags, 0, http_accept, h, http_access, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->web_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->web_connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_CONNECTION,
        http_connection, h, MHD_OPTION_NOTIFY_COMPLETED, http_completed, h, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->d == NULL) {
        snprintf(err, sizeof(err), "cannot listen on %s", cfg->web_listen);
        *error_r = err;
        pthread_mutex_destroy(&h->mu);
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
    pthread_mutex_destroy(&h->mu);
    free(h->counts);
    free(h);
}
