/*
 * pipeline.c - run the services once per message and decide per recipient.
 *
 * Order of work: bypass requests are parsed (header, MAIL, RCPT); for each
 * recipient the store tells whitelist, blocklist and consent; policy_step
 * decides per (recipient, service); a service runs only if some recipient
 * needs it, and only once; the verdicts combine per recipient; every
 * recipient that gets the message gets its own trace fields (OPES-Via lists
 * what ran and what was bypassed for it), so recipients with the same fields
 * can share one delivery. Every step goes into the trace records.
 */
#include "opes/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/bypass.h"
#include "opes/config.h"
#include "opes/log.h"
#include "opes/mime.h"
#include "opes/reason.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/trace.h"
#include "opes/tracelog.h"

struct pl {
    const struct pipeline_msg *m;
    const struct svc *svc;
    size_t nsvc;
    struct svc_result *res;
    bool *ran;
    struct bypass_request header, mail;
    const char **rcpts, **orig; /* every recipient, for the services */
    size_t nrcpts;
    bool levels; /* some service compares its score with each recipient's level */
};

static void pl_trace(struct pl *pl, const char *rcpt, const char *event, const struct svc *svc,
                     const char *verdict, int64_t ms, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void pl_trace(struct pl *pl, const char *rcpt, const char *event, const struct svc *svc,
                     const char *verdict, int64_t ms, const char *fmt, ...)
{
    struct store_trace *t = tracelog_batch_add(pl->m->trace);
    va_list ap;

    snprintf(t->trace_id, sizeof(t->trace_id), "%s", pl->m->trace_id);
    snprintf(t->recipient, sizeof(t->recipient), "%s", rcpt);
    snprintf(t->event, sizeof(t->event), "%s", event);
    snprintf(t->service, sizeof(t->service), "%s", svc != NULL ? svc->name : "");
    snprintf(t->verdict, sizeof(t->verdict), "%s", verdict);
    t->duration_ms = ms;
    t->at = (int64_t)time(NULL);
    va_start(ap, fmt);
    vsnprintf(t->detail, sizeof(t->detail), fmt, ap);
    va_end(ap);
}

/* pl_channels - "header,dialog" for a SVC_BYPASS_* mask. */
static const char *pl_channels(unsigned mask, char *buf, size_t size)
{
    static const char *const names[] = {"header", "dialog", "token", "portal"};
    size_t o = 0;

    buf[0] = '\0';
    for (int i = 0; i < 4; i++)
        if (mask & (1u << i))
            o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", names[i]);
    return buf;
}

/* pl_token - a valid token for this recipient and service in the header: TOKEN. */
static unsigned pl_token(struct pl *pl, const char *rcpt, const struct svc *svc)
{
    const char *token = bypass_token(&pl->header, svc->uri), *why;

    if (token == NULL || pl->m->st == NULL)
        return 0;
    if (token_bypass_verify(store_keys(pl->m->st), token, rcpt, pl->m->sender, svc->name,
                            (int64_t)time(NULL), &why) == 0)
        return SVC_BYPASS_TOKEN;
    pl_trace(pl, rcpt, "bypass", svc, "refused", 0, "token refused: %s", why);
    return 0;
}

/* pl_requested - the channels asking to bypass svc for this recipient. */
static unsigned pl_requested(struct pl *pl, const char *rcpt, const struct bypass_request *rcpt_req,
                             const struct svc *svc, bool whitelisted)
{
    unsigned req = pl_token(pl, rcpt, svc);

    if (bypass_covers(&pl->header, svc->uri))
        req |= SVC_BYPASS_HEADER;
    if (bypass_covers(&pl->mail, svc->uri) || bypass_covers(rcpt_req, svc->uri))
        req |= SVC_BYPASS_DIALOG;
    if (whitelisted)
        req |= SVC_BYPASS_PORTAL; /* a whitelist entry is an out-of-band bypass */
    return req;
}

/*
 * pl_word - how a verdict is traced for one recipient. A pass is only a pass
 * when the service looked at the message: one that failed and let it through
 * (on_failure = pass) is "failed", one that left it alone (protected
 * content) is "skipped", and one that could not read it in full, or not in
 * one way, is "unscannable".
 */
static const char *pl_word(const struct svc_result *res, enum svc_verdict v)
{
    if (v != SVC_PASS)
        return svc_verdict_name(v);
    return res->failed        ? "failed"
           : res->skipped     ? "skipped"
           : res->unscannable ? "unscannable"
                              : "pass";
}

/* pl_run_service - run service i once, the first time a recipient needs it. */
static const struct svc_result *pl_result(struct pl *pl, size_t i)
{
    if (!pl->ran[i]) {
        const struct pipeline_msg *m = pl->m;
        struct svc_msg sm = {.spool = m->spool,
                             .mime = m->mime,
                             .sender = m->sender,
                             .rcpts = pl->rcpts,
                             .orig_rcpts = pl->orig,
                             .nrcpts = pl->nrcpts,
                             .size = m->size,
                             .trace_id = m->trace_id,
                             .client_addr = m->peer_addr,
                             .helo = m->helo,
                             .client_name = m->peer_name};
        svc_run(&pl->svc[i], &sm, &pl->res[i]);
        pl->ran[i] = true;
        log_info("service=%s verdict=%s%s%s ms=%lld reason=\"%s\"", pl->svc[i].name,
                 pl_word(&pl->res[i], pl->res[i].verdict), pl->res[i].failed ? " failed=yes" : "",
                 pl->res[i].unscannable ? " unscannable=yes" : "", (long long)pl->res[i].ms,
                 pl->res[i].reason);
    }
    return &pl->res[i];
}

struct pl_rcpt_view {
    bool whitelisted, blocklisted;
    struct policy_step *steps;
    struct policy_spam spam; /* the recipient's spam level (POLICY_SPAM_DEFAULT: none) */
};

/* pl_spam - the recipient's spam level from the store; the default when none or unreadable. */
static void pl_spam(struct pl *pl, const char *rcpt, struct policy_spam *out)
{
    struct store_spam sp;
    const char *error = "";
    int rc = pl->levels && pl->m->st != NULL ? store_user_spam(pl->m->st, rcpt, &sp, &error) : 0;
    int level = rc > 0 ? policy_spam_level_parse(sp.level) : -1;

    *out = (struct policy_spam){.level = POLICY_SPAM_DEFAULT};
    if (rc < 0)
        log_warnx("spam level lookup failed, the services' levels apply: %s", error);
    if (level < 0)
        return;
    out->level = (enum policy_spam_level)level;
    out->own = (struct svc_scores){sp.tag, sp.junk, sp.quarantine};
    pl_trace(pl, rcpt, "level", NULL, policy_spam_level_name(out->level), 0,
             "the recipient's spam level: %s (tag %.1f, junk %.1f, quarantine %.1f)", sp.level,
             sp.tag, sp.junk, sp.quarantine);
}

/* pl_lookup - whitelist, blocklist and consent of one recipient. */
static void pl_lookup(struct pl *pl, struct pipeline_rcpt *r, struct pl_rcpt_view *v)
{
    const struct pipeline_msg *m = pl->m;
    struct bypass_request req;
    const char *error = "";
    const char *uris[64];
    size_t nuris = pl->nsvc < 64 ? pl->nsvc : 64;

    for (size_t i = 0; i < nuris; i++)
        uris[i] = pl->svc[i].uri;
    bypass_parse(r->bypass, uris, nuris, &req);
    if (m->st != NULL &&
        store_list_lookup(m->st, r->addr, m->sender, &v->whitelisted, &v->blocklisted, &error) < 0)
        log_warnx("list lookup failed, lists not applied: %s", error);
    pl_spam(pl, r->addr, &v->spam);
    if (v->whitelisted)
        pl_trace(pl, r->addr, "list", NULL, "whitelisted", 0, "sender <%s> is on the whitelist",
                 m->sender);
    if (req.present && !req.valid)
        pl_trace(pl, r->addr, "bypass", NULL, "refused", 0, "malformed XOPES-BYPASS on RCPT");
    for (size_t i = 0; i < pl->nsvc; i++) {
        const struct svc *svc = &pl->svc[i];
        int consent = -1;
        char ch[64];
        if (svc->consent != SVC_MANDATORY && m->st != NULL)
            consent = store_user_consent(m->st, r->addr, svc->name, &error);
        v->steps[i] =
            policy_step(svc, pl_requested(pl, r->addr, &req, svc, v->whitelisted), consent);
        if (v->steps[i].granted != 0)
            pl_trace(pl, r->addr, "bypass", svc, "granted", 0, "bypass via %s",
                     pl_channels(v->steps[i].granted, ch, sizeof(ch)));
        if (v->steps[i].refused != 0)
            pl_trace(pl, r->addr, "bypass", svc, "refused", 0,
                     "bypass via %s refused: the service's policy does not allow it",
                     pl_channels(v->steps[i].refused, ch, sizeof(ch)));
        if (v->steps[i].kind == POLICY_NO_CONSENT)
            pl_trace(pl, r->addr, "consent", svc, "skipped", 0, "%s service, recipient %s",
                     svc_consent_name(svc->consent),
                     svc->consent == SVC_OPT_OUT ? "opted out" : "did not opt in");
    }
}

/* pl_add_field - append one added field unless a DKIM signature covers its name. */
static void pl_add_field(struct pl *pl, struct pipeline_rcpt *r, char *buf, size_t *len,
                         size_t size, const char *field, size_t flen)
{
    char name[80];
    size_t n = strcspn(field, ":");

    if (n >= sizeof(name) || *len + flen >= size)
        return;
    memcpy(name, field, n);
    name[n] = '\0';
    if (pl->m->mime != NULL && mime_dkim_signs(pl->m->mime, name)) {
        pl_trace(pl, r->addr, "header", NULL, "skipped", 0,
                 "%s not added: a DKIM signature covers that field name", name);
        return;
    }
    memcpy(buf + *len, field, flen);
    *len += flen;
}

/* pl_prefix - the trace fields (and tags) of one recipient's copy. */
static void pl_prefix(struct pl *pl, struct pipeline_rcpt *r, const struct pl_rcpt_view *v)
{
    const struct pipeline_msg *m = pl->m;
    struct trace_via via[64];
    size_t nvia = 0, len = 0, tlen;
    char trace[4096], *buf = malloc(8192);

    if (buf == NULL)
        abort();
    for (size_t i = 0; i < pl->nsvc && nvia < 64; i++) {
        if (v->steps[i].kind == POLICY_BYPASSED)
            via[nvia++] = (struct trace_via){pl->svc[i].uri, "bypassed"};
        else if (v->steps[i].kind == POLICY_RUN)
            via[nvia++] = (struct trace_via){
                pl->svc[i].uri, pl_word(&pl->res[i], policy_verdict_for(&pl->svc[i], &pl->res[i],
                                                                        r->addr, &v->spam))};
    }
    struct trace_info ti = {.id = m->trace_id,
                            .system_uri = m->cfg->system_uri,
                            .by_host = m->cfg->hostname,
                            .helo = m->helo,
                            .peer_name = m->peer_name,
                            .peer_addr = m->peer_addr,
                            .protocol = m->protocol,
                            .for_rcpt = m->for_rcpt,
                            .delivery_id = m->delivery_id,
                            .when = time(NULL),
                            .via = via,
                            .nvia = nvia};
    /* a signed OPES field name: its text rides in the Received field (PROTOCOL.md 28) */
    static const struct {
        const char *name;
        unsigned bit;
    } opes_fields[] = {{"OPES-System", TRACE_CARRY_SYSTEM}, {"OPES-Via", TRACE_CARRY_VIA}};
    for (size_t i = 0; m->mime != NULL && i < 2; i++) {
        if (!mime_dkim_signs(m->mime, opes_fields[i].name))
            continue;
        ti.carry |= opes_fields[i].bit;
        pl_trace(pl, r->addr, "header", NULL, "skipped", 0,
                 "%s carried in the Received field: a DKIM signature covers that field name",
                 opes_fields[i].name);
    }
    tlen = trace_headers(trace, sizeof(trace), &ti);
    /* Received always; the OPES fields and tags unless DKIM-signed (PROTOCOL.md 28) */
    for (const char *f = trace; f < trace + tlen;) {
        const char *end = f;
        do
            end = strstr(end, "\r\n") + 2;
        while (end < trace + tlen && (*end == ' ' || *end == '\t'));
        if (strncmp(f, "Received:", 9) == 0) {
            memcpy(buf + len, f, (size_t)(end - f));
            len += (size_t)(end - f);
        } else {
            pl_add_field(pl, r, buf, &len, 8192, f, (size_t)(end - f));
        }
        f = end;
    }
    for (size_t i = 0; i < pl->nsvc; i++) {
        const char *h = pl->res[i].headers;
        enum svc_verdict vv;
        if (v->steps[i].kind != POLICY_RUN || h[0] == '\0')
            continue;
        vv = policy_verdict_for(&pl->svc[i], &pl->res[i], r->addr, &v->spam);
        if (vv != SVC_TAG && vv != SVC_JUNK) /* a copy in the Junk folder says why */
            continue;
        for (const char *f = h; *f != '\0';) {
            const char *end = f;
            do { /* a folded field is one field: its continuation lines go with it */
                const char *crlf = strstr(end, "\r\n");
                end = crlf != NULL ? crlf + 2 : end + strlen(end);
            } while (*end == ' ' || *end == '\t');
            pl_add_field(pl, r, buf, &len, 8192, f, (size_t)(end - f));
            f = end;
        }
    }
    r->prefix = buf;
    r->prefix_len = tlen > 0 ? len : 0; /* 0: the trace could not be built */
}

/* pl_edits - the content changes of the modifying services that apply to this recipient. */
static void pl_edits(struct pl *pl, struct pipeline_rcpt *r, const struct pl_rcpt_view *v)
{
    for (size_t i = 0; i < pl->nsvc; i++) {
        if (v->steps[i].kind != POLICY_RUN || pl->res[i].edits.n == 0 ||
            policy_verdict_for(&pl->svc[i], &pl->res[i], r->addr, &v->spam) != SVC_MODIFY)
            continue;
        if (variant_edits_merge(&r->edits, &pl->res[i].edits) < 0)
            pl_trace(pl, r->addr, "service", &pl->svc[i], "skipped", 0,
                     "its changes overlap those of an earlier service: not applied");
    }
}

/* pl_decide - combine the verdicts of the services that apply to one recipient. */
static void pl_decide(struct pl *pl, struct pipeline_rcpt *r, struct pl_rcpt_view *v)
{
    enum svc_verdict worst = SVC_PASS;
    size_t o = 0;

    r->culprit = NULL;
    snprintf(r->reason, sizeof(r->reason), "no service objected");
    r->words[0] = '\0';
    r->services[0] = '\0';
    for (size_t i = 0; i < pl->nsvc; i++) {
        enum svc_verdict vv;
        const char *word = v->steps[i].kind == POLICY_BYPASSED     ? "bypassed"
                           : v->steps[i].kind == POLICY_NO_CONSENT ? "off"
                                                                   : NULL;
        if (word == NULL) {
            const struct svc_result *res = pl_result(pl, i);
            vv = policy_verdict_for(&pl->svc[i], res, r->addr, &v->spam);
            word = pl_word(res, vv);
            pl_trace(pl, r->addr, "service", &pl->svc[i], word, res->ms, "%s%s", res->reason,
                     res->failed ? " (service failed)" : "");
            if (policy_rank(vv) > policy_rank(worst)) {
                worst = vv;
                r->culprit = &pl->svc[i];
                snprintf(r->reason, sizeof(r->reason), "%s", res->reason);
                snprintf(r->words, sizeof(r->words), "%s", res->words);
            }
        }
        o += (size_t)snprintf(r->services + o, sizeof(r->services) - o, "%s%s=%s", o ? "," : "",
                              pl->svc[i].name, word);
        if (o >= sizeof(r->services))
            o = sizeof(r->services) - 1;
    }
    enum svc_verdict listed =
        pl->m->cfg->blocklist_action == CONFIG_BLOCK_REJECT ? SVC_REJECT : SVC_QUARANTINE;
    if (v->blocklisted && policy_rank(listed) > policy_rank(worst)) {
        worst = listed;
        r->culprit = NULL;
        snprintf(r->reason, sizeof(r->reason), "sender <%s> is on the recipient's blocklist",
                 pl->m->sender);
        reason_encode(r->words, sizeof(r->words), "reason.blocked", NULL);
    }
    r->outcome = policy_outcome_of(worst);
    if (r->services[0] == '\0')
        snprintf(r->services, sizeof(r->services), "none");
    pl_trace(pl, r->addr, "decision", r->culprit, policy_outcome_name(r->outcome), 0, "%s",
             r->reason);
}

void pipeline_run(const struct pipeline_msg *m, struct pipeline_rcpt *rcpts, size_t n)
{
    struct pl pl = {.m = m, .svc = m->services->svc, .nsvc = m->services->n};
    struct pl_rcpt_view v;
    const char *uris[64];
    size_t nuris = pl.nsvc < 64 ? pl.nsvc : 64;

    pl.res = calloc(pl.nsvc + 1, sizeof(*pl.res));
    pl.ran = calloc(pl.nsvc + 1, sizeof(*pl.ran));
    v.steps = calloc(pl.nsvc + 1, sizeof(*v.steps));
    if (pl.res == NULL || pl.ran == NULL || v.steps == NULL)
        abort();
    pl.rcpts = calloc(n + 1, sizeof(*pl.rcpts));
    pl.orig = calloc(n + 1, sizeof(*pl.orig));
    if (pl.rcpts == NULL || pl.orig == NULL)
        abort();
    pl.nrcpts = n;
    for (size_t i = 0; i < n; i++) {
        pl.rcpts[i] = rcpts[i].addr;
        pl.orig[i] = rcpts[i].orig;
    }
    for (size_t i = 0; i < nuris; i++)
        uris[i] = pl.svc[i].uri;
    for (size_t i = 0; i < pl.nsvc; i++)
        pl.levels = pl.levels || svc_levels_of(&pl.svc[i]) != NULL;
    bypass_parse(m->mime != NULL ? mime_header_get(m->mime, -1, "OPES-Bypass") : NULL, uris, nuris,
                 &pl.header);
    bypass_parse(m->mail_bypass, uris, nuris, &pl.mail);
    for (size_t r = 0; r < n; r++) {
        v.whitelisted = v.blocklisted = false;
        if ((pl.header.present && !pl.header.valid) || (pl.mail.present && !pl.mail.valid))
            pl_trace(&pl, rcpts[r].addr, "bypass", NULL, "refused", 0,
                     "malformed or oversized bypass request (header or MAIL)");
        pl_lookup(&pl, &rcpts[r], &v);
        pl_decide(&pl, &rcpts[r], &v);
        if (rcpts[r].outcome == POLICY_DELIVER || rcpts[r].outcome == POLICY_JUNK) {
            pl_prefix(&pl, &rcpts[r], &v);
            pl_edits(&pl, &rcpts[r], &v);
        }
    }
    for (size_t i = 0; i < pl.nsvc; i++)
        svc_result_clear(&pl.res[i]);
    free(pl.rcpts);
    free(pl.orig);
    free(v.steps);
    free(pl.ran);
    free(pl.res);
}

void pipeline_rcpt_clear(struct pipeline_rcpt *r)
{
    free(r->prefix);
    r->prefix = NULL;
    r->prefix_len = 0;
    variant_edits_clear(&r->edits);
}
