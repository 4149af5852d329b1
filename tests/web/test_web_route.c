/*
 * test_web_route.c - route matching, and the dispatcher's checks on the
 * portal's real route table: 404/405, login redirects, CSRF and origin on
 * POST, that a recipient never sees another recipient's item, and the
 * client address behind trusted proxies.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/token.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_route.h"
#include "web_testutil.h"

Suite *unit_suite(void);

static void h_a(struct web_req *req, struct web_resp *resp)
{
    (void)req;
    (void)resp;
}

static void h_b(struct web_req *req, struct web_resp *resp)
{
    (void)req;
    (void)resp;
}

static const struct web_route table[] = {
    {"GET", "/quarantine", h_a, WEB_AUTH_SESSION},
    {"GET", "/quarantine/*", h_b, WEB_AUTH_SESSION},
    {"POST", "/quarantine/*", h_a, WEB_AUTH_SESSION},
    {"GET", "/x/*/y/*", h_b, WEB_AUTH_PUBLIC},
};
#define N (sizeof(table) / sizeof(table[0]))

START_TEST(match)
{
    char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX];
    const struct web_route *r = NULL;

    ck_assert_int_eq(web_route_match(table, N, "GET", "/quarantine", &r, args), WEB_ROUTE_FOUND);
    ck_assert_ptr_eq(r, &table[0]);
    ck_assert_int_eq(web_route_match(table, N, "HEAD", "/quarantine", &r, args), WEB_ROUTE_FOUND);
    ck_assert_int_eq(web_route_match(table, N, "GET", "/quarantine/abc123", &r, args),
                     WEB_ROUTE_FOUND);
    ck_assert_ptr_eq(r, &table[1]);
    ck_assert_str_eq(args[0], "abc123");
    ck_assert_int_eq(web_route_match(table, N, "POST", "/quarantine/abc", &r, args),
                     WEB_ROUTE_FOUND);
    ck_assert_ptr_eq(r, &table[2]);
    ck_assert_int_eq(web_route_match(table, N, "GET", "/x/one/y/two", &r, args), WEB_ROUTE_FOUND);
    ck_assert_str_eq(args[0], "one");
    ck_assert_str_eq(args[1], "two");
}
END_TEST

static const char *const no_match[] = {
    "/quarantine/", "/quarantine/a/b", "/quarantinex", "/Quarantine", "", "/",
    "/x//y/z",      "/quarantine//",
};

START_TEST(no_match_paths)
{
    char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX];
    const struct web_route *r = NULL;

    ck_assert_msg(web_route_match(table, N, "GET", no_match[_i], &r, args) == WEB_ROUTE_NOT_FOUND,
                  "%s matched", no_match[_i]);
}
END_TEST

START_TEST(method_and_length)
{
    char args[WEB_ROUTE_ARGS][WEB_ROUTE_ARG_MAX], path[WEB_ROUTE_ARG_MAX + 20];
    const struct web_route *r = NULL;

    ck_assert_int_eq(web_route_match(table, N, "POST", "/quarantine", &r, args),
                     WEB_ROUTE_BAD_METHOD);
    ck_assert_int_eq(web_route_match(table, N, "DELETE", "/quarantine/a", &r, args),
                     WEB_ROUTE_BAD_METHOD);
    strcpy(path, "/quarantine/");
    memset(path + 12, 'a', WEB_ROUTE_ARG_MAX);
    path[12 + WEB_ROUTE_ARG_MAX] = '\0';
    ck_assert_int_eq(web_route_match(table, N, "GET", path, &r, args), WEB_ROUTE_NOT_FOUND);
    path[12 + WEB_ROUTE_ARG_MAX - 1] = '\0';
    ck_assert_int_eq(web_route_match(table, N, "GET", path, &r, args), WEB_ROUTE_FOUND);
}
END_TEST

/* ------------------------------------------------------------ the real table */

static const char service_conf[] = "[service.rules]\ntype = rules\norder = 10\n"
                                   "rule = header Subject /HOLD/ quarantine\n"
                                   "[service.spam]\ntype = spamd\norder = 20\n";

static void session(struct wt *w, const char *address, struct web_session *s)
{
    char id[WEB_SESSION_TEXT];
    const char *error;

    ck_assert_int_eq(
        web_session_create(w->st, address, false, (int64_t)time(NULL), 3600, id, s, &error), 0);
}

START_TEST(dispatch_errors_and_headers)
{
    struct wt w;
    struct web_resp r;

    wt_open(&w, service_conf);
    wt_run(&w, "GET", "/no/such/page", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.type, "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "<!DOCTYPE html>"));
    web_resp_free(&r);
    wt_run(&w, "DELETE", "/opes", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    web_resp_free(&r);
    wt_run(&w, "GET", "/quarantine", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 303);
    ck_assert_str_eq(r.location, "/login");
    ck_assert(r.no_store);
    web_resp_free(&r);
    wt_run(&w, "GET", "/admin", NULL, NULL, NULL, &r);
    ck_assert_str_eq(r.location, "/admin/login");
    web_resp_free(&r);
    wt_run(&w, "GET", "/opes", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "http://opes.example.org/opes/service/rules"));
    ck_assert_ptr_nonnull(strstr(r.body, "http://opes.example.org/opes/service/spam"));
    ck_assert_ptr_nonnull(strstr(r.body, "you can turn it off"));
    web_resp_free(&r);
    wt_run(&w, "GET", "/opes/service/spam", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    wt_run(&w, "GET", "/opes/service/nothing", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    web_resp_free(&r);
    w.ctx.privacy_text = "We keep <b>little</b> & delete it.\n\nSecond paragraph.";
    wt_run(&w, "GET", "/privacy", NULL, NULL, NULL, &r);
    w.ctx.privacy_text = NULL;
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(
        strstr(r.body, "<p>We keep &lt;b&gt;little&lt;/b&gt; &amp; delete it.</p>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<p>Second paragraph.</p>"));
    ck_assert_ptr_nonnull(strstr(r.body, "kept for 30 days"));
    /* the header section kept in clear, and until when */
    ck_assert_ptr_nonnull(strstr(r.body, "header section (From, To, Subject, Received"));
    ck_assert_ptr_nonnull(strstr(r.body, "header section 30 days after it was released"));
    ck_assert_ptr_nonnull(strstr(r.body, "OPES-System"));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

START_TEST(dispatch_csrf_and_origin)
{
    struct wt w;
    struct web_session s;
    struct web_resp r;
    char id[STORE_ID_LEN + 1], path[64], body[200];

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org", "Subject: a\n\nbody\n", id);
    session(&w, "alice@example.org", &s);
    snprintf(path, sizeof(path), "/quarantine/%s", id);
    wt_run(&w, "POST", path, "action=delete", &s, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    wt_run(&w, "POST", path, "action=delete&csrf=wrong", &s, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    snprintf(body, sizeof(body), "action=delete&confirm=1&csrf=%s", s.csrf);
    wt_run(&w, "POST", path, body, &s, "http://evil.example", &r);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    /* a POST without a session is refused, not redirected */
    wt_run(&w, "POST", path, body, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    /* nothing happened so far */
    struct store_qitem it;
    const char *error;
    ck_assert_int_eq(store_quarantine_get(w.st, id, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    wt_run(&w, "POST", path, body, &s, "http://portal.example.org", &r);
    ck_assert_int_eq(r.status, 303);
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, id, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_DELETED);
    wt_close(&w);
}
END_TEST

START_TEST(dispatch_other_recipient_is_not_found)
{
    struct wt w;
    struct web_session alice, bob;
    struct web_resp r;
    char id[STORE_ID_LEN + 1], path[64], body[200];

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org",
            "Subject: secret\n\nSECRET-PREVIEW-TEXT <script>alert(1)</script>\n", id);
    session(&w, "alice@example.org", &alice);
    session(&w, "bob@example.org", &bob);
    snprintf(path, sizeof(path), "/quarantine/%s", id);
    wt_run(&w, "GET", path, NULL, &alice, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "SECRET-PREVIEW-TEXT &lt;script&gt;alert(1)"));
    ck_assert_ptr_null(strstr(r.body, "<script"));
    ck_assert_ptr_nonnull(strstr(r.body, "held &lt;b&gt;subject&lt;/b&gt;"));
    web_resp_free(&r);
    wt_run(&w, "GET", path, NULL, &bob, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_null(strstr(r.body, "SECRET"));
    web_resp_free(&r);
    snprintf(body, sizeof(body), "action=release&csrf=%s", bob.csrf);
    wt_run(&w, "POST", path, body, &bob, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    web_resp_free(&r);
    wt_run(&w, "GET", "/quarantine", NULL, &bob, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, id));
    web_resp_free(&r);
    wt_run(&w, "GET", "/quarantine", NULL, &alice, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, id));
    web_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/quarantine/%s", id);
    wt_run(&w, "GET", path, NULL, &bob, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    web_resp_free(&r);
    wt_run(&w, "GET", "/api/v1/quarantine", NULL, &bob, NULL, &r);
    ck_assert_str_eq(r.body, "{\"items\":[],\"total\":0}");
    web_resp_free(&r);
    struct store_trace t = {.trace_id = "trace-1",
                            .recipient = "alice@example.org",
                            .event = "service",
                            .service = "rules",
                            .verdict = "quarantine",
                            .detail = "matched <rule>",
                            .at = 1000};
    const char *error;
    ck_assert_int_eq(store_trace_add(w.st, &t, &error), 0);
    wt_run(&w, "GET", "/trace/trace-1", NULL, &alice, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "matched &lt;rule&gt;"));
    web_resp_free(&r);
    wt_run(&w, "GET", "/trace/trace-1", NULL, &bob, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_null(strstr(r.body, "matched"));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

START_TEST(dispatch_sql_metacharacters_in_search)
{
    struct wt w;
    struct web_session s;
    struct web_resp r;
    struct web_req req;
    char id[STORE_ID_LEN + 1];

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org", "Subject: a\n\nb\n", id);
    session(&w, "alice@example.org", &s);
    memset(&req, 0, sizeof(req));
    req.ctx = &w.ctx;
    req.st = w.st;
    req.method = "GET";
    req.path = "/quarantine";
    req.sess = s;
    web_form_add(&req.query, "q", "' OR 1=1; DROP TABLE quarantine; --");
    web_form_add(&req.query, "status", "any");
    memset(&r, 0, sizeof(r));
    web_route_dispatch(&req, &r);
    web_req_free(&req);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, id));
    ck_assert_ptr_nonnull(strstr(r.body, "value=\"&#39; OR 1=1; DROP TABLE quarantine; --\""));
    web_resp_free(&r);
    wt_run(&w, "GET", "/quarantine", NULL, &s, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, id));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

/* get - GET path with query fields (name, value pairs, NULL-terminated) in session s. */
static void get(struct wt *w, const char *path, const struct web_session *s, struct web_resp *r,
                ...)
{
    struct web_req req;
    const char *name;
    va_list ap;

    memset(&req, 0, sizeof(req));
    memset(r, 0, sizeof(*r));
    req.ctx = &w->ctx;
    req.st = w->st;
    req.method = "GET";
    req.path = path;
    req.sess = *s;
    va_start(ap, r);
    while ((name = va_arg(ap, const char *)) != NULL)
        web_form_add(&req.query, name, va_arg(ap, const char *));
    va_end(ap);
    web_page_locale(&req); /* as opes-web does for every request */
    web_route_dispatch(&req, r);
    web_req_free(&req);
}

START_TEST(dispatch_sort_and_pages)
{
    struct wt w;
    struct web_session s;
    struct web_resp r;
    char id[STORE_ID_LEN + 1], first[STORE_ID_LEN + 1] = "", sender[64];
    const char *a, *b, *c;

    wt_open(&w, "");
    session(&w, "alice@example.org", &s);
    wt_hold(&w, "carol@x.example", "alice@example.org", "Subject: 1\n\nsmall\n", id);
    wt_hold(&w, "ann@x.example", "alice@example.org", "Subject: 2\n\na larger body here\n", id);
    wt_hold(&w, "bea@x.example", "alice@example.org", "Subject: 3\n\nmid body\n", id);
    get(&w, "/quarantine", &s, &r, "sort", "sender", (const char *)NULL);
    a = strstr(r.body, "ann@x"), b = strstr(r.body, "bea@x"), c = strstr(r.body, "carol@x");
    ck_assert(a != NULL && b != NULL && c != NULL);
    ck_assert(a < b && b < c);
    web_resp_free(&r);
    get(&w, "/quarantine", &s, &r, "sort", "size", (const char *)NULL);
    a = strstr(r.body, "ann@x"), b = strstr(r.body, "bea@x"), c = strstr(r.body, "carol@x");
    ck_assert(a < b && b < c);
    web_resp_free(&r);
    /* 30 more: the first page has 25 rows and a next page */
    for (int i = 0; i < 30; i++) {
        snprintf(sender, sizeof(sender), "s%02d@y.example", i);
        wt_hold(&w, sender, "alice@example.org", "Subject: x\n\nx\n", id);
        if (i == 0)
            strcpy(first, id);
    }
    get(&w, "/quarantine", &s, &r, "sort", "oldest", (const char *)NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "carol@x"));
    ck_assert_ptr_null(strstr(r.body, "s29@y"));
    ck_assert_ptr_nonnull(strstr(r.body, "Next page"));
    ck_assert_ptr_nonnull(strstr(r.body, "sort=oldest"));
    web_resp_free(&r);
    get(&w, "/quarantine", &s, &r, "sort", "oldest", "page", "1", (const char *)NULL);
    ck_assert_ptr_null(strstr(r.body, "carol@x"));
    ck_assert_ptr_nonnull(strstr(r.body, "s29@y"));
    ck_assert_ptr_null(strstr(r.body, "Next page"));
    ck_assert_ptr_nonnull(strstr(r.body, "Previous page"));
    web_resp_free(&r);
    get(&w, "/quarantine", &s, &r, "q", "s00@", "status", "held", (const char *)NULL);
    ck_assert_ptr_nonnull(strstr(r.body, first));
    ck_assert_ptr_null(strstr(r.body, "s01@"));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

/* post - POST body to path in session s, with its CSRF token added. */
static void post(struct wt *w, const char *path, const char *body, const struct web_session *s,
                 struct web_resp *r)
{
    char full[1024];

    snprintf(full, sizeof(full), "%s&csrf=%s", body, s->csrf);
    wt_run(w, "POST", path, full, s, NULL, r);
}

/* /prefs/spam: each level explained, chosen, kept per recipient; own scores must rise */
START_TEST(dispatch_spam_level)
{
    struct wt w;
    struct web_session s, b;
    struct web_resp r;
    struct store_spam sp;
    const char *error;

    wt_open(&w, service_conf);
    session(&w, "alice@example.org", &s);
    session(&w, "bob@example.org", &b);
    get(&w, "/prefs", &s, &r, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "<a href=\"/prefs/spam\">"));
    web_resp_free(&r);
    get(&w, "/prefs/spam", &s, &r, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "value=\"normal\" checked"));
    ck_assert_ptr_nonnull(strstr(r.body, "<strong>Strict</strong>: More mail goes to your Junk"));
    web_resp_free(&r);
    post(&w, "/prefs/spam", "level=strict", &s, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "value=\"strict\" checked"));
    web_resp_free(&r);
    ck_assert_int_eq(store_user_spam(w.st, "alice@example.org", &sp, &error), 1);
    ck_assert_str_eq(sp.level, "strict");
    ck_assert_int_eq(store_user_spam(w.st, "bob@example.org", &sp, &error), 0);
    /* own scores: falling ones and missing ones are refused, the stored level stays */
    post(&w, "/prefs/spam", "level=custom&tag=9&junk=4&quarantine=12", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    post(&w, "/prefs/spam", "level=custom&tag=3", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    ck_assert_int_eq(store_user_spam(w.st, "alice@example.org", &sp, &error), 1);
    ck_assert_str_eq(sp.level, "strict");
    /* an empty junk score: never the Junk folder */
    post(&w, "/prefs/spam", "level=custom&tag=3&junk=&quarantine=12.5", &b, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "name=\"quarantine\" inputmode=\"decimal\" "
                                         "maxlength=\"8\" value=\"12.5\""));
    web_resp_free(&r);
    ck_assert_int_eq(store_user_spam(w.st, "bob@example.org", &sp, &error), 1);
    ck_assert_str_eq(sp.level, "custom");
    ck_assert(isinf(sp.junk));
    /* normal: no level of one's own, the operator's thresholds */
    post(&w, "/prefs/spam", "level=normal", &s, &r);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    ck_assert_int_eq(store_user_spam(w.st, "alice@example.org", &sp, &error), 0);
    post(&w, "/prefs/spam", "level=paranoid", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

/* the page in the recipient's language, else in the portal's default language */
START_TEST(dispatch_spam_level_german)
{
    static const char conf[] = "[web]\ndefault_language = de\n"
                               "[service.spam]\ntype = spamd\n";
    struct wt w;
    struct web_session s, b;
    struct web_resp r;
    const char *error;

    wt_open(&w, conf);
    session(&w, "alice@example.org", &s);
    session(&w, "bob@example.org", &b);
    ck_assert_int_eq(store_user_set_locale(w.st, "bob@example.org", "en", "", &error), 0);
    get(&w, "/prefs/spam", &s, &r, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<strong>Streng</strong>: Mehr Nachrichten"));
    ck_assert_ptr_nonnull(strstr(r.body, "Junk-Ordner ab Wert"));
    web_resp_free(&r);
    post(&w, "/prefs/spam", "level=lenient", &s, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Ihre Spam-Stufe ist gespeichert."));
    web_resp_free(&r);
    get(&w, "/prefs/spam", &b, &r, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "<strong>Strict</strong>: More mail"));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

START_TEST(dispatch_prefs_and_lists)
{
    struct wt w;
    struct web_session s;
    struct web_resp r;
    char mode[16], sched[64], token[TOKEN_MAX] = "";
    const char *error, *why, *p;

    wt_open(&w, service_conf);
    session(&w, "alice@example.org", &s);
    /* a schedule opesd's digests cannot read is refused, not stored */
    post(&w, "/prefs", "what=notify&mode=digest&schedule=daily+08%3A00", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    post(&w, "/prefs", "what=notify&mode=digest&schedule=every+6h", &s, &r);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    ck_assert_int_eq(store_web_prefs_get(w.st, "alice@example.org", mode, sizeof(mode), sched,
                                         sizeof(sched), &error),
                     0);
    ck_assert_str_eq(mode, "digest");
    ck_assert_str_eq(sched, "every 6h");
    post(&w, "/prefs", "what=notify&mode=sometimes", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);

    /* spam is opt-out: on until turned off; the form sends the checked ones */
    ck_assert_int_eq(store_user_consent(w.st, "alice@example.org", "spam", &error), -1);
    post(&w, "/prefs", "what=consent", &s, &r);
    web_resp_free(&r);
    ck_assert_int_eq(store_user_consent(w.st, "alice@example.org", "spam", &error), 0);
    post(&w, "/prefs", "what=consent&on=spam", &s, &r);
    web_resp_free(&r);
    ck_assert_int_eq(store_user_consent(w.st, "alice@example.org", "spam", &error), 1);

    /* a bypass token for spam (token bypass allowed), never for rules */
    post(&w, "/prefs", "what=token&service=rules&sender=bob%40remote.example&days=10", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    post(&w, "/prefs", "what=token&service=spam&sender=bob%40remote.example&days=10", &s, &r);
    ck_assert_int_eq(r.status, 200);
    p = strstr(r.body, "OPES-Bypass: http://opes.example.org/opes/service/spam; token=");
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "token=") + 6;
    memcpy(token, p, strcspn(p, "<"));
    web_resp_free(&r);
    ck_assert_int_eq(token_bypass_verify(store_keys(w.st), token, "alice@example.org",
                                         "bob@remote.example", "spam", time(NULL), &why),
                     0);
    ck_assert_int_ne(token_bypass_verify(store_keys(w.st), token, "carol@example.org",
                                         "bob@remote.example", "spam", time(NULL), &why),
                     0);

    /* lists: add, see, and remove only one's own entries */
    post(&w, "/lists", "kind=block&sender=%40spam.example&days=7", &s, &r);
    ck_assert_int_eq(r.status, 303);
    web_resp_free(&r);
    post(&w, "/lists", "kind=white&sender=not+an+address", &s, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    ck_assert_int_eq(
        store_list_match(w.st, STORE_BLOCKLIST, "alice@example.org", "x@spam.example", &error), 1);
    struct store_list_entry other = {.kind = STORE_WHITELIST,
                                     .owner = "bob@example.org",
                                     .sender = "x@y.example",
                                     .created_by = "bob@example.org",
                                     .origin = "cli"};
    ck_assert_int_eq(store_list_add(w.st, &other, &error), 0);
    wt_run(&w, "GET", "/lists", NULL, &s, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "@spam.example"));
    ck_assert_ptr_null(strstr(r.body, "x@y.example"));
    web_resp_free(&r);
    post(&w, "/lists", "remove=2", &s, &r); /* bob's entry */
    ck_assert_int_eq(r.status, 404);
    web_resp_free(&r);
    ck_assert_int_eq(
        store_list_match(w.st, STORE_WHITELIST, "bob@example.org", "x@y.example", &error), 1);
    post(&w, "/lists", "remove=1", &s, &r);
    ck_assert_int_eq(r.status, 303);
    web_resp_free(&r);
    ck_assert_int_eq(
        store_list_match(w.st, STORE_BLOCKLIST, "alice@example.org", "x@spam.example", &error), 0);
    wt_close(&w);
}
END_TEST

/* the language: the user's choice, else the browser's; the API's words follow it */
START_TEST(dispatch_language_and_words)
{
    struct wt w;
    struct web_session alice;
    struct web_resp r;
    char id[STORE_ID_LEN + 1], path[64];
    const char *error;

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org", "Subject: a\n\na\n", id);
    session(&w, "alice@example.org", &alice);
    wt_accept_language = "fr-CH, de;q=0.8, en;q=0.5";
    wt_run(&w, "GET", "/quarantine", NULL, &alice, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<html lang=\"de\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "Ihre zur\xc3\xbc"
                                         "ckgehaltenen E-Mails"));
    ck_assert_ptr_nonnull(strstr(r.body, "1 Nachricht<"));
    ck_assert_ptr_null(strstr(r.body, "Your held mail"));
    web_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/quarantine/%s", id);
    wt_run(&w, "GET", path, NULL, &alice, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"reason\":\"test rule\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"category\":\"other\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"language\":\"de\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"reason_text\":\""));
    web_resp_free(&r);
    /* her own choice beats the browser's */
    ck_assert_int_eq(store_user_set_locale(w.st, "alice@example.org", "en", "", &error), 0);
    wt_run(&w, "GET", "/quarantine", NULL, &alice, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<html lang=\"en\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "Your held mail"));
    web_resp_free(&r);
    /* the day filter: today (in the portal's zone) has it, another day not */
    {
        time_t now = time(NULL);
        struct tm tm;
        char day[16];
        localtime_r(&now, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        get(&w, "/quarantine", &alice, &r, "day", day, NULL);
        ck_assert_ptr_nonnull(strstr(r.body, id));
        ck_assert_ptr_nonnull(strstr(r.body, ">1 message<"));
        web_resp_free(&r);
        get(&w, "/quarantine", &alice, &r, "day", "2001-02-03", NULL);
        ck_assert_ptr_null(strstr(r.body, id));
        ck_assert_ptr_nonnull(strstr(r.body, "No messages match."));
        web_resp_free(&r);
    }
    /* and is made on the preferences page */
    wt_accept_language = NULL;
    post(&w, "/prefs", "what=locale&language=de&timezone=Europe%2FBerlin", &alice, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "Ihre Einstellungen sind gespeichert."));
    ck_assert_ptr_nonnull(strstr(r.body, "<option selected>Europe/Berlin</option>"));
    web_resp_free(&r);
    post(&w, "/prefs", "what=locale&language=xx&timezone=", &alice, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

START_TEST(dispatch_admin_bulk)
{
    struct wt w;
    struct web_session user, admin;
    struct web_resp r;
    struct store_qitem it;
    char a[STORE_ID_LEN + 1], b[STORE_ID_LEN + 1], c[STORE_ID_LEN + 1], a2[STORE_ID_LEN + 1];
    char body[300], id[64];
    const char *error;

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org", "Subject: a\n\na\n", a);
    wt_hold(&w, "x@remote.example", "bob@example.org", "Subject: b\n\nb\n", b);
    wt_hold(&w, "x@remote.example", "carol@example.org", "Subject: c\n\nc\n", c);
    wt_hold(&w, "y@remote.example", "alice@example.org", "Subject: a2\n\na2\n", a2);
    ck_assert_int_eq(store_user_add(w.st, "root@example.org", STORE_ROLE_ADMIN, &error), 0);
    session(&w, "alice@example.org", &user);
    ck_assert_int_eq(web_session_create(w.st, "root@example.org", true, (int64_t)time(NULL), 3600,
                                        id, &admin, &error),
                     0);
    /* a recipient's delete asks first, and acts on her own items only */
    snprintf(body, sizeof(body), "action=delete&id=%s&id=%s", a, b);
    post(&w, "/quarantine/bulk", body, &user, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "name=\"confirm\" value=\"1\""));
    ck_assert_ptr_null(strstr(r.body, ">b <")); /* bob's subject is not shown to her */
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, a, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    snprintf(body, sizeof(body), "action=delete&confirm=1&id=%s&id=%s", a, b);
    post(&w, "/quarantine/bulk", body, &user, &r);
    ck_assert_int_eq(r.status, 303);
    ck_assert_str_eq(r.location, "/quarantine?done=delete&n=1&failed=1");
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, a, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_DELETED);
    ck_assert_int_eq(store_quarantine_get(w.st, b, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    /* restored by its owner; a row's own button blocks the sender */
    snprintf(body, sizeof(body), "action=restore&id=%s", a);
    post(&w, "/quarantine/bulk", body, &user, &r);
    ck_assert_str_eq(r.location, "/quarantine?done=restore&n=1&failed=0");
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, a, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    snprintf(body, sizeof(body), "one=block+%s&id=%s", a2, a);
    post(&w, "/quarantine/bulk", body, &user, &r);
    ck_assert_str_eq(r.location, "/quarantine?done=block&n=1&failed=0");
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, a2, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_DELETED);
    ck_assert_int_eq(store_quarantine_get(w.st, a, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    ck_assert_int_eq(
        store_list_match(w.st, STORE_BLOCKLIST, "alice@example.org", "y@remote.example", &error),
        1);
    /* the administrator sees every recipient's items, and acts on several at once */
    wt_run(&w, "GET", "/quarantine", NULL, &admin, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, a));
    ck_assert_ptr_nonnull(strstr(r.body, b));
    ck_assert_ptr_nonnull(strstr(r.body, c));
    ck_assert_ptr_nonnull(strstr(r.body, "3 messages"));
    web_resp_free(&r);
    snprintf(body, sizeof(body), "action=delete&confirm=1&id=%s&id=%s&id=nonsense", a, b);
    post(&w, "/quarantine/bulk", body, &admin, &r);
    ck_assert_int_eq(r.status, 303);
    ck_assert_str_eq(r.location, "/quarantine?done=delete&n=2&failed=1");
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, a, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_DELETED);
    ck_assert_int_eq(store_quarantine_get(w.st, b, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_DELETED);
    ck_assert_int_eq(store_quarantine_get(w.st, c, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    /* the chart: a copy put into the Junk folder was delivered, not held */
    static const char *const verdicts[] = {"junk", "junk", "quarantine"};
    for (size_t i = 0; i < 3; i++) {
        struct store_trace tr = {.event = "service", .service = "spam", .at = time(NULL)};
        snprintf(tr.verdict, sizeof(tr.verdict), "%s", verdicts[i]);
        ck_assert_int_eq(store_trace_add(w.st, &tr, &error), 0);
    }
    wt_run(&w, "GET", "/admin", NULL, &admin, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "root@example.org"));
    ck_assert_ptr_nonnull(strstr(r.body, ": 2 passed</title>"));
    ck_assert_ptr_nonnull(strstr(r.body, ": 1 held or refused</title>"));
    web_resp_free(&r);
    wt_run(&w, "GET", "/admin", NULL, &user, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

/* link - an /action/ or /login/ path for a fresh link token. */
static void link_path(struct wt *w, char *path, size_t size, enum token_purpose purpose,
                      const char *rcpt, const char *item, const char *action)
{
    struct token_link l = {.purpose = purpose, .expires = (int64_t)time(NULL) + 600};
    char token[TOKEN_MAX];

    snprintf(l.recipient, sizeof(l.recipient), "%s", rcpt);
    snprintf(l.item, sizeof(l.item), "%s", item);
    snprintf(l.action, sizeof(l.action), "%s", action);
    ck_assert_int_eq(token_link_issue(store_keys(w->st), &l, token, sizeof(token)), 0);
    snprintf(path, size, "/%s/%s", purpose == TOKEN_LOGIN ? "login" : "action", token);
}

START_TEST(dispatch_action_links)
{
    struct wt w;
    struct web_resp r;
    struct store_qitem it;
    char a[STORE_ID_LEN + 1], b[STORE_ID_LEN + 1], path[1024], state[16], last[256];
    const char *error;

    wt_open(&w, "");
    wt_hold(&w, "x@remote.example", "alice@example.org", "Subject: a\n\na\n", a);
    wt_hold(&w, "x@remote.example", "bob@example.org", "Subject: b\n\nb\n", b);
    /* GET shows, changes nothing, and can be repeated (mail scanners follow links) */
    link_path(&w, path, sizeof(path), TOKEN_ACTION, "alice@example.org", a, "release-whitelist");
    for (int i = 0; i < 2; i++) {
        wt_run(&w, "GET", path, NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, "always accept mail from this sender"));
        ck_assert(r.no_store);
        web_resp_free(&r);
    }
    ck_assert_int_eq(store_release_state(w.st, a, state, sizeof(state), last, sizeof(last), &error),
                     STORE_NOTFOUND);
    /* POST acts once, logs in, and the second time says the link was used */
    wt_run(&w, "POST", path, "", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.cookie, "opes_session="));
    web_resp_free(&r);
    ck_assert_int_eq(store_release_state(w.st, a, state, sizeof(state), last, sizeof(last), &error),
                     0);
    ck_assert_str_eq(state, "pending");
    wt_run(&w, "POST", path, "", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 410);
    ck_assert_ptr_nonnull(strstr(r.body, "already used"));
    web_resp_free(&r);
    /* a link naming another recipient's item, a login link as an action, a forged one */
    link_path(&w, path, sizeof(path), TOKEN_ACTION, "alice@example.org", b, "delete");
    wt_run(&w, "POST", path, "", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    web_resp_free(&r);
    ck_assert_int_eq(store_quarantine_get(w.st, b, &it, &error), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    link_path(&w, path, sizeof(path), TOKEN_LOGIN, "alice@example.org", "", "");
    char action_path[1100];
    snprintf(action_path, sizeof(action_path), "/action/%s", path + 7);
    wt_run(&w, "GET", action_path, NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    web_resp_free(&r);
    action_path[strlen(action_path) - 2] ^= 1;
    wt_run(&w, "GET", action_path, NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "not valid"));
    web_resp_free(&r);
    wt_close(&w);
}
END_TEST

/* The client of a request: {peer, trusted_proxies, X-Forwarded-For, Forwarded, client}. */
static const struct {
    const char *peer, *trusted, *xff, *fwd, *client;
} clients[] = {
    /* not from a trusted proxy: the header fields are ignored */
    {"192.0.2.1", "", "198.51.100.9", NULL, "192.0.2.1"},
    {"192.0.2.1", "127.0.0.1", "198.51.100.9", "for=198.51.100.8", "192.0.2.1"},
    /* from one: the rightmost address that is not a trusted proxy */
    {"127.0.0.1", "127.0.0.1", "198.51.100.9", NULL, "198.51.100.9"},
    {"127.0.0.1", "127.0.0.1", "10.6.6.6, 198.51.100.9", NULL, "198.51.100.9"},
    {"127.0.0.1", "127.0.0.1 10.0.0.2", "203.0.113.5,198.51.100.9 , 10.0.0.2", NULL,
     "198.51.100.9"},
    {"::ffff:127.0.0.1", "127.0.0.1", "2001:db8::0001", NULL, "2001:db8::1"},
    {"::1", "0:0:0:0:0:0:0:1", "[2001:db8::7]:4711", NULL, "2001:db8::7"},
    {"127.0.0.1", "127.0.0.1", "198.51.100.9:61000", NULL, "198.51.100.9"},
    /* X-Forwarded-For wins; Forwarded only without it */
    {"127.0.0.1", "127.0.0.1", "198.51.100.9", "for=203.0.113.1", "198.51.100.9"},
    {"127.0.0.1", "127.0.0.1", NULL, "for=203.0.113.1;proto=https, for=198.51.100.9",
     "198.51.100.9"},
    {"127.0.0.1", "127.0.0.1", NULL, "proto=https;For=\"[2001:db8::2]:80\"", "2001:db8::2"},
    /* no address, garbage or "unknown": the last proxy is the client */
    {"127.0.0.1", "127.0.0.1", "", NULL, "127.0.0.1"},
    {"127.0.0.1", "127.0.0.1", "unknown", NULL, "127.0.0.1"},
    {"127.0.0.1", "127.0.0.1 10.0.0.2", "evil, 10.0.0.2", NULL, "10.0.0.2"},
    {"127.0.0.1", "127.0.0.1", "198.51.100.9\r\nX: y", NULL, "127.0.0.1"},
    {"127.0.0.1", "127.0.0.1", NULL, "by=10.0.0.1", "127.0.0.1"},
};

START_TEST(client_address)
{
    char out[WEB_ADDR_MAX];
    bool fwd = web_http_client_addr(clients[_i].peer, clients[_i].trusted, clients[_i].xff,
                                    clients[_i].fwd, out);

    ck_assert_str_eq(out, clients[_i].client);
    ck_assert_int_eq(fwd, strcmp(clients[_i].client, clients[_i].peer) != 0);
}
END_TEST

START_TEST(address_lists)
{
    ck_assert(web_addr_listed("127.0.0.1 ::1", "::1"));
    ck_assert(web_addr_listed("127.0.0.1 ::1", "::ffff:127.0.0.1"));
    ck_assert(web_addr_listed("192.0.2.1,2001:db8::1", "2001:0db8:0:0::1"));
    ck_assert(!web_addr_listed("127.0.0.1", "127.0.0.10"));
    ck_assert(!web_addr_listed("", "127.0.0.1"));
    ck_assert(!web_addr_listed("127.0.0.1", "unknown"));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_route");
    TCase *tc = tcase_create("match");
    TCase *td = tcase_create("dispatch");

    tcase_add_test(tc, match);
    tcase_add_loop_test(tc, no_match_paths, 0, (int)(sizeof(no_match) / sizeof(no_match[0])));
    tcase_add_test(tc, method_and_length);
    tcase_add_loop_test(tc, client_address, 0, (int)(sizeof(clients) / sizeof(clients[0])));
    tcase_add_test(tc, address_lists);
    tcase_add_test(td, dispatch_errors_and_headers);
    tcase_add_test(td, dispatch_csrf_and_origin);
    tcase_add_test(td, dispatch_other_recipient_is_not_found);
    tcase_add_test(td, dispatch_sql_metacharacters_in_search);
    tcase_add_test(td, dispatch_sort_and_pages);
    tcase_add_test(td, dispatch_prefs_and_lists);
    tcase_add_test(td, dispatch_spam_level);
    tcase_add_test(td, dispatch_spam_level_german);
    tcase_add_test(td, dispatch_admin_bulk);
    tcase_add_test(td, dispatch_language_and_words);
    tcase_add_test(td, dispatch_action_links);
    tcase_set_timeout(td, 60);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, td);
    return s;
}
