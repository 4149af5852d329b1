/*
 * svcinfo.c - the configured services as the portal pages show them: a flat
 * copy of svcdesc_load's descriptions (the same that opesd runs), and the
 * words for their action, consent class and bypass policy.
 */
#include "opes/web_svcinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/log.h"

struct web_svcinfo *web_svcinfo_load(const struct opes_config *cfg, size_t *n_r)
{
    const char *error;
    struct svcdesc_set *set = svcdesc_load(cfg, &error);
    struct web_svcinfo *v = calloc(set->n + 1, sizeof(*v));

    if (v == NULL)
        fatal("calloc");
    if (error != NULL)
        log_warnx("the [service.NAME] sections have problems (opesd -t lists them)");
    for (size_t i = 0; i < set->n; i++) {
        const struct svcdesc *d = &set->svc[i];
        snprintf(v[i].name, sizeof(v[i].name), "%s", d->name);
        snprintf(v[i].uri, sizeof(v[i].uri), "%s", d->uri);
        v[i].type = d->type->name;
        v[i].what = d->type->what;
        v[i].action = d->action;
        v[i].consent = d->consent;
        v[i].bypass = d->bypass;
        v[i].release = d->release;
    }
    *n_r = set->n;
    svcdesc_set_free(&set);
    return v;
}

const struct web_svcinfo *web_svcinfo_find(const struct web_svcinfo *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

enum svc_release web_svcinfo_release(const struct web_svcinfo *s, size_t n, const char *name)
{
    const struct web_svcinfo *i = web_svcinfo_find(s, n, name);

    return i != NULL ? i->release : SVC_RELEASE_SELF;
}

const char *web_svcinfo_action(const struct web_svcinfo *s)
{
    return config_word_name(svcdesc_verdict_words, (int)s->action);
}

const char *web_svcinfo_consent(const struct web_svcinfo *s)
{
    return config_word_name(svcdesc_consent_words, (int)s->consent);
}

void web_svcinfo_bypass(const struct web_svcinfo *s, char *buf, size_t size)
{
    config_words_format(svcdesc_bypass_words, s->bypass, buf, size);
}
