/*
 * transaction.h - one message's way after the LMTP server accepted it.
 *
 * A transaction follows one server transaction (lmtp_server.h) from MAIL to
 * the final replies: the downstream transaction that verifies recipients at
 * RCPT time, the MIME parse during DATA, then the pipeline, the quarantine,
 * the deliveries in groups of recipients that share a copy, one reply per
 * recipient and the trace records. The release of a held message uses the
 * same trace fields and delivery (transaction_release).
 */
#ifndef OPES_TRANSACTION_H
#define OPES_TRANSACTION_H

#include <stddef.h>

#include "opes/lmtp_server.h"

struct opes_config;
struct svc_set;
struct deliver;
struct spool;
struct store;
struct store_qitem;
struct store_release;
struct transaction;

/*
 * transaction_new - begin for tx, whose id it sets (a new trace id); the
 * downstream transaction is begun in d. cfg, services and d must outlive it.
 */
struct transaction *transaction_new(const struct opes_config *cfg, const struct svc_set *services,
                                    struct deliver *d, struct lmtp_server_tx *tx);
/* transaction_free - abandon or finish; *tp becomes NULL. */
void transaction_free(struct transaction **tp);

/* transaction_rcpt - verify one new recipient downstream; reply is the store's answer or our 4xx.
 */
void transaction_rcpt(struct transaction *t, const char *addr, struct lmtp_reply *reply);

/* transaction_data_begin / transaction_data_feed - the content as it arrives, for the MIME parse.
 */
void transaction_data_begin(struct transaction *t);
void transaction_data_feed(struct transaction *t, const char *data, size_t len);

/*
 * transaction_deliver - the pipeline decides per unique recipient; then
 * quarantine, rejection, deferral or delivery, and one final reply in each
 * of tx->rcpts (duplicates share their first's). A recipient the delivery
 * ledger (ledger.h) says this very message already reached gets 250 from it
 * and nothing else happens for it; every other one the store or the
 * quarantine takes is recorded there before this returns. st may be NULL (no
 * lists, no consent, no quarantine: those recipients get 451; no ledger).
 */
void transaction_deliver(struct transaction *t, struct store *st, struct lmtp_server_tx *tx,
                         struct spool *spool);

/* transaction_replied - the final replies went out: their trace records, then all records go. */
void transaction_replied(struct transaction *t, const struct lmtp_server_tx *tx);

/*
 * transaction_release - deliver the held message it (content in spool) to
 * its recipient, with trace fields saying who released it (r) and how;
 * reply gets the answer.
 */
void transaction_release(const struct opes_config *cfg, struct deliver *d,
                         const struct store_qitem *it, const struct store_release *r,
                         struct spool *spool, struct lmtp_reply *reply);

#endif
