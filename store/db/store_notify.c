/*
 * store_notify.c - what the notifier keeps in the store: one notification
 * row per quarantine entry (its state, the held message's header section and
 * the sender-DSN state), digests with their items, the recipients' notify
 * preferences and a few persistent facts (notify_meta).
 *
 * Digests are recorded with their items in one transaction before they are
 * sent, and marked sent after the mailbox store's 2xx: a digest interrupted
 * by a crash is sent again as the same digest, so no item is listed twice in
 * different digests, and none is skipped.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

int store_notify_uncaptured(struct store *st, int64_t since, size_t limit,
                            void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                            const char **error_r)
{
    struct st_q *q = st_q(st, S_N_UNCAPTURED);

    st_int(q, 1, (int64_t)limit);
    st_int(q, 2, since);
    return st_qitems(st, q, fn, ctx, error_r, "notification list");
}

int store_notify_capture(struct store *st, const char *id, const char *state, const char *reason,
                         const char *headers, size_t headers_len, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_CAPTURE);

    st_text(q, 1, id);
    st_text(q, 2, state);
    st_text(q, 3, reason);
    if (headers != NULL)
        st_blob(q, 4, headers, headers_len);
    st_int(q, 5, st_now());
    return st_exec1(st, q, error_r, "notification capture");
}

int store_notify_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_qitem *it, int attempts, void *ctx),
                         void *ctx, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_DROP_STALE);
    struct store_qitem it;
    int rc;

    if (st_exec1(st, q, error_r, "notification cleanup") < 0)
        return -1;
    q = st_q(st, S_N_PENDING);
    st_int(q, 1, (int64_t)limit);
    while ((rc = st_step(st, q, error_r, "pending notifications")) > 0) {
        store_qitem_read(q, 0, &it);
        fn(&it, (int)st_col_int(q, QC_COUNT), ctx);
    }
    return rc;
}

/* sn_state - statement s with ?1 an entry's public id, ?2 a state, ?3 a reason ("" for NULL). */
static struct st_q *sn_state(struct store *st, enum st_stmt s, const char *id, const char *state,
                             const char *reason)
{
    struct st_q *q = st_q(st, s);

    st_text(q, 1, id);
    st_text(q, 2, state);
    st_text(q, 3, reason != NULL ? reason : "");
    return q;
}

int store_notify_set_state(struct store *st, const char *id, const char *state, const char *reason,
                           const char **error_r)
{
    struct st_q *q = sn_state(st, S_N_SET_STATE, id, state, reason);

    st_int(q, 4, strcmp(state, "sent") == 0 ? st_now() : 0);
    return st_exec1(st, q, error_r, "notification state");
}

int store_notify_attempt(struct store *st, const char *id, const char *why, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_ATTEMPT);

    st_text(q, 1, id);
    st_text(q, 2, why);
    return st_exec1(st, q, error_r, "notification attempt");
}

int store_notify_headers(struct store *st, const char *id, char *buf, size_t size, size_t *len_r,
                         const char **error_r)
{
    struct st_q *q = st_q(st, S_N_HEADERS);
    const void *h = NULL;
    size_t n = 0;
    int rc;

    st_text(q, 1, id);
    *len_r = 0;
    if ((rc = st_step(st, q, error_r, "notification headers")) > 0 &&
        (h = st_col_blob(q, 0, &n)) != NULL && size > 0) {
        n = n < size - 1 ? n : size - 1;
        memcpy(buf, h, n);
        buf[n] = '\0';
        *len_r = n;
    }
    rc = st_found(q, rc);
    return rc == 0 && h == NULL ? STORE_NOTFOUND : rc;
}

int store_notify_state(struct store *st, const char *id, struct store_notice_state *s,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_N_STATE_OF);
    int rc;

    st_text(q, 1, id);
    if ((rc = st_step(st, q, error_r, "notification state")) > 0) {
        st_copy(s->state, sizeof(s->state), q, 0);
        st_copy(s->reason, sizeof(s->reason), q, 1);
        st_copy(s->dsn, sizeof(s->dsn), q, 2);
        st_copy(s->dsn_reason, sizeof(s->dsn_reason), q, 3);
    }
    return st_found(q, rc);
}

int store_user_notify_prefs(struct store *st, const char *address, char *mode, size_t msize,
                            char *schedule, size_t ssize, const char **error_r)
{
    return st_lookup2(st, S_USER_PREFS, address, mode, msize, schedule, ssize, error_r,
                      "user preferences");
}

int store_user_set_notify(struct store *st, const char *address, const char *mode,
                          const char *schedule, const char **error_r)
{
    struct st_q *q = st_q(st, S_USER_SET_NOTIFY);

    st_text(q, 1, address);
    st_text(q, 2, mode);
    st_text(q, 3, schedule != NULL ? schedule : "");
    st_int(q, 4, st_now());
    return st_exec1(st, q, error_r, "user preferences");
}

int store_notify_known(struct store *st, const char *address, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_KNOWN);
    int rc, known = 0;

    st_text(q, 1, address);
    if ((rc = st_step(st, q, error_r, "known recipient")) > 0)
        known = st_col_int(q, 0) != 0;
    if ((rc = st_found(q, rc)) != 0)
        return rc == STORE_NOTFOUND ? st_fail(st, error_r, "known recipient: no answer") : -1;
    return known;
}

int store_digest_waiting(struct store *st, void (*fn)(const char *recipient, void *ctx), void *ctx,
                         const char **error_r)
{
    struct st_q *q = st_q(st, S_DIGEST_WAITING);
    int rc;

    while ((rc = st_step(st, q, error_r, "digest recipients")) > 0)
        fn(st_col_text(q, 0), ctx);
    return rc;
}

int store_digest_last(struct store *st, const char *recipient, int64_t *last_r,
                      const char **error_r)
{
    struct st_q *q = st_q(st, S_DIGEST_LAST);
    int rc;

    st_text(q, 1, recipient);
    rc = st_step(st, q, error_r, "last digest");
    *last_r = rc > 0 ? st_col_int(q, 0) : 0;
    if ((rc = st_found(q, rc)) != 0)
        return rc == STORE_NOTFOUND ? st_fail(st, error_r, "last digest: no answer") : -1;
    return 0;
}

int store_digest_create(struct store *st, const char *recipient, int64_t *id_r, size_t *count_r,
                        const char **error_r)
{
    struct st_q *q;
    int64_t id;
    int changes;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_DIGEST_INSERT);
    st_text(q, 1, recipient);
    st_int(q, 2, st_now());
    if (st_exec1(st, q, error_r, "digest") < 0)
        goto fail;
    id = st_last_id(st);
    q = st_q(st, S_DIGEST_ASSIGN);
    st_int(q, 1, id);
    st_text(q, 2, recipient);
    if (st_exec1(st, q, error_r, "digest items") < 0)
        goto fail;
    changes = st_changes(st);
    if (changes == 0) {
        st_rollback(st);
        return STORE_NOTFOUND;
    }
    /* the delegates' copies, recorded with it: none is lost if we stop before sending */
    q = st_q(st, S_DIGEST_COPIES);
    st_int(q, 1, id);
    st_int(q, 2, st_now());
    st_text(q, 3, recipient);
    if (st_exec_commit(st, q, error_r, "digest copies") < 0)
        return -1;
    *id_r = id;
    if (count_r != NULL)
        *count_r = (size_t)changes;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_digest_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_digest *d, void *ctx), void *ctx,
                         const char **error_r)
{
    struct st_q *q = st_q(st, S_DIGEST_PENDING);
    struct store_digest d;
    int rc;

    st_int(q, 1, (int64_t)limit);
    while ((rc = st_step(st, q, error_r, "pending digests")) > 0) {
        memset(&d, 0, sizeof(d));
        d.id = st_col_int(q, 0);
        st_copy(d.recipient, sizeof(d.recipient), q, 1);
        d.created = st_col_int(q, 2);
        d.attempts = (int)st_col_int(q, 3);
        d.copy_of = st_col_int(q, 4);
        st_copy(d.owner, sizeof(d.owner), q, 5);
        fn(&d, ctx);
    }
    return rc;
}

int store_digest_items(struct store *st, int64_t digest_id,
                       void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_DIGEST_ITEMS);

    st_int(q, 1, digest_id);
    return st_qitems(st, q, fn, ctx, error_r, "notification list");
}

int store_digest_sent(struct store *st, int64_t digest_id, const char **error_r)
{
    struct st_q *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_DIGEST_SENT);
    st_int(q, 1, digest_id);
    st_int(q, 2, st_now());
    if (st_exec1(st, q, error_r, "digest sent") < 0) {
        st_rollback(st);
        return -1;
    }
    q = st_q(st, S_DIGEST_ITEMS_SENT);
    st_int(q, 1, digest_id);
    st_int(q, 2, st_now());
    return st_exec_commit(st, q, error_r, "digest items sent");
}

int store_digest_failed(struct store *st, int64_t digest_id, const char *why, bool permanent,
                        const char **error_r)
{
    struct st_q *q = st_q(st, S_DIGEST_FAILED);

    st_int(q, 1, digest_id);
    st_text(q, 2, why);
    st_int(q, 3, permanent ? 1 : 0);
    return st_exec1(st, q, error_r, "digest attempt");
}

int store_dsn_due(struct store *st, int64_t since, size_t limit,
                  void (*fn)(const struct store_qitem *it, const char *cause, const char *detail,
                             void *ctx),
                  void *ctx, const char **error_r)
{
    struct st_q *q = st_q(st, S_DSN_DUE);
    struct store_qitem it;
    int rc;

    st_int(q, 1, (int64_t)limit);
    st_int(q, 2, since);
    while ((rc = st_step(st, q, error_r, "due DSNs")) > 0) {
        store_qitem_read(q, 0, &it);
        fn(&it, st_col_text(q, QC_COUNT), st_col_text(q, QC_COUNT + 1), ctx);
    }
    return rc;
}

int store_dsn_done(struct store *st, const char *id, const char *state, const char *reason,
                   const char **error_r)
{
    return st_exec1(st, sn_state(st, S_DSN_DONE, id, state, reason), error_r, "DSN state");
}

int store_notify_meta_get(struct store *st, const char *key, int64_t *value_r, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_META_GET);
    int rc;

    st_text(q, 1, key);
    if ((rc = st_step(st, q, error_r, "notify meta")) > 0)
        *value_r = st_col_int(q, 0);
    return st_found(q, rc);
}

int store_notify_meta_set(struct store *st, const char *key, int64_t value, const char **error_r)
{
    struct st_q *q = st_q(st, S_N_META_SET);

    st_text(q, 1, key);
    st_int(q, 2, value);
    return st_exec1(st, q, error_r, "notify meta");
}

int store_notify_held_since(struct store *st, int64_t since,
                            void (*fn)(const char *recipient, int64_t count, void *ctx), void *ctx,
                            const char **error_r)
{
    struct st_q *q = st_q(st, S_N_HELD_SINCE);
    int rc;

    st_int(q, 1, since);
    while ((rc = st_step(st, q, error_r, "held since")) > 0)
        fn(st_col_text(q, 0), st_col_int(q, 1), ctx);
    return rc;
}
