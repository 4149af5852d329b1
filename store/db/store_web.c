/*
 * store_web.c - what only the portal keeps: sessions (under a hash of the
 * cookie value), the recipient's notification preferences, and the counts
 * behind the admin page and /metrics.
 */
#include "opes/store.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

static void sw_hash(struct st_q *q, const unsigned char hash[STORE_SESSION_HASH])
{
    st_blob(q, 1, hash, STORE_SESSION_HASH);
}

int store_web_session_add(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          const struct store_web_session *s, const char **error_r)
{
    struct st_q *q = st_q(st, S_SESS_ADD);
    char low[257];

    st_lower(low, sizeof(low), s->address);
    sw_hash(q, hash);
    st_text(q, 2, low);
    st_text(q, 3, s->csrf);
    st_int(q, 4, s->created);
    st_int(q, 5, s->last_seen);
    st_int(q, 6, s->expires);
    st_int(q, 7, s->admin);
    return st_exec1(st, q, error_r, "session add");
}

int store_web_session_get(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          struct store_web_session *s, const char **error_r)
{
    struct st_q *q = st_q(st, S_SESS_GET);
    int rc;

    sw_hash(q, hash);
    if ((rc = st_step(st, q, error_r, "session")) > 0) {
        st_copy(s->address, sizeof(s->address), q, 0);
        st_copy(s->csrf, sizeof(s->csrf), q, 1);
        s->created = st_col_int(q, 2);
        s->last_seen = st_col_int(q, 3);
        s->expires = st_col_int(q, 4);
        s->admin = (int)st_col_int(q, 5) != 0;
    }
    return st_found(q, rc);
}

int store_web_session_touch(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                            int64_t now, const char **error_r)
{
    struct st_q *q = st_q(st, S_SESS_TOUCH);

    sw_hash(q, hash);
    st_int(q, 2, now);
    return st_exec1(st, q, error_r, "session touch");
}

int store_web_session_delete(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                             const char **error_r)
{
    struct st_q *q = st_q(st, S_SESS_DELETE);

    sw_hash(q, hash);
    return st_exec1(st, q, error_r, "session delete");
}

int store_web_session_purge(struct store *st, int64_t now, const char **error_r)
{
    return st_exec_int(st, S_SESS_PURGE, now, error_r, "session purge");
}

int store_web_prefs_get(struct store *st, const char *address, char *mode, size_t msize,
                        char *schedule, size_t ssize, const char **error_r)
{
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    snprintf(mode, msize, "default");
    snprintf(schedule, ssize, "%s", "");
    rc = store_user_notify_prefs(st, low, mode, msize, schedule, ssize, error_r);
    return rc == STORE_NOTFOUND ? 0 : rc; /* no user yet: the defaults */
}

int store_web_prefs_set(struct store *st, const char *address, const char *mode,
                        const char *schedule, const char **error_r)
{
    static const char *const modes[] = {"default", "immediate", "digest", "off"};
    struct st_q *q;
    char low[257];
    bool known = false;

    for (size_t i = 0; i < 4; i++)
        known = known || strcmp(mode, modes[i]) == 0;
    if (!known)
        return st_fail(st, error_r, "unknown notification mode");
    st_lower(low, sizeof(low), address);
    if (st_user_begin(st, low, error_r) < 0)
        return -1;
    q = st_q(st, S_USER_SET_PREFS);
    st_text(q, 1, low);
    st_text(q, 2, mode);
    st_text(q, 3, schedule);
    return st_exec_commit(st, q, error_r, "preferences");
}

int store_web_quarantine_list(struct store *st, const struct store_qfilter *f,
                              enum store_web_sort sort,
                              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                              const char **error_r)
{
    return st_q_list(st, f, (int)sort, fn, ctx, error_r);
}

int store_web_count(struct store *st, const char *what, unsigned days,
                    void (*fn)(const char *label, int64_t count, void *ctx), void *ctx,
                    const char **error_r)
{
    static const struct {
        const char *what;
        enum st_stmt s;
    } counts[] = {{"status", S_COUNT_STATUS},   {"held_service", S_COUNT_HELD},
                  {"release", S_COUNT_RELEASE}, {"verdict_day", S_COUNT_DAY},
                  {"outcome", S_COUNT_OUTCOME}, {"service_verdict", S_COUNT_SVC},
                  {"latency", S_COUNT_LATENCY}, {"backlog", S_COUNT_BACKLOG}};
    enum st_stmt s = S_MAX;
    struct st_q *q;
    int rc;

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (strcmp(what, counts[i].what) == 0)
            s = counts[i].s;
    if (s == S_MAX)
        return st_fail(st, error_r, "unknown count %s", what);
    q = st_q(st, s);
    if (s == S_COUNT_DAY)
        st_int(q, 1, (st_now() / 86400 - (int64_t)days + 1) * 86400);
    else
        st_int(q, 1, st_now() - (int64_t)days * 86400);
    while ((rc = st_step(st, q, error_r, "count")) > 0) {
        const char *label = st_col_text(q, 0);
        fn(label != NULL ? label : "", st_col_int(q, 1), ctx);
    }
    return rc;
}
