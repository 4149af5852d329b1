/*
 * learn.c - learning from decisions: handing a message to the services that
 * learn (spamd's TELL, rspamd's controller), and the reports of missed spam
 * that recipients forward to [learn] report_address.
 *
 * A report is taken in the LMTP transaction that carries it: the reported
 * message is cut out of it (the attached message/rfc822, else the forwarded
 * text), learned as spam at once, recorded in the store under a hash of the
 * reported message so that a second report of it changes nothing, and the
 * report itself is delivered nowhere. Its content is not kept: a scanner that
 * is away loses the report (logged, recorded as failed, and a new report of
 * the same message is learned).
 */
#include "opes/learn.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/lmtp_client.h"
#include "opes/log.h"
#include "opes/mime.h"
#include "opes/service.h"
#include "opes/spool.h"
#include "opes/store.h"

int learn_spool(const struct svc_set *set, const char *service, struct spool *spool, bool spam,
                char *detail, size_t size)
{
    size_t o = 0, tried = 0;
    int rc = 0;

    detail[0] = '\0';
    for (size_t i = 0; set != NULL && i < set->n; i++) {
        const struct svc *svc = &set->svc[i];
        char one[400];

        if (svc->type->learn == NULL || (service[0] != '\0' && strcmp(svc->name, service) != 0))
            continue;
        tried++;
        if (spool_rewind(spool) < 0) {
            snprintf(one, sizeof(one), "the message cannot be read");
            rc = -1;
        } else if (svc->type->learn(svc, spool, spam, one, sizeof(one)) < 0) {
            rc = -1;
        }
        if (o < size)
            o += (size_t)snprintf(detail + o, size - o, "%s%s: %s", o > 0 ? "; " : "", svc->name,
                                  one);
    }
    if (tried == 0) {
        snprintf(detail, size, "%s",
                 service[0] != '\0' ? "that service does not learn" : "no service learns");
        return -1;
    }
    return rc;
}

bool learn_is_report(const struct opes_config *cfg, const char *addr)
{
    const char *ra = cfg->learn_report_address;

    return ra != NULL && ra[0] != '\0' && strcasecmp(ra, addr) == 0;
}

/* learn_local - sender is of the report address's domain. */
static bool learn_local(const struct opes_config *cfg, const char *sender)
{
    const char *sd = strrchr(sender, '@'), *rd = strrchr(cfg->learn_report_address, '@');

    return sd != NULL && rd != NULL && sd != sender && strcasecmp(sd, rd) == 0;
}

static ssize_t learn_spool_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    return spool_pread(ctx, offset, buf, len);
}

static int learn_spool_write(void *ctx, const void *data, size_t len)
{
    return spool_write(ctx, data, len);
}

/*
 * learn_reported - the reported message out of the report: the first
 * message/rfc822 part, else the first text part, decoded, into out; -1
 * leaves the whole report to be learned.
 */
static int learn_reported(const struct mime_message *mime, struct spool *report, struct spool *out)
{
    const char *error = "it is empty";
    size_t pick = 0;

    if (mime == NULL)
        return -1;
    for (size_t i = 1; i < mime->nparts && pick == 0; i++)
        if (strcmp(mime->parts[i].type, "message") == 0 &&
            strcmp(mime->parts[i].subtype, "rfc822") == 0)
            pick = i;
    for (size_t i = 0; i < mime->nparts && pick == 0; i++)
        if (mime->parts[i].kind == MIME_KIND_LEAF && strcmp(mime->parts[i].type, "text") == 0)
            pick = i;
    if (pick == 0)
        return -1;
    if (mime_part_decode(mime, pick, learn_spool_read, report, learn_spool_write, out, &error) <
            0 ||
        spool_error(out) != 0 || spool_size(out) == 0) {
        log_warnx("report: the reported message cannot be read (%s): the whole report is learned",
                  error);
        return -1;
    }
    return 0;
}

/* learn_key - "report:" and a hash of the message in spool, for the store's record. */
static void learn_key(struct spool *spool, char *key, size_t size)
{
    crypto_generichash_state h;
    unsigned char sum[16];
    char hex[sizeof(sum) * 2 + 1], buf[8192];
    ssize_t n;

    crypto_generichash_init(&h, NULL, 0, sizeof(sum));
    if (spool_rewind(spool) == 0)
        while ((n = spool_read(spool, buf, sizeof(buf))) > 0)
            crypto_generichash_update(&h, (const unsigned char *)buf, (size_t)n);
    crypto_generichash_final(&h, sum, sizeof(sum));
    sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
    snprintf(key, size, "report:%s", hex);
}

void learn_report(const struct opes_config *cfg, const struct svc_set *set, struct store *st,
                  const char *sender, const char *trace_id, struct spool *spool,
                  const struct mime_message *mime, struct lmtp_reply *reply)
{
    struct spool *own = spool_new((size_t)cfg->spool_memory, cfg->spool_dir);
    struct spool *msg = learn_reported(mime, spool, own) == 0 ? own : spool;
    struct store_learn l = {.id = 0};
    char detail[1024];
    const char *error = "the store is unavailable";
    int rc = -1;

    lmtp_reply_set(reply, 250, "2.0.0", "<%s> report taken", cfg->learn_report_address);
    if (!learn_local(cfg, sender)) {
        log_warnx("report from <%s> ignored: not a local recipient", sender);
        goto out;
    }
    learn_key(msg, l.message, sizeof(l.message));
    snprintf(l.kind, sizeof(l.kind), "spam");
    snprintf(l.trace_id, sizeof(l.trace_id), "%s", trace_id);
    snprintf(l.requested_by, sizeof(l.requested_by), "%s", sender);
    snprintf(l.origin, sizeof(l.origin), "report");
    if (st != NULL)
        rc = store_learn_request(st, &l, &error);
    if (rc == STORE_USED) {
        log_info("report from <%s> of %s: learned before", sender, l.message);
        lmtp_reply_set(reply, 250, "2.0.0", "<%s> report taken: learned before",
                       cfg->learn_report_address);
        goto out;
    }
    if (rc < 0)
        log_warnx("report: not recorded (%s): learned all the same", error);
    if (learn_spool(set, "", msg, true, detail, sizeof(detail)) < 0) {
        log_warnx("report from <%s> of %s not learned: %s", sender, l.message, detail);
        if (rc == 0 && store_learn_failed(st, &l, true, detail, 0, &error) < 0)
            log_warnx("report: failure not recorded: %s", error);
        goto out;
    }
    log_info("report from <%s> of %s learned as spam: %s", sender, l.message, detail);
    if (rc == 0 && store_learn_done(st, &l, sender, detail, &error) < 0)
        log_warnx("report: learned but not recorded: %s", error);
    lmtp_reply_set(reply, 250, "2.0.0", "<%s> report learned as spam", cfg->learn_report_address);
out:
    spool_free(&own);
}
