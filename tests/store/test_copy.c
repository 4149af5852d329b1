/*
 * test_copy.c - store_copy from an SQLite store into a PostgreSQL one (the
 * move from one node to several): every kind of row is written through the
 * API on SQLite, copied, and read back through the API on PostgreSQL; a copy
 * into a store that is not empty is refused and changes nothing. Run only
 * under pg_run.sh (OPES_TEST_PG): without it the test fails, never skips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/store.h"
#include "store_util.h"

#define BODY_LEN (300 * 1024) /* several chunks */

static char *dir, *key;
static struct store *src, *dst;
static int tables, differ;

static void setup(void)
{
    const char *err = NULL;
    char *path;

    ck_assert_msg(tu_pg() != NULL, "run under pg_run.sh: OPES_TEST_PG is not set");
    dir = tu_tmpdir();
    key = tu_path(dir, "keys");
    path = tu_path(dir, "source.db");
    src = store_open(path, key, &err); /* SQLite whatever the run */
    ck_assert_msg(src != NULL, "%s", err);
    free(path);
    path = tu_path(dir, "target.db");
    dst = tu_store_open(path, key, &err); /* PostgreSQL */
    ck_assert_msg(dst != NULL, "%s", err);
    free(path);
    tables = differ = 0;
}

static void teardown(void)
{
    store_close(&src);
    store_close(&dst);
    tu_rmtree(dir);
    free(dir);
    free(key);
}

static void copied(const char *table, int64_t src_rows, int64_t dst_rows, void *ctx)
{
    (void)table;
    (void)ctx;
    tables++;
    if (src_rows != dst_rows)
        differ++;
}

static void count_list(const struct store_list_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
}

static void find_audit(const struct store_audit_entry *e, void *ctx)
{
    if (strcmp(e->action, "copy-test") == 0)
        (*(int *)ctx)++;
}

/* fill - every kind of row on st; the held entries' ids into ids[2] */
static void fill(struct store *st, char ids[2][STORE_ID_LEN + 1], const unsigned char *body)
{
    const char *err = NULL;
    struct store_qitem it[2] = {{.size = BODY_LEN}, {.size = BODY_LEN}};
    struct store_trace t = {.duration_ms = 7, .at = 1000};
    struct store_list_entry w = {.kind = STORE_WHITELIST}, b = {.kind = STORE_BLOCKLIST};
    struct store_release r = {.attempts = 0};
    struct store_web_session s = {.created = 1, .last_seen = 2, .expires = 4102444800};
    unsigned char hash[STORE_SESSION_HASH] = {1, 2, 3};

    for (int i = 0; i < 2; i++) {
        snprintf(it[i].trace_id, sizeof(it[i].trace_id), "trace%d", i);
        snprintf(it[i].sender, sizeof(it[i].sender), "spam@example.net");
        snprintf(it[i].recipient, sizeof(it[i].recipient), "user%d@example.org", i);
        snprintf(it[i].subject, sizeof(it[i].subject), "held %d", i);
        snprintf(it[i].service, sizeof(it[i].service), "antivirus");
        snprintf(it[i].reason, sizeof(it[i].reason), "EICAR");
    }
    ck_assert_msg(tu_add(st, it, 2, body, BODY_LEN, 4096, &err) == 0, "%s", err);
    memcpy(ids[0], it[0].id, sizeof(ids[0]));
    memcpy(ids[1], it[1].id, sizeof(ids[1]));

    snprintf(t.trace_id, sizeof(t.trace_id), "trace0");
    snprintf(t.recipient, sizeof(t.recipient), "user0@example.org");
    snprintf(t.event, sizeof(t.event), "service");
    snprintf(t.service, sizeof(t.service), "antivirus");
    snprintf(t.verdict, sizeof(t.verdict), "infected");
    ck_assert_msg(store_trace_add(st, &t, &err) == 0, "%s", err);

    snprintf(w.owner, sizeof(w.owner), "user0@example.org");
    snprintf(w.sender, sizeof(w.sender), "friend@example.com");
    snprintf(w.created_by, sizeof(w.created_by), "admin");
    snprintf(w.origin, sizeof(w.origin), "cli");
    b = w;
    b.kind = STORE_BLOCKLIST;
    snprintf(b.sender, sizeof(b.sender), "@bad.example");
    ck_assert_msg(store_list_add(st, &w, &err) == 0, "%s", err);
    ck_assert_msg(store_list_add(st, &b, &err) == 0, "%s", err);

    ck_assert_msg(store_user_add(st, "user0@example.org", STORE_ROLE_USER, &err) == 0, "%s", err);
    ck_assert_msg(store_user_set_password(st, "user0@example.org", "s3cret pw", &err) == 0, "%s",
                  err);
    ck_assert_msg(store_user_set_consent(st, "user0@example.org", "antispam", false, &err) == 0,
                  "%s", err);
    ck_assert_msg(store_user_set_notify(st, "user1@example.org", "digest", "daily@08", &err) == 0,
                  "%s", err);
    struct store_spam sp = {.level = "custom", .tag = 2.5, .junk = 6.0, .quarantine = 11.0};
    ck_assert_msg(store_user_set_spam(st, "user1@example.org", &sp, &err) == 0, "%s", err);

    ck_assert_int_eq(store_token_use(st, "nonce-1", 4102444800, &err), 0);
    snprintf(r.item_id, sizeof(r.item_id), "%s", ids[1]);
    snprintf(r.requested_by, sizeof(r.requested_by), "user1@example.org");
    snprintf(r.origin, sizeof(r.origin), "portal");
    ck_assert_msg(store_release_request(st, &r, &err) == 0, "%s", err);

    snprintf(s.address, sizeof(s.address), "user0@example.org");
    snprintf(s.csrf, sizeof(s.csrf), "csrf");
    ck_assert_msg(store_web_session_add(st, hash, &s, &err) == 0, "%s", err);
    ck_assert_msg(store_login_request_add(st, "user0@example.org", &err) == 0, "%s", err);
    ck_assert_int_eq(store_rate_hit(st, "login:user0", 3600, 5, &err), 0);
    ck_assert_msg(store_notify_meta_set(st, "copy-test", 42, &err) == 0, "%s", err);
    ck_assert_msg(store_audit(st, "admin", "copy-test", "everything", "cli", &err) == 0, "%s", err);
}

START_TEST(copy_keeps_every_kind_of_row)
{
    const char *err = NULL;
    char ids[2][STORE_ID_LEN + 1], state[32], why[256];
    unsigned char *body = tu_pattern(BODY_LEN, 13), *data;
    size_t len;
    struct store_qitem got;
    struct store_user u;
    struct store_list_entry more = {.kind = STORE_WHITELIST};
    int n = 0;
    int64_t v;

    fill(src, ids, body);
    ck_assert_msg(store_copy(src, dst, copied, NULL, &err) == 0, "%s", err);
    ck_assert_int_gt(tables, 10);
    ck_assert_int_eq(differ, 0);

    /* entries and their content, decrypted with the same key file */
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(store_quarantine_get(dst, ids[i], &got, &err) == 0, "%s", err);
        ck_assert_str_eq(got.service, "antivirus");
        ck_assert_int_eq(got.status, STORE_HELD);
        ck_assert_msg(tu_content(dst, ids[i], &data, &len, &err) == 0, "%s", err);
        ck_assert_uint_eq(len, BODY_LEN);
        ck_assert(memcmp(data, body, BODY_LEN) == 0);
        free(data);
    }
    /* lists, users, passwords, consent, preferences */
    ck_assert_int_eq(store_list_show(dst, NULL, count_list, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(
        store_list_match(dst, STORE_WHITELIST, "user0@example.org", "friend@example.com", &err), 1);
    ck_assert_int_eq(
        store_list_match(dst, STORE_BLOCKLIST, "user0@example.org", "x@bad.example", &err), 1);
    ck_assert_int_eq(store_user_get(dst, "user0@example.org", &u, &err), 0);
    ck_assert(u.has_password);
    ck_assert_int_eq(store_user_check_password(dst, "user0@example.org", "s3cret pw", &err), 1);
    ck_assert_int_eq(store_user_check_password(dst, "user0@example.org", "wrong", &err), 0);
    ck_assert_int_eq(store_user_consent(dst, "user0@example.org", "antispam", &err), 0);
    struct store_spam level;
    ck_assert_int_eq(store_user_spam(dst, "user1@example.org", &level, &err), 1);
    ck_assert_str_eq(level.level, "custom");
    ck_assert(level.tag == 2.5 && level.junk == 6.0 && level.quarantine == 11.0);
    ck_assert_int_eq(store_user_notify_prefs(dst, "user1@example.org", state, sizeof(state), why,
                                             sizeof(why), &err),
                     0);
    ck_assert_str_eq(state, "digest");
    /* a used token stays used; a release request stays pending */
    ck_assert_int_eq(store_token_use(dst, "nonce-1", 4102444800, &err), STORE_USED);
    ck_assert_int_eq(store_release_state(dst, ids[1], state, sizeof(state), why, sizeof(why), &err),
                     0);
    ck_assert_str_eq(state, "pending");
    ck_assert_int_eq(store_notify_meta_get(dst, "copy-test", &v, &err), 0);
    ck_assert_int_eq(v, 42);
    n = 0;
    ck_assert_int_eq(store_audit_list(dst, 100, find_audit, &n, &err), 0);
    ck_assert_int_eq(n, 1);

    /* the ids go on past the copied ones */
    snprintf(more.owner, sizeof(more.owner), "user1@example.org");
    snprintf(more.sender, sizeof(more.sender), "new@example.com");
    snprintf(more.created_by, sizeof(more.created_by), "admin");
    snprintf(more.origin, sizeof(more.origin), "cli");
    ck_assert_msg(store_list_add(dst, &more, &err) == 0, "%s", err);
    ck_assert_msg(store_audit(dst, "admin", "after", "copy", "cli", &err) == 0, "%s", err);
    free(body);
}
END_TEST

START_TEST(copy_into_a_store_not_empty_is_refused)
{
    const char *err = NULL;
    char ids[2][STORE_ID_LEN + 1];
    unsigned char *body = tu_pattern(BODY_LEN, 7);
    int n = 0;

    fill(src, ids, body);
    ck_assert_msg(store_audit(dst, "admin", "already", "here", "cli", &err) == 0, "%s", err);
    ck_assert_int_eq(store_copy(src, dst, copied, NULL, &err), -1);
    ck_assert_msg(strstr(err, "not empty") != NULL, "%s", err);
    ck_assert_int_eq(store_list_show(dst, NULL, count_list, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(store_quarantine_get(dst, ids[0], &(struct store_qitem){0}, &err),
                     STORE_NOTFOUND);
    free(body);
}
END_TEST

START_TEST(copy_twice_is_refused_and_keeps_the_first)
{
    const char *err = NULL;
    char ids[2][STORE_ID_LEN + 1];
    unsigned char *body = tu_pattern(BODY_LEN, 5);
    int n = 0;

    fill(src, ids, body);
    ck_assert_msg(store_copy(src, dst, NULL, NULL, &err) == 0, "%s", err);
    ck_assert_int_eq(store_copy(src, dst, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err, "not empty") != NULL, "%s", err);
    ck_assert_int_eq(store_list_show(dst, NULL, count_list, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    free(body);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store_copy");
    TCase *tc = tcase_create("copy");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, copy_keeps_every_kind_of_row);
    tcase_add_test(tc, copy_into_a_store_not_empty_is_refused);
    tcase_add_test(tc, copy_twice_is_refused_and_keeps_the_first);
    suite_add_tcase(s, tc);
    return s;
}
