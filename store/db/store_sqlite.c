/*
 * store_sqlite.c - the embedded SQLite backend of the store: the connection,
 * its settings, the schema migrations and the SQL of every statement.
 *
 * WAL mode with synchronous=FULL, so that a committed transaction is on disk
 * when COMMIT returns (the quarantine's promise before opesd answers 2xx).
 * Every write runs in BEGIN IMMEDIATE, so writers queue on the busy timeout
 * instead of failing with SQLITE_BUSY on a lock upgrade. Each statement is
 * prepared once per connection, when first used, from the table below
 * indexed by enum st_stmt (store_int.h). The schema is migrated with PRAGMA
 * user_version from the embedded store/schema/NNNN.sql.
 *
 * Nothing outside this file includes sqlite3.h: the rest of the store goes
 * through the st_* calls, which reach these functions through
 * st_sqlite_backend; store_pg.c provides the same calls for PostgreSQL.
 */
#include "opes/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

/* the listing's WHERE clause after its first condition, its count, and its order */
#define Q_WHERE(where)                                                                             \
    " FROM quarantine q WHERE " where " AND (?2 = '' OR status = ?2) AND (?3 = '' OR sender "      \
    "LIKE ?3 ESCAPE '\\' OR from_name LIKE ?3 ESCAPE '\\' OR subject LIKE ?3 ESCAPE '\\') "        \
    "AND (?4 = 0 OR created >= ?4) AND (?5 = 0 OR created < ?5)"
#define Q_LIST(where, order)                                                                       \
    "SELECT " STORE_QITEM_COLUMNS Q_WHERE(where) " ORDER BY " order " LIMIT ?6 OFFSET ?7"
#define Q_COUNT(where) "SELECT COUNT(*)" Q_WHERE(where)
#define Q_NEWEST "created DESC, id DESC"
#define Q_OLDEST "created, id"
#define Q_SENDER "sender COLLATE NOCASE, created DESC, id DESC"
#define Q_SUBJECT "subject COLLATE NOCASE, created DESC, id DESC"
#define Q_SIZE "size DESC, created DESC, id DESC"
#define Q_REASON "service, reason, created DESC, id DESC"
#define Q_ALL "?1 IS NULL"
/* one address's own entries (the index on recipient serves it) */
#define Q_RCPT "recipient = ?1"
/* what ?1 sees: its own entries, those of the shared mailboxes it is a delegate of, and
 * those of the domains it administers */
#define Q_SEES                                                                                     \
    "(recipient = ?1 OR recipient IN (SELECT owner FROM delegate WHERE address = lower(?1)) OR "   \
    "EXISTS (SELECT 1 FROM user_domain d WHERE d.address = lower(?1) AND "                         \
    "substr(lower(recipient), length(recipient) - length(d.domain)) = '@' || d.domain))"
#define L_COLS "id, kind, owner, sender, created_by, origin, expires, created"
/* cumulative buckets of the time from end of data to the final reply, in ms */
#define LATENCY_LE(ms)                                                                             \
    "SELECT '" #ms "', COUNT(*) FROM trace WHERE event = 'reply' AND at >= ?1 "                    \
    "AND duration_ms <= " #ms " UNION ALL "
/* clang-format off */
#define LATENCY_BUCKETS                                                                            \
    LATENCY_LE(10) LATENCY_LE(50) LATENCY_LE(100) LATENCY_LE(250) LATENCY_LE(500)                  \
    LATENCY_LE(1000) LATENCY_LE(5000) LATENCY_LE(30000)
/* clang-format on */
/* then everything, and the sum */
#define LATENCY_REST                                                                               \
    "SELECT '+Inf', COUNT(*) FROM trace WHERE event = 'reply' AND at >= ?1 UNION ALL "             \
    "SELECT 'sum', COALESCE(SUM(duration_ms), 0) FROM trace WHERE event = 'reply' AND at >= ?1"

static const char *const stmt_sql[S_MAX] = {
    /* transactions and connection settings */
    [S_BEGIN_READ] = "BEGIN",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_SCHEMA_VERSION] = "PRAGMA user_version",
    [S_INTEGRITY_CHECK] = "PRAGMA integrity_check",

    /* content */
    [S_CONTENT_FIND] = "SELECT id FROM content WHERE hash = ? AND key_id = ?",
    [S_CONTENT_INSERT] = "INSERT INTO content (hash, key_id, size, header, created) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash, key_id) DO NOTHING",

    /* quarantine entries */
    [S_Q_LIST_ALL_NEWEST] = Q_LIST(Q_ALL, Q_NEWEST),
    [S_Q_LIST_ALL_OLDEST] = Q_LIST(Q_ALL, Q_OLDEST),
    [S_Q_LIST_ALL_SENDER] = Q_LIST(Q_ALL, Q_SENDER),
    [S_Q_LIST_ALL_SUBJECT] = Q_LIST(Q_ALL, Q_SUBJECT),
    [S_Q_LIST_ALL_SIZE] = Q_LIST(Q_ALL, Q_SIZE),
    [S_Q_LIST_RCPT_NEWEST] = Q_LIST(Q_RCPT, Q_NEWEST),
    [S_Q_LIST_RCPT_OLDEST] = Q_LIST(Q_RCPT, Q_OLDEST),
    [S_Q_LIST_RCPT_SENDER] = Q_LIST(Q_RCPT, Q_SENDER),
    [S_Q_LIST_RCPT_SUBJECT] = Q_LIST(Q_RCPT, Q_SUBJECT),
    [S_Q_LIST_RCPT_SIZE] = Q_LIST(Q_RCPT, Q_SIZE),
    [S_Q_LIST_ALL_REASON] = Q_LIST(Q_ALL, Q_REASON),
    [S_Q_LIST_RCPT_REASON] = Q_LIST(Q_RCPT, Q_REASON),
    [S_Q_LIST_SEES_NEWEST] = Q_LIST(Q_SEES, Q_NEWEST),
    [S_Q_LIST_SEES_OLDEST] = Q_LIST(Q_SEES, Q_OLDEST),
    [S_Q_LIST_SEES_SENDER] = Q_LIST(Q_SEES, Q_SENDER),
    [S_Q_LIST_SEES_SUBJECT] = Q_LIST(Q_SEES, Q_SUBJECT),
    [S_Q_LIST_SEES_SIZE] = Q_LIST(Q_SEES, Q_SIZE),
    [S_Q_LIST_SEES_REASON] = Q_LIST(Q_SEES, Q_REASON),
    [S_Q_COUNT_ALL] = Q_COUNT(Q_ALL),
    [S_Q_COUNT_RCPT] = Q_COUNT(Q_RCPT),
    [S_Q_COUNT_SEES] = Q_COUNT(Q_SEES),

    /* trace */

    /* white and block lists */
    [S_LIST_SHOW_OWNER] = "SELECT " L_COLS " FROM list WHERE owner = ? "
                          "AND (expires = 0 OR expires > ?) ORDER BY kind, sender",
    [S_LIST_SHOW_ALL] = "SELECT " L_COLS " FROM list WHERE ?1 IS NULL "
                        "AND (expires = 0 OR expires > ?2) ORDER BY owner, kind, sender",

    /* release requests */
    [S_REL_INSERT] = "INSERT INTO release_request (quarantine_id, requested_by, origin, whitelist,"
                     " next_attempt, created, updated, via) SELECT id, ?1, ?2, ?3, ?5, ?5, ?5, ?6 "
                     "FROM quarantine WHERE public_id = ?4 AND status = 'held'",
    [S_REL_NEXT] = "SELECT r.id, q.public_id, r.requested_by, r.origin, r.whitelist, r.attempts,"
                   " r.last_error, r.via FROM release_request r JOIN quarantine q "
                   "ON q.id = r.quarantine_id WHERE r.state = 'pending' AND r.next_attempt <= ? "
                   "ORDER BY r.next_attempt, r.id LIMIT 1",

    /* users, consent, preferences */
    [S_USER_UPSERT] = "INSERT INTO user (address, role, created) VALUES (?, ?, ?) "
                      "ON CONFLICT (address) DO UPDATE SET role = excluded.role",
    [S_USER_GET] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                   "FROM user WHERE address = ?",
    [S_USER_LIST] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                    "FROM user ORDER BY address",
    [S_USER_SET_PW] = "UPDATE user SET password_hash = ? WHERE address = ?",
    [S_USER_GET_PW] = "SELECT password_hash FROM user WHERE address = ?",
    [S_USER_ENSURE] = "INSERT OR IGNORE INTO user (address, created) VALUES (?, ?)",
    [S_USER_PREFS] = "SELECT notify_mode, digest_schedule FROM user WHERE address = ?",
    [S_USER_SET_NOTIFY] =
        "INSERT INTO user (address, notify_mode, digest_schedule, created) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (address) DO UPDATE SET notify_mode = excluded.notify_mode, "
        "digest_schedule = excluded.digest_schedule",
    [S_USER_SET_PREFS] =
        "UPDATE user SET notify_mode = ?2, digest_schedule = ?3 WHERE address = ?1",

    /* audit */

    /* retention */
    /* deleted and expired entries lose their content at once; released ones keep it */
    [S_PURGE_CONTENT] = "DELETE FROM content WHERE id NOT IN "
                        "(SELECT content_id FROM quarantine WHERE content_id IS NOT NULL)",

    /* notifications, digests, sender DSNs */
    /* created >= ?2 keeps the periodic look on the index of recent entries */
    [S_N_CAPTURE] = "INSERT INTO notification (quarantine_id, state, reason, headers, created) "
                    "SELECT id, ?2, ?3, CASE WHEN status = 'deleted' THEN NULL ELSE ?4 END, ?5 "
                    "FROM quarantine WHERE public_id = ?1 "
                    "ON CONFLICT (quarantine_id) DO NOTHING",
    [S_N_KNOWN] = "SELECT EXISTS (SELECT 1 FROM user WHERE address = ?1 COLLATE NOCASE) "
                  "OR EXISTS (SELECT 1 FROM quarantine WHERE recipient = ?1)",
    [S_N_HELD_SINCE] = "SELECT recipient, COUNT(*) FROM quarantine WHERE created >= ? "
                       "GROUP BY recipient ORDER BY recipient",
    [S_DIGEST_WAITING] = "SELECT DISTINCT q.recipient FROM notification n JOIN quarantine q "
                         "ON q.id = n.quarantine_id WHERE n.state = 'digest' "
                         "AND n.digest_id IS NULL",
    /* the last digest, or for a first digest the oldest entry waiting for it */
    [S_DIGEST_LAST] =
        "SELECT COALESCE((SELECT MAX(created) FROM digest WHERE recipient = ?1 AND copy_of IS "
        "NULL), "
        "(SELECT MIN(q.created) FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
        "WHERE n.state = 'digest' AND n.digest_id IS NULL AND q.recipient = ?1), 0)",
    [S_DIGEST_INSERT] = "INSERT INTO digest (recipient, created) VALUES (?, ?)",
    [S_DIGEST_ASSIGN] = "UPDATE notification SET digest_id = ?1 WHERE state = 'digest' AND "
                        "digest_id IS NULL AND quarantine_id IN "
                        "(SELECT id FROM quarantine WHERE recipient = ?2 AND status = 'held')",
    /* expired ones from the (status, updated) index: the purge sets updated when it expires them */
    [S_DSN_DUE] =
        "SELECT " STORE_QITEM_COLUMNS ", 'expired', '' FROM quarantine q JOIN notification n "
        "ON n.quarantine_id = q.id WHERE q.status = 'expired' AND q.updated >= ?2 AND n.dsn = '' "
        "UNION ALL SELECT " STORE_QITEM_COLUMNS ", 'release-failed', r.last_error FROM "
        "quarantine q JOIN notification n ON n.quarantine_id = q.id JOIN release_request r "
        "ON r.quarantine_id = q.id WHERE q.status = 'held' AND r.state = 'failed' AND n.dsn = '' "
        "AND r.id = (SELECT MAX(id) FROM release_request WHERE quarantine_id = q.id) LIMIT ?1",

    /* login requests and rate limits */
    [S_LOGIN_ADD] = "INSERT INTO login_request (address, created, updated) VALUES (?1, ?2, ?2)",
    /* one statement, so two programs counting at once never lose a hit */
    [S_RATE_HIT] = "INSERT INTO rate_limit (key, window_start, count) VALUES (?1, ?2, 1) "
                   "ON CONFLICT (key) DO UPDATE SET "
                   "count = CASE WHEN window_start <= ?2 - ?3 THEN 1 ELSE count + 1 END, "
                   "window_start = CASE WHEN window_start <= ?2 - ?3 THEN ?2 ELSE window_start "
                   "END RETURNING count",

    /* single-use tokens */

    /* portal sessions and counts */
    [S_COUNT_STATUS] = "SELECT status, COUNT(*) FROM quarantine GROUP BY status ORDER BY status",
    [S_COUNT_HELD] = "SELECT service, COUNT(*) FROM quarantine "
                     "WHERE status = 'held' GROUP BY service ORDER BY service",
    [S_COUNT_RELEASE] = "SELECT state, COUNT(*) FROM release_request GROUP BY state ORDER BY state",
    [S_COUNT_OUTCOME] = "SELECT verdict, COUNT(*) FROM trace WHERE event = 'decision' "
                        "AND at >= ?1 GROUP BY verdict ORDER BY verdict",
    [S_COUNT_SVC] = "SELECT service || ' ' || verdict, COUNT(*) FROM trace "
                    "WHERE event = 'service' AND at >= ?1 GROUP BY 1 ORDER BY 1",
    [S_COUNT_LATENCY] = LATENCY_BUCKETS LATENCY_REST,
    [S_COUNT_DAY] = "SELECT date(at, 'unixepoch') || ' ' || verdict, COUNT(*) FROM trace "
                    "WHERE event = 'service' AND at >= ?1 GROUP BY 1 ORDER BY 1",

    /* BEGIN IMMEDIATE already serialises writers: this only checks the entry exists */
    [S_Q_LOCK] = "SELECT 1 FROM quarantine WHERE public_id = ?",
    /* learning: due requests of entries no longer held (the release goes first);
     * a report is learned where it is received */
    [S_LEARN_NEXT] = "SELECT l.id, l.message, l.class, l.service, l.trace_id, l.requested_by, "
                     "l.origin, l.attempts, l.last_error FROM learned l JOIN quarantine q "
                     "ON q.public_id = l.message WHERE l.state = 'pending' AND "
                     "l.next_attempt <= ?1 AND q.status <> 'held' "
                     "ORDER BY l.next_attempt, l.id LIMIT 1",
};

/* a statement: the store's handle and SQLite's */
struct sq_q {
    struct st_q base;
    sqlite3_stmt *h;
};

/* the connection and its statements, prepared when first used */
struct sq_db {
    struct st_db base;
    sqlite3 *h;
    struct sq_q stmt[S_MAX];
    char prep_err[256]; /* why the last st_q returned NULL */
};

static inline struct sq_db *sq_db(struct store *st)
{
    return (struct sq_db *)(void *)st->db;
}

/* sq - the SQLite statement behind the store's one. */
static inline sqlite3_stmt *sq(struct st_q *q)
{
    return ((struct sq_q *)(void *)q)->h;
}

static const char *sq_errmsg(struct store *st)
{
    return sqlite3_errmsg(sq_db(st)->h);
}

static struct st_q *sq_stmt(struct store *st, enum st_stmt s)
{
    struct sq_db *db = sq_db(st);
    struct sq_q *q = &db->stmt[s];

    if (q->h == NULL) {
        const char *sql = stmt_sql[s] != NULL ? stmt_sql[s] : st_sql_common[s];
        if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->h, NULL) !=
            SQLITE_OK) {
            snprintf(db->prep_err, sizeof(db->prep_err), "prepare: %s", sqlite3_errmsg(db->h));
            return NULL;
        }
    } else {
        sqlite3_reset(q->h);
        sqlite3_clear_bindings(q->h);
    }
    return &q->base;
}

static void sq_text(struct st_q *q, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(sq(q), i);
    else
        sqlite3_bind_text(sq(q), i, s, -1, SQLITE_TRANSIENT);
}

static void sq_int(struct st_q *q, int i, int64_t v)
{
    sqlite3_bind_int64(sq(q), i, v);
}

static void sq_blob(struct st_q *q, int i, const void *p, size_t len)
{
    sqlite3_bind_blob(sq(q), i, p, (int)len, SQLITE_STATIC);
}

static int sq_step(struct store *st, struct st_q *q, const char **error_r, const char *what)
{
    int rc;

    if (q == NULL)
        return st_fail(st, error_r, "%s: %s", what, sq_db(st)->prep_err);
    rc = sqlite3_step(sq(q));
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(sq(q));
        return 0;
    }
    st_dbfail(st, error_r, what);
    sqlite3_reset(sq(q));
    return -1;
}

static void sq_reset(struct st_q *q)
{
    sqlite3_reset(sq(q));
}

static void sq_rollback(struct store *st)
{
    struct st_q *q = sq_stmt(st, S_ROLLBACK);

    if (q != NULL) {
        sqlite3_step(sq(q));
        sqlite3_reset(sq(q));
    }
}

static int64_t sq_col_int(struct st_q *q, int col)
{
    return sqlite3_column_int64(sq(q), col);
}

static const char *sq_col_text(struct st_q *q, int col)
{
    return (const char *)sqlite3_column_text(sq(q), col);
}

static const void *sq_col_blob(struct st_q *q, int col, size_t *len_r)
{
    const void *p;

    *len_r = 0;
    if (sqlite3_column_type(sq(q), col) != SQLITE_BLOB)
        return NULL;
    p = sqlite3_column_blob(sq(q), col);
    *len_r = (size_t)sqlite3_column_bytes(sq(q), col);
    return p != NULL ? p : ""; /* an empty blob is still a blob */
}

static int64_t sq_changes(struct store *st)
{
    return sqlite3_changes(sq_db(st)->h);
}

static int64_t sq_last_id(struct store *st)
{
    return sqlite3_last_insert_rowid(sq_db(st)->h);
}

/* st_script - run a script of statements (schema steps, settings); 0, or -1 with
 * *error_r "what: why" (just "why" when what is NULL). */
static int st_script(struct store *st, const char *sql, const char **error_r, const char *what)
{
    char *msg = NULL;

    if (sqlite3_exec(sq_db(st)->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    st_fail(st, error_r, "%s%s%s", what != NULL ? what : "", what != NULL ? ": " : "",
            msg != NULL ? msg : sq_errmsg(st));
    sqlite3_free(msg);
    return -1;
}

static int sq_schema_version(struct store *st)
{
    struct st_q *q = st_q(st, S_SCHEMA_VERSION);
    const char *error;
    int v = -1;

    if (st_step(st, q, &error, "schema version") > 0) {
        v = (int)st_col_int(q, 0);
        st_reset(q);
    }
    return v;
}

/*
 * st_migrate - bring the schema to the newest version, one transaction per
 * step. The version is read inside the write transaction, so that two
 * programs starting at once (opesd and opesctl) never apply a step twice.
 */
static int st_migrate(struct store *st, const char **error_r)
{
    for (;;) {
        char pragma[64];
        int version;

        if (st_script(st, "BEGIN IMMEDIATE", error_r, "migration") < 0)
            return -1;
        version = sq_schema_version(st);
        if (version < 0 || version > (int)store_migration_count) {
            st_rollback(st);
            return st_fail(st, error_r,
                           "database schema version %d is not one this program knows "
                           "(newest %zu)",
                           version, store_migration_count);
        }
        if (version == (int)store_migration_count)
            return st_script(st, "COMMIT", error_r, "commit");
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        if (st_script(st, store_migrations[version], error_r, "migration") < 0 ||
            st_script(st, pragma, error_r, "migration") < 0 ||
            st_script(st, "COMMIT", error_r, "migration") < 0) {
            st_rollback(st);
            return -1;
        }
    }
}

/*
 * st_global_config - once per process, before SQLite is used: no memory
 * statistics (they take one global mutex on every allocation, which all the
 * session threads would queue on).
 */
static void st_global_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(struct store *st, const char *path, const char **error_r)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct sq_db *db;
    mode_t old;
    int rc;

    pthread_once(&once, st_global_config);
    if ((db = calloc(1, sizeof(*db))) == NULL)
        return st_fail(st, error_r, "out of memory");
    db->base.be = &st_sqlite_backend;
    for (int i = 0; i < S_MAX; i++)
        db->stmt[i].base.be = &st_sqlite_backend;
    st->db = &db->base;
    old = umask(077); /* the database and its WAL are private */
    rc = sqlite3_open_v2(path, &db->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    umask(old);
    if (rc != SQLITE_OK)
        return st_fail(st, error_r, "%s", db->h != NULL ? sqlite3_errmsg(db->h) : "cannot open");
    sqlite3_busy_timeout(db->h, 60000);
    /* switching a new file to WAL does not wait on the busy handler: retry it */
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(db->h, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc != SQLITE_BUSY || tries == 6000)
            break;
        sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK)
        return st_fail(st, error_r, "%s", sqlite3_errmsg(db->h));
    if (st_script(st,
                  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                  "PRAGMA secure_delete = ON; PRAGMA cache_size = -512;",
                  error_r, NULL) < 0)
        return -1;
    return st_migrate(st, error_r);
}

static void sq_close(struct store *st)
{
    struct sq_db *db = sq_db(st);

    st->db = NULL;
    for (int i = 0; i < S_MAX; i++)
        sqlite3_finalize(db->stmt[i].h);
    sqlite3_close(db->h);
    free(db);
}

/* sq_prepare - an ad hoc statement (store_copy.c), freed by sq_finalize. */
static struct st_q *sq_prepare(struct store *st, const char *sql)
{
    struct sq_db *db = sq_db(st);
    struct sq_q *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        snprintf(db->prep_err, sizeof(db->prep_err), "prepare: out of memory");
        return NULL;
    }
    q->base.be = &st_sqlite_backend;
    if (sqlite3_prepare_v2(db->h, sql, -1, &q->h, NULL) != SQLITE_OK) {
        snprintf(db->prep_err, sizeof(db->prep_err), "prepare: %s", sqlite3_errmsg(db->h));
        free(q);
        return NULL;
    }
    return &q->base;
}

static void sq_finalize(struct st_q *q)
{
    if (q != NULL) {
        sqlite3_finalize(sq(q));
        free(q);
    }
}

static int sq_col_count(struct st_q *q)
{
    return sqlite3_column_count(sq(q));
}

static const char *sq_col_name(struct st_q *q, int col)
{
    return sqlite3_column_name(sq(q), col);
}

static int sq_col_type(struct st_q *q, int col)
{
    switch (sqlite3_column_type(sq(q), col)) {
    case SQLITE_NULL:
        return ST_NULL;
    case SQLITE_INTEGER:
        return ST_INT;
    case SQLITE_BLOB:
        return ST_BLOB;
    default:
        return ST_TEXT; /* text, and a float as its text */
    }
}

const struct st_backend st_sqlite_backend = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .q = sq_stmt,
    .text = sq_text,
    .int64 = sq_int,
    .blob = sq_blob,
    .step = sq_step,
    .reset = sq_reset,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .changes = sq_changes,
    .last_id = sq_last_id,
    .rollback = sq_rollback,
    .errmsg = sq_errmsg,
    .schema_version = sq_schema_version,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .col_count = sq_col_count,
    .col_name = sq_col_name,
    .col_type = sq_col_type,
};
