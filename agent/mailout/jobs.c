/*
 * jobs.c - release worker, mail of our own and retention purge, run by
 * opesd's job thread.
 *
 * A release: the decrypted content goes into a spool, a Received field notes
 * who released it and how, and the downstream gets it like any message
 * (RCPT verified, then DATA). 2xx: the entry becomes released, the whitelist
 * entry is created, the trace and audit record it. 4xx or store unreachable:
 * retried with exponential backoff. 5xx, or too many attempts: failed, the
 * entry stays held and the reason is kept for the administrator.
 *
 * Mail of our own (jobs_notify): new quarantine entries are captured, then
 * immediate notices, due digests, login links, the admin summary and sender
 * DSNs go out, each module in its own file (notify.c, digest.c,
 * loginmail.c, dsn.c). What fails stays pending for the next interval.
 */
#include "opes/jobs.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/digest.h"
#include "opes/dsn.h"
#include "opes/lmtp_local.h"
#include "opes/log.h"
#include "opes/loginmail.h"
#include "opes/notify.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/trace.h"

static int jobs_spool_write(void *ctx, const void *buf, size_t len)
{
    return spool_write(ctx, buf, len);
}

/* jobs_deliver - one held message to its recipient; reply gets the answer. */
static void jobs_deliver(struct lmtp_env *env, const struct store_qitem *it,
                         const struct store_release *r, struct spool *spool,
                         struct lmtp_reply *reply)
{
    const struct opes_config *cfg = env->cfg;
    char prefix[4096], note[400], service_uri[600];
    struct deliver_mail dm = {.sender = it->sender, .trace_id = it->trace_id, .size = it->size};
    struct deliver_tx *dtx;
    const char *rcpt = it->recipient;
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
                            .for_rcpt = rcpt,
                            .note = note,
                            .when = time(NULL),
                            .via = &via,
                            .nvia = 1};
    plen = trace_headers(prefix, sizeof(prefix), &ti);
    dtx = deliver_tx_begin(env->deliver, &dm);
    deliver_tx_rcpt(dtx, rcpt, reply);
    if (reply->code / 100 == 2)
        deliver_tx_data(dtx, &rcpt, 1, prefix, plen, spool,
                        clock_now_ms() + (int64_t)cfg->processing_timeout * 1000, reply);
    deliver_tx_end(&dtx);
}

/* jobs_backoff - 1, 2, 4 ... minutes, at most an hour. */
static int64_t jobs_backoff(int attempts)
{
    int64_t s = 60;
    for (int i = 1; i < attempts && s < 3600; i++)
        s *= 2;
    return s < 3600 ? s : 3600;
}

int jobs_release_one(struct store *st, struct lmtp_env *env)
{
    struct store_release r;
    struct store_qitem it;
    struct lmtp_reply reply;
    struct spool *spool;
    const char *error;
    char why[300];
    int rc = store_release_next(st, &r, &error);

    if (rc == STORE_NOTFOUND)
        return 0;
    if (rc < 0) {
        log_warnx("release: store error: %s", error);
        return -1;
    }
    log_set_context("release=%s", r.item_id);
    rc = store_quarantine_get(st, r.item_id, &it, &error);
    if (rc != 0 || it.status != STORE_HELD) {
        log_warnx("release refused: the item is %s",
                  rc != 0 ? "gone" : store_qstatus_name(it.status));
        store_release_failed(st, &r, true, "the item is no longer held", 0, &error);
        log_set_context(NULL);
        return 1;
    }
    log_set_context("trace=%s release=%s", it.trace_id, r.item_id);
    spool = spool_new((size_t)env->cfg->spool_memory, env->cfg->spool_dir);
    rc = store_quarantine_content(st, r.item_id, jobs_spool_write, spool, &error);
    if (rc != 0 || spool_error(spool) != 0) {
        lmtp_reply_set(&reply, 451, "4.3.0", "cannot read the held message: %s",
                       rc == STORE_NOTFOUND ? "its content is missing"
                       : rc < 0             ? error
                                            : "the spool is not writable");
    } else {
        jobs_deliver(env, &it, &r, spool, &reply);
    }
    spool_free(&spool);
    snprintf(why, sizeof(why), "%d %s %s", reply.code, reply.enh, reply.text);
    if (reply.code / 100 == 2) {
        if (store_release_done(st, &r, &error) < 0)
            log_warnx("release delivered but not recorded: %s", error);
        log_info("rcpt=<%s> action=released by=%s origin=%s whitelist=%s reply=\"%s\"",
                 it.recipient, r.requested_by, r.origin, r.whitelist[0] ? r.whitelist : "no", why);
    } else {
        bool permanent =
            reply.code / 100 == 5 || (uint64_t)r.attempts >= env->cfg->release_max_attempts;
        int64_t wait = jobs_backoff(r.attempts);
        store_release_failed(st, &r, permanent, why, wait, &error);
        log_warnx("rcpt=<%s> action=%s attempts=%d reply=\"%s\"%s", it.recipient,
                  permanent ? "release-failed" : "release-deferred", r.attempts, why,
                  permanent ? "" : " (will retry)");
    }
    log_set_context(NULL);
    return 1;
}

int jobs_purge(struct store *st, struct lmtp_env *env)
{
    size_t expired = 0, removed = 0;
    const char *error;

    if (store_purge(st, (unsigned)env->cfg->retention_days, &expired, &removed, &error) < 0) {
        log_warnx("purge failed: %s", error);
        return -1;
    }
    if (expired > 0 || removed > 0)
        log_info("purge retention_days=%llu expired=%zu removed=%zu",
                 (unsigned long long)env->cfg->retention_days, expired, removed);
    return 0;
}

int jobs_notify(struct store *st, struct lmtp_env *env, int stop_fd, bool *scanned)
{
    /* recent entries only, once everything was looked at since opesd started */
    int64_t since = *scanned ? (int64_t)time(NULL) - 86400 : 0;
    int rc = 0;

    /* capture first: an entry's header fields must be kept before a purge expires it */
    while ((rc = notify_capture(st, env, since)) == NOTIFY_BATCH && !notify_stopping(stop_fd, 0))
        ;
    if (rc >= 0)
        *scanned = true;
    if (rc < 0)
        return -1;
    notify_send_pending(st, env, stop_fd);
    digest_record(st, env->cfg, false, NULL);
    digest_send_pending(st, env, stop_fd);
    loginmail_run(st, env, stop_fd);
    notify_admin_summary(st, env);
    dsn_run(st, env, stop_fd, since);
    return 0;
}
