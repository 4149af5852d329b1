/*
 * svc_clamd.c - the clamd service: the whole message to ClamAV over INSTREAM,
 * then each transfer-encoded leaf part as opesd decoded it (as amavis does),
 * so that a structure clamd reads otherwise than opesd is scanned under both
 * readings.
 *
 * Mandatory and never bypassable. Keys: socket (unix:/path or host:port),
 * scan_parts (default yes: the decoded parts as well), on_unscannable
 * (default tempfail). A hit gives the service's action (default quarantine;
 * recipient_action can make it reject for some recipients); clamd down or
 * confused is a failure, handled by on_failure (default tempfail); content
 * clamd refused or did not scan in full for one of its limits (StreamMaxLength,
 * Heuristics.Limits.Exceeded) gets on_unscannable: nothing is delivered
 * unscanned by default.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/clamd.h"
#include "opes/clock.h"
#include "opes/endpoint.h"
#include "opes/mime.h"
#include "opes/service.h"

/* the type's configuration: where clamd listens, what it gets */
struct clamd_conf {
    struct endpoint ep;
    bool have_ep;
    bool scan_parts;
    enum svc_verdict on_unscannable;
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
    {"clamd", "scan_parts", CONFIG_BOOL, "yes", 0, 0,
     .offset = offsetof(struct clamd_conf, scan_parts)},
    {"clamd", "on_unscannable", CONFIG_ENUM, "tempfail", 0, 0,
     .offset = offsetof(struct clamd_conf, on_unscannable), .words = svc_unscannable_words},
};

static int clamd_check(struct svc *svc, const char **reason)
{
    if (!((struct clamd_conf *)svc->priv)->have_ep) {
        *reason = "clamd needs socket = unix:/path or host:port";
        return -1;
    }
    return 0;
}

/*
 * clamd_verdict - r from one scan of what (NULL: the message); returns
 * whether scanning should stop (a hit, a failure or a limit).
 */
static bool clamd_verdict(const struct svc *svc, struct svc_result *r, int rc, const char *virus,
                          const char *error, const char *what)
{
    const struct clamd_conf *c = svc->priv;
    char why[300];

    if (rc == CLAMD_LIMIT ||
        (rc == 1 && strncmp(virus, CLAMD_LIMITS_SIGNATURE, strlen(CLAMD_LIMITS_SIGNATURE)) == 0)) {
        snprintf(why, sizeof(why), "clamd's limits%s%s: %s", what ? " in " : "", what ? what : "",
                 rc == 1 ? virus : error);
        svc_unscannable(svc, r, c->on_unscannable, "unscannable", "on_unscannable", why);
        return r->verdict != SVC_PASS; /* on_unscannable=pass: the parts may still tell */
    }
    if (rc < 0) {
        r->failed = true;
        snprintf(r->reason, sizeof(r->reason), "clamd: %s%s%s", error, what ? " in " : "",
                 what ? what : "");
        return true;
    }
    if (rc == 1) {
        r->verdict = svc->action;
        snprintf(r->reason, sizeof(r->reason), "virus %s found%s%s", virus, what ? " in " : "",
                 what ? what : "");
        reason_encode(r->words, sizeof(r->words), "reason.virus",
                      (const char *const[]){"name", virus, NULL});
        return true;
    }
    return false;
}

/* clamd_parts - each leaf opesd decodes (base64, quoted-printable), as a scan of its own. */
static void clamd_parts(const struct svc *svc, const struct svc_msg *m, struct svc_result *r,
                        int64_t deadline, size_t *scanned)
{
    const struct clamd_conf *c = svc->priv;
    const struct mime_message *mime = m->mime;

    for (size_t i = 0; mime != NULL && i < mime->nparts; i++) {
        const struct mime_part *p = &mime->parts[i];
        char virus[CLAMD_VIRUS_MAX] = "", what[200];
        const char *error = "";
        size_t len;
        char *data;
        int rc;

        if (p->kind != MIME_KIND_LEAF || mime_encoding_of(p->cte) == MIME_ENC_IDENTITY)
            continue;
        snprintf(what, sizeof(what), "part %zu%s%s", i, p->filename ? " " : "",
                 p->filename ? p->filename : "");
        data = svc_part_decode(m, i, &len, &error);
        if (data == NULL) {
            r->failed = true;
            snprintf(r->reason, sizeof(r->reason), "decoding %s: %s", what, error);
            return;
        }
        rc = clock_ms_left(deadline) <= 0
                 ? -1
                 : clamd_scan_buffer(&c->ep, (int)clock_ms_left(deadline), data, len, virus,
                                     sizeof(virus), &error);
        if (rc < 0 && clock_ms_left(deadline) <= 0)
            error = "timed out scanning the parts";
        free(data);
        (*scanned)++;
        if (clamd_verdict(svc, r, rc, virus, error, what))
            return;
    }
}

static void clamd_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct clamd_conf *c = svc->priv;
    char virus[CLAMD_VIRUS_MAX] = "";
    const char *error = "";
    int64_t deadline = clock_now_ms() + (int64_t)svc->timeout_s * 1000;
    size_t scanned = 0;
    int rc = clamd_scan(&c->ep, (int)svc->timeout_s * 1000, m->spool, virus, sizeof(virus), &error);

    r->verdict = SVC_PASS;
    if (clamd_verdict(svc, r, rc, virus, error, NULL))
        return;
    if (c->scan_parts)
        clamd_parts(svc, m, r, deadline, &scanned);
    if (r->verdict == SVC_PASS && !r->failed && r->reason[0] == '\0')
        snprintf(r->reason, sizeof(r->reason), "no virus found (message and %zu decoded part%s)",
                 scanned, scanned == 1 ? "" : "s");
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
