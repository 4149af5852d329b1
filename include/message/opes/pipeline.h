/*
 * pipeline.h - the services, once per message, then a decision per recipient.
 *
 * Given the spooled message and its MIME structure, the pipeline works out
 * for every recipient which services apply (consent, bypass requests, white
 * list), runs each needed service once, combines the verdicts per recipient
 * (policy.h), builds the trace fields each recipient's copy gets, and writes
 * the trace records. Delivery, quarantine and replies stay with the caller.
 */
#ifndef OPES_PIPELINE_H
#define OPES_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "opes/policy.h"
#include "opes/service.h"
#include "opes/variant.h"

struct opes_config;
struct store;
struct tracelog_batch;
struct spool;
struct mime_message;

struct pipeline_msg {
    const struct opes_config *cfg;
    const struct svc_set *services;
    struct store *st;             /* NULL: no lists, no consent, no tokens */
    struct tracelog_batch *trace; /* the trace records are appended here */
    struct spool *spool;
    const struct mime_message *mime;
    const char *sender;
    const char *mail_bypass; /* XOPES-BYPASS on MAIL (decoded), or NULL */
    const char *trace_id;
    const char *helo, *peer_name, *peer_addr, *protocol;
    const char *for_rcpt;    /* the one recipient, or NULL */
    const char *delivery_id; /* OPES-Delivery-Id of every copy (ledger.h), or NULL */
    uint64_t size;
};

struct pipeline_rcpt {
    const char *addr;
    const char *bypass; /* XOPES-BYPASS on RCPT (decoded), or NULL */
    const char *orig;   /* the address as the client gave it, when rewriting changed it */
    /* results */
    enum policy_outcome outcome;
    const struct svc *culprit; /* NULL for a blocklist decision */
    char reason[256];
    char words[REASON_WORDS_MAX]; /* the reason for the recipient (reason.h), "" when none */
    char *prefix; /* DELIVER, JUNK: the fields to put on top of this recipient's copy */
    size_t prefix_len;
    struct variant_edits edits; /* DELIVER, JUNK: the changes of the services that modify content */
    char services[256];         /* "clamd=pass,spamd=bypassed" for the log line */
};

/* pipeline_run - decide for rcpts[0..n) (unique recipients). */
void pipeline_run(const struct pipeline_msg *m, struct pipeline_rcpt *rcpts, size_t n);
/* pipeline_rcpt_clear - free what pipeline_run allocated. */
void pipeline_rcpt_clear(struct pipeline_rcpt *r);

#endif
