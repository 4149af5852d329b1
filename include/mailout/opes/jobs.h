/*
 * jobs.h - opesd's background work on the store.
 *
 * Release requests (written by opesctl and the portal) are carried out by
 * delivering the held message through the downstream straight into the
 * recipient's mailbox, never back through the MTA, so that it is not
 * filtered again. Retention purges expire and remove old entries.
 */
#ifndef OPES_JOBS_H
#define OPES_JOBS_H

#include <stdbool.h>

struct store;
struct lmtp_env;

/*
 * jobs_release_one - carry out the oldest due release request.
 * Returns 1 when one was handled (whatever the outcome), 0 when none was due,
 * -1 on a store error.
 */
int jobs_release_one(struct store *st, struct lmtp_env *env);

/*
 * jobs_notify - capture new quarantine entries, then send what is due:
 * notices, digests, login links, the admin summary and sender DSNs. Stops
 * early when stop_fd becomes readable; 0, or -1 on a store error. *scanned
 * (false at start) becomes true once every entry was looked at; later calls
 * look only at the last day's entries.
 */
int jobs_notify(struct store *st, struct lmtp_env *env, int stop_fd, bool *scanned);

/* jobs_purge - apply [store] retention_days; 0 or -1. */
int jobs_purge(struct store *st, struct lmtp_env *env);

#endif
