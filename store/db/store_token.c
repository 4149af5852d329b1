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

int store_token_use(struct store *st, const char *nonce, int64_t expires, const char **error_r)
{
    struct st_q *q = st_q(st, S_TOKEN_USE);

    st_blob(q, 1, nonce, strlen(nonce));
    st_int(q, 2, st_now());
    st_int(q, 3, expires);
    if (st_exec1(st, q, error_r, "token use") < 0)
        return -1;
    return st_changes(st) == 1 ? 0 : STORE_USED;
}

int store_token_seen(struct store *st, const char *nonce, const char **error_r)
{
    struct st_q *q = st_q(st, S_TOKEN_SEEN);
    int rc;

    st_blob(q, 1, nonce, strlen(nonce));
    rc = st_found(q, st_step(st, q, error_r, "token lookup"));
    return rc == 0 ? STORE_USED : rc == STORE_NOTFOUND ? 0 : -1;
}

int store_token_purge(struct store *st, const char **error_r)
{
    return st_exec_int(st, S_TOKEN_PURGE, st_now(), error_r, "token purge");
}
