/*
 * web_svcinfo.h - the configured services as the portal pages show them, for
 * /opes, /privacy and /prefs. They are svcdesc's descriptions (svcdesc.h),
 * the ones opesd runs: the same names, run order and defaults; this header
 * only gives the pages a flat array that one free() releases.
 */
#ifndef OPES_WEB_SVCINFO_H
#define OPES_WEB_SVCINFO_H

#include <stddef.h>

#include "opes/svcdesc.h"

struct opes_config;

struct web_svcinfo {
    char name[49];
    char uri[320];
    const char *type; /* the type's name */
    const char *what; /* one sentence about the type */
    enum svc_verdict action;
    enum svc_consent consent;
    unsigned bypass;          /* SVC_BYPASS_* */
    enum svc_release release; /* who releases what it held */
};

/*
 * web_svcinfo_release - the release policy of what the service name held
 * (a quarantine entry's service): self for a name that is no service (the
 * block list's holds).
 */
enum svc_release web_svcinfo_release(const struct web_svcinfo *s, size_t n, const char *name);

/*
 * web_svcinfo_load - the services of cfg in run order; *n_r set. Caller frees
 * the array. Sections opesd would refuse are shown as far as they can be read.
 */
struct web_svcinfo *web_svcinfo_load(const struct opes_config *cfg, size_t *n_r);
/* web_svcinfo_find - by name, or NULL. */
const struct web_svcinfo *web_svcinfo_find(const struct web_svcinfo *s, size_t n, const char *name);
/* web_svcinfo_action / _consent - the words of s's action on a hit and consent class. */
const char *web_svcinfo_action(const struct web_svcinfo *s);
const char *web_svcinfo_consent(const struct web_svcinfo *s);
/* web_svcinfo_bypass - s's bypass policy as "never" or "header, token, ..." */
void web_svcinfo_bypass(const struct web_svcinfo *s, char *buf, size_t size);

#endif
