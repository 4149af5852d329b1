/*
 * store_request.c - login-link requests (written by the portal, carried out
 * by opesd) and fixed-window rate limits shared by every program.
 */
#include "opes/store.h"

#include <stdio.h>

#include "store_int.h"

static const char sql_login_add[] =
    "INSERT INTO login_request (address, created, updated) VALUES (?1, ?2, ?2)";
static const char sql_login_next[] =
    "SELECT id, address FROM login_request WHERE state = 'pending' ORDER BY id LIMIT 1";
static const char sql_login_done[] =
    "UPDATE login_request SET state = ?2, updated = ?3 WHERE id = ?1";
static const char sql_login_purge[] = "DELETE FROM login_request WHERE updated < ?";
/* one statement, so two programs counting at once never lose a hit */
static const char sql_rate_hit[] =
    "INSERT INTO rate_limit (key, window_start, count) VALUES (?1, ?2, 1) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN window_start <= ?2 - ?3 THEN 1 ELSE count + 1 END, "
    "window_start = CASE WHEN window_start <= ?2 - ?3 THEN ?2 ELSE window_start END "
    "RETURNING count";
static const char sql_rate_purge[] = "DELETE FROM rate_limit WHERE window_start < ?";

int store_login_request_add(struct store *st, const char *address, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_login_add, error_r);

    if (q == NULL)
        return -1;
    st_text(q, 1, address);
    sqlite3_bind_int64(q, 2, st_now());
    return st_exec1(st, q, error_r, "login request");
}

int store_login_request_next(struct store *st, int64_t *id_r, char *address, size_t size,
                             const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_login_next, error_r);
    int rc;

    if (q == NULL)
        return -1;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *id_r = sqlite3_column_int64(q, 0);
        st_copy(address, size, q, 1);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "login request");
    return rc == SQLITE_ROW ? 0 : STORE_NOTFOUND;
}

int store_login_request_done(struct store *st, int64_t id, bool sent, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_login_done, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    st_text(q, 2, sent ? "sent" : "refused");
    sqlite3_bind_int64(q, 3, st_now());
    return st_exec1(st, q, error_r, "login request");
}

int store_rate_hit(struct store *st, const char *key, unsigned window_s, unsigned max,
                   const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_rate_hit, error_r);
    int64_t count = 0;
    int rc;

    if (q == NULL)
        return -1;
    st_text(q, 1, key);
    sqlite3_bind_int64(q, 2, st_now());
    sqlite3_bind_int64(q, 3, window_s);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        count = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return st_dbfail(st, error_r, "rate limit");
    return count > (int64_t)max ? STORE_LIMITED : 0;
}

int store_request_purge(struct store *st, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_login_purge, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, st_now() - 7 * 86400);
    if (st_exec1(st, q, error_r, "login request purge") < 0)
        return -1;
    q = st_prep(st, sql_rate_purge, error_r);
    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, st_now() - 86400);
    return st_exec1(st, q, error_r, "rate limit purge");
}
