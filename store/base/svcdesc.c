/*
 * svcdesc.c - the service types, the keys every [service.NAME] section has,
 * and the configured services in run order: the one description that opesd
 * (service.c) runs and opes-web (svcinfo.c) shows.
 *
 * The common keys are a config_key table read by config_key_set, like the
 * rest of the configuration; each type's own keys are the agent's business
 * (the tables in agent/services/svc_*.c) and are skipped here.
 */
#include "opes/svcdesc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/log.h"
#include "opes/vec.h"

const struct config_word svcdesc_verdict_words[] = {
    {"pass", SVC_PASS},     {"tag", SVC_TAG},
    {"modify", SVC_MODIFY}, {"quarantine", SVC_QUARANTINE},
    {"reject", SVC_REJECT}, {"tempfail", SVC_TEMPFAIL},
    {"junk", SVC_JUNK},     {NULL, 0}};
const struct config_word svcdesc_consent_words[] = {
    {"mandatory", SVC_MANDATORY}, {"opt-out", SVC_OPT_OUT}, {"opt-in", SVC_OPT_IN}, {NULL, 0}};
const struct config_word svcdesc_bypass_words[] = {{"never", 0},
                                                   {"header", SVC_BYPASS_HEADER},
                                                   {"dialog", SVC_BYPASS_DIALOG},
                                                   {"token", SVC_BYPASS_TOKEN},
                                                   {"portal", SVC_BYPASS_PORTAL},
                                                   {NULL, 0}};
const struct config_word svcdesc_release_words[] = {{"self", SVC_RELEASE_SELF},
                                                    {"request", SVC_RELEASE_REQUEST},
                                                    {"admin", SVC_RELEASE_ADMIN},
                                                    {NULL, 0}};
/* the actions a configuration may choose on a hit */
static const struct config_word svcdesc_action_words[] = {{"tag", SVC_TAG},
                                                          {"junk", SVC_JUNK},
                                                          {"quarantine", SVC_QUARANTINE},
                                                          {"reject", SVC_REJECT},
                                                          {NULL, 0}};
static const struct config_word svcdesc_failure_words[] = {{"tempfail", SVC_FAIL_TEMPFAIL},
                                                           {"pass", SVC_FAIL_PASS},
                                                           {"quarantine", SVC_FAIL_QUARANTINE},
                                                           {NULL, 0}};
static const struct config_word svcdesc_protected_words[] = {{"skip", SVC_PROT_SKIP},
                                                             {"quarantine", SVC_PROT_QUARANTINE},
                                                             {"reject", SVC_PROT_REJECT},
                                                             {NULL, 0}};

/* In the order the portal lists types it describes; opesd's types must all be here. */
static const struct svcdesc_type svcdesc_types[] = {
    {"rules", SVC_MANDATORY, SVC_BYPASS_PORTAL, SVC_QUARANTINE,
     "Matches the envelope, header fields, size and attachment names or types against the "
     "operator's rules, and tags, holds or refuses the message.",
     true, .release = SVC_RELEASE_SELF},
    {"clamd", SVC_MANDATORY, 0, SVC_QUARANTINE,
     "Scans the message for malware with ClamAV. It is mandatory and can never be bypassed.", false,
     .release = SVC_RELEASE_REQUEST},
    {"spamd", SVC_OPT_OUT, SVC_BYPASS_ALL, SVC_QUARANTINE,
     "Scores the message with SpamAssassin: a spam score is added to the header, and spam goes "
     "to your Junk folder or is held, from the scores of your spam level.",
     true, .release = SVC_RELEASE_SELF},
    {"rewrite", SVC_MANDATORY, 0, SVC_MODIFY,
     "Maps envelope recipients and the header fields that name them to their new addresses.", false,
     .release = SVC_RELEASE_SELF},
    {"banner", SVC_OPT_OUT, SVC_BYPASS_ALL, SVC_MODIFY,
     "Adds a warning to mail from outside senders. Signed or encrypted mail is left "
     "untouched.",
     false, .release = SVC_RELEASE_SELF},
    {"rspamd", SVC_OPT_OUT, SVC_BYPASS_ALL, SVC_QUARANTINE,
     "Scores the message with rspamd: mail rspamd would reject is held, and mail it would "
     "tag can be marked in the header.",
     true, .release = SVC_RELEASE_SELF},
};
#define SVCDESC_NTYPES (sizeof(svcdesc_types) / sizeof(svcdesc_types[0]))

static int svcdesc_parse_type(void *field, const char *value, const char **reason);
static int svcdesc_parse_rcpt_actions(void *field, const char *value, const char **reason);

#define OFF(f) .offset = offsetof(struct svcdesc, f)
#define NOLIM 0, UINT64_MAX

/* The keys of every [service.NAME] section (the defaults come from the type). */
static const struct config_key svcdesc_keys[] = {
    {"service", "type", CONFIG_PARSE, NULL, NOLIM, OFF(type), .parse = svcdesc_parse_type},
    {"service", "order", CONFIG_NUM, NULL, 0, 10000, OFF(order),
     .why = "expected a number 0-10000"},
    {"service", "action", CONFIG_ENUM, NULL, NOLIM, OFF(action), .words = svcdesc_action_words},
    {"service", "bypass", CONFIG_FLAGS, NULL, NOLIM, OFF(bypass), .words = svcdesc_bypass_words,
     .why = "expected never, or any of header, dialog, token, portal"},
    {"service", "consent", CONFIG_ENUM, NULL, NOLIM, OFF(consent), .words = svcdesc_consent_words},
    {"service", "timeout", CONFIG_TIME, NULL, 1, 600, OFF(timeout_s),
     .why = "expected a duration of 1s to 600s"},
    {"service", "on_failure", CONFIG_ENUM, NULL, NOLIM, OFF(on_failure),
     .words = svcdesc_failure_words},
    {"service", "notify_sender", CONFIG_BOOL, NULL, NOLIM, OFF(notify_sender)},
    {"service", "on_protected", CONFIG_ENUM, NULL, NOLIM, OFF(on_protected),
     .words = svcdesc_protected_words},
    {"service", "release", CONFIG_ENUM, NULL, NOLIM, OFF(release), .words = svcdesc_release_words},
    {"service", "recipient_action", CONFIG_PARSE, NULL, NOLIM, .offset = 0,
     .parse = svcdesc_parse_rcpt_actions},
};
#define SVCDESC_NKEYS (sizeof(svcdesc_keys) / sizeof(svcdesc_keys[0]))

/* The problems found so far, listed in line order when asked for. */
#define SVCDESC_MAX_ERRORS 32
struct svcdesc_errlist {
    struct {
        int line;
        char text[400];
    } e[SVCDESC_MAX_ERRORS];
    size_t n;
    unsigned more; /* problems past the array */
    char text[4096];
};
static _Thread_local struct svcdesc_errlist svcdesc_err;

const struct svcdesc_type *svcdesc_type_find(const char *name)
{
    for (size_t i = 0; i < SVCDESC_NTYPES; i++)
        if (strcmp(svcdesc_types[i].name, name) == 0)
            return &svcdesc_types[i];
    return NULL;
}

bool svcdesc_is_common(const char *key)
{
    return config_key_find(svcdesc_keys, SVCDESC_NKEYS, NULL, key) != NULL;
}

int svcdesc_parse_action(const char *s)
{
    return config_word_value(svcdesc_action_words, s);
}

/* svcdesc_parse_type - nothing to do: svcdesc_load picked the type before the keys. */
static int svcdesc_parse_type(void *field, const char *value, const char **reason)
{
    (void)field;
    (void)value;
    (void)reason;
    return 0;
}

/* svcdesc_parse_rcpt_actions - "pattern=action, ..." (pattern: address or @domain). */
static int svcdesc_parse_rcpt_actions(void *field, const char *s, const char **reason)
{
    struct svcdesc *d = field;
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
            (action = svcdesc_parse_action(eq + 1)) < 0) {
            *reason = "expected address=action or @domain=action (tag, junk, quarantine, reject)";
            return -1;
        }
        *eq = '\0';
        d->rcpt_actions = vec_reserve(d->rcpt_actions, &d->cap_rcpt_actions, d->n_rcpt_actions + 1,
                                      sizeof(*d->rcpt_actions));
        ra = &d->rcpt_actions[d->n_rcpt_actions++];
        snprintf(ra->pattern, sizeof(ra->pattern), "%s", item);
        ra->action = (enum svc_verdict)action;
    }
    return 0;
}

/* svcdesc_type_hint - "what (rules, clamd, ... or rspamd)": the types there are. */
static const char *svcdesc_type_hint(char *out, size_t size, const char *what)
{
    size_t o = (size_t)snprintf(out, size, "%s (", what);

    for (size_t i = 0; i < SVCDESC_NTYPES && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s",
                              i == 0                    ? ""
                              : i + 1 == SVCDESC_NTYPES ? " or "
                                                        : ", ",
                              svcdesc_types[i].name);
    if (o < size)
        snprintf(out + o, size - o, ")");
    return out;
}

void svcdesc_error(const struct opes_config *cfg, int line, const char *name, const char *key,
                   const char *reason)
{
    struct svcdesc_errlist *l = &svcdesc_err;

    if (l->n == SVCDESC_MAX_ERRORS) {
        l->more++;
        return;
    }
    l->e[l->n].line = line;
    snprintf(l->e[l->n].text, sizeof(l->e[l->n].text), "%s:%d: service.%s.%s: %s",
             cfg->path != NULL ? cfg->path : "(defaults)", line, name, key, reason);
    l->n++;
}

const char *svcdesc_errors(void)
{
    struct svcdesc_errlist *l = &svcdesc_err;
    size_t o = 0;
    bool done[SVCDESC_MAX_ERRORS] = {false};

    if (l->n == 0)
        return NULL;
    /* in line order, and in the order found within a line */
    for (size_t k = 0; k < l->n; k++) {
        size_t best = l->n;
        for (size_t i = 0; i < l->n; i++)
            if (!done[i] && (best == l->n || l->e[i].line < l->e[best].line))
                best = i;
        done[best] = true;
        if (o < sizeof(l->text))
            o += (size_t)snprintf(l->text + o, sizeof(l->text) - o, "%s%s", k ? "\n" : "",
                                  l->e[best].text);
    }
    if (l->more > 0 && o < sizeof(l->text))
        snprintf(l->text + o, sizeof(l->text) - o, "\n%u more problems in [service.NAME] sections",
                 l->more);
    return l->text;
}

/* svcdesc_init - a new description of section name with its type's defaults; -1: no type. */
static int svcdesc_init(struct svcdesc *d, const struct opes_config *cfg, size_t first)
{
    const char *name = cfg->service_kv[first].section;
    const struct config_kv *type_kv = NULL;
    char why[200];

    for (size_t i = first; i < cfg->n_service_kv; i++)
        if (strcmp(cfg->service_kv[i].section, name) == 0 &&
            strcmp(cfg->service_kv[i].key, "type") == 0)
            type_kv = &cfg->service_kv[i];
    if (type_kv == NULL) {
        svcdesc_error(cfg, cfg->service_kv[first].line, name, "type",
                      svcdesc_type_hint(why, sizeof(why), "missing"));
        return -1;
    }
    memset(d, 0, sizeof(*d));
    d->type = svcdesc_type_find(type_kv->value);
    if (d->type == NULL) {
        svcdesc_error(cfg, type_kv->line, name, "type",
                      svcdesc_type_hint(why, sizeof(why), "unknown type"));
        return -1;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->uri, sizeof(d->uri), "%s/service/%s", cfg->system_uri, name);
    d->consent = d->type->consent;
    d->bypass = d->type->bypass;
    d->action = d->type->action;
    d->release = d->type->release;
    d->timeout_s = 30;
    d->on_failure = SVC_FAIL_TEMPFAIL;
    d->notify_sender = true; /* undeliverable mail gets a non-delivery report ([dsn] send) */
    d->first = first;
    return 0;
}

/* svcdesc_has_junk - does d send anyone's copy to the Junk folder? */
static bool svcdesc_has_junk(const struct svcdesc *d)
{
    bool junk = d->action == SVC_JUNK;

    for (size_t i = 0; i < d->n_rcpt_actions; i++)
        junk = junk || d->rcpt_actions[i].action == SVC_JUNK;
    return junk;
}

/* svcdesc_keys_read - the common keys of d's section, in file order. */
static void svcdesc_keys_read(struct svcdesc *d, const struct opes_config *cfg)
{
    for (size_t i = d->first; i < cfg->n_service_kv; i++) {
        const struct config_kv *kv = &cfg->service_kv[i];
        const struct config_key *k;
        const char *reason = NULL;
        if (strcmp(kv->section, d->name) != 0)
            continue;
        d->last_line = kv->line;
        k = config_key_find(svcdesc_keys, SVCDESC_NKEYS, NULL, kv->key);
        if (k != NULL && config_key_set(d, k, kv->value, &reason) < 0)
            svcdesc_error(cfg, kv->line, d->name, kv->key, reason);
        else if (k != NULL && strstr(kv->key, "action") != NULL && !d->type->junk &&
                 svcdesc_has_junk(d))
            svcdesc_error(cfg, kv->line, d->name, kv->key,
                          "junk is an action for spam: rules, spamd and rspamd only");
    }
}

/* svcdesc_cmp - run order: by order, then by where the section starts in the file */
static int svcdesc_cmp(const void *a, const void *b)
{
    const struct svcdesc *x = a, *y = b;

    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

struct svcdesc_set *svcdesc_load(const struct opes_config *cfg, const char **error_r)
{
    struct svcdesc_set *set = calloc(1, sizeof(*set));

    if (set == NULL)
        fatal("calloc");
    svcdesc_err.n = 0;
    svcdesc_err.more = 0;
    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(cfg->service_kv[k].section, cfg->service_kv[i].section) == 0;
        if (seen)
            continue;
        set->svc = vec_reserve(set->svc, &set->cap, set->n + 1, sizeof(*set->svc));
        if (svcdesc_init(&set->svc[set->n], cfg, i) < 0)
            continue;
        set->n++;
        set->svc[set->n - 1].order = set->n * 10;
        svcdesc_keys_read(&set->svc[set->n - 1], cfg);
    }
    if (set->n > 1)
        qsort(set->svc, set->n, sizeof(*set->svc), svcdesc_cmp);
    *error_r = svcdesc_errors();
    return set;
}

void svcdesc_set_free(struct svcdesc_set **setp)
{
    struct svcdesc_set *set = *setp;

    *setp = NULL;
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->svc[i].rcpt_actions);
    free(set->svc);
    free(set);
}
