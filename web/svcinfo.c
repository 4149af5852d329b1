/*
 * svcinfo.c - the configured services as the portal describes them: name,
 * URI, type, action, consent class and bypass policy, from the raw
 * [service.NAME] keys with each type's defaults.
 */
#include "opes/web_svcinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/log.h"

struct svcinfo_type {
    const char *type, *consent, *bypass, *action, *what;
};

/* Each type's defaults, as the agent's service types define them. */
static const struct svcinfo_type svcinfo_types[] = {
    {"rules", "mandatory", "portal", "quarantine",
     "Matches the envelope, header fields, size and attachment names or types against the "
     "operator's rules, and tags, holds or refuses the message."},
    {"clamd", "mandatory", "never", "quarantine",
     "Scans the message for malware with ClamAV. It is mandatory and can never be bypassed."},
    {"spamd", "opt-out", "header, dialog, token, portal", "quarantine",
     "Scores the message with SpamAssassin: a spam score is added to the header, and mail "
     "above the threshold is held."},
    {"rewrite", "mandatory", "never", "modify",
     "Maps envelope recipients and the header fields that name them to their new addresses."},
    {"banner", "opt-out", "header, dialog, token, portal", "modify",
     "Adds a warning to mail from outside senders. Signed or encrypted mail is left "
     "untouched."},
};

static const struct svcinfo_type *svcinfo_type(const char *type)
{
    for (size_t i = 0; i < sizeof(svcinfo_types) / sizeof(svcinfo_types[0]); i++)
        if (strcmp(svcinfo_types[i].type, type) == 0)
            return &svcinfo_types[i];
    return NULL;
}

static struct web_svcinfo *svcinfo_get(struct web_svcinfo **v, size_t *n, const char *name)
{
    struct web_svcinfo *s;

    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].name, name) == 0)
            return &(*v)[i];
    s = realloc(*v, (*n + 1) * sizeof(**v));
    if (s == NULL)
        fatal("realloc");
    *v = s;
    s = &(*v)[(*n)++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->order = 100;
    return s;
}

/* svcinfo_bypass - the config's "header,token" (or "never", "none") for display. */
static void svcinfo_bypass(char *dst, size_t size, const char *v)
{
    size_t o = 0;

    if (strcmp(v, "never") == 0 || strcmp(v, "none") == 0 || v[0] == '\0') {
        snprintf(dst, size, "never");
        return;
    }
    for (const char *p = v; *p != '\0' && o + 3 < size; p++) {
        if (*p == ',' || *p == ' ') {
            if (o > 0 && dst[o - 1] != ' ' && p[1] != '\0')
                o += (size_t)snprintf(dst + o, size - o, ", ");
            continue;
        }
        dst[o++] = *p;
    }
    dst[o < size ? o : size - 1] = '\0';
}

static void svcinfo_key(struct web_svcinfo *s, const char *key, const char *value)
{
    if (strcmp(key, "type") == 0)
        snprintf(s->type, sizeof(s->type), "%s", value);
    else if (strcmp(key, "order") == 0)
        s->order = atoi(value);
    else if (strcmp(key, "action") == 0)
        snprintf(s->action, sizeof(s->action), "%s", value);
    else if (strcmp(key, "consent") == 0)
        snprintf(s->consent, sizeof(s->consent), "%s", value);
    else if (strcmp(key, "bypass") == 0)
        svcinfo_bypass(s->bypass, sizeof(s->bypass), value);
}

static int svcinfo_cmp(const void *a, const void *b)
{
    const struct web_svcinfo *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* svcinfo_defaults - fill what the section left out from its type. */
static void svcinfo_defaults(struct web_svcinfo *s, const char *system_uri)
{
    const struct svcinfo_type *t = svcinfo_type(s->type);

    snprintf(s->uri, sizeof(s->uri), "%s/service/%s", system_uri, s->name);
    s->what = t != NULL ? t->what : "A service of a type this portal does not describe.";
    if (s->consent[0] == '\0')
        snprintf(s->consent, sizeof(s->consent), "%s", t != NULL ? t->consent : "mandatory");
    if (s->bypass[0] == '\0')
        snprintf(s->bypass, sizeof(s->bypass), "%s", t != NULL ? t->bypass : "never");
    if (s->action[0] == '\0')
        snprintf(s->action, sizeof(s->action), "%s", t != NULL ? t->action : "quarantine");
}

struct web_svcinfo *web_svcinfo_load(const struct opes_config *cfg, size_t *n_r)
{
    struct web_svcinfo *v = NULL;
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        const struct config_kv *kv = &cfg->service_kv[i];
        svcinfo_key(svcinfo_get(&v, &n, kv->section), kv->key, kv->value);
    }
    for (size_t i = 0; i < n; i++)
        svcinfo_defaults(&v[i], cfg->system_uri);
    if (n > 1)
        qsort(v, n, sizeof(*v), svcinfo_cmp);
    *n_r = n;
    return v;
}

const struct web_svcinfo *web_svcinfo_find(const struct web_svcinfo *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}
