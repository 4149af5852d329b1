/*
 * page.c - what every page shares: the layout (head, header with the
 * navigation, footer), error and message pages, and the rules about
 * quarantine items that several pages apply: who may see an item, and how
 * an action on it is carried out (as store rows that opesd acts on).
 */
#include "opes/web_page.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/web_access.h"
#include "opes/web_api.h"
#include "opes/web_form.h"
#include "opes/web_html.h"
#include "opes/reason.h"
#include "opes/web_http.h"
#include "opes/web_svcinfo.h"

/* page_reason - the catalog key of an error page's title. */
static const char *page_reason(int status)
{
    switch (status) {
    case 400:
        return "web.status.400";
    case 403:
        return "web.status.403";
    case 404:
        return "web.status.404";
    case 405:
        return "web.status.405";
    case 409:
        return "web.status.409";
    case 410:
        return "web.status.410";
    case 413:
        return "web.status.413";
    case 429:
        return "web.status.429";
    default:
        return status >= 500 ? "web.status.500" : "web.status.notice";
    }
}

void web_page_locale(struct web_req *req)
{
    char pref[I18N_LANG_MAX] = "", tz[64] = "";
    const char *error;

    /* the one place that reads the user's own choice */
    if (req->sess.valid && req->st != NULL &&
        store_user_locale(req->st, req->sess.address, pref, sizeof(pref), tz, sizeof(tz), &error) <
            0)
        log_warnx("web: locale: %s", error);
    req->lang = i18n_negotiate(pref, req->accept_language, req->ctx->cfg->web_default_language);
    snprintf(req->tz, sizeof(req->tz), "%s",
             tz[0] != '\0' ? tz : req->ctx->cfg->web_default_timezone);
}

const char *web_t(const struct web_req *req, const char *key)
{
    return i18n_text(req->lang != NULL ? req->lang : I18N_BASE, key);
}

const char *web_tf_(const struct web_req *req, char *buf, size_t size, const char *key, ...)
{
    const char *args[2 * WEB_TF_ARGS + 1];
    size_t n = 0;
    va_list ap;

    va_start(ap, key);
    for (const char *a; n < 2 * WEB_TF_ARGS && (a = va_arg(ap, const char *)) != NULL;)
        args[n++] = a;
    va_end(ap);
    args[n & ~(size_t)1] = NULL;
    i18n_fill(buf, size, web_t(req, key), args);
    return buf;
}

const char *web_tn(const struct web_req *req, char *buf, size_t size, const char *key,
                   unsigned long n)
{
    char num[24];
    const char *args[] = {"n", num, NULL};

    snprintf(num, sizeof(num), "%lu", n);
    i18n_fill(buf, size, i18n_plural(req->lang != NULL ? req->lang : I18N_BASE, key, n), args);
    return buf;
}

const char *web_page_date(const struct web_req *req, int64_t t, enum i18n_datefmt fmt, char *buf,
                          size_t size)
{
    i18n_date(buf, size, req->lang != NULL ? req->lang : I18N_BASE, req->tz, (time_t)t, fmt);
    return buf;
}

void web_page_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
}

void web_page_thead(struct html *h, const struct web_req *req, const char *const *keys)
{
    html_add(h, "<thead><tr>");
    for (; *keys != NULL; keys++)
        html_add(h, "<th scope=\"col\">%s</th>", web_t(req, *keys));
    html_add(h, "</tr></thead>\n");
}

void web_page_csrf(struct html *h, const struct web_req *req)
{
    html_add(h, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", req->sess.csrf);
}

void web_page_begin(struct html *h, const struct web_req *req, const char *title)
{
    html_add(h,
             "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>%s - %s</title>\n"
             "<link rel=\"stylesheet\" href=\"/static/opes.css\">\n</head>\n<body>\n"
             "<a class=\"skip\" href=\"#main\">%s</a>\n"
             "<header class=\"top\"><a class=\"brand\" href=\"/\">%s</a>\n"
             "<nav aria-label=\"%s\"><ul>",
             req->lang != NULL ? req->lang : I18N_BASE, web_t(req, title), web_t(req, "web.brand"),
             web_t(req, "web.skip"), web_t(req, "web.brand"), web_t(req, "web.nav.label"));
    if (req->sess.valid) {
        html_add(h,
                 "<li><a href=\"/quarantine\">%s</a></li><li><a href=\"/lists\">%s</a></li>"
                 "<li><a href=\"/prefs\">%s</a></li>",
                 web_t(req, "web.nav.quarantine"), web_t(req, "web.nav.lists"),
                 web_t(req, "web.nav.prefs"));
        if (req->sess.admin)
            html_add(h, "<li><a href=\"/admin\">%s</a></li>", web_t(req, "web.nav.admin"));
        if (web_is_approver(&req->sess)) /* global and domain administrators */
            html_add(h,
                     "<li><a href=\"/admin/requests\">%s</a></li>"
                     "<li><a href=\"/admin/delegates\">%s</a></li>"
                     "<li><a href=\"/admin/lists\">%s</a></li>",
                     web_t(req, "roles.nav.requests"), web_t(req, "roles.nav.delegates"),
                     web_t(req, "roles.nav.lists"));
        html_add(h, "<li><form method=\"post\" action=\"/logout\" class=\"inline\">");
        web_page_csrf(h, req);
        html_add(h,
                 "<button type=\"submit\" class=\"link\">%s</button> <span class=\"who\">%s"
                 "</span></form></li>",
                 web_t(req, "web.nav.logout"), req->sess.address);
    } else {
        html_add(h, "<li><a href=\"/login\">%s</a></li>", web_t(req, "web.nav.login"));
    }
    html_add(h, "</ul></nav></header>\n<main id=\"main\">\n<h1>%s</h1>\n", web_t(req, title));
}

void web_page_end(struct html *h, const struct web_req *req)
{
    html_add(h,
             "</main>\n<footer><a href=\"/opes\">%s</a> <a href=\"/privacy\">%s</a></footer>\n"
             "</body>\n</html>\n",
             web_t(req, "web.footer.opes"), web_t(req, "web.footer.privacy"));
}

void web_page_message(const struct web_req *req, struct web_resp *resp, int status,
                      const char *title, const char *message, const char *link,
                      const char *link_text)
{
    struct html h = {0};

    web_page_begin(&h, req, title);
    html_add(&h, "<p class=\"%s\" role=\"%s\">%s</p>\n", status >= 400 ? "error" : "notice",
             status >= 400 ? "alert" : "status", web_t(req, message));
    if (link != NULL)
        html_add(&h, "<p><a href=\"%s\">%s</a></p>\n", link, web_t(req, link_text));
    web_page_end(&h, req);
    web_resp_html(resp, status, &h);
}

void web_page_error(const struct web_req *req, struct web_resp *resp, int status,
                    const char *message)
{
    if (strncmp(req->path, "/api/", 5) == 0) { /* a program asked: the answer is JSON */
        web_api_error(req, resp, status, web_t(req, message));
        return;
    }
    web_page_message(req, resp, status, page_reason(status), message, "/", "web.back.start");
}

/* page_service_type - the type of the service that held it ("" for opesd's own policy). */
static const char *page_service_type(const struct web_req *req, const struct store_qitem *it)
{
    const struct web_svcinfo *s = web_svcinfo_find(req->ctx->svc, req->ctx->nsvc, it->service);

    return s != NULL ? s->type : "";
}

const char *web_item_reason(const struct web_req *req, const struct store_qitem *it, char *buf,
                            size_t size)
{
    reason_describe(buf, size, req->lang != NULL ? req->lang : I18N_BASE, it->words, it->service,
                    page_service_type(req, it), it->reason);
    return buf;
}

const char *web_item_category(const struct web_req *req, const struct store_qitem *it)
{
    return reason_category(it->words, page_service_type(req, it), it->reason);
}

const char *web_svc_word(const struct web_req *req, const char *kind, const char *word)
{
    char key[80];

    snprintf(key, sizeof(key), "web.svc.%s.%s", kind, word);
    return i18n_has(I18N_BASE, key) ? web_t(req, key) : word;
}

int web_item_mine(struct web_req *req, const char *id, struct store_qitem *item)
{
    const char *error;
    int rc = strlen(id) == STORE_ID_LEN ? store_quarantine_get(req->st, id, item, &error)
                                        : STORE_NOTFOUND;

    if (rc < 0) {
        log_warnx("web: item %s: %s", id, error);
        return -1;
    }
    /* another recipient's item is "not found": ids cannot be probed */
    if (rc == STORE_NOTFOUND || !web_may_act(&req->sess, item->recipient))
        return STORE_NOTFOUND;
    return 0;
}

int web_item_for(struct web_req *req, struct web_resp *resp, const char *id,
                 struct store_qitem *item)
{
    int rc = web_item_mine(req, id, item);

    if (rc < 0)
        web_page_error(req, resp, 500, "web.err.item_read");
    else if (rc == STORE_NOTFOUND)
        web_page_error(req, resp, 404, "web.err.no_item");
    return rc != 0;
}

/* page_list_entry - an allow (or block) list entry for item's sender or domain now. */
static int page_list_entry(struct web_req *req, const struct store_qitem *item,
                           enum store_list_kind kind, const char *which, int64_t expires,
                           const char *origin, const char **why_r)
{
    struct store_list_entry e = {.kind = kind, .expires = expires};
    const char *at = strrchr(item->sender, '@'), *error;

    if (strcmp(which, "domain") == 0 && at == NULL) {
        *why_r = "web.why.no_domain";
        return -1;
    }
    snprintf(e.owner, sizeof(e.owner), "%s", item->recipient);
    snprintf(e.sender, sizeof(e.sender), "%s", strcmp(which, "domain") == 0 ? at : item->sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", req->sess.address);
    snprintf(e.origin, sizeof(e.origin), "%s", origin);
    e.created = req->now;
    if (store_list_add(req->st, &e, &error) < 0) {
        log_warnx("web: list entry: %s", error);
        *why_r = "web.why.list_failed";
        return -1;
    }
    store_audit_via(req->st, req->sess.address, "list-add", e.sender, origin, req->via, &error);
    return 0;
}

enum svc_release web_item_policy(const struct web_req *req, const struct store_qitem *item)
{
    if (web_may_decide(&req->sess, item->recipient))
        return SVC_RELEASE_SELF;
    return web_svcinfo_release(req->ctx->svc, req->ctx->nsvc, item->service);
}

/* page_ask - a release request to the approvers instead of a release. */
static int page_ask(struct web_req *req, const struct store_qitem *item, const char *origin,
                    const char **why_r)
{
    const char *reason = web_form_get(&req->form, "reason"), *error;
    char text[256];
    int rc;

    snprintf(text, sizeof(text), "%s", reason != NULL ? reason : "");
    rc = store_approval_request(req->st, item->id, req->sess.address, origin, text, NULL, &error);
    if (rc == 0 || rc == STORE_USED)
        return WEB_ITEM_ASKED;
    if (rc < 0)
        log_warnx("web: release request %s: %s", item->id, error);
    *why_r = rc == STORE_NOTFOUND ? "web.why.not_held" : "roles.web.ask_failed";
    return -1;
}

/* page_delete - item's status to deleted (it can be restored until the purge). */
static int page_delete(struct web_req *req, const struct store_qitem *item, const char *origin,
                       const char **why_r)
{
    const char *error;

    if (store_quarantine_set_status(req->st, item->id, STORE_DELETED, &error) != 0) {
        *why_r = "web.why.delete_failed";
        return -1;
    }
    store_audit_via(req->st, req->sess.address, "delete", item->id, origin, req->via, &error);
    return 0;
}

/* page_restore - a deleted item held again. */
static int page_restore(struct web_req *req, const struct store_qitem *item, const char *origin,
                        const char **why_r)
{
    const char *error;
    int rc = store_quarantine_restore(req->st, item->id, &error);

    if (rc != 0) {
        if (rc < 0)
            log_warnx("web: restore %s: %s", item->id, error);
        *why_r = rc == STORE_NOTFOUND ? "web.why.not_restorable" : "web.why.restore_failed";
        return -1;
    }
    store_audit_via(req->st, req->sess.address, "restore", item->id, origin, req->via, &error);
    return 0;
}

int web_item_act(struct web_req *req, const struct store_qitem *item, const char *action,
                 const char *whitelist, int64_t expires, const char *origin, const char **why_r)
{
    struct store_release r = {0};
    const char *error;
    int rc;

    if (strcmp(action, "restore") == 0)
        return page_restore(req, item, origin, why_r);
    if (item->status != STORE_HELD) {
        *why_r = "web.why.not_held";
        return -1;
    }
    if (strncmp(action, "release", 7) == 0) {
        enum svc_release policy = web_item_policy(req, item);
        if (policy == SVC_RELEASE_ADMIN) {
            *why_r = "roles.web.admin_only";
            return -1;
        }
        if (policy == SVC_RELEASE_REQUEST)
            return page_ask(req, item, origin, why_r);
    }
    if (strcmp(action, "delete") == 0)
        return page_delete(req, item, origin, why_r);
    if (strcmp(action, "block") == 0) {
        if (item->sender[0] == '\0') {
            *why_r = "web.why.null_sender_block";
            return -1;
        }
        if (page_list_entry(req, item, STORE_BLOCKLIST, "address", 0, origin, why_r) < 0)
            return -1;
        return page_delete(req, item, origin, why_r);
    }
    if (strcmp(action, "not-spam") == 0)
        return web_learn_not_spam(req, item, origin, why_r);
    if (strcmp(action, "release") != 0 && strcmp(action, "release-whitelist") != 0) {
        *why_r = "web.why.unknown_action";
        return -1;
    }
    snprintf(r.item_id, sizeof(r.item_id), "%s", item->id);
    snprintf(r.requested_by, sizeof(r.requested_by), "%s", req->sess.address);
    snprintf(r.origin, sizeof(r.origin), "%s", origin);
    snprintf(r.via, sizeof(r.via), "%s", req->via);
    if (strcmp(action, "release-whitelist") == 0) {
        if (strcmp(whitelist, "address") != 0 && strcmp(whitelist, "domain") != 0) {
            *why_r = "web.why.choose_allow";
            return -1;
        }
        if (item->sender[0] == '\0') { /* the null sender <>: nothing to allow */
            *why_r = "web.why.null_sender_allow";
            return -1;
        }
        /* with an expiry the entry is made here; without, opesd makes it on delivery */
        if (expires > 0 &&
            page_list_entry(req, item, STORE_WHITELIST, whitelist, expires, origin, why_r) < 0)
            return -1;
        if (expires == 0)
            snprintf(r.whitelist, sizeof(r.whitelist), "%s", whitelist);
    }
    rc = store_release_request(req->st, &r, &error);
    if (rc != 0) {
        if (rc < 0)
            log_warnx("web: release %s: %s", item->id, error);
        *why_r = rc == STORE_NOTFOUND ? "web.why.not_held" : "web.why.release_failed";
        return -1;
    }
    return 0;
}

bool web_sender_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 254 || strchr(s, '@') == NULL)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("<>\"'\\,;*", *s) != NULL)
            return false;
    return true;
}
