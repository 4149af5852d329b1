/*
 * store_int.h - private to the store library: the connection and the small
 * SQL helpers shared by the files that implement store.h (store_sqlite.c for
 * quarantine, trace, lists, users and releases; further store_*.c files for
 * the other areas). Callers outside store/ never include it.
 *
 * A file outside store_sqlite.c keeps its SQL in static strings and gets a
 * ready statement with st_prep(st, sql): prepared once per connection (keyed
 * by the string's address), reset and unbound on each call.
 */
#ifndef OPES_STORE_INT_H
#define OPES_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define ST_STMT_MAX 64
#define ST_PREP_MAX 128

struct keys;

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_STMT_MAX];
    struct {
        const char *sql;
        sqlite3_stmt *q;
    } prep[ST_PREP_MAX];
    size_t nprep;
    struct keys *keys;
    char *key_path;
    struct stat key_stat; /* of the key file when keys was read */
    int64_t key_checked;  /* when it was last looked at (st_now) */
    char err[512];
};

/* st_fail - remember why; returns -1 for "return st_fail(...)". */
int st_fail(struct store *st, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* st_dbfail - st_fail with SQLite's message after what. */
int st_dbfail(struct store *st, const char **error_r, const char *what);
/* st_prep - the statement for sql (a static string), reset; NULL with *error_r. */
sqlite3_stmt *st_prep(struct store *st, const char *sql, const char **error_r);
/* st_text - bind text (NULL stays NULL) by position. */
void st_text(sqlite3_stmt *q, int i, const char *s);
/* st_exec1 - run a statement that returns no row; 0 or -1. */
int st_exec1(struct store *st, sqlite3_stmt *q, const char **error_r, const char *what);
/* st_begin / st_commit / st_rollback - BEGIN (IMMEDIATE when write), COMMIT, ROLLBACK. */
int st_begin(struct store *st, bool write, const char **error_r);
int st_commit(struct store *st, const char **error_r);
void st_rollback(struct store *st);
/* st_copy - column col as text into dst ("" for NULL). */
void st_copy(char *dst, size_t size, sqlite3_stmt *q, int col);
int64_t st_now(void);
/*
 * st_keys - the key generations, read again when the key file changed (a
 * rotation by opesctl reaches running daemons within a second, without a
 * restart); on a failed read the keys in use stay.
 */
struct keys *st_keys(struct store *st);
/* st_q_row - a quarantine entry from the columns public_id, trace_id, sender, recipient,
 * subject, msg_date, size, service, reason, status, created, updated (from column 0). */
struct store_qitem;
void st_q_row(sqlite3_stmt *q, struct store_qitem *it);
/*
 * st_q_list - run a quarantine listing q whose parameters are ?1 recipient,
 * ?2 status ("" any), ?3 LIKE pattern on sender or subject ("" none), ?4
 * limit, ?5 offset, filled from f; each row's entry goes to fn.
 */
struct store_qfilter;
int st_q_list(struct store *st, sqlite3_stmt *q, const struct store_qfilter *f,
              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
              const char **error_r);

#endif
