/*
 * store_sqlite.c - the embedded SQLite implementation of store.h.
 *
 * WAL mode with synchronous=FULL, so that a committed transaction is on disk
 * when COMMIT returns (the quarantine's promise before opesd answers 2xx).
 * Every write runs in BEGIN IMMEDIATE, so writers queue on the busy timeout
 * instead of failing with SQLITE_BUSY on a lock upgrade. Statements are
 * prepared once per connection from an enum-indexed table. The schema is
 * migrated with PRAGMA user_version from the embedded store/schema/NNNN.sql.
 */
#include "opes/store.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "opes/content.h"
#include "opes/keys.h"
#include "opes/log.h"
#include "store_int.h"

extern const char *const store_migrations[];
extern const size_t store_migration_count;

enum stmt {
    S_BEGIN_READ,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_CONTENT_FIND,
    S_CONTENT_INSERT,
    S_CHUNK_INSERT,
    S_CONTENT_OF,
    S_CHUNKS,
    S_Q_INSERT,
    S_Q_GET,
    S_Q_LIST_RCPT,
    S_Q_LIST_ALL,
    S_Q_SET_STATUS,
    S_TRACE_INSERT,
    S_TRACE_LIST,
    S_LIST_UPSERT,
    S_LIST_DELETE,
    S_LIST_SHOW_OWNER,
    S_LIST_SHOW_ALL,
    S_LIST_MATCH,
    S_LIST_LOOKUP,
    S_REL_PENDING,
    S_REL_INSERT,
    S_REL_NEXT,
    S_REL_LEASE,
    S_REL_DONE,
    S_REL_FAIL,
    S_REL_STATE,
    S_USER_UPSERT,
    S_USER_GET,
    S_USER_LIST,
    S_USER_SET_PW,
    S_USER_GET_PW,
    S_USER_ENSURE,
    S_CONSENT_GET,
    S_CONSENT_SET,
    S_SYNC_NORMAL,
    S_SYNC_FULL,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_PURGE_EXPIRE,
    S_PURGE_DETACH,
    S_PURGE_DELETE_Q,
    S_PURGE_CONTENT,
    S_PURGE_TRACE,
    S_PURGE_LIST,
    S_COUNT
};

#define Q_COLS                                                                                     \
    "public_id, trace_id, sender, recipient, subject, msg_date, size, service, reason, status, "   \
    "created, updated"
#define Q_FILTER                                                                                   \
    " AND (?2 = '' OR status = ?2) AND (?3 = '' OR sender LIKE ?3 ESCAPE '\\' OR subject LIKE ?3 " \
    "ESCAPE '\\') ORDER BY created DESC, id DESC LIMIT ?4 OFFSET ?5"
#define L_COLS "id, kind, owner, sender, created_by, origin, expires, created"

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN_READ] = "BEGIN",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_CONTENT_FIND] = "SELECT id FROM content WHERE hash = ? AND key_id = ?",
    [S_CONTENT_INSERT] = "INSERT INTO content (hash, key_id, size, header, created) "
                         "VALUES (?, ?, ?, ?, ?)",
    [S_CHUNK_INSERT] = "INSERT INTO content_chunk (content_id, seq, data) VALUES (?, ?, ?)",
    [S_CONTENT_OF] = "SELECT c.id, c.key_id, c.header FROM quarantine q "
                     "JOIN content c ON c.id = q.content_id WHERE q.public_id = ?",
    [S_CHUNKS] = "SELECT data FROM content_chunk WHERE content_id = ? ORDER BY seq",
    [S_Q_INSERT] = "INSERT INTO quarantine (public_id, content_id, trace_id, sender, recipient, "
                   "subject, msg_date, size, service, reason, status, created, updated) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'held', ?, ?)",
    [S_Q_GET] = "SELECT " Q_COLS " FROM quarantine WHERE public_id = ?",
    [S_Q_LIST_RCPT] = "SELECT " Q_COLS " FROM quarantine WHERE recipient = ?1" Q_FILTER,
    [S_Q_LIST_ALL] = "SELECT " Q_COLS " FROM quarantine WHERE ?1 IS NULL" Q_FILTER,
    [S_Q_SET_STATUS] = "UPDATE quarantine SET status = ?, updated = ? WHERE public_id = ?",
    [S_TRACE_INSERT] = "INSERT INTO trace (trace_id, recipient, event, service, verdict, detail, "
                       "duration_ms, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [S_TRACE_LIST] = "SELECT trace_id, recipient, event, service, verdict, detail, duration_ms, "
                     "at FROM trace WHERE trace_id = ? ORDER BY id",
    [S_LIST_UPSERT] = "INSERT INTO list (kind, owner, sender, created_by, origin, expires, created)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, owner, sender) DO UPDATE "
                      "SET created_by = excluded.created_by, origin = excluded.origin, "
                      "expires = excluded.expires, created = excluded.created",
    [S_LIST_DELETE] = "DELETE FROM list WHERE id = ?",
    [S_LIST_SHOW_OWNER] = "SELECT " L_COLS " FROM list WHERE owner = ? "
                          "AND (expires = 0 OR expires > ?) ORDER BY kind, sender",
    [S_LIST_SHOW_ALL] = "SELECT " L_COLS " FROM list WHERE ?1 IS NULL "
                        "AND (expires = 0 OR expires > ?2) ORDER BY owner, kind, sender",
    [S_LIST_MATCH] = "SELECT 1 FROM list WHERE kind = ? AND owner IN (?, ?, '*') "
                     "AND sender IN (?, ?, '*') AND (expires = 0 OR expires > ?) LIMIT 1",
    [S_LIST_LOOKUP] = "SELECT DISTINCT kind FROM list WHERE owner IN (?, ?, '*') "
                      "AND sender IN (?, ?, '*') AND (expires = 0 OR expires > ?)",
    [S_REL_PENDING] = "SELECT r.id FROM release_request r JOIN quarantine q "
                      "ON q.id = r.quarantine_id WHERE q.public_id = ? AND r.state = 'pending'",
    [S_REL_INSERT] = "INSERT INTO release_request (quarantine_id, requested_by, origin, whitelist,"
                     " next_attempt, created, updated) SELECT id, ?1, ?2, ?3, ?5, ?5, ?5 "
                     "FROM quarantine WHERE public_id = ?4 AND status = 'held'",
    [S_REL_NEXT] = "SELECT r.id, q.public_id, r.requested_by, r.origin, r.whitelist, r.attempts,"
                   " r.last_error FROM release_request r JOIN quarantine q "
                   "ON q.id = r.quarantine_id WHERE r.state = 'pending' AND r.next_attempt <= ? "
                   "ORDER BY r.next_attempt, r.id LIMIT 1",
    [S_REL_LEASE] = "UPDATE release_request SET next_attempt = ?, attempts = attempts + 1, "
                    "updated = ? WHERE id = ?",
    [S_REL_DONE] = "UPDATE release_request SET state = 'done', last_error = '', updated = ? "
                   "WHERE id = ?",
    [S_REL_FAIL] = "UPDATE release_request SET state = ?, next_attempt = ?, last_error = ?, "
                   "updated = ? WHERE id = ? AND state = 'pending'",
    [S_REL_STATE] = "SELECT r.state, r.last_error FROM release_request r JOIN quarantine q "
                    "ON q.id = r.quarantine_id WHERE q.public_id = ? ORDER BY r.id DESC LIMIT 1",
    [S_USER_UPSERT] = "INSERT INTO user (address, role, created) VALUES (?, ?, ?) "
                      "ON CONFLICT (address) DO UPDATE SET role = excluded.role",
    [S_USER_GET] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                   "FROM user WHERE address = ?",
    [S_USER_LIST] = "SELECT address, role, password_hash IS NOT NULL, notify_mode, created "
                    "FROM user ORDER BY address",
    [S_USER_SET_PW] = "UPDATE user SET password_hash = ? WHERE address = ?",
    [S_USER_GET_PW] = "SELECT password_hash FROM user WHERE address = ?",
    [S_USER_ENSURE] = "INSERT OR IGNORE INTO user (address, created) VALUES (?, ?)",
    [S_CONSENT_GET] = "SELECT allowed FROM user_consent WHERE address = ? AND service = ?",
    [S_CONSENT_SET] = "INSERT INTO user_consent (address, service, allowed, updated) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT (address, service) DO UPDATE SET "
                      "allowed = excluded.allowed, updated = excluded.updated",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_AUDIT_INSERT] =
        "INSERT INTO audit (at, actor, action, object, origin) VALUES (?, ?, ?, ?, ?)",
    [S_AUDIT_LIST] = "SELECT at, actor, action, object, origin FROM audit ORDER BY id DESC LIMIT ?",
    [S_PURGE_EXPIRE] = "UPDATE quarantine SET status = 'expired', updated = ?1 "
                       "WHERE status = 'held' AND created < ?2",
    /* deleted and expired entries lose their content at once; released ones keep it */
    [S_PURGE_DETACH] = "UPDATE quarantine SET content_id = NULL "
                       "WHERE status IN ('deleted', 'expired') AND content_id IS NOT NULL",
    [S_PURGE_DELETE_Q] = "DELETE FROM quarantine WHERE status <> 'held' AND updated < ?",
    [S_PURGE_CONTENT] = "DELETE FROM content WHERE id NOT IN "
                        "(SELECT content_id FROM quarantine WHERE content_id IS NOT NULL)",
    [S_PURGE_TRACE] = "DELETE FROM trace WHERE at < ?",
    [S_PURGE_LIST] = "DELETE FROM list WHERE expires <> 0 AND expires <= ?",
};

/* the store's own statements, for the private header's struct store */
_Static_assert(S_COUNT <= ST_STMT_MAX, "raise ST_STMT_MAX");

static const char *const qstatus_names[] = {"held", "released", "deleted", "expired"};

const char *store_qstatus_name(enum store_qstatus s)
{
    return (unsigned)s < 4 ? qstatus_names[s] : "?";
}

static enum store_qstatus qstatus_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, qstatus_names[i]) == 0)
            return (enum store_qstatus)i;
    return STORE_HELD;
}

int64_t st_now(void)
{
    return (int64_t)time(NULL);
}

int st_fail(struct store *st, const char **error_r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    *error_r = st->err;
    return -1;
}

int st_dbfail(struct store *st, const char **error_r, const char *what)
{
    return st_fail(st, error_r, "%s: %s", what, sqlite3_errmsg(st->db));
}

/* st_get - a reset statement with no bindings, ready to bind. */
static sqlite3_stmt *st_get(struct store *st, enum stmt s)
{
    sqlite3_stmt *q = st->stmt[s];
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return q;
}

sqlite3_stmt *st_prep(struct store *st, const char *sql, const char **error_r)
{
    size_t i = 0;

    while (i < st->nprep && st->prep[i].sql != sql)
        i++;
    if (i == st->nprep) {
        if (i == ST_PREP_MAX) {
            st_fail(st, error_r, "too many statements");
            return NULL;
        }
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->prep[i].q, NULL) !=
            SQLITE_OK) {
            st_dbfail(st, error_r, "prepare");
            return NULL;
        }
        st->prep[i].sql = sql;
        st->nprep++;
    }
    sqlite3_reset(st->prep[i].q);
    sqlite3_clear_bindings(st->prep[i].q);
    return st->prep[i].q;
}

/* st_text - bind text (NULL stays NULL) by position. */
void st_text(sqlite3_stmt *q, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
}

/* st_exec1 - run a statement that returns no row; 0 or -1. */
int st_exec1(struct store *st, sqlite3_stmt *q, const char **error_r, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return st_dbfail(st, error_r, what);
    return 0;
}

int st_begin(struct store *st, bool write, const char **error_r)
{
    return st_exec1(st, st_get(st, write ? S_BEGIN_WRITE : S_BEGIN_READ), error_r, "begin");
}

int st_commit(struct store *st, const char **error_r)
{
    return st_exec1(st, st_get(st, S_COMMIT), error_r, "commit");
}

void st_rollback(struct store *st)
{
    sqlite3_step(st_get(st, S_ROLLBACK));
    sqlite3_reset(st->stmt[S_ROLLBACK]);
}

void st_copy(char *dst, size_t size, sqlite3_stmt *q, int col)
{
    const unsigned char *s = sqlite3_column_text(q, col);
    snprintf(dst, size, "%s", s != NULL ? (const char *)s : "");
}

/*
 * st_migrate - bring the schema to the newest version, one transaction per
 * step. The version is read inside the write transaction, so that two
 * programs starting at once (opesd and opesctl) never apply a step twice.
 */
static int st_migrate(struct store *st, const char **error_r)
{
    for (;;) {
        char *msg = NULL, pragma[64];
        int version;

        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
            goto fail;
        version = store_schema_version(st);
        if (version < 0 || version > (int)store_migration_count) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return st_fail(st, error_r,
                           "database schema version %d is not one this program knows "
                           "(newest %zu)",
                           version, store_migration_count);
        }
        if (version == (int)store_migration_count)
            return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK
                       ? 0
                       : st_dbfail(st, error_r, "commit");
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        if (sqlite3_exec(st->db, store_migrations[version], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
            goto fail;
        continue;
    fail:
        st_fail(st, error_r, "migration: %s", msg != NULL ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
}

struct keys *st_keys(struct store *st)
{
    struct stat sb;
    const char *error;
    struct keys *k;
    int64_t now = st_now();

    if (now == st->key_checked)
        return st->keys;
    st->key_checked = now;
    if (stat(st->key_path, &sb) < 0 ||
        (sb.st_ino == st->key_stat.st_ino && sb.st_size == st->key_stat.st_size &&
         sb.st_mtim.tv_sec == st->key_stat.st_mtim.tv_sec &&
         sb.st_mtim.tv_nsec == st->key_stat.st_mtim.tv_nsec))
        return st->keys;
    k = keys_load(st->key_path, &error);
    if (k == NULL) {
        log_warnx("key file %s changed but cannot be read, keeping the keys in use: %s",
                  st->key_path, error);
        return st->keys;
    }
    keys_free(&st->keys);
    st->keys = k;
    st->key_stat = sb;
    return st->keys;
}

const struct keys *store_keys(const struct store *st)
{
    /* a refresh of a cache, not a change of the store: the cast is safe */
    return st_keys((struct store *)st);
}

int store_schema_version(struct store *st)
{
    sqlite3_stmt *q;
    int v = -1;

    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
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

struct store *store_open(const char *path, const char *key_path, const char **error_r)
{
    static _Thread_local char err[512];
    struct store *st = calloc(1, sizeof(*st));
    char *msg = NULL;
    mode_t old;

    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, st_global_config);
    if (st == NULL) {
        *error_r = "out of memory";
        return NULL;
    }
    st->keys = keys_load(key_path, error_r);
    if (st->keys == NULL || (st->key_path = strdup(key_path)) == NULL) {
        keys_free(&st->keys);
        free(st);
        return NULL;
    }
    stat(key_path, &st->key_stat);
    st->key_checked = st_now();
    old = umask(077); /* the database and its WAL are private */
    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    umask(old);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(st->db, 60000);
    /* switching a new file to WAL does not wait on the busy handler: retry it */
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg);
        if (rc != SQLITE_BUSY || tries == 6000)
            break;
        sqlite3_free(msg);
        msg = NULL;
        sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK || sqlite3_exec(st->db,
                                        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                                        "PRAGMA secure_delete = ON; PRAGMA cache_size = -512;",
                                        NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (st_migrate(st, error_r) < 0) {
        snprintf(err, sizeof(err), "%s: %s", path, *error_r);
        *error_r = err;
        store_close(&st);
        return NULL;
    }
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK)
            goto fail;
    return st;
fail:
    snprintf(err, sizeof(err), "%s: %s", path,
             msg != NULL      ? msg
             : st->db != NULL ? sqlite3_errmsg(st->db)
                              : "cannot open");
    sqlite3_free(msg);
    *error_r = err;
    store_close(&st);
    return NULL;
}

void store_close(struct store **stp)
{
    struct store *st = *stp;

    *stp = NULL;
    if (st == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (size_t i = 0; i < st->nprep; i++)
        sqlite3_finalize(st->prep[i].q);
    sqlite3_close(st->db);
    keys_free(&st->keys);
    free(st->key_path);
    free(st);
}

int store_integrity_check(struct store *st, const char **error_r)
{
    sqlite3_stmt *q;
    int ok = 0;

    if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK)
        return st_dbfail(st, error_r, "integrity_check");
    if (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *r = sqlite3_column_text(q, 0);
        ok = r != NULL && strcmp((const char *)r, "ok") == 0;
        if (!ok)
            st_fail(st, error_r, "integrity_check: %s", r != NULL ? (const char *)r : "?");
    } else {
        st_dbfail(st, error_r, "integrity_check");
    }
    sqlite3_finalize(q);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------ content */

/* st_public_id - 20 random base32 characters (100 bits). */
static void st_public_id(char id[STORE_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char raw[STORE_ID_LEN];

    randombytes_buf(raw, sizeof(raw));
    for (int i = 0; i < STORE_ID_LEN; i++)
        id[i] = alphabet[raw[i] & 31];
    id[STORE_ID_LEN] = '\0';
}

/* st_hash - keyed hash and size of the reader's content (first pass). */
static int st_hash(struct store *st, const struct store_reader *r, unsigned char *hash,
                   uint64_t *size, unsigned char *buf, const char **error_r)
{
    struct content_hash h;
    ssize_t n;

    content_hash_init(&h, keys_mac(st->keys, keys_current(st->keys)));
    *size = 0;
    if (r->rewind(r->ctx) < 0)
        return st_fail(st, error_r, "cannot read the message");
    while ((n = r->read(r->ctx, buf, CONTENT_CHUNK)) > 0) {
        content_hash_update(&h, buf, (size_t)n);
        *size += (uint64_t)n;
    }
    content_hash_final(&h, hash);
    return n < 0 ? st_fail(st, error_r, "cannot read the message") : 0;
}

/* st_content_store - encrypt the reader's content into a new content row (second pass). */
static int st_content_store(struct store *st, const struct store_reader *r,
                            const unsigned char *hash, uint64_t size, unsigned char *buf,
                            int64_t *content_id, const char **error_r)
{
    uint32_t kid = keys_current(st->keys);
    unsigned char header[CONTENT_HEADER_LEN], *cbuf = malloc(CONTENT_CHUNK + CONTENT_ABYTES);
    struct content_enc enc;
    sqlite3_stmt *q;
    int64_t seq = 0;
    uint64_t done = 0;
    int rc = -1;

    if (cbuf == NULL)
        return st_fail(st, error_r, "out of memory");
    content_enc_init(&enc, keys_storage(st->keys, kid), header);
    q = st_get(st, S_CONTENT_INSERT);
    sqlite3_bind_blob(q, 1, hash, CONTENT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, kid);
    sqlite3_bind_int64(q, 3, (int64_t)size);
    sqlite3_bind_blob(q, 4, header, sizeof(header), SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, st_now());
    if (st_exec1(st, q, error_r, "content insert") < 0)
        goto out;
    *content_id = sqlite3_last_insert_rowid(st->db);
    if (r->rewind(r->ctx) < 0) {
        st_fail(st, error_r, "cannot read the message");
        goto out;
    }
    do {
        size_t len = 0;
        ssize_t n;
        /* fill a whole chunk so that chunk boundaries do not depend on the reader */
        while (len < CONTENT_CHUNK && (n = r->read(r->ctx, buf + len, CONTENT_CHUNK - len)) > 0)
            len += (size_t)n;
        done += len;
        if (done > size || (len < CONTENT_CHUNK && done != size)) {
            st_fail(st, error_r, "the message changed while it was stored");
            goto out;
        }
        content_enc_chunk(&enc, buf, len, done == size, cbuf);
        q = st_get(st, S_CHUNK_INSERT);
        sqlite3_bind_int64(q, 1, *content_id);
        sqlite3_bind_int64(q, 2, seq++);
        sqlite3_bind_blob(q, 3, cbuf, (int)(len + CONTENT_ABYTES), SQLITE_STATIC);
        if (st_exec1(st, q, error_r, "chunk insert") < 0)
            goto out;
    } while (done < size);
    rc = 0;
out:
    sodium_memzero(&enc, sizeof(enc));
    free(cbuf);
    return rc;
}

/* st_content_find_or_store - the content row for this content, shared when it exists. */
static int st_content_find_or_store(struct store *st, const struct store_reader *r,
                                    const unsigned char *hash, uint64_t size, unsigned char *buf,
                                    int64_t *content_id, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_CONTENT_FIND);
    int rc;

    sqlite3_bind_blob(q, 1, hash, CONTENT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, keys_current(st->keys));
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *content_id = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        return 0;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "content lookup");
    return st_content_store(st, r, hash, size, buf, content_id, error_r);
}

static int st_q_insert(struct store *st, struct store_qitem *it, int64_t content_id, uint64_t size,
                       const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_Q_INSERT);
    int64_t now = st_now();

    st_public_id(it->id);
    it->size = size;
    it->status = STORE_HELD;
    it->created = it->updated = now;
    st_text(q, 1, it->id);
    sqlite3_bind_int64(q, 2, content_id);
    st_text(q, 3, it->trace_id);
    st_text(q, 4, it->sender);
    st_text(q, 5, it->recipient);
    st_text(q, 6, it->subject);
    st_text(q, 7, it->date);
    sqlite3_bind_int64(q, 8, (int64_t)size);
    st_text(q, 9, it->service);
    st_text(q, 10, it->reason);
    sqlite3_bind_int64(q, 11, now);
    sqlite3_bind_int64(q, 12, now);
    return st_exec1(st, q, error_r, "quarantine insert");
}

int store_quarantine_add(struct store *st, struct store_qitem *items, size_t n,
                         const struct store_reader *r, const char **error_r)
{
    unsigned char hash[CONTENT_HASH_LEN], *buf = malloc(CONTENT_CHUNK);
    uint64_t size;
    int64_t content_id = 0;
    int rc = -1;

    st_keys(st); /* a rotated key file: new content under the newest key */
    if (buf == NULL)
        return st_fail(st, error_r, "out of memory");
    if (st_hash(st, r, hash, &size, buf, error_r) < 0 || st_begin(st, true, error_r) < 0)
        goto out;
    if (st_content_find_or_store(st, r, hash, size, buf, &content_id, error_r) < 0)
        goto rollback;
    for (size_t i = 0; i < n; i++)
        if (st_q_insert(st, &items[i], content_id, size, error_r) < 0)
            goto rollback;
    if (st_commit(st, error_r) < 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    st_rollback(st);
out:
    free(buf);
    return rc;
}

void st_q_row(sqlite3_stmt *q, struct store_qitem *it)
{
    st_copy(it->id, sizeof(it->id), q, 0);
    st_copy(it->trace_id, sizeof(it->trace_id), q, 1);
    st_copy(it->sender, sizeof(it->sender), q, 2);
    st_copy(it->recipient, sizeof(it->recipient), q, 3);
    st_copy(it->subject, sizeof(it->subject), q, 4);
    st_copy(it->date, sizeof(it->date), q, 5);
    it->size = (uint64_t)sqlite3_column_int64(q, 6);
    st_copy(it->service, sizeof(it->service), q, 7);
    st_copy(it->reason, sizeof(it->reason), q, 8);
    it->status = qstatus_parse((const char *)sqlite3_column_text(q, 9));
    it->created = sqlite3_column_int64(q, 10);
    it->updated = sqlite3_column_int64(q, 11);
}

int store_quarantine_get(struct store *st, const char *id, struct store_qitem *item,
                         const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_Q_GET);
    int rc;

    st_text(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        st_q_row(q, item);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : st_dbfail(st, error_r, "quarantine get");
}

int st_q_list(struct store *st, sqlite3_stmt *q, const struct store_qfilter *f,
              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
              const char **error_r)
{
    char like[600] = "";
    size_t o = 0;
    int rc;

    if (f->search != NULL && *f->search != '\0') {
        like[o++] = '%';
        for (const char *p = f->search; *p != '\0' && o < sizeof(like) - 3; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                like[o++] = '\\';
            like[o++] = *p;
        }
        like[o++] = '%';
        like[o] = '\0';
    }
    st_text(q, 1, f->recipient);
    st_text(q, 2, f->status >= 0 ? store_qstatus_name((enum store_qstatus)f->status) : "");
    st_text(q, 3, like);
    sqlite3_bind_int64(q, 4, f->limit != 0 ? (int64_t)f->limit : 50);
    sqlite3_bind_int64(q, 5, (int64_t)f->offset);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_qitem it;
        st_q_row(q, &it);
        fn(&it, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "quarantine list");
}

int store_quarantine_list(struct store *st, const struct store_qfilter *f,
                          void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                          const char **error_r)
{
    return st_q_list(st, st_get(st, f->recipient != NULL ? S_Q_LIST_RCPT : S_Q_LIST_ALL), f, fn,
                     ctx, error_r);
}

int store_quarantine_set_status(struct store *st, const char *id, enum store_qstatus status,
                                const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_Q_SET_STATUS);

    st_text(q, 1, store_qstatus_name(status));
    sqlite3_bind_int64(q, 2, st_now());
    st_text(q, 3, id);
    if (st_exec1(st, q, error_r, "quarantine status") < 0)
        return -1;
    return sqlite3_changes(st->db) > 0 ? 0 : STORE_NOTFOUND;
}

/* st_content_read - decrypt every chunk of content_id in order into write. */
static int st_content_read(struct store *st, int64_t content_id, uint32_t kid,
                           const unsigned char *header,
                           int (*write)(void *ctx, const void *buf, size_t len), void *ctx,
                           const char **error_r)
{
    const unsigned char *key = keys_storage(st_keys(st), kid);
    unsigned char *plain = malloc(CONTENT_CHUNK);
    struct content_dec dec;
    sqlite3_stmt *q;
    int rc, result = -1;

    if (plain == NULL)
        return st_fail(st, error_r, "out of memory");
    if (key == NULL || content_dec_init(&dec, key, header) < 0) {
        free(plain);
        return st_fail(st, error_r, "content key %u is not in the key file", kid);
    }
    q = st_get(st, S_CHUNKS);
    sqlite3_bind_int64(q, 1, content_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t len;
        if (content_dec_chunk(&dec, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
                              plain, &len) < 0) {
            st_fail(st, error_r, "content does not decrypt: damaged or tampered with");
            goto out;
        }
        if (write(ctx, plain, len) < 0) {
            st_fail(st, error_r, "cannot write the content out");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        st_dbfail(st, error_r, "content read");
    else if (!dec.final_seen)
        st_fail(st, error_r, "content is truncated");
    else
        result = 0;
out:
    sqlite3_reset(q);
    sodium_memzero(plain, CONTENT_CHUNK);
    free(plain);
    return result;
}

int store_quarantine_content(struct store *st, const char *id,
                             int (*write)(void *ctx, const void *buf, size_t len), void *ctx,
                             const char **error_r)
{
    sqlite3_stmt *q;
    unsigned char header[CONTENT_HEADER_LEN];
    int64_t content_id;
    uint32_t kid;
    int rc;

    if (st_begin(st, false, error_r) < 0)
        return -1;
    q = st_get(st, S_CONTENT_OF);
    st_text(q, 1, id);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(q, 2) != CONTENT_HEADER_LEN) {
        sqlite3_reset(q);
        st_rollback(st);
        if (rc == SQLITE_DONE)
            return STORE_NOTFOUND;
        return rc == SQLITE_ROW ? st_fail(st, error_r, "content header damaged")
                                : st_dbfail(st, error_r, "content lookup");
    }
    content_id = sqlite3_column_int64(q, 0);
    kid = (uint32_t)sqlite3_column_int64(q, 1);
    memcpy(header, sqlite3_column_blob(q, 2), CONTENT_HEADER_LEN);
    sqlite3_reset(q);
    rc = st_content_read(st, content_id, kid, header, write, ctx, error_r);
    st_rollback(st); /* read-only: nothing to keep */
    return rc;
}

/* ------------------------------------------------------------ trace */

static int st_trace_insert(struct store *st, const struct store_trace *t, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_TRACE_INSERT);

    st_text(q, 1, t->trace_id);
    st_text(q, 2, t->recipient);
    st_text(q, 3, t->event);
    st_text(q, 4, t->service);
    st_text(q, 5, t->verdict);
    st_text(q, 6, t->detail);
    sqlite3_bind_int64(q, 7, t->duration_ms);
    sqlite3_bind_int64(q, 8, t->at != 0 ? t->at : st_now());
    return st_exec1(st, q, error_r, "trace insert");
}

int store_trace_add(struct store *st, const struct store_trace *t, const char **error_r)
{
    return st_trace_insert(st, t, error_r);
}

int store_trace_add_many(struct store *st, const struct store_trace *t, size_t n,
                         const char **error_r)
{
    int rc = -1;

    if (n == 0)
        return 0;
    if (st_exec1(st, st_get(st, S_SYNC_NORMAL), error_r, "synchronous") < 0)
        return -1;
    if (st_begin(st, true, error_r) == 0) {
        size_t i;
        for (i = 0; i < n && st_trace_insert(st, &t[i], error_r) == 0; i++)
            ;
        if (i == n && st_commit(st, error_r) == 0)
            rc = 0;
        else
            st_rollback(st);
    }
    /* everything else this connection commits stays synced */
    if (st_exec1(st, st_get(st, S_SYNC_FULL), error_r, "synchronous") < 0)
        rc = -1;
    return rc;
}

int store_trace_list(struct store *st, const char *trace_id,
                     void (*fn)(const struct store_trace *t, void *ctx), void *ctx,
                     const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_TRACE_LIST);
    int rc;

    st_text(q, 1, trace_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_trace t;
        st_copy(t.trace_id, sizeof(t.trace_id), q, 0);
        st_copy(t.recipient, sizeof(t.recipient), q, 1);
        st_copy(t.event, sizeof(t.event), q, 2);
        st_copy(t.service, sizeof(t.service), q, 3);
        st_copy(t.verdict, sizeof(t.verdict), q, 4);
        st_copy(t.detail, sizeof(t.detail), q, 5);
        t.duration_ms = sqlite3_column_int64(q, 6);
        t.at = sqlite3_column_int64(q, 7);
        fn(&t, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "trace list");
}

/* ------------------------------------------------------------ lists */

/* st_lower - lower-cased copy (list entries and lookups compare case-insensitively). */
static void st_lower(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static int st_list_insert(struct store *st, const struct store_list_entry *e, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_LIST_UPSERT);
    char owner[257], sender[257];

    st_lower(owner, sizeof(owner), e->owner);
    st_lower(sender, sizeof(sender), e->sender);
    st_text(q, 1, e->kind == STORE_WHITELIST ? "white" : "block");
    st_text(q, 2, owner);
    st_text(q, 3, sender);
    st_text(q, 4, e->created_by);
    st_text(q, 5, e->origin);
    sqlite3_bind_int64(q, 6, e->expires);
    sqlite3_bind_int64(q, 7, st_now());
    return st_exec1(st, q, error_r, "list insert");
}

int store_list_add(struct store *st, const struct store_list_entry *e, const char **error_r)
{
    return st_list_insert(st, e, error_r);
}

int store_list_remove(struct store *st, int64_t id, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_LIST_DELETE);

    sqlite3_bind_int64(q, 1, id);
    if (st_exec1(st, q, error_r, "list delete") < 0)
        return -1;
    return sqlite3_changes(st->db) > 0 ? 0 : STORE_NOTFOUND;
}

int store_list_show(struct store *st, const char *owner,
                    void (*fn)(const struct store_list_entry *e, void *ctx), void *ctx,
                    const char **error_r)
{
    sqlite3_stmt *q = st_get(st, owner != NULL ? S_LIST_SHOW_OWNER : S_LIST_SHOW_ALL);
    char low[257];
    int rc;

    if (owner != NULL) {
        st_lower(low, sizeof(low), owner);
        st_text(q, 1, low);
    }
    sqlite3_bind_int64(q, 2, st_now());
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_list_entry e;
        e.id = sqlite3_column_int64(q, 0);
        e.kind = strcmp((const char *)sqlite3_column_text(q, 1), "white") == 0 ? STORE_WHITELIST
                                                                               : STORE_BLOCKLIST;
        st_copy(e.owner, sizeof(e.owner), q, 2);
        st_copy(e.sender, sizeof(e.sender), q, 3);
        st_copy(e.created_by, sizeof(e.created_by), q, 4);
        st_copy(e.origin, sizeof(e.origin), q, 5);
        e.expires = sqlite3_column_int64(q, 6);
        e.created = sqlite3_column_int64(q, 7);
        fn(&e, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "list show");
}

/* st_domain_key - "@domain" of an address (lower-cased). */
static void st_domain_key(char *dst, size_t size, const char *addr)
{
    const char *at = strrchr(addr, '@');
    st_lower(dst, size, at != NULL ? at : "@");
}

int store_list_match(struct store *st, enum store_list_kind kind, const char *recipient,
                     const char *sender, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_LIST_MATCH);
    char r[257], rd[257], s[257], sd[257];
    int rc;

    st_lower(r, sizeof(r), recipient);
    st_domain_key(rd, sizeof(rd), recipient);
    st_lower(s, sizeof(s), sender);
    st_domain_key(sd, sizeof(sd), sender);
    st_text(q, 1, kind == STORE_WHITELIST ? "white" : "block");
    st_text(q, 2, r);
    st_text(q, 3, rd);
    st_text(q, 4, s);
    st_text(q, 5, sd);
    sqlite3_bind_int64(q, 6, st_now());
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "list match");
}

/* ------------------------------------------------------------ users */

int store_user_add(struct store *st, const char *address, enum store_role role,
                   const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_USER_UPSERT);
    char low[257];

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    st_text(q, 2, role == STORE_ROLE_ADMIN ? "admin" : "user");
    sqlite3_bind_int64(q, 3, st_now());
    return st_exec1(st, q, error_r, "user add");
}

static void st_user_row(sqlite3_stmt *q, struct store_user *u)
{
    st_copy(u->address, sizeof(u->address), q, 0);
    u->role = strcmp((const char *)sqlite3_column_text(q, 1), "admin") == 0 ? STORE_ROLE_ADMIN
                                                                            : STORE_ROLE_USER;
    u->has_password = sqlite3_column_int(q, 2) != 0;
    st_copy(u->notify_mode, sizeof(u->notify_mode), q, 3);
    u->created = sqlite3_column_int64(q, 4);
}

int store_user_get(struct store *st, const char *address, struct store_user *u,
                   const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_USER_GET);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        st_user_row(q, u);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : st_dbfail(st, error_r, "user get");
}

int store_user_list(struct store *st, void (*fn)(const struct store_user *u, void *ctx), void *ctx,
                    const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_USER_LIST);
    int rc;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_user u;
        st_user_row(q, &u);
        fn(&u, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "user list");
}

int store_user_set_password(struct store *st, const char *address, const char *password,
                            const char **error_r)
{
    char hash[crypto_pwhash_STRBYTES], low[257];
    sqlite3_stmt *q;

    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return st_fail(st, error_r, "password hashing ran out of memory");
    st_lower(low, sizeof(low), address);
    q = st_get(st, S_USER_SET_PW);
    st_text(q, 1, hash);
    st_text(q, 2, low);
    if (st_exec1(st, q, error_r, "user password") < 0)
        return -1;
    return sqlite3_changes(st->db) > 0 ? 0 : STORE_NOTFOUND;
}

int store_user_consent(struct store *st, const char *address, const char *service,
                       const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_CONSENT_GET);
    char low[257];
    int rc, v = -1;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    st_text(q, 2, service);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int(q, 0) != 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        st_dbfail(st, error_r, "consent");
    return v;
}

int store_user_set_consent(struct store *st, const char *address, const char *service, bool allowed,
                           const char **error_r)
{
    sqlite3_stmt *q;
    char low[257];

    st_lower(low, sizeof(low), address);
    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_get(st, S_USER_ENSURE);
    st_text(q, 1, low);
    sqlite3_bind_int64(q, 2, st_now());
    if (st_exec1(st, q, error_r, "user") < 0)
        goto fail;
    q = st_get(st, S_CONSENT_SET);
    st_text(q, 1, low);
    st_text(q, 2, service);
    sqlite3_bind_int(q, 3, allowed);
    sqlite3_bind_int64(q, 4, st_now());
    if (st_exec1(st, q, error_r, "consent") < 0 || st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_user_check_password(struct store *st, const char *address, const char *password,
                              const char **error_r)
{
    static const char dummy[] = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    sqlite3_stmt *q = st_get(st, S_USER_GET_PW);
    char hash[crypto_pwhash_STRBYTES] = "", low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        st_copy(hash, sizeof(hash), q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "user password");
    /* the same work whether or not the user exists: no timing oracle */
    rc = crypto_pwhash_str_verify(hash[0] ? hash : dummy, password, strlen(password)) == 0;
    return hash[0] ? rc : 0;
}

int store_list_lookup(struct store *st, const char *recipient, const char *sender, bool *white,
                      bool *black, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_LIST_LOOKUP);
    char r[257], rd[257], s[257], sd[257];
    int rc;

    *white = *black = false;
    st_lower(r, sizeof(r), recipient);
    st_domain_key(rd, sizeof(rd), recipient);
    st_lower(s, sizeof(s), sender);
    st_domain_key(sd, sizeof(sd), sender);
    st_text(q, 1, r);
    st_text(q, 2, rd);
    st_text(q, 3, s);
    st_text(q, 4, sd);
    sqlite3_bind_int64(q, 5, st_now());
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (strcmp((const char *)sqlite3_column_text(q, 0), "white") == 0)
            *white = true;
        else
            *black = true;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        *white = *black = false;
        return st_dbfail(st, error_r, "list lookup");
    }
    return 0;
}

/* ------------------------------------------------------------ audit */

static int st_audit_insert(struct store *st, const char *actor, const char *action,
                           const char *object, const char *origin, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_AUDIT_INSERT);

    sqlite3_bind_int64(q, 1, st_now());
    st_text(q, 2, actor);
    st_text(q, 3, action);
    st_text(q, 4, object);
    st_text(q, 5, origin);
    return st_exec1(st, q, error_r, "audit insert");
}

int store_audit(struct store *st, const char *actor, const char *action, const char *object,
                const char *origin, const char **error_r)
{
    return st_audit_insert(st, actor, action, object, origin, error_r);
}

int store_audit_list(struct store *st, size_t limit,
                     void (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx,
                     const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_AUDIT_LIST);
    int rc;

    sqlite3_bind_int64(q, 1, limit ? (int64_t)limit : 100);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_audit_entry e;
        e.at = sqlite3_column_int64(q, 0);
        st_copy(e.actor, sizeof(e.actor), q, 1);
        st_copy(e.action, sizeof(e.action), q, 2);
        st_copy(e.object, sizeof(e.object), q, 3);
        st_copy(e.origin, sizeof(e.origin), q, 4);
        fn(&e, ctx);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : st_dbfail(st, error_r, "audit list");
}

/* ------------------------------------------------------------ releases */

int store_release_request(struct store *st, const struct store_release *r, const char **error_r)
{
    sqlite3_stmt *q;
    int rc;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_get(st, S_REL_PENDING);
    st_text(q, 1, r->item_id);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW) /* already asked for: one request is enough */
        return st_commit(st, error_r);
    q = st_get(st, S_REL_INSERT);
    st_text(q, 1, r->requested_by);
    st_text(q, 2, r->origin);
    st_text(q, 3, r->whitelist);
    st_text(q, 4, r->item_id);
    sqlite3_bind_int64(q, 5, st_now());
    if (st_exec1(st, q, error_r, "release request") < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        st_rollback(st);
        return STORE_NOTFOUND; /* no such item, or not held any more */
    }
    if (st_audit_insert(st, r->requested_by, "release-request", r->item_id, r->origin, error_r) <
            0 ||
        st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_release_next(struct store *st, struct store_release *r, const char **error_r)
{
    sqlite3_stmt *q;
    int64_t now = st_now();
    int rc;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_get(st, S_REL_NEXT);
    sqlite3_bind_int64(q, 1, now);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        st_rollback(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : st_dbfail(st, error_r, "release next");
    }
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(q, 0);
    st_copy(r->item_id, sizeof(r->item_id), q, 1);
    st_copy(r->requested_by, sizeof(r->requested_by), q, 2);
    st_copy(r->origin, sizeof(r->origin), q, 3);
    st_copy(r->whitelist, sizeof(r->whitelist), q, 4);
    r->attempts = sqlite3_column_int(q, 5) + 1;
    st_copy(r->last_error, sizeof(r->last_error), q, 6);
    sqlite3_reset(q);
    q = st_get(st, S_REL_LEASE); /* a lease: if this worker dies, the request comes back */
    sqlite3_bind_int64(q, 1, now + 600);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, r->id);
    if (st_exec1(st, q, error_r, "release lease") < 0 || st_commit(st, error_r) < 0) {
        st_rollback(st);
        return -1;
    }
    return 0;
}

int store_release_done(struct store *st, const struct store_release *r, const char **error_r)
{
    struct store_qitem it;
    struct store_trace t = {.at = 0};
    char object[128];
    sqlite3_stmt *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    if (store_quarantine_get(st, r->item_id, &it, error_r) != 0) {
        st_rollback(st);
        return st_fail(st, error_r, "item %s vanished", r->item_id);
    }
    if (store_quarantine_set_status(st, r->item_id, STORE_RELEASED, error_r) != 0)
        goto fail;
    if (r->whitelist[0] != '\0') {
        struct store_list_entry e = {.kind = STORE_WHITELIST};
        snprintf(e.owner, sizeof(e.owner), "%s", it.recipient);
        if (strcmp(r->whitelist, "domain") == 0)
            st_domain_key(e.sender, sizeof(e.sender), it.sender);
        else
            snprintf(e.sender, sizeof(e.sender), "%s", it.sender);
        snprintf(e.created_by, sizeof(e.created_by), "%s", r->requested_by);
        snprintf(e.origin, sizeof(e.origin), "%s", r->origin);
        if (st_list_insert(st, &e, error_r) < 0)
            goto fail;
    }
    snprintf(t.trace_id, sizeof(t.trace_id), "%s", it.trace_id);
    snprintf(t.recipient, sizeof(t.recipient), "%s", it.recipient);
    snprintf(t.event, sizeof(t.event), "release");
    snprintf(t.verdict, sizeof(t.verdict), "released");
    snprintf(t.detail, sizeof(t.detail), "released by %s via %s%s%s", r->requested_by, r->origin,
             r->whitelist[0] ? ", sender whitelisted by " : "", r->whitelist);
    snprintf(object, sizeof(object), "quarantine:%s", r->item_id);
    q = st_get(st, S_REL_DONE);
    sqlite3_bind_int64(q, 1, st_now());
    sqlite3_bind_int64(q, 2, r->id);
    if (st_trace_insert(st, &t, error_r) < 0 ||
        st_audit_insert(st, r->requested_by, "release", object, r->origin, error_r) < 0 ||
        st_exec1(st, q, error_r, "release done") < 0 || st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_release_failed(struct store *st, const struct store_release *r, bool permanent,
                         const char *why, int64_t retry_after_s, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_REL_FAIL);
    int64_t now = st_now();

    st_text(q, 1, permanent ? "failed" : "pending");
    sqlite3_bind_int64(q, 2, now + retry_after_s);
    st_text(q, 3, why);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, r->id);
    return st_exec1(st, q, error_r, "release failed");
}

int store_release_state(struct store *st, const char *item_id, char *state, size_t size,
                        char *last_error, size_t esize, const char **error_r)
{
    sqlite3_stmt *q = st_get(st, S_REL_STATE);
    int rc;

    st_text(q, 1, item_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st_copy(state, size, q, 0);
        st_copy(last_error, esize, q, 1);
    }
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : st_dbfail(st, error_r, "release state");
}

/* ------------------------------------------------------------ retention */

int store_purge(struct store *st, unsigned retention_days, size_t *expired_r, size_t *removed_r,
                const char **error_r)
{
    int64_t now = st_now(), cutoff = now - (int64_t)retention_days * 86400;
    size_t expired, removed;
    sqlite3_stmt *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_get(st, S_PURGE_EXPIRE);
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, cutoff);
    if (st_exec1(st, q, error_r, "purge expire") < 0)
        goto fail;
    expired = (size_t)sqlite3_changes(st->db);
    if (st_exec1(st, st_get(st, S_PURGE_DETACH), error_r, "purge detach") < 0)
        goto fail;
    q = st_get(st, S_PURGE_DELETE_Q);
    sqlite3_bind_int64(q, 1, cutoff);
    if (st_exec1(st, q, error_r, "purge entries") < 0)
        goto fail;
    removed = (size_t)sqlite3_changes(st->db);
    if (st_exec1(st, st_get(st, S_PURGE_CONTENT), error_r, "purge content") < 0)
        goto fail;
    q = st_get(st, S_PURGE_TRACE);
    sqlite3_bind_int64(q, 1, cutoff);
    if (st_exec1(st, q, error_r, "purge trace") < 0)
        goto fail;
    q = st_get(st, S_PURGE_LIST);
    sqlite3_bind_int64(q, 1, now);
    if (st_exec1(st, q, error_r, "purge lists") < 0 || store_token_purge(st, error_r) < 0 ||
        store_request_purge(st, error_r) < 0 || st_commit(st, error_r) < 0)
        goto fail;
    if (expired_r != NULL)
        *expired_r = expired;
    if (removed_r != NULL)
        *removed_r = removed;
    return 0;
fail:
    st_rollback(st);
    return -1;
}
