/*
 * approvalmail.c - notices of release requests to their approvers and of
 * decisions to whoever asked (see approvalmail.h).
 */
#include "opes/approvalmail.h"

#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/i18n.h"
#include "opes/lmtp_local.h"
#include "opes/lmtp_parse.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mailview.h"
#include "opes/notify.h"
#include "opes/store.h"

#define APPROVALMAIL_BATCH 50
#define APPROVALMAIL_APPROVERS 32

/* A batch of requests read before any is mailed (no statement stays open meanwhile). */
struct approvalmail_batch {
    struct store_approval a[APPROVALMAIL_BATCH];
    size_t n;
};

/* approvalmail_collect - fn of the store's lists: keep each request. */
static void approvalmail_collect(const struct store_approval *a, void *ctx)
{
    struct approvalmail_batch *b = ctx;

    if (b->n < APPROVALMAIL_BATCH)
        b->a[b->n++] = *a;
}

struct approvalmail_to {
    char addr[APPROVALMAIL_APPROVERS][257];
    size_t n;
};

/* approvalmail_approver - fn of store_approvers: keep each address. */
static void approvalmail_approver(const char *address, void *ctx)
{
    struct approvalmail_to *t = ctx;

    if (t->n < APPROVALMAIL_APPROVERS)
        snprintf(t->addr[t->n++], sizeof(t->addr[0]), "%s", address);
}

/*
 * approvalmail_send - one mail of kind about a to to, in to's language;
 * the reply's class (2, 4 or 5), 4 when it could not be composed.
 */
static int approvalmail_send(struct store *st, struct lmtp_env *env, const char *kind,
                             const struct store_approval *a, const char *to)
{
    const struct opes_config *cfg = env->cfg;
    char queue[400], opes[300], rcpt[300];
    struct mailgen_buf msg = {0};
    struct mailview_reader rd;
    struct lmtp_reply reply;
    const char *recipient = a->item.original[0] ? a->item.original : a->item.recipient;

    mailgen_clean_address(rcpt, sizeof(rcpt), to);
    if (strcmp(rcpt, to) != 0 || strchr(rcpt, '@') == NULL)
        return 5;
    mailview_reader_of(st, cfg, to, &rd);
    snprintf(queue, sizeof(queue), "%s/admin/requests", cfg->web_base_url);
    snprintf(opes, sizeof(opes), "%s/opes", cfg->web_base_url);
    {
        const char *outcome =
            i18n_text(rd.lang, strcmp(a->state, "approved") == 0 ? "roles.outcome.approved"
                                                                 : "roles.outcome.denied");
        struct mailgen_var vars[] = {{"recipient", recipient, false},
                                     {"requested_by", a->requested_by, false},
                                     {"sender", a->item.sender, false},
                                     {"subject", a->item.subject, false},
                                     {"service", a->item.service, false},
                                     {"reason", a->reason[0] ? a->reason : "-", false},
                                     {"comment", a->comment[0] ? a->comment : "-", false},
                                     {"decided_by", a->decided_by, false},
                                     {"outcome", outcome, false},
                                     {"queue_url", queue, false},
                                     {"opes_url", opes, false}};
        if (notify_compose(cfg, kind, rd.lang, to, "auto-generated", vars,
                           sizeof(vars) / sizeof(vars[0]), false, &msg) < 0) {
            mailgen_free(&msg);
            return 4;
        }
    }
    notify_deliver(env, to, msg.data, msg.len, &reply);
    mailgen_free(&msg);
    log_info("release-request id=%lld item=%s mail=%s rcpt=<%s> reply=\"%d %s %s\"",
             (long long)a->id, a->item.id, kind, rcpt, reply.code, reply.enh, reply.text);
    return reply.code / 100;
}

/* approvalmail_notify - tell a's approvers; true when it is done (nobody left to try later). */
static bool approvalmail_notify(struct store *st, struct lmtp_env *env,
                                const struct store_approval *a)
{
    const char *at = strrchr(a->item.recipient, '@'), *error;
    struct approvalmail_to to = {.n = 0};
    bool later = false;

    if (store_approvers(st, at != NULL ? at + 1 : "", approvalmail_approver, &to, &error) < 0) {
        log_warnx("release-request id=%lld: store error: %s", (long long)a->id, error);
        return false;
    }
    if (to.n == 0)
        log_warnx("release-request id=%lld item=%s: no administrator to decide it (opesctl user "
                  "add ADDRESS --admin)",
                  (long long)a->id, a->item.id);
    for (size_t i = 0; i < to.n; i++)
        later |= approvalmail_send(st, env, "approval", a, to.addr[i]) == 4;
    return !later;
}

int approvalmail_run(struct store *st, struct lmtp_env *env, const struct notify_round *round)
{
    static struct approvalmail_batch b; /* the job thread's alone */
    const char *error;
    int done = 0;

    for (int told = 0; told <= 1; told++) {
        b.n = 0;
        if ((told ? store_approval_untold(st, APPROVALMAIL_BATCH, approvalmail_collect, &b, &error)
                  : store_approval_unnotified(st, APPROVALMAIL_BATCH, approvalmail_collect, &b,
                                              &error)) < 0) {
            log_warnx("release-request: store error: %s", error);
            return -1;
        }
        for (size_t i = 0; i < b.n && !notify_stopping(round, 0); i++) {
            const struct store_approval *a = &b.a[i];
            const char *to =
                strchr(a->requested_by, '@') != NULL ? a->requested_by : a->item.recipient;
            bool ok = told ? approvalmail_send(st, env, "outcome", a, to) != 4
                           : approvalmail_notify(st, env, a);
            if (ok && store_approval_mark(st, a->id, told, &error) < 0) {
                log_warnx("release-request: store error: %s", error);
                return -1;
            }
            done += ok;
        }
    }
    return done;
}
