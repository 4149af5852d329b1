/*
 * svc_spamd.c - the spamd service: SpamAssassin's score, two thresholds.
 *
 * Keys: address (unix:/path or host:port), tag_threshold (default 5.0: add
 * X-Spam-* fields), quarantine_threshold (default 10.0: the action, default
 * quarantine), user (spamd's per-user settings), max_size (default 512K:
 * larger messages pass unscanned, as spamc does, and the trace says so).
 * Bypassable in every way and opt-out by default.
 */
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
};

static struct spamd_conf *spamd_conf(struct svc *svc)
{
    if (svc->priv == NULL) {
        struct spamd_conf *c = calloc(1, sizeof(*c));
        if (c == NULL)
            abort();
        c->tag = 5.0;
        c->quarantine = 10.0;
        c->max_size = 512 * 1024;
        svc->priv = c;
    }
    return svc->priv;
}

static int spamd_number(const char *value, double *out, const char **reason)
{
    char *end;
    double v = strtod(value, &end);

    if (*value == '\0' || *end != '\0' || v < -1000 || v > 10000) {
        *reason = "expected a score such as 5.0";
        return -1;
    }
    *out = v;
    return 0;
}

static int spamd_configure(struct svc *svc, const char *key, const char *value, const char **reason)
{
    struct spamd_conf *c = spamd_conf(svc);

    if (strcmp(key, "address") == 0) {
        c->have_ep = endpoint_parse(value, &c->ep, reason) == 0;
        return c->have_ep ? 0 : -1;
    }
    if (strcmp(key, "tag_threshold") == 0)
        return spamd_number(value, &c->tag, reason);
    if (strcmp(key, "quarantine_threshold") == 0)
        return spamd_number(value, &c->quarantine, reason);
    if (strcmp(key, "user") == 0) {
        snprintf(c->user, sizeof(c->user), "%s", value);
        return 0;
    }
    if (strcmp(key, "max_size") == 0) {
        if (config_parse_size(value, &c->max_size) < 0) {
            *reason = "expected a size such as 512K";
            return -1;
        }
        return 0;
    }
    *reason = "unknown key (spamd takes address, tag_threshold, quarantine_threshold, user, "
              "max_size)";
    return -1;
}

static int spamd_check_conf(struct svc *svc, const char **reason)
{
    struct spamd_conf *c = spamd_conf(svc);

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

    if (m->size > c->max_size) {
        r->verdict = SVC_PASS;
        snprintf(r->reason, sizeof(r->reason), "not scanned: larger than max_size");
        return;
    }
    if (spamd_check(&c->ep, (int)svc->timeout_s * 1000, m->spool, c->user[0] ? c->user : NULL, &sr,
                    &error) < 0) {
        r->failed = true;
        snprintf(r->reason, sizeof(r->reason), "spamd: %s", error);
        return;
    }
    snprintf(r->reason, sizeof(r->reason), "score %.1f (tag %.1f, quarantine %.1f)", sr.score,
             c->tag, c->quarantine);
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

static void spamd_free(struct svc *svc)
{
    free(svc->priv);
    svc->priv = NULL;
}

const struct svc_type svc_type_spamd = {
    .name = "spamd",
    .consent = SVC_OPT_OUT,
    .bypass = SVC_BYPASS_HEADER | SVC_BYPASS_DIALOG | SVC_BYPASS_TOKEN | SVC_BYPASS_PORTAL,
    .action = SVC_QUARANTINE,
    .configure = spamd_configure,
    .check = spamd_check_conf,
    .run = spamd_run,
    .free = spamd_free,
};
