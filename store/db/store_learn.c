/*
 * store_learn.c - learning from decisions: the requests that teach a
 * scanner ham (a quarantine entry released as "not spam") or spam (a message
 * a recipient reported), carried out by opesd's job runner, and the record
 * that makes each happen once per message and class.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

int store_learn_request(struct store *st, const struct store_learn *l, const char **error_r)
{
    struct st_q *q;
    char object[128];

    if (strcmp(l->kind, "ham") != 0 && strcmp(l->kind, "spam") != 0)
        return st_fail(st, error_r, "learn: unknown class \"%s\"", l->kind);
    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_LEARN_INSERT);
    st_text(q, 1, l->message);
    st_text(q, 2, l->kind);
    st_text(q, 3, l->service);
    st_text(q, 4, l->trace_id);
    st_text(q, 5, l->requested_by);
    st_text(q, 6, l->origin);
    st_int(q, 7, st_now());
    snprintf(object, sizeof(object), "%s:%s", l->kind, l->message);
    return st_request_commit(st, q, "learn request", STORE_USED, l->requested_by, "learn-request",
                             object, l->origin, "", error_r);
}

/* learn_fill - a learn request's columns (S_LEARN_NEXT) into a struct store_learn. */
static int64_t learn_fill(struct st_q *q, void *out)
{
    struct store_learn *l = out;

    memset(l, 0, sizeof(*l));
    l->id = st_col_int(q, 0);
    st_copy(l->message, sizeof(l->message), q, 1);
    st_copy(l->kind, sizeof(l->kind), q, 2);
    st_copy(l->service, sizeof(l->service), q, 3);
    st_copy(l->trace_id, sizeof(l->trace_id), q, 4);
    st_copy(l->requested_by, sizeof(l->requested_by), q, 5);
    st_copy(l->origin, sizeof(l->origin), q, 6);
    l->attempts = (int)st_col_int(q, 7) + 1;
    st_copy(l->last_error, sizeof(l->last_error), q, 8);
    return l->id;
}

int store_learn_next(struct store *st, struct store_learn *l, const char **error_r)
{
    return st_claim(st, S_LEARN_NEXT, S_LEARN_LEASE, learn_fill, l, error_r, "learn next");
}

int store_learn_done(struct store *st, const struct store_learn *l, const char *recipient,
                     const char *detail, const char **error_r)
{
    struct store_trace t = {.at = 0};
    char action[32], object[128];
    struct st_q *q;

    snprintf(t.trace_id, sizeof(t.trace_id), "%s", l->trace_id);
    snprintf(t.recipient, sizeof(t.recipient), "%s", recipient != NULL ? recipient : "");
    snprintf(t.event, sizeof(t.event), "learn");
    snprintf(t.service, sizeof(t.service), "%s", l->service);
    snprintf(t.verdict, sizeof(t.verdict), "%s", l->kind);
    snprintf(t.detail, sizeof(t.detail), "%s", detail != NULL ? detail : "");
    snprintf(action, sizeof(action), "learn-%s", l->kind);
    snprintf(object, sizeof(object), "%s", l->message);
    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_LEARN_DONE);
    st_int(q, 1, st_now());
    st_text(q, 2, l->message);
    st_text(q, 3, l->kind);
    if (st_trace_insert(st, &t, error_r) < 0 ||
        st_audit_insert(st, l->requested_by, action, object, l->origin, "", error_r) < 0) {
        st_rollback(st);
        return -1;
    }
    return st_exec_commit(st, q, error_r, "learn done");
}

int store_learn_failed(struct store *st, const struct store_learn *l, bool permanent,
                       const char *why, int64_t retry_after_s, const char **error_r)
{
    struct st_q *q = st_q(st, S_LEARN_FAIL);
    int64_t now = st_now();

    st_text(q, 1, permanent ? "failed" : "pending");
    st_int(q, 2, now + retry_after_s);
    st_text(q, 3, why);
    st_int(q, 4, now);
    st_text(q, 5, l->message);
    st_text(q, 6, l->kind);
    return st_exec1(st, q, error_r, "learn failed");
}

int store_learn_state(struct store *st, const char *message, const char *kind, char *state,
                      size_t size, char *last_error, size_t esize, const char **error_r)
{
    struct st_q *q = st_q(st, S_LEARN_STATE);
    int rc;

    st_text(q, 1, message);
    st_text(q, 2, kind);
    if ((rc = st_step(st, q, error_r, "learn state")) > 0) {
        st_copy(state, size, q, 0);
        st_copy(last_error, esize, q, 1);
    }
    return st_found(q, rc);
}
