/*
 * privdrop.h - the one privilege drop, for opesd and opes-web: look the
 * user up (before the caller prepares directories for it), then give up
 * root for good.
 */
#ifndef OPES_PRIVDROP_H
#define OPES_PRIVDROP_H

#include <pwd.h>

/* privdrop_lookup - the password entry of user, or fatal with what names
 * the setting (e.g. "lmtp.user"). The result is getpwnam's static one. */
struct passwd *privdrop_lookup(const char *setting, const char *user);

/* privdrop_to - initgroups, setgid, setuid to pw; fatal when any fails or
 * when root could be regained afterwards. Logs the user it runs as. */
void privdrop_to(const struct passwd *pw);

#endif
