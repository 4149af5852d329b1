/*
 * ledger.h - exactly once across crashes: one message's key in the delivery
 * ledger (store.h), and the answers taken from it.
 *
 * The key is computed while the content arrives: the BLAKE2b-256 of the
 * envelope sender and the exact bytes received, with the message's name (the
 * MTA's queue id from XFORWARD IDENT, else its Message-ID). A recipient the
 * mailbox store or the quarantine took is recorded under that key before the
 * MTA gets its 250; when the MTA sends the same transaction again (opesd died
 * before answering), such a recipient gets 250 from the ledger and is not
 * delivered or held a second time.
 *
 * The ledger cannot see one window: the store has the final dot and is saving
 * when opesd dies, before its 2xx is read. For that window every copy carries
 * a delivery id (OPES-Delivery-Id, trace.h), the same on every retry of the
 * message, which the mailbox store's own duplicate check drops (opesd.8).
 */
#ifndef OPES_LEDGER_H
#define OPES_LEDGER_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#include "opes/lmtp_parse.h"
#include "opes/store.h"

#define LEDGER_DELIVERY_ID_LEN 32 /* hex of a BLAKE2b-128 */

/* One message's key; usable once ledger_finish said so. */
struct ledger {
    crypto_generichash_state h;
    char ident[320];                              /* "queue:<id>" or "msgid:<Message-ID>" */
    char hash[STORE_LEDGER_HASH_LEN + 1];         /* hex */
    bool usable;                                  /* a key, and the store answered so far */
    char delivery_id[LEDGER_DELIVERY_ID_LEN + 1]; /* hex; set by ledger_finish, always */
};

/* ledger_begin - a new key for a message from sender (the content follows). */
void ledger_begin(struct ledger *lg, const char *sender);
/* ledger_feed - the content as received, in order. */
void ledger_feed(struct ledger *lg, const char *data, size_t len);
/*
 * ledger_finish - the content is complete: name the message by queue_id (the
 * MTA's, may be NULL), else by message_id (may be NULL). false when it has
 * neither: no ledger for this message. The delivery id is set either way: the
 * BLAKE2b-128 of the name and the hash of sender and bytes (of the hash alone
 * without a name, which is stable across retries by itself).
 */
bool ledger_finish(struct ledger *lg, const char *queue_id, const char *message_id);

/*
 * ledger_answer - is addr recorded under the key in st? 1: yes, reply (250)
 * and row are filled and the hit is logged; 0: no; -1: the ledger cannot be
 * read (st NULL or failing; logged once, and the key is dropped for the rest
 * of the message, which is then delivered as if the ledger did not exist).
 */
int ledger_answer(struct ledger *lg, struct store *st, const char *addr, struct lmtp_reply *reply,
                  struct store_ledger *row);

/* ledger_row - the row that records addr's outcome (detail: what the store said) under the key. */
void ledger_row(const struct ledger *lg, const char *addr, const char *outcome,
                const char *trace_id, const char *detail, struct store_ledger *row);

/*
 * ledger_record - the store took addr with reply (2xx) in the transaction
 * trace_id: record it now, before any reply goes out. A failed write is
 * logged and changes no reply: the message was delivered, and the 250 says so
 * (a crash before the MTA reads it could then deliver it again).
 */
void ledger_record(struct ledger *lg, struct store *st, const char *trace_id, const char *addr,
                   const struct lmtp_reply *reply);

#endif
