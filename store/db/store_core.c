/*
 * store_core.c - what every part of the store shares, whatever the backend:
 * opening and closing a store (its key file, then the backend's connection,
 * chosen by the configuration), the st_* calls dispatched to the backend, the
 * key generations kept fresh, transactions, errors and small helpers.
 */
#include "opes/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "opes/config.h"
#include "opes/keys.h"
#include "opes/log.h"
#include "store_int.h"

int st_insert_unsynced(struct store *st, st_row_fn *fn, const void *rows, size_t n,
                       const char **error_r)
{
    int rc = -1;

    if (n == 0)
        return 0;
    if (st_exec1(st, st_q(st, S_SYNC_NORMAL), error_r, "synchronous") < 0)
        return -1;
    if (st_begin(st, true, error_r) == 0) {
        size_t i;
        for (i = 0; i < n && fn(st, rows, i, error_r) == 0; i++)
            ;
        if (i == n && st_commit(st, error_r) == 0)
            rc = 0;
        else
            st_rollback(st);
    }
    /* everything else this connection commits stays synced */
    if (st_exec1(st, st_q(st, S_SYNC_FULL), error_r, "synchronous") < 0)
        rc = -1;
    return rc;
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

/* ------------------------------------------------------------ the backend's calls */

int st_db_open(struct store *st, const struct st_backend *be, const char *target,
               const char **error_r)
{
    return be->open(st, target, error_r);
}

void st_db_close(struct store *st)
{
    if (st->db != NULL)
        st->db->be->close(st);
}

struct st_q *st_q(struct store *st, enum st_stmt s)
{
    return st->db->be->q(st, s);
}

void st_text(struct st_q *q, int i, const char *s)
{
    if (q != NULL)
        q->be->text(q, i, s);
}

void st_int(struct st_q *q, int i, int64_t v)
{
    if (q != NULL)
        q->be->int64(q, i, v);
}

void st_blob(struct st_q *q, int i, const void *p, size_t len)
{
    if (q != NULL)
        q->be->blob(q, i, p, len);
}

int st_step(struct store *st, struct st_q *q, const char **error_r, const char *what)
{
    return st->db->be->step(st, q, error_r, what);
}

void st_reset(struct st_q *q)
{
    if (q != NULL)
        q->be->reset(q);
}

int st_exec1(struct store *st, struct st_q *q, const char **error_r, const char *what)
{
    int rc = st_step(st, q, error_r, what);

    if (rc > 0)
        st_reset(q);
    return rc < 0 ? -1 : 0;
}

void st_rollback(struct store *st)
{
    st->db->be->rollback(st);
}

int64_t st_col_int(struct st_q *q, int col)
{
    return q->be->col_int(q, col);
}

const char *st_col_text(struct st_q *q, int col)
{
    return q->be->col_text(q, col);
}

const void *st_col_blob(struct st_q *q, int col, size_t *len_r)
{
    return q->be->col_blob(q, col, len_r);
}

int64_t st_changes(struct store *st)
{
    return st->db->be->changes(st);
}

int64_t st_last_id(struct store *st)
{
    return st->db->be->last_id(st);
}

int st_dbfail(struct store *st, const char **error_r, const char *what)
{
    return st_fail(st, error_r, "%s: %s", what, st->db->be->errmsg(st));
}

int store_schema_version(struct store *st)
{
    return st->db->be->schema_version(st);
}

int store_integrity_check(struct store *st, const char **error_r)
{
    struct st_q *q = st_q(st, S_INTEGRITY_CHECK);
    const char *r;
    int rc = st_step(st, q, error_r, "integrity check");

    if (rc <= 0)
        return rc < 0 ? -1 : st_fail(st, error_r, "integrity check: no answer");
    r = st_col_text(q, 0);
    rc = r != NULL && strcmp(r, "ok") == 0
             ? 0
             : st_fail(st, error_r, "integrity check: %s", r != NULL ? r : "?");
    st_reset(q);
    return rc;
}

bool store_unreachable(struct store *st)
{
    return st->db->be->broken != NULL && st->db->be->broken(st);
}

/* ------------------------------------------------------------ transactions and helpers */

int st_begin(struct store *st, bool write, const char **error_r)
{
    return st_exec1(st, st_q(st, write ? S_BEGIN_WRITE : S_BEGIN_READ), error_r, "begin");
}

int st_commit(struct store *st, const char **error_r)
{
    return st_exec1(st, st_q(st, S_COMMIT), error_r, "commit");
}

int st_found(struct st_q *q, int rc)
{
    if (rc > 0) {
        st_reset(q);
        return 0;
    }
    return rc == 0 ? STORE_NOTFOUND : -1;
}

int st_lookup2(struct store *st, enum st_stmt s, const char *key, char *a, size_t asize, char *b,
               size_t bsize, const char **error_r, const char *what)
{
    struct st_q *q = st_q(st, s);
    int rc;

    st_text(q, 1, key);
    if ((rc = st_step(st, q, error_r, what)) > 0) {
        st_copy(a, asize, q, 0);
        st_copy(b, bsize, q, 1);
    }
    return st_found(q, rc);
}

int st_exec_commit(struct store *st, struct st_q *q, const char **error_r, const char *what)
{
    if (st_exec1(st, q, error_r, what) == 0 && st_commit(st, error_r) == 0)
        return 0;
    st_rollback(st);
    return -1;
}

int st_request_commit(struct store *st, struct st_q *q, const char *what, int absent_rc,
                      const char *actor, const char *action, const char *object, const char *origin,
                      const char *via, const char **error_r)
{
    if (st_exec1(st, q, error_r, what) < 0)
        goto fail;
    if (st_changes(st) == 0) {
        st_rollback(st);
        return absent_rc;
    }
    if (st_audit_insert(st, actor, action, object, origin, via, error_r) < 0 ||
        st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int st_claim(struct store *st, enum st_stmt next, enum st_stmt lease, st_claim_fn *fill, void *out,
             const char **error_r, const char *what)
{
    struct st_q *q;
    int64_t now = st_now(), id;
    int rc;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, next);
    st_int(q, 1, now);
    rc = st_step(st, q, error_r, what);
    if (rc <= 0) {
        st_rollback(st);
        return rc == 0 ? STORE_NOTFOUND : -1;
    }
    id = fill(q, out);
    st_reset(q);
    q = st_q(st, lease); /* a lease: if this worker dies, the row comes back */
    st_int(q, 1, now + ST_CLAIM_LEASE);
    st_int(q, 2, now);
    st_int(q, 3, id);
    return st_exec_commit(st, q, error_r, what);
}

int st_exec_int(struct store *st, enum st_stmt s, int64_t v, const char **error_r, const char *what)
{
    struct st_q *q = st_q(st, s);

    st_int(q, 1, v);
    return st_exec1(st, q, error_r, what);
}

void st_copy(char *dst, size_t size, struct st_q *q, int col)
{
    const char *s = st_col_text(q, col);
    snprintf(dst, size, "%s", s != NULL ? s : "");
}

void st_lower(char *dst, size_t size, const char *src)
{
    size_t i = 0;

    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
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

/* st_open - a store on backend be at target (shown as shown in errors). */
static struct store *st_open(const struct st_backend *be, const char *target, const char *shown,
                             const char *key_path, const char **error_r)
{
    static _Thread_local char err[512];
    struct store *st = calloc(1, sizeof(*st));

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
    if (st_db_open(st, be, target, error_r) < 0) {
        snprintf(err, sizeof(err), "%s: %s", shown, *error_r);
        *error_r = err;
        store_close(&st);
        return NULL;
    }
    return st;
}

struct store *store_open(const char *path, const char *key_path, const char **error_r)
{
    return st_open(&st_sqlite_backend, path, path, key_path, error_r);
}

struct store *store_open_pg(const char *conninfo, const char *key_path, const char **error_r)
{
    return st_open(&st_pg_backend, conninfo, "postgresql", key_path, error_r);
}

struct store *store_open_at(int backend, const char *target, const char *key_path,
                            const char **error_r)
{
    if (backend == CONFIG_STORE_POSTGRESQL)
        return store_open_pg(target, key_path, error_r);
    return store_open(target, key_path, error_r);
}

struct store *store_open_config(const struct opes_config *cfg, const char **error_r)
{
    return store_open_at((int)cfg->store_backend,
                         cfg->store_backend == CONFIG_STORE_POSTGRESQL ? cfg->store_conninfo
                                                                       : cfg->store_path,
                         cfg->key_file, error_r);
}

void store_close(struct store **stp)
{
    struct store *st = *stp;

    *stp = NULL;
    if (st == NULL)
        return;
    st_db_close(st);
    keys_free(&st->keys);
    free(st->key_path);
    free(st);
}
