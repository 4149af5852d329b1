/*
 * digest.c - schedules, recording and sending of quarantine digests (see
 * digest.h). Recording happens in opesd's job thread on schedule, or at once
 * with "opesctl digest run"; sending only in opesd's job thread.
 */
#include "opes/digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/lmtp_parse.h"
#include "opes/lmtp_local.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mailview.h"
#include "opes/notify.h"
#include "opes/schedule.h"
#include "opes/store.h"
#include "opes/vec.h"

#define DIGEST_BATCH 50

struct digest_rcpts {
    char (*addr)[257];
    size_t n, cap;
};

static void digest_collect_rcpt(const char *rcpt, void *ctx)
{
    struct digest_rcpts *r = ctx;

    r->addr = vec_reserve(r->addr, &r->cap, r->n + 1, sizeof(*r->addr));
    snprintf(r->addr[r->n++], sizeof(*r->addr), "%s", rcpt);
}

/* digest_schedule_of - the recipient's schedule, or [notify] digest_schedule. */
static void digest_schedule_of(struct store *st, const struct opes_config *cfg, const char *rcpt,
                               struct schedule *s)
{
    char mode[16], sched[64];
    const char *error;

    if (store_user_notify_prefs(st, rcpt, mode, sizeof(mode), sched, sizeof(sched), &error) == 0 &&
        sched[0] != '\0' && schedule_parse(sched, s) == 0)
        return;
    if (schedule_parse(cfg->notify_digest_schedule, s) < 0)
        schedule_parse("daily@08", s);
}

int digest_record(struct store *st, const struct opes_config *cfg, bool force, const char *only)
{
    struct digest_rcpts r = {0};
    const char *error;
    int recorded = 0;
    int64_t now = (int64_t)time(NULL);

    if (store_digest_waiting(st, digest_collect_rcpt, &r, &error) < 0) {
        log_warnx("digest: store error: %s", error);
        return -1;
    }
    for (size_t i = 0; i < r.n; i++) {
        struct schedule s;
        int64_t last, id;
        size_t count;
        int rc;

        if (only != NULL && strcasecmp(only, r.addr[i]) != 0)
            continue;
        if (!force) {
            digest_schedule_of(st, cfg, r.addr[i], &s);
            if (store_digest_last(st, r.addr[i], &last, &error) < 0 || !schedule_due(&s, last, now))
                continue;
        }
        rc = store_digest_create(st, r.addr[i], &id, &count, &error);
        if (rc < 0) {
            log_warnx("digest: rcpt=<%s> store error: %s", r.addr[i], error);
            recorded = -1;
            break;
        }
        if (rc == 0) {
            log_info("digest=%lld rcpt=<%s> items=%zu action=recorded", (long long)id, r.addr[i],
                     count);
            recorded++;
        }
    }
    free(r.addr);
    return recorded;
}

/* ------------------------------------------------------------ sending */

struct digest_items {
    struct store_qitem *items;
    size_t n, cap;
};

static void digest_item(const struct store_qitem *it, void *ctx)
{
    struct digest_items *d = ctx;

    d->items = vec_reserve(d->items, &d->cap, d->n + 1, sizeof(*d->items));
    d->items[d->n++] = *it;
}

struct digest_list {
    struct store_digest *d;
    size_t n, cap;
};

static void digest_collect(const struct store_digest *dg, void *ctx)
{
    struct digest_list *l = ctx;

    l->d = vec_reserve(l->d, &l->cap, l->n + 1, sizeof(*l->d));
    l->d[l->n++] = *dg;
}

/* digest_still_delegate - fn of store_delegate_list: the pair still exists. */
static void digest_still_delegate(const struct store_delegate *dl, void *ctx)
{
    (void)dl;
    *(bool *)ctx = true;
}

/*
 * digest_copy_items - a delegate's copy of a shared mailbox's digest: the
 * items become the delegate's (their links open them in the delegate's own
 * session, never the mailbox's), each labelled with the mailbox it is for.
 * 1; 0 when the delegate no longer is one (then nothing is sent); -1 on a
 * store error.
 */
static int digest_copy_items(struct store *st, const struct store_digest *dg,
                             struct store_qitem *items, size_t n)
{
    bool still = false;
    const char *error;

    if (store_delegate_list(st, dg->owner, dg->recipient, digest_still_delegate, &still, &error) <
        0) {
        log_warnx("digest=%lld delegates: %s", (long long)dg->id, error);
        return -1;
    }
    for (size_t i = 0; still && i < n; i++) {
        char subject[sizeof(items[i].subject)];

        snprintf(subject, sizeof(subject), "[%s] %.200s", dg->owner, items[i].subject);
        memcpy(items[i].subject, subject, sizeof(subject));
        snprintf(items[i].recipient, sizeof(items[i].recipient), "%s", dg->recipient);
    }
    return still ? 1 : 0;
}

/*
 * digest_send_one - compose and deliver one recorded digest and record the
 * outcome: sent, tried again on the next interval (4xx), or failed for good
 * (5xx). The store's reply code, 0 when nothing was sent, -1 when the
 * outcome cannot be recorded (the database is away: the rest waits, rather
 * than go out unrecorded and again once it is back).
 */
static int digest_send_one(struct store *st, struct lmtp_env *env, const struct store_digest *dg)
{
    const struct opes_config *cfg = env->cfg;
    struct digest_items d = {0};
    struct mailview_reader rd;
    struct mailgen_buf msg = {0};
    const char *error;
    char why[300];
    struct lmtp_reply reply = {.code = 0};
    int delegate = 1;

    if (store_digest_items(st, dg->copy_of != 0 ? dg->copy_of : dg->id, digest_item, &d, &error) <
        0) {
        log_warnx("digest=%lld store error: %s", (long long)dg->id, error);
        reply.code = -1;
        goto out;
    }
    /* every item went away before it could be sent, or a delegate's copy whose
     * delegate was removed meanwhile */
    if (dg->copy_of != 0 && d.n > 0 && (delegate = digest_copy_items(st, dg, d.items, d.n)) < 0) {
        reply.code = -1;
        goto out;
    }
    if (d.n == 0 || delegate == 0) {
        if (store_digest_sent(st, dg->id, &error) == 0)
            log_info("digest=%lld rcpt=<%s> action=dropped reason=\"%s\"", (long long)dg->id,
                     dg->recipient, d.n == 0 ? "no item left" : "no longer a delegate");
        goto out;
    }
    mailview_reader_of(st, cfg, dg->recipient, &rd);
    snprintf(rd.shared, sizeof(rd.shared), "%s", dg->owner);
    if (mailview_compose(st, cfg, env->services, "digest", &rd, d.items, d.n, &msg) < 0)
        goto out;
    notify_deliver(env, dg->recipient, msg.data, msg.len, &reply);
    snprintf(why, sizeof(why), "%d %s %s", reply.code, reply.enh, reply.text);
    if (reply.code / 100 == 2) {
        if (store_digest_sent(st, dg->id, &error) < 0) {
            log_warnx("digest=%lld delivered but not recorded: %s", (long long)dg->id, error);
            reply.code = -1;
        }
        log_info("digest=%lld rcpt=<%s>%s%s%s items=%zu action=sent reply=\"%s\"",
                 (long long)dg->id, dg->recipient, dg->copy_of != 0 ? " delegate-of=<" : "",
                 dg->owner, dg->copy_of != 0 ? ">" : "", d.n, why);
    } else {
        /* 4xx: kept pending, the same digest is tried again on the next interval */
        bool permanent = reply.code / 100 == 5;
        if (store_digest_failed(st, dg->id, why, permanent, &error) < 0) {
            log_warnx("digest=%lld attempt not recorded: %s", (long long)dg->id, error);
            reply.code = -1;
        }
        log_warnx("digest=%lld rcpt=<%s> action=%s attempts=%d reply=\"%s\"", (long long)dg->id,
                  dg->recipient, permanent ? "failed" : "deferred", dg->attempts + 1, why);
    }
out:
    free(d.items);
    mailgen_free(&msg);
    return reply.code;
}

int digest_send_pending(struct store *st, struct lmtp_env *env, const struct notify_round *round)
{
    struct digest_list l = {0};
    const char *error;
    size_t i;
    int tempfails = 0;

    if (store_digest_pending(st, DIGEST_BATCH, digest_collect, &l, &error) < 0) {
        log_warnx("digest: store error: %s", error);
        return -1;
    }
    for (i = 0; i < l.n; i++) {
        /* [notify] send_delay exists for tests that stop opesd in the middle of a run */
        if (notify_stopping(round, (int)env->cfg->notify_send_delay * 1000))
            break;
        if (!notify_round_goes_on(&tempfails, digest_send_one(st, env, &l.d[i]))) {
            i++;
            break;
        }
    }
    free(l.d);
    return (int)i;
}
