/*
 * store_copy.c - copy one store into another, empty one (opesctl store copy:
 * a site moving from one SQLite node to several on PostgreSQL).
 *
 * Every table that carries state is read row by row and written with its ids
 * as they are, in one write transaction on the target: a failure leaves the
 * target as it was. The tables are walked generically (the columns of each
 * row, their names and types, through the backends' ad hoc statements) rather
 * than by one statement pair per table in enum st_stmt: a column added by a
 * later schema step is copied without anyone remembering to, and both
 * backends' schemas name their tables and columns alike. Content and its
 * chunks move as they are, still encrypted with the same key file; the
 * delivery ledger moves too, so that a retry the MTA still holds finds it. Job leases
 * (claim) are not copied: they belong to running processes.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* the tables copied, parents before the rows that refer to them; ids: the
 * table has a generated id whose sequence must move past the copied ones;
 * guard: a row here in the target means it is not empty */
static const struct {
    const char *name;
    bool ids, guard;
} copy_tables[] = {
    {"content", true, false},
    {"content_chunk", false, false},
    {"quarantine", true, true},
    {"trace", true, false},
    {"list", true, true},
    {"user", false, true},
    {"user_consent", false, false},
    {"user_spam", false, false},
    {"web_session", false, false},
    {"token_used", false, false},
    {"release_request", true, false},
    {"digest", true, false},
    {"notification", false, false},
    {"notify_meta", false, false},
    {"audit", true, true},
    {"login_request", true, false},
    {"rate_limit", false, false},
    {"api_token", true, false},
    {"learned", true, false},
    {"ledger", false, false},
    {"user_domain", false, false},
    {"delegate", false, false},
    {"approval", true, false},
};

#define COPY_SQL_MAX 2048

/* copy_count - the rows of table in st into *n; 0 or -1. */
static int copy_count(struct store *st, const char *table, int64_t *n, const char **error_r)
{
    const struct st_backend *be = st->db->be;
    char sql[128];
    struct st_q *q;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM \"%s\"", table);
    q = be->prepare(st, sql);
    rc = be->step(st, q, error_r, table);
    if (rc == 1) {
        *n = be->col_int(q, 0);
        be->reset(q);
        rc = 0;
    } else if (rc == 0) {
        rc = st_fail(st, error_r, "%s: no count", table);
    }
    be->finalize(q);
    return rc;
}

/* copy_insert_sql - INSERT INTO table with the columns of src's current row. */
static int copy_insert_sql(struct st_q *src, const char *table, char *sql, size_t size)
{
    const struct st_backend *be = src->be;
    int ncol = be->col_count(src);
    size_t len = (size_t)snprintf(sql, size, "INSERT INTO \"%s\" (", table);

    for (int i = 0; i < ncol && len < size; i++)
        len += (size_t)snprintf(sql + len, size - len, "%s\"%s\"", i > 0 ? ", " : "",
                                be->col_name(src, i));
    for (int i = 0; i < ncol && len < size; i++)
        len += (size_t)snprintf(sql + len, size - len, "%s?%d", i > 0 ? ", " : ") VALUES (", i + 1);
    if (len < size)
        len += (size_t)snprintf(sql + len, size - len, ")");
    return len < size ? 0 : -1;
}

/* copy_bind - the current row of src as the parameters of ins. */
static void copy_bind(struct st_q *src, struct st_q *ins)
{
    const struct st_backend *be = src->be;
    int ncol = be->col_count(src);
    size_t len;
    const void *p;

    for (int i = 0; i < ncol; i++) {
        switch (be->col_type(src, i)) {
        case ST_NULL:
            ins->be->text(ins, i + 1, NULL);
            break;
        case ST_INT:
            ins->be->int64(ins, i + 1, be->col_int(src, i));
            break;
        case ST_BLOB:
            p = be->col_blob(src, i, &len);
            ins->be->blob(ins, i + 1, p, len);
            break;
        default:
            ins->be->text(ins, i + 1, be->col_text(src, i));
            break;
        }
    }
}

/* copy_table - every row of table from src into dst; the rows written in *n. */
static int copy_table(struct store *src, struct store *dst, const char *table, int64_t *n,
                      const char **error_r)
{
    const struct st_backend *be = src->db->be;
    char sql[COPY_SQL_MAX];
    struct st_q *sel, *ins = NULL;
    int rc;

    *n = 0;
    snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", table);
    sel = be->prepare(src, sql);
    while ((rc = be->step(src, sel, error_r, table)) == 1) {
        if (ins == NULL) {
            if (copy_insert_sql(sel, table, sql, sizeof(sql)) < 0) {
                rc = st_fail(dst, error_r, "%s: too many columns", table);
                break;
            }
            if ((ins = dst->db->be->prepare(dst, sql)) == NULL) {
                rc = st_dbfail(dst, error_r, table);
                break;
            }
        }
        copy_bind(sel, ins);
        if ((rc = st_exec1(dst, ins, error_r, table)) < 0)
            break;
        (*n)++;
    }
    if (rc != 0 && sel != NULL)
        be->reset(sel);
    if (ins != NULL)
        dst->db->be->finalize(ins);
    be->finalize(sel);
    return rc < 0 ? -1 : 0;
}

/* copy_empty - 0 when dst holds no entries, users, lists or audit lines. */
static int copy_empty(struct store *dst, const char **error_r)
{
    for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]); i++) {
        int64_t n;

        if (!copy_tables[i].guard)
            continue;
        if (copy_count(dst, copy_tables[i].name, &n, error_r) < 0)
            return -1;
        if (n > 0)
            return st_fail(dst, error_r,
                           "the target store is not empty (%s has %lld rows): copy only into "
                           "a new database",
                           copy_tables[i].name, (long long)n);
    }
    return 0;
}

/* copy_all - copy_tables from src into dst, inside dst's write transaction,
 * then compare the counts of each table. */
static int copy_all(struct store *src, struct store *dst, store_copy_fn *fn, void *ctx,
                    const char **error_r)
{
    int bad = 0;

    if (copy_empty(dst, error_r) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]); i++) {
        const char *t = copy_tables[i].name;
        int64_t n, ns, nd;

        if (copy_table(src, dst, t, &n, error_r) < 0)
            return -1;
        if (copy_tables[i].ids && dst->db->be->ids_past != NULL &&
            dst->db->be->ids_past(dst, t, error_r) < 0)
            return -1;
        if (copy_count(src, t, &ns, error_r) < 0 || copy_count(dst, t, &nd, error_r) < 0)
            return -1;
        if (fn != NULL)
            fn(t, ns, nd, ctx);
        if (ns != nd || n != ns)
            bad++;
    }
    if (bad > 0)
        return st_fail(dst, error_r, "%d tables differ after the copy: nothing was kept", bad);
    return 0;
}

int store_copy(struct store *src, struct store *dst, store_copy_fn *fn, void *ctx,
               const char **error_r)
{
    int rc;

    if (src == dst || src->db == NULL || dst->db == NULL)
        return st_fail(dst, error_r, "copy: two open stores are needed");
    if (st_begin(src, false, error_r) < 0)
        return -1;
    if (st_begin(dst, true, error_r) < 0) {
        st_rollback(src);
        return -1;
    }
    rc = copy_all(src, dst, fn, ctx, error_r);
    if (rc == 0)
        rc = st_commit(dst, error_r);
    else
        st_rollback(dst);
    st_rollback(src); /* the read transaction: nothing to keep */
    return rc;
}
