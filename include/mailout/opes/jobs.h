/*
 * jobs.h - opesd's background work on the store.
 *
 * Release requests (written by opesctl and the portal) are carried out by
 * delivering the held message through the downstream straight into the
 * recipient's mailbox, never back through the MTA, so that it is not
 * filtered again. Retention purges expire and remove old entries.
 *
 * Several nodes may share one store: release requests are taken one row at a
 * time by the store itself; the other kinds (mail of our own, the purge) run
 * under a lease named after the kind, so that one node at a time does them.
 * The lease is renewed between steps and given back at the end; a node that
 * died loses it when it expires.
 */
#ifndef OPES_JOBS_H
#define OPES_JOBS_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct lmtp_env;

/*
 * jobs_release_one - carry out the oldest due release request.
 * Returns 1 when one was handled (whatever the outcome), 0 when none was due,
 * -1 on a store error.
 */
int jobs_release_one(struct store *st, struct lmtp_env *env);

/*
 * jobs_learn_one - carry out the oldest due learning request whose message
 * was released ("not spam": taught as ham to the service that held it).
 * Returns 1 when one was handled (learned, deferred or given up), 0 when none
 * was due, -1 on a store error.
 */
int jobs_learn_one(struct store *st, struct lmtp_env *env);

/* The node's name in leases and how long a lease lasts without renewal. */
struct jobs_lease {
    const char *holder; /* not copied */
    int64_t ttl;        /* seconds */
};

/*
 * jobs_notify - capture new quarantine entries, then send what is due:
 * notices, digests, login links, the admin summary and sender DSNs. Stops
 * early when stop_fd becomes readable, or when the lease "notify" is held by
 * another node or lost; 0, or -1 on a store error. *scanned (false at start)
 * becomes true once every entry was looked at; later calls look only at the
 * last day's entries.
 */
int jobs_notify(struct store *st, struct lmtp_env *env, const struct jobs_lease *lease, int stop_fd,
                bool *scanned);

/* jobs_purge - apply [store] retention_days under the lease "purge": 1 when
 * done, 0 when another node holds the lease, -1 on a store error. */
int jobs_purge(struct store *st, struct lmtp_env *env, const struct jobs_lease *lease);

#endif
