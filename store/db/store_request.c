/*
 * store_request.c - login-link requests (written by the portal, carried out
 * by opesd), fixed-window rate limits shared by every program, and leases
 * on jobs shared by every node.
 */
#include "opes/store.h"

#include <stdio.h>

#include "store_int.h"

int store_login_request_add(struct store *st, const char *address, const char **error_r)
{
    struct st_q *q = st_q(st, S_LOGIN_ADD);

    st_text(q, 1, address);
    st_int(q, 2, st_now());
    return st_exec1(st, q, error_r, "login request");
}

int store_login_request_next(struct store *st, int64_t *id_r, char *address, size_t size,
                             const char **error_r)
{
    struct st_q *q = st_q(st, S_LOGIN_NEXT);
    int rc;

    if ((rc = st_step(st, q, error_r, "login request")) > 0) {
        *id_r = st_col_int(q, 0);
        st_copy(address, size, q, 1);
    }
    return st_found(q, rc);
}

int store_login_request_done(struct store *st, int64_t id, bool sent, const char **error_r)
{
    struct st_q *q = st_q(st, S_LOGIN_DONE);

    st_int(q, 1, id);
    st_text(q, 2, sent ? "sent" : "refused");
    st_int(q, 3, st_now());
    return st_exec1(st, q, error_r, "login request");
}

int store_rate_hit(struct store *st, const char *key, unsigned window_s, unsigned max,
                   const char **error_r)
{
    struct st_q *q = st_q(st, S_RATE_HIT);
    int64_t count = 0;
    int rc;

    st_text(q, 1, key);
    st_int(q, 2, st_now());
    st_int(q, 3, window_s);
    if ((rc = st_step(st, q, error_r, "rate limit")) > 0)
        count = st_col_int(q, 0);
    if ((rc = st_found(q, rc)) != 0)
        return rc == STORE_NOTFOUND ? st_fail(st, error_r, "rate limit: no count") : -1;
    return count > (int64_t)max ? STORE_LIMITED : 0;
}

int store_request_purge(struct store *st, const char **error_r)
{
    if (st_exec_int(st, S_LOGIN_PURGE, st_now() - 7 * 86400, error_r, "login request purge") < 0)
        return -1;
    return st_exec_int(st, S_RATE_PURGE, st_now() - 86400, error_r, "rate limit purge");
}

/* claim_exec - stmt (take or renew) of lease name for holder until expires:
 * 0 when one row changed, STORE_USED when none did, -1 on error. */
static int claim_exec(struct store *st, enum st_stmt stmt, const char *name, const char *holder,
                      int64_t expires, const char **error_r)
{
    struct st_q *q = st_q(st, stmt);

    st_text(q, 1, name);
    st_text(q, 2, holder);
    st_int(q, 3, expires);
    st_int(q, 4, st_now());
    if (st_exec1(st, q, error_r, "claim") < 0)
        return -1;
    return st_changes(st) == 1 ? 0 : STORE_USED;
}

int store_claim(struct store *st, const char *name, const char *holder, int64_t expires,
                const char **error_r)
{
    return claim_exec(st, S_CLAIM_TAKE, name, holder, expires, error_r);
}

int store_claim_renew(struct store *st, const char *name, const char *holder, int64_t expires,
                      const char **error_r)
{
    return claim_exec(st, S_CLAIM_RENEW, name, holder, expires, error_r);
}

int store_claim_drop(struct store *st, const char *name, const char *holder, const char **error_r)
{
    struct st_q *q = st_q(st, S_CLAIM_DROP);

    st_text(q, 1, name);
    st_text(q, 2, holder);
    return st_exec1(st, q, error_r, "claim drop");
}

int store_claim_holder(struct store *st, const char *name, char *buf, size_t size,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_CLAIM_HOLDER);
    int rc;

    st_text(q, 1, name);
    rc = st_step(st, q, error_r, "claim holder");
    if (rc <= 0)
        return rc < 0 ? -1 : STORE_NOTFOUND;
    snprintf(buf, size, "%s", st_col_text(q, 0) != NULL ? st_col_text(q, 0) : "");
    st_reset(q);
    return 0;
}
