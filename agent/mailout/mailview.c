/*
 * mailview.c - held mail as its recipient reads it (see mailview.h): the
 * reader's language and zone, each item's values written for people, and a
 * notice or digest composed from the shared frame and item templates.
 */
#include "opes/mailview.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mime.h"
#include "opes/notify.h"
#include "opes/reason.h"
#include "opes/service.h"
#include "opes/store.h"
#include "opes/token.h"

#define MAILVIEW_HEADERS_MAX (32 * 1024)

void mailview_reader_of(struct store *st, const struct opes_config *cfg, const char *address,
                        struct mailview_reader *r)
{
    char lang[I18N_LANG_MAX] = "", tz[64] = "";
    const char *error;

    if (st != NULL &&
        store_user_locale(st, address, lang, sizeof(lang), tz, sizeof(tz), &error) < 0) {
        log_warnx("rcpt=<%s> language unknown (store error: %s): the default", address, error);
        lang[0] = tz[0] = '\0';
    }
    snprintf(r->lang, sizeof(r->lang), "%s", i18n_negotiate(lang, NULL, cfg->web_default_language));
    if (tz[0] == '\0' || !i18n_tz_valid(tz))
        snprintf(tz, sizeof(tz), "%s", cfg->web_default_timezone);
    snprintf(r->tz, sizeof(r->tz), "%s", tz);
    r->shared[0] = '\0';
}

/*
 * mailview_token_url - base/action/<token> for an action on the item, or for
 * "view" base/login/<token>: a login link that opens the item (the recipient
 * need not be logged in); "" when it cannot be made.
 */
static void mailview_token_url(struct store *st, const struct opes_config *cfg,
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

/*
 * mailview_display_name - the display name of the From field the notification
 * row keeps for the item (RFC 2047 decoded, unquoted), "" when there is none.
 */
static void mailview_display_name(struct store *st, const struct store_qitem *it, char *out,
                                  size_t size)
{
    char *hdr = malloc(MAILVIEW_HEADERS_MAX), from[1024], decoded[1024];
    const char *error, *lt;
    size_t len, start, end;

    out[0] = '\0';
    if (hdr == NULL)
        return;
    if (store_notify_headers(st, it->id, hdr, MAILVIEW_HEADERS_MAX, &len, &error) == 0 &&
        notify_header_get(hdr, "From", from, sizeof(from)) && (lt = strrchr(from, '<')) != NULL) {
        from[lt - from] = '\0';
        mime_decode_2047(from, decoded, sizeof(decoded));
        start = strspn(decoded, " \t\"");
        end = strlen(decoded);
        while (end > start && strchr(" \t\"", decoded[end - 1]) != NULL)
            end--;
        snprintf(out, size, "%.*s", (int)(end - start), decoded + start);
    }
    free(hdr);
}

size_t mailview_item_vars(struct store *st, const struct opes_config *cfg,
                          const struct svc_set *svcs, const struct mailview_reader *r,
                          const struct store_qitem *it, int64_t expires, struct mailview_item *s,
                          struct mailgen_var *vars)
{
    const char *sender = it->sender[0] != '\0' ? it->sender : "<>";
    char name[200];
    size_t n = 0;

    mailview_display_name(st, it, name, sizeof(name));
    if (name[0] != '\0' && strcasecmp(name, sender) != 0) {
        snprintf(s->sender_name, sizeof(s->sender_name), "%s", name);
        snprintf(s->sender_address, sizeof(s->sender_address), "<%s>", sender);
        snprintf(s->sender_line, sizeof(s->sender_line), "%s <%s>", name, sender);
    } else {
        snprintf(s->sender_name, sizeof(s->sender_name), "%s", sender);
        s->sender_address[0] = '\0';
        snprintf(s->sender_line, sizeof(s->sender_line), "%s", sender);
    }
    i18n_date(s->held, sizeof(s->held), r->lang, r->tz, (time_t)it->created, I18N_DATETIME);
    i18n_size(s->size, sizeof(s->size), r->lang, it->size);
    reason_describe(s->why, sizeof(s->why), r->lang, it->words, it->service, "", it->reason);
    if (strcmp(it->service, "blocklist") == 0)
        snprintf(s->service_uri, sizeof(s->service_uri), "%s/policy/blocklist", cfg->system_uri);
    else
        snprintf(s->service_uri, sizeof(s->service_uri), "%s/service/%s", cfg->system_uri,
                 it->service);
    mailview_token_url(st, cfg, it, "view", expires, s->item_url, sizeof(s->item_url));
    mailview_token_url(st, cfg, it, "release", expires, s->release_url, sizeof(s->release_url));
    mailview_token_url(st, cfg, it, "release-whitelist", expires, s->whitelist_url,
                       sizeof(s->whitelist_url));
    mailview_token_url(st, cfg, it, "block", expires, s->block_url, sizeof(s->block_url));
    mailview_token_url(st, cfg, it, "delete", expires, s->delete_url, sizeof(s->delete_url));
    s->not_spam_url[0] = '\0';
    if (it->status == STORE_HELD && services_learns(svcs, it->service))
        mailview_token_url(st, cfg, it, "not-spam", expires, s->not_spam_url,
                           sizeof(s->not_spam_url));
#define V(name, value) vars[n++] = (struct mailgen_var){name, value, false}
    V("recipient", it->recipient);
    V("sender", sender);
    V("sender_name", s->sender_name);
    V("sender_address", s->sender_address);
    V("sender_line", s->sender_line);
    V("subject", it->subject[0] != '\0' ? it->subject : i18n_text(r->lang, "mail.item.no_subject"));
    V("date", it->date);
    V("held", s->held);
    V("size_text", s->size);
    V("why", s->why);
    V("reason", it->reason);
    V("service", it->service);
    V("service_uri", s->service_uri);
    V("trace_id", it->trace_id);
    V("trace", it->trace_id);
    V("id", it->id);
    V("item_url", s->item_url);
    V("release_url", s->release_url);
    V("whitelist_url", s->whitelist_url);
    V("block_url", s->block_url);
    V("delete_url", s->delete_url);
    V("not_spam_url", s->not_spam_url);
    V("sender_known", it->sender[0] != '\0' ? "yes" : "");
    V("system_uri", cfg->system_uri);
#undef V
    return n;
}

/*
 * mailview_template - the operator's or built-in template kind-suffix (such
 * as "digest-item.html"), else the shared one called shared; NULL (logged)
 * when neither exists.
 */
static char *mailview_template(const struct opes_config *cfg, const struct mailview_reader *r,
                               const char *kind, const char *suffix, const char *shared)
{
    char name[64];
    char *t;

    snprintf(name, sizeof(name), "%s%s", kind, suffix);
    t = mailgen_template_lang(cfg->notify_template_dir, r->lang, name);
    if (t == NULL && shared != NULL)
        t = mailgen_template_lang(cfg->notify_template_dir, r->lang, shared);
    if (t == NULL)
        log_warnx("%s: template %s missing", kind, shared != NULL ? shared : name);
    return t;
}

/* The templates of one mail, and what has been rendered of it so far. */
struct mailview_parts {
    char *item_txt, *item_html, *frame_txt, *frame_html, *subject;
    struct mailgen_buf items_txt, items_html;
};

static void mailview_parts_free(struct mailview_parts *p)
{
    free(p->item_txt);
    free(p->item_html);
    free(p->frame_txt);
    free(p->frame_html);
    free(p->subject);
    mailgen_free(&p->items_txt);
    mailgen_free(&p->items_html);
}

/* mailview_sentence - the catalog text of key for vars into buf (plain text). */
static void mailview_sentence(char *buf, size_t size, const char *lang, const char *key,
                              const struct mailgen_var *vars, size_t n)
{
    struct mailgen_buf b = {0};

    mailgen_catalog(&b, lang, key, vars, n, false);
    snprintf(buf, size, "%s", b.data != NULL ? b.data : "");
    mailgen_free(&b);
}

int mailview_compose(struct store *st, const struct opes_config *cfg, const struct svc_set *svcs,
                     const char *kind, const struct mailview_reader *r,
                     const struct store_qitem *items, size_t n, struct mailgen_buf *out)
{
    struct mailview_parts p = {0};
    struct mailview_item *s = malloc(sizeof(*s));
    struct mailgen_var vars[MAILVIEW_ITEM_VARS + 16];
    const char *area = strcmp(kind, "digest") == 0 ? "digest" : "notice";
    int64_t expires = notify_link_expiry(cfg);
    char count[32], expiry[96], key[64], heading[256], intro[1024], links[512], zone[256];
    char portal[300], opes[300], privacy[300];
    struct mailgen_buf subject = {0}, text = {0}, html = {0};
    size_t nv = 0, nfirst = 0;
    int rc = -1;

    if (s == NULL)
        fatal("malloc");
    p.item_txt = mailview_template(cfg, r, kind, "-item.txt", "item.txt");
    p.item_html = mailview_template(cfg, r, kind, "-item.html", "item.html");
    p.frame_txt = mailview_template(cfg, r, kind, ".txt", "mail.txt");
    p.frame_html = mailview_template(cfg, r, kind, ".html", "mail.html");
    p.subject = mailview_template(cfg, r, kind, "-subject.txt", NULL);
    if (n == 0 || p.item_txt == NULL || p.item_html == NULL || p.frame_txt == NULL ||
        p.frame_html == NULL || p.subject == NULL)
        goto out;
    mailgen_add(&p.items_txt, "", 0);
    mailgen_add(&p.items_html, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t k = mailview_item_vars(st, cfg, svcs, r, &items[i], expires, s, vars);
        mailgen_fill_lang(&p.items_txt, p.item_txt, vars, k, false, r->lang);
        mailgen_fill_lang(&p.items_html, p.item_html, vars, k, true, r->lang);
    }
    /* the frame's values; the first item's follow, for templates written for one item */
    snprintf(count, sizeof(count), "%zu", n);
    i18n_date(expiry, sizeof(expiry), r->lang, r->tz, (time_t)expires, I18N_DATETIME);
    snprintf(portal, sizeof(portal), "%s/", cfg->web_base_url);
    snprintf(opes, sizeof(opes), "%s/opes", cfg->web_base_url);
    snprintf(privacy, sizeof(privacy), "%s/privacy", cfg->web_base_url);
#define V(name, value) vars[nv++] = (struct mailgen_var){name, value, false}
    V("count", count);
    V("recipient", items[0].recipient);
    V("expires", expiry);
    V("zone", r->tz);
    V("lang", r->lang);
    V("portal_url", portal);
    V("opes_url", opes);
    V("privacy_url", privacy);
    V("mailbox", r->shared);
#undef V
    snprintf(key, sizeof(key), "mail.%s.heading", area);
    mailview_sentence(heading, sizeof(heading), r->lang, key, vars, nv);
    /* a delegate's copy says whose mail it was, not the reader's own address */
    snprintf(key, sizeof(key), "mail.%s.intro%s", area, r->shared[0] != '\0' ? "_shared" : "");
    mailview_sentence(intro, sizeof(intro), r->lang, key, vars, nv);
    mailview_sentence(links, sizeof(links), r->lang, "mail.links", vars, nv);
    zone[0] = '\0';
    if (r->tz[0] != '\0')
        mailview_sentence(zone, sizeof(zone), r->lang, "mail.zone", vars, nv);
    vars[nv++] = (struct mailgen_var){"heading", heading, false};
    vars[nv++] = (struct mailgen_var){"intro", intro, false};
    vars[nv++] = (struct mailgen_var){"links_note", links, false};
    vars[nv++] = (struct mailgen_var){"zone_note", zone, false};
    vars[nv++] = (struct mailgen_var){"items", p.items_txt.data, true};
    nfirst = mailview_item_vars(st, cfg, svcs, r, &items[0], expires, s, vars + nv);
    mailgen_fill_lang(&subject, p.subject, vars, nv + nfirst, false, r->lang);
    subject.data[strcspn(subject.data, "\r\n")] = '\0';
    mailgen_fill_lang(&text, p.frame_txt, vars, nv + nfirst, false, r->lang);
    vars[nv - 1].value = p.items_html.data; /* rendered and escaped item by item */
    mailgen_fill_lang(&html, p.frame_html, vars, nv + nfirst, true, r->lang);
    {
        struct mailgen_msg m = {.from = cfg->notify_from,
                                .host = cfg->hostname,
                                .to = items[0].recipient,
                                .subject = subject.data,
                                .auto_submitted =
                                    strcmp(area, "digest") == 0 ? "auto-generated" : "auto-replied",
                                .text = text.data,
                                .html = html.data};
        mailgen_compose(out, &m);
    }
    rc = 0;
out:
    mailgen_free(&subject);
    mailgen_free(&text);
    mailgen_free(&html);
    mailview_parts_free(&p);
    free(s);
    return rc;
}
