/*
 * svc_spamd.c - the spamd service: SpamAssassin's score, two thresholds.
 *
 * Keys: address (unix:/path or host:port), tag_threshold (default 5.0: add
 * X-Spam-* fields), junk_threshold (default off: deliver into the Junk
 * folder), quarantine_threshold (default 10.0: the action, default
 * quarantine), level_step, user_score_min and user_score_max (what the
 * recipients' own levels may be: service.h, struct svc_levels), user (spamd's
 * per-user settings), max_size (default 512K: larger messages are not
 * scanned, as spamc does), on_unscannable (what such a message gets: default
 * pass, as a score is a heuristic and large mail must not wait for ever; the
 * trace says "unscannable" either way). The message is scanned once; the
 * score is compared with each recipient's thresholds (policy.c).
 * Learning (a recipient's "not spam", a reported message) goes to the same
 * spamd with TELL, which it answers only when started with --allow-tell.
 * Bypassable in every way and opt-out by default.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/service.h"
#include "opes/spamd.h"

struct spamd_conf {
    struct svc_levels lv; /* first: SVC_LEVEL_KEYS */
    struct endpoint ep;
    bool have_ep;
    char user[SPAMD_USER_MAX];
    uint64_t max_size;
    enum svc_verdict on_unscannable;
};

/* spamd_address - the address key: unix:/path or host:port (field: the conf) */
static int spamd_address(void *field, const char *value, const char **reason)
{
    struct spamd_conf *c = field;

    c->have_ep = endpoint_parse(value, &c->ep, reason) == 0;
    return c->have_ep ? 0 : -1;
}

/* spamd_user - the user key (field: the conf's user buffer) */
static int spamd_user(void *field, const char *value, const char **reason)
{
    (void)reason;
    snprintf(field, SPAMD_USER_MAX, "%s", value);
    return 0;
}

#define OFF(f) .offset = offsetof(struct spamd_conf, f)

static const struct config_key spamd_keys[] = {
    {"spamd", "address", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = spamd_address},
    SVC_LEVEL_KEYS("spamd", "5.0", "off", "10.0"),
    {"spamd", "user", CONFIG_PARSE, NULL, 0, 0, OFF(user), .parse = spamd_user},
    {"spamd", "max_size", CONFIG_SIZE, "512K", 0, UINT64_MAX, OFF(max_size),
     .why = "expected a size such as 512K"},
    {"spamd", "on_unscannable", CONFIG_ENUM, "pass", 0, 0, OFF(on_unscannable),
     .words = svc_unscannable_words},
};

static int spamd_check_conf(struct svc *svc, const char **reason)
{
    struct spamd_conf *c = svc->priv;

    c->lv.on = true;
    if (!c->have_ep) {
        *reason = "spamd needs address = host:port or unix:/path";
        return -1;
    }
    return svc_levels_check(&c->lv, reason);
}

static void spamd_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct spamd_conf *c = svc->priv;
    struct spamd_result sr;
    const char *error = "";

    if (svc_too_big(svc, m, r, c->max_size, c->on_unscannable))
        return;
    if (spamd_check(&c->ep, (int)svc->timeout_s * 1000, m->spool, c->user[0] ? c->user : NULL, &sr,
                    &error) < 0) {
        r->failed = true;
        snprintf(r->reason, sizeof(r->reason), "spamd: %s", error);
        return;
    }
    r->scored = true;
    r->score = sr.score;
    snprintf(r->reason, sizeof(r->reason), "score %.1f (tag %.1f, quarantine %.1f)", sr.score,
             c->lv.normal.tag, c->lv.normal.quarantine);
    svc_words_spam(r, sr.score, c->lv.normal.quarantine);
    r->verdict = svc_scores_verdict(&c->lv.normal, sr.score, svc->action);
    /* for every recipient whose own level tags or junks it (policy_verdict_for) */
    snprintf(r->headers, sizeof(r->headers),
             "X-Spam-Flag: YES\r\nX-Spam-Score: %.1f\r\n"
             "X-Spam-Status: Yes, score=%.1f required=%.1f\r\n",
             sr.score, sr.score, c->lv.normal.tag);
}

static const struct svc_levels *spamd_levels(const struct svc *svc)
{
    return &((const struct spamd_conf *)svc->priv)->lv;
}

/* spamd_learn - SPAMC TELL: spamd runs with --allow-tell. */
static int spamd_learn(const struct svc *svc, struct spool *spool, bool spam, char *detail,
                       size_t size)
{
    const struct spamd_conf *c = svc->priv;
    const char *error = "";
    bool learned;

    if (spamd_tell(&c->ep, (int)svc->timeout_s * 1000, spool, c->user[0] ? c->user : NULL, spam,
                   &learned, &error) < 0) {
        snprintf(detail, size, "%s", error);
        return -1;
    }
    snprintf(detail, size, "spamd %s as %s", learned ? "learned it (DidSet: local)" : "knew it",
             spam ? "spam" : "ham");
    return 0;
}

const struct svc_type svc_type_spamd = {
    .name = "spamd",
    .keys = spamd_keys,
    .n_keys = sizeof(spamd_keys) / sizeof(spamd_keys[0]),
    .priv_size = sizeof(struct spamd_conf),
    .check = spamd_check_conf,
    .run = spamd_run,
    .levels = spamd_levels,
    .learn = spamd_learn,
};
