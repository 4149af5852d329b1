/*
 * test_notify.c - the notifier's part of the store (store_notify.c):
 * capture rows, immediate notices, digests recorded before they are sent
 * (so that a crash neither repeats nor loses an item), and DSN state.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/store.h"

#include "store_util.h"

static char *dir, *db_path;
static struct store *st;
static unsigned seq;

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
    seq = 0;
}

static void teardown(void)
{
    store_close(&st);
    tu_rmtree(dir);
    free(dir);
    free(db_path);
}

/* pending_first - keep the first pending notice's entry */
static void pending_first(const struct store_qitem *it, int attempts, void *ctx)
{
    struct store_qitem *seen = ctx;

    (void)attempts;
    if (seen->id[0] == '\0')
        *seen = *it;
}

/* hold - one held entry for rcpt; its id into id */
static void hold(const char *rcpt, const char *sender, char *id)
{
    struct store_qitem it = {.size = 10};
    char body[64];
    const char *err;

    snprintf(it.trace_id, sizeof(it.trace_id), "trace%u", seq);
    snprintf(it.sender, sizeof(it.sender), "%s", sender);
    snprintf(it.recipient, sizeof(it.recipient), "%s", rcpt);
    snprintf(it.subject, sizeof(it.subject), "item %u", seq);
    snprintf(it.service, sizeof(it.service), "rules");
    snprintf(it.reason, sizeof(it.reason), "test");
    snprintf(body, sizeof(body), "Subject: item %u\r\n\r\nbody %u\r\n", seq, seq);
    seq++;
    ck_assert_int_eq(tu_add(st, &it, 1, body, strlen(body), 7, &err), 0);
    strcpy(id, it.id);
}

struct ids {
    char id[16][STORE_ID_LEN + 1];
    size_t n;
};

static void collect(const struct store_qitem *it, void *ctx)
{
    struct ids *ids = ctx;
    ck_assert_uint_lt(ids->n, 16);
    strcpy(ids->id[ids->n++], it->id);
}

static void collect_pending(const struct store_qitem *it, int attempts, void *ctx)
{
    (void)attempts;
    collect(it, ctx);
}

static void collect_dsn(const struct store_qitem *it, const char *cause, const char *detail,
                        void *ctx)
{
    (void)detail;
    ck_assert_str_eq(cause, "expired");
    collect(it, ctx);
}

START_TEST(capture_once_and_headers_kept)
{
    char a[32], b[32], buf[100];
    struct ids ids = {0};
    const char *err;
    size_t len;
    struct store_notice_state s;

    hold("alice@example.org", "x@remote.example", a);
    hold("bob@example.org", "x@remote.example", b);
    ck_assert_int_eq(store_notify_uncaptured(st, 0, 10, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 2);
    /* the periodic look covers recent entries only */
    tu_db_exec(db_path,
               "UPDATE quarantine SET created = created - 3 * 86400 WHERE public_id = '%s'", b);
    ids.n = 0;
    ck_assert_int_eq(
        store_notify_uncaptured(st, (int64_t)time(NULL) - 86400, 10, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 1);
    ck_assert_str_eq(ids.id[0], a);
    ck_assert_int_eq(store_notify_capture(st, a, "pending", "", "Subject: a\r\n", 12, &err), 0);
    ck_assert_int_eq(store_notify_capture(st, b, "skipped", "auto-submitted", NULL, 0, &err), 0);
    /* a second capture changes nothing */
    ck_assert_int_eq(store_notify_capture(st, a, "skipped", "late", NULL, 0, &err), 0);
    ids.n = 0;
    ck_assert_int_eq(store_notify_uncaptured(st, 0, 10, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 0);
    ck_assert_int_eq(store_notify_headers(st, a, buf, sizeof(buf), &len, &err), 0);
    ck_assert_str_eq(buf, "Subject: a\r\n");
    ck_assert_int_eq(store_notify_state(st, b, &s, &err), 0);
    ck_assert_str_eq(s.state, "skipped");
    ck_assert_str_eq(s.reason, "auto-submitted");
    ids.n = 0;
    ck_assert_int_eq(store_notify_pending(st, 10, collect_pending, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 1);
    ck_assert_str_eq(ids.id[0], a);
    /* released before the notice went out: no notice */
    ck_assert_int_eq(store_quarantine_set_status(st, a, STORE_RELEASED, &err), 0);
    ids.n = 0;
    ck_assert_int_eq(store_notify_pending(st, 10, collect_pending, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 0);
    ck_assert_int_eq(store_notify_state(st, a, &s, &err), 0);
    ck_assert_str_eq(s.reason, "no longer held");
}
END_TEST

/* hold_captured - hold for rcpt and capture its notification row in state */
static void hold_captured(const char *rcpt, const char *state, char *id)
{
    const char *err = NULL;

    hold(rcpt, "x@remote.example", id);
    ck_assert_msg(store_notify_capture(st, id, state, "", NULL, 0, &err) == 0, "%s", err);
}

static void backlog_label(const char *label, int64_t count, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);

    snprintf(out + n, 128 - n, "%s=%lld;", label, (long long)count);
}

/* backlog_of - store_web_count "backlog" as "digests=N;notices=N;releases=N;" */
static const char *backlog_of(char *out)
{
    const char *err = NULL;

    out[0] = '\0';
    ck_assert_msg(store_web_count(st, "backlog", 0, backlog_label, out, &err) == 0, "%s", err);
    return out;
}

/* what opesd's /metrics shows as the job backlog: pending notices, digests, releases */
START_TEST(backlog_counts_what_waits)
{
    char a1[32], a2[32], b1[32], b2[32], out[128];
    struct store_release r = {.origin = "cli"};
    const char *err;
    int64_t id;
    size_t count;

    ck_assert_str_eq(backlog_of(out), "digests=0;notices=0;releases=0;");
    hold_captured("alice@example.org", "digest", a1);
    hold_captured("alice@example.org", "digest", a2);
    hold_captured("bob@example.org", "pending", b1);
    hold_captured("bob@example.org", "skipped", b2);
    /* entries waiting for a digest are not a digest yet */
    ck_assert_str_eq(backlog_of(out), "digests=0;notices=1;releases=0;");
    ck_assert_int_eq(store_digest_create(st, "alice@example.org", &id, &count, &err), 0);
    snprintf(r.item_id, sizeof(r.item_id), "%s", b2);
    snprintf(r.requested_by, sizeof(r.requested_by), "admin");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    ck_assert_str_eq(backlog_of(out), "digests=1;notices=1;releases=1;");
    ck_assert_int_eq(store_digest_sent(st, id, &err), 0);
    ck_assert_int_eq(store_notify_set_state(st, b1, "sent", "", &err), 0);
    ck_assert_str_eq(backlog_of(out), "digests=0;notices=0;releases=1;");
}
END_TEST

START_TEST(digest_recorded_before_sending_lists_each_item_once)
{
    char a1[32], a2[32], a3[32], b1[32];
    struct ids ids = {0};
    const char *err;
    int64_t id1, id2, last;
    size_t count;

    hold_captured("alice@example.org", "digest", a1);
    hold_captured("alice@example.org", "digest", a2);
    hold_captured("bob@example.org", "pending", b1);
    ck_assert_int_eq(store_digest_last(st, "alice@example.org", &last, &err), 0);
    ck_assert_int_gt(last, 0); /* no digest yet: the oldest waiting entry */
    ck_assert_int_eq(store_digest_create(st, "alice@example.org", &id1, &count, &err), 0);
    ck_assert_uint_eq(count, 2);
    /* nothing new: no second digest */
    ck_assert_int_eq(store_digest_create(st, "alice@example.org", &id2, &count, &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_digest_create(st, "bob@example.org", &id2, &count, &err),
                     STORE_NOTFOUND);
    /* a crash now: the digest is still pending, with the same items */
    store_close(&st);
    {
        char *key = tu_path(dir, "keys");
        st = tu_store_open(db_path, key, &err);
        free(key);
    }
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(store_digest_items(st, id1, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 2);
    ck_assert_str_eq(ids.id[0], a1);
    ck_assert_str_eq(ids.id[1], a2);
    /* an item held after the digest was recorded waits for the next one */
    hold("alice@example.org", "x@remote.example", a3);
    store_notify_capture(st, a3, "digest", "", NULL, 0, &err);
    ck_assert_int_eq(store_digest_sent(st, id1, &err), 0);
    ck_assert_int_eq(store_digest_create(st, "alice@example.org", &id2, &count, &err), 0);
    ck_assert_uint_eq(count, 1);
    ids.n = 0;
    ck_assert_int_eq(store_digest_items(st, id2, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 1);
    ck_assert_str_eq(ids.id[0], a3);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT COUNT(*) FROM notification WHERE state = 'sent'"),
                     2);
}
END_TEST

struct digests {
    struct store_digest d[8];
    size_t n;
};

static void collect_digest(const struct store_digest *d, void *ctx)
{
    struct digests *l = ctx;
    ck_assert_uint_lt(l->n, 8);
    l->d[l->n++] = *d;
}

/* a shared mailbox's digest is recorded with a copy for each delegate, sent on its own */
START_TEST(digest_copies_for_delegates_and_refused_ones_given_up)
{
    char a1[32], b1[32];
    struct digests l = {0};
    struct ids ids = {0};
    const char *err;
    int64_t id, last, before;
    size_t count;

    hold_captured("sales@example.org", "digest", a1);
    hold_captured("ann@example.org", "digest", b1);
    ck_assert_int_eq(store_digest_last(st, "ann@example.org", &before, &err), 0);
    ck_assert_int_eq(store_delegate_add(st, "Sales@example.org", "ann@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_delegate_add(st, "sales@example.org", "bob@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_digest_create(st, "SALES@example.org", &id, &count, &err), 0);
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(store_digest_pending(st, 10, collect_digest, &l, &err), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_int_eq(l.d[0].id, id);
    ck_assert_int_eq(l.d[0].copy_of, 0);
    ck_assert_str_eq(l.d[0].owner, "");
    for (size_t i = 1; i < 3; i++) {
        ck_assert_int_eq(l.d[i].copy_of, id);
        ck_assert_str_eq(l.d[i].owner, "SALES@example.org");
    }
    ck_assert_str_eq(l.d[1].recipient, "ann@example.org");
    ck_assert_str_eq(l.d[2].recipient, "bob@example.org");
    /* a copy lists the mailbox's items; ann's own entry still waits for her own digest,
     * whose schedule the copy does not move */
    ck_assert_int_eq(store_digest_items(st, l.d[1].copy_of, collect, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 1);
    ck_assert_str_eq(ids.id[0], a1);
    ck_assert_int_eq(store_digest_last(st, "ann@example.org", &last, &err), 0);
    ck_assert_int_eq(last, before);
    /* bob's mailbox refuses for good: never tried again; ann's 4xx: tried again */
    ck_assert_int_eq(store_digest_failed(st, l.d[2].id, "550 5.1.1 no such user", true, &err), 0);
    ck_assert_int_eq(store_digest_failed(st, l.d[1].id, "452 4.2.2 over quota", false, &err), 0);
    ck_assert_int_eq(store_digest_sent(st, id, &err), 0);
    l.n = 0;
    ck_assert_int_eq(store_digest_pending(st, 10, collect_digest, &l, &err), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.d[0].recipient, "ann@example.org");
    ck_assert_int_eq(l.d[0].attempts, 1);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT COUNT(*) FROM digest WHERE state = 'failed' AND "
                                        "last_error = '550 5.1.1 no such user'"),
                     1);
    /* the copy's sending does not touch the mailbox's items */
    ck_assert_int_eq(store_digest_sent(st, l.d[0].id, &err), 0);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT COUNT(*) FROM notification WHERE state = 'sent'"),
                     1);
}
END_TEST

START_TEST(expired_entries_are_due_for_a_dsn_once)
{
    char a[32], b[32];
    struct ids ids = {0};
    const char *err;
    size_t expired;

    hold("alice@example.org", "x@remote.example", a);
    hold("alice@example.org", "y@remote.example", b);
    store_notify_capture(st, a, "sent", "", "Subject: a\r\n", 12, &err);
    store_notify_capture(st, b, "sent", "", "Subject: b\r\n", 12, &err);
    tu_db_exec(db_path,
               "UPDATE quarantine SET created = created - 40 * 86400 WHERE public_id = '%s'", a);
    ck_assert_int_eq(store_dsn_due(st, 0, 10, collect_dsn, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 0);
    ck_assert_int_eq(store_purge(st, 30, &expired, NULL, &err), 0);
    ck_assert_uint_eq(expired, 1);
    /* the periodic look: entries expired since then only */
    ck_assert_int_eq(store_dsn_due(st, (int64_t)time(NULL) + 60, 10, collect_dsn, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 0);
    ck_assert_int_eq(store_dsn_due(st, 0, 10, collect_dsn, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 1);
    ck_assert_str_eq(ids.id[0], a);
    ck_assert_int_eq(store_dsn_done(st, a, "sent", "250 ok", &err), 0);
    ids.n = 0;
    ck_assert_int_eq(store_dsn_due(st, 0, 10, collect_dsn, &ids, &err), 0);
    ck_assert_uint_eq(ids.n, 0);
}
END_TEST

static void count_orcpt(const struct store_trace *t, void *ctx)
{
    if (strcmp(t->event, "orcpt") == 0)
        ++*(int *)ctx;
}

/* trace_events - how many records trace_id has, and how many of them are orcpt */
static int trace_events(const char *trace_id, int *orcpt)
{
    const char *err;

    *orcpt = 0;
    ck_assert_int_eq(store_trace_list(st, trace_id, count_orcpt, orcpt, &err), 0);
    return tu_db_int(db_path, "SELECT COUNT(*) FROM trace WHERE trace_id = %Q", trace_id);
}

START_TEST(orcpt_kept_while_the_entry_is)
{
    char a[32];
    const char *err;
    size_t expired;
    int orcpt;
    int64_t old = (int64_t)time(NULL) - 40 * 86400;
    struct store_trace t[2] = {{.trace_id = "trace0",
                                .recipient = "alice@example.org",
                                .event = "orcpt",
                                .detail = "rfc822;old-alice@example.org",
                                .at = old},
                               {.trace_id = "trace0",
                                .recipient = "alice@example.org",
                                .event = "quarantine",
                                .service = "rules",
                                .verdict = "quarantine",
                                .at = old}};

    hold("alice@example.org", "x@remote.example", a);
    store_notify_capture(st, a, "sent", "", "Subject: a\r\n", 12, &err);
    ck_assert_int_eq(store_trace_add_many(st, t, 2, &err), 0);
    tu_db_exec(db_path,
               "UPDATE quarantine SET created = created - 40 * 86400 WHERE public_id = '%s'", a);
    /* the entry expires and its trace records go, but not the ORCPT its DSN needs */
    ck_assert_int_eq(store_purge(st, 30, &expired, NULL, &err), 0);
    ck_assert_uint_eq(expired, 1);
    ck_assert_int_eq(trace_events("trace0", &orcpt), 1);
    ck_assert_int_eq(orcpt, 1);
    /* once the entry itself goes, so does its ORCPT */
    tu_db_exec(db_path,
               "UPDATE quarantine SET updated = updated - 40 * 86400 WHERE public_id = '%s'", a);
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(trace_events("trace0", &orcpt), 0);
}
END_TEST

START_TEST(known_recipients_and_preferences)
{
    char a[32], mode[16], sched[64];
    const char *err;

    ck_assert_int_eq(store_notify_known(st, "alice@example.org", &err), 0);
    hold("alice@example.org", "x@remote.example", a);
    ck_assert_int_eq(store_notify_known(st, "ALICE@example.org", &err), 1);
    ck_assert_int_eq(store_user_notify_prefs(st, "bob@example.org", mode, sizeof(mode), sched,
                                             sizeof(sched), &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_user_set_notify(st, "bob@example.org", "digest", "every 6h", &err), 0);
    ck_assert_int_eq(store_notify_known(st, "bob@example.org", &err), 1);
    ck_assert_int_eq(store_user_notify_prefs(st, "bob@example.org", mode, sizeof(mode), sched,
                                             sizeof(sched), &err),
                     0);
    ck_assert_str_eq(mode, "digest");
    ck_assert_str_eq(sched, "every 6h");
    ck_assert_int_eq(store_user_set_notify(st, "bob@example.org", "bogus", "", &err), -1);
}
END_TEST

/* a recipient's language and zone, and an entry's words, as the mails read them */
START_TEST(locale_and_words_kept)
{
    struct store_qitem it = {.size = 10}, got;
    struct store_user u;
    char lang[16] = "x", tz[64] = "x", a[32];
    const char *err, *body = "Subject: s\r\n\r\nb\r\n";

    /* no user row: the defaults, told apart from a store error */
    ck_assert_int_eq(
        store_user_locale(st, "carol@example.org", lang, sizeof(lang), tz, sizeof(tz), &err),
        STORE_NOTFOUND);
    ck_assert_str_eq(lang, "");
    ck_assert_str_eq(tz, "");
    ck_assert_int_eq(store_user_set_locale(st, "Carol@Example.org", "de", "Europe/Berlin", &err),
                     0);
    ck_assert_int_eq(
        store_user_locale(st, "carol@example.org", lang, sizeof(lang), tz, sizeof(tz), &err), 0);
    ck_assert_str_eq(lang, "de");
    ck_assert_str_eq(tz, "Europe/Berlin");
    /* the user row made for it is an ordinary recipient's, and other settings stay */
    ck_assert_int_eq(store_user_get(st, "carol@example.org", &u, &err), 0);
    ck_assert_int_eq(u.role, STORE_ROLE_USER);
    ck_assert_int_eq(store_user_set_notify(st, "carol@example.org", "digest", "", &err), 0);
    ck_assert_int_eq(store_user_set_locale(st, "carol@example.org", "", "America/New_York", &err),
                     0);
    ck_assert_int_eq(
        store_user_locale(st, "carol@example.org", lang, sizeof(lang), tz, sizeof(tz), &err), 0);
    ck_assert_str_eq(lang, "");
    ck_assert_str_eq(tz, "America/New_York");
    ck_assert_int_eq(store_user_get(st, "carol@example.org", &u, &err), 0);
    ck_assert_str_eq(u.notify_mode, "digest");

    /* words are stored with the entry and come back with every read of it */
    snprintf(it.trace_id, sizeof(it.trace_id), "tw");
    snprintf(it.sender, sizeof(it.sender), "x@remote.example");
    snprintf(it.recipient, sizeof(it.recipient), "carol@example.org");
    snprintf(it.service, sizeof(it.service), "spam");
    snprintf(it.reason, sizeof(it.reason), "score 14.3 (tag 5.0, quarantine 10.0)");
    snprintf(it.words, sizeof(it.words), "reason.spam;score=14.3;required=10.0");
    ck_assert_int_eq(tu_add(st, &it, 1, body, strlen(body), 7, &err), 0);
    ck_assert_int_eq(store_quarantine_get(st, it.id, &got, &err), 0);
    ck_assert_str_eq(got.words, "reason.spam;score=14.3;required=10.0");
    ck_assert_str_eq(got.reason, "score 14.3 (tag 5.0, quarantine 10.0)");
    /* an entry without words (as held before them) reads as "" */
    hold("carol@example.org", "y@remote.example", a);
    ck_assert_int_eq(store_quarantine_get(st, a, &got, &err), 0);
    ck_assert_str_eq(got.words, "");
    /* the notifier's reads carry them too */
    ck_assert_int_eq(store_notify_capture(st, it.id, "pending", "", NULL, 0, &err), 0);
    {
        struct store_qitem seen = {0};
        ck_assert_int_ge(store_notify_pending(st, 10, pending_first, &seen, &err), 0);
        ck_assert_str_eq(seen.words, "reason.spam;score=14.3;required=10.0");
    }
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store_notify");
    TCase *tc = tcase_create("notify");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, capture_once_and_headers_kept);
    tcase_add_test(tc, digest_recorded_before_sending_lists_each_item_once);
    tcase_add_test(tc, backlog_counts_what_waits);
    tcase_add_test(tc, digest_copies_for_delegates_and_refused_ones_given_up);
    tcase_add_test(tc, expired_entries_are_due_for_a_dsn_once);
    tcase_add_test(tc, orcpt_kept_while_the_entry_is);
    tcase_add_test(tc, known_recipients_and_preferences);
    tcase_add_test(tc, locale_and_words_kept);
    suite_add_tcase(s, tc);
    return s;
}
