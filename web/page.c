/*
 * page.c - what every page shares: the layout (head, header with the
 * navigation, footer), error and message pages, and the rules about
 * quarantine items that several pages apply: who may see an item, and how
 * an action on it is carried out (as store rows that opesd acts on).
 */
#include "opes/web_page.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/web_access.h"
#include "opes/web_api.h"
#include "opes/web_form.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_svcinfo.h"

static const char *page_reason(int status)
{
    switch (status) {
    case 400:
        return "Bad request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Request too large";
    case 429:
        return "Too many requests";
    default:
        return status >= 500 ? "Server error" : "Notice";
    }
}

void web_page_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
}

void web_page_csrf(struct html *h, const struct web_req *req)
{
    html_add(h, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", req->sess.csrf);
}

void web_page_begin(struct html *h, const struct web_req *req, const char *title)
{
    html_add(h,
             "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>%s - OPES portal</title>\n"
             "<link rel=\"stylesheet\" href=\"/static/opes.css\">\n</head>\n<body>\n"
             "<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
             "<header class=\"top\"><a class=\"brand\" href=\"/\">OPES portal</a>\n"
             "<nav aria-label=\"Main\"><ul>",
             title);
    if (req->sess.valid) {
        html_add(h, "<li><a href=\"/quarantine\">Quarantine</a></li>"
                    "<li><a href=\"/lists\">Lists</a></li>"
                    "<li><a href=\"/prefs\">Preferences</a></li>");
        if (req->sess.admin)
            html_add(h, "<li><a href=\"/admin\">Admin</a></li>");
        html_add(h, "<li><form method=\"post\" action=\"/logout\" class=\"inline\">");
        web_page_csrf(h, req);
        html_add(h, "<button type=\"submit\" class=\"link\">Log out %s</button></form></li>",
                 req->sess.address);
    } else {
        html_add(h, "<li><a href=\"/login\">Log in</a></li>");
    }
    html_add(h, "</ul></nav></header>\n<main id=\"main\">\n<h1>%s</h1>\n", title);
}

void web_page_end(struct html *h)
{
    html_add(h, "</main>\n<footer><a href=\"/opes\">About this OPES system</a> "
                "<a href=\"/privacy\">Privacy</a></footer>\n</body>\n</html>\n");
}

void web_page_message(const struct web_req *req, struct web_resp *resp, int status,
                      const char *title, const char *message, const char *link,
                      const char *link_text)
{
    struct html h = {0};

    web_page_begin(&h, req, title);
    html_add(&h, "<p class=\"%s\">%s</p>\n", status >= 400 ? "error" : "notice", message);
    if (link != NULL)
        html_add(&h, "<p><a href=\"%s\">%s</a></p>\n", link, link_text);
    web_page_end(&h);
    web_resp_html(resp, status, &h);
}

void web_page_error(const struct web_req *req, struct web_resp *resp, int status,
                    const char *message)
{
    if (strncmp(req->path, "/api/", 5) == 0) { /* a program asked: the answer is JSON */
        web_api_error(req, resp, status, message);
        return;
    }
    web_page_message(req, resp, status, page_reason(status), message, "/", "Back to the start");
}

int web_item_for(struct web_req *req, struct web_resp *resp, const char *id,
                 struct store_qitem *item)
{
    const char *error;
    int rc = strlen(id) == STORE_ID_LEN ? store_quarantine_get(req->st, id, item, &error)
                                        : STORE_NOTFOUND;

    if (rc < 0) {
        log_warnx("web: item %s: %s", id, error);
        web_page_error(req, resp, 500, "The item could not be read.");
        return 1;
    }
    /* another recipient's item is "not found": ids cannot be probed */
    if (rc == STORE_NOTFOUND || !web_may_act(&req->sess, item->recipient)) {
        web_page_error(req, resp, 404, "There is no such item in your quarantine.");
        return 1;
    }
    return 0;
}

/* page_whitelist - add the whitelist entry for item's sender now (with expiry). */
static int page_whitelist(struct web_req *req, const struct store_qitem *item,
                          const char *whitelist, int64_t expires, const char *origin,
                          const char **why_r)
{
    struct store_list_entry e = {.kind = STORE_WHITELIST, .expires = expires};
    const char *at = strrchr(item->sender, '@'), *error;

    if (strcmp(whitelist, "domain") == 0 && at == NULL) {
        *why_r = "The sender has no domain to whitelist.";
        return -1;
    }
    snprintf(e.owner, sizeof(e.owner), "%s", item->recipient);
    snprintf(e.sender, sizeof(e.sender), "%s",
             strcmp(whitelist, "domain") == 0 ? at : item->sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", req->sess.address);
    snprintf(e.origin, sizeof(e.origin), "%s", origin);
    e.created = req->now;
    if (store_list_add(req->st, &e, &error) < 0) {
        log_warnx("web: whitelist: %s", error);
        *why_r = "The whitelist entry could not be stored.";
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
    *why_r = rc == STORE_NOTFOUND ? "This message is not held any more."
                                  : "The release could not be requested.";
    return -1;
}

int web_item_act(struct web_req *req, const struct store_qitem *item, const char *action,
                 const char *whitelist, int64_t expires, const char *origin, const char **why_r)
{
    struct store_release r = {0};
    const char *error;
    int rc;

    if (item->status != STORE_HELD) {
        *why_r = "This message is not held any more.";
        return -1;
    }
    if (strncmp(action, "release", 7) == 0) {
        enum svc_release policy = web_item_policy(req, item);
        if (policy == SVC_RELEASE_ADMIN) {
            *why_r = "Only your administrator can release this message: ask them.";
            return -1;
        }
        if (policy == SVC_RELEASE_REQUEST)
            return page_ask(req, item, origin, why_r);
    }
    if (strcmp(action, "delete") == 0) {
        if (store_quarantine_set_status(req->st, item->id, STORE_DELETED, &error) != 0) {
            *why_r = "The message could not be deleted.";
            return -1;
        }
        store_audit_via(req->st, req->sess.address, "delete", item->id, origin, req->via, &error);
        return 0;
    }
    if (strcmp(action, "not-spam") == 0)
        return web_learn_not_spam(req, item, origin, why_r);
    if (strcmp(action, "release") != 0 && strcmp(action, "release-whitelist") != 0) {
        *why_r = "Unknown action.";
        return -1;
    }
    snprintf(r.item_id, sizeof(r.item_id), "%s", item->id);
    snprintf(r.requested_by, sizeof(r.requested_by), "%s", req->sess.address);
    snprintf(r.origin, sizeof(r.origin), "%s", origin);
    snprintf(r.via, sizeof(r.via), "%s", req->via);
    if (strcmp(action, "release-whitelist") == 0) {
        if (strcmp(whitelist, "address") != 0 && strcmp(whitelist, "domain") != 0) {
            *why_r = "Choose the sender's address or domain.";
            return -1;
        }
        if (item->sender[0] == '\0') { /* the null sender <>: nothing to allow */
            *why_r = "This message has no sender (it is a delivery report): there is nothing "
                     "to whitelist. Release it without whitelisting.";
            return -1;
        }
        /* with an expiry the entry is made here; without, opesd makes it on delivery */
        if (expires > 0 && page_whitelist(req, item, whitelist, expires, origin, why_r) < 0)
            return -1;
        if (expires == 0)
            snprintf(r.whitelist, sizeof(r.whitelist), "%s", whitelist);
    }
    rc = store_release_request(req->st, &r, &error);
    if (rc != 0) {
        if (rc < 0)
            log_warnx("web: release %s: %s", item->id, error);
        *why_r = rc == STORE_NOTFOUND ? "This message is not held any more."
                                      : "The release could not be requested.";
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
