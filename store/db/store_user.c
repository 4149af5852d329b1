/*
 * store_user.c - the people side of the store: white and block lists, users
 * with their roles, passwords and per-service consent, and the audit log of
 * what was done by whom.
 */
#include "opes/store.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ------------------------------------------------------------ lists */

int st_list_insert(struct store *st, const struct store_list_entry *e, const char **error_r)
{
    struct st_q *q = st_q(st, S_LIST_UPSERT);
    char owner[257], sender[257];

    st_lower(owner, sizeof(owner), e->owner);
    st_lower(sender, sizeof(sender), e->sender);
    st_text(q, 1, e->kind == STORE_WHITELIST ? "white" : "block");
    st_text(q, 2, owner);
    st_text(q, 3, sender);
    st_text(q, 4, e->created_by);
    st_text(q, 5, e->origin);
    st_int(q, 6, e->expires);
    st_int(q, 7, st_now());
    return st_exec1(st, q, error_r, "list insert");
}

int store_list_add(struct store *st, const struct store_list_entry *e, const char **error_r)
{
    return st_list_insert(st, e, error_r);
}

int store_list_remove(struct store *st, int64_t id, const char **error_r)
{
    if (st_exec_int(st, S_LIST_DELETE, id, error_r, "list delete") < 0)
        return -1;
    return st_changes(st) > 0 ? 0 : STORE_NOTFOUND;
}

int store_list_show(struct store *st, const char *owner,
                    void (*fn)(const struct store_list_entry *e, void *ctx), void *ctx,
                    const char **error_r)
{
    struct st_q *q = st_q(st, owner != NULL ? S_LIST_SHOW_OWNER : S_LIST_SHOW_ALL);
    int rc;

    if (owner != NULL) {
        char low[257];
        st_lower(low, sizeof(low), owner);
        st_text(q, 1, low);
    }
    st_int(q, 2, st_now());
    while ((rc = st_step(st, q, error_r, "list show")) > 0) {
        struct store_list_entry e;
        e.id = st_col_int(q, 0);
        e.kind = strcmp(st_col_text(q, 1), "white") == 0 ? STORE_WHITELIST : STORE_BLOCKLIST;
        st_copy(e.owner, sizeof(e.owner), q, 2);
        st_copy(e.sender, sizeof(e.sender), q, 3);
        st_copy(e.created_by, sizeof(e.created_by), q, 4);
        st_copy(e.origin, sizeof(e.origin), q, 5);
        e.expires = st_col_int(q, 6);
        e.created = st_col_int(q, 7);
        fn(&e, ctx);
    }
    return rc;
}

void st_domain_key(char *dst, size_t size, const char *addr)
{
    const char *at = strrchr(addr, '@');
    st_lower(dst, size, at != NULL ? at : "@");
}

/*
 * st_list_keys - bind from position first what an entry may be keyed on: the
 * recipient, its @domain, the sender, its @domain (lower-cased); then now.
 */
static void st_list_keys(struct st_q *q, int first, const char *recipient, const char *sender)
{
    char key[257];

    st_lower(key, sizeof(key), recipient);
    st_text(q, first, key);
    st_domain_key(key, sizeof(key), recipient);
    st_text(q, first + 1, key);
    st_lower(key, sizeof(key), sender);
    st_text(q, first + 2, key);
    st_domain_key(key, sizeof(key), sender);
    st_text(q, first + 3, key);
    st_int(q, first + 4, st_now());
}

int store_list_match(struct store *st, enum store_list_kind kind, const char *recipient,
                     const char *sender, const char **error_r)
{
    struct st_q *q = st_q(st, S_LIST_MATCH);
    int rc;

    st_text(q, 1, kind == STORE_WHITELIST ? "white" : "block");
    st_list_keys(q, 2, recipient, sender);
    rc = st_step(st, q, error_r, "list match");
    st_reset(q);
    return rc;
}

/* ------------------------------------------------------------ users */

int store_user_add(struct store *st, const char *address, enum store_role role,
                   const char **error_r)
{
    struct st_q *q = st_q(st, S_USER_UPSERT);
    char low[257];

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    st_text(q, 2, role == STORE_ROLE_ADMIN ? "admin" : "user");
    st_int(q, 3, st_now());
    return st_exec1(st, q, error_r, "user add");
}

static void st_user_row(struct st_q *q, struct store_user *u)
{
    st_copy(u->address, sizeof(u->address), q, 0);
    u->role = strcmp(st_col_text(q, 1), "admin") == 0 ? STORE_ROLE_ADMIN : STORE_ROLE_USER;
    u->has_password = (int)st_col_int(q, 2) != 0;
    st_copy(u->notify_mode, sizeof(u->notify_mode), q, 3);
    u->created = st_col_int(q, 4);
}

int store_user_get(struct store *st, const char *address, struct store_user *u,
                   const char **error_r)
{
    struct st_q *q = st_q(st, S_USER_GET);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    if ((rc = st_step(st, q, error_r, "user get")) > 0)
        st_user_row(q, u);
    return st_found(q, rc);
}

int store_user_list(struct store *st, void (*fn)(const struct store_user *u, void *ctx), void *ctx,
                    const char **error_r)
{
    struct st_q *q = st_q(st, S_USER_LIST);
    int rc;

    while ((rc = st_step(st, q, error_r, "user list")) > 0) {
        struct store_user u;
        st_user_row(q, &u);
        fn(&u, ctx);
    }
    return rc;
}

int store_user_set_password(struct store *st, const char *address, const char *password,
                            const char **error_r)
{
    char hash[crypto_pwhash_STRBYTES], low[257];
    struct st_q *q;

    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return st_fail(st, error_r, "password hashing ran out of memory");
    st_lower(low, sizeof(low), address);
    q = st_q(st, S_USER_SET_PW);
    st_text(q, 1, hash);
    st_text(q, 2, low);
    if (st_exec1(st, q, error_r, "user password") < 0)
        return -1;
    return st_changes(st) > 0 ? 0 : STORE_NOTFOUND;
}

int store_user_consent(struct store *st, const char *address, const char *service,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_CONSENT_GET);
    char low[257];
    int rc, v = -1;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    st_text(q, 2, service);
    rc = st_step(st, q, error_r, "consent");
    if (rc > 0) {
        v = st_col_int(q, 0) != 0;
        st_reset(q);
    }
    return v;
}

int st_user_begin(struct store *st, const char *low, const char **error_r)
{
    struct st_q *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_USER_ENSURE);
    st_text(q, 1, low);
    st_int(q, 2, st_now());
    if (st_exec1(st, q, error_r, "user") < 0) {
        st_rollback(st);
        return -1;
    }
    return 0;
}

int store_user_set_consent(struct store *st, const char *address, const char *service, bool allowed,
                           const char **error_r)
{
    struct st_q *q;
    char low[257];

    st_lower(low, sizeof(low), address);
    if (st_user_begin(st, low, error_r) < 0)
        return -1;
    q = st_q(st, S_CONSENT_SET);
    st_text(q, 1, low);
    st_text(q, 2, service);
    st_int(q, 3, allowed);
    st_int(q, 4, st_now());
    return st_exec_commit(st, q, error_r, "consent");
}

#define ST_SPAM_OFF 1000000 /* tenths: a score that is off */

/* st_tenths / st_score - a score as stored, and back */
static int64_t st_tenths(double v)
{
    return !(v < ST_SPAM_OFF / 10.0) ? ST_SPAM_OFF : (int64_t)lround(v * 10);
}

static double st_score(int64_t t)
{
    return t >= ST_SPAM_OFF ? INFINITY : (double)t / 10;
}

/* st_spam_score - "5.0" (0-1000) or "off"; -1 when neither */
static int st_spam_score(const char *v, double *out)
{
    char *end;

    if (strcmp(v, "off") == 0) {
        *out = INFINITY;
        return 0;
    }
    *out = strtod(v, &end);
    return *v != '\0' && *end == '\0' && *out >= 0 && *out <= 1000 ? 0 : -1;
}

int store_spam_parse(const char *level, const char *const *scores, struct store_spam *s,
                     const char **error_r)
{
    static const char *const levels[] = {"lenient", "normal", "strict", "custom"};
    bool known = false;

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < 4; i++)
        known = known || strcmp(level, levels[i]) == 0;
    if (!known) {
        *error_r = "expected lenient, normal, strict or custom";
        return -1;
    }
    snprintf(s->level, sizeof(s->level), "%s", level);
    if (strcmp(level, "custom") != 0)
        return 0;
    if (scores == NULL || st_spam_score(scores[0], &s->tag) < 0 ||
        st_spam_score(scores[1], &s->junk) < 0 || st_spam_score(scores[2], &s->quarantine) < 0) {
        *error_r = "custom needs three scores (tag, junk, quarantine), each 0-1000 or off";
        return -1;
    }
    if (s->tag > s->quarantine ||
        (!isinf(s->junk) && (s->junk < s->tag || s->junk > s->quarantine))) {
        *error_r = "the scores must rise: tag, then junk, then quarantine";
        return -1;
    }
    return 0;
}

int store_user_spam(struct store *st, const char *address, struct store_spam *s,
                    const char **error_r)
{
    struct st_q *q = st_q(st, S_SPAM_GET);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    rc = st_step(st, q, error_r, "spam level");
    if (rc > 0) {
        st_copy(s->level, sizeof(s->level), q, 0);
        s->tag = st_score(st_col_int(q, 1));
        s->junk = st_score(st_col_int(q, 2));
        s->quarantine = st_score(st_col_int(q, 3));
        s->updated = st_col_int(q, 4);
        st_reset(q);
    }
    return rc < 0 ? -1 : rc > 0;
}

int store_user_set_spam(struct store *st, const char *address, const struct store_spam *s,
                        const char **error_r)
{
    struct st_q *q;
    char low[257];

    st_lower(low, sizeof(low), address);
    if (st_user_begin(st, low, error_r) < 0)
        return -1;
    q = st_q(st, s != NULL ? S_SPAM_SET : S_SPAM_CLEAR);
    st_text(q, 1, low);
    if (s != NULL) {
        st_text(q, 2, s->level);
        st_int(q, 3, st_tenths(s->tag));
        st_int(q, 4, st_tenths(s->junk));
        st_int(q, 5, st_tenths(s->quarantine));
        st_int(q, 6, st_now());
    }
    return st_exec_commit(st, q, error_r, "spam level");
}

int store_user_locale(struct store *st, const char *address, char *language, size_t lsize,
                      char *timezone, size_t tsize, const char **error_r)
{
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    rc = st_lookup2(st, S_USER_LOCALE, low, language, lsize, timezone, tsize, error_r,
                    "user locale");
    if (rc == STORE_NOTFOUND) {
        if (lsize > 0)
            language[0] = '\0';
        if (tsize > 0)
            timezone[0] = '\0';
    }
    return rc;
}

int store_user_set_locale(struct store *st, const char *address, const char *language,
                          const char *timezone, const char **error_r)
{
    struct st_q *q = st_q(st, S_USER_SET_LOCALE);
    char low[257];

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    st_text(q, 2, language != NULL ? language : "");
    st_text(q, 3, timezone != NULL ? timezone : "");
    st_int(q, 4, st_now());
    return st_exec1(st, q, error_r, "user locale");
}

int store_user_check_password(struct store *st, const char *address, const char *password,
                              const char **error_r)
{
    static const char dummy[] = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    struct st_q *q = st_q(st, S_USER_GET_PW);
    char hash[crypto_pwhash_STRBYTES] = "", low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    rc = st_step(st, q, error_r, "user password");
    if (rc > 0) {
        st_copy(hash, sizeof(hash), q, 0);
        st_reset(q);
    }
    if (rc < 0)
        return -1;
    /* the same work whether or not the user exists: no timing oracle */
    rc = crypto_pwhash_str_verify(hash[0] ? hash : dummy, password, strlen(password)) == 0;
    return hash[0] ? rc : 0;
}

int store_list_lookup(struct store *st, const char *recipient, const char *sender, bool *white,
                      bool *black, const char **error_r)
{
    struct st_q *q = st_q(st, S_LIST_LOOKUP);
    int rc;

    *white = *black = false;
    st_list_keys(q, 1, recipient, sender);
    while ((rc = st_step(st, q, error_r, "list lookup")) > 0) {
        if (strcmp(st_col_text(q, 0), "white") == 0)
            *white = true;
        else
            *black = true;
    }
    if (rc < 0)
        *white = *black = false;
    return rc;
}

/* ------------------------------------------------------------ audit */

int st_audit_insert(struct store *st, const char *actor, const char *action, const char *object,
                    const char *origin, const char *via, const char **error_r)
{
    struct st_q *q = st_q(st, S_AUDIT_INSERT);

    st_int(q, 1, st_now());
    st_text(q, 2, actor);
    st_text(q, 3, action);
    st_text(q, 4, object);
    st_text(q, 5, origin);
    st_text(q, 6, via != NULL ? via : "");
    return st_exec1(st, q, error_r, "audit insert");
}

int store_audit(struct store *st, const char *actor, const char *action, const char *object,
                const char *origin, const char **error_r)
{
    return st_audit_insert(st, actor, action, object, origin, "", error_r);
}

int store_audit_via(struct store *st, const char *actor, const char *action, const char *object,
                    const char *origin, const char *via, const char **error_r)
{
    return st_audit_insert(st, actor, action, object, origin, via, error_r);
}

int store_audit_list(struct store *st, size_t limit,
                     void (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx,
                     const char **error_r)
{
    return store_audit_list_for(st, NULL, limit, fn, ctx, error_r);
}

int store_audit_list_for(struct store *st, const char *domain_admin, size_t limit,
                         void (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx,
                         const char **error_r)
{
    struct st_q *q = st_q(st, S_AUDIT_LIST);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), domain_admin != NULL ? domain_admin : "");
    st_int(q, 1, limit ? (int64_t)limit : 100);
    st_text(q, 2, low);
    while ((rc = st_step(st, q, error_r, "audit list")) > 0) {
        struct store_audit_entry e;
        e.at = st_col_int(q, 0);
        st_copy(e.actor, sizeof(e.actor), q, 1);
        st_copy(e.action, sizeof(e.action), q, 2);
        st_copy(e.object, sizeof(e.object), q, 3);
        st_copy(e.origin, sizeof(e.origin), q, 4);
        st_copy(e.via, sizeof(e.via), q, 5);
        fn(&e, ctx);
    }
    return rc;
}
