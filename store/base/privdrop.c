/*
 * privdrop.c - the one privilege drop (see privdrop.h).
 */
#include "opes/privdrop.h"

#include <grp.h>
#include <unistd.h>

#include "opes/log.h"

struct passwd *privdrop_lookup(const char *setting, const char *user)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL)
        fatalx("%s: no such user %s", setting, user);
    return pw;
}

void privdrop_to(const struct passwd *pw)
{
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        fatal("cannot drop privileges to %s", pw->pw_name);
    if (setuid(0) == 0)
        fatalx("privileges could be regained after dropping them");
    log_info("running as user=%s uid=%u", pw->pw_name, (unsigned)pw->pw_uid);
}
