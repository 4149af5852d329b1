/*
 * web_svcinfo.h - what the portal says about the configured services: read
 * from the [service.NAME] sections as the configuration holds them, with the
 * defaults of each service type, for /opes, /privacy and /prefs. The agent
 * checks the same sections strictly when opesd starts; the portal only
 * describes them.
 */
#ifndef OPES_WEB_SVCINFO_H
#define OPES_WEB_SVCINFO_H

#include <stddef.h>

struct opes_config;

struct web_svcinfo {
    char name[49];
    char uri[320];
    char type[32];
    char action[32];  /* on hit: quarantine, reject, tag */
    char consent[16]; /* mandatory, opt-out, opt-in */
    char bypass[64];  /* "never" or a comma list of header, dialog, token, portal */
    const char *what; /* one sentence about the type */
    int order;
};

/* web_svcinfo_load - the services of cfg, sorted by order; *n_r set. Caller frees. */
struct web_svcinfo *web_svcinfo_load(const struct opes_config *cfg, size_t *n_r);
/* web_svcinfo_find - by name, or NULL. */
const struct web_svcinfo *web_svcinfo_find(const struct web_svcinfo *s, size_t n, const char *name);

#endif
