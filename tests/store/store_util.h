/*
 * store_util.h - helpers shared by the store's Check suites (store_util.c):
 * per-run temporary directories, patterned content, in-memory readers and
 * sinks for the store API, and direct database access to look behind it, on
 * SQLite or, with OPES_TEST_PG set, on PostgreSQL.
 */
#ifndef OPES_TESTS_STORE_UTIL_H
#define OPES_TESTS_STORE_UTIL_H

#include <check.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/store.h"

struct mem_reader;

/* store_suite - what each test program defines; store_util.c's main runs it. */
Suite *store_suite(void);

char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
char *tu_path(const char *dir, const char *name);
unsigned char *tu_pattern(size_t len, uint32_t seed);
struct mem_reader *tu_reader_new(struct store_reader *r, const void *data, size_t len, size_t step);
void tu_reader_fail_on_pass(struct mem_reader *m, int pass);
/* tu_reader_hook_on_pass - hook() runs as pass number pass starts (at its rewind). */
void tu_reader_hook_on_pass(struct mem_reader *m, int pass, void (*hook)(void));
void tu_reader_grow_on_pass2(struct mem_reader *m, size_t extra);
int tu_add(struct store *st, struct store_qitem *items, size_t n, const void *data, size_t len,
           size_t step, const char **error_r);
int tu_content(struct store *st, const char *id, unsigned char **data_r, size_t *len_r,
               const char **error_r);
int tu_content_fail_at(struct store *st, const char *id, int fail_at, int *calls_r,
                       const char **error_r);
sqlite3 *tu_raw_open(const char *path);
void tu_raw_exec(sqlite3 *db, const char *fmt, ...);
int64_t tu_raw_int(sqlite3 *db, const char *fmt, ...);
/* tu_pg - the test server's conninfo when the run is on PostgreSQL, else NULL. */
const char *tu_pg(void);
/* tu_store_open - store_open of path, or of the PostgreSQL database path stands for. */
struct store *tu_store_open(const char *path, const char *key_path, const char **error_r);
/* tu_db_int / tu_db_exec - one statement (sqlite3_mprintf format, %Q quotes) on
 * the database of path, whichever backend; tu_db_version - its schema version. */
int64_t tu_db_int(const char *path, const char *fmt, ...);
int64_t tu_db_version(const char *path);
/* tu_db_text - the first column of the first row, on PostgreSQL only; caller frees. */
char *tu_db_text(const char *path, const char *fmt, ...);
void tu_db_exec(const char *path, const char *fmt, ...);
/* tu_fixture_open - a new store (keys beside it) in a new temporary directory, whose
 * path and the database's are set; tu_fixture_close - close it and remove them. */
struct store *tu_fixture_open(char **dir_r, char **db_path_r);
void tu_fixture_close(struct store **st, char **dir, char **db_path);

#endif
