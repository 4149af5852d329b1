/*
 * store_web.c - what only the portal keeps: sessions (under a hash of the
 * cookie value), the recipient's notification preferences, and the counts
 * behind the admin page and /metrics.
 */
#include "opes/store.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

static const char sql_sess_add[] =
    "INSERT INTO web_session (id_hash, address, csrf, created, last_seen, expires, admin) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_sess_get[] =
    "SELECT address, csrf, created, last_seen, expires, admin FROM web_session WHERE id_hash = ?1";
static const char sql_sess_touch[] = "UPDATE web_session SET last_seen = ?2 WHERE id_hash = ?1";
static const char sql_sess_delete[] = "DELETE FROM web_session WHERE id_hash = ?1";
static const char sql_sess_purge[] = "DELETE FROM web_session WHERE expires < ?1";
static const char sql_prefs_get[] =
    "SELECT notify_mode, digest_schedule FROM user WHERE address = ?1";
static const char sql_user_ensure[] =
    "INSERT OR IGNORE INTO user (address, created) VALUES (?1, ?2)";
static const char sql_prefs_set[] =
    "UPDATE user SET notify_mode = ?2, digest_schedule = ?3 WHERE address = ?1";
static const char sql_count_status[] =
    "SELECT status, COUNT(*) FROM quarantine GROUP BY status ORDER BY status";
static const char sql_count_held[] = "SELECT service, COUNT(*) FROM quarantine "
                                     "WHERE status = 'held' GROUP BY service ORDER BY service";
static const char sql_count_release[] =
    "SELECT state, COUNT(*) FROM release_request GROUP BY state ORDER BY state";
static const char sql_count_outcome[] =
    "SELECT verdict, COUNT(*) FROM trace WHERE event = 'decision' AND at >= ?1 "
    "GROUP BY verdict ORDER BY verdict";
static const char sql_count_svc[] =
    "SELECT service || ' ' || verdict, COUNT(*) FROM trace WHERE event = 'service' AND at >= ?1 "
    "GROUP BY 1 ORDER BY 1";
/* cumulative buckets of the time from end of data to the final reply, in ms */
#define SW_LE(ms)                                                                                  \
    "SELECT '" #ms "', COUNT(*) FROM trace WHERE event = 'reply' AND at >= ?1 "                    \
    "AND duration_ms <= " #ms " UNION ALL "
static const char sql_count_latency[] =
    SW_LE(10) SW_LE(50) SW_LE(100) SW_LE(250) SW_LE(500) SW_LE(1000) SW_LE(5000) SW_LE(
        30000) "SELECT '+Inf', COUNT(*) FROM trace WHERE event = 'reply' AND at >= ?1 UNION ALL "
               "SELECT 'sum', COALESCE(SUM(duration_ms), 0) FROM trace WHERE event = 'reply' AND "
               "at >= ?1";
static const char sql_count_day[] =
    "SELECT date(at, 'unixepoch') || ' ' || verdict, COUNT(*) FROM trace "
    "WHERE event = 'service' AND at >= ?1 GROUP BY 1 ORDER BY 1";

/* The quarantine list in the portal's sort orders: [recipient given][sort]. */
#define SW_COLS                                                                                    \
    "public_id, trace_id, sender, recipient, subject, msg_date, size, service, reason, status, "   \
    "created, updated"
#define SW_Q(where, order)                                                                         \
    "SELECT " SW_COLS " FROM quarantine WHERE " where                                              \
    " AND (?2 = '' OR status = ?2) AND (?3 = '' OR sender LIKE ?3 ESCAPE '\\' OR subject LIKE "    \
    "?3 ESCAPE '\\') ORDER BY " order " LIMIT ?4 OFFSET ?5"
#define SW_ORDERS(where)                                                                           \
    {                                                                                              \
        SW_Q(where, "created DESC, id DESC"), SW_Q(where, "created, id"),                          \
            SW_Q(where, "sender COLLATE NOCASE, created DESC, id DESC"),                           \
            SW_Q(where, "subject COLLATE NOCASE, created DESC, id DESC"),                          \
            SW_Q(where, "size DESC, created DESC, id DESC")                                        \
    }
static const char *const sql_qlist[2][5] = {SW_ORDERS("?1 IS NULL"), SW_ORDERS("recipient = ?1")};

static void sw_lower(char *dst, size_t size, const char *src)
{
    size_t i = 0;

    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static void sw_hash(sqlite3_stmt *q, const unsigned char hash[STORE_SESSION_HASH])
{
    sqlite3_bind_blob(q, 1, hash, STORE_SESSION_HASH, SQLITE_TRANSIENT);
}

int store_web_session_add(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          const struct store_web_session *s, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_sess_add, error_r);
    char low[257];

    if (q == NULL)
        return -1;
    sw_lower(low, sizeof(low), s->address);
    sw_hash(q, hash);
    st_text(q, 2, low);
    st_text(q, 3, s->csrf);
    sqlite3_bind_int64(q, 4, s->created);
    sqlite3_bind_int64(q, 5, s->last_seen);
    sqlite3_bind_int64(q, 6, s->expires);
    sqlite3_bind_int(q, 7, s->admin);
    return st_exec1(st, q, error_r, "session add");
}

int store_web_session_get(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          struct store_web_session *s, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_sess_get, error_r);
    int rc;

    if (q == NULL)
        return -1;
    sw_hash(q, hash);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st_copy(s->address, sizeof(s->address), q, 0);
        st_copy(s->csrf, sizeof(s->csrf), q, 1);
        s->created = sqlite3_column_int64(q, 2);
        s->last_seen = sqlite3_column_int64(q, 3);
        s->expires = sqlite3_column_int64(q, 4);
        s->admin = sqlite3_column_int(q, 5) != 0;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "session");
    return rc == SQLITE_ROW ? 0 : STORE_NOTFOUND;
}

int store_web_session_touch(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                            int64_t now, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_sess_touch, error_r);

    if (q == NULL)
        return -1;
    sw_hash(q, hash);
    sqlite3_bind_int64(q, 2, now);
    return st_exec1(st, q, error_r, "session touch");
}

int store_web_session_delete(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                             const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_sess_delete, error_r);

    if (q == NULL)
        return -1;
    sw_hash(q, hash);
    return st_exec1(st, q, error_r, "session delete");
}

int store_web_session_purge(struct store *st, int64_t now, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_sess_purge, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, now);
    return st_exec1(st, q, error_r, "session purge");
}

int store_web_prefs_get(struct store *st, const char *address, char *mode, size_t msize,
                        char *schedule, size_t ssize, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_prefs_get, error_r);
    char low[257];
    int rc;

    if (q == NULL)
        return -1;
    sw_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    snprintf(mode, msize, "default");
    snprintf(schedule, ssize, "%s", "");
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st_copy(mode, msize, q, 0);
        st_copy(schedule, ssize, q, 1);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "preferences");
    return 0;
}

int store_web_prefs_set(struct store *st, const char *address, const char *mode,
                        const char *schedule, const char **error_r)
{
    static const char *const modes[] = {"default", "immediate", "digest", "off"};
    sqlite3_stmt *q;
    char low[257];
    bool known = false;

    for (size_t i = 0; i < 4; i++)
        known = known || strcmp(mode, modes[i]) == 0;
    if (!known)
        return st_fail(st, error_r, "unknown notification mode");
    sw_lower(low, sizeof(low), address);
    if (st_begin(st, true, error_r) < 0)
        return -1;
    if ((q = st_prep(st, sql_user_ensure, error_r)) == NULL)
        goto fail;
    st_text(q, 1, low);
    sqlite3_bind_int64(q, 2, st_now());
    if (st_exec1(st, q, error_r, "user") < 0 || (q = st_prep(st, sql_prefs_set, error_r)) == NULL)
        goto fail;
    st_text(q, 1, low);
    st_text(q, 2, mode);
    st_text(q, 3, schedule);
    if (st_exec1(st, q, error_r, "preferences") < 0 || st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_web_quarantine_list(struct store *st, const struct store_qfilter *f,
                              enum store_web_sort sort,
                              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                              const char **error_r)
{
    sqlite3_stmt *q;

    if ((unsigned)sort > STORE_SORT_SIZE)
        sort = STORE_SORT_NEWEST;
    if ((q = st_prep(st, sql_qlist[f->recipient != NULL][sort], error_r)) == NULL)
        return -1;
    return st_q_list(st, q, f, fn, ctx, error_r);
}

int store_web_count(struct store *st, const char *what, unsigned days,
                    void (*fn)(const char *label, int64_t count, void *ctx), void *ctx,
                    const char **error_r)
{
    static const struct {
        const char *what, *sql;
    } counts[] = {{"status", sql_count_status},   {"held_service", sql_count_held},
                  {"release", sql_count_release}, {"verdict_day", sql_count_day},
                  {"outcome", sql_count_outcome}, {"service_verdict", sql_count_svc},
                  {"latency", sql_count_latency}};
    const char *sql = NULL;
    sqlite3_stmt *q;
    int rc;

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (strcmp(what, counts[i].what) == 0)
            sql = counts[i].sql;
    if (sql == NULL)
        return st_fail(st, error_r, "unknown count %s", what);
    if ((q = st_prep(st, sql, error_r)) == NULL)
        return -1;
    if (sql == sql_count_day)
        sqlite3_bind_int64(q, 1, (st_now() / 86400 - (int64_t)days + 1) * 86400);
    else
        sqlite3_bind_int64(q, 1, st_now() - (int64_t)days * 86400);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *label = sqlite3_column_text(q, 0);
        fn(label != NULL ? (const char *)label : "", sqlite3_column_int64(q, 1), ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "count");
}
