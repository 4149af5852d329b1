/*
 * service.c - the service framework: [service.NAME] sections into a run-ordered
 * set, the common keys, the table of service types, and running one service
 * with its failure mode.
 */
#include "opes/service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/clock.h"
#include "opes/log.h"
#include "opes/mime.h"
#include "opes/spool.h"

extern const struct svc_type svc_type_rules;
extern const struct svc_type svc_type_clamd;
extern const struct svc_type svc_type_spamd;
extern const struct svc_type svc_type_rewrite;
extern const struct svc_type svc_type_banner;

static const struct svc_type *const svc_types[] = {
    &svc_type_rules, &svc_type_clamd, &svc_type_spamd, &svc_type_rewrite, &svc_type_banner};

const char *svc_verdict_name(enum svc_verdict v)
{
    static const char *const names[] = {"pass",       "tag",    "modify",
                                        "quarantine", "reject", "tempfail"};
    return (unsigned)v < 6 ? names[v] : "?";
}

const char *svc_consent_name(enum svc_consent c)
{
    static const char *const names[] = {"mandatory", "opt-out", "opt-in"};
    return (unsigned)c < 3 ? names[c] : "?";
}

int svc_parse_action(const char *s)
{
    if (strcmp(s, "tag") == 0)
        return SVC_TAG;
    if (strcmp(s, "quarantine") == 0)
        return SVC_QUARANTINE;
    if (strcmp(s, "reject") == 0)
        return SVC_REJECT;
    return -1;
}

int svc_parse_bypass(const char *s, unsigned *mask)
{
    static const struct {
        const char *word;
        unsigned bit;
    } words[] = {{"header", SVC_BYPASS_HEADER},
                 {"dialog", SVC_BYPASS_DIALOG},
                 {"token", SVC_BYPASS_TOKEN},
                 {"portal", SVC_BYPASS_PORTAL}};
    char w[32];

    *mask = 0;
    while (*s != '\0') {
        size_t n = strcspn(s, ", \t"), i;
        if (n == 0) {
            s++;
            continue;
        }
        if (n >= sizeof(w))
            return -1;
        memcpy(w, s, n);
        w[n] = '\0';
        s += n;
        if (strcmp(w, "never") == 0)
            continue;
        for (i = 0; i < 4 && strcmp(w, words[i].word) != 0; i++)
            ;
        if (i == 4)
            return -1;
        *mask |= words[i].bit;
    }
    return 0;
}

/* svc_parse_rcpt_actions - "pattern=action, ..." (pattern: address or @domain). */
static int svc_parse_rcpt_actions(struct svc *svc, const char *s, const char **reason)
{
    char item[300];

    while (*s != '\0') {
        size_t n = strcspn(s, ", \t");
        char *eq;
        int action;
        struct svc_rcpt_action *ra;
        if (n == 0) {
            s++;
            continue;
        }
        if (n >= sizeof(item)) {
            *reason = "entry too long";
            return -1;
        }
        memcpy(item, s, n);
        item[n] = '\0';
        s += n;
        eq = strchr(item, '=');
        if (eq == NULL || eq == item || strchr(item, '@') == NULL || strchr(item, '@') > eq ||
            (action = svc_parse_action(eq + 1)) < 0) {
            *reason = "expected address=action or @domain=action (tag, quarantine, reject)";
            return -1;
        }
        *eq = '\0';
        ra = realloc(svc->rcpt_actions, (svc->n_rcpt_actions + 1) * sizeof(*ra));
        if (ra == NULL)
            fatal("realloc");
        svc->rcpt_actions = ra;
        ra = &ra[svc->n_rcpt_actions++];
        snprintf(ra->pattern, sizeof(ra->pattern), "%s", item);
        ra->action = (enum svc_verdict)action;
    }
    return 0;
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

/* svc_common - one of the keys every service has; 1 handled, 0 not common, -1 bad. */
static int svc_common(struct svc *svc, const char *key, const char *value, const char **reason)
{
    int v;
    uint64_t t;

    if (strcmp(key, "type") == 0)
        return 1; /* already used to pick the type */
    if (strcmp(key, "order") == 0) {
        char *end;
        long o = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || o < 0 || o > 10000) {
            *reason = "expected a number 0-10000";
            return -1;
        }
        svc->order = (int)o;
    } else if (strcmp(key, "action") == 0) {
        if ((v = svc_parse_action(value)) < 0) {
            *reason = "expected tag, quarantine or reject";
            return -1;
        }
        svc->action = (enum svc_verdict)v;
    } else if (strcmp(key, "bypass") == 0) {
        if (svc_parse_bypass(value, &svc->bypass) < 0) {
            *reason = "expected never, or any of header, dialog, token, portal";
            return -1;
        }
    } else if (strcmp(key, "consent") == 0) {
        if (strcmp(value, "mandatory") == 0)
            svc->consent = SVC_MANDATORY;
        else if (strcmp(value, "opt-out") == 0)
            svc->consent = SVC_OPT_OUT;
        else if (strcmp(value, "opt-in") == 0)
            svc->consent = SVC_OPT_IN;
        else {
            *reason = "expected mandatory, opt-out or opt-in";
            return -1;
        }
    } else if (strcmp(key, "timeout") == 0) {
        if (config_parse_time(value, &t) < 0 || t < 1 || t > 600) {
            *reason = "expected a duration of 1s to 600s";
            return -1;
        }
        svc->timeout_s = t;
    } else if (strcmp(key, "on_failure") == 0) {
        if (strcmp(value, "tempfail") == 0)
            svc->on_failure = SVC_FAIL_TEMPFAIL;
        else if (strcmp(value, "pass") == 0)
            svc->on_failure = SVC_FAIL_PASS;
        else if (strcmp(value, "quarantine") == 0)
            svc->on_failure = SVC_FAIL_QUARANTINE;
        else {
            *reason = "expected tempfail, pass or quarantine";
            return -1;
        }
    } else if (strcmp(key, "notify_sender") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0)
            svc->notify_sender = strcmp(value, "yes") == 0;
        else {
            *reason = "expected yes or no";
            return -1;
        }
    } else if (strcmp(key, "on_protected") == 0) {
        if (strcmp(value, "skip") == 0)
            svc->on_protected = SVC_PROT_SKIP;
        else if (strcmp(value, "quarantine") == 0)
            svc->on_protected = SVC_PROT_QUARANTINE;
        else if (strcmp(value, "reject") == 0)
            svc->on_protected = SVC_PROT_REJECT;
        else {
            *reason = "expected skip, quarantine or reject";
            return -1;
        }
    } else if (strcmp(key, "recipient_action") == 0) {
        return svc_parse_rcpt_actions(svc, value, reason) < 0 ? -1 : 1;
    } else {
        return 0;
    }
    return 1;
}

struct svc_errors {
    char text[4096];
    size_t len;
};

static void svc_error(struct svc_errors *e, const struct opes_config *cfg, int line,
                      const char *name, const char *key, const char *reason)
{
    int n = snprintf(e->text + e->len, sizeof(e->text) - e->len, "%s%s:%d: service.%s.%s: %s",
                     e->len ? "\n" : "", cfg->path != NULL ? cfg->path : "(defaults)", line, name,
                     key, reason);
    if (n > 0 && (size_t)n < sizeof(e->text) - e->len)
        e->len += (size_t)n;
}

static const struct svc_type *svc_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(svc_types) / sizeof(svc_types[0]); i++)
        if (strcmp(svc_types[i]->name, name) == 0)
            return svc_types[i];
    return NULL;
}

/* svc_init - a new service of the type its section names. */
static int svc_init(struct svc *svc, const struct opes_config *cfg, const char *name,
                    struct svc_errors *e, int first_line)
{
    const struct config_kv *type_kv = NULL;

    for (size_t i = 0; i < cfg->n_service_kv; i++)
        if (strcmp(cfg->service_kv[i].section, name) == 0 &&
            strcmp(cfg->service_kv[i].key, "type") == 0)
            type_kv = &cfg->service_kv[i];
    if (type_kv == NULL) {
        svc_error(e, cfg, first_line, name, "type", "missing (rules, clamd or spamd)");
        return -1;
    }
    svc->type = svc_type_find(type_kv->value);
    if (svc->type == NULL) {
        svc_error(e, cfg, type_kv->line, name, "type", "unknown type (rules, clamd or spamd)");
        return -1;
    }
    snprintf(svc->name, sizeof(svc->name), "%s", name);
    snprintf(svc->uri, sizeof(svc->uri), "%s/service/%s", cfg->system_uri, name);
    svc->consent = svc->type->consent;
    svc->bypass = svc->type->bypass;
    svc->action = svc->type->action;
    svc->timeout_s = 30;
    svc->on_failure = SVC_FAIL_TEMPFAIL;
    return 0;
}

/* svc_configure - every key of one section; errors are collected. */
static void svc_configure(struct svc *svc, const struct opes_config *cfg, struct svc_errors *e,
                          int *last_line)
{
    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        const struct config_kv *kv = &cfg->service_kv[i];
        const char *reason = "unknown key";
        int rc;
        if (strcmp(kv->section, svc->name) != 0)
            continue;
        *last_line = kv->line;
        rc = svc_common(svc, kv->key, kv->value, &reason);
        if (rc == 0)
            rc = svc->type->configure != NULL
                     ? svc->type->configure(svc, kv->key, kv->value, &reason)
                     : -1;
        if (rc < 0)
            svc_error(e, cfg, kv->line, svc->name, kv->key, reason);
    }
}

static int svc_order_cmp(const void *a, const void *b)
{
    const struct svc *x = a, *y = b;
    return x->order - y->order;
}

struct svc_set *services_load(const struct opes_config *cfg, const char **error_r)
{
    static _Thread_local struct svc_errors e;
    struct svc_set *set = calloc(1, sizeof(*set));

    if (set == NULL)
        fatal("calloc");
    e.len = 0;
    e.text[0] = '\0';
    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        const char *name = cfg->service_kv[i].section, *reason = NULL;
        bool seen = false;
        int last = cfg->service_kv[i].line;
        struct svc *svc;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(cfg->service_kv[k].section, name) == 0;
        if (seen)
            continue;
        set->svc = realloc(set->svc, (set->n + 1) * sizeof(*set->svc));
        if (set->svc == NULL)
            fatal("realloc");
        svc = &set->svc[set->n];
        memset(svc, 0, sizeof(*svc));
        if (svc_init(svc, cfg, name, &e, cfg->service_kv[i].line) < 0)
            continue;
        set->n++;
        svc->order = (int)set->n * 10;
        svc_configure(svc, cfg, &e, &last);
        if (svc->type->never_bypass != NULL && (svc->bypass != 0 || svc->consent != SVC_MANDATORY))
            svc_error(&e, cfg, last, name, "bypass", svc->type->never_bypass);
        if (svc->type->check != NULL && svc->type->check(svc, &reason) < 0)
            svc_error(&e, cfg, last, name, "type", reason);
    }
    if (e.len > 0) {
        *error_r = e.text;
        services_free(&set);
        return NULL;
    }
    if (set->n > 1)
        qsort(set->svc, set->n, sizeof(*set->svc), svc_order_cmp);
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
        free(set->svc[i].rcpt_actions);
    }
    free(set->svc);
    free(set);
}

void svc_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    int64_t start;

    memset(r, 0, sizeof(*r));
    start = clock_now_ms();
    svc->type->run(svc, m, r);
    r->ms = clock_now_ms() - start;
    if (!r->failed)
        return;
    log_warnx("service=%s failed: %s (on_failure=%s)", svc->name, r->reason,
              svc->on_failure == SVC_FAIL_PASS         ? "pass"
              : svc->on_failure == SVC_FAIL_QUARANTINE ? "quarantine"
                                                       : "tempfail");
    r->verdict = svc->on_failure == SVC_FAIL_PASS         ? SVC_PASS
                 : svc->on_failure == SVC_FAIL_QUARANTINE ? SVC_QUARANTINE
                                                          : SVC_TEMPFAIL;
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
    snprintf(r->reason, sizeof(r->reason), "%s content is never modified: %s", why,
             r->verdict == SVC_PASS ? "skipped" : svc_verdict_name(r->verdict));
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
