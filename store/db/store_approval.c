/*
 * store_approval.c - who may see and release what beyond a recipient's own
 * entries: the domains of domain administrators, the delegates of shared
 * mailboxes, and the requests to release what a service with release =
 * request held, decided by an approver.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* apr_domain - a domain lower-cased, without a leading '@'. */
static void apr_domain(char *dst, size_t size, const char *domain)
{
    st_lower(dst, size, domain != NULL && domain[0] == '@' ? domain + 1 : domain);
}

int store_domain_admin_add(struct store *st, const char *address, const char *domain,
                           const char **error_r)
{
    char low[257], dom[256];
    struct st_q *q;

    st_lower(low, sizeof(low), address);
    apr_domain(dom, sizeof(dom), domain);
    if (dom[0] == '\0' || strchr(dom, '@') != NULL)
        return st_fail(st, error_r, "domain administrator: not a domain: %s", domain);
    if (st_user_begin(st, low, error_r) < 0)
        return -1;
    q = st_q(st, S_DOM_ADD);
    st_text(q, 1, low);
    st_text(q, 2, dom);
    return st_exec_commit(st, q, error_r, "domain administrator");
}

int store_domain_admin_remove(struct store *st, const char *address, const char *domain,
                              const char **error_r)
{
    struct st_q *q = st_q(st, S_DOM_DEL);
    char low[257], dom[256];

    st_lower(low, sizeof(low), address);
    apr_domain(dom, sizeof(dom), domain != NULL ? domain : "");
    st_text(q, 1, low);
    st_text(q, 2, dom);
    if (st_exec1(st, q, error_r, "domain administrator") < 0)
        return -1;
    return st_changes(st) > 0 ? 0 : STORE_NOTFOUND;
}

int store_domain_admin_list(struct store *st, const char *address,
                            void (*fn)(const char *address, const char *domain, void *ctx),
                            void *ctx, const char **error_r)
{
    struct st_q *q = st_q(st, S_DOM_LIST);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address != NULL ? address : "");
    st_text(q, 1, low);
    while ((rc = st_step(st, q, error_r, "domain administrators")) > 0)
        fn(st_col_text(q, 0), st_col_text(q, 1), ctx);
    return rc;
}

int store_delegate_add(struct store *st, const char *owner, const char *address,
                       const char *created_by, const char **error_r)
{
    struct st_q *q = st_q(st, S_DLG_ADD);
    char o[257], a[257];

    st_lower(o, sizeof(o), owner);
    st_lower(a, sizeof(a), address);
    if (strchr(o, '@') == NULL || strchr(a, '@') == NULL || strcmp(o, a) == 0)
        return st_fail(st, error_r, "delegate: expected two different addresses");
    st_text(q, 1, o);
    st_text(q, 2, a);
    st_text(q, 3, created_by);
    st_int(q, 4, st_now());
    return st_exec1(st, q, error_r, "delegate");
}

int store_delegate_remove(struct store *st, const char *owner, const char *address,
                          const char **error_r)
{
    struct st_q *q = st_q(st, S_DLG_DEL);
    char o[257], a[257];

    st_lower(o, sizeof(o), owner);
    st_lower(a, sizeof(a), address);
    st_text(q, 1, o);
    st_text(q, 2, a);
    if (st_exec1(st, q, error_r, "delegate") < 0)
        return -1;
    return st_changes(st) > 0 ? 0 : STORE_NOTFOUND;
}

int store_delegate_list(struct store *st, const char *owner, const char *address,
                        void (*fn)(const struct store_delegate *d, void *ctx), void *ctx,
                        const char **error_r)
{
    struct st_q *q = st_q(st, S_DLG_LIST);
    char o[257], a[257];
    int rc;

    st_lower(o, sizeof(o), owner != NULL ? owner : "");
    st_lower(a, sizeof(a), address != NULL ? address : "");
    st_text(q, 1, o);
    st_text(q, 2, a);
    while ((rc = st_step(st, q, error_r, "delegates")) > 0) {
        struct store_delegate d;
        st_copy(d.owner, sizeof(d.owner), q, 0);
        st_copy(d.address, sizeof(d.address), q, 1);
        st_copy(d.created_by, sizeof(d.created_by), q, 2);
        d.created = st_col_int(q, 3);
        fn(&d, ctx);
    }
    return rc;
}

/* apr_pending_of - the id of item_id's pending request into *id_r: 1, 0 none, -1. */
static int apr_pending_of(struct store *st, const char *item_id, int64_t *id_r,
                          const char **error_r)
{
    struct st_q *q = st_q(st, S_APR_PENDING_OF);
    int rc;

    st_text(q, 1, item_id);
    rc = st_step(st, q, error_r, "approval lookup");
    if (rc > 0 && id_r != NULL)
        *id_r = st_col_int(q, 0);
    st_reset(q);
    return rc;
}

int store_approval_request(struct store *st, const char *item_id, const char *by,
                           const char *origin, const char *reason, int64_t *id_r,
                           const char **error_r)
{
    struct st_q *q;
    int rc;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_Q_LOCK); /* requests for one entry from several nodes queue here */
    st_text(q, 1, item_id);
    if (st_exec1(st, q, error_r, "approval lock") < 0)
        goto fail;
    if ((rc = apr_pending_of(st, item_id, id_r, error_r)) != 0) {
        if (rc < 0)
            goto fail;
        return st_commit(st, error_r) < 0 ? -1 : STORE_USED;
    }
    q = st_q(st, S_APR_INSERT);
    st_text(q, 1, item_id);
    st_text(q, 2, by);
    st_text(q, 3, origin);
    st_text(q, 4, reason != NULL ? reason : "");
    st_int(q, 5, st_now());
    if (st_exec1(st, q, error_r, "approval request") < 0)
        goto fail;
    if (st_changes(st) == 0) {
        st_rollback(st);
        return STORE_NOTFOUND; /* no such entry, or not held any more */
    }
    if (apr_pending_of(st, item_id, id_r, error_r) < 0 ||
        st_audit_insert(st, by, "release-ask", item_id, origin, "", error_r) < 0 ||
        st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

/* apr_row - the request of the current row of an S_APR_LIST statement. */
static void apr_row(struct st_q *q, struct store_approval *a)
{
    memset(a, 0, sizeof(*a));
    store_qitem_read(q, 0, &a->item);
    a->id = st_col_int(q, QC_COUNT);
    st_copy(a->requested_by, sizeof(a->requested_by), q, QC_COUNT + 1);
    st_copy(a->origin, sizeof(a->origin), q, QC_COUNT + 2);
    st_copy(a->reason, sizeof(a->reason), q, QC_COUNT + 3);
    st_copy(a->state, sizeof(a->state), q, QC_COUNT + 4);
    st_copy(a->decided_by, sizeof(a->decided_by), q, QC_COUNT + 5);
    st_copy(a->comment, sizeof(a->comment), q, QC_COUNT + 6);
    a->created = st_col_int(q, QC_COUNT + 7);
    a->decided = st_col_int(q, QC_COUNT + 8);
}

/* apr_select - S_APR_LIST with its filters (see store_sql.c), each row to fn. */
static int apr_select(struct store *st, const char *state, const char *domain_admin, size_t limit,
                      int notified, int told, int64_t id, const char *item_id,
                      void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                      const char **error_r)
{
    struct st_q *q = st_q(st, S_APR_LIST);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), domain_admin != NULL ? domain_admin : "");
    st_text(q, 1, state != NULL ? state : "");
    st_int(q, 2, limit ? (int64_t)limit : 100);
    st_text(q, 3, low);
    st_int(q, 4, notified);
    st_int(q, 5, told);
    st_int(q, 6, id);
    st_text(q, 7, item_id != NULL ? item_id : "");
    while ((rc = st_step(st, q, error_r, "approvals")) > 0) {
        struct store_approval a;
        apr_row(q, &a);
        fn(&a, ctx);
    }
    return rc;
}

int store_approval_list(struct store *st, const char *state, const char *domain_admin, size_t limit,
                        void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                        const char **error_r)
{
    return apr_select(st, state, domain_admin, limit, -1, -1, 0, NULL, fn, ctx, error_r);
}

/* apr_copy - fn of store_approval_get: the one row into ctx. */
static void apr_copy(const struct store_approval *a, void *ctx)
{
    *(struct store_approval *)ctx = *a;
}

int store_approval_get(struct store *st, int64_t id, struct store_approval *a, const char **error_r)
{
    a->id = 0;
    if (apr_select(st, NULL, NULL, 1, -1, -1, id > 0 ? id : -1, NULL, apr_copy, a, error_r) < 0)
        return -1;
    return a->id == id && id > 0 ? 0 : STORE_NOTFOUND;
}

int store_approval_of(struct store *st, const char *item_id, struct store_approval *a,
                      const char **error_r)
{
    a->id = 0;
    if (apr_select(st, NULL, NULL, 1, -1, -1, 0, item_id[0] ? item_id : "-", apr_copy, a, error_r) <
        0)
        return -1;
    return a->id > 0 ? 0 : STORE_NOTFOUND;
}

int store_approval_decide(struct store *st, int64_t id, bool approve, const char *by,
                          const char *origin, const char *comment, const char **error_r)
{
    struct store_approval a;
    struct st_q *q;
    int rc;

    if ((rc = store_approval_get(st, id, &a, error_r)) != 0)
        return rc;
    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_Q_LOCK);
    st_text(q, 1, a.item.id);
    if (st_exec1(st, q, error_r, "approval lock") < 0)
        goto fail;
    q = st_q(st, S_APR_DECIDE);
    st_int(q, 1, id);
    st_text(q, 2, approve ? "approved" : "denied");
    st_text(q, 3, by);
    st_text(q, 4, comment != NULL ? comment : "");
    st_int(q, 5, st_now());
    if (st_exec1(st, q, error_r, "approval decision") < 0)
        goto fail;
    if (st_changes(st) == 0)
        goto gone;
    if (approve) {
        q = st_q(st, S_REL_PENDING);
        st_text(q, 1, a.item.id);
        rc = st_step(st, q, error_r, "release lookup");
        st_reset(q);
        if (rc < 0)
            goto fail;
        q = st_q(st, S_REL_INSERT);
        st_text(q, 1, by);
        st_text(q, 2, origin);
        st_text(q, 3, "");
        st_text(q, 4, a.item.id);
        st_int(q, 5, st_now());
        st_text(q, 6, "");
        if (rc == 0 && st_exec1(st, q, error_r, "release request") < 0)
            goto fail;
        if (rc == 0 && st_changes(st) == 0)
            goto gone;
    }
    if (st_audit_insert(st, by, approve ? "release-approve" : "release-deny", a.item.id, origin, "",
                        error_r) < 0 ||
        st_commit(st, error_r) < 0)
        goto fail;
    return 0;
gone:
    st_rollback(st);
    return STORE_NOTFOUND; /* decided already, or the entry is no longer held */
fail:
    st_rollback(st);
    return -1;
}

int store_approval_unnotified(struct store *st, size_t limit,
                              void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                              const char **error_r)
{
    return apr_select(st, "pending", NULL, limit, 0, -1, 0, NULL, fn, ctx, error_r);
}

int store_approval_untold(struct store *st, size_t limit,
                          void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                          const char **error_r)
{
    int rc = apr_select(st, "approved", NULL, limit, -1, 0, 0, NULL, fn, ctx, error_r);

    return rc < 0 ? rc : apr_select(st, "denied", NULL, limit, -1, 0, 0, NULL, fn, ctx, error_r);
}

int store_approval_mark(struct store *st, int64_t id, bool told, const char **error_r)
{
    return st_exec_int(st, told ? S_APR_TOLD : S_APR_NOTIFIED, id, error_r, "approval mark");
}

int store_approvers(struct store *st, const char *domain,
                    void (*fn)(const char *address, void *ctx), void *ctx, const char **error_r)
{
    struct st_q *q = st_q(st, S_APPROVERS);
    char dom[256];
    int rc;

    apr_domain(dom, sizeof(dom), domain != NULL ? domain : "");
    st_text(q, 1, dom);
    while ((rc = st_step(st, q, error_r, "approvers")) > 0)
        fn(st_col_text(q, 0), ctx);
    return rc;
}
