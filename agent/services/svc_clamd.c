/*
 * svc_clamd.c - the clamd service: the whole message to ClamAV over INSTREAM.
 *
 * Mandatory and never bypassable. Keys: socket (unix:/path or host:port).
 * A hit gives the service's action (default quarantine; recipient_action can
 * make it reject for some recipients); clamd down or confused is a failure,
 * handled by on_failure (default tempfail): nothing is delivered unscanned.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/clamd.h"
#include "opes/endpoint.h"
#include "opes/service.h"

/* the type's configuration: where clamd listens */
struct clamd_conf {
    struct endpoint ep;
    bool have_ep;
};

/* clamd_socket - the socket key: unix:/path or host:port */
static int clamd_socket(void *field, const char *value, const char **reason)
{
    struct clamd_conf *c = field;

    c->have_ep = endpoint_parse(value, &c->ep, reason) == 0;
    return c->have_ep ? 0 : -1;
}

static const struct config_key clamd_keys[] = {
    {"clamd", "socket", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = clamd_socket},
};

static int clamd_check(struct svc *svc, const char **reason)
{
    if (!((struct clamd_conf *)svc->priv)->have_ep) {
        *reason = "clamd needs socket = unix:/path or host:port";
        return -1;
    }
    return 0;
}

static void clamd_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    char virus[CLAMD_VIRUS_MAX];
    const char *error = "";
    int rc = clamd_scan(&((const struct clamd_conf *)svc->priv)->ep, (int)svc->timeout_s * 1000,
                        m->spool, virus, sizeof(virus), &error);

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

const struct svc_type svc_type_clamd = {
    .name = "clamd",
    .never_bypass = "a malware scanner is mandatory and never bypassed",
    .keys = clamd_keys,
    .n_keys = sizeof(clamd_keys) / sizeof(clamd_keys[0]),
    .priv_size = sizeof(struct clamd_conf),
    .check = clamd_check,
    .run = clamd_run,
};
