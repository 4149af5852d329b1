/*
 * mboxlock.h - one final dot at a time per mailbox, across the process.
 *
 * Why: a copy the mailbox store is saving when opesd dies is sent again by the
 * MTA, and the store's own duplicate check (Dovecot's, by OPES-Delivery-Id) is
 * what drops it. Dovecot 2.3 keeps the ids a user's deliveries saw in one file
 * that each delivery rewrites whole from what it read, so the id of a delivery
 * that ends together with another one to the same user can be lost (measured:
 * 50 of 200 ids kept with 20 concurrent deliveries to one user, all 200 one at
 * a time). opesd therefore lets one transaction at a time, per mailbox, go from
 * its final dot to its last reply; the store serializes that part per mailbox
 * anyway (Maildir's uidlist, dbox's index), so the cost is the wait, not the work.
 *
 * A mailbox is named by the recipient address, lowercased, without the detail
 * after the store's recipient delimiter (alice+Junk@ is alice@).
 */
#ifndef OPES_MBOXLOCK_H
#define OPES_MBOXLOCK_H

#include <stddef.h>
#include <stdint.h>

struct mboxlock;

/*
 * mboxlock_acquire - wait until no other transaction of this process is between
 * its final dot and its last reply for any of the n mailboxes of addrs, then
 * hold them all (all or none at once, so no two transactions can wait for each
 * other). Waits at most until wait_until_ms (clock_now_ms); then it goes on
 * without them, logged, and returns NULL, as it does for n == 0.
 */
struct mboxlock *mboxlock_acquire(const char *const *addrs, size_t n, char delimiter,
                                  int64_t wait_until_ms);

/* mboxlock_release - the mailboxes are free again (*lp NULL: nothing). */
void mboxlock_release(struct mboxlock **lp);

/* mboxlock_key - the name of addr's mailbox as a 64-bit key (for tests). */
uint64_t mboxlock_key(const char *addr, char delimiter);

#endif
