/*
 * dsn.c - sender DSNs for accepted but undelivered mail (see dsn.h): finding
 * the entries, applying the service's notify_sender and the loop rules,
 * composing the multipart/report and handing it to the relay.
 */
#include "opes/dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/authres.h"
#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/i18n.h"
#include "opes/lmtp_parse.h"
#include "opes/lmtp_local.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/notify.h"
#include "opes/service.h"
#include "opes/smtp_client.h"
#include "opes/store.h"
#include "opes/vec.h"

#define DSN_BATCH 50
#define DSN_HEADERS_MAX (32 * 1024)

/* dsn_clean - text for one header line: controls become spaces, at most max octets. */
static void dsn_clean(char *dst, size_t size, const char *s, size_t max)
{
    size_t k = 0;

    for (; s != NULL && *s != '\0' && k + 1 < size && k < max; s++)
        dst[k++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
    dst[k] = '\0';
}

void dsn_compose(struct mailgen_buf *out, const struct dsn_info *d)
{
    char from[300], date[64], arrival[64], msgid[400], boundary[64], subject[400];
    char rcpt[300], reason[200], uri[400], trace[64], orcpt[520];

    snprintf(from, sizeof(from), "MAILER-DAEMON@%s", d->hostname);
    mailgen_date(date, sizeof(date), time(NULL));
    mailgen_date(arrival, sizeof(arrival), (time_t)d->arrival);
    mailgen_message_id(msgid, sizeof(msgid), d->hostname);
    mailgen_boundary(boundary, sizeof(boundary));
    mailgen_clean_address(rcpt, sizeof(rcpt), d->recipient);
    dsn_clean(reason, sizeof(reason), d->reason, 150);
    dsn_clean(uri, sizeof(uri), d->service_uri, 350);
    dsn_clean(trace, sizeof(trace), d->trace_id, 40);
    dsn_clean(orcpt, sizeof(orcpt), d->orcpt, 510);
    snprintf(subject, sizeof(subject), "Undelivered Mail: %s",
             d->subject != NULL && *d->subject != '\0' ? d->subject : "(no subject)");

    mailgen_header_address(out, "From", "Mail Delivery System", from);
    mailgen_header_address(out, "To", NULL, d->to);
    mailgen_header(out, "Subject", subject);
    mailgen_header(out, "Date", date);
    mailgen_header(out, "Message-ID", msgid);
    mailgen_str(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    mailgen_printf(out,
                   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                   "\tboundary=\"%s\"\r\n\r\n"
                   "This is a delivery status notification (RFC 3464).\r\n\r\n",
                   boundary);
    /* the human-readable part */
    mailgen_printf(out,
                   "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   boundary);
    mailgen_qp(out, d->human != NULL ? d->human : "");
    /* the machine-readable part */
    mailgen_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
    mailgen_printf(out, "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n\r\n", d->hostname, arrival);
    /* RFC 3464 2.3.1: only from an ORCPT, never made up from the recipient */
    if (strchr(orcpt, ';') != NULL)
        mailgen_printf(out, "Original-Recipient: %.*s; %s\r\n", (int)strcspn(orcpt, ";"), orcpt,
                       strchr(orcpt, ';') + 1);
    mailgen_printf(out, "Final-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.7.1\r\n", rcpt);
    mailgen_printf(out,
                   "Diagnostic-Code: smtp; 550 5.7.1 <%s> held by %s and not delivered:\r\n"
                   " %s (trace %s)\r\n",
                   rcpt, uri, reason, trace);
    /* the original's header fields, never its content */
    mailgen_printf(out, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
    if (d->headers != NULL) {
        mailgen_crlf(out, d->headers);
        if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
            mailgen_str(out, "\r\n");
    }
    mailgen_printf(out, "--%s--\r\n", boundary);
}

struct dsn_due {
    struct store_qitem it;
    char cause[32];
    char detail[256];
};

struct dsn_list {
    struct dsn_due *d;
    size_t n, cap;
};

static void dsn_collect(const struct store_qitem *it, const char *cause, const char *detail,
                        void *ctx)
{
    struct dsn_list *l = ctx;

    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->d[i].it.id, it->id) == 0)
            return;
    l->d = vec_reserve(l->d, &l->cap, l->n + 1, sizeof(*l->d));
    l->d[l->n].it = *it;
    snprintf(l->d[l->n].cause, sizeof(l->d[l->n].cause), "%s", cause != NULL ? cause : "");
    snprintf(l->d[l->n].detail, sizeof(l->d[l->n].detail), "%s", detail != NULL ? detail : "");
    l->n++;
}

struct dsn_orcpt {
    const char *recipient;
    char value[LMTP_ORCPT_MAX + 1];
};

/* dsn_orcpt_record - the recipient's "orcpt" trace record, if any. */
static void dsn_orcpt_record(const struct store_trace *t, void *ctx)
{
    struct dsn_orcpt *o = ctx;

    if (strcmp(t->event, "orcpt") == 0 && strcasecmp(t->recipient, o->recipient) == 0)
        snprintf(o->value, sizeof(o->value), "%s", t->detail);
}

/* dsn_service - the service called name, or NULL (blocklist, or removed from the config). */
static const struct svc *dsn_service(const struct svc_set *set, const char *name)
{
    for (size_t i = 0; set != NULL && i < set->n; i++)
        if (strcmp(set->svc[i].name, name) == 0)
            return &set->svc[i];
    return NULL;
}

/*
 * dsn_record - the outcome for one entry: its DSN state in the store, a trace
 * record (event dsn) and a log line, the last two also with how (NULL, or
 * what let the sender have it). state: sent, failed, skipped, or suppressed
 * (stored as skipped: the sender was not verified). 0, or -1 when the state
 * could not be stored (the database is away: stop before the next one).
 */
static int dsn_record(struct store *st, const struct store_qitem *it, const char *state,
                      const char *why, const char *how)
{
    struct store_trace t = {.at = (int64_t)time(NULL)};
    const char *error;
    int rc = store_dsn_done(st, it->id, strcmp(state, "suppressed") == 0 ? "skipped" : state, why,
                            &error);

    if (rc < 0)
        log_warnx("trace=%s item=%s dsn: store: %s", it->trace_id, it->id, error);
    snprintf(t.trace_id, sizeof(t.trace_id), "%s", it->trace_id);
    snprintf(t.recipient, sizeof(t.recipient), "%s", it->recipient);
    snprintf(t.event, sizeof(t.event), "dsn");
    snprintf(t.service, sizeof(t.service), "%s", it->service);
    snprintf(t.verdict, sizeof(t.verdict), "%s", state);
    snprintf(t.detail, sizeof(t.detail), "%s%s%s", why, how != NULL ? "; " : "",
             how != NULL ? how : "");
    if (store_trace_add(st, &t, &error) < 0)
        log_warnx("trace=%s item=%s dsn: trace record: %s", it->trace_id, it->id, error);
    if (strcmp(state, "sent") == 0)
        log_info("trace=%s item=%s sender=<%s> dsn=sent why=\"%s\"", it->trace_id, it->id,
                 it->sender, t.detail);
    else
        log_warnx("trace=%s item=%s sender=<%s> dsn=%s why=\"%s\"", it->trace_id, it->id,
                  it->sender, state, t.detail);
    return rc < 0 ? -1 : 0;
}

/*
 * dsn_sender_ok - whether [dsn] send lets this sender have an NDR: always,
 * never, or only when a trusted Authentication-Results verified it (what did
 * goes into how).
 */
static bool dsn_sender_ok(const struct opes_config *cfg, const struct store_qitem *it,
                          const char *headers, size_t hlen, char *how, size_t size)
{
    const char *trusted =
        cfg->dsn_trusted_authserv_id[0] != '\0' ? cfg->dsn_trusted_authserv_id : cfg->hostname;

    snprintf(how, size, "[dsn] send = %s", cfg->dsn_send == CONFIG_DSN_ALWAYS ? "always" : "never");
    if (cfg->dsn_send != CONFIG_DSN_VERIFIED)
        return cfg->dsn_send == CONFIG_DSN_ALWAYS;
    return authres_verified(headers, hlen, trusted, it->sender, how, size);
}

/* dsn_one - decide and send one; false when the relay could not be reached or the
 * store cannot be read or written (stop for now: nothing goes out unrecorded). */
static bool dsn_one(struct store *st, struct lmtp_env *env, const struct endpoint *relay,
                    const struct dsn_due *due)
{
    const struct opes_config *cfg = env->cfg;
    const struct store_qitem *it = &due->it;
    const struct svc *svc = dsn_service(env->services, it->service);
    char *headers = malloc(DSN_HEADERS_MAX), uri[400], why[300], cause[400], how[300];
    const char *error, *rule, *lang = i18n_negotiate(NULL, NULL, cfg->web_default_language);
    size_t hlen = 0;
    bool ok = true;
    int rc;

    if (headers == NULL)
        fatal("malloc");
    if (svc != NULL && !svc->notify_sender) {
        snprintf(why, sizeof(why), "notify_sender is off for %s", it->service);
        ok = dsn_record(st, it, "skipped", why, NULL) == 0;
        goto out;
    }
    rc = store_notify_headers(st, it->id, headers, DSN_HEADERS_MAX, &hlen, &error);
    if (rc < 0) {
        log_warnx("trace=%s item=%s dsn: store: %s", it->trace_id, it->id, error);
        ok = false;
        goto out;
    }
    if (rc != 0)
        hlen = 0;
    rule = notify_loop_rule(it->sender, hlen > 0 ? headers : NULL, true, true);
    if (rule != NULL) {
        ok = dsn_record(st, it, "skipped", rule, NULL) == 0;
        goto out;
    }
    if (!dsn_sender_ok(cfg, it, headers, hlen, how, sizeof(how))) {
        ok = dsn_record(st, it, "suppressed", "ndr suppressed: sender not verified", NULL) == 0;
        goto out;
    }
    /* a blocklist hold gets one too (RFC 4902 3.1); its reply at RCPT would say as much */
    if (svc != NULL)
        snprintf(uri, sizeof(uri), "%s", svc->uri);
    else if (strcmp(it->service, "blocklist") == 0)
        snprintf(uri, sizeof(uri), "%s/policy/blocklist", cfg->system_uri);
    else
        snprintf(uri, sizeof(uri), "%s/service/%s", cfg->system_uri, it->service);
    {
        /* the sender is not ours to ask: the site's language */
        struct mailgen_var cv[] = {{"detail", due->detail, false}};
        struct mailgen_buf cb = {0};
        mailgen_catalog(&cb, lang,
                        strcmp(due->cause, "expired") == 0 ? "mail.dsn.cause.expired"
                                                           : "mail.dsn.cause.release",
                        cv, 1, false);
        snprintf(cause, sizeof(cause), "%s", cb.data != NULL ? cb.data : "");
        mailgen_free(&cb);
    }
    {
        struct mailgen_buf human = {0}, msg = {0};
        struct lmtp_reply reply;
        char *tmpl = mailgen_template_lang(cfg->notify_template_dir, lang, "dsn.txt");
        struct mailgen_var vars[] = {{"hostname", cfg->hostname, false},
                                     {"recipient", it->recipient, false},
                                     {"sender", it->sender, false},
                                     {"cause", cause, false},
                                     {"subject", it->subject, false},
                                     {"date", it->date, false},
                                     {"system_uri", cfg->system_uri, false},
                                     {"trace_id", it->trace_id, false},
                                     {"service_uri", uri, false},
                                     {"reason", it->reason, false}};
        struct dsn_orcpt orcpt = {.recipient = it->recipient};
        if (store_trace_list(st, it->trace_id, dsn_orcpt_record, &orcpt, &error) < 0) {
            log_warnx("trace=%s item=%s dsn: ORCPT lookup: %s", it->trace_id, it->id, error);
            free(tmpl);
            ok = false;
            goto out;
        }
        struct dsn_info d = {.hostname = cfg->hostname,
                             .to = it->sender,
                             .recipient = it->recipient,
                             .orcpt = orcpt.value[0] != '\0' ? orcpt.value : NULL,
                             .trace_id = it->trace_id,
                             .service_uri = uri,
                             .reason = it->reason,
                             .subject = it->subject,
                             .headers = hlen > 0 ? headers : NULL,
                             .arrival = it->created};

        if (tmpl != NULL)
            mailgen_fill_lang(&human, tmpl, vars, sizeof(vars) / sizeof(vars[0]), false, lang);
        else
            mailgen_str(&human, "Your message was accepted but not delivered.\n");
        d.human = human.data;
        dsn_compose(&msg, &d);
        smtp_client_send(relay, cfg->hostname, "", it->sender, msg.data, msg.len,
                         (int)cfg->down_command_timeout * 1000, &reply);
        snprintf(why, sizeof(why), "%d %s %s", reply.code, reply.enh, reply.text);
        if (reply.code / 100 == 2) {
            ok = dsn_record(st, it, "sent", why, how) == 0;
        } else if (reply.code / 100 == 5) {
            ok = dsn_record(st, it, "failed", why, how) == 0;
        } else {
            log_warnx("trace=%s item=%s sender=<%s> dsn=deferred reply=\"%s\" (will retry)",
                      it->trace_id, it->id, it->sender, why);
            ok = false;
        }
        free(tmpl);
        mailgen_free(&human);
        mailgen_free(&msg);
    }
out:
    free(headers);
    return ok;
}

int dsn_run(struct store *st, struct lmtp_env *env, const struct notify_round *round, int64_t since)
{
    struct dsn_list l = {0};
    struct endpoint relay;
    const char *error;
    size_t i;

    if (env->cfg->notify_relay[0] == '\0' || env->cfg->dsn_send == CONFIG_DSN_NEVER)
        return 0; /* config_dsn_warning() told at start */
    if (endpoint_parse(env->cfg->notify_relay, &relay, &error) < 0) {
        log_warnx("dsn: relay %s: %s", env->cfg->notify_relay, error);
        return -1;
    }
    if (store_dsn_due(st, since, DSN_BATCH, dsn_collect, &l, &error) < 0) {
        log_warnx("dsn: store error: %s", error);
        return -1;
    }
    /* [notify] send_delay exists for tests that stop opesd or the database mid-round */
    for (i = 0; i < l.n && !notify_stopping(round, (int)env->cfg->notify_send_delay * 1000); i++)
        if (!dsn_one(st, env, &relay, &l.d[i]))
            break;
    free(l.d);
    return (int)i;
}
