/*
 * access.c - the portal's permission rule (web_access.h): the one function
 * that pages and the API ask before they show or change anything of an
 * address.
 */
#include "opes/web_access.h"

#include <strings.h>

#include "opes/web_session.h"

bool web_may_act(const struct web_session *s, const char *address)
{
    if (!s->valid || address == NULL)
        return false;
    return web_sees_all(s) || strcasecmp(address, s->address) == 0;
}

bool web_sees_all(const struct web_session *s)
{
    return s->valid && s->admin;
}
