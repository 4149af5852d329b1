/*
 * web_access.h - who may see and act on what, in one place: every page and
 * every /api/v1 call asks here. A global administrator sees everything; a
 * domain administrator the addresses of their domains; a delegate the
 * shared mailboxes they were given beside their own; a recipient their own.
 */
#ifndef OPES_WEB_ACCESS_H
#define OPES_WEB_ACCESS_H

#include <stdbool.h>

struct store;
struct web_session;

/*
 * web_may_act - may the person of session s see and act on what belongs to
 * address (a quarantine item's recipient, a list's owner)? An administrator
 * on everything; a domain administrator on the addresses of their domains;
 * a delegate on the shared mailboxes they were given; a recipient on their
 * own address (compared without case). A session that is not valid may do
 * nothing.
 */
bool web_may_act(const struct web_session *s, const char *address);
/* web_sees_all - may the person of s see every address's items and lists (an administrator)? */
bool web_sees_all(const struct web_session *s);
/*
 * web_may_decide - may the person of s approve or deny release requests for
 * address and release what only administrators release there: a global
 * administrator, or a domain administrator of address's domain.
 */
bool web_may_decide(const struct web_session *s, const char *address);
/* web_sees_others - does s see anyone's items beside its own (labelled with whose they are)? */
bool web_sees_others(const struct web_session *s);
/* web_is_approver - does s decide anything at all (an administrator of some kind)? */
bool web_is_approver(const struct web_session *s);
/*
 * web_access_load - read the domains s->address administers and the shared
 * mailboxes it is a delegate of into s (called with every session lookup);
 * 0 or -1 with *error_r.
 */
int web_access_load(struct store *st, struct web_session *s, const char **error_r);

#endif
