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
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mime.h"
#include "opes/spool.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/vec.h"

#define NOTIFY_HEADERS_MAX (32 * 1024) /* header section kept per entry */

bool notify_stopping(int stop_fd, int ms)
{
    struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};

    return stop_fd >= 0 && poll(&pfd, 1, ms) != 0;
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

/*
 * notify_token_url - base/action/<token> for an action on the item, or for
 * "view" base/login/<token>: a login link that opens the item (the recipient
 * need not be logged in); "" when it cannot be made.
 */
static void notify_token_url(const struct store *st, const struct opes_config *cfg,
                             const struct store_qitem *it, const char *action, int64_t expires,
                             char *out, size_t size)
{
    bool view = strcmp(action, "view") == 0;
    struct token_link l = {.purpose = view ? TOKEN_LOGIN : TOKEN_ACTION, .expires = expires};
    char token[TOKEN_MAX];

    snprintf(l.recipient, sizeof(l.recipient), "%s", it->recipient);
    snprintf(l.item, sizeof(l.item), "%s", it->id);
    snprintf(l.action, sizeof(l.action), "%s", action);
    if (token_link_issue(store_keys(st), &l, token, sizeof(token)) < 0) {
        log_warnx("item=%s cannot issue a %s link", it->id, action);
        out[0] = '\0';
        return;
    }
    snprintf(out, size, "%s/%s/%s", cfg->web_base_url, view ? "login" : "action", token);
}

size_t notify_item_vars(const struct store *st, const struct opes_config *cfg,
                        const struct store_qitem *it, int64_t expires,
                        struct notify_item_strings *s, struct mailgen_var *vars)
{
    size_t n = 0;

    snprintf(s->size, sizeof(s->size), "%llu", (unsigned long long)it->size);
    mailgen_date(s->expires, sizeof(s->expires), (time_t)expires);
    if (strcmp(it->service, "blocklist") == 0)
        snprintf(s->service_uri, sizeof(s->service_uri), "%s/policy/blocklist", cfg->system_uri);
    else
        snprintf(s->service_uri, sizeof(s->service_uri), "%s/service/%s", cfg->system_uri,
                 it->service);
    notify_token_url(st, cfg, it, "view", expires, s->item_url, sizeof(s->item_url));
    snprintf(s->opes_url, sizeof(s->opes_url), "%s/opes", cfg->web_base_url);
    snprintf(s->privacy_url, sizeof(s->privacy_url), "%s/privacy", cfg->web_base_url);
    notify_token_url(st, cfg, it, "release", expires, s->release_url, sizeof(s->release_url));
    notify_token_url(st, cfg, it, "release-whitelist", expires, s->whitelist_url,
                     sizeof(s->whitelist_url));
    notify_token_url(st, cfg, it, "delete", expires, s->delete_url, sizeof(s->delete_url));
#define V(name, value) vars[n++] = (struct mailgen_var){name, value, false}
    V("recipient", it->recipient);
    V("sender", it->sender[0] != '\0' ? it->sender : "<>");
    V("subject", it->subject[0] != '\0' ? it->subject : "(no subject)");
    V("date", it->date);
    V("size", s->size);
    V("service", it->service);
    V("service_uri", s->service_uri);
    V("reason", it->reason);
    V("trace_id", it->trace_id);
    V("id", it->id);
    V("item_url", s->item_url);
    V("release_url", s->release_url);
    V("whitelist_url", s->whitelist_url);
    V("delete_url", s->delete_url);
    V("expires", s->expires);
    V("opes_url", s->opes_url);
    V("privacy_url", s->privacy_url);
    V("system_uri", cfg->system_uri);
#undef V
    return n;
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

/* notify_render - fill name.txt (and name.html when html) with vars; false when a template is
 * missing. */
static bool notify_render(const struct opes_config *cfg, const char *name,
                          const struct mailgen_var *vars, size_t n, struct mailgen_buf *out,
                          bool html)
{
    char file[64];
    char *t;

    snprintf(file, sizeof(file), "%s.%s", name, html ? "html" : "txt");
    t = mailgen_template(cfg->notify_template_dir, file);
    if (t == NULL) {
        log_warnx("notify: template %s missing", file);
        return false;
    }
    mailgen_fill(out, t, vars, n, html);
    free(t);
    return true;
}

/* notify_subject - the first line of the filled subject template. */
static void notify_subject(const struct opes_config *cfg, const char *name,
                           const struct mailgen_var *vars, size_t n, struct mailgen_buf *out)
{
    char file[64];

    snprintf(file, sizeof(file), "%s-subject", name);
    if (!notify_render(cfg, file, vars, n, out, false))
        mailgen_str(out, "Message from the mail filter");
    out->data[strcspn(out->data, "\r\n")] = '\0';
    out->len = strlen(out->data);
}

int notify_compose(const struct opes_config *cfg, const char *kind, const char *to,
                   const char *auto_submitted, const struct mailgen_var *vars, size_t n, bool html,
                   struct mailgen_buf *out)
{
    struct mailgen_buf subject = {0}, text = {0}, htmlb = {0};
    int rc = -1;

    notify_subject(cfg, kind, vars, n, &subject);
    if (notify_render(cfg, kind, vars, n, &text, false) &&
        (!html || notify_render(cfg, kind, vars, n, &htmlb, true))) {
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

int notify_send_pending(struct store *st, struct lmtp_env *env, int stop_fd)
{
    const struct opes_config *cfg = env->cfg;
    struct notify_pending l = {0};
    const char *error;
    size_t done = 0;

    if (store_notify_pending(st, NOTIFY_BATCH, notify_collect_pending, &l, &error) < 0) {
        log_warnx("notify: store error: %s", error);
        return -1;
    }
    for (size_t i = 0; i < l.n && !notify_stopping(stop_fd, 0); i++) {
        const struct store_qitem *it = &l.items[i];
        struct notify_item_strings s;
        struct mailgen_var vars[NOTIFY_ITEM_VARS];
        struct mailgen_buf msg = {0};
        struct lmtp_reply reply;
        size_t n = notify_item_vars(st, cfg, it, notify_link_expiry(cfg), &s, vars);
        char why[300];

        if (notify_compose(cfg, "notify", it->recipient, "auto-replied", vars, n, true, &msg) < 0) {
            mailgen_free(&msg);
            break; /* a template is missing: logged, nothing else will work either */
        }
        notify_deliver(env, it->recipient, msg.data, msg.len, &reply);
        snprintf(why, sizeof(why), "%d %s %s", reply.code, reply.enh, reply.text);
        if (reply.code / 100 == 2) {
            store_notify_set_state(st, it->id, "sent", "", &error);
            log_info("trace=%s item=%s rcpt=<%s> notice=sent reply=\"%s\"", it->trace_id, it->id,
                     it->recipient, why);
            done++;
            if (cfg->notify_admin_copy[0] != '\0' && !cfg->notify_admin_summary) {
                struct lmtp_reply ar;
                notify_deliver(env, cfg->notify_admin_copy, msg.data, msg.len, &ar);
                if (ar.code / 100 != 2)
                    log_warnx("trace=%s item=%s admin_copy=<%s> not delivered reply=\"%d %s %s\"",
                              it->trace_id, it->id, cfg->notify_admin_copy, ar.code, ar.enh,
                              ar.text);
            }
        } else if (reply.code / 100 == 5) {
            store_notify_set_state(st, it->id, "failed", why, &error);
            log_warnx("trace=%s item=%s rcpt=<%s> notice=failed reply=\"%s\"", it->trace_id, it->id,
                      it->recipient, why);
        } else {
            /* stays pending; the store is unwell, so the rest waits for the next interval too */
            store_notify_attempt(st, it->id, why, &error);
            log_warnx("trace=%s item=%s rcpt=<%s> notice=deferred attempts=%d reply=\"%s\" "
                      "(will retry)",
                      it->trace_id, it->id, it->recipient, l.attempts[i] + 1, why);
            mailgen_free(&msg);
            break;
        }
        mailgen_free(&msg);
    }
    free(l.items);
    free(l.attempts);
    return (int)done;
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
    int64_t last = 0, now = (int64_t)time(NULL);
    const char *error;
    char since[64], count[32];
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
    mailgen_date(since, sizeof(since), (time_t)last);
    snprintf(count, sizeof(count), "%lld", (long long)s.count);
    mailgen_add(&s.lines, "", 0);
    {
        struct mailgen_var vars[] = {{"since", since, false},
                                     {"count", count, false},
                                     {"lines", s.lines.data, true},
                                     {"base_url", cfg->web_base_url, false}};
        if (notify_compose(cfg, "summary", cfg->notify_admin_copy, "auto-generated", vars, 4, false,
                           &msg) == 0) {
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
