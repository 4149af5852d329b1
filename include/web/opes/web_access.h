/*
 * web_access.h - who may see and act on what, in one place: every page and
 * every /api/v1 call asks here, so that a new kind of person (a domain
 * administrator, a delegate of a shared mailbox) is added once.
 */
#ifndef OPES_WEB_ACCESS_H
#define OPES_WEB_ACCESS_H

#include <stdbool.h>

struct web_session;

/*
 * web_may_act - may the person of session s see and act on what belongs to
 * address (a quarantine item's recipient, a list's owner)? An administrator
 * on everything; a recipient on their own address only (compared without
 * case). A session that is not valid may do nothing.
 */
bool web_may_act(const struct web_session *s, const char *address);
/* web_sees_all - may the person of s see every address's items and lists (an administrator)? */
bool web_sees_all(const struct web_session *s);

#endif
