/*
 * store_int.h - private to the store library: the connection, the statement
 * mechanism and the quarantine row, shared by the files that implement
 * store.h. Callers outside store/db never include it.
 *
 * The files by concern (store_core.c, store_quarantine.c, store_user.c,
 * store_notify.c, store_request.c, store_token.c, store_web.c, store_ledger.c) hold no SQL
 * and call no database library: they name a statement by its enum st_stmt,
 * bind, step and read columns through the st_* calls below. Each backend
 * (store_sqlite.c, store_pg.c) owns its connection, settings, migrations and
 * the SQL of every statement in a table indexed by the same enum, prepared
 * once per connection when first used (rspamd's fuzzy_backend_sqlite.c), and
 * fills one struct st_backend; the st_* calls dispatch through it.
 */
#ifndef OPES_STORE_INT_H
#define OPES_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Every statement of the store. The SQL of each is at its name in each
 * backend's table (store_sqlite.c, store_pg.c: same order and sections).
 */
enum st_stmt {
    /* transactions and connection settings */
    S_BEGIN_READ,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_SYNC_NORMAL,
    S_SYNC_FULL,
    S_SCHEMA_VERSION,
    S_INTEGRITY_CHECK,
    /* content */
    S_CONTENT_FIND,
    S_CONTENT_INSERT,
    S_CHUNK_INSERT,
    S_CONTENT_OF,
    S_CHUNKS,
    /* quarantine entries */
    S_Q_INSERT,
    S_Q_GET,
    S_Q_SET_STATUS,
    /* the listing, [everyone | one address | what one address sees][enum store_web_sort] */
    S_Q_LIST_ALL_NEWEST,
    S_Q_LIST_ALL_OLDEST,
    S_Q_LIST_ALL_SENDER,
    S_Q_LIST_ALL_SUBJECT,
    S_Q_LIST_ALL_SIZE,
    S_Q_LIST_ALL_REASON,
    S_Q_LIST_RCPT_NEWEST,
    S_Q_LIST_RCPT_OLDEST,
    S_Q_LIST_RCPT_SENDER,
    S_Q_LIST_RCPT_SUBJECT,
    S_Q_LIST_RCPT_SIZE,
    S_Q_LIST_RCPT_REASON,
    S_Q_LIST_SEES_NEWEST,
    S_Q_LIST_SEES_OLDEST,
    S_Q_LIST_SEES_SENDER,
    S_Q_LIST_SEES_SUBJECT,
    S_Q_LIST_SEES_SIZE,
    S_Q_LIST_SEES_REASON,
    S_Q_COUNT_ALL,
    S_Q_COUNT_RCPT,
    S_Q_COUNT_SEES,
    /* whether an address sees more than its own entries (a delegate, a domain administrator) */
    S_Q_SEES_OTHERS,
    S_Q_RESTORE,
    /* trace */
    S_TRACE_INSERT,
    S_TRACE_LIST,
    /* white and block lists */
    S_LIST_UPSERT,
    S_LIST_DELETE,
    S_LIST_SHOW_OWNER,
    S_LIST_SHOW_ALL,
    S_LIST_MATCH,
    S_LIST_LOOKUP,
    /* release requests */
    S_REL_PENDING,
    S_REL_INSERT,
    S_REL_NEXT,
    S_REL_LEASE,
    S_REL_DONE,
    S_REL_FAIL,
    S_REL_STATE,
    S_REL_INFO,
    /* users, consent, preferences */
    S_USER_UPSERT,
    S_USER_GET,
    S_USER_LIST,
    S_USER_SET_PW,
    S_USER_GET_PW,
    S_USER_ENSURE,
    S_USER_PREFS,
    S_USER_SET_NOTIFY,
    S_USER_SET_PREFS,
    S_USER_LOCALE,
    S_USER_SET_LOCALE,
    S_CONSENT_GET,
    S_CONSENT_SET,
    S_SPAM_GET,
    S_SPAM_SET,
    S_SPAM_CLEAR,
    /* audit */
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    /* retention */
    S_PURGE_EXPIRE,
    S_PURGE_DETACH,
    S_PURGE_DELETE_Q,
    S_PURGE_CONTENT,
    S_PURGE_TRACE,
    S_PURGE_LIST,
    /* notifications, digests, sender DSNs */
    S_N_UNCAPTURED,
    S_N_CAPTURE,
    S_N_DROP_STALE,
    S_N_PENDING,
    S_N_SET_STATE,
    S_N_ATTEMPT,
    S_N_HEADERS,
    S_N_FORGET_HEADERS,
    S_N_STATE_OF,
    S_N_KNOWN,
    S_N_HELD_SINCE,
    S_N_META_GET,
    S_N_META_SET,
    S_DIGEST_WAITING,
    S_DIGEST_LAST,
    S_DIGEST_INSERT,
    S_DIGEST_ASSIGN,
    S_DIGEST_PENDING,
    S_DIGEST_COPIES,
    S_DIGEST_ITEMS,
    S_DIGEST_SENT,
    S_DIGEST_ITEMS_SENT,
    S_DIGEST_FAILED,
    S_DSN_DUE,
    S_DSN_DONE,
    /* login requests and rate limits */
    S_LOGIN_ADD,
    S_LOGIN_NEXT,
    S_LOGIN_DONE,
    S_LOGIN_PURGE,
    S_RATE_HIT,
    S_RATE_PURGE,
    /* single-use tokens */
    S_TOKEN_USE,
    S_TOKEN_SEEN,
    S_TOKEN_PURGE,
    /* portal sessions and counts */
    S_SESS_ADD,
    S_SESS_GET,
    S_SESS_TOUCH,
    S_SESS_DELETE,
    S_SESS_PURGE,
    S_COUNT_STATUS,
    S_COUNT_HELD,
    S_COUNT_RELEASE,
    S_COUNT_OUTCOME,
    S_COUNT_SVC,
    S_COUNT_LATENCY,
    S_COUNT_DAY,
    S_COUNT_BACKLOG,
    /* leases on jobs, shared by every node */
    S_CLAIM_TAKE,
    S_CLAIM_RENEW,
    S_CLAIM_DROP,
    S_CLAIM_HOLDER,
    /* locks an entry's row for the rest of a write transaction */
    S_Q_LOCK,
    /* API tokens */
    S_APITOK_INSERT,
    S_APITOK_GET,
    S_APITOK_USED,
    S_APITOK_LIST,
    S_APITOK_REVOKE,
    /* learning from decisions */
    S_LEARN_INSERT,
    S_LEARN_NEXT,
    S_LEARN_LEASE,
    S_LEARN_DONE,
    S_LEARN_FAIL,
    S_LEARN_STATE,
    S_LEARN_PURGE,
    /* the delivery ledger */
    S_LEDGER_INSERT,
    S_LEDGER_FIND,
    S_LEDGER_PURGE,
    /* domain administrators, delegates, release approvals (store_approval.c) */
    S_DOM_ADD,
    S_DOM_DEL,
    S_DOM_LIST,
    S_DLG_ADD,
    S_DLG_DEL,
    S_DLG_LIST,
    S_APR_PENDING_OF,
    S_APR_INSERT,
    S_APR_LIST,
    S_APR_DECIDE,
    S_APR_NOTIFIED,
    S_APR_TOLD,
    S_APPROVERS,
    S_MAX
};

/*
 * The columns of a quarantine entry, in the order of enum st_qcol, for the
 * statements that return entries (the quarantine table is always named q);
 * store_qitem_read reads them from any first column on.
 */
#define STORE_QITEM_COLUMNS                                                                        \
    "q.public_id, q.trace_id, q.sender, q.recipient, q.subject, q.msg_date, q.size, q.service, "   \
    "q.reason, q.status, q.created, q.updated, q.words, q.from_name, q.original_recipient"

enum st_qcol {
    QC_ID,
    QC_TRACE_ID,
    QC_SENDER,
    QC_RECIPIENT,
    QC_SUBJECT,
    QC_DATE,
    QC_SIZE,
    QC_SERVICE,
    QC_REASON,
    QC_STATUS,
    QC_CREATED,
    QC_UPDATED,
    QC_WORDS,
    QC_FROM_NAME,
    QC_ORIGINAL,
    QC_COUNT /* the first column after the entry's */
};

struct keys;
struct st_db;
struct st_q;
struct store_qitem;
struct store_qfilter;

struct store {
    struct st_db *db; /* the backend's connection and statements */
    struct keys *keys;
    char *key_path;
    struct stat key_stat; /* of the key file when keys was read */
    int64_t key_checked;  /* when it was last looked at (st_now) */
    char err[512];
};

/* ------------------------------------------------------------ shared SQL (store_sql.c) */

/*
 * st_sql_common - the SQL of the statements both backends write alike (NULL
 * for the others, which each backend's own table holds), with SQLite's
 * placeholders ? and ?N.
 */
extern const char *const st_sql_common[S_MAX];
/*
 * st_sql_numbered - sql with its placeholders as PostgreSQL's $N (a bare ?
 * is one more than the highest number so far, as in SQLite), outside quoted
 * text, into out; the length it needed (cut when that is size or more).
 */
size_t st_sql_numbered(const char *sql, char *out, size_t size);

/* ------------------------------------------------------------ backends */

/*
 * One backend: its connection and statement calls. struct st_db and struct
 * st_q are the first members of the backend's own connection and statement,
 * so that the st_* calls below (store_core.c) reach the backend that made
 * them; both backends are always built and the choice is made at open time.
 */
struct st_backend {
    const char *name;
    /* open - connect st to target (a path or a conninfo), migrated; 0 or -1 */
    int (*open)(struct store *st, const char *target, const char **error_r);
    void (*close)(struct store *st);
    struct st_q *(*q)(struct store *st, enum st_stmt s);
    void (*text)(struct st_q *q, int i, const char *s);
    void (*int64)(struct st_q *q, int i, int64_t v);
    void (*blob)(struct st_q *q, int i, const void *p, size_t len);
    /* step - as st_step; q may be NULL (a statement that could not be prepared) */
    int (*step)(struct store *st, struct st_q *q, const char **error_r, const char *what);
    void (*reset)(struct st_q *q);
    int64_t (*col_int)(struct st_q *q, int col);
    const char *(*col_text)(struct st_q *q, int col);
    const void *(*col_blob)(struct st_q *q, int col, size_t *len_r);
    int64_t (*changes)(struct store *st);
    int64_t (*last_id)(struct store *st);
    /* rollback - quietly: the error that led here stays in st->err */
    void (*rollback)(struct store *st);
    const char *(*errmsg)(struct store *st);
    int (*schema_version)(struct store *st);
    /* broken - the connection to the database server is lost (NULL: it cannot be) */
    bool (*broken)(struct store *st);
    /* ad hoc statements, for what walks tables generically (store_copy.c): */
    /* prepare - sql (SQLite's ?N placeholders) outside the enum; NULL with the
     * message in errmsg; freed by finalize */
    struct st_q *(*prepare)(struct store *st, const char *sql);
    void (*finalize)(struct st_q *q);
    /* col_count / col_name / col_type - the current row's shape (enum st_type) */
    int (*col_count)(struct st_q *q);
    const char *(*col_name)(struct st_q *q, int col);
    int (*col_type)(struct st_q *q, int col);
    /* ids_past - the id sequence of table past its highest id (NULL: nothing to do) */
    int (*ids_past)(struct store *st, const char *table, const char **error_r);
};

/* the type of a column's value in the current row */
enum st_type { ST_NULL, ST_INT, ST_TEXT, ST_BLOB };

struct st_db {
    const struct st_backend *be;
};
struct st_q {
    const struct st_backend *be;
};

extern const struct st_backend st_sqlite_backend; /* store_sqlite.c */
extern const struct st_backend st_pg_backend;     /* store_pg.c */

/* the schema steps of each backend (store/db/schema/ and schema/pg/, embedded) */
extern const char *const store_migrations[];
extern const size_t store_migration_count;
extern const char *const store_pg_migrations[];
extern const size_t store_pg_migration_count;

/* st_db_open - connect st through backend be to target, migrated; 0, or -1 with *error_r. */
int st_db_open(struct store *st, const struct st_backend *be, const char *target,
               const char **error_r);
/* st_db_close - finalize the statements and disconnect (st->db NULL is fine). */
void st_db_close(struct store *st);
/*
 * st_q - statement s, reset and unbound, prepared on its first use by this
 * connection. NULL when it cannot be prepared: the binding calls ignore a NULL
 * statement and st_step / st_exec1 report why, so callers check only there.
 */
struct st_q *st_q(struct store *st, enum st_stmt s);
/* st_text / st_int / st_blob - bind by position (1 up); text is copied, NULL stays NULL;
 * the blob is not copied and must stay valid until the statement is stepped. */
void st_text(struct st_q *q, int i, const char *s);
void st_int(struct st_q *q, int i, int64_t v);
void st_blob(struct st_q *q, int i, const void *p, size_t len);
/*
 * st_step - the next row: 1 with a row (the statement stays active until the
 * next st_step, st_reset or st_q), 0 at the end, -1 with *error_r ("what: why").
 * At the end and on error the statement is reset.
 */
int st_step(struct store *st, struct st_q *q, const char **error_r, const char *what);
/* st_reset - done with q's rows before its end (releases its read lock). */
void st_reset(struct st_q *q);
/* st_exec1 - run a statement for its effect (a row it returns is ignored); 0 or -1. */
int st_exec1(struct store *st, struct st_q *q, const char **error_r, const char *what);
/* st_col_int / st_col_text - column col of the current row; text is NULL for NULL. */
int64_t st_col_int(struct st_q *q, int col);
const char *st_col_text(struct st_q *q, int col);
/* st_col_blob - column col as bytes and *len_r; NULL when the column is not a blob. */
const void *st_col_blob(struct st_q *q, int col, size_t *len_r);
/* st_changes / st_last_id - rows changed by the last statement, id of the last insert
 * (PostgreSQL: the id its RETURNING gave). */
int64_t st_changes(struct store *st);
int64_t st_last_id(struct store *st);
/* st_dbfail - st_fail with the backend's message after what. */
int st_dbfail(struct store *st, const char **error_r, const char *what);

/* ------------------------------------------------------------ common (store_core.c) */

/* st_fail - remember why; returns -1 for "return st_fail(...)". */
int st_fail(struct store *st, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* st_begin / st_commit / st_rollback - BEGIN (IMMEDIATE when write), COMMIT, ROLLBACK. */
int st_begin(struct store *st, bool write, const char **error_r);
int st_commit(struct store *st, const char **error_r);
void st_rollback(struct store *st);
/*
 * st_found - the end of a one-row lookup whose st_step gave rc: 0 (row read,
 * the statement reset), STORE_NOTFOUND, or -1 (the error is set).
 */
int st_found(struct st_q *q, int rc);
/* st_lookup2 - statement s with ?1 = key: its row's two text columns into a and b;
 * 0, STORE_NOTFOUND or -1. */
int st_lookup2(struct store *st, enum st_stmt s, const char *key, char *a, size_t asize, char *b,
               size_t bsize, const char **error_r, const char *what);
/* st_exec_commit - the last statement of a write transaction: st_exec1 of q, then
 * COMMIT; on either failure ROLLBACK. 0 or -1. */
int st_exec_commit(struct store *st, struct st_q *q, const char **error_r, const char *what);
/*
 * st_request_commit - the last steps of recording a request in the caller's
 * write transaction: the insert q; when it inserted nothing, ROLLBACK and
 * absent_rc; else the audit row (actor, action, object, origin, via) and
 * COMMIT. 0, absent_rc, or -1 (rolled back).
 */
int st_request_commit(struct store *st, struct st_q *q, const char *what, int absent_rc,
                      const char *actor, const char *action, const char *object, const char *origin,
                      const char *via, const char **error_r);
/* st_claim_fn - the columns of a claimed row into out; returns its id. */
typedef int64_t st_claim_fn(struct st_q *q, void *out);
#define ST_CLAIM_LEASE 600 /* seconds a claimed row stays with its worker */
/*
 * st_claim - the next row of a work queue, for one worker: statement next
 * (?1 = now) read by fill, then leased by statement lease (?1 = until, ?2 =
 * now, ?3 = the id) in the same transaction, so that a worker that dies gives
 * the row back when the lease ends. 0, STORE_NOTFOUND or -1.
 */
int st_claim(struct store *st, enum st_stmt next, enum st_stmt lease, st_claim_fn *fill, void *out,
             const char **error_r, const char *what);
/* st_exec_int - st_exec1 of statement s with its one parameter ?1 = v. */
int st_exec_int(struct store *st, enum st_stmt s, int64_t v, const char **error_r,
                const char *what);
/* st_row_fn - insert row i of rows (within the caller's transaction); 0 or -1. */
typedef int st_row_fn(struct store *st, const void *rows, size_t i, const char **error_r);
/*
 * st_insert_unsynced - fn for rows 0..n in one write transaction, committed
 * without a sync (SQLite synchronous=NORMAL in WAL, PostgreSQL
 * synchronous_commit off: lost only with the machine); the connection's
 * later commits are synced again. 0, or -1 with nothing written.
 */
int st_insert_unsynced(struct store *st, st_row_fn *fn, const void *rows, size_t n,
                       const char **error_r);
/* st_copy - column col as text into dst ("" for NULL). */
void st_copy(char *dst, size_t size, struct st_q *q, int col);
/* st_lower - lower-cased copy (addresses compare case-insensitively). */
void st_lower(char *dst, size_t size, const char *src);
int64_t st_now(void);
/*
 * st_keys - the key generations, read again when the key file changed (a
 * rotation by opesctl reaches running daemons within a second, without a
 * restart); on a failed read the keys in use stay.
 */
struct keys *st_keys(struct store *st);

/* ------------------------------------------------------------ quarantine (store_quarantine.c) */

/* store_qitem_read - the entry in STORE_QITEM_COLUMNS from column first on. */
void store_qitem_read(struct st_q *q, int first, struct store_qitem *it);
/* st_qitems - step q (bound) to its end, each row's entry (from column 0) to fn. */
int st_qitems(struct store *st, struct st_q *q, void (*fn)(const struct store_qitem *it, void *ctx),
              void *ctx, const char **error_r, const char *what);
/*
 * st_q_list - run the quarantine listing in sort order sort (enum
 * store_web_sort) with the parameters ?1 recipient, ?2 status ("" any), ?3
 * LIKE pattern on sender, display name or subject ("" none), ?4 since and ?5
 * until (0: open), ?6 limit, ?7 offset, from f.
 */
int st_q_list(struct store *st, const struct store_qfilter *f, int sort,
              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
              const char **error_r);

/* st_trace_insert - one trace record, in the caller's transaction if any. */
struct store_trace;
int st_trace_insert(struct store *st, const struct store_trace *t, const char **error_r);
/* ------------------------------------------------------------ ledger (store_ledger.c) */

struct store_ledger;
/* st_ledger_insert - one ledger row (an existing one is kept), inside the caller's transaction. */
int st_ledger_insert(struct store *st, const struct store_ledger *row, const char **error_r);

/* ------------------------------------------------------------ people (store_user.c) */

struct store_list_entry;
/* st_list_insert - add or refresh a list entry (owner and sender lower-cased). */
int st_list_insert(struct store *st, const struct store_list_entry *e, const char **error_r);
/* st_domain_key - "@domain" of an address (lower-cased). */
void st_domain_key(char *dst, size_t size, const char *addr);
/* st_user_begin - a write transaction in which the user low (lower-cased) exists. */
int st_user_begin(struct store *st, const char *low, const char **error_r);
/* st_audit_insert - one audit line, now; via names the API token behind it ("" none). */
int st_audit_insert(struct store *st, const char *actor, const char *action, const char *object,
                    const char *origin, const char *via, const char **error_r);

#endif
