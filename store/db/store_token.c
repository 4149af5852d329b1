/*
 * store_token.c - the single-use ledger for link tokens (token.h).
 *
 * An action link works once: its nonce goes into token_used on first use and
 * stays there until the token would have expired anyway, when the purge may
 * forget it (an expired token is refused by its own signature).
 */
#include "opes/store.h"

#include <string.h>

#include "store_int.h"

static const char sql_use[] =
    "INSERT INTO token_used (nonce, used_at, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING";
static const char sql_seen[] = "SELECT 1 FROM token_used WHERE nonce = ?";
static const char sql_purge[] = "DELETE FROM token_used WHERE expires < ?";

int store_token_use(struct store *st, const char *nonce, int64_t expires, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_use, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_blob(q, 1, nonce, (int)strlen(nonce), SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, st_now());
    sqlite3_bind_int64(q, 3, expires);
    if (st_exec1(st, q, error_r, "token use") < 0)
        return -1;
    return sqlite3_changes(st->db) == 1 ? 0 : STORE_USED;
}

int store_token_seen(struct store *st, const char *nonce, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_seen, error_r);
    int rc;

    if (q == NULL)
        return -1;
    sqlite3_bind_blob(q, 1, nonce, (int)strlen(nonce), SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_dbfail(st, error_r, "token lookup");
    return rc == SQLITE_ROW ? STORE_USED : 0;
}

int store_token_purge(struct store *st, const char **error_r)
{
    sqlite3_stmt *q = st_prep(st, sql_purge, error_r);

    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, st_now());
    return st_exec1(st, q, error_r, "token purge");
}
