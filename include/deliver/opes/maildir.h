/*
 * maildir.h - the built-in Maildir target (tmp, then new; fsync; unique names).
 *
 * The embedded default for the demo and small sites. A delivered file has LF
 * line ends, as Maildir readers expect. It is the store's job to be durable:
 * the file and the new/ directory are fsynced before success is returned.
 */
#ifndef OPES_MAILDIR_H
#define OPES_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>

struct variant;

/*
 * maildir_expand - template with %u (local part), %d (domain), %a (address),
 * %% into out; local part and domain are lower-cased. Returns 0, or -1 when
 * the address would escape the template (a '/', a leading '.', NUL, empty).
 */
int maildir_expand(const char *tmpl, const char *addr, char *out, size_t size);

enum maildir_status { MAILDIR_OK, MAILDIR_UNKNOWN, MAILDIR_ERROR };
/* maildir_check - does the maildir exist (or may it be created)? errno on ERROR. */
enum maildir_status maildir_check(const char *dir, bool create);

/*
 * maildir_deliver - write the copy v (CRLF turned into LF) as one new message
 * in dir, creating dir/{tmp,new,cur} when create. 0, or -1 with errno (ENOSPC
 * and EDQUOT matter to the caller).
 */
int maildir_deliver(const char *dir, bool create, const struct variant *v);

#endif
