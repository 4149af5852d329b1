/*
 * metrics.h - this node's own live figures, for Prometheus.
 *
 * Counters kept in C11 atomics where outcomes are decided: sessions, messages
 * and recipients by outcome, each service's run time and verdict, the
 * delivery target's replies by class, and the job backlog as the job thread
 * last read it from the store. A small responder thread serves them on a
 * loopback address ([lmtp] metrics_listen) as "GET /metrics" in the text
 * exposition format 0.0.4, every series with a node label. Incrementing a
 * counter never locks; the mail path never waits on the responder.
 */
#ifndef OPES_METRICS_H
#define OPES_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/svcdesc.h"

struct opes_config;
struct lmtp_reply;
struct lmtp_server_tx;
struct store;
struct svc_set;

/* metrics_session - a session began (+1) or ended (-1). */
void metrics_session(int delta);

/*
 * metrics_replied - one message's final replies are out: each recipient
 * counts under its outcome (delivered, quarantined, rejected, tempfailed,
 * junk: delivered with a tag verdict), the message once under the most
 * severe outcome among its recipients.
 */
void metrics_replied(const struct lmtp_server_tx *tx);

/* metrics_service - one run of a service: its verdict (or failed) and how long it took. */
void metrics_service(const char *name, enum svc_verdict verdict, bool failed, int64_t ms);

/* metrics_downstream - the delivery target's answers for n recipients, by class. */
void metrics_downstream(const struct lmtp_reply *replies, size_t n);

/*
 * metrics_backlog_read - the job thread's hook: read the pending notices,
 * digests and release requests from st, when the figures were scraped in
 * the last minute and were read more than METRICS_BACKLOG_EVERY seconds ago.
 */
#define METRICS_BACKLOG_EVERY 5
void metrics_backlog_read(struct store *st);

/*
 * metrics_render - every series as exposition text into a new buffer the
 * caller frees (*len_r its length); node is the node label's value.
 */
char *metrics_render(const char *node, size_t *len_r);

/*
 * metrics_start - bind cfg's metrics_listen (nothing when empty) and start
 * the responder; it stops when stop_fd becomes readable. The services of
 * services get their (zero) series at once, others when they first run.
 * Call before dropping privileges (the bind). Returns 0 or -1 with *error_r
 * set.
 */
#define METRICS_TIMEOUT_MS 5000 /* a request and its answer, per connection */
#define METRICS_REQUEST_MAX 2048
#define METRICS_CLIENTS 16
int metrics_start(const struct opes_config *cfg, const struct svc_set *services, int stop_fd,
                  const char **error_r);
/* metrics_stop - wait for the responder after stop_fd became readable. */
void metrics_stop(void);

#endif
