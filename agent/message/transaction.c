/*
 * transaction.c - what happens to one message once the LMTP server has it.
 *
 * Owns the policy side of a transaction: the downstream transaction (RCPT
 * verification, then delivery), the MIME parse fed during DATA, and after the
 * dot the pipeline, the quarantine (durable before the 250), the delivery
 * groups (recipients whose copies are identical and go to the same place,
 * inbox or Junk folder, share one delivery), the
 * per-recipient replies and the trace records, handed to the writer once the
 * replies are out. The delivery ledger is consulted before the pipeline (a
 * recipient the MTA sends again after a crash is answered from it) and
 * written as each recipient is delivered or held, before the replies. The
 * release worker's delivery of a held message, with its own trace fields, is
 * here too: a release is a message like any other. A recipient that is
 * [learn] report_address is ours: its message is a report of missed spam,
 * learned (learn.c) and delivered nowhere.
 */
#include "opes/transaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/learn.h"
#include "opes/ledger.h"
#include "opes/log.h"
#include "opes/metrics.h"
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
    struct ledger ledger;          /* the message's key in the delivery ledger */
    struct store *st;              /* during transaction_deliver, for the ledger */
    char trace[TRACE_ID_LEN + 1];
    const char *sender; /* the server transaction's */
};

/* transaction_confirmed - the store took rcpt: into the ledger at once, before any reply. */
static void transaction_confirmed(void *ctx, const char *rcpt, const struct lmtp_reply *reply)
{
    struct transaction *t = ctx;

    ledger_record(&t->ledger, t->st, t->trace, rcpt, reply);
}

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
    deliver_tx_on_confirm(t->dtx, transaction_confirmed, t);
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
    if (learn_is_report(t->cfg, addr)) { /* ours: nothing downstream knows it */
        lmtp_reply_set(reply, 250, "2.1.5", "<%s> reports of missed spam", addr);
        return;
    }
    deliver_tx_rcpt(t->dtx, addr, reply);
}

void transaction_data_begin(struct transaction *t)
{
    mime_parser_free(&t->mp);
    t->mp = mime_parser_new(NULL);
    ledger_begin(&t->ledger, t->sender);
}

void transaction_data_feed(struct transaction *t, const char *data, size_t len)
{
    mime_parser_feed(t->mp, data, len); /* the one pass over the message */
    ledger_feed(&t->ledger, data, len);
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
 * put in quarantine: one content, one entry each, durable before the 250,
 * with their ledger rows in the same commit.
 */
static void transaction_quarantine(struct transaction *t, struct store *st, struct spool *spool,
                                   struct pipeline_rcpt *pr, struct lmtp_reply *replies, size_t n)
{
    const struct mime_message *mime = t->mime;
    struct store_qitem *items = calloc(n, sizeof(*items));
    struct store_ledger *rows = t->ledger.usable ? calloc(n, sizeof(*rows)) : NULL;
    size_t *idx = calloc(n, sizeof(*idx)), k = 0;
    struct store_reader rd = {
        .read = transaction_spool_read, .rewind = transaction_spool_rewind, .ctx = spool};
    const char *error = "store unavailable";
    const char *subject = mime != NULL ? mime_header_get(mime, -1, "Subject") : NULL;
    const char *date = mime != NULL ? mime_header_get(mime, -1, "Date") : NULL;
    const char *from = mime != NULL ? mime_header_get(mime, -1, "From") : NULL;

    if (items == NULL || idx == NULL || (t->ledger.usable && rows == NULL))
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        struct store_qitem *it = &items[k];
        if (pr[i].outcome != POLICY_QUARANTINE)
            continue;
        idx[k++] = i;
        snprintf(it->trace_id, sizeof(it->trace_id), "%s", t->trace);
        snprintf(it->sender, sizeof(it->sender), "%s", t->sender);
        snprintf(it->recipient, sizeof(it->recipient), "%s", pr[i].addr);
        if (pr[i].orig != NULL && strcasecmp(pr[i].orig, pr[i].addr) != 0)
            snprintf(it->original, sizeof(it->original), "%s", pr[i].orig);
        if (subject != NULL)
            mime_decode_2047(subject, it->subject, sizeof(it->subject));
        snprintf(it->date, sizeof(it->date), "%s", date != NULL ? date : "");
        if (from != NULL)
            mime_display_name(from, it->from_name, sizeof(it->from_name));
        snprintf(it->service, sizeof(it->service), "%s",
                 pr[i].culprit != NULL ? pr[i].culprit->name : "blocklist");
        snprintf(it->reason, sizeof(it->reason), "%s", pr[i].reason);
        snprintf(it->words, sizeof(it->words), "%s", pr[i].words);
        if (rows != NULL)
            ledger_row(&t->ledger, pr[i].addr, "quarantined", t->trace, "", &rows[k - 1]);
    }
    if (k > 0 && (st == NULL || store_quarantine_add_ledger(st, items, k, &rd, rows, &error) < 0)) {
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
    free(rows);
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

/*
 * transaction_groups - recipients whose copies are identical, and who go to
 * the same place (inbox or Junk folder), share one delivery.
 */
static void transaction_groups(struct transaction *t, struct spool *spool, struct pipeline_rcpt *pr,
                               struct lmtp_reply *replies, size_t n)
{
    const char **group = calloc(n, sizeof(*group));
    size_t *slot = calloc(n, sizeof(*slot));
    struct lmtp_reply *got = calloc(n, sizeof(*got));
    bool *done = calloc(n, sizeof(*done)), *inbox = calloc(n, sizeof(*inbox));
    int64_t deadline = clock_now_ms() + (int64_t)t->cfg->processing_timeout * 1000;

    if (group == NULL || slot == NULL || got == NULL || done == NULL || inbox == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (done[i] || (pr[i].outcome != POLICY_DELIVER && pr[i].outcome != POLICY_JUNK))
            continue;
        if (pr[i].prefix_len == 0 || !trace_check(pr[i].prefix, pr[i].prefix_len, t->trace)) {
            /* never deliver without an intact trace: a local fault, the MTA retries */
            log_warnx("trace fields missing or damaged; check [opes] system_uri");
            lmtp_reply_set(&replies[i], 451, "4.3.0", "Local error building the trace fields");
            continue;
        }
        for (size_t j = i; j < n; j++) {
            if (done[j] || pr[j].outcome != pr[i].outcome || pr[j].prefix_len != pr[i].prefix_len ||
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
        if (pr[i].outcome == POLICY_JUNK)
            deliver_tx_junk(t->dtx, group, k, &v, deadline, got, inbox);
        else
            deliver_tx_content(t->dtx, group, k, &v, deadline, got);
        for (size_t j = 0; j < k; j++) {
            replies[slot[j]] = got[j];
            if (pr[i].outcome == POLICY_JUNK && inbox[j])
                pr[slot[j]].outcome = POLICY_DELIVER; /* the store had no Junk folder for it */
        }
    }
    free(group);
    free(slot);
    free(got);
    free(done);
    free(inbox);
}

/* transaction_ledger_hit - the trace record of a recipient answered from the ledger. */
static void transaction_ledger_hit(struct transaction *t, const char *addr,
                                   const struct store_ledger *row)
{
    struct store_trace *tr = tracelog_batch_add(&t->records);
    bool held = strcmp(row->outcome, "quarantined") == 0;

    snprintf(tr->trace_id, sizeof(tr->trace_id), "%s", t->trace);
    snprintf(tr->recipient, sizeof(tr->recipient), "%s", addr);
    snprintf(tr->event, sizeof(tr->event), "ledger");
    snprintf(tr->verdict, sizeof(tr->verdict), "%s", row->outcome);
    snprintf(tr->detail, sizeof(tr->detail),
             "answered from the delivery ledger: the MTA sent this message again; already %s%s%s "
             "by trace %s, not %s again",
             row->outcome, held ? " as " : "", held ? row->detail : "", row->trace_id,
             held ? "held" : "delivered");
    tr->at = (int64_t)time(NULL);
}

void transaction_deliver(struct transaction *t, struct store *st, struct lmtp_server_tx *tx,
                         struct spool *spool)
{
    struct pipeline_rcpt *pr = calloc(tx->nrcpts, sizeof(*pr));
    struct lmtp_reply *replies = calloc(tx->nrcpts, sizeof(*replies));
    size_t *slot = calloc(tx->nrcpts, sizeof(*slot));
    bool *hit = calloc(tx->nrcpts, sizeof(*hit));
    struct store_ledger row;
    struct lmtp_reply report_reply;
    size_t nuniq = 0, report = SIZE_MAX;

    if (pr == NULL || replies == NULL || slot == NULL || hit == NULL)
        fatal("calloc");
    if (t->mp != NULL)
        t->mime = mime_parser_finish(&t->mp);
    ledger_finish(&t->ledger, tx->queue_id,
                  t->mime != NULL ? mime_header_get(t->mime, -1, "Message-ID") : NULL);
    /* a recipient already delivered or held by this very message is answered from the ledger */
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (tx->rcpts[i].first == i && !learn_is_report(t->cfg, tx->rcpts[i].addr) &&
            ledger_answer(&t->ledger, st, tx->rcpts[i].addr, &tx->rcpts[i].reply, &row) == 1) {
            hit[i] = true;
            transaction_ledger_hit(t, tx->rcpts[i].addr, &row);
        }
    }
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (hit[tx->rcpts[i].first])
            continue;
        if (learn_is_report(t->cfg, tx->rcpts[i].addr)) {
            slot[i] = report = SIZE_MAX - 1; /* learned below, delivered nowhere */
        } else if (tx->rcpts[i].first == i) {
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
                              .delivery_id = t->ledger.delivery_id,
                              .size = spool_size(spool)};
    if (report != SIZE_MAX)
        learn_report(t->cfg, t->services, st, tx->sender, t->trace, spool, t->mime, &report_reply);
    if (nuniq > 0) {
        pipeline_run(&pm, pr, nuniq);
        for (size_t i = 0; i < nuniq; i++)
            if (pr[i].outcome == POLICY_REJECT || pr[i].outcome == POLICY_TEMPFAIL)
                transaction_blocked_reply(t, &pr[i], &replies[i]);
        transaction_quarantine(t, st, spool, pr, replies, nuniq);
        t->st = st;
        transaction_groups(t, spool, pr, replies, nuniq);
        t->st = NULL;
    }
    /* one reply per recipient, in RCPT order, whichever way it was decided */
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (hit[tx->rcpts[i].first]) {
            tx->rcpts[i].reply = tx->rcpts[tx->rcpts[i].first].reply;
            snprintf(tx->rcpts[i].services, sizeof(tx->rcpts[i].services), "ledger");
            tx->rcpts[i].action = "duplicate";
            continue;
        }
        if (slot[i] == SIZE_MAX - 1) {
            tx->rcpts[i].reply = report_reply;
            tx->rcpts[i].action = "reported";
            continue;
        }
        tx->rcpts[i].reply = replies[slot[i]];
        snprintf(tx->rcpts[i].services, sizeof(tx->rcpts[i].services), "%s", pr[slot[i]].services);
        tx->rcpts[i].action = policy_outcome_name(pr[slot[i]].outcome);
    }
    for (size_t i = 0; i < nuniq; i++)
        pipeline_rcpt_clear(&pr[i]);
    free(pr);
    free(replies);
    free(slot);
    free(hit);
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
    metrics_replied(tx);
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
