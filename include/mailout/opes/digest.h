/*
 * digest.h - quarantine digests for recipients in notify mode "digest".
 *
 * On the recipient's schedule ("daily@HH": once a day after HH:00 local
 * time; "every Nh": N hours after the previous one) a digest lists every
 * entry held since the previous digest, with the same per-item links as a
 * notice. A digest is recorded with its items in the store first and sent
 * afterwards (Auto-Submitted: auto-generated); one that was recorded but not
 * confirmed sent is sent again as the same digest after a restart, so no item
 * is sent twice in different digests and none is skipped. Nothing new: no
 * digest.
 */
#ifndef OPES_DIGEST_H
#define OPES_DIGEST_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct lmtp_env;
struct notify_round;
struct opes_config;

/*
 * digest_record - record the digests that are due (force: every recipient
 * with waiting entries, whatever the schedule; only: just this address, or
 * NULL). Returns the number of digests recorded, or -1.
 */
int digest_record(struct store *st, const struct opes_config *cfg, bool force, const char *only);

/* digest_send_pending - send recorded digests until the round stops; count or -1. */
int digest_send_pending(struct store *st, struct lmtp_env *env, const struct notify_round *round);

#endif
