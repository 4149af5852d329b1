/*
 * notify.c - block notifications (see notify.h): capture of new quarantine
 * entries with the loop rules, immediate notices, admin copies and the
 * admin's daily summary, and the delivery of our own mail through the
 * downstream that digests and login mails use too.
 */
#include "opes/notify.h"

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/lmtp_local.h"
#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mailview.h"
#include "opes/mime.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/vec.h"

#define NOTIFY_HEADERS_MAX (32 * 1024) /* header section kept per entry */

bool notify_stopping(const struct notify_round *round, int ms)
{
    struct pollfd pfd = {.fd = round->stop_fd, .events = POLLIN};

    if (round->stop_fd >= 0 && poll(&pfd, 1, ms) != 0)
        return true;
    return round->held != NULL && !round->held(round->ctx);
}

bool notify_header_get(const char *hdr, const char *name, char *buf, size_t size)
{
    return hdr != NULL && mime_header_find(hdr, strlen(hdr), name, false, buf, size);
}

/* notify_word_is - the value's first token (up to ; or space) equals word. */
static bool notify_word_is(const char *value, const char *word)
{
    size_t n = strcspn(value, " ;\t(");
    return n == strlen(word) && strncasecmp(value, word, n) == 0;
}

const char *notify_loop_rule(const char *sender, const char *hdr, bool skip_lists, bool dsn)
{
    char v[256];
    const char *at;

    if (sender == NULL || *sender == '\0')
        return "null sender";
    at = strchr(sender, '@');
    if (at != NULL && (size_t)(at - sender) == 13 && strncasecmp(sender, "mailer-daemon", 13) == 0)
        return "mailer-daemon sender";
    if (hdr == NULL)
        return dsn ? "header fields unknown" : NULL;
    if (notify_header_get(hdr, "Auto-Submitted", v, sizeof(v)) && !notify_word_is(v, "no"))
        return "auto-submitted";
    if (dsn && notify_header_get(hdr, "Content-Type", v, sizeof(v)) &&
        notify_word_is(v, "multipart/report"))
        return "a report (DSN or MDN) itself";
    if (skip_lists || dsn) {
        if (notify_header_get(hdr, "List-Id", v, sizeof(v)))
            return "list mail (List-Id)";
        if (notify_header_get(hdr, "Precedence", v, sizeof(v)) &&
            (notify_word_is(v, "bulk") || notify_word_is(v, "junk") || notify_word_is(v, "list")))
            return "bulk or list mail (Precedence)";
    }
    return NULL;
}

int64_t notify_link_expiry(const struct opes_config *cfg)
{
    int64_t life = cfg->notify_link_lifetime > 0 ? (int64_t)cfg->notify_link_lifetime
                                                 : (int64_t)cfg->notify_link_days * 86400;
    return (int64_t)time(NULL) + life;
}

void notify_deliver(struct lmtp_env *env, const char *rcpt, const char *msg, size_t len,
                    struct lmtp_reply *reply)
{
    const struct opes_config *cfg = env->cfg;
    struct spool *spool = spool_new((size_t)cfg->spool_memory, cfg->spool_dir);
    struct deliver_mail dm = {.sender = "", .trace_id = "notify", .size = len};

    if (spool_write(spool, msg, len) < 0)
        lmtp_reply_set(reply, 451, "4.3.0", "spool not writable");
    else
        deliver_one(env->deliver, &dm, rcpt, "", 0, spool, (int64_t)cfg->processing_timeout * 1000,
                    reply);
    spool_free(&spool);
}

/* ------------------------------------------------------------ capture */

struct notify_hdr {
    struct mailgen_buf b;
    bool done;
};

/* notify_hdr_write - collect up to the end of the header section, then stop the reader. */
static int notify_hdr_write(void *ctx, const void *buf, size_t len)
{
    struct notify_hdr *h = ctx;
    const char *end;

    if (h->done)
        return -1;
    mailgen_add(&h->b, buf, len);
    if (h->b.data[0] == '\n' || strncmp(h->b.data, "\r\n", 2) == 0) {
        h->b.len = 0; /* no header at all */
        h->b.data[0] = '\0';
        h->done = true;
        return -1;
    }
    /* the header section ends with the LF of its last line, before the empty line */
    end = strstr(h->b.data, "\n\n");
    {
        const char *crlf = strstr(h->b.data, "\r\n\r\n");
        if (crlf != NULL && (end == NULL || crlf < end))
            end = crlf + 1;
    }
    if (end != NULL) {
        h->b.len = (size_t)(end + 1 - h->b.data);
        h->b.data[h->b.len] = '\0';
        h->done = true;
        return -1; /* enough: stop reading */
    }
    if (h->b.len >= NOTIFY_HEADERS_MAX) {
        h->b.len = NOTIFY_HEADERS_MAX;
        h->b.data[h->b.len] = '\0';
        h->done = true;
        return -1;
    }
    return 0;
}

struct notify_list {
    struct store_qitem *items;
    size_t n, cap;
};

static void notify_collect(const struct store_qitem *it, void *ctx)
{
    struct notify_list *l = ctx;

    l->items = vec_reserve(l->items, &l->cap, l->n + 1, sizeof(*l->items));
    l->items[l->n++] = *it;
}

/* notify_mode - the recipient's effective mode: immediate, digest or off. */
static void notify_mode(struct store *st, const struct opes_config *cfg, const char *rcpt,
                        char *mode, size_t size)
{
    char sched[64];
    const char *error;

    if (store_user_notify_prefs(st, rcpt, mode, size, sched, sizeof(sched), &error) != 0 ||
        strcmp(mode, "default") == 0 || mode[0] == '\0')
        snprintf(mode, size, "%s", config_notify_mode_name(cfg->notify_default_mode));
}

int notify_capture(struct store *st, struct lmtp_env *env, int64_t since)
{
    const struct opes_config *cfg = env->cfg;
    struct notify_list l = {0};
    const char *error;

    if (store_notify_uncaptured(st, since, NOTIFY_BATCH, notify_collect, &l, &error) < 0) {
        log_warnx("notify: store error: %s", error);
        return -1;
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct store_qitem *it = &l.items[i];
        struct notify_hdr h = {0};
        const char *state = "pending", *why = "";
        char mode[16];
        int rc = 0;

        if (it->status == STORE_HELD) {
            rc = store_quarantine_content(st, it->id, notify_hdr_write, &h, &error);
            if (!h.done && rc == 0 && h.b.data != NULL)
                h.done = true; /* a message that is all header */
        }
        if (it->status == STORE_HELD && !h.done && rc < 0) {
            /* damaged content: decide from the envelope alone (a DSN will not be sent) */
            log_warnx("trace=%s item=%s notify: cannot read the held message's header: %s",
                      it->trace_id, it->id, error);
            mailgen_free(&h.b);
        }
        notify_mode(st, cfg, it->recipient, mode, sizeof(mode));
        if (it->status != STORE_HELD) {
            state = "skipped", why = "no longer held";
        } else if (strcmp(mode, "off") == 0) {
            state = "off", why = "recipient's mode is off";
        } else if ((why = notify_loop_rule(it->sender, h.b.data != NULL ? h.b.data : "",
                                           cfg->notify_skip_lists, false)) != NULL) {
            state = "skipped";
        } else {
            state = strcmp(mode, "digest") == 0 ? "digest" : "pending";
            why = "";
        }
        if (store_notify_capture(st, it->id, state, why, h.b.data, h.b.len, &error) < 0) {
            log_warnx("trace=%s item=%s notify: store error: %s", it->trace_id, it->id, error);
            mailgen_free(&h.b);
            free(l.items);
            return -1;
        }
        if (strcmp(state, "skipped") == 0)
            log_info("trace=%s item=%s rcpt=<%s> notice=skipped why=\"%s\"", it->trace_id, it->id,
                     it->recipient, why);
        mailgen_free(&h.b);
    }
    free(l.items);
    return (int)l.n;
}

/* ------------------------------------------------------------ immediate notices */

/*
 * notify_render - fill name.txt (or name.html when html) for a reader of lang
 * with vars; false when the template is missing.
 */
static bool notify_render(const struct opes_config *cfg, const char *name, const char *lang,
                          const struct mailgen_var *vars, size_t n, struct mailgen_buf *out,
                          bool html)
{
    char file[64];
    char *t;

    snprintf(file, sizeof(file), "%s.%s", name, html ? "html" : "txt");
    t = mailgen_template_lang(cfg->notify_template_dir, lang, file);
    if (t == NULL) {
        log_warnx("notify: template %s missing", file);
        return false;
    }
    mailgen_fill_lang(out, t, vars, n, html, lang);
    free(t);
    return true;
}

/* notify_subject - the first line of the filled subject template. */
static void notify_subject(const struct opes_config *cfg, const char *name, const char *lang,
                           const struct mailgen_var *vars, size_t n, struct mailgen_buf *out)
{
    char file[64];

    snprintf(file, sizeof(file), "%s-subject", name);
    if (!notify_render(cfg, file, lang, vars, n, out, false))
        mailgen_str(out, "Message from the mail filter");
    out->data[strcspn(out->data, "\r\n")] = '\0';
    out->len = strlen(out->data);
}

int notify_compose(const struct opes_config *cfg, const char *kind, const char *lang,
                   const char *to, const char *auto_submitted, const struct mailgen_var *vars,
                   size_t n, bool html, struct mailgen_buf *out)
{
    struct mailgen_buf subject = {0}, text = {0}, htmlb = {0};
    int rc = -1;

    notify_subject(cfg, kind, lang, vars, n, &subject);
    if (notify_render(cfg, kind, lang, vars, n, &text, false) &&
        (!html || notify_render(cfg, kind, lang, vars, n, &htmlb, true))) {
        struct mailgen_msg m = {.from = cfg->notify_from,
                                .host = cfg->hostname,
                                .to = to,
                                .subject = subject.data,
                                .auto_submitted = auto_submitted,
                                .text = text.data,
                                .html = html ? htmlb.data : NULL};
        mailgen_compose(out, &m);
        rc = 0;
    }
    mailgen_free(&subject);
    mailgen_free(&text);
    mailgen_free(&htmlb);
    return rc;
}

struct notify_pending {
    struct store_qitem *items;
    int *attempts;
    size_t n, cap, attempts_cap;
};

static void notify_collect_pending(const struct store_qitem *it, int attempts, void *ctx)
{
    struct notify_pending *l = ctx;

    l->items = vec_reserve(l->items, &l->cap, l->n + 1, sizeof(*l->items));
    l->attempts = vec_reserve(l->attempts, &l->attempts_cap, l->n + 1, sizeof(*l->attempts));
    l->attempts[l->n] = attempts;
    l->items[l->n++] = *it;
}

/*
 * notify_group - the pending notices from i on that go into one mail: every
 * one of the same recipient with a batch window, else just i. Their indexes
 * into idx; returns how many.
 */
static size_t notify_group(const struct notify_pending *l, size_t i, uint64_t window,
                           const bool *done, size_t *idx)
{
    size_t k = 0;

    idx[k++] = i;
    for (size_t j = i + 1; window > 0 && j < l->n; j++)
        if (!done[j] && strcasecmp(l->items[j].recipient, l->items[i].recipient) == 0)
            idx[k++] = j;
    return k;
}

bool notify_round_goes_on(int *tempfails, int code)
{
    if (code < 0)
        return false;
    if (code == 0 || code / 100 == 2 || code / 100 == 5) {
        *tempfails = 0;
        return true;
    }
    return ++*tempfails < NOTIFY_TEMPFAIL_STOP;
}

/*
 * notify_send_group - one notice of the items idx[0..k) of l to their
 * recipient (and the admin copy); the store's reply code, or -1 when no
 * notice can be made (a template is missing: logged, nothing else will work
 * either) or its outcome cannot be recorded (the database is away: every
 * further notice would go out unrecorded, and again once it is back).
 */
static int notify_send_group(struct store *st, struct lmtp_env *env, struct notify_pending *l,
                             const size_t *idx, size_t k, size_t *sent)
{
    const struct opes_config *cfg = env->cfg;
    struct store_qitem *items = calloc(k, sizeof(*items));
    const struct store_qitem *first = &l->items[idx[0]];
    struct mailview_reader rd;
    struct mailgen_buf msg = {0};
    struct lmtp_reply reply;
    const char *error;
    char why[300];
    int record_rc = 0; /* -1 once an outcome could not be recorded */

    if (items == NULL)
        fatal("calloc");
    for (size_t j = 0; j < k; j++)
        items[j] = l->items[idx[j]];
    mailview_reader_of(st, cfg, first->recipient, &rd);
    if (mailview_compose(st, cfg, env->services, "notify", &rd, items, k, &msg) < 0) {
        free(items);
        mailgen_free(&msg);
        return -1;
    }
    notify_deliver(env, first->recipient, msg.data, msg.len, &reply);
    snprintf(why, sizeof(why), "%d %s %s", reply.code, reply.enh, reply.text);
    for (size_t j = 0; j < k; j++) {
        const struct store_qitem *it = &items[j];
        if (reply.code / 100 == 2) {
            record_rc |= store_notify_set_state(st, it->id, "sent", "", &error);
            log_info("trace=%s item=%s rcpt=<%s> notice=sent items=%zu reply=\"%s\"", it->trace_id,
                     it->id, it->recipient, k, why);
            (*sent)++;
        } else if (reply.code / 100 == 5) {
            record_rc |= store_notify_set_state(st, it->id, "failed", why, &error);
            log_warnx("trace=%s item=%s rcpt=<%s> notice=failed reply=\"%s\"", it->trace_id, it->id,
                      it->recipient, why);
        } else {
            /* stays pending for the next interval */
            record_rc |= store_notify_attempt(st, it->id, why, &error);
            log_warnx("trace=%s item=%s rcpt=<%s> notice=deferred attempts=%d reply=\"%s\" "
                      "(will retry)",
                      it->trace_id, it->id, it->recipient, l->attempts[idx[j]] + 1, why);
        }
    }
    if (reply.code / 100 == 2 && cfg->notify_admin_copy[0] != '\0' && !cfg->notify_admin_summary) {
        struct lmtp_reply ar;
        notify_deliver(env, cfg->notify_admin_copy, msg.data, msg.len, &ar);
        if (ar.code / 100 != 2)
            log_warnx("trace=%s item=%s admin_copy=<%s> not delivered reply=\"%d %s %s\"",
                      first->trace_id, first->id, cfg->notify_admin_copy, ar.code, ar.enh, ar.text);
    }
    mailgen_free(&msg);
    free(items);
    if (record_rc < 0) {
        log_warnx("notify: outcome not recorded (store error: %s): the rest waits", error);
        return -1;
    }
    return reply.code;
}

int notify_send_pending(struct store *st, struct lmtp_env *env, const struct notify_round *round)
{
    const struct opes_config *cfg = env->cfg;
    struct notify_pending l = {0};
    const char *error;
    int64_t now = (int64_t)time(NULL);
    size_t sent = 0, *idx;
    bool *done;
    int tempfails = 0, code;

    if (store_notify_pending(st, NOTIFY_BATCH, notify_collect_pending, &l, &error) < 0) {
        log_warnx("notify: store error: %s", error);
        return -1;
    }
    idx = calloc(l.n + 1, sizeof(*idx));
    done = calloc(l.n + 1, sizeof(*done));
    if (idx == NULL || done == NULL)
        fatal("calloc");
    for (size_t i = 0; i < l.n; i++) {
        size_t k;
        if (done[i])
            continue;
        k = notify_group(&l, i, cfg->notify_batch_window, done, idx);
        for (size_t j = 0; j < k; j++)
            done[idx[j]] = true;
        /* the window runs from the first message held: later ones join it */
        if (now - l.items[i].created < (int64_t)cfg->notify_batch_window)
            continue;
        /* [notify] send_delay exists for tests that stop opesd or the database mid-round */
        if (notify_stopping(round, (int)cfg->notify_send_delay * 1000))
            break;
        code = notify_send_group(st, env, &l, idx, k, &sent);
        if (code < 0 || !notify_round_goes_on(&tempfails, code))
            break;
    }
    free(idx);
    free(done);
    free(l.items);
    free(l.attempts);
    return (int)sent;
}

/* ------------------------------------------------------------ admin summary */

struct notify_summary {
    struct mailgen_buf lines;
    int64_t count;
};

static void notify_summary_line(const char *rcpt, int64_t count, void *ctx)
{
    struct notify_summary *s = ctx;

    mailgen_printf(&s->lines, "  %6lld  ", (long long)count);
    mailgen_text(&s->lines, rcpt);
    mailgen_add(&s->lines, "\n", 1);
    s->count += count;
}

int notify_admin_summary(struct store *st, struct lmtp_env *env)
{
    const struct opes_config *cfg = env->cfg;
    struct notify_summary s = {0};
    struct mailview_reader rd;
    int64_t last = 0, now = (int64_t)time(NULL);
    const char *error;
    char since[96], count[32];
    struct mailgen_buf msg = {0};
    struct lmtp_reply reply;
    int rc = store_notify_meta_get(st, "admin-summary", &last, &error);

    if (!cfg->notify_admin_summary || cfg->notify_admin_copy[0] == '\0')
        return 0;
    if (rc == STORE_NOTFOUND) /* the first day starts now */
        return store_notify_meta_set(st, "admin-summary", now, &error);
    if (rc < 0 || now - last < 86400)
        return rc < 0 ? -1 : 0;
    if (store_notify_held_since(st, last, notify_summary_line, &s, &error) < 0) {
        mailgen_free(&s.lines);
        return -1;
    }
    /* in the administrator's language and time zone, as every mail to a person */
    mailview_reader_of(st, cfg, cfg->notify_admin_copy, &rd);
    i18n_date(since, sizeof(since), rd.lang, rd.tz, (time_t)last, I18N_DATETIME);
    snprintf(count, sizeof(count), "%lld", (long long)s.count);
    mailgen_add(&s.lines, "", 0);
    {
        struct mailgen_var vars[] = {{"since", since, false},
                                     {"count", count, false},
                                     {"lines", s.lines.data, true},
                                     {"base_url", cfg->web_base_url, false}};
        if (notify_compose(cfg, "summary", rd.lang, cfg->notify_admin_copy, "auto-generated", vars,
                           4, false, &msg) == 0) {
            notify_deliver(env, cfg->notify_admin_copy, msg.data, msg.len, &reply);
            if (reply.code / 100 == 2)
                store_notify_meta_set(st, "admin-summary", now, &error);
            log_info("admin_summary=<%s> count=%s reply=\"%d %s %s\"", cfg->notify_admin_copy,
                     count, reply.code, reply.enh, reply.text);
        }
    }
    mailgen_free(&msg);
    mailgen_free(&s.lines);
    return 0;
}
