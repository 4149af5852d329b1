/*
 * test_metrics.c - the node's counters and their exposition text.
 *
 * Recipients and messages by outcome from the final replies (junk: a tag
 * verdict on a delivered copy), the histogram buckets at their edges, the
 * reply classes, label escaping, and services counted from several threads
 * at once without a lost hit or a row twice. Check runs each test in its own
 * process, so each starts from zero.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/lmtp_server.h"
#include "opes/metrics.h"

Suite *unit_suite(void);

/* value_of - the value of the series line that starts with head, or -1. */
static long long value_of(const char *head)
{
    size_t len;
    char *text = metrics_render("n1", &len);
    char *p = text;
    long long v = -1;

    ck_assert_uint_eq(strlen(text), len);
    while ((p = strstr(p, head)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[strlen(head)] == ' ') {
            v = strtoll(p + strlen(head) + 1, NULL, 10);
            break;
        }
        p++;
    }
    free(text);
    return v;
}

static void rcpt(struct lmtp_server_rcpt *r, int code, const char *action, const char *services)
{
    memset(r, 0, sizeof(*r));
    r->reply.code = code;
    r->action = action;
    snprintf(r->services, sizeof(r->services), "%s", services);
}

START_TEST(outcomes_from_the_final_replies)
{
    struct lmtp_server_rcpt r[6];
    struct lmtp_server_tx tx = {.rcpts = r, .nrcpts = 6};

    rcpt(&r[0], 250, "delivered", "rules=pass,spamd=pass");
    rcpt(&r[1], 250, "delivered", "rules=pass,spamd=tag");
    rcpt(&r[2], 250, "delivered", "marker=tagged,x=tagx"); /* not a tag verdict */
    rcpt(&r[3], 250, "quarantined", "rules=quarantine");
    rcpt(&r[4], 452, "delivered", "rules=pass"); /* the mailbox store's answer */
    rcpt(&r[5], 451, "deferred", "clamd=failed");
    metrics_replied(&tx);
    ck_assert_int_eq(value_of("opes_recipients_total{node=\"n1\",outcome=\"delivered\"}"), 2);
    ck_assert_int_eq(value_of("opes_recipients_total{node=\"n1\",outcome=\"junk\"}"), 1);
    ck_assert_int_eq(value_of("opes_recipients_total{node=\"n1\",outcome=\"quarantined\"}"), 1);
    ck_assert_int_eq(value_of("opes_recipients_total{node=\"n1\",outcome=\"tempfailed\"}"), 2);
    ck_assert_int_eq(value_of("opes_recipients_total{node=\"n1\",outcome=\"rejected\"}"), 0);
    /* the message once, as its most severe outcome */
    ck_assert_int_eq(value_of("opes_messages_total{node=\"n1\",outcome=\"tempfailed\"}"), 1);
    ck_assert_int_eq(value_of("opes_messages_total{node=\"n1\",outcome=\"delivered\"}"), 0);
    tx.nrcpts = 2;
    rcpt(&r[1], 550, "rejected", "rules=reject");
    metrics_replied(&tx);
    ck_assert_int_eq(value_of("opes_messages_total{node=\"n1\",outcome=\"rejected\"}"), 1);
    tx.nrcpts = 1;
    rcpt(&r[0], 250, "delivered", "spamd=tag");
    metrics_replied(&tx);
    ck_assert_int_eq(value_of("opes_messages_total{node=\"n1\",outcome=\"junk\"}"), 1);
    tx.nrcpts = 0; /* nothing was replied: not a message */
    metrics_replied(&tx);
    ck_assert_int_eq(value_of("opes_messages_total{node=\"n1\",outcome=\"delivered\"}"), 0);
}
END_TEST

START_TEST(histogram_edges_and_verdicts)
{
    metrics_service("clamd", SVC_PASS, false, 5);     /* le 0.005 */
    metrics_service("clamd", SVC_REJECT, false, 6);   /* le 0.01 */
    metrics_service("clamd", SVC_PASS, false, 60000); /* le 60 */
    metrics_service("clamd", SVC_TEMPFAIL, true, 60001);
    ck_assert_int_eq(
        value_of(
            "opes_service_duration_seconds_bucket{node=\"n1\",service=\"clamd\",le=\"0.005\"}"),
        1);
    ck_assert_int_eq(
        value_of("opes_service_duration_seconds_bucket{node=\"n1\",service=\"clamd\",le=\"0.01\"}"),
        2);
    ck_assert_int_eq(
        value_of("opes_service_duration_seconds_bucket{node=\"n1\",service=\"clamd\",le=\"30\"}"),
        2);
    ck_assert_int_eq(
        value_of("opes_service_duration_seconds_bucket{node=\"n1\",service=\"clamd\",le=\"60\"}"),
        3);
    ck_assert_int_eq(
        value_of("opes_service_duration_seconds_bucket{node=\"n1\",service=\"clamd\",le=\"+Inf\"}"),
        4);
    ck_assert_int_eq(value_of("opes_service_duration_seconds_count{node=\"n1\",service=\"clamd\"}"),
                     4);
    ck_assert_int_eq(
        value_of("opes_service_verdicts_total{node=\"n1\",service=\"clamd\",verdict=\"pass\"}"), 2);
    ck_assert_int_eq(
        value_of("opes_service_verdicts_total{node=\"n1\",service=\"clamd\",verdict=\"reject\"}"),
        1);
    /* a service that failed counts as failed, whatever on_failure made of it */
    ck_assert_int_eq(
        value_of("opes_service_verdicts_total{node=\"n1\",service=\"clamd\",verdict=\"failed\"}"),
        1);
    ck_assert_int_eq(
        value_of("opes_service_verdicts_total{node=\"n1\",service=\"clamd\",verdict=\"tempfail\"}"),
        0);
}
END_TEST

START_TEST(reply_classes)
{
    struct lmtp_reply r[5] = {
        {.code = 250}, {.code = 452}, {.code = 451}, {.code = 550}, {.code = 354}};

    metrics_downstream(r, 5);
    ck_assert_int_eq(value_of("opes_downstream_replies_total{node=\"n1\",class=\"2xx\"}"), 1);
    ck_assert_int_eq(value_of("opes_downstream_replies_total{node=\"n1\",class=\"4xx\"}"), 2);
    ck_assert_int_eq(value_of("opes_downstream_replies_total{node=\"n1\",class=\"5xx\"}"), 1);
}
END_TEST

START_TEST(node_label_escaped)
{
    size_t len;
    char *text = metrics_render("a\"b\\c\nd", &len);

    ck_assert_ptr_nonnull(strstr(text, "opes_sessions{node=\"a\\\"b\\\\c\\nd\"} 0\n"));
    free(text);
}
END_TEST

static void *count_services(void *arg)
{
    char name[16];

    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "svc%d", i % 8);
        metrics_service(name, SVC_PASS, false, (int64_t)(intptr_t)arg);
    }
    return NULL;
}

START_TEST(services_counted_from_many_threads)
{
    pthread_t t[4];

    metrics_session(1);
    for (intptr_t i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, count_services, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int s = 0; s < 8; s++) {
        char head[128];
        snprintf(head, sizeof(head),
                 "opes_service_duration_seconds_count{node=\"n1\",service=\"svc%d\"}", s);
        ck_assert_int_eq(value_of(head), 4 * 20000 / 8);
    }
    {
        size_t len, rows = 0;
        char *text = metrics_render("n1", &len);
        for (const char *p = text; (p = strstr(p, "opes_service_duration_seconds_count{")); p++)
            rows++;
        free(text);
        ck_assert_uint_eq(rows, 8); /* each name one row */
    }
    ck_assert_int_eq(value_of("opes_sessions{node=\"n1\"}"), 1);
    ck_assert_int_eq(value_of("opes_sessions_total{node=\"n1\"}"), 1);
    metrics_session(-1);
    ck_assert_int_eq(value_of("opes_sessions{node=\"n1\"}"), 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, outcomes_from_the_final_replies);
    tcase_add_test(tc, histogram_edges_and_verdicts);
    tcase_add_test(tc, reply_classes);
    tcase_add_test(tc, node_label_escaped);
    tcase_add_test(tc, services_counted_from_many_threads);
    suite_add_tcase(s, tc);
    return s;
}
