/*
 * svc_spamd.c - the spamd service: SpamAssassin's score, two thresholds.
 *
 * Keys: address (unix:/path or host:port), tag_threshold (default 5.0: add
 * X-Spam-* fields), quarantine_threshold (default 10.0: the action, default
 * quarantine), user (spamd's per-user settings), max_size (default 512K:
 * larger messages are not scanned, as spamc does), on_unscannable (what such
 * a message gets: default pass, as a score is a heuristic and large mail must
 * not wait for ever; the trace says "unscannable" either way).
 * Bypassable in every way and opt-out by default.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/service.h"
#include "opes/spamd.h"

struct spamd_conf {
    struct endpoint ep;
    bool have_ep;
    double tag, quarantine;
    char user[SPAMD_USER_MAX];
    uint64_t max_size;
    enum svc_verdict on_unscannable;
};

/* spamd_number - a threshold such as 5.0 (field: a double) */
static int spamd_number(void *field, const char *value, const char **reason)
{
    char *end;
    double v = strtod(value, &end);

    if (*value == '\0' || *end != '\0' || v < -1000 || v > 10000) {
        *reason = "expected a score such as 5.0";
        return -1;
    }
    *(double *)field = v;
    return 0;
}

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
    {"spamd", "tag_threshold", CONFIG_PARSE, "5.0", 0, 0, OFF(tag), .parse = spamd_number},
    {"spamd", "quarantine_threshold", CONFIG_PARSE, "10.0", 0, 0, OFF(quarantine),
     .parse = spamd_number},
    {"spamd", "user", CONFIG_PARSE, NULL, 0, 0, OFF(user), .parse = spamd_user},
    {"spamd", "max_size", CONFIG_SIZE, "512K", 0, UINT64_MAX, OFF(max_size),
     .why = "expected a size such as 512K"},
    {"spamd", "on_unscannable", CONFIG_ENUM, "pass", 0, 0, OFF(on_unscannable),
     .words = svc_unscannable_words},
};

static int spamd_check_conf(struct svc *svc, const char **reason)
{
    const struct spamd_conf *c = svc->priv;

    if (!c->have_ep) {
        *reason = "spamd needs address = host:port or unix:/path";
        return -1;
    }
    if (c->tag > c->quarantine) {
        *reason = "tag_threshold is above quarantine_threshold";
        return -1;
    }
    return 0;
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
    snprintf(r->reason, sizeof(r->reason), "score %.1f (tag %.1f, quarantine %.1f)", sr.score,
             c->tag, c->quarantine);
    svc_words_spam(r, sr.score, c->quarantine);
    if (sr.score >= c->quarantine)
        r->verdict = svc->action;
    else if (sr.score >= c->tag)
        r->verdict = SVC_TAG;
    else
        r->verdict = SVC_PASS;
    if (r->verdict != SVC_PASS)
        snprintf(r->headers, sizeof(r->headers),
                 "X-Spam-Flag: YES\r\nX-Spam-Score: %.1f\r\n"
                 "X-Spam-Status: Yes, score=%.1f required=%.1f\r\n",
                 sr.score, sr.score, c->tag);
}

const struct svc_type svc_type_spamd = {
    .name = "spamd",
    .keys = spamd_keys,
    .n_keys = sizeof(spamd_keys) / sizeof(spamd_keys[0]),
    .priv_size = sizeof(struct spamd_conf),
    .check = spamd_check_conf,
    .run = spamd_run,
};
