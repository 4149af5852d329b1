/*
 * store_util.c - the runner and the helpers shared by the store's test programs.
 *
 * Every test_<name>.c defines store_suite(); this file runs it and turns the
 * number of failed tests into the exit status that CTest reads. The helpers
 * give a test a private directory (removed afterwards), feed content to the
 * store from memory, collect what it hands back, and open the database file
 * directly with sqlite3 where a test has to look under the interface (to count
 * content rows, age an entry, or damage a chunk on purpose).
 *
 * Both backends run the same tests: with OPES_TEST_PG set (the conninfo of a
 * PostgreSQL server that tests/store/pg_run.sh started for the run), every
 * database path a test names stands for a database of its own on that
 * server, created when first opened, and tu_store_open, tu_db_int and
 * tu_db_exec go there instead of to the file.
 *
 * The prototypes are repeated at the top of each test program.
 */
#include <check.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opes/store.h"

#include "store_util.h"

/* mem_reader - a store_reader over a buffer, handing out at most step bytes a call. */
struct mem_reader {
    const unsigned char *data;
    size_t len, pos, step;
    int passes;           /* rewinds seen so far */
    int fail_on_pass;     /* 0: never; n: reading fails on the nth pass */
    size_t grow_on_pass2; /* extra bytes handed out after the data on pass 2 and later */
    size_t extra_given;
    int hook_pass; /* 0: never; n: hook runs as the nth pass starts */
    void (*hook)(void);
};

/* tu_sink - collects what store_quarantine_content writes. */
struct tu_sink {
    unsigned char *buf;
    size_t len, cap;
    int calls;
    int fail_at; /* 0: never; n: the nth call fails */
};

/*
 * Every directory a test makes lives under one directory for the whole run,
 * made and removed by main(): a failed assertion ends a test's process
 * without its teardown, and nothing may be left behind all the same.
 */
static char *tu_root;

/* tu_tmpdir - a new empty directory (under $TMPDIR or /tmp); caller frees. */
char *tu_tmpdir(void)
{
    const char *base = tu_root != NULL ? tu_root : getenv("TMPDIR");
    char *path;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/opes-store-test.XXXXXX", base) < 0)
        abort();
    if (mkdtemp(path) == NULL) {
        perror(path);
        abort();
    }
    return path;
}

static int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* tu_rmtree - remove dir and everything below it. */
void tu_rmtree(const char *dir)
{
    if (dir != NULL)
        nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
    char *path;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    return path;
}

/* tu_pattern - deterministic bytes, different for every seed and offset. */
unsigned char *tu_pattern(size_t len, uint32_t seed)
{
    unsigned char *p = malloc(len + 1);
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0xbf58476d1ce4e5b9ULL);

    if (p == NULL)
        abort();
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    struct mem_reader *m = ctx;
    size_t n;

    if (m->fail_on_pass != 0 && m->passes == m->fail_on_pass)
        return -1;
    if (len > m->step)
        len = m->step;
    if (m->pos == m->len) {
        if (m->passes >= 2 && m->extra_given < m->grow_on_pass2) {
            n = m->grow_on_pass2 - m->extra_given;
            if (n > len)
                n = len;
            memset(buf, 0x55, n);
            m->extra_given += n;
            return (ssize_t)n;
        }
        return 0;
    }
    n = m->len - m->pos;
    if (n > len)
        n = len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static int mem_rewind(void *ctx)
{
    struct mem_reader *m = ctx;

    m->pos = 0;
    m->extra_given = 0;
    m->passes++;
    if (m->hook != NULL && m->passes == m->hook_pass)
        m->hook();
    return 0;
}

/* tu_reader_new - a reader over data (not copied); free() it after use. */
struct mem_reader *tu_reader_new(struct store_reader *r, const void *data, size_t len, size_t step)
{
    struct mem_reader *m = calloc(1, sizeof(*m));

    if (m == NULL)
        abort();
    m->data = data;
    m->len = len;
    m->step = step != 0 ? step : 4096;
    r->read = mem_read;
    r->rewind = mem_rewind;
    r->ctx = m;
    return m;
}

void tu_reader_fail_on_pass(struct mem_reader *m, int pass)
{
    m->fail_on_pass = pass;
}

void tu_reader_hook_on_pass(struct mem_reader *m, int pass, void (*hook)(void))
{
    m->hook_pass = pass;
    m->hook = hook;
}

void tu_reader_grow_on_pass2(struct mem_reader *m, size_t extra)
{
    m->grow_on_pass2 = extra;
}

/* tu_add - store_quarantine_add of data for items[0..n), read step bytes at a time. */
int tu_add(struct store *st, struct store_qitem *items, size_t n, const void *data, size_t len,
           size_t step, const char **error_r)
{
    struct store_reader r;
    struct mem_reader *m = tu_reader_new(&r, data, len, step);
    int rc = store_quarantine_add(st, items, n, &r, error_r);

    free(m);
    return rc;
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
    struct tu_sink *s = ctx;

    s->calls++;
    if (s->fail_at != 0 && s->calls >= s->fail_at)
        return -1;
    if (s->len + len > s->cap) {
        size_t cap = 2 * (s->len + len) + 1;
        unsigned char *nb = realloc(s->buf, cap);
        if (nb == NULL)
            return -1;
        s->buf = nb;
        s->cap = cap;
    }
    if (len != 0)
        memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

/*
 * tu_content - store_quarantine_content of id into a new buffer (*data_r, to
 * free; set even when the call fails, holding what was written before).
 */
int tu_content(struct store *st, const char *id, unsigned char **data_r, size_t *len_r,
               const char **error_r)
{
    struct tu_sink s = {.buf = malloc(1), .cap = 1};
    int rc;

    if (s.buf == NULL)
        abort();
    rc = store_quarantine_content(st, id, sink_write, &s, error_r);
    *data_r = s.buf;
    *len_r = s.len;
    return rc;
}

/* tu_content_fail_at - store_quarantine_content with a writer whose call fail_at fails. */
int tu_content_fail_at(struct store *st, const char *id, int fail_at, int *calls_r,
                       const char **error_r)
{
    struct tu_sink s = {.fail_at = fail_at};
    int rc = store_quarantine_content(st, id, sink_write, &s, error_r);

    free(s.buf);
    *calls_r = s.calls;
    return rc;
}

sqlite3 *tu_raw_open(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, db != NULL ? sqlite3_errmsg(db) : "cannot open");
        abort();
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

void tu_raw_exec(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    char *sql, *msg = NULL;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("sqlite3: %s: %s", sql, msg != NULL ? msg : "?");
    sqlite3_free(sql);
}

static int64_t tu_raw_vint(sqlite3 *db, const char *fmt, va_list ap)
{
    sqlite3_stmt *q;
    char *sql = sqlite3_vmprintf(fmt, ap);
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        ck_abort_msg("sqlite3: %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_free(sql);
    return v;
}

/* tu_raw_int - the first column of the first row of a query (-1 when there is no row). */
int64_t tu_raw_int(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    int64_t v;

    va_start(ap, fmt);
    v = tu_raw_vint(db, fmt, ap);
    va_end(ap);
    return v;
}

const char *tu_pg(void)
{
    const char *c = getenv("OPES_TEST_PG");

    return c != NULL && *c != '\0' ? c : NULL;
}

/* tu_pg_conninfo - the conninfo of the database that path stands for; caller frees. */
static char *tu_pg_conninfo(const char *path)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    char *c;

    for (const char *p = path; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    if (asprintf(&c, "%s dbname=t%016llx", tu_pg(), (unsigned long long)h) < 0)
        abort();
    return c;
}

/* tu_pg_connect - a connection to the database for path, created when missing. */
static PGconn *tu_pg_connect(const char *path)
{
    char *conninfo = tu_pg_conninfo(path), *admin, sql[128];
    PGconn *c;

    if (asprintf(&admin, "%s dbname=postgres", tu_pg()) < 0)
        abort();
    c = PQconnectdb(admin);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "postgresql: %s", PQerrorMessage(c));
    snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_database WHERE datname = '%s'",
             strstr(conninfo, "dbname=") + 7);
    PGresult *known = PQexec(c, sql);
    int tries = PQntuples(known) > 0 ? 50 : 0; /* there already: nothing to create */
    PQclear(known);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", strstr(conninfo, "dbname=") + 7);
    for (; tries < 50; tries++) {
        PGresult *r = PQexec(c, sql);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        /* created, or there already (42P04, or 23505 when another process won the race) */
        bool done = PQresultStatus(r) == PGRES_COMMAND_OK ||
                    (state != NULL && (strcmp(state, "42P04") == 0 || strcmp(state, "23505") == 0));
        ck_assert_msg(done || (state != NULL && strcmp(state, "55006") == 0), "%s: %s", sql,
                      PQresultErrorMessage(r));
        PQclear(r);
        if (done)
            break;
        usleep(100000); /* the template is busy with another creation */
    }
    PQfinish(c);
    free(admin);
    c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "postgresql: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    free(conninfo);
    return c;
}

struct store *tu_store_open(const char *path, const char *key_path, const char **error_r)
{
    struct store *st;
    char *conninfo;

    if (tu_pg() == NULL)
        return store_open(path, key_path, error_r);
    PQfinish(tu_pg_connect(path)); /* the database exists */
    conninfo = tu_pg_conninfo(path);
    st = store_open_pg(conninfo, key_path, error_r);
    free(conninfo);
    return st;
}

/* tu_pg_vrun - run the statement fmt on the database for path; its result. */
static PGresult *tu_pg_vrun(const char *path, const char *fmt, va_list ap)
{
    PGconn *c = tu_pg_connect(path);
    char *sql = sqlite3_vmprintf(fmt, ap);
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);

    ck_assert_msg(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "postgresql: %s: %s", sql,
                  PQresultErrorMessage(r));
    sqlite3_free(sql);
    PQfinish(c);
    return r;
}

/* tu_db_int - tu_raw_int on a connection of its own, closed afterwards. */
int64_t tu_db_int(const char *path, const char *fmt, ...)
{
    va_list ap;
    int64_t v = -1;

    va_start(ap, fmt);
    if (tu_pg() != NULL) {
        PGresult *r = tu_pg_vrun(path, fmt, ap);
        if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
            const char *s = PQgetvalue(r, 0, 0);
            v = strcmp(s, "t") == 0 ? 1 : strcmp(s, "f") == 0 ? 0 : strtoll(s, NULL, 10);
        }
        PQclear(r);
    } else {
        sqlite3 *db = tu_raw_open(path);
        v = tu_raw_vint(db, fmt, ap);
        sqlite3_close(db);
    }
    va_end(ap);
    return v;
}

/* tu_db_exec - run one statement on a connection of its own. */
void tu_db_exec(const char *path, const char *fmt, ...)
{
    va_list ap;
    char *sql, *msg = NULL;
    sqlite3 *db;

    va_start(ap, fmt);
    if (tu_pg() != NULL) {
        PQclear(tu_pg_vrun(path, fmt, ap));
        va_end(ap);
        return;
    }
    db = tu_raw_open(path);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("sqlite3: %s: %s", sql, msg != NULL ? msg : "?");
    sqlite3_free(sql);
    sqlite3_close(db);
}

char *tu_db_text(const char *path, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    char *s;

    va_start(ap, fmt);
    r = tu_pg_vrun(path, fmt, ap);
    va_end(ap);
    s = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

int64_t tu_db_version(const char *path)
{
    return tu_db_int(path,
                     tu_pg() != NULL ? "SELECT version FROM store_schema" : "PRAGMA user_version");
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    char *root = tu_tmpdir();
    int failed;

    tu_root = root;
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_rmtree(root);
    free(root);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

struct store *tu_fixture_open(char **dir_r, char **db_path_r)
{
    const char *err = NULL;
    char *key;
    struct store *st;

    *dir_r = tu_tmpdir();
    *db_path_r = tu_path(*dir_r, "store.db");
    key = tu_path(*dir_r, "keys");
    st = tu_store_open(*db_path_r, key, &err);
    ck_assert_msg(st != NULL, "%s", err);
    free(key);
    return st;
}

void tu_fixture_close(struct store **st, char **dir, char **db_path)
{
    store_close(st);
    tu_rmtree(*dir);
    free(*dir);
    free(*db_path);
    *dir = *db_path = NULL;
}
