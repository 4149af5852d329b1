/*
 * notify.h - block notifications: telling a recipient what was held.
 *
 * opesd's job thread first captures every new quarantine entry: it keeps the
 * held message's header section in the store and decides, once, what the
 * recipient gets (an immediate notice, a place in the next digest, nothing
 * because of the recipient's mode, or nothing because of the loop rules of
 * PROTOCOL.md 26). Immediate notices are then composed from templates and
 * delivered through the downstream straight into the recipient's mailbox,
 * never through the filter. A failed try stays pending and is retried on the
 * next job interval.
 */
#ifndef OPES_NOTIFY_H
#define OPES_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_qitem;
struct lmtp_env;
struct notify_round;
struct lmtp_reply;
struct opes_config;
struct mailgen_buf;
struct mailgen_var;

/*
 * notify_header_get - the first field called name in the header section hdr
 * (unfolded, without leading blanks) into buf; true when found.
 */
bool notify_header_get(const char *hdr, const char *name, char *buf, size_t size);

/*
 * notify_loop_rule - should no notice (dsn false) or DSN (dsn true) be sent
 * for a message with this envelope sender and header section? Returns NULL
 * when one may be sent, else why not ("null sender", "auto-submitted", ...).
 * skip_lists: List-Id and Precedence mail gets no notice (DSNs: always).
 */
const char *notify_loop_rule(const char *sender, const char *hdr, bool skip_lists, bool dsn);

/* notify_link_expiry - when links issued now expire ([notify] link_lifetime or link_days). */
int64_t notify_link_expiry(const struct opes_config *cfg);

/*
 * notify_deliver - one message of ours (CRLF text) to rcpt through the
 * downstream, with a null reverse-path; reply gets the store's answer.
 */
void notify_deliver(struct lmtp_env *env, const char *rcpt, const char *msg, size_t len,
                    struct lmtp_reply *reply);

/*
 * notify_round_goes_on - whether a round of mail of our own (notices,
 * digests) goes on after the mailbox store answered code (0: nothing was
 * sent). A 4xx of one mailbox (over quota) does not hold up the others;
 * NOTIFY_TEMPFAIL_STOP of them in a row say the store itself is unwell, and
 * the rest waits for the next interval. *tempfails counts them.
 */
#define NOTIFY_TEMPFAIL_STOP 3
bool notify_round_goes_on(int *tempfails, int code);

/*
 * notify_compose - a whole message of kind ("login", "summary") to to, for a
 * reader of lang, from the templates KIND-subject.txt, KIND.txt and, when
 * html, KIND.html filled with vars (mailgen_fill_lang); 0, or -1 when a
 * template is missing. Notices and digests: mailview_compose.
 */
int notify_compose(const struct opes_config *cfg, const char *kind, const char *lang,
                   const char *to, const char *auto_submitted, const struct mailgen_var *vars,
                   size_t n, bool html, struct mailgen_buf *out);

/*
 * notify_capture - capture quarantine entries created at or after since (0:
 * all) that have no notification row yet, at most NOTIFY_BATCH of them;
 * returns how many, or -1 on a store error.
 */
#define NOTIFY_BATCH 100
int notify_capture(struct store *st, struct lmtp_env *env, int64_t since);

/*
 * notify_send_pending - send due immediate notices until the round stops;
 * the number of held messages told of, or -1. With [notify] batch_window, a
 * recipient's notices wait until the first is that old and then go out as one
 * mail listing them all.
 */
int notify_send_pending(struct store *st, struct lmtp_env *env, const struct notify_round *round);

/* notify_admin_summary - [notify] admin_summary: one summary a day to admin_copy. */
int notify_admin_summary(struct store *st, struct lmtp_env *env);

/*
 * struct notify_round - what a round of mail of our own watches: opesd
 * stopping (stop_fd readable, -1: never) and whether the lease it runs under
 * is still surely held (held(ctx); NULL: no lease). A node that stalled past
 * its lease, while another node may have done the same work, stops before its
 * next mail rather than send from a batch it read before the stall.
 */
struct notify_round {
    int stop_fd;
    bool (*held)(void *ctx);
    void *ctx;
};
/* notify_stopping - true when the round must stop; sleeps ms first unless cut short. */
bool notify_stopping(const struct notify_round *round, int ms);

#endif
