/*
 * pages_admin.c - the administrator's page (users, audit log, verdicts per
 * day as an SVG bar chart drawn here, no script) and /metrics in the
 * Prometheus text format for the addresses in [web] metrics_allow.
 */
#include <stdio.h>
#include <string.h>

#include "opes/log.h"
#include "opes/store.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

#define A_DAYS 14

struct a_page {
    struct html *h;
    const struct web_req *req;
};

/* a_user_row - one user: address, role, whether a password is set, how notices go. */
static void a_user_row(const struct store_user *u, void *ctx)
{
    const struct a_page *p = ctx;
    char mode[64];

    snprintf(mode, sizeof(mode), "web.admin.mode.%s", u->notify_mode);
    html_add(
        p->h, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", u->address,
        web_t(p->req, u->role == STORE_ROLE_ADMIN ? "web.admin.role.admin" : "web.admin.role.user"),
        web_t(p->req, u->has_password ? "web.admin.yes" : "web.admin.no"), web_t(p->req, mode));
}

static void a_audit_row(const struct store_audit_entry *e, void *ctx)
{
    char when[32];

    web_page_time(e->at, when, sizeof(when));
    html_add(ctx, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", when,
             e->actor, e->action, e->object, e->origin);
}

/* One day of the chart: held (quarantine, reject) and passed verdicts (junk: delivered). */
struct a_day {
    char day[11];
    int64_t pass, held;
};

struct a_chart {
    struct a_day d[A_DAYS];
    size_t n;
};

static void a_count_day(const char *label, int64_t count, void *ctx)
{
    struct a_chart *c = ctx;
    const char *verdict = strchr(label, ' ');
    struct a_day *d;

    if (verdict == NULL || verdict - label != 10)
        return;
    if (c->n == 0 || strncmp(c->d[c->n - 1].day, label, 10) != 0) {
        if (c->n == A_DAYS)
            return;
        d = &c->d[c->n++];
        memcpy(d->day, label, 10);
        d->day[10] = '\0';
    }
    d = &c->d[c->n - 1];
    if (strcmp(verdict + 1, "pass") == 0 || strcmp(verdict + 1, "tag") == 0 ||
        strcmp(verdict + 1, "modify") == 0 || strcmp(verdict + 1, "junk") == 0)
        d->pass += count;
    else
        d->held += count;
}

/* a_chart_svg - two bars per day, scaled to the largest count. */
static void a_chart_svg(struct html *h, const struct web_req *req, const struct a_chart *c)
{
    int64_t max = 1;
    const int bw = 18, gap = 14, height = 160, top = 14;

    for (size_t i = 0; i < c->n; i++) {
        max = c->d[i].pass > max ? c->d[i].pass : max;
        max = c->d[i].held > max ? c->d[i].held : max;
    }
    html_add(h,
             "<svg class=\"chart\" role=\"img\" aria-labelledby=\"chart-title\" "
             "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d "
             "%d\"><title id=\"chart-title\">%s</title>",
             (int)c->n * (2 * bw + gap) + 20, height + 50, (int)c->n * (2 * bw + gap) + 20,
             height + 50, web_t(req, "web.admin.chart_title"));
    for (size_t i = 0; i < c->n; i++) {
        int x = 10 + (int)i * (2 * bw + gap);
        int hp = (int)(c->d[i].pass * height / max), hh = (int)(c->d[i].held * height / max);
        html_add(h,
                 "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#2f7d4a\">"
                 "<title>%s: %L %s</title></rect>"
                 "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#a4161a\">"
                 "<title>%s: %L %s</title></rect>"
                 "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#1b1f24\">%s</text>"
                 "<text x=\"%d\" y=\"%d\" font-size=\"9\" fill=\"#1b1f24\">%L</text>"
                 "<text x=\"%d\" y=\"%d\" font-size=\"9\" fill=\"#1b1f24\">%L</text>",
                 x, top + height - hp, bw, hp, c->d[i].day, c->d[i].pass,
                 web_t(req, "web.admin.passed"), x + bw, top + height - hh, bw, hh, c->d[i].day,
                 c->d[i].held, web_t(req, "web.admin.held"), x, top + height + 14, c->d[i].day + 5,
                 x + 2, top + height - hp - 2, c->d[i].pass, x + bw + 2, top + height - hh - 2,
                 c->d[i].held);
    }
    html_add(h, "</svg>\n<p class=\"muted\">%s</p>\n", web_t(req, "web.admin.legend"));
}

void page_admin(struct web_req *req, struct web_resp *resp)
{
    struct a_chart chart = {0};
    struct html h = {0};
    const char *error;
    char none[200], days[16];

    web_page_begin(&h, req, "web.admin.title");
    html_add(&h, "<p><a href=\"/quarantine\">%s</a></p>\n<h2>%s</h2>\n",
             web_t(req, "web.admin.all_quarantine"), web_t(req, "web.admin.verdicts_h"));
    if (store_web_count(req->st, "verdict_day", A_DAYS, a_count_day, &chart, &error) < 0)
        log_warnx("web: stats: %s", error);
    snprintf(days, sizeof(days), "%d", A_DAYS);
    if (chart.n == 0)
        html_add(&h, "<p>%s</p>\n",
                 web_tf(req, none, sizeof(none), "web.admin.no_verdicts", "days", days));
    else
        a_chart_svg(&h, req, &chart);
    html_add(&h,
             "<h2>%s</h2>\n<div class=\"wrap\"><table><thead><tr><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "</tr></thead><tbody>\n",
             web_t(req, "web.admin.users_h"), web_t(req, "web.admin.col.address"),
             web_t(req, "web.admin.col.role"), web_t(req, "web.admin.col.password"),
             web_t(req, "web.admin.col.notices"));
    struct a_page page = {&h, req};
    if (store_user_list(req->st, a_user_row, &page, &error) < 0)
        log_warnx("web: users: %s", error);
    html_add(&h,
             "</tbody></table></div>\n<h2>%s</h2>\n<div class=\"wrap\"><table><thead><tr>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th></tr></thead><tbody>\n",
             web_t(req, "web.admin.audit_h"), web_t(req, "web.admin.col.when"),
             web_t(req, "web.admin.col.who"), web_t(req, "web.admin.col.action"),
             web_t(req, "web.admin.col.object"), web_t(req, "web.admin.col.origin"));
    if (store_audit_list(req->st, 100, a_audit_row, &h, &error) < 0)
        log_warnx("web: audit: %s", error);
    html_add(&h, "</tbody></table></div>\n");
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

/* ------------------------------------------------------------ /metrics */

struct a_metric {
    char *buf;
    size_t len, cap;
    const char *name, *label, *label2;
};

static void a_emit(struct a_metric *m, const char *text)
{
    size_t n = strlen(text);

    if (m->len + n + 1 > m->cap)
        return; /* the buffer is sized for far more series than exist */
    memcpy(m->buf + m->len, text, n + 1);
    m->len += n;
}

/* a_clean - a label value without quote, backslash or line end. */
static void a_clean(char *dst, size_t size, const char *src, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && src[i] != '\0' && o + 1 < size; i++)
        dst[o++] = (src[i] == '"' || src[i] == '\\' || src[i] == '\n') ? '_' : src[i];
    dst[o] = '\0';
}

/* a_series - one sample; a label "a b" fills two labels when the family names two. */
static void a_series(const char *label, int64_t count, void *ctx)
{
    struct a_metric *m = ctx;
    const char *sp = strchr(label, ' ');
    char line[400], one[128];

    if (m->label2 != NULL && sp != NULL) {
        char two[128];
        a_clean(one, sizeof(one), label, (size_t)(sp - label));
        a_clean(two, sizeof(two), sp + 1, strlen(sp + 1));
        snprintf(line, sizeof(line), "%s{%s=\"%s\",%s=\"%s\"} %lld\n", m->name, m->label, one,
                 m->label2, two, (long long)count);
    } else if (strcmp(label, "sum") == 0 && strcmp(m->label, "le") == 0) {
        snprintf(line, sizeof(line), "%s_sum %lld\n", m->name, (long long)count);
    } else {
        a_clean(one, sizeof(one), label, strlen(label));
        snprintf(line, sizeof(line), "%s{%s=\"%s\"} %lld\n", m->name, m->label, one,
                 (long long)count);
    }
    a_emit(m, line);
}

static void a_family(struct web_req *req, struct a_metric *m, const char *what, const char *name,
                     const char *label, const char *label2, const char *help)
{
    char line[300];
    const char *error;

    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    a_emit(m, line);
    m->name = name;
    m->label = label;
    m->label2 = label2;
    if (store_web_count(req->st, what, 1, a_series, m, &error) < 0)
        log_warnx("web: metrics %s: %s", what, error);
}

void page_metrics(struct web_req *req, struct web_resp *resp)
{
    char buf[64 * 1024];
    struct a_metric m = {.buf = buf, .cap = sizeof(buf)};

    buf[0] = '\0';
    a_family(req, &m, "status", "opes_quarantine_entries", "status", NULL,
             "Quarantine entries by status.");
    a_family(req, &m, "held_service", "opes_quarantine_held", "service", NULL,
             "Entries held now, by the service that held them.");
    a_family(req, &m, "release", "opes_release_requests", "state", NULL,
             "Release requests by state.");
    a_family(req, &m, "outcome", "opes_recipients_24h", "outcome", NULL,
             "Recipients in the last 24 hours by outcome.");
    a_family(req, &m, "service_verdict", "opes_service_verdicts_24h", "service", "verdict",
             "Service verdicts in the last 24 hours.");
    a_family(req, &m, "latency", "opes_reply_ms_24h", "le", NULL,
             "Replies in the last 24 hours that took at most le ms from the start of the "
             "transaction to the final reply (cumulative), and their sum.");
    web_resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", m.buf, m.len);
    resp->no_store = true;
}
