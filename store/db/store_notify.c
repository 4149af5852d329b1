/*
 * store_notify.c - what the notifier keeps in the store: one notification
 * row per quarantine entry (its state, the held message's header section and
 * the sender-DSN state), digests with their items, the recipients' notify
 * preferences and a few persistent facts (notify_meta).
 *
 * Digests are recorded with their items in one transaction before they are
 * sent, and marked sent after the mailbox store's 2xx: a digest interrupted
 * by a crash is sent again as the same digest, so no item is listed twice in
 * different digests, and none is skipped.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

#define N_QCOLS                                                                                    \
    "q.public_id, q.trace_id, q.sender, q.recipient, q.subject, q.msg_date, q.size, q.service, "   \
    "q.reason, q.status, q.created, q.updated"

/* created >= ?2 keeps the periodic look on the index of recent entries */
static const char sql_uncaptured[] =
    "SELECT " N_QCOLS " FROM quarantine q WHERE q.created >= ?2 AND NOT EXISTS "
    "(SELECT 1 FROM notification n WHERE n.quarantine_id = q.id) ORDER BY q.created, q.id LIMIT ?1";
static const char sql_capture[] =
    "INSERT INTO notification (quarantine_id, state, reason, headers, created) "
    "SELECT id, ?2, ?3, ?4, ?5 FROM quarantine WHERE public_id = ?1 "
    "ON CONFLICT (quarantine_id) DO NOTHING";
static const char sql_drop_stale[] =
    "UPDATE notification SET state = 'skipped', reason = 'no longer held' "
    "WHERE state IN ('pending', 'digest') AND digest_id IS NULL AND quarantine_id IN "
    "(SELECT id FROM quarantine WHERE status <> 'held')";
static const char sql_pending[] =
    "SELECT " N_QCOLS ", n.attempts FROM notification n JOIN quarantine q ON q.id = "
    "n.quarantine_id WHERE n.state = 'pending' ORDER BY q.id LIMIT ?";
static const char sql_set_state[] =
    "UPDATE notification SET state = ?2, reason = ?3, sent_at = ?4 "
    "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)";
static const char sql_attempt[] =
    "UPDATE notification SET attempts = attempts + 1, reason = ?2 "
    "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)";
static const char sql_headers[] =
    "SELECT n.headers FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
    "WHERE q.public_id = ?";
static const char sql_state_of[] =
    "SELECT n.state, n.reason, n.dsn, n.dsn_reason FROM notification n "
    "JOIN quarantine q ON q.id = n.quarantine_id WHERE q.public_id = ?";
static const char sql_prefs[] = "SELECT notify_mode, digest_schedule FROM user WHERE address = ?";
static const char sql_set_prefs[] =
    "INSERT INTO user (address, notify_mode, digest_schedule, created) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (address) DO UPDATE SET notify_mode = excluded.notify_mode, "
    "digest_schedule = excluded.digest_schedule";
static const char sql_known[] =
    "SELECT EXISTS (SELECT 1 FROM user WHERE address = ?1 COLLATE NOCASE) "
    "OR EXISTS (SELECT 1 FROM quarantine WHERE recipient = ?1)";
static const char sql_waiting[] =
    "SELECT DISTINCT q.recipient FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
    "WHERE n.state = 'digest' AND n.digest_id IS NULL";
/* the last digest, or for a first digest the oldest entry waiting for it */
static const char sql_digest_last[] =
    "SELECT COALESCE((SELECT MAX(created) FROM digest WHERE recipient = ?1), "
    "(SELECT MIN(q.created) FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
    "WHERE n.state = 'digest' AND n.digest_id IS NULL AND q.recipient = ?1), 0)";
static const char sql_digest_insert[] = "INSERT INTO digest (recipient, created) VALUES (?, ?)";
static const char sql_digest_assign[] =
    "UPDATE notification SET digest_id = ?1 WHERE state = 'digest' AND digest_id IS NULL "
    "AND quarantine_id IN (SELECT id FROM quarantine WHERE recipient = ?2 AND status = 'held')";
static const char sql_digest_pending[] =
    "SELECT id, recipient, created, attempts FROM digest WHERE state = 'pending' ORDER BY id "
    "LIMIT ?";
static const char sql_digest_items[] =
    "SELECT " N_QCOLS " FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
    "WHERE n.digest_id = ? ORDER BY q.id";
static const char sql_digest_sent[] =
    "UPDATE digest SET state = 'sent', sent_at = ?2 WHERE id = ?1";
static const char sql_digest_items_sent[] =
    "UPDATE notification SET state = 'sent', sent_at = ?2 WHERE digest_id = ?1";
static const char sql_digest_failed[] =
    "UPDATE digest SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1";
/* expired ones from the (status, updated) index: the purge sets updated when it expires them */
static const char sql_dsn_due[] =
    "SELECT " N_QCOLS ", 'expired', '' FROM quarantine q JOIN notification n "
    "ON n.quarantine_id = q.id WHERE q.status = 'expired' AND q.updated >= ?2 AND n.dsn = '' "
    "UNION ALL SELECT " N_QCOLS ", 'release-failed', r.last_error FROM quarantine q "
    "JOIN notification n ON n.quarantine_id = q.id JOIN release_request r ON r.quarantine_id = "
    "q.id WHERE q.status = 'held' AND r.state = 'failed' AND n.dsn = '' "
    "AND r.id = (SELECT MAX(id) FROM release_request WHERE quarantine_id = q.id) LIMIT ?1";
static const char sql_dsn_done[] =
    "UPDATE notification SET dsn = ?2, dsn_reason = ?3 "
    "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)";
static const char sql_meta_get[] = "SELECT value FROM notify_meta WHERE key = ?";
static const char sql_meta_set[] = "INSERT INTO notify_meta (key, value) VALUES (?1, ?2) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
static const char sql_held_since[] =
    "SELECT recipient, COUNT(*) FROM quarantine WHERE created >= ? GROUP BY recipient "
    "ORDER BY recipient";

/* sn_items - run q (bound) and hand each row's item to fn. */
static int sn_items(struct store *st, sqlite3_stmt *q,
                    void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                    const char **error_r)
{
    struct store_qitem it;
    int rc;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        st_q_row(q, &it);
        fn(&it, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "notification list");
}

int store_notify_uncaptured(struct store *st, int64_t since, size_t limit,
                            void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                            const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_uncaptured, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, (int64_t)limit);
    sqlite3_bind_int64(q, 2, since);
    return sn_items(st, q, fn, ctx, error_r);
}

int store_notify_capture(struct store *st, const char *id, const char *state, const char *reason,
                         const char *headers, size_t headers_len, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_capture, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    st_text(q, 2, state);
    st_text(q, 3, reason);
    if (headers != NULL)
        sqlite3_bind_blob(q, 4, headers, (int)headers_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, st_now());
    return st_exec1(st, q, error_r, "notification capture");
}

int store_notify_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_qitem *it, int attempts, void *ctx),
                         void *ctx, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_drop_stale, error_r);
    struct store_qitem it;
    int rc;

    if (q == NULL || st_exec1(st, q, error_r, "notification cleanup") < 0)
        return -1;
    if ((q = st_prep(st, sql_pending, error_r)) == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, (int64_t)limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        st_q_row(q, &it);
        fn(&it, sqlite3_column_int(q, 12), ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "pending notifications");
}

int store_notify_set_state(struct store *st, const char *id, const char *state, const char *reason,
                           const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_set_state, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    st_text(q, 2, state);
    st_text(q, 3, reason != NULL ? reason : "");
    sqlite3_bind_int64(q, 4, strcmp(state, "sent") == 0 ? st_now() : 0);
    return st_exec1(st, q, error_r, "notification state");
}

int store_notify_attempt(struct store *st, const char *id, const char *why, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_attempt, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    st_text(q, 2, why);
    return st_exec1(st, q, error_r, "notification attempt");
}

int store_notify_headers(struct store *st, const char *id, char *buf, size_t size, size_t *len_r,
                         const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_headers, error_r);
    int rc, ret = STORE_NOTFOUND;

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    *len_r = 0;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_BLOB) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        if (size > 0) {
            n = n < size - 1 ? n : size - 1;
            memcpy(buf, sqlite3_column_blob(q, 0), n);
            buf[n] = '\0';
            *len_r = n;
        }
        ret = 0;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "notification headers");
    return ret;
}

int store_notify_state(struct store *st, const char *id, struct store_notice_state *s,
                       const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_state_of, error_r);
    int rc;

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st_copy(s->state, sizeof(s->state), q, 0);
        st_copy(s->reason, sizeof(s->reason), q, 1);
        st_copy(s->dsn, sizeof(s->dsn), q, 2);
        st_copy(s->dsn_reason, sizeof(s->dsn_reason), q, 3);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "notification state");
    return rc == SQLITE_ROW ? 0 : STORE_NOTFOUND;
}

int store_user_notify_prefs(struct store *st, const char *address, char *mode, size_t msize,
                            char *schedule, size_t ssize, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_prefs, error_r);
    int rc;

    if (q == NULL)
        return -1;
    st_text(q, 1, address);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st_copy(mode, msize, q, 0);
        st_copy(schedule, ssize, q, 1);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "user preferences");
    return rc == SQLITE_ROW ? 0 : STORE_NOTFOUND;
}

int store_user_set_notify(struct store *st, const char *address, const char *mode,
                          const char *schedule, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_set_prefs, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, address);
    st_text(q, 2, mode);
    st_text(q, 3, schedule != NULL ? schedule : "");
    sqlite3_bind_int64(q, 4, st_now());
    return st_exec1(st, q, error_r, "user preferences");
}

int store_notify_known(struct store *st, const char *address, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_known, error_r);
    int rc, known = 0;

    if (q == NULL)
        return -1;
    st_text(q, 1, address);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        known = sqlite3_column_int(q, 0) != 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return st_dbfail(st, error_r, "known recipient");
    return known;
}

int store_digest_waiting(struct store *st, void (*fn)(const char *recipient, void *ctx), void *ctx,
                         const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_waiting, error_r);
    int rc;

    if (q == NULL)
        return -1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(q, 0), ctx);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "digest recipients");
}

int store_digest_last(struct store *st, const char *recipient, int64_t *last_r,
                      const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_digest_last, error_r);
    int rc;

    if (q == NULL)
        return -1;
    st_text(q, 1, recipient);
    rc = sqlite3_step(q);
    *last_r = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : st_dbfail(st, error_r, "last digest");
}

int store_digest_create(struct store *st, const char *recipient, int64_t *id_r, size_t *count_r,
                        const char **error_r)
{
    sqlite3_stmt *q;
    int64_t id;
    int changes;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    if ((q = st_prep(st, sql_digest_insert, error_r)) == NULL)
        goto fail;
    st_text(q, 1, recipient);
    sqlite3_bind_int64(q, 2, st_now());
    if (st_exec1(st, q, error_r, "digest") < 0)
        goto fail;
    id = sqlite3_last_insert_rowid(st->db);
    if ((q = st_prep(st, sql_digest_assign, error_r)) == NULL)
        goto fail;
    sqlite3_bind_int64(q, 1, id);
    st_text(q, 2, recipient);
    if (st_exec1(st, q, error_r, "digest items") < 0)
        goto fail;
    changes = sqlite3_changes(st->db);
    if (changes == 0) {
        st_rollback(st);
        return STORE_NOTFOUND;
    }
    if (st_commit(st, error_r) < 0)
        goto fail;
    *id_r = id;
    if (count_r != NULL)
        *count_r = (size_t)changes;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_digest_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_digest *d, void *ctx), void *ctx,
                         const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_digest_pending, error_r);
    struct store_digest d;
    int rc;

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, (int64_t)limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&d, 0, sizeof(d));
        d.id = sqlite3_column_int64(q, 0);
        st_copy(d.recipient, sizeof(d.recipient), q, 1);
        d.created = sqlite3_column_int64(q, 2);
        d.attempts = sqlite3_column_int(q, 3);
        fn(&d, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "pending digests");
}

int store_digest_items(struct store *st, int64_t digest_id,
                       void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                       const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_digest_items, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, digest_id);
    return sn_items(st, q, fn, ctx, error_r);
}

int store_digest_sent(struct store *st, int64_t digest_id, const char **error_r)
{
    sqlite3_stmt *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    if ((q = st_prep(st, sql_digest_sent, error_r)) == NULL)
        goto fail;
    sqlite3_bind_int64(q, 1, digest_id);
    sqlite3_bind_int64(q, 2, st_now());
    if (st_exec1(st, q, error_r, "digest sent") < 0)
        goto fail;
    if ((q = st_prep(st, sql_digest_items_sent, error_r)) == NULL)
        goto fail;
    sqlite3_bind_int64(q, 1, digest_id);
    sqlite3_bind_int64(q, 2, st_now());
    if (st_exec1(st, q, error_r, "digest items sent") < 0 || st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_digest_failed(struct store *st, int64_t digest_id, const char *why, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_digest_failed, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, digest_id);
    st_text(q, 2, why);
    return st_exec1(st, q, error_r, "digest attempt");
}

int store_dsn_due(struct store *st, int64_t since, size_t limit,
                  void (*fn)(const struct store_qitem *it, const char *cause, const char *detail,
                             void *ctx),
                  void *ctx, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_dsn_due, error_r);
    struct store_qitem it;
    int rc;

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, (int64_t)limit);
    sqlite3_bind_int64(q, 2, since);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        st_q_row(q, &it);
        fn(&it, (const char *)sqlite3_column_text(q, 12), (const char *)sqlite3_column_text(q, 13),
           ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "due DSNs");
}

int store_dsn_done(struct store *st, const char *id, const char *state, const char *reason,
                   const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_dsn_done, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, id);
    st_text(q, 2, state);
    st_text(q, 3, reason != NULL ? reason : "");
    return st_exec1(st, q, error_r, "DSN state");
}

int store_notify_meta_get(struct store *st, const char *key, int64_t *value_r, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_meta_get, error_r);
    int rc;

    if (q == NULL)
        return -1;
    st_text(q, 1, key);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *value_r = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "notify meta");
    return rc == SQLITE_ROW ? 0 : STORE_NOTFOUND;
}

int store_notify_meta_set(struct store *st, const char *key, int64_t value, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_meta_set, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, key);
    sqlite3_bind_int64(q, 2, value);
    return st_exec1(st, q, error_r, "notify meta");
}

int store_notify_held_since(struct store *st, int64_t since,
                            void (*fn)(const char *recipient, int64_t count, void *ctx), void *ctx,
                            const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_held_since, error_r);
    int rc;

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, since);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1), ctx);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "held since");
}
