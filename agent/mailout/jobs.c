/*
 * jobs.c - release worker, mail of our own and retention purge, run by
 * opesd's job thread.
 *
 * A release: the decrypted content goes into a spool and transaction_release
 * delivers it like any message (a Received field notes who released it and
 * how; RCPT verified, then DATA). 2xx: the entry becomes released, the whitelist
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

#include "opes/config.h"
#include "opes/digest.h"
#include "opes/dsn.h"
#include "opes/lmtp_local.h"
#include "opes/log.h"
#include "opes/loginmail.h"
#include "opes/notify.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/transaction.h"

static int jobs_spool_write(void *ctx, const void *buf, size_t len)
{
    return spool_write(ctx, buf, len);
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
        transaction_release(env->cfg, env->deliver, &it, &r, spool, &reply);
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
