/*
 * pages_domlists.c - /admin/lists: the white and block lists of the
 * addresses (and @domain owners) an approver decides for. A global
 * administrator sees every list; a domain administrator the entries whose
 * owner is in their domains, and adds or removes entries there only (an
 * owner or entry beyond answers 404).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/log.h"
#include "opes/store.h"
#include "opes/web_access.h"
#include "opes/web_form.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

struct dl_rows {
    struct web_req *req;
    struct html *h;  /* NULL: only look for find_id */
    int64_t find_id; /* an entry the user may remove, or 0 */
    bool found;
};

/* dl_row - one entry the user decides for, with its remove form. */
static void dl_row(const struct store_list_entry *e, void *ctx)
{
    struct dl_rows *r = ctx;

    if (!web_may_decide(&r->req->sess, e->owner))
        return;
    if (e->id == r->find_id)
        r->found = true;
    if (r->h == NULL)
        return;
    html_add(r->h, "<tr><td>%s</td><td>%s</td><td>%s</td><td>", e->owner,
             e->kind == STORE_WHITELIST ? "white" : "block", e->sender);
    html_add(r->h, "<form method=\"post\" action=\"/admin/lists\">");
    web_page_csrf(r->h, r->req);
    html_add(r->h,
             "<button type=\"submit\" name=\"remove\" value=\"%L\" class=\"danger\">%s</button>"
             "</form></td></tr>\n",
             e->id, web_t(r->req, "roles.web.remove"));
}

void page_domain_lists(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    struct dl_rows r = {.req = req, .h = &h};
    const char *error;

    if (!web_is_approver(&req->sess)) {
        web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
        return;
    }
    resp->no_store = true;
    web_page_begin(&h, req, web_t(req, "roles.web.lists"));
    html_add(&h,
             "<table id=\"lists\"><thead><tr><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\"></th></tr></thead><tbody>\n",
             web_t(req, "roles.web.owner"), web_t(req, "roles.web.list"),
             web_t(req, "roles.mail.from"));
    if (store_list_show(req->st, NULL, dl_row, &r, &error) < 0)
        log_warnx("web: lists: %s", error);
    html_add(&h, "</tbody></table>\n<form method=\"post\" action=\"/admin/lists\">");
    web_page_csrf(&h, req);
    html_add(&h,
             "<label for=\"owner\">%s</label><input id=\"owner\" name=\"owner\" maxlength=\"254\" "
             "required><label for=\"sender\">%s</label><input id=\"sender\" name=\"sender\" "
             "maxlength=\"254\" required><select name=\"kind\"><option value=\"white\">white"
             "</option><option value=\"block\">block</option></select>"
             "<button type=\"submit\">%s</button></form>\n",
             web_t(req, "roles.web.owner"), web_t(req, "roles.mail.from"),
             web_t(req, "roles.web.add"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_domain_lists_post(struct web_req *req, struct web_resp *resp)
{
    const char *remove = web_form_get(&req->form, "remove"), *error;
    const char *owner = web_form_get(&req->form, "owner"), *kind = web_form_get(&req->form, "kind");
    const char *sender = web_form_get(&req->form, "sender");
    struct store_list_entry e = {.created = req->now};
    struct dl_rows r = {.req = req};

    if (!web_is_approver(&req->sess)) {
        web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
        return;
    }
    if (remove != NULL) {
        r.find_id = strtoll(remove, NULL, 10);
        if (r.find_id <= 0 || store_list_show(req->st, NULL, dl_row, &r, &error) < 0 || !r.found) {
            web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
            return;
        }
        if (store_list_remove(req->st, r.find_id, &error) < 0) {
            web_page_error(req, resp, 500, web_t(req, "roles.web.not_done"));
            return;
        }
        store_audit(req->st, req->sess.address, "list-remove", remove, "portal", &error);
        web_resp_redirect(resp, "/admin/lists");
        return;
    }
    if (owner == NULL || kind == NULL ||
        (strcmp(kind, "white") != 0 && strcmp(kind, "block") != 0) || !web_sender_ok(sender) ||
        !web_sender_ok(owner)) {
        web_page_error(req, resp, 400, web_t(req, "roles.web.choose"));
        return;
    }
    if (!web_may_decide(&req->sess, owner)) { /* another domain's owner is "not found" */
        web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
        return;
    }
    e.kind = strcmp(kind, "white") == 0 ? STORE_WHITELIST : STORE_BLOCKLIST;
    snprintf(e.owner, sizeof(e.owner), "%s", owner);
    snprintf(e.sender, sizeof(e.sender), "%s", sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", req->sess.address);
    snprintf(e.origin, sizeof(e.origin), "portal");
    if (store_list_add(req->st, &e, &error) < 0) {
        log_warnx("web: list add: %s", error);
        web_page_error(req, resp, 500, web_t(req, "roles.web.not_done"));
        return;
    }
    store_audit(req->st, req->sess.address, "list-add", e.sender, "portal", &error);
    web_resp_redirect(resp, "/admin/lists");
}
