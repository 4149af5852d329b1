/*
 * service.c - the service framework: the services that svcdesc describes
 * (names, run order, the common keys) built into a set, each with its type's
 * own keys read from the type's key table; and running one service with its
 * failure mode.
 */
#include "opes/service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/clock.h"
#include "opes/log.h"
#include "opes/metrics.h"
#include "opes/mime.h"
#include "opes/policy.h"
#include "opes/spool.h"
#include "opes/vec.h"

extern const struct svc_type svc_type_rules;
extern const struct svc_type svc_type_clamd;
extern const struct svc_type svc_type_spamd;
extern const struct svc_type svc_type_rewrite;
extern const struct svc_type svc_type_banner;
extern const struct svc_type svc_type_rspamd;

static const struct svc_type *const svc_types[] = {&svc_type_rules,  &svc_type_clamd,
                                                   &svc_type_spamd,  &svc_type_rewrite,
                                                   &svc_type_banner, &svc_type_rspamd};

const char *svc_verdict_name(enum svc_verdict v)
{
    return config_word_name(svcdesc_verdict_words, (int)v);
}

const char *svc_consent_name(enum svc_consent c)
{
    return config_word_name(svcdesc_consent_words, (int)c);
}

enum svc_verdict svc_action_for(const struct svc *svc, const char *rcpt)
{
    const char *at = strrchr(rcpt, '@');

    for (size_t i = 0; i < svc->n_rcpt_actions; i++) {
        const char *p = svc->rcpt_actions[i].pattern;
        if (strcasecmp(p, rcpt) == 0 || (p[0] == '@' && at != NULL && strcasecmp(p, at) == 0))
            return svc->rcpt_actions[i].action;
    }
    return svc->action;
}

static const struct svc_type *svc_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(svc_types) / sizeof(svc_types[0]); i++)
        if (strcmp(svc_types[i]->name, name) == 0)
            return svc_types[i];
    return NULL;
}

/* svc_from_desc - a service with the common settings of d (its recipient actions move over). */
static void svc_from_desc(struct svc *svc, struct svcdesc *d)
{
    const char *reason = NULL;

    memset(svc, 0, sizeof(*svc));
    svc->common = d->common;
    d->rcpt_actions = NULL; /* moved */
    d->n_rcpt_actions = d->cap_rcpt_actions = 0;
    svc->type = svc_type_find(d->type->name);
    if (svc->type == NULL)
        fatalx("service type %s is described but not built in", d->type->name);
    svc->priv = calloc(1, svc->type->priv_size > 0 ? svc->type->priv_size : 1);
    if (svc->priv == NULL)
        fatal("calloc");
    for (size_t i = 0; i < svc->type->n_keys; i++) {
        const struct config_key *k = &svc->type->keys[i];
        if (k->def != NULL && config_key_set(svc->priv, k, k->def, &reason) < 0)
            fatalx("built-in default of %s.%s: %s", k->section, k->key, reason);
    }
}

/* svc_unknown_key - "unknown key (spamd takes address, ...)" from the type's table. */
static const char *svc_unknown_key(const struct svc_type *t)
{
    static _Thread_local char buf[256];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "unknown key (%s takes ", t->name);

    for (size_t i = 0; i < t->n_keys && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? ", " : "", t->keys[i].key);
    if (o < sizeof(buf))
        snprintf(buf + o, sizeof(buf) - o, ")");
    return buf;
}

/* svc_configure - the type's own keys of the section, in file order; errors are collected. */
static void svc_configure(struct svc *svc, const struct opes_config *cfg, size_t first)
{
    for (size_t i = first; i < cfg->n_service_kv; i++) {
        const struct config_kv *kv = &cfg->service_kv[i];
        const struct config_key *k;
        const char *reason = NULL;
        if (strcmp(kv->section, svc->name) != 0 || svcdesc_is_common(kv->key))
            continue;
        k = config_key_find(svc->type->keys, svc->type->n_keys, NULL, kv->key);
        if (k == NULL)
            svcdesc_error(cfg, kv->line, svc->name, kv->key, svc_unknown_key(svc->type));
        else if (config_key_set(svc->priv, k, kv->value, &reason) < 0)
            svcdesc_error(cfg, kv->line, svc->name, kv->key, reason);
    }
}

struct svc_set *services_load(const struct opes_config *cfg, const char **error_r)
{
    const char *error;
    struct svcdesc_set *ds = svcdesc_load(cfg, &error);
    struct svc_set *set = calloc(1, sizeof(*set));

    if (set == NULL || (set->svc = calloc(ds->n + 1, sizeof(*set->svc))) == NULL)
        fatal("calloc");
    for (size_t i = 0; i < ds->n; i++) {
        struct svcdesc *d = &ds->svc[i];
        struct svc *svc = &set->svc[set->n++];
        const char *reason = NULL;
        svc_from_desc(svc, d);
        svc_configure(svc, cfg, d->first);
        if (svc->type->never_bypass != NULL && (svc->bypass != 0 || svc->consent != SVC_MANDATORY))
            svcdesc_error(cfg, d->last_line, d->name, "bypass", svc->type->never_bypass);
        if (svc->type->check != NULL && svc->type->check(svc, &reason) < 0)
            svcdesc_error(cfg, d->last_line, d->name, "type", reason);
    }
    svcdesc_set_free(&ds);
    if (svcdesc_errors() != NULL) {
        *error_r = svcdesc_errors();
        services_free(&set);
        return NULL;
    }
    return set;
}

void services_free(struct svc_set **setp)
{
    struct svc_set *set = *setp;

    *setp = NULL;
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++) {
        if (set->svc[i].type != NULL && set->svc[i].type->free != NULL)
            set->svc[i].type->free(&set->svc[i]);
        free(set->svc[i].priv);
        free(set->svc[i].rcpt_actions);
    }
    free(set->svc);
    free(set);
}

bool services_learns(const struct svc_set *set, const char *name)
{
    for (size_t i = 0; set != NULL && i < set->n; i++)
        if (strcmp(set->svc[i].name, name) == 0)
            return set->svc[i].type != NULL && set->svc[i].type->learn != NULL;
    return false;
}

void svc_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    int64_t start;

    memset(r, 0, sizeof(*r));
    start = clock_now_ms();
    svc->type->run(svc, m, r);
    r->ms = clock_now_ms() - start;
    metrics_service(svc->name, r->verdict, r->failed, r->ms);
    if (!r->failed)
        return;
    /* for the recipient, a check that could not answer held it like an unreadable message */
    reason_encode(r->words, sizeof(r->words), "reason.unscannable", NULL);
    log_warnx("service=%s failed: %s (on_failure=%s)", svc->name, r->reason,
              svc->on_failure == SVC_FAIL_PASS         ? "pass"
              : svc->on_failure == SVC_FAIL_QUARANTINE ? "quarantine"
                                                       : "tempfail");
    r->verdict = svc->on_failure == SVC_FAIL_PASS         ? SVC_PASS
                 : svc->on_failure == SVC_FAIL_QUARANTINE ? SVC_QUARANTINE
                                                          : SVC_TEMPFAIL;
}

const struct config_word svc_unscannable_words[] = {{"quarantine", SVC_QUARANTINE},
                                                    {"reject", SVC_REJECT},
                                                    {"tempfail", SVC_TEMPFAIL},
                                                    {"pass", SVC_PASS},
                                                    {NULL, 0}};

void svc_unscannable(const struct svc *svc, struct svc_result *r, enum svc_verdict choice,
                     const char *kind, const char *key, const char *why)
{
    log_warnx("service=%s %s: %s (%s=%s)", svc->name, kind, why, key, svc_verdict_name(choice));
    r->unscannable = true;
    if (r->verdict != SVC_PASS && policy_rank(choice) <= policy_rank(r->verdict))
        return;
    variant_edits_clear(&r->edits);
    r->headers[0] = '\0';
    r->verdict = choice;
    snprintf(r->reason, sizeof(r->reason), "%s: %s (%s=%s)", kind, why, key,
             svc_verdict_name(choice));
    reason_encode(r->words, sizeof(r->words), "reason.unscannable", NULL);
}

void svc_words_spam(struct svc_result *r, double score, double required)
{
    char s[32], q[32];

    snprintf(s, sizeof(s), "%.1f", score);
    snprintf(q, sizeof(q), "%.1f", required);
    reason_encode(r->words, sizeof(r->words), "reason.spam",
                  (const char *const[]){"score", s, "required", q, NULL});
}

bool svc_too_big(const struct svc *svc, const struct svc_msg *m, struct svc_result *r,
                 uint64_t max_size, enum svc_verdict choice)
{
    char why[100];

    if (m->size <= max_size)
        return false;
    r->verdict = SVC_PASS;
    snprintf(why, sizeof(why), "not scanned: larger than max_size (%llu)",
             (unsigned long long)max_size);
    svc_unscannable(svc, r, choice, "unscannable", "on_unscannable", why);
    return true;
}

void svc_result_clear(struct svc_result *r)
{
    variant_edits_clear(&r->edits);
}

const char *svc_protected_why(const struct mime_message *m)
{
    if (m == NULL)
        return "not parsed as MIME";
    if (m->protected != 0)
        return "signed or encrypted (S/MIME, PGP)";
    if (m->dkim_signatures > 0)
        return "DKIM-signed";
    return NULL;
}

void svc_protected_verdict(const struct svc *svc, const char *why, struct svc_result *r)
{
    variant_edits_clear(&r->edits);
    r->verdict = svc->on_protected == SVC_PROT_REJECT       ? SVC_REJECT
                 : svc->on_protected == SVC_PROT_QUARANTINE ? SVC_QUARANTINE
                                                            : SVC_PASS;
    r->skipped = r->verdict == SVC_PASS;
    snprintf(r->reason, sizeof(r->reason), "%s content is never modified: %s", why,
             r->verdict == SVC_PASS ? "skipped" : svc_verdict_name(r->verdict));
}

/* svc_read_spool - a mime_read_fn over the spooled message. */
static ssize_t svc_read_spool(void *ctx, uint64_t offset, void *buf, size_t len)
{
    return spool_pread(ctx, offset, buf, len);
}

struct svc_sink {
    char *data;
    size_t len, cap;
};

/* svc_sink_write - a mime_write_fn that collects the decoded bytes, NUL-terminated. */
static int svc_sink_write(void *ctx, const void *data, size_t len)
{
    struct svc_sink *s = ctx;

    s->data = vec_reserve(s->data, &s->cap, s->len + len + 1, 1);
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = '\0';
    return 0;
}

char *svc_part_decode(const struct svc_msg *m, size_t index, size_t *len_r, const char **error_r)
{
    struct svc_sink sink = {0};

    if (m->spool == NULL || m->mime == NULL) {
        *error_r = "no spooled message";
        return NULL;
    }
    if (mime_part_decode(m->mime, index, svc_read_spool, m->spool, svc_sink_write, &sink, error_r) <
        0) {
        free(sink.data);
        return NULL;
    }
    if (sink.data == NULL)
        svc_sink_write(&sink, "", 0);
    *len_r = sink.len;
    return sink.data;
}

char *svc_spool_range(struct spool *spool, uint64_t off, size_t len)
{
    char *buf = malloc(len + 1);
    size_t got = 0;

    if (buf == NULL)
        fatal("malloc");
    while (got < len) {
        ssize_t n = spool_pread(spool, off + got, buf + got, len - got);
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

int svc_score_parse(void *field, const char *value, const char **reason)
{
    char *end;
    double v;

    if (strcmp(value, "off") == 0) {
        *(double *)field = INFINITY;
        return 0;
    }
    v = strtod(value, &end);
    if (*value == '\0' || *end != '\0' || !(v >= -1000 && v <= 10000)) {
        *reason = "expected a score such as 5.0, or off";
        return -1;
    }
    *(double *)field = v;
    return 0;
}

enum svc_verdict svc_scores_verdict(const struct svc_scores *s, double score,
                                    enum svc_verdict action)
{
    enum svc_verdict v = score >= s->junk ? SVC_JUNK : score >= s->tag ? SVC_TAG : SVC_PASS;

    /* the action, unless it is milder than what the lower thresholds already say */
    if (score >= s->quarantine && policy_rank(action) > policy_rank(v))
        v = action;
    return v;
}

const struct svc_levels *svc_levels_of(const struct svc *svc)
{
    const struct svc_levels *lv =
        svc->type != NULL && svc->type->levels != NULL ? svc->type->levels(svc) : NULL;

    return lv != NULL && lv->on ? lv : NULL;
}

int svc_levels_check(const struct svc_levels *lv, const char **reason)
{
    const struct svc_scores *n = &lv->normal;

    /* off (INFINITY) is never reached, so it is above anything */
    if (isfinite(n->tag) && n->tag > n->quarantine) {
        *reason = "tag_threshold is above quarantine_threshold";
        return -1;
    }
    if (isfinite(n->junk) && n->junk > n->quarantine) {
        *reason = "junk_threshold is above quarantine_threshold";
        return -1;
    }
    if (!isfinite(lv->step) || !isfinite(lv->min) || !isfinite(lv->max) || lv->min > lv->max) {
        *reason = "level_step, user_score_min and user_score_max need scores, min <= max";
        return -1;
    }
    return 0;
}
