/*
 * access.c - the portal's permission rule (web_access.h): the one function
 * that pages and the API ask before they show or change anything of an
 * address, and the scope a session carries for it.
 */
#include "opes/web_access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "opes/store.h"
#include "opes/web_session.h"

/* access_domain_admin - does s administer the domain of address? */
static bool access_domain_admin(const struct web_session *s, const char *address)
{
    const char *at = strrchr(address, '@');

    for (size_t i = 0; at != NULL && i < s->n_domains; i++)
        if (strcasecmp(at + 1, s->domains[i]) == 0)
            return true;
    return false;
}

bool web_may_act(const struct web_session *s, const char *address)
{
    if (!s->valid || address == NULL)
        return false;
    if (web_sees_all(s) || strcasecmp(address, s->address) == 0 || access_domain_admin(s, address))
        return true;
    for (size_t i = 0; i < s->n_owners; i++)
        if (strcasecmp(address, s->owners[i]) == 0)
            return true;
    return false;
}

bool web_sees_all(const struct web_session *s)
{
    return s->valid && s->admin;
}

bool web_may_decide(const struct web_session *s, const char *address)
{
    return s->valid && address != NULL && (web_sees_all(s) || access_domain_admin(s, address));
}

bool web_sees_others(const struct web_session *s)
{
    return s->valid && (s->admin || s->n_domains > 0 || s->n_owners > 0);
}

bool web_is_approver(const struct web_session *s)
{
    return s->valid && (s->admin || s->n_domains > 0);
}

/* access_add_domain - fn of store_domain_admin_list: one more domain of s. */
static void access_add_domain(const char *address, const char *domain, void *ctx)
{
    struct web_session *s = ctx;

    (void)address;
    if (s->n_domains < WEB_SCOPE_MAX)
        snprintf(s->domains[s->n_domains++], sizeof(s->domains[0]), "%s", domain);
}

/* access_add_owner - fn of store_delegate_list: one more shared mailbox of s. */
static void access_add_owner(const struct store_delegate *d, void *ctx)
{
    struct web_session *s = ctx;

    if (s->n_owners < WEB_SCOPE_MAX)
        snprintf(s->owners[s->n_owners++], sizeof(s->owners[0]), "%s", d->owner);
}

int web_access_load(struct store *st, struct web_session *s, const char **error_r)
{
    s->n_domains = s->n_owners = 0;
    if (store_domain_admin_list(st, s->address, access_add_domain, s, error_r) < 0)
        return -1;
    return store_delegate_list(st, NULL, s->address, access_add_owner, s, error_r);
}
