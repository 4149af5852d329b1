/*
 * learn.h - learning from decisions: what a recipient decided teaches the
 * spam scorers. A held message released as "not spam" is taught as ham to
 * the service that held it (by opesd's job runner, after the release); a
 * message forwarded to [learn] report_address by a local recipient is taught
 * as spam to every service that learns, and delivered nowhere.
 */
#ifndef OPES_LEARN_H
#define OPES_LEARN_H

#include <stdbool.h>
#include <stddef.h>

struct lmtp_reply;
struct mime_message;
struct opes_config;
struct spool;
struct store;
struct svc_set;

/*
 * learn_spool - teach the message in spool as spam or ham to the service
 * called service (its type must learn: spamd, rspamd), or to every service
 * that learns when service is "". detail gets what each scanner said, or
 * why not ("; " between services). 0 when every one learned it, -1 when one
 * could not or none learns.
 */
int learn_spool(const struct svc_set *set, const char *service, struct spool *spool, bool spam,
                char *detail, size_t size);

/* learn_is_report - addr is cfg's [learn] report_address (case aside). */
bool learn_is_report(const struct opes_config *cfg, const char *addr);

/*
 * learn_report - a report of missed spam that sender sent to the report
 * address: when sender is local (of the report address's domain), the
 * attached message/rfc822 (else the first text part, else the whole message)
 * is learned as spam, once per reported message (the store records it; st
 * may be NULL), traced under trace_id and audited. reply is always 250: the
 * report is taken, learned or not (the log says why not), and goes nowhere.
 */
void learn_report(const struct opes_config *cfg, const struct svc_set *set, struct store *st,
                  const char *sender, const char *trace_id, struct spool *spool,
                  const struct mime_message *mime, struct lmtp_reply *reply);

#endif
