/*
 * test_learn.c - learning from decisions in the store (store_learn.c):
 * a request is recorded once per message and class, waits while its entry is
 * still held (the release goes first), is claimed by one worker at a time,
 * and its outcome lands in the trace and the audit log; a request that
 * failed for good may be asked again. Runs on SQLite and, as
 * store.learn.pg, on PostgreSQL.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/store.h"

#include "store_util.h"

static char *dir, *db_path;
static struct store *st;

static void setup(void)
{
    const char *err = NULL;
    char *key;

    dir = tu_tmpdir();
    db_path = tu_path(dir, "store.db");
    key = tu_path(dir, "keys");
    st = tu_store_open(db_path, key, &err);
    ck_assert_msg(st != NULL, "%s", err);
    free(key);
}

static void teardown(void)
{
    store_close(&st);
    tu_rmtree(dir);
    free(dir);
    free(db_path);
}

/* hold - one held entry for alice from spamd; its id into id */
static void hold(char *id)
{
    static const char body[] = "Subject: cheap\r\n\r\nbuy now\r\n";
    struct store_qitem it = {.size = sizeof(body) - 1};
    const char *err;

    snprintf(it.trace_id, sizeof(it.trace_id), "tr-learn");
    snprintf(it.sender, sizeof(it.sender), "bob@example.com");
    snprintf(it.recipient, sizeof(it.recipient), "alice@example.org");
    snprintf(it.service, sizeof(it.service), "spamd");
    snprintf(it.reason, sizeof(it.reason), "score 12.0");
    ck_assert_int_eq(tu_add(st, &it, 1, body, sizeof(body) - 1, 7, &err), 0);
    strcpy(id, it.id);
}

/* request - a learn request of kind for message */
static struct store_learn request(const char *message, const char *kind)
{
    struct store_learn l = {0};

    snprintf(l.message, sizeof(l.message), "%s", message);
    snprintf(l.kind, sizeof(l.kind), "%s", kind);
    snprintf(l.service, sizeof(l.service), "spamd");
    snprintf(l.trace_id, sizeof(l.trace_id), "tr-learn");
    snprintf(l.requested_by, sizeof(l.requested_by), "alice@example.org");
    snprintf(l.origin, sizeof(l.origin), "portal");
    return l;
}

struct trace_seen {
    int learn;
    char verdict[32], detail[512];
};

static void on_trace(const struct store_trace *t, void *ctx)
{
    struct trace_seen *s = ctx;

    if (strcmp(t->event, "learn") != 0)
        return;
    s->learn++;
    snprintf(s->verdict, sizeof(s->verdict), "%s", t->verdict);
    snprintf(s->detail, sizeof(s->detail), "%s", t->detail);
}

static void on_audit(const struct store_audit_entry *e, void *ctx)
{
    if (strcmp(e->action, "learn-ham") == 0)
        (*(int *)ctx)++;
}

START_TEST(ham_waits_for_the_release_and_is_learned_once)
{
    struct store_learn l = {0}, got;
    struct store_release r = {0};
    struct trace_seen seen = {0};
    char id[STORE_ID_LEN + 1], state[16], last[256];
    const char *err;
    int audits = 0;

    hold(id);
    l = request(id, "ham");
    ck_assert_int_eq(store_learn_request(st, &l, &err), 0);
    /* the same message, the same class: nothing new (a double click, a second node) */
    ck_assert_int_eq(store_learn_request(st, &l, &err), STORE_USED);
    ck_assert_int_eq(
        store_learn_state(st, id, "ham", state, sizeof(state), last, sizeof(last), &err), 0);
    ck_assert_str_eq(state, "pending");
    /* still held: learning waits for the release */
    ck_assert_int_eq(store_learn_next(st, &got, &err), STORE_NOTFOUND);

    snprintf(r.item_id, sizeof(r.item_id), "%s", id);
    snprintf(r.requested_by, sizeof(r.requested_by), "alice@example.org");
    snprintf(r.origin, sizeof(r.origin), "portal");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    ck_assert_int_eq(store_release_next(st, &r, &err), 0);
    ck_assert_int_eq(store_release_done(st, &r, &err), 0);

    ck_assert_int_eq(store_learn_next(st, &got, &err), 0);
    ck_assert_str_eq(got.message, id);
    ck_assert_str_eq(got.kind, "ham");
    ck_assert_str_eq(got.service, "spamd");
    ck_assert_int_eq(got.attempts, 1);
    /* claimed: another worker does not get it too */
    ck_assert_int_eq(store_learn_next(st, &l, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_learn_done(st, &got, "alice@example.org",
                                      "spamd: Message successfully "
                                      "un/learned",
                                      &err),
                     0);
    ck_assert_int_eq(
        store_learn_state(st, id, "ham", state, sizeof(state), last, sizeof(last), &err), 0);
    ck_assert_str_eq(state, "done");
    ck_assert_int_eq(store_trace_list(st, "tr-learn", on_trace, &seen, &err), 0);
    ck_assert_int_eq(seen.learn, 1);
    ck_assert_str_eq(seen.verdict, "ham");
    ck_assert_ptr_nonnull(strstr(seen.detail, "learned"));
    ck_assert_int_eq(store_audit_list(st, 50, on_audit, &audits, &err), 0);
    ck_assert_int_eq(audits, 1);
    /* once done, asking again changes nothing */
    ck_assert_int_eq(store_learn_request(st, &l, &err), STORE_USED);
    ck_assert_int_eq(store_learn_next(st, &got, &err), STORE_NOTFOUND);
    /* the other class is another question */
    l = request(id, "spam");
    ck_assert_int_eq(store_learn_request(st, &l, &err), 0);
}
END_TEST

START_TEST(a_scanner_away_is_retried_and_a_failure_can_be_asked_again)
{
    struct store_learn l, got, report = request("report:0123abcd", "spam");
    char id[STORE_ID_LEN + 1], state[16], last[256];
    const char *err;

    hold(id);
    l = request(id, "ham");
    ck_assert_int_eq(store_learn_request(st, &l, &err), 0);
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_RELEASED, &err), 0);
    ck_assert_int_eq(store_learn_next(st, &got, &err), 0);
    /* a scanner away: retried later, not before */
    ck_assert_int_eq(store_learn_failed(st, &got, false, "connection refused", 60, &err), 0);
    ck_assert_int_eq(store_learn_next(st, &got, &err), STORE_NOTFOUND);
    ck_assert_int_eq(
        store_learn_state(st, id, "ham", state, sizeof(state), last, sizeof(last), &err), 0);
    ck_assert_str_eq(state, "pending");
    ck_assert_str_eq(last, "connection refused");
    /* given up: asking again makes it due again */
    ck_assert_int_eq(store_learn_failed(st, &got, true, "refused for good", 0, &err), 0);
    ck_assert_int_eq(
        store_learn_state(st, id, "ham", state, sizeof(state), last, sizeof(last), &err), 0);
    ck_assert_str_eq(state, "failed");
    ck_assert_int_eq(store_learn_request(st, &l, &err), 0);
    ck_assert_int_eq(store_learn_next(st, &got, &err), 0);
    ck_assert_int_eq(got.attempts, 1);

    /* a report is learned by its receiver, never claimed by the job runner */
    snprintf(report.origin, sizeof(report.origin), "report");
    ck_assert_int_eq(store_learn_request(st, &report, &err), 0);
    ck_assert_int_eq(store_learn_request(st, &report, &err), STORE_USED);
    ck_assert_int_eq(store_learn_next(st, &got, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_learn_state(st, "report:nothing", "spam", state, sizeof(state), last,
                                       sizeof(last), &err),
                     STORE_NOTFOUND);
    l = request("report:x", "maybe");
    ck_assert_int_eq(store_learn_request(st, &l, &err), -1);
    /* the purge keeps what retention_days still covers */
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_learn_request(st, &report, &err), STORE_USED);
    /* and forgets what it no longer covers */
    tu_db_exec(db_path, "UPDATE learned SET updated = 0");
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_learn_state(st, "report:0123abcd", "spam", state, sizeof(state), last,
                                       sizeof(last), &err),
                     STORE_NOTFOUND);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store_learn");
    TCase *tc = tcase_create("learn");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ham_waits_for_the_release_and_is_learned_once);
    tcase_add_test(tc, a_scanner_away_is_retried_and_a_failure_can_be_asked_again);
    suite_add_tcase(s, tc);
    return s;
}
