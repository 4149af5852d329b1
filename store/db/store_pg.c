/*
 * store_pg.c - the PostgreSQL backend of the store, for several opesd nodes
 * sharing one database: the connection (libpq), the schema migrations and the
 * SQL of every statement, in a table indexed by enum st_stmt like
 * store_sqlite.c's. Each statement is prepared on the connection when first
 * used (PQprepare) and run with PQexecPrepared: numbers go as text, blobs as
 * binary bytea parameters, and every result comes back in binary, so that
 * blobs need no unescaping.
 *
 * Transactions. SQLite serialises writers with BEGIN IMMEDIATE; here writes
 * run in READ COMMITTED and each read-then-write is made safe where it is:
 *   - single statements that decide and write at once: token use, rate
 *     limits, list and user upserts, job leases (INSERT ... ON CONFLICT);
 *   - content de-duplication: INSERT ... ON CONFLICT DO NOTHING RETURNING id,
 *     and when another node stored the same content first, its row is found
 *     again (FOR KEY SHARE keeps the purge from deleting it under us);
 *   - claims: the next release request is taken with FOR UPDATE SKIP LOCKED
 *     and leased (next_attempt moves on), so a second node skips it, and a
 *     node that died leaves a lease that expires;
 *   - one entry's writers queue on its row (S_Q_LOCK, FOR UPDATE), and a
 *     partial unique index keeps one pending release request per entry;
 *   - a digest's items are assigned by one UPDATE whose condition (no digest
 *     yet) is checked again after a concurrent assignment commits.
 * SERIALIZABLE would need every caller to retry whole transactions; these
 * locks keep the callers as they are and never make a reader wait.
 * A read transaction is REPEATABLE READ: one snapshot, as in SQLite.
 *
 * A connection the server dropped (a restart, a fail-over) is reset before
 * the next statement that starts something new: a BEGIN, or a statement
 * outside a transaction. Inside a transaction it is never reset, so the rest
 * of a broken transaction fails instead of running on its own.
 *
 * The schema version is the one row of store_schema; migrations run under a
 * transaction-level advisory lock, so nodes starting at once apply each step
 * once, and a node refuses a database newer than the steps it knows.
 * Content stays encrypted with the key file: nothing of it reaches the
 * database. A conninfo that names a password is refused (passfile or
 * PGPASSFILE keep it out of the configuration).
 */
#include "opes/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* the listing's WHERE clause after its first condition, and its order (SQLite's
 * LIKE and NOCASE ignore ASCII case: ILIKE and lower() here) */
#define Q_WHERE(where)                                                                             \
    " FROM quarantine q WHERE " where " AND ($2 = '' OR status = $2) AND ($3 = '' OR sender "      \
    "ILIKE $3 ESCAPE '\\' OR from_name ILIKE $3 ESCAPE '\\' OR subject ILIKE $3 ESCAPE '\\') "     \
    "AND ($4::bigint = 0 OR created >= $4) AND ($5::bigint = 0 OR created < $5)"
#define Q_LIST(where, order)                                                                       \
    "SELECT " STORE_QITEM_COLUMNS Q_WHERE(where) " ORDER BY " order " LIMIT $6 OFFSET $7"
#define Q_COUNT(where) "SELECT COUNT(*)" Q_WHERE(where)
#define Q_NEWEST "created DESC, id DESC"
#define Q_OLDEST "created, id"
#define Q_SENDER "lower(sender) COLLATE \"C\", created DESC, id DESC"
#define Q_SUBJECT "lower(subject) COLLATE \"C\", created DESC, id DESC"
#define Q_SIZE "size DESC, created DESC, id DESC"
#define Q_REASON "service, reason, created DESC, id DESC"
#define Q_ALL "$1::text IS NULL"
/* one address's own entries (the index on lower(recipient) serves it) */
#define Q_RCPT "lower(recipient) = lower($1)"
/* what $1 sees (store_sqlite.c) */
#define Q_SEES                                                                                     \
    "(lower(recipient) = lower($1) OR lower(recipient) IN (SELECT owner FROM delegate WHERE "      \
    "address = lower($1)) OR EXISTS (SELECT 1 FROM user_domain d WHERE d.address = lower($1) AND " \
    "substr(lower(recipient), length(recipient) - length(d.domain)) = '@' || d.domain))"
/* a trace record's UTC day and verdict, "2026-01-31 clean" */
#define PG_DAY "to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' ' || verdict"
#define L_COLS "id, kind, owner, sender, created_by, origin, expires, created"
/* cumulative buckets of the time from end of data to the final reply, in ms */
#define LATENCY_LE(ms)                                                                             \
    "SELECT '" #ms "'::text, COUNT(*) FROM trace WHERE event = 'reply' AND at >= $1 "              \
    "AND duration_ms <= " #ms " UNION ALL "
/* clang-format off */
#define LATENCY_BUCKETS                                                                            \
    LATENCY_LE(10) LATENCY_LE(50) LATENCY_LE(100) LATENCY_LE(250) LATENCY_LE(500)                  \
    LATENCY_LE(1000) LATENCY_LE(5000) LATENCY_LE(30000)
/* clang-format on */
/* then everything, and the sum */
#define LATENCY_REST                                                                               \
    "SELECT '+Inf', COUNT(*) FROM trace WHERE event = 'reply' AND at >= $1 UNION ALL "             \
    "SELECT 'sum', COALESCE(SUM(duration_ms), 0)::bigint FROM trace WHERE event = 'reply' "        \
    "AND at >= $1"

static const char *const pg_sql[S_MAX] = {
    /* transactions and connection settings */
    /* a read sees one snapshot, as in SQLite; writes run in READ COMMITTED and
     * rely on row locks and single-statement upserts (the top of this file) */
    [S_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [S_BEGIN_WRITE] = "BEGIN",
    /* trace batches may lose their last commits in a server crash, never their order */
    [S_SYNC_NORMAL] = "SET synchronous_commit = off",
    [S_SYNC_FULL] = "SET synchronous_commit = on",
    [S_SCHEMA_VERSION] = "SELECT version FROM store_schema",
    /* the server checks its own pages; this checks what the store promises */
    [S_INTEGRITY_CHECK] =
        "SELECT CASE WHEN COUNT(*) = 0 THEN 'ok' ELSE COUNT(*) || ' content rows without chunks' "
        "END FROM content c WHERE NOT EXISTS (SELECT 1 FROM content_chunk k "
        "WHERE k.content_id = c.id)",

    /* content */
    /* the shared row is locked against the purge until the entry that uses it commits */
    [S_CONTENT_FIND] = "SELECT id FROM content WHERE hash = $1 AND key_id = $2 FOR KEY SHARE",
    /* another node storing the same content at once: nothing inserted, find it again */
    [S_CONTENT_INSERT] = "INSERT INTO content (hash, key_id, size, header, created) "
                         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash, key_id) DO NOTHING "
                         "RETURNING id",

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
    [S_LIST_SHOW_OWNER] =
        "SELECT " L_COLS " FROM list WHERE owner = $1 "
        "AND (expires = 0 OR expires > $2) ORDER BY kind COLLATE \"C\", sender COLLATE \"C\"",
    [S_LIST_SHOW_ALL] = "SELECT " L_COLS " FROM list WHERE $1::text IS NULL "
                        "AND (expires = 0 OR expires > $2) ORDER BY owner COLLATE \"C\", kind "
                        "COLLATE \"C\", sender COLLATE \"C\"",

    /* release requests */
    [S_REL_INSERT] = "INSERT INTO release_request (quarantine_id, requested_by, origin, whitelist,"
                     " next_attempt, created, updated, via) SELECT id, $1::text, $2::text, "
                     "$3::text, $5::bigint, $5::bigint, $5::bigint, $6::text "
                     "FROM quarantine WHERE public_id = $4 AND status = 'held'",
    [S_REL_NEXT] = "SELECT r.id, q.public_id, r.requested_by, r.origin, r.whitelist, r.attempts,"
                   " r.last_error, r.via FROM release_request r JOIN quarantine q "
                   "ON q.id = r.quarantine_id WHERE r.state = 'pending' AND r.next_attempt <= $1 "
                   "ORDER BY r.next_attempt, r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED",

    /* users, consent, preferences */
    [S_USER_UPSERT] = "INSERT INTO \"user\" (address, role, created) VALUES ($1, $2, $3) "
                      "ON CONFLICT (address) DO UPDATE SET role = excluded.role",
    [S_USER_GET] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                   "FROM \"user\" WHERE address = $1",
    [S_USER_LIST] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                    "FROM \"user\" ORDER BY address COLLATE \"C\"",
    [S_USER_SET_PW] = "UPDATE \"user\" SET password_hash = $1 WHERE address = $2",
    [S_USER_GET_PW] = "SELECT password_hash FROM \"user\" WHERE address = $1",
    [S_USER_ENSURE] = "INSERT INTO \"user\" (address, created) VALUES ($1, $2) "
                      "ON CONFLICT DO NOTHING",
    [S_USER_PREFS] = "SELECT notify_mode, digest_schedule FROM \"user\" WHERE address = $1",
    [S_USER_SET_NOTIFY] = "INSERT INTO \"user\" (address, notify_mode, digest_schedule, created) "
                          "VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (address) DO UPDATE SET notify_mode = excluded.notify_mode, "
                          "digest_schedule = excluded.digest_schedule",
    [S_USER_SET_PREFS] =
        "UPDATE \"user\" SET notify_mode = $2, digest_schedule = $3 WHERE address = $1",

    /* audit */

    /* retention */
    /* deleted and expired entries lose their content at once; released ones keep it */
    /* content another node is sharing right now (FOR KEY SHARE) waits for the next purge */
    [S_PURGE_CONTENT] = "DELETE FROM content WHERE id IN (SELECT c.id FROM content c WHERE "
                        "NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.content_id = c.id) "
                        "FOR UPDATE SKIP LOCKED)",

    /* notifications, digests, sender DSNs */
    /* created >= $2 keeps the periodic look on the index of recent entries */
    [S_N_CAPTURE] = "INSERT INTO notification (quarantine_id, state, reason, headers, created) "
                    "SELECT id, $2::text, $3::text, "
                    "CASE WHEN status = 'deleted' THEN NULL ELSE $4::bytea END, $5::bigint "
                    "FROM quarantine WHERE public_id = $1 "
                    "ON CONFLICT (quarantine_id) DO NOTHING",
    [S_N_KNOWN] = "SELECT EXISTS (SELECT 1 FROM \"user\" WHERE lower(address) = lower($1)) "
                  "OR EXISTS (SELECT 1 FROM quarantine WHERE lower(recipient) = lower($1))",
    [S_N_HELD_SINCE] = "SELECT MIN(recipient), COUNT(*) FROM quarantine WHERE created >= $1 "
                       "GROUP BY lower(recipient) ORDER BY lower(recipient) COLLATE \"C\"",
    [S_DIGEST_WAITING] = "SELECT MIN(q.recipient) FROM notification n JOIN quarantine q "
                         "ON q.id = n.quarantine_id WHERE n.state = 'digest' "
                         "AND n.digest_id IS NULL GROUP BY lower(q.recipient)",
    /* the last digest, or for a first digest the oldest entry waiting for it */
    [S_DIGEST_LAST] =
        "SELECT COALESCE((SELECT MAX(created) FROM digest WHERE lower(recipient) = lower($1) "
        "AND copy_of IS NULL), "
        "(SELECT MIN(q.created) FROM notification n JOIN quarantine q ON q.id = n.quarantine_id "
        "WHERE n.state = 'digest' AND n.digest_id IS NULL AND lower(q.recipient) = lower($1)), 0)",
    [S_DIGEST_INSERT] = "INSERT INTO digest (recipient, created) VALUES ($1, $2) RETURNING id",
    [S_DIGEST_ASSIGN] =
        "UPDATE notification SET digest_id = $1 WHERE state = 'digest' AND "
        "digest_id IS NULL AND quarantine_id IN "
        "(SELECT id FROM quarantine WHERE lower(recipient) = lower($2) AND status = 'held')",
    /* expired ones from the (status, updated) index: the purge sets updated when it expires them */
    [S_DSN_DUE] =
        "SELECT " STORE_QITEM_COLUMNS
        ", 'expired'::text, ''::text FROM quarantine q JOIN notification n "
        "ON n.quarantine_id = q.id WHERE q.status = 'expired' AND q.updated >= $2 AND n.dsn = '' "
        "UNION ALL SELECT " STORE_QITEM_COLUMNS ", 'release-failed'::text, r.last_error FROM "
        "quarantine q JOIN notification n ON n.quarantine_id = q.id JOIN release_request r "
        "ON r.quarantine_id = q.id WHERE q.status = 'held' AND r.state = 'failed' AND n.dsn = '' "
        "AND r.id = (SELECT MAX(id) FROM release_request WHERE quarantine_id = q.id) LIMIT $1",

    /* login requests and rate limits */
    [S_LOGIN_ADD] = "INSERT INTO login_request (address, created, updated) VALUES ($1, $2, $2) "
                    "RETURNING id",
    /* one statement, so two programs counting at once never lose a hit */
    [S_RATE_HIT] = "INSERT INTO rate_limit (key, window_start, count) VALUES ($1, $2, 1) "
                   "ON CONFLICT (key) DO UPDATE SET "
                   "count = CASE WHEN rate_limit.window_start <= $2 - $3 THEN 1 "
                   "ELSE rate_limit.count + 1 END, window_start = CASE WHEN "
                   "rate_limit.window_start <= $2 - $3 THEN $2 ELSE rate_limit.window_start "
                   "END RETURNING count",

    /* single-use tokens */

    /* portal sessions and counts */
    [S_COUNT_STATUS] =
        "SELECT status, COUNT(*) FROM quarantine GROUP BY status ORDER BY status COLLATE \"C\"",
    [S_COUNT_HELD] = "SELECT service, COUNT(*) FROM quarantine "
                     "WHERE status = 'held' GROUP BY service ORDER BY service COLLATE \"C\"",
    [S_COUNT_RELEASE] =
        "SELECT state, COUNT(*) FROM release_request GROUP BY state ORDER BY state COLLATE \"C\"",
    [S_COUNT_OUTCOME] = "SELECT verdict, COUNT(*) FROM trace WHERE event = 'decision' "
                        "AND at >= $1 GROUP BY verdict ORDER BY verdict COLLATE \"C\"",
    [S_COUNT_SVC] = "SELECT service || ' ' || verdict, COUNT(*) FROM trace "
                    "WHERE event = 'service' AND at >= $1 GROUP BY service || ' ' || verdict "
                    "ORDER BY (service || ' ' || verdict) COLLATE \"C\"",
    [S_COUNT_LATENCY] = LATENCY_BUCKETS LATENCY_REST,
    [S_COUNT_DAY] = "SELECT " PG_DAY ", COUNT(*) FROM trace WHERE event = 'service' "
                    "AND at >= $1 GROUP BY " PG_DAY " ORDER BY (" PG_DAY ") COLLATE \"C\"",

    /* writers of one entry queue here (a release asked on two nodes at once) */
    [S_Q_LOCK] = "SELECT 1 FROM quarantine WHERE public_id = $1 FOR UPDATE",
    /* learning: due requests of entries no longer held (the release goes first);
     * a report is learned where it is received */
    [S_LEARN_NEXT] = "SELECT l.id, l.message, l.class, l.service, l.trace_id, l.requested_by, "
                     "l.origin, l.attempts, l.last_error FROM learned l JOIN quarantine q "
                     "ON q.public_id = l.message WHERE l.state = 'pending' AND "
                     "l.next_attempt <= $1 AND q.status <> 'held' "
                     "ORDER BY l.next_attempt, l.id LIMIT 1 FOR UPDATE OF l SKIP LOCKED",
};

#define PG_MAX_PARAMS 32 /* the widest table, copied row by row */
#define PG_MAX_QUEUED 16 /* statements sent ahead of their results */

/* a statement: its parameters until it runs, then its result and the current row */
struct pg_q {
    struct st_q base;
    enum st_stmt s;
    bool prepared;
    int nparams;                    /* the highest $n in its SQL */
    const char *val[PG_MAX_PARAMS]; /* NULL: SQL NULL */
    int len[PG_MAX_PARAMS];         /* for binary values */
    int fmt[PG_MAX_PARAMS];         /* 0 text, 1 binary */
    char *copy[PG_MAX_PARAMS];      /* text values are copied */
    char num[PG_MAX_PARAMS][24];    /* numbers as text */
    PGresult *res;                  /* NULL until stepped */
    int row;                        /* the next row to return */
    char text[32];                  /* a number column asked for as text */
};

struct pg_db {
    struct st_db base;
    PGconn *conn;
    struct pg_q stmt[S_MAX];
    int64_t changes, last_id;
    bool in_tx; /* between a BEGIN and its COMMIT or ROLLBACK */
    int adhoc;  /* ad hoc statements prepared so far (named past S_MAX) */
    int queued; /* statements sent in pipeline mode whose results are not read yet */
    const char *queued_what[PG_MAX_QUEUED]; /* what each of them does, for its error */
    char err[256];
};

/* type oids of the results read here (server/catalog/pg_type.dat) */
enum { PG_BOOL = 16, PG_BYTEA = 17, PG_INT8 = 20, PG_INT2 = 21, PG_INT4 = 23 };

static inline struct pg_db *pg_db(struct store *st)
{
    return (struct pg_db *)(void *)st->db;
}

static inline struct pg_q *pq(struct st_q *q)
{
    return (struct pg_q *)(void *)q;
}

/* pg_msg - libpq's last message on one line. */
static const char *pg_msg(struct pg_db *db, const PGresult *res)
{
    const char *m = res != NULL ? PQresultErrorMessage(res) : "";
    size_t n;

    if (m == NULL || *m == '\0')
        m = PQerrorMessage(db->conn);
    snprintf(db->err, sizeof(db->err), "%s", m != NULL && *m != '\0' ? m : "unknown error");
    n = strlen(db->err);
    while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
        db->err[--n] = '\0';
    for (char *p = db->err; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    return db->err;
}

static const char *pg_errmsg(struct store *st)
{
    return pg_db(st)->err;
}

/* pg_unbind - forget q's result and parameters. */
static void pg_unbind(struct pg_q *q)
{
    PQclear(q->res);
    q->res = NULL;
    q->row = 0;
    for (int i = 0; i < PG_MAX_PARAMS; i++) {
        free(q->copy[i]);
        q->copy[i] = NULL;
        q->val[i] = NULL;
        q->len[i] = 0;
        q->fmt[i] = 0;
    }
}

/* pg_nparams - the highest $n in sql. */
static int pg_nparams(const char *sql)
{
    int n = 0;

    for (const char *p = sql; (p = strchr(p, '$')) != NULL; p++) {
        int v = atoi(p + 1);
        if (v > n)
            n = v;
    }
    return n;
}

/* pg_reconnect - reset a connection the server dropped; its prepared statements
 * went with it. 0, or -1 with the message in db->err. */
static int pg_reconnect(struct pg_db *db)
{
    PGresult *res;

    if (PQstatus(db->conn) != CONNECTION_BAD)
        return 0;
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char why[200];
        snprintf(why, sizeof(why), "%s", pg_msg(db, NULL));
        snprintf(db->err, sizeof(db->err), "reconnect: %s", why);
        return -1;
    }
    for (int i = 0; i < S_MAX; i++)
        db->stmt[i].prepared = false;
    db->in_tx = false;
    db->queued = 0;
    res = PQexec(db->conn, "SET client_min_messages = warning");
    PQclear(res);
    return 0;
}

/* pg_server_prepare - prepare sql on the server as statement "s<n>" for q
 * (its parameter count checked); 0, or -1 with db->err. */
static int pg_server_prepare(struct pg_db *db, struct pg_q *q, int n, const char *sql)
{
    char name[16];
    PGresult *res;

    q->nparams = pg_nparams(sql);
    if (q->nparams > PG_MAX_PARAMS) {
        snprintf(db->err, sizeof(db->err), "prepare: too many parameters");
        return -1;
    }
    snprintf(name, sizeof(name), "s%d", n);
    res = PQprepare(db->conn, name, sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char why[200];
        snprintf(why, sizeof(why), "%s", pg_msg(db, res));
        snprintf(db->err, sizeof(db->err), "prepare: %s", why);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    q->prepared = true;
    return 0;
}

/*
 * Statements sent ahead. A write transaction's BEGIN and the inserts of a held
 * message (its chunks and entries) return nothing any caller reads, so they are
 * sent in pipeline mode without waiting; their results are read with the next
 * statement that returns something, at the latest the COMMIT. Holding a message
 * then takes two round trips (the BEGIN with the content row's insert; the
 * chunks, the entries and the COMMIT) instead of six, and a 250 still comes after
 * the COMMIT's own result: an error in any statement sent ahead aborts the rest
 * of the pipeline, the COMMIT included, and is reported by the statement that read it.
 */
static bool pg_deferrable(enum st_stmt s)
{
    return s == S_BEGIN_WRITE || s == S_CHUNK_INSERT || s == S_Q_INSERT;
}

/* pg_send - q sent in pipeline mode, its result to be read by pg_drain; 0 or -1 (db->err). */
static int pg_send(struct pg_db *db, struct pg_q *q)
{
    char name[16];

    snprintf(name, sizeof(name), "s%d", (int)q->s);
    if ((PQpipelineStatus(db->conn) == PQ_PIPELINE_OFF && PQenterPipelineMode(db->conn) != 1) ||
        PQsendQueryPrepared(db->conn, name, q->nparams, q->val, q->len, q->fmt, 1) != 1) {
        pg_msg(db, NULL);
        return -1;
    }
    return 0;
}

/* pg_result - the next statement's result in pipeline mode (the NULL that ends it read);
 * NULL when the connection broke. */
static PGresult *pg_result(struct pg_db *db)
{
    PGresult *res = PQgetResult(db->conn), *more;

    while (res != NULL && (more = PQgetResult(db->conn)) != NULL) {
        PQclear(res);
        res = more;
    }
    return res;
}

/*
 * pg_drain - end the pipeline: send q last when given (its result left in
 * q->res), then read every result up to the sync point and leave pipeline
 * mode. 0, or -1 with db->err naming the first statement sent ahead that failed.
 */
static int pg_drain(struct pg_db *db, struct pg_q *q)
{
    int n = db->queued, rc = 0, sent = 0;
    PGresult *res;

    if (q != NULL) {
        sent = pg_send(db, q) == 0;
        rc = sent ? 0 : -1;
    }
    if (PQpipelineSync(db->conn) != 1 && rc == 0)
        rc = (pg_msg(db, NULL), -1);
    for (int i = 0; i < n + sent; i++) {
        ExecStatusType status;

        res = pg_result(db);
        if (i == n) {
            q->res = res;
            break;
        }
        status = PQresultStatus(res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && rc == 0) {
            char why[200];
            snprintf(why, sizeof(why), "%s", pg_msg(db, res));
            snprintf(db->err, sizeof(db->err), "%s: %s", db->queued_what[i], why);
            rc = -1;
        }
        PQclear(res);
        if (res == NULL)
            break; /* the connection broke: nothing more comes */
    }
    while ((res = PQgetResult(db->conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        PQclear(res);
        if (status == PGRES_PIPELINE_SYNC)
            break;
    }
    PQexitPipelineMode(db->conn);
    db->queued = 0;
    return rc;
}

static struct st_q *pg_stmt(struct store *st, enum st_stmt s)
{
    struct pg_db *db = pg_db(st);
    struct pg_q *q = &db->stmt[s];

    if ((s == S_BEGIN_READ || s == S_BEGIN_WRITE || !db->in_tx) && pg_reconnect(db) < 0)
        return NULL;
    if (!q->prepared) {
        char numbered[4096];
        const char *sql = pg_sql[s];

        if (db->queued > 0 && pg_drain(db, NULL) < 0) /* PQprepare waits for its answer */
            return NULL;

        if (sql == NULL) {
            if (st_sql_numbered(st_sql_common[s], numbered, sizeof(numbered)) >= sizeof(numbered)) {
                snprintf(db->err, sizeof(db->err), "prepare: statement too long");
                return NULL;
            }
            sql = numbered;
        }
        if (pg_server_prepare(db, q, (int)s, sql) < 0)
            return NULL;
    }
    pg_unbind(q);
    return &q->base;
}

static void pg_text(struct st_q *sq, int i, const char *s)
{
    struct pg_q *q = pq(sq);

    if (i < 1 || i > PG_MAX_PARAMS)
        return;
    free(q->copy[i - 1]);
    q->copy[i - 1] = s != NULL ? strdup(s) : NULL;
    q->val[i - 1] = q->copy[i - 1];
    q->fmt[i - 1] = 0;
}

static void pg_int(struct st_q *sq, int i, int64_t v)
{
    struct pg_q *q = pq(sq);

    if (i < 1 || i > PG_MAX_PARAMS)
        return;
    snprintf(q->num[i - 1], sizeof(q->num[i - 1]), "%lld", (long long)v);
    q->val[i - 1] = q->num[i - 1];
    q->fmt[i - 1] = 0;
}

static void pg_blob(struct st_q *sq, int i, const void *p, size_t len)
{
    struct pg_q *q = pq(sq);

    if (i < 1 || i > PG_MAX_PARAMS)
        return;
    q->val[i - 1] = p != NULL ? p : "";
    q->len[i - 1] = (int)len;
    q->fmt[i - 1] = 1;
}

static void pg_reset(struct st_q *sq)
{
    pg_unbind(pq(sq));
}

/* pg_be - a binary integer of n bytes at p. */
static int64_t pg_be(const char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = (v << 8) | (unsigned char)p[i];
    if (n < 8 && (v & ((uint64_t)1 << (n * 8 - 1))) != 0)
        v |= ~(uint64_t)0 << (n * 8); /* sign-extend */
    return (int64_t)v;
}

/* pg_run - execute q with its parameters; 0 or -1 with the message in db->err. */
static int pg_run(struct pg_db *db, struct pg_q *q)
{
    char name[16];
    ExecStatusType status;
    int rc = 0;

    snprintf(name, sizeof(name), "s%d", (int)q->s);
    if (db->queued > 0)
        rc = pg_drain(db, q);
    else
        q->res = PQexecPrepared(db->conn, name, q->nparams, q->val, q->len, q->fmt, 1);
    status = PQresultStatus(q->res);
    if (q->s == S_COMMIT)
        db->in_tx = false;
    else if ((q->s == S_BEGIN_READ || q->s == S_BEGIN_WRITE) && status == PGRES_COMMAND_OK)
        db->in_tx = true;
    if (rc < 0) /* a statement sent ahead failed: db->err says which */
        return -1;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        pg_msg(db, q->res);
        return -1;
    }
    db->changes = atoll(PQcmdTuples(q->res));
    /* an INSERT ... RETURNING id: the id of what it inserted */
    if (strncmp(PQcmdStatus(q->res), "INSERT", 6) == 0 && PQntuples(q->res) > 0 &&
        PQnfields(q->res) > 0 && PQftype(q->res, 0) == PG_INT8)
        db->last_id = pg_be(PQgetvalue(q->res, 0, 0), 8);
    q->row = 0;
    return 0;
}

static int pg_step(struct store *st, struct st_q *sq, const char **error_r, const char *what)
{
    struct pg_db *db = pg_db(st);
    struct pg_q *q = pq(sq);

    if (q == NULL)
        return st_fail(st, error_r, "%s: %s", what, db->err);
    if (q->res == NULL && pg_deferrable(q->s) && (db->in_tx || q->s == S_BEGIN_WRITE) &&
        db->queued < PG_MAX_QUEUED) {
        int rc = pg_send(db, q);
        if (rc == 0) {
            db->queued_what[db->queued++] = what;
            db->in_tx = true;
        } else if (db->queued > 0) {
            char why[sizeof(db->err)];
            snprintf(why, sizeof(why), "%s", db->err);
            pg_drain(db, NULL);
            snprintf(db->err, sizeof(db->err), "%s", why);
        }
        pg_unbind(q);
        return rc < 0 ? st_fail(st, error_r, "%s: %s", what, db->err) : 0;
    }
    if (q->res == NULL && pg_run(db, q) < 0) {
        st_fail(st, error_r, "%s: %s", what, db->err);
        pg_unbind(q);
        return -1;
    }
    if (q->row < PQntuples(q->res)) {
        q->row++;
        return 1;
    }
    pg_unbind(q);
    return 0;
}

static void pg_rollback(struct store *st)
{
    if (pg_db(st)->queued > 0)
        pg_drain(pg_db(st), NULL);
    PQclear(PQexec(pg_db(st)->conn, "ROLLBACK"));
    pg_db(st)->in_tx = false;
}

static int64_t pg_col_int(struct st_q *sq, int col)
{
    struct pg_q *q = pq(sq);
    int r = q->row - 1;
    const char *v;

    if (PQgetisnull(q->res, r, col))
        return 0;
    v = PQgetvalue(q->res, r, col);
    switch (PQftype(q->res, col)) {
    case PG_INT8:
        return pg_be(v, 8);
    case PG_INT4:
        return pg_be(v, 4);
    case PG_INT2:
        return pg_be(v, 2);
    case PG_BOOL:
        return v[0] != 0;
    default:
        return strtoll(v, NULL, 10); /* text (binary text is the text) */
    }
}

static const char *pg_col_text(struct st_q *sq, int col)
{
    struct pg_q *q = pq(sq);
    int r = q->row - 1;

    if (PQgetisnull(q->res, r, col))
        return NULL;
    switch (PQftype(q->res, col)) {
    case PG_INT8:
    case PG_INT4:
    case PG_INT2:
    case PG_BOOL:
        snprintf(q->text, sizeof(q->text), "%lld", (long long)pg_col_int(sq, col));
        return q->text;
    default:
        return PQgetvalue(q->res, r, col);
    }
}

static const void *pg_col_blob(struct st_q *sq, int col, size_t *len_r)
{
    struct pg_q *q = pq(sq);
    int r = q->row - 1;

    *len_r = 0;
    if (PQgetisnull(q->res, r, col) || PQftype(q->res, col) != PG_BYTEA)
        return NULL;
    *len_r = (size_t)PQgetlength(q->res, r, col);
    return PQgetvalue(q->res, r, col);
}

static int64_t pg_changes(struct store *st)
{
    return pg_db(st)->changes;
}

static int64_t pg_last_id(struct store *st)
{
    return pg_db(st)->last_id;
}

/* pg_exec - run a script (no parameters); 0 or -1 with *error_r "what: why". */
static int pg_exec(struct store *st, const char *sql, const char **error_r, const char *what)
{
    struct pg_db *db = pg_db(st);
    PGresult *res;
    ExecStatusType status;
    int rc = 0;

    if (db->queued > 0 && pg_drain(db, NULL) < 0)
        return st_fail(st, error_r, "%s: %s", what, db->err);
    res = PQexec(db->conn, sql);
    status = PQresultStatus(res);

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = st_fail(st, error_r, "%s: %s", what, pg_msg(db, res));
    PQclear(res);
    return rc;
}

/* pg_version - the schema version, 0 for a database without the store's tables, -1 on error. */
static int pg_version(struct store *st, const char **error_r)
{
    struct pg_db *db = pg_db(st);
    PGresult *res;
    int v = -1;

    if (db->queued > 0 && pg_drain(db, NULL) < 0)
        return st_fail(st, error_r, "schema version: %s", db->err);
    res = PQexec(db->conn, "SELECT to_regclass('store_schema') IS NOT NULL");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        st_fail(st, error_r, "schema version: %s", pg_msg(db, res));
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        v = 0;
    } else {
        PQclear(res);
        res = PQexec(db->conn, "SELECT version FROM store_schema");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            v = atoi(PQgetvalue(res, 0, 0));
        else
            st_fail(st, error_r, "schema version: %s", pg_msg(db, res));
    }
    PQclear(res);
    return v;
}

static int pg_schema_version(struct store *st)
{
    const char *error;

    return pg_version(st, &error);
}

/*
 * pg_migrate - bring the schema to the newest version, one transaction per
 * step, each under an advisory lock that every node starting at once queues
 * on; the version is read after the lock is held.
 */
static int pg_migrate(struct store *st, const char **error_r)
{
    for (;;) {
        char set[64];
        int version;

        if (pg_exec(st, "BEGIN", error_r, "migration") < 0)
            return -1;
        if (pg_exec(st, "SELECT pg_advisory_xact_lock(7265636)", error_r, "migration") < 0 ||
            (version = pg_version(st, error_r)) < 0) {
            pg_rollback(st);
            return -1;
        }
        if (version > (int)store_pg_migration_count) {
            pg_rollback(st);
            return st_fail(st, error_r,
                           "database schema version %d is newer than this program knows "
                           "(newest %zu): upgrade this node",
                           version, store_pg_migration_count);
        }
        if (version == (int)store_pg_migration_count)
            return pg_exec(st, "COMMIT", error_r, "commit");
        snprintf(set, sizeof(set), "UPDATE store_schema SET version = %d", version + 1);
        if (pg_exec(st, store_pg_migrations[version], error_r, "migration") < 0 ||
            pg_exec(st, set, error_r, "migration") < 0 ||
            pg_exec(st, "COMMIT", error_r, "migration") < 0) {
            pg_rollback(st);
            return -1;
        }
    }
}

/* pg_check_conninfo - refuse a connection string that names a password. */
static int pg_check_conninfo(struct store *st, const char *conninfo, const char **error_r)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    int rc = 0;

    if (opts == NULL) {
        rc = st_fail(st, error_r, "conninfo: %s", msg != NULL ? msg : "cannot be parsed");
        PQfreemem(msg);
        return rc;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            rc = st_fail(st, error_r,
                         "conninfo names a password: keep it in a passfile (passfile=... "
                         "or PGPASSFILE) instead");
    PQconninfoFree(opts);
    return rc;
}

static int pg_open(struct store *st, const char *conninfo, const char **error_r)
{
    struct pg_db *db;

    if ((db = calloc(1, sizeof(*db))) == NULL)
        return st_fail(st, error_r, "out of memory");
    db->base.be = &st_pg_backend;
    for (int i = 0; i < S_MAX; i++) {
        db->stmt[i].base.be = &st_pg_backend;
        db->stmt[i].s = (enum st_stmt)i;
    }
    st->db = &db->base;
    if (pg_check_conninfo(st, conninfo, error_r) < 0)
        return -1;
    db->conn = PQconnectdb(conninfo);
    if (PQstatus(db->conn) != CONNECTION_OK)
        return st_fail(st, error_r, "%s", pg_msg(db, NULL));
    /* the server's notices ("relation exists, skipping") are not worth a log line */
    if (pg_exec(st, "SET client_min_messages = warning", error_r, "settings") < 0)
        return -1;
    return pg_migrate(st, error_r);
}

static void pg_close(struct store *st)
{
    struct pg_db *db = pg_db(st);

    st->db = NULL;
    for (int i = 0; i < S_MAX; i++)
        pg_unbind(&db->stmt[i]);
    PQfinish(db->conn);
    free(db);
}

/* pg_broken - the server dropped the connection (the next statement outside a
 * transaction tries to connect again). */
static bool pg_broken(struct store *st)
{
    return PQstatus(pg_db(st)->conn) == CONNECTION_BAD;
}

/* pg_prepare - an ad hoc statement (store_copy.c), named past the enum's;
 * freed by pg_finalize. */
static struct st_q *pg_prepare(struct store *st, const char *sql)
{
    struct pg_db *db = pg_db(st);
    struct pg_q *q;
    char numbered[4096];

    if (st_sql_numbered(sql, numbered, sizeof(numbered)) >= sizeof(numbered)) {
        snprintf(db->err, sizeof(db->err), "prepare: statement too long");
        return NULL;
    }
    if (db->queued > 0 && pg_drain(db, NULL) < 0) /* PQprepare waits for its answer */
        return NULL;
    if ((q = calloc(1, sizeof(*q))) == NULL) {
        snprintf(db->err, sizeof(db->err), "prepare: out of memory");
        return NULL;
    }
    q->base.be = &st_pg_backend;
    q->s = (enum st_stmt)(S_MAX + db->adhoc++);
    if (pg_server_prepare(db, q, (int)q->s, numbered) < 0) {
        free(q);
        return NULL;
    }
    return &q->base;
}

/* pg_finalize - forget an ad hoc statement (its server-side statement ends
 * with the connection). */
static void pg_finalize(struct st_q *sq)
{
    if (sq != NULL) {
        pg_unbind(pq(sq));
        free(pq(sq));
    }
}

static int pg_col_count(struct st_q *sq)
{
    return pq(sq)->res != NULL ? PQnfields(pq(sq)->res) : 0;
}

static const char *pg_col_name(struct st_q *sq, int col)
{
    return PQfname(pq(sq)->res, col);
}

static int pg_col_type(struct st_q *sq, int col)
{
    struct pg_q *q = pq(sq);

    if (PQgetisnull(q->res, q->row - 1, col))
        return ST_NULL;
    switch (PQftype(q->res, col)) {
    case PG_INT8:
    case PG_INT4:
    case PG_INT2:
    case PG_BOOL:
        return ST_INT;
    case PG_BYTEA:
        return ST_BLOB;
    default:
        return ST_TEXT;
    }
}

/* pg_ids_past - move table's id sequence past its highest id, so that the
 * next insert after a copy with ids preserved takes a new one. */
static int pg_ids_past(struct store *st, const char *table, const char **error_r)
{
    struct pg_db *db = pg_db(st);
    char *ident = PQescapeIdentifier(db->conn, table, strlen(table));
    char *lit = ident != NULL ? PQescapeLiteral(db->conn, ident, strlen(ident)) : NULL;
    char sql[512];
    int rc;

    if (lit == NULL) {
        PQfreemem(ident);
        return st_fail(st, error_r, "%s: %s", table, pg_msg(db, NULL));
    }
    snprintf(sql, sizeof(sql),
             "SELECT setval(pg_get_serial_sequence(%s, 'id'), MAX(id)) FROM %s "
             "HAVING MAX(id) IS NOT NULL",
             lit, ident);
    rc = pg_exec(st, sql, error_r, table);
    PQfreemem(lit);
    PQfreemem(ident);
    return rc;
}

const struct st_backend st_pg_backend = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .q = pg_stmt,
    .text = pg_text,
    .int64 = pg_int,
    .blob = pg_blob,
    .step = pg_step,
    .reset = pg_reset,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .last_id = pg_last_id,
    .rollback = pg_rollback,
    .errmsg = pg_errmsg,
    .schema_version = pg_schema_version,
    .broken = pg_broken,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .col_count = pg_col_count,
    .col_name = pg_col_name,
    .col_type = pg_col_type,
    .ids_past = pg_ids_past,
};
