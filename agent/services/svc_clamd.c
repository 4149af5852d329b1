/*
 * svc_clamd.c - the clamd service: the whole message to ClamAV over INSTREAM.
 *
 * Mandatory and never bypassable. Keys: socket (unix:/path or host:port).
 * A hit gives the service's action (default quarantine; recipient_action can
 * make it reject for some recipients); clamd down or confused is a failure,
 * handled by on_failure (default tempfail): nothing is delivered unscanned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/clamd.h"
#include "opes/endpoint.h"
#include "opes/service.h"

static int clamd_configure(struct svc *svc, const char *key, const char *value, const char **reason)
{
    if (strcmp(key, "socket") != 0) {
        *reason = "unknown key (clamd takes socket)";
        return -1;
    }
    free(svc->priv);
    svc->priv = calloc(1, sizeof(struct endpoint));
    if (svc->priv == NULL || endpoint_parse(value, svc->priv, reason) < 0)
        return -1;
    return 0;
}

static int clamd_check(struct svc *svc, const char **reason)
{
    if (svc->priv == NULL) {
        *reason = "clamd needs socket = unix:/path or host:port";
        return -1;
    }
    return 0;
}

static void clamd_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    char virus[CLAMD_VIRUS_MAX];
    const char *error = "";
    int rc =
        clamd_scan(svc->priv, (int)svc->timeout_s * 1000, m->spool, virus, sizeof(virus), &error);

    if (rc < 0) {
        r->failed = true;
        snprintf(r->reason, sizeof(r->reason), "clamd: %s", error);
    } else if (rc == 1) {
        r->verdict = svc->action;
        snprintf(r->reason, sizeof(r->reason), "virus %s found", virus);
    } else {
        r->verdict = SVC_PASS;
        snprintf(r->reason, sizeof(r->reason), "no virus found");
    }
}

static void clamd_free(struct svc *svc)
{
    free(svc->priv);
    svc->priv = NULL;
}

const struct svc_type svc_type_clamd = {
    .name = "clamd",
    .consent = SVC_MANDATORY,
    .bypass = 0,
    .action = SVC_QUARANTINE,
    .never_bypass = "a malware scanner is mandatory and never bypassed",
    .configure = clamd_configure,
    .check = clamd_check,
    .run = clamd_run,
    .free = clamd_free,
};
