/*
 * metrics.c - this node's own live figures and the responder that serves them.
 *
 * The counters are process-wide C11 atomics, bumped with relaxed order where
 * the mail path decides an outcome; reading them for a scrape is a snapshot
 * good enough for rates. Services are counted by name in a fixed table: a
 * lookup is a scan without lock, only a name seen for the first time takes a
 * mutex to claim a row. The responder is one thread with a poll loop over
 * the listening socket and at most METRICS_CLIENTS connections, each
 * non-blocking, with METRICS_TIMEOUT_MS for its request and its answer: a
 * slow or silent client holds a slot, never the thread, and when the slots
 * are full the oldest connection makes way for the new one.
 */
#include "opes/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/lmtp_server.h"
#include "opes/log.h"
#include "opes/netio.h"
#include "opes/service.h"
#include "opes/store.h"
#include "opes/vec.h"

enum mx_outcome { MX_DELIVERED, MX_JUNK, MX_QUARANTINED, MX_TEMPFAILED, MX_REJECTED, MX_OUTCOMES };
static const char *const mx_outcome_names[MX_OUTCOMES] = {"delivered", "junk", "quarantined",
                                                          "tempfailed", "rejected"};

#define MX_VERDICTS (SVC_TEMPFAIL + 2) /* enum svc_verdict, then failed */

/* the service latency buckets, in milliseconds (le in seconds = ms / 1000) */
static const int64_t mx_le_ms[] = {5,    10,   25,   50,    100,   250,  500,
                                   1000, 2500, 5000, 10000, 30000, 60000};
#define MX_BUCKETS (sizeof(mx_le_ms) / sizeof(mx_le_ms[0]) + 1) /* the last one: +Inf */

#define MX_SERVICES 64

struct mx_service {
    char name[64];
    atomic_uint_fast64_t verdicts[MX_VERDICTS];
    atomic_uint_fast64_t buckets[MX_BUCKETS]; /* not cumulative here */
    atomic_uint_fast64_t sum_ms;
};

enum mx_backlog { MX_NOTICES, MX_DIGESTS, MX_RELEASES, MX_BACKLOGS };
static const char *const mx_backlog_names[MX_BACKLOGS] = {"notices", "digests", "releases"};

static struct {
    atomic_int_fast64_t sessions_current;
    atomic_uint_fast64_t sessions_total;
    atomic_uint_fast64_t messages[MX_OUTCOMES];
    atomic_uint_fast64_t recipients[MX_OUTCOMES];
    atomic_uint_fast64_t downstream[3]; /* 2xx, 4xx, 5xx */
    struct mx_service services[MX_SERVICES];
    atomic_size_t nservices;
    pthread_mutex_t claim; /* only to add a service row */
    atomic_int_fast64_t backlog[MX_BACKLOGS];
    atomic_int_fast64_t backlog_at; /* unix time of the last read, 0: never */
    atomic_int_fast64_t scraped_at; /* unix time of the last scrape, 0: never */
    atomic_uint_fast64_t scrapes;
} mx = {.claim = PTHREAD_MUTEX_INITIALIZER};

#define MX_ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define MX_GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

/* ------------------------------------------------------------ counting */

void metrics_session(int delta)
{
    MX_ADD(mx.sessions_current, delta);
    if (delta > 0)
        MX_ADD(mx.sessions_total, 1);
}

/* mx_tagged - "rules=tag,spamd=pass": did some service tag this recipient's copy? */
static bool mx_tagged(const char *services)
{
    for (const char *p = strstr(services, "=tag"); p != NULL; p = strstr(p + 1, "=tag"))
        if (p[4] == ',' || p[4] == '\0')
            return true;
    return false;
}

/* mx_outcome_of - one recipient's outcome from its final reply and the policy's action. */
static enum mx_outcome mx_outcome_of(const struct lmtp_server_rcpt *r)
{
    if (r->reply.code / 100 == 5)
        return MX_REJECTED;
    if (r->reply.code / 100 != 2)
        return MX_TEMPFAILED;
    if (r->action != NULL && strcmp(r->action, "quarantined") == 0)
        return MX_QUARANTINED;
    return mx_tagged(r->services) ? MX_JUNK : MX_DELIVERED;
}

void metrics_replied(const struct lmtp_server_tx *tx)
{
    enum mx_outcome worst = MX_DELIVERED;

    for (size_t i = 0; i < tx->nrcpts; i++) {
        enum mx_outcome o = mx_outcome_of(&tx->rcpts[i]);
        MX_ADD(mx.recipients[o], 1);
        if (o > worst)
            worst = o;
    }
    if (tx->nrcpts > 0)
        MX_ADD(mx.messages[worst], 1);
}

/* mx_service_row - the row of a service name, claimed the first time it is seen; NULL when full. */
static struct mx_service *mx_service_row(const char *name)
{
    size_t n = atomic_load_explicit(&mx.nservices, memory_order_acquire);
    struct mx_service *row = NULL;

    for (size_t i = 0; i < n; i++)
        if (strcmp(mx.services[i].name, name) == 0)
            return &mx.services[i];
    pthread_mutex_lock(&mx.claim);
    n = atomic_load_explicit(&mx.nservices, memory_order_relaxed);
    for (size_t i = 0; i < n && row == NULL; i++)
        if (strcmp(mx.services[i].name, name) == 0)
            row = &mx.services[i];
    if (row == NULL && n < MX_SERVICES) {
        row = &mx.services[n];
        snprintf(row->name, sizeof(row->name), "%s", name);
        atomic_store_explicit(&mx.nservices, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&mx.claim);
    return row;
}

void metrics_service(const char *name, enum svc_verdict verdict, bool failed, int64_t ms)
{
    struct mx_service *row = mx_service_row(name);
    size_t b = 0, v = failed ? MX_VERDICTS - 1 : (size_t)verdict;

    if (row == NULL)
        return; /* more services than a configuration can name */
    if (v < MX_VERDICTS)
        MX_ADD(row->verdicts[v], 1);
    while (b + 1 < MX_BUCKETS && ms > mx_le_ms[b])
        b++;
    MX_ADD(row->buckets[b], 1);
    MX_ADD(row->sum_ms, (uint_fast64_t)(ms > 0 ? ms : 0));
}

void metrics_downstream(const struct lmtp_reply *replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = replies[i].code / 100;
        if (c == 2 || c == 4 || c == 5)
            MX_ADD(mx.downstream[c == 2 ? 0 : c - 3], 1);
    }
}

/* mx_backlog_count - one (label, count) of store_web_count "backlog". */
static void mx_backlog_count(const char *label, int64_t count, void *ctx)
{
    int64_t *got = ctx;

    for (size_t i = 0; i < MX_BACKLOGS; i++)
        if (strcmp(label, mx_backlog_names[i]) == 0)
            got[i] = count;
}

void metrics_backlog_read(struct store *st)
{
    int64_t now = (int64_t)time(NULL), got[MX_BACKLOGS] = {0};
    const char *error;

    if (now - MX_GET(mx.scraped_at) > 60 || now - MX_GET(mx.backlog_at) < METRICS_BACKLOG_EVERY)
        return; /* nobody looks, or the figures are fresh */
    if (store_web_count(st, "backlog", 0, mx_backlog_count, got, &error) < 0) {
        log_warnx("metrics: reading the job backlog: %s", error);
        return;
    }
    for (size_t i = 0; i < MX_BACKLOGS; i++)
        atomic_store_explicit(&mx.backlog[i], got[i], memory_order_relaxed);
    atomic_store_explicit(&mx.backlog_at, now, memory_order_relaxed);
}

/* ------------------------------------------------------------ exposition */

struct mx_out {
    char *buf;
    size_t len, cap;
    char node[200]; /* the node label, escaped */
};

static void mx_printf(struct mx_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mx_printf(struct mx_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len)
            break;
        o->buf = vec_reserve(o->buf, &o->cap, o->len + (size_t)n + 1, 1);
    }
    o->len += (size_t)n;
}

/* mx_family - the HELP and TYPE lines of one metric. */
static void mx_family(struct mx_out *o, const char *name, const char *type, const char *help)
{
    mx_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* mx_escape - a label value as the exposition format writes it (\\, \", \n). */
static void mx_escape(char *dst, size_t size, const char *src)
{
    size_t o = 0;

    for (; *src != '\0' && o + 3 < size; src++) {
        if (*src == '\\' || *src == '"' || *src == '\n')
            dst[o++] = '\\';
        dst[o++] = *src == '\n' ? 'n' : *src;
    }
    dst[o] = '\0';
}

/* mx_labelled - one family with one label over a fixed list of values. */
static void mx_labelled(struct mx_out *o, const char *name, const char *type, const char *help,
                        const char *label, const char *const *values, size_t n,
                        const void *counters, bool is_signed)
{
    mx_family(o, name, type, help);
    for (size_t i = 0; i < n; i++) {
        long long v = is_signed ? (long long)MX_GET(((atomic_int_fast64_t *)counters)[i])
                                : (long long)MX_GET(((atomic_uint_fast64_t *)counters)[i]);
        mx_printf(o, "%s{node=\"%s\",%s=\"%s\"} %lld\n", name, o->node, label, values[i], v);
    }
}

/* mx_services - the per-service verdict counters and latency histograms. */
static void mx_services(struct mx_out *o)
{
    size_t n = atomic_load_explicit(&mx.nservices, memory_order_acquire);
    char svc[150];

    mx_family(o, "opes_service_verdicts_total", "counter",
              "Service runs by service and verdict (failed: no answer, on_failure applied).");
    for (size_t i = 0; i < n; i++) {
        mx_escape(svc, sizeof(svc), mx.services[i].name);
        for (size_t v = 0; v < MX_VERDICTS; v++)
            mx_printf(
                o, "opes_service_verdicts_total{node=\"%s\",service=\"%s\",verdict=\"%s\"} %llu\n",
                o->node, svc,
                v + 1 < MX_VERDICTS ? config_word_name(svcdesc_verdict_words, (int)v) : "failed",
                (unsigned long long)MX_GET(mx.services[i].verdicts[v]));
    }
    mx_family(o, "opes_service_duration_seconds", "histogram",
              "Time one service took to look at one message.");
    for (size_t i = 0; i < n; i++) {
        unsigned long long cum = 0;
        mx_escape(svc, sizeof(svc), mx.services[i].name);
        for (size_t b = 0; b < MX_BUCKETS; b++) {
            char le[32];
            cum += (unsigned long long)MX_GET(mx.services[i].buckets[b]);
            if (b + 1 < MX_BUCKETS)
                snprintf(le, sizeof(le), "%g", (double)mx_le_ms[b] / 1000.0);
            else
                snprintf(le, sizeof(le), "+Inf");
            mx_printf(o,
                      "opes_service_duration_seconds_bucket{node=\"%s\",service=\"%s\",le=\"%s\"} "
                      "%llu\n",
                      o->node, svc, le, cum);
        }
        mx_printf(o, "opes_service_duration_seconds_sum{node=\"%s\",service=\"%s\"} %.3f\n",
                  o->node, svc, (double)MX_GET(mx.services[i].sum_ms) / 1000.0);
        mx_printf(o, "opes_service_duration_seconds_count{node=\"%s\",service=\"%s\"} %llu\n",
                  o->node, svc, cum);
    }
}

char *metrics_render(const char *node, size_t *len_r)
{
    static const char *const classes[] = {"2xx", "4xx", "5xx"};
    struct mx_out o = {0};

    o.buf = vec_reserve(NULL, &o.cap, 16384, 1);
    o.buf[0] = '\0';
    mx_escape(o.node, sizeof(o.node), node);
    mx_family(&o, "opes_sessions", "gauge", "LMTP sessions open now.");
    mx_printf(&o, "opes_sessions{node=\"%s\"} %lld\n", o.node,
              (long long)MX_GET(mx.sessions_current));
    mx_family(&o, "opes_sessions_total", "counter", "LMTP sessions since start.");
    mx_printf(&o, "opes_sessions_total{node=\"%s\"} %llu\n", o.node,
              (unsigned long long)MX_GET(mx.sessions_total));
    mx_labelled(&o, "opes_messages_total", "counter",
                "Messages that got their final replies, by the most severe outcome among "
                "their recipients.",
                "outcome", mx_outcome_names, MX_OUTCOMES, mx.messages, false);
    mx_labelled(&o, "opes_recipients_total", "counter",
                "Final replies to recipients, by outcome (junk: delivered with a tag verdict).",
                "outcome", mx_outcome_names, MX_OUTCOMES, mx.recipients, false);
    mx_services(&o);
    mx_labelled(&o, "opes_downstream_replies_total", "counter",
                "Answers of the delivery target per recipient copy, by class.", "class", classes, 3,
                mx.downstream, false);
    /* no series before the first read: a backlog of 0 would be a claim */
    mx_labelled(&o, "opes_jobs_backlog", "gauge",
                "Notices, digests and release requests pending in the store, as last read.", "kind",
                mx_backlog_names, MX_GET(mx.backlog_at) != 0 ? MX_BACKLOGS : 0, mx.backlog, true);
    mx_family(
        &o, "opes_jobs_backlog_read_timestamp_seconds", "gauge",
        "When the backlog was last read from the store (0: not yet, and no opes_jobs_backlog).");
    mx_printf(&o, "opes_jobs_backlog_read_timestamp_seconds{node=\"%s\"} %lld\n", o.node,
              (long long)MX_GET(mx.backlog_at));
    mx_family(&o, "opes_metrics_scrapes_total", "counter", "Answered GET /metrics requests.");
    mx_printf(&o, "opes_metrics_scrapes_total{node=\"%s\"} %llu\n", o.node,
              (unsigned long long)MX_GET(mx.scrapes));
    *len_r = o.len;
    return o.buf;
}

/* ------------------------------------------------------------ responder */

struct mx_conn {
    int fd; /* -1: free */
    int64_t deadline, opened;
    char req[METRICS_REQUEST_MAX + 1];
    size_t len;
    char *out; /* the answer, once the request is in */
    size_t outlen, sent;
};

static struct {
    int lfd, stop_fd;
    pthread_t thread;
    bool running;
    char node[256];
    struct mx_conn conns[METRICS_CLIENTS];
} mxr = {.lfd = -1};

static void mx_close(struct mx_conn *c)
{
    close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->len = c->outlen = c->sent = 0;
}

/* mx_answer - an HTTP/1.0 answer with its body into c->out. */
static void mx_answer(struct mx_conn *c, int code, const char *reason, const char *type,
                      const char *body, size_t len)
{
    char head[300];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     code, reason, type, len);

    c->out = malloc((size_t)n + len);
    if (c->out == NULL)
        fatal("malloc");
    memcpy(c->out, head, (size_t)n);
    memcpy(c->out + n, body, len);
    c->outlen = (size_t)n + len;
}

/* mx_request - answer the request in c->req: GET /metrics, 404 elsewhere, 405, 400. */
static void mx_request(struct mx_conn *c)
{
    static const char text[] = "text/plain; charset=utf-8";
    char method[16], target[256], version[16];
    size_t len;

    c->req[c->len] = '\0';
    if (strlen(c->req) != c->len ||
        sscanf(c->req, "%15s %255s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        mx_answer(c, 400, "Bad Request", text, "bad request\n", 12);
    } else if (strcmp(method, "GET") != 0) {
        mx_answer(c, 405, "Method Not Allowed", text, "only GET\n", 9);
    } else if (strcmp(target, "/metrics") != 0 && strncmp(target, "/metrics?", 9) != 0) {
        mx_answer(c, 404, "Not Found", text, "not found: only /metrics\n", 25);
    } else {
        atomic_store_explicit(&mx.scraped_at, (int64_t)time(NULL), memory_order_relaxed);
        MX_ADD(mx.scrapes, 1);
        char *body = metrics_render(mxr.node, &len);
        mx_answer(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
        free(body);
    }
}

/* mx_stalled - after a recv or send of n: true when nothing more can be done
 * now (it would block, or the connection is over and closed here). */
static bool mx_stalled(struct mx_conn *c, ssize_t n)
{
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0)
        mx_close(c);
    return n <= 0;
}

/* mx_read - more of the request; the answer once its head is complete. */
static void mx_read(struct mx_conn *c)
{
    ssize_t n = recv(c->fd, c->req + c->len, METRICS_REQUEST_MAX - c->len, MSG_DONTWAIT);

    if (mx_stalled(c, n))
        return;
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (memmem(c->req, c->len, "\r\n\r\n", 4) != NULL || memmem(c->req, c->len, "\n\n", 2) != NULL)
        mx_request(c);
    else if (c->len == METRICS_REQUEST_MAX)
        mx_answer(c, 431, "Request Header Fields Too Large", "text/plain; charset=utf-8",
                  "request too large\n", 18);
}

/* mx_write - more of the answer; closed when it is all out. */
static void mx_write(struct mx_conn *c)
{
    ssize_t n = send(c->fd, c->out + c->sent, c->outlen - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (mx_stalled(c, n))
        return;
    c->sent += (size_t)n;
    if (c->sent == c->outlen) {
        shutdown(c->fd, SHUT_WR);
        mx_close(c);
    }
}

/* mx_accept - a new connection in a free slot, or in the oldest one's. */
static void mx_accept(void)
{
    int fd = accept4(mxr.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    struct mx_conn *slot = NULL;

    if (fd < 0)
        return;
    for (size_t i = 0; i < METRICS_CLIENTS; i++) {
        struct mx_conn *c = &mxr.conns[i];
        if (c->fd < 0) {
            slot = c;
            break;
        }
        if (slot == NULL || c->opened < slot->opened)
            slot = c;
    }
    if (slot->fd >= 0)
        mx_close(slot);
    slot->fd = fd;
    slot->opened = clock_now_ms();
    slot->deadline = slot->opened + METRICS_TIMEOUT_MS;
}

/* mx_thread - the responder's poll loop, until stop_fd is readable. */
static void *mx_thread(void *arg)
{
    struct pollfd pfd[METRICS_CLIENTS + 2];
    size_t slot[METRICS_CLIENTS];

    (void)arg;
    log_set_context("metrics");
    for (;;) {
        int64_t now = clock_now_ms(), wait = METRICS_TIMEOUT_MS;
        nfds_t n = 2;
        pfd[0] = (struct pollfd){.fd = mxr.stop_fd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = mxr.lfd, .events = POLLIN};
        for (size_t i = 0; i < METRICS_CLIENTS; i++) {
            struct mx_conn *c = &mxr.conns[i];
            if (c->fd < 0)
                continue;
            if (now >= c->deadline) {
                mx_close(c); /* too slow: the slot goes back */
                continue;
            }
            if (c->deadline - now < wait)
                wait = c->deadline - now;
            slot[n - 2] = i;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = c->out != NULL ? POLLOUT : POLLIN};
        }
        if (poll(pfd, n, (int)wait) < 0 && errno != EINTR) {
            log_warn("metrics: poll");
            break;
        }
        if (pfd[0].revents != 0)
            break;
        for (nfds_t i = 2; i < n; i++) {
            struct mx_conn *c = &mxr.conns[slot[i - 2]];
            if (pfd[i].revents == 0)
                continue;
            if (c->out == NULL)
                mx_read(c);
            if (c->fd >= 0 && c->out != NULL)
                mx_write(c);
        }
        if (pfd[1].revents & POLLIN)
            mx_accept();
    }
    for (size_t i = 0; i < METRICS_CLIENTS; i++)
        if (mxr.conns[i].fd >= 0)
            mx_close(&mxr.conns[i]);
    return NULL;
}

int metrics_start(const struct opes_config *cfg, const struct svc_set *services, int stop_fd,
                  const char **error_r)
{
    struct endpoint ep;

    if (cfg->metrics_listen[0] == '\0')
        return 0;
    if (endpoint_parse(cfg->metrics_listen, &ep, error_r) < 0)
        return -1;
    mxr.lfd = netio_listen(&ep, 0, error_r);
    if (mxr.lfd < 0)
        return -1;
    fcntl(mxr.lfd, F_SETFL, O_NONBLOCK);
    if (cfg->node_name[0] != '\0')
        snprintf(mxr.node, sizeof(mxr.node), "%s", cfg->node_name);
    else if (gethostname(mxr.node, sizeof(mxr.node) - 1) != 0)
        snprintf(mxr.node, sizeof(mxr.node), "localhost");
    mxr.stop_fd = stop_fd;
    for (size_t i = 0; i < services->n; i++)
        mx_service_row(services->svc[i].name);
    for (size_t i = 0; i < METRICS_CLIENTS; i++)
        mxr.conns[i].fd = -1;
    if (pthread_create(&mxr.thread, NULL, mx_thread, NULL) != 0) {
        close(mxr.lfd);
        mxr.lfd = -1;
        *error_r = "cannot start the metrics thread";
        return -1;
    }
    mxr.running = true;
    log_info("metrics on http://%s/metrics", cfg->metrics_listen);
    return 0;
}

void metrics_stop(void)
{
    if (!mxr.running)
        return;
    pthread_join(mxr.thread, NULL);
    mxr.running = false;
    close(mxr.lfd);
    mxr.lfd = -1;
}
