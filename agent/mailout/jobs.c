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
 * Learning (jobs_learn_one): a "not spam" release teaches the service that
 * held the message ham, once the release is done (the store hands out a
 * request only when its entry is no longer held), so a scanner that is away
 * never holds up the mail: the request is retried with the same backoff as a
 * release and given up after release_max_attempts, logged either way.
 *
 * Mail of our own (jobs_notify): new quarantine entries are captured, then
 * immediate notices, due digests, login links, the admin summary and sender
 * DSNs go out, each module in its own file (notify.c, digest.c,
 * loginmail.c, approvalmail.c, dsn.c). What fails stays pending for the next interval.
 *
 * Nodes sharing a store: mail of our own and the purge run under a lease
 * (store_claim) so that one node does each at a time; the lease is renewed
 * before each step and dropped at the end, and a step starts only while the
 * lease is ours. The steps keep their own transactions short, so the
 * quarantine stays open to writers while a digest is built.
 */
#include "opes/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/approvalmail.h"
#include "opes/config.h"
#include "opes/digest.h"
#include "opes/dsn.h"
#include "opes/learn.h"
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

int jobs_learn_one(struct store *st, struct lmtp_env *env)
{
    struct store_learn l;
    struct store_qitem it;
    struct spool *spool;
    const char *error;
    char detail[1024];
    int rc = store_learn_next(st, &l, &error);

    if (rc == STORE_NOTFOUND)
        return 0;
    if (rc < 0) {
        log_warnx("learn: store error: %s", error);
        return -1;
    }
    log_set_context("trace=%s learn=%s", l.trace_id, l.message);
    if (store_quarantine_get(st, l.message, &it, &error) != 0 || it.status != STORE_RELEASED) {
        log_warnx("learn refused: the message was not released");
        store_learn_failed(st, &l, true, "the message was not released", 0, &error);
        log_set_context(NULL);
        return 1;
    }
    spool = spool_new((size_t)env->cfg->spool_memory, env->cfg->spool_dir);
    rc = store_quarantine_content(st, l.message, jobs_spool_write, spool, &error);
    if (rc != 0 || spool_error(spool) != 0) {
        snprintf(detail, sizeof(detail), "the content is %s",
                 rc == STORE_NOTFOUND ? "no longer kept" : "unreadable");
        rc = -1;
    } else {
        rc = learn_spool(env->services, l.service, spool, strcmp(l.kind, "spam") == 0, detail,
                         sizeof(detail));
    }
    spool_free(&spool);
    if (rc == 0) {
        if (store_learn_done(st, &l, it.recipient, detail, &error) < 0)
            log_warnx("learned but not recorded: %s", error);
        log_info("rcpt=<%s> action=learned class=%s by=%s origin=%s detail=\"%s\"", it.recipient,
                 l.kind, l.requested_by, l.origin, detail);
    } else {
        bool permanent = (uint64_t)l.attempts >= env->cfg->release_max_attempts;
        store_learn_failed(st, &l, permanent, detail, jobs_backoff(l.attempts), &error);
        log_warnx("rcpt=<%s> action=%s class=%s attempts=%d detail=\"%s\"%s", it.recipient,
                  permanent ? "learn-failed" : "learn-deferred", l.kind, l.attempts, detail,
                  permanent ? "" : " (will retry)");
    }
    log_set_context(NULL);
    return 1;
}

/* jobs_holder_dead - holder ("node:pid") is an earlier process of this node
 * that is gone (this node restarted): its lease need not be waited out. */
static bool jobs_holder_dead(const char *holder, const char *ours)
{
    const char *hc = strrchr(holder, ':'), *oc = strrchr(ours, ':');
    char *end;
    long pid;

    if (hc == NULL || oc == NULL || hc - holder != oc - ours ||
        strncmp(holder, ours, (size_t)(hc - holder)) != 0 || strcmp(hc, oc) == 0)
        return false;
    errno = 0;
    pid = strtol(hc + 1, &end, 10);
    if (errno != 0 || *end != '\0' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* jobs_lease_take - take or renew the lease name: true when it is ours for
 * lease->ttl seconds more. A lease left by this node's previous process is
 * taken over at once. */
static bool jobs_lease_take(struct store *st, const struct jobs_lease *lease, const char *name)
{
    const char *error;
    char holder[300];
    int64_t expires = (int64_t)time(NULL) + lease->ttl;
    int rc = store_claim(st, name, lease->holder, expires, &error);

    if (rc == STORE_USED && store_claim_holder(st, name, holder, sizeof(holder), &error) == 0 &&
        jobs_holder_dead(holder, lease->holder)) {
        log_info("%s: lease of %s taken over: that process is gone", name, holder);
        if (store_claim_drop(st, name, holder, &error) == 0)
            rc = store_claim(st, name, lease->holder, expires, &error);
    }
    if (rc < 0)
        log_warnx("%s: lease not taken: %s", name, error);
    return rc == 0;
}

/* jobs_lease_drop - give the lease name back for the next node. */
static void jobs_lease_drop(struct store *st, const struct jobs_lease *lease, const char *name)
{
    const char *error;

    if (store_claim_drop(st, name, lease->holder, &error) < 0)
        log_warnx("%s: lease not given back (it expires): %s", name, error);
}

/*
 * The keeper renews a lease every third of its lifetime while a long step
 * (a burst of notices, a digest run) is under way, on a store connection of
 * its own: the steps cannot be interrupted to renew it themselves. A node
 * that dies takes its keeper along, and the lease expires. A renewal extends
 * only a lease held without a break (store_claim_renew), and the steps ask
 * before each mail whether the lease is still surely theirs (jobs_keeper_held):
 * a node that stalled past its lease, during which another node may have sent
 * the same mail, stops rather than send from what it read before.
 */
struct jobs_keeper {
    const struct jobs_lease *lease;
    const char *name;
    struct store *st; /* NULL: no keeper thread, the lease lasts its ttl */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    bool lost;        /* expired, or another node's: this round is over */
    int64_t until_ms; /* monotonic clock: surely ours until then */
};

/* jobs_mono_ms - the monotonic clock in milliseconds (it runs on while a process is stopped). */
static int64_t jobs_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* jobs_keeper_run - the keeper thread: renew until told to stop. */
static void *jobs_keeper_run(void *arg)
{
    struct jobs_keeper *k = arg;
    int64_t period_ms = k->lease->ttl * 1000 / 3;

    pthread_mutex_lock(&k->lock);
    while (!k->stop && !k->lost) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(period_ms / 1000);
        ts.tv_nsec += (long)(period_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&k->wake, &k->lock, &ts) != 0 && !k->stop) {
            int64_t began = jobs_mono_ms();
            const char *error = "";
            int rc;

            pthread_mutex_unlock(&k->lock);
            rc = store_claim_renew(k->st, k->name, k->lease->holder,
                                   (int64_t)time(NULL) + k->lease->ttl, &error);
            pthread_mutex_lock(&k->lock);
            if (rc == 0) {
                k->until_ms = began + k->lease->ttl * 1000;
            } else {
                log_warnx("%s: lease %s: this node stops before its next mail", k->name,
                          rc == STORE_USED ? "expired or taken by another node" : error);
                k->lost = true;
            }
        }
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

/* jobs_keeper_start - keep the lease name, taken at taken_ms, renewed; false
 * when no keeper could be started (the lease then lasts its ttl). */
static bool jobs_keeper_start(struct jobs_keeper *k, const struct opes_config *cfg,
                              const struct jobs_lease *lease, const char *name, int64_t taken_ms)
{
    const char *error;

    *k = (struct jobs_keeper){
        .lease = lease, .name = name, .until_ms = taken_ms + lease->ttl * 1000};
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    k->st = store_open_config(cfg, &error);
    if (k->st == NULL) {
        log_warnx("%s: lease not kept: %s", name, error);
        return false;
    }
    if (pthread_create(&k->thread, NULL, jobs_keeper_run, k) != 0) {
        log_warnx("%s: lease not kept: no thread", name);
        store_close(&k->st);
        return false;
    }
    return true;
}

/* jobs_keeper_held - fn of struct notify_round: the lease is still surely ours. */
static bool jobs_keeper_held(void *ctx)
{
    struct jobs_keeper *k = ctx;
    int64_t now = jobs_mono_ms();
    bool held;

    pthread_mutex_lock(&k->lock);
    held = !k->lost && now < k->until_ms;
    if (!held && !k->lost) {
        log_warnx("%s: lease not renewed for %lld ms (this node stalled?): this node stops "
                  "before its next mail",
                  k->name, (long long)(now - (k->until_ms - k->lease->ttl * 1000)));
        k->lost = true;
    }
    pthread_mutex_unlock(&k->lock);
    return held;
}

/* jobs_keeper_stop - stop renewing and close the keeper's connection. */
static void jobs_keeper_stop(struct jobs_keeper *k)
{
    if (k->st != NULL) {
        pthread_mutex_lock(&k->lock);
        k->stop = true;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
        pthread_join(k->thread, NULL);
        store_close(&k->st);
    }
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
}

int jobs_purge(struct store *st, struct lmtp_env *env, const struct jobs_lease *lease)
{
    size_t expired = 0, removed = 0;
    const char *error;
    int rc;

    if (!jobs_lease_take(st, lease, "purge"))
        return 0;
    rc = store_purge(st, (unsigned)env->cfg->retention_days, &expired, &removed, &error);
    if (rc < 0)
        log_warnx("purge failed: %s", error);
    else if (expired > 0 || removed > 0)
        log_info("purge retention_days=%llu expired=%zu removed=%zu",
                 (unsigned long long)env->cfg->retention_days, expired, removed);
    if (rc == 0 &&
        (rc = store_ledger_purge(st, (unsigned)env->cfg->ledger_days, &removed, &error)) < 0)
        log_warnx("ledger purge failed: %s", error);
    else if (rc == 0 && removed > 0)
        log_info("purge ledger_days=%llu ledger_removed=%zu",
                 (unsigned long long)env->cfg->ledger_days, removed);
    jobs_lease_drop(st, lease, "purge");
    return rc < 0 ? -1 : 1;
}

int jobs_notify(struct store *st, struct lmtp_env *env, const struct jobs_lease *lease, int stop_fd,
                bool *scanned)
{
    /* recent entries only, once everything was looked at since opesd started */
    int64_t since = *scanned ? (int64_t)time(NULL) - 86400 : 0, taken = jobs_mono_ms();
    struct jobs_keeper keeper;
    struct notify_round round = {.stop_fd = stop_fd, .held = jobs_keeper_held, .ctx = &keeper};
    int rc = 0;

    if (!jobs_lease_take(st, lease, "notify"))
        return 0;
    jobs_keeper_start(&keeper, env->cfg, lease, "notify", taken);
    /* capture first: an entry's header fields must be kept before a purge expires it */
    while ((rc = notify_capture(st, env, since)) == NOTIFY_BATCH && !notify_stopping(&round, 0))
        ;
    if (rc >= 0)
        *scanned = true;
    /* each step only while the lease is ours: a node that lost it stops there */
    if (rc >= 0 && jobs_keeper_held(&keeper))
        notify_send_pending(st, env, &round);
    if (rc >= 0 && jobs_keeper_held(&keeper)) {
        digest_record(st, env->cfg, false, NULL);
        digest_send_pending(st, env, &round);
    }
    if (rc >= 0 && jobs_keeper_held(&keeper))
        loginmail_run(st, env, &round);
    if (rc >= 0 && jobs_keeper_held(&keeper))
        approvalmail_run(st, env, &round);
    if (rc >= 0 && jobs_keeper_held(&keeper))
        notify_admin_summary(st, env);
    if (rc >= 0 && jobs_keeper_held(&keeper))
        dsn_run(st, env, &round, since);
    jobs_keeper_stop(&keeper);
    jobs_lease_drop(st, lease, "notify");
    return rc < 0 ? -1 : 0;
}
