/*
 * deliver.h - getting a message into the mailbox store.
 *
 * A target is "lmtp:host:port", "lmtp:unix:/path" or "maildir:/dir/%u". One
 * deliver_tx follows one upstream transaction: each recipient is verified at
 * RCPT time (for LMTP: a RCPT on a cached connection, inside a transaction
 * that is kept open and reused for the delivery when the recipients still
 * match), then the content is delivered to groups of recipients that share it
 * and every recipient gets the store's own reply (or our 4xx).
 */
#ifndef OPES_DELIVER_H
#define OPES_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/lmtp_client.h"
#include "opes/lmtp_parse.h"

struct opes_config;
struct spool;
struct deliver;
struct deliver_tx;
struct variant;

/* deliver_new - the target of cfg (which must outlive it); NULL with *error_r. */
struct deliver *deliver_new(const struct opes_config *cfg, const char **error_r);
void deliver_free(struct deliver **dp);

/*
 * deliver_caps - what the target can take, for our LHLO. For LMTP it is what
 * the last connection said; before the first one, one connection is tried.
 */
struct lmtp_caps deliver_caps(struct deliver *d);

struct deliver_mail {
    const char *sender;   /* copied */
    const char *trace_id; /* copied */
    uint64_t size;        /* SIZE= from the client, 0 when unknown */
    const char *body;     /* "7BIT", "8BITMIME" or NULL; copied */
    bool smtputf8;
};

struct deliver_tx *deliver_tx_begin(struct deliver *d, const struct deliver_mail *mail);

/* deliver_tx_rcpt - verify one recipient now; reply is the store's answer or our 4xx. */
void deliver_tx_rcpt(struct deliver_tx *tx, const char *rcpt, struct lmtp_reply *reply);

/*
 * deliver_tx_data - deliver prefix + spool to rcpts[0..n) (recipients that
 * were verified, each once). replies[i] receives the final answer for
 * rcpts[i]. deadline_ms (clock_now_ms) bounds the whole call.
 */
void deliver_tx_data(struct deliver_tx *tx, const char *const *rcpts, size_t n, const char *prefix,
                     size_t prefix_len, struct spool *spool, int64_t deadline_ms,
                     struct lmtp_reply *replies);

/*
 * deliver_confirm_fn - the store took rcpt: reply is its 2xx, reported the
 * moment it is read (before the other recipients' replies), so that the
 * caller can record it before anything else can go wrong.
 */
typedef void deliver_confirm_fn(void *ctx, const char *rcpt, const struct lmtp_reply *reply);
/* deliver_tx_on_confirm - call fn(ctx, ...) for every recipient the store takes in tx. */
void deliver_tx_on_confirm(struct deliver_tx *tx, deliver_confirm_fn *fn, void *ctx);

/* deliver_tx_content - the same for one content variant (variant.h). */
void deliver_tx_content(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                        const struct variant *v, int64_t deadline_ms, struct lmtp_reply *replies);

/*
 * deliver_tx_junk - deliver v into the Junk folder ([downstream] junk_folder)
 * of each of rcpts[0..n): for LMTP as local+Junk@domain (the store's
 * plus-addressing; [downstream] recipient_delimiter), for Maildir into .Junk/.
 * The store's answer for that address is the answer for the recipient. When
 * the store refuses the folder (5xx) or the folder cannot be written, the copy
 * goes to the inbox instead, logged, and inbox[i] is set.
 */
void deliver_tx_junk(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                     const struct variant *v, int64_t deadline_ms, struct lmtp_reply *replies,
                     bool *inbox);

/*
 * deliver_junk_address - rcpt with its detail set to folder: "a+b@x" and "a@x"
 * with '+' and "Junk" give "a+Junk@x". 0, or -1 when it does not fit or rcpt
 * has a quoted local part.
 */
int deliver_junk_address(const char *rcpt, char delimiter, const char *folder, char *out,
                         size_t size);

/* deliver_tx_end - abandon or finish; a clean connection returns to the cache. */
void deliver_tx_end(struct deliver_tx **txp);

/*
 * deliver_one - one message of our own (prefix + spool) to one recipient:
 * verified, then delivered within timeout_ms of the verification. reply gets
 * the answer.
 */
void deliver_one(struct deliver *d, const struct deliver_mail *mail, const char *rcpt,
                 const char *prefix, size_t prefix_len, struct spool *spool, int64_t timeout_ms,
                 struct lmtp_reply *reply);

#endif
