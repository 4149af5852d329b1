/*
 * transaction.c - what happens to one message once the LMTP server has it.
 *
 * Owns the policy side of a transaction: the downstream transaction (RCPT
 * verification, then delivery), the MIME parse fed during DATA, and after the
 * dot the pipeline, the quarantine (durable before the 250), the delivery
 * groups (recipients whose copies are identical share one delivery), the
 * per-recipient replies and the trace records, handed to the writer once the
 * replies are out. The release worker's delivery of a held message, with its
 * own trace fields, is here too: a release is a message like any other.
 */
#include "opes/transaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/log.h"
#include "opes/mime.h"
#include "opes/pipeline.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/trace.h"
#include "opes/tracelog.h"
#include "opes/variant.h"

struct transaction {
    const struct opes_config *cfg;
    const struct svc_set *services;
    struct deliver_tx *dtx;
    struct mime_parser *mp;        /* during DATA */
    struct mime_message *mime;     /* after it */
    struct tracelog_batch records; /* trace records, handed to the writer after the replies */
    char trace[TRACE_ID_LEN + 1];
    const char *sender; /* the server transaction's */
};

struct transaction *transaction_new(const struct opes_config *cfg, const struct svc_set *services,
                                    struct deliver *d, struct lmtp_server_tx *tx)
{
    struct transaction *t = calloc(1, sizeof(*t));
    struct deliver_mail dm;

    if (t == NULL)
        fatal("calloc");
    t->cfg = cfg;
    t->services = services;
    trace_id_new(t->trace);
    snprintf(tx->id, sizeof(tx->id), "%s", t->trace);
    t->sender = tx->sender;
    dm = (struct deliver_mail){.sender = tx->sender,
                               .trace_id = t->trace,
                               .size = tx->size_param,
                               .body = tx->body[0] ? tx->body : NULL,
                               .smtputf8 = tx->smtputf8};
    t->dtx = deliver_tx_begin(d, &dm);
    return t;
}

void transaction_free(struct transaction **tp)
{
    struct transaction *t = *tp;

    if (t == NULL)
        return;
    *tp = NULL;
    deliver_tx_end(&t->dtx);
    tracelog_batch_free(&t->records);
    mime_parser_free(&t->mp);
    mime_message_free(&t->mime);
    free(t);
}

void transaction_rcpt(struct transaction *t, const char *addr, struct lmtp_reply *reply)
{
    deliver_tx_rcpt(t->dtx, addr, reply);
}

void transaction_data_begin(struct transaction *t)
{
    mime_parser_free(&t->mp);
    t->mp = mime_parser_new(NULL);
}

void transaction_data_feed(struct transaction *t, const char *data, size_t len)
{
    mime_parser_feed(t->mp, data, len); /* the one pass over the message */
}

static ssize_t transaction_spool_read(void *ctx, void *buf, size_t len)
{
    return spool_read(ctx, buf, len);
}

static int transaction_spool_rewind(void *ctx)
{
    return spool_rewind(ctx);
}

/*
 * transaction_quarantine - hold the message for the recipients the pipeline
 * put in quarantine: one content, one entry each, durable before the 250.
 */
static void transaction_quarantine(struct transaction *t, struct store *st, struct spool *spool,
                                   struct pipeline_rcpt *pr, struct lmtp_reply *replies, size_t n)
{
    const struct mime_message *mime = t->mime;
    struct store_qitem *items = calloc(n, sizeof(*items));
    size_t *idx = calloc(n, sizeof(*idx)), k = 0;
    struct store_reader rd = {
        .read = transaction_spool_read, .rewind = transaction_spool_rewind, .ctx = spool};
    const char *error = "store unavailable";
    const char *subject = mime != NULL ? mime_header_get(mime, -1, "Subject") : NULL;
    const char *date = mime != NULL ? mime_header_get(mime, -1, "Date") : NULL;
    const char *from = mime != NULL ? mime_header_get(mime, -1, "From") : NULL;

    if (items == NULL || idx == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        struct store_qitem *it = &items[k];
        if (pr[i].outcome != POLICY_QUARANTINE)
            continue;
        idx[k++] = i;
        snprintf(it->trace_id, sizeof(it->trace_id), "%s", t->trace);
        snprintf(it->sender, sizeof(it->sender), "%s", t->sender);
        snprintf(it->recipient, sizeof(it->recipient), "%s", pr[i].addr);
        if (subject != NULL)
            mime_decode_2047(subject, it->subject, sizeof(it->subject));
        snprintf(it->date, sizeof(it->date), "%s", date != NULL ? date : "");
        if (from != NULL)
            mime_display_name(from, it->from_name, sizeof(it->from_name));
        snprintf(it->service, sizeof(it->service), "%s",
                 pr[i].culprit != NULL ? pr[i].culprit->name : "blocklist");
        snprintf(it->reason, sizeof(it->reason), "%s", pr[i].reason);
        snprintf(it->words, sizeof(it->words), "%s", pr[i].words);
    }
    if (k > 0 && (st == NULL || store_quarantine_add(st, items, k, &rd, &error) < 0)) {
        log_warnx("quarantine failed: %s", error);
        for (size_t j = 0; j < k; j++)
            lmtp_reply_set(&replies[idx[j]], 451, "4.3.0",
                           "<%s> Local error holding the message, try again later",
                           pr[idx[j]].addr);
    } else {
        char blocklist[400];
        snprintf(blocklist, sizeof(blocklist), "%s/policy/blocklist", t->cfg->system_uri);
        for (size_t j = 0; j < k; j++)
            lmtp_reply_set(&replies[idx[j]], 250, "2.0.0", "<%s> held in quarantine as %s by %s",
                           pr[idx[j]].addr, items[j].id,
                           pr[idx[j]].culprit != NULL ? pr[idx[j]].culprit->uri : blocklist);
    }
    free(items);
    free(idx);
}

/* transaction_blocked_reply - reject or tempfail, with the service that decided it. */
static void transaction_blocked_reply(const struct transaction *t, const struct pipeline_rcpt *r,
                                      struct lmtp_reply *reply)
{
    char uri[400];

    if (r->culprit != NULL)
        snprintf(uri, sizeof(uri), "%s", r->culprit->uri);
    else
        snprintf(uri, sizeof(uri), "%s/policy/blocklist", t->cfg->system_uri);
    if (r->outcome == POLICY_REJECT)
        lmtp_reply_set(reply, 550, "5.7.1", "<%s> blocked by %s", r->addr, uri);
    else
        lmtp_reply_set(reply, 451, r->culprit != NULL ? "4.3.0" : "4.7.1",
                       "<%s> %s unavailable, try again later", r->addr, uri);
}

/* transaction_groups - recipients whose copies are identical share one delivery. */
static void transaction_groups(struct transaction *t, struct spool *spool, struct pipeline_rcpt *pr,
                               struct lmtp_reply *replies, size_t n)
{
    const char **group = calloc(n, sizeof(*group));
    size_t *slot = calloc(n, sizeof(*slot));
    struct lmtp_reply *got = calloc(n, sizeof(*got));
    bool *done = calloc(n, sizeof(*done));
    int64_t deadline = clock_now_ms() + (int64_t)t->cfg->processing_timeout * 1000;

    if (group == NULL || slot == NULL || got == NULL || done == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (done[i] || pr[i].outcome != POLICY_DELIVER)
            continue;
        if (pr[i].prefix_len == 0 || !trace_check(pr[i].prefix, pr[i].prefix_len, t->trace)) {
            /* never deliver without an intact trace: a local fault, the MTA retries */
            log_warnx("trace fields missing or damaged; check [opes] system_uri");
            lmtp_reply_set(&replies[i], 451, "4.3.0", "Local error building the trace fields");
            continue;
        }
        for (size_t j = i; j < n; j++) {
            if (done[j] || pr[j].outcome != POLICY_DELIVER ||
                pr[j].prefix_len != pr[i].prefix_len ||
                memcmp(pr[j].prefix, pr[i].prefix, pr[i].prefix_len) != 0 ||
                !variant_edits_equal(&pr[j].edits, &pr[i].edits))
                continue;
            done[j] = true;
            slot[k] = j;
            group[k++] = pr[j].addr;
        }
        struct variant v = {.prefix = pr[i].prefix,
                            .prefix_len = pr[i].prefix_len,
                            .edits = &pr[i].edits,
                            .spool = spool};
        deliver_tx_content(t->dtx, group, k, &v, deadline, got);
        for (size_t j = 0; j < k; j++)
            replies[slot[j]] = got[j];
    }
    free(group);
    free(slot);
    free(got);
    free(done);
}

void transaction_deliver(struct transaction *t, struct store *st, struct lmtp_server_tx *tx,
                         struct spool *spool)
{
    struct pipeline_rcpt *pr = calloc(tx->nrcpts, sizeof(*pr));
    struct lmtp_reply *replies = calloc(tx->nrcpts, sizeof(*replies));
    size_t *slot = calloc(tx->nrcpts, sizeof(*slot));
    size_t nuniq = 0;

    if (pr == NULL || replies == NULL || slot == NULL)
        fatal("calloc");
    if (t->mp != NULL)
        t->mime = mime_parser_finish(&t->mp);
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (tx->rcpts[i].first == i) {
            slot[i] = nuniq;
            pr[nuniq].addr = tx->rcpts[i].addr;
            pr[nuniq].orig = tx->rcpts[i].orig[0] ? tx->rcpts[i].orig : NULL;
            pr[nuniq++].bypass = tx->rcpts[i].bypass;
        } else {
            slot[i] = slot[tx->rcpts[i].first];
        }
    }
    struct pipeline_msg pm = {.cfg = t->cfg,
                              .services = t->services,
                              .st = st,
                              .trace = &t->records,
                              .spool = spool,
                              .mime = t->mime,
                              .sender = tx->sender,
                              .mail_bypass = tx->bypass,
                              .trace_id = t->trace,
                              .helo = tx->helo,
                              .peer_name = tx->client_name,
                              .peer_addr = tx->client_addr,
                              .protocol = tx->smtputf8 ? "UTF8LMTP" : "LMTP",
                              .for_rcpt = nuniq == 1 ? pr[0].addr : NULL,
                              .size = spool_size(spool)};
    pipeline_run(&pm, pr, nuniq);
    for (size_t i = 0; i < nuniq; i++)
        if (pr[i].outcome == POLICY_REJECT || pr[i].outcome == POLICY_TEMPFAIL)
            transaction_blocked_reply(t, &pr[i], &replies[i]);
    transaction_quarantine(t, st, spool, pr, replies, nuniq);
    transaction_groups(t, spool, pr, replies, nuniq);
    for (size_t i = 0; i < tx->nrcpts; i++) {
        tx->rcpts[i].reply = replies[slot[i]];
        snprintf(tx->rcpts[i].services, sizeof(tx->rcpts[i].services), "%s", pr[slot[i]].services);
        tx->rcpts[i].action = policy_outcome_name(pr[slot[i]].outcome);
    }
    for (size_t i = 0; i < nuniq; i++)
        pipeline_rcpt_clear(&pr[i]);
    free(pr);
    free(replies);
    free(slot);
}

void transaction_replied(struct transaction *t, const struct lmtp_server_tx *tx)
{
    for (size_t i = 0; i < tx->nrcpts; i++) {
        const struct lmtp_reply *r = &tx->rcpts[i].reply;
        struct store_trace *tr = tracelog_batch_add(&t->records);
        snprintf(tr->trace_id, sizeof(tr->trace_id), "%s", t->trace);
        snprintf(tr->recipient, sizeof(tr->recipient), "%s", tx->rcpts[i].addr);
        snprintf(tr->event, sizeof(tr->event), "reply");
        snprintf(tr->verdict, sizeof(tr->verdict), "%d", r->code);
        snprintf(tr->detail, sizeof(tr->detail), "%d %s %s", r->code, r->enh, r->text);
        tr->duration_ms = clock_now_ms() - tx->start_ms;
        tr->at = (int64_t)time(NULL);
        if (tx->rcpts[i].orcpt != NULL && r->code / 100 == 2) {
            /* kept for the Original-Recipient of a DSN (dsn.c; RFC 3464 2.3.1) */
            struct store_trace *o = tracelog_batch_add(&t->records); /* tr may have moved */
            snprintf(o->trace_id, sizeof(o->trace_id), "%s", t->trace);
            snprintf(o->recipient, sizeof(o->recipient), "%s", tx->rcpts[i].addr);
            snprintf(o->event, sizeof(o->event), "orcpt");
            snprintf(o->detail, sizeof(o->detail), "%s", tx->rcpts[i].orcpt);
            o->at = (int64_t)time(NULL);
        }
    }
    tracelog_submit(&t->records, t->cfg);
}

void transaction_release(const struct opes_config *cfg, struct deliver *d,
                         const struct store_qitem *it, const struct store_release *r,
                         struct spool *spool, struct lmtp_reply *reply)
{
    char prefix[4096], note[400], service_uri[600];
    struct deliver_mail dm = {.sender = it->sender, .trace_id = it->trace_id, .size = it->size};
    size_t plen;

    snprintf(note, sizeof(note), "released from quarantine by %s via %s", r->requested_by,
             r->origin);
    /* the URI that held it, as the quarantine reply named it */
    if (strcmp(it->service, "blocklist") == 0)
        snprintf(service_uri, sizeof(service_uri), "%s/policy/blocklist", cfg->system_uri);
    else
        snprintf(service_uri, sizeof(service_uri), "%s/service/%s", cfg->system_uri, it->service);
    struct trace_via via = {.uri = service_uri, .action = "released"};
    struct trace_info ti = {.id = it->trace_id,
                            .system_uri = cfg->system_uri,
                            .by_host = cfg->hostname,
                            .helo = "quarantine",
                            .peer_addr = "unix",
                            .protocol = "LMTP",
                            .for_rcpt = it->recipient,
                            .note = note,
                            .when = time(NULL),
                            .via = &via,
                            .nvia = 1};
    plen = trace_headers(prefix, sizeof(prefix), &ti);
    deliver_one(d, &dm, it->recipient, prefix, plen, spool, (int64_t)cfg->processing_timeout * 1000,
                reply);
}
