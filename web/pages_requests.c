/*
 * pages_requests.c - the approvers' pages: /admin/requests, the queue of
 * release requests (what a recipient asked to release when the service that
 * held it has release = request) to approve or deny with a comment, and
 * /admin/delegates, who sees the held mail of which shared mailbox. A global
 * administrator sees all of them; a domain administrator those of their
 * domains only (another domain's request or mailbox answers 404); anyone
 * else gets 404 as for a page that does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/store.h"
#include "opes/web_access.h"
#include "opes/web_form.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

/* rq_approver - true when req's user decides something; else the 404 page is made. */
static bool rq_approver(struct web_req *req, struct web_resp *resp)
{
    if (web_is_approver(&req->sess))
        return true;
    web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
    return false;
}

/* rq_scope - the domain administrator whose domains bound the lists (NULL: all). */
static const char *rq_scope(const struct web_req *req)
{
    return web_sees_all(&req->sess) ? NULL : req->sess.address;
}

struct rq_list {
    struct web_req *req;
    struct html *h;
    size_t n;
    bool decided_only; /* the recent decisions: pending ones are in the queue above */
};

/* rq_row - one request in the queue, with its decision form while pending. */
static void rq_row(const struct store_approval *a, void *ctx)
{
    struct rq_list *l = ctx;
    struct web_req *req = l->req;
    char when[32];

    if (l->decided_only && strcmp(a->state, "pending") == 0)
        return;
    l->n++;
    web_page_time(a->created, when, sizeof(when));
    html_add(l->h,
             "<tr data-request=\"%L\"><td>%s</td><td>%s%s%s</td><td>%s</td><td>%s</td>"
             "<td>%s</td><td>%s</td><td>%s</td><td>",
             a->id, when, a->item.recipient, a->item.original[0] ? " \u2190 " : "",
             a->item.original, a->item.sender, a->item.subject, a->item.service, a->requested_by,
             a->reason);
    if (strcmp(a->state, "pending") != 0) {
        html_add(l->h, "%s: %s %s</td></tr>\n",
                 web_t(req, strcmp(a->state, "approved") == 0 ? "roles.outcome.approved"
                                                              : "roles.outcome.denied"),
                 a->decided_by, a->comment);
        return;
    }
    html_add(l->h, "<form method=\"post\" action=\"/admin/requests\">");
    web_page_csrf(l->h, req);
    html_add(l->h,
             "<input type=\"hidden\" name=\"id\" value=\"%L\">"
             "<label for=\"comment-%L\">%s</label>"
             "<input id=\"comment-%L\" name=\"comment\" maxlength=\"250\">"
             "<button type=\"submit\" name=\"decision\" value=\"approve\">%s</button> "
             "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"danger\">%s</button>"
             "</form></td></tr>\n",
             a->id, a->id, web_t(req, "roles.mail.comment"), a->id, web_t(req, "roles.web.approve"),
             web_t(req, "roles.web.deny"));
}

/* rq_table - the requests in state (NULL: the last decided ones too). */
static void rq_table(struct web_req *req, struct html *h, const char *state, const char *heading)
{
    struct rq_list l = {.req = req, .h = h, .decided_only = state == NULL};
    const char *error;

    html_add(h,
             "<h2>%s</h2>\n<table><thead><tr><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th></tr>"
             "</thead><tbody>\n",
             heading, web_t(req, "roles.web.when"), web_t(req, "roles.web.for"),
             web_t(req, "roles.mail.from"), web_t(req, "roles.mail.subject"),
             web_t(req, "roles.mail.held_by"), web_t(req, "roles.web.asked_by"),
             web_t(req, "roles.mail.reason"), web_t(req, "roles.web.decision"));
    if (store_approval_list(req->st, state, rq_scope(req), state != NULL ? 200 : 30, rq_row, &l,
                            &error) < 0)
        log_warnx("web: requests: %s", error);
    html_add(h, "</tbody></table>\n");
    if (l.n == 0)
        html_add(h, "<p class=\"muted\">%s</p>\n", web_t(req, "roles.web.none"));
}

/* rq_audit_row - one line of the audit of a domain administrator's domains. */
static void rq_audit_row(const struct store_audit_entry *e, void *ctx)
{
    char when[32];

    web_page_time(e->at, when, sizeof(when));
    html_add(ctx, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", when,
             e->actor, e->action, e->object, e->origin);
}

/* rq_audit - for a domain administrator: the audit of their domains (an administrator has /admin).
 */
static void rq_audit(struct web_req *req, struct html *h)
{
    const char *error;

    if (web_sees_all(&req->sess))
        return;
    html_add(h,
             "<h2>%s</h2>\n<table id=\"audit\"><thead><tr><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\">%s</th></tr></thead><tbody>\n",
             web_t(req, "roles.web.audit"), web_t(req, "roles.web.audit_at"),
             web_t(req, "roles.web.audit_actor"), web_t(req, "roles.web.audit_action"),
             web_t(req, "roles.web.audit_object"), web_t(req, "roles.web.audit_origin"));
    if (store_audit_list_for(req->st, req->sess.address, 100, rq_audit_row, h, &error) < 0)
        log_warnx("web: audit: %s", error);
    html_add(h, "</tbody></table>\n");
}

void page_requests(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    const char *done = web_form_get(&req->query, "done");

    if (!rq_approver(req, resp))
        return;
    resp->no_store = true;
    web_page_begin(&h, req, web_t(req, "roles.web.requests"));
    if (done != NULL && (strcmp(done, "approve") == 0 || strcmp(done, "deny") == 0))
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n",
                 web_t(req, strcmp(done, "approve") == 0 ? "roles.web.done_approve"
                                                         : "roles.web.done_deny"));
    rq_table(req, &h, "pending", web_t(req, "roles.web.pending"));
    rq_table(req, &h, NULL, web_t(req, "roles.web.recent"));
    rq_audit(req, &h);
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_requests_post(struct web_req *req, struct web_resp *resp)
{
    const char *id = web_form_get(&req->form, "id"),
               *decision = web_form_get(&req->form, "decision");
    const char *comment = web_form_get(&req->form, "comment"), *error;
    struct store_approval a;
    long long n = id != NULL ? strtoll(id, NULL, 10) : 0;
    bool approve = decision != NULL && strcmp(decision, "approve") == 0;
    int rc;

    if (!rq_approver(req, resp))
        return;
    if (n <= 0 || decision == NULL || (!approve && strcmp(decision, "deny") != 0)) {
        web_page_error(req, resp, 400, web_t(req, "roles.web.choose"));
        return;
    }
    rc = store_approval_get(req->st, n, &a, &error);
    /* another domain's request is "not found", like one that does not exist */
    if (rc == STORE_NOTFOUND || (rc == 0 && !web_may_decide(&req->sess, a.item.recipient))) {
        web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
        return;
    }
    if (rc == 0)
        rc = store_approval_decide(req->st, n, approve, req->sess.address, "portal",
                                   comment != NULL ? comment : "", &error);
    if (rc != 0) {
        if (rc < 0)
            log_warnx("web: request %lld: %s", n, error);
        web_page_message(req, resp, rc < 0 ? 500 : 409, web_t(req, "roles.web.not_done"),
                         web_t(req, "roles.web.decided_already"), "/admin/requests",
                         web_t(req, "roles.web.requests"));
        return;
    }
    web_resp_redirect(resp, approve ? "/admin/requests?done=approve" : "/admin/requests?done=deny");
}

/* rq_delegate_row - one delegate of a mailbox the user decides for, with its remove form. */
static void rq_delegate_row(const struct store_delegate *d, void *ctx)
{
    struct rq_list *l = ctx;

    if (!web_may_decide(&l->req->sess, d->owner))
        return;
    l->n++;
    html_add(l->h,
             "<tr><td>%s</td><td>%s</td><td><form method=\"post\" action=\"/admin/delegates\">",
             d->owner, d->address);
    web_page_csrf(l->h, l->req);
    html_add(l->h,
             "<input type=\"hidden\" name=\"owner\" value=\"%s\">"
             "<input type=\"hidden\" name=\"address\" value=\"%s\">"
             "<button type=\"submit\" name=\"do\" value=\"remove\" class=\"danger\">%s</button>"
             "</form></td></tr>\n",
             d->owner, d->address, web_t(l->req, "roles.web.remove"));
}

void page_delegates(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    struct rq_list l = {.req = req, .h = &h};
    const char *error;

    if (!rq_approver(req, resp))
        return;
    resp->no_store = true;
    web_page_begin(&h, req, web_t(req, "roles.web.delegates"));
    html_add(&h,
             "<p>%s</p>\n<table><thead><tr><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
             "<th scope=\"col\"></th></tr></thead><tbody>\n",
             web_t(req, "roles.web.delegates_what"), web_t(req, "roles.web.mailbox"),
             web_t(req, "roles.web.delegate"));
    if (store_delegate_list(req->st, NULL, NULL, rq_delegate_row, &l, &error) < 0)
        log_warnx("web: delegates: %s", error);
    html_add(&h, "</tbody></table>\n<form method=\"post\" action=\"/admin/delegates\">");
    web_page_csrf(&h, req);
    html_add(&h,
             "<label for=\"owner\">%s</label><input id=\"owner\" name=\"owner\" maxlength=\"254\" "
             "required><label for=\"address\">%s</label><input id=\"address\" name=\"address\" "
             "maxlength=\"254\" required><button type=\"submit\" name=\"do\" value=\"add\">%s"
             "</button></form>\n",
             web_t(req, "roles.web.mailbox"), web_t(req, "roles.web.delegate"),
             web_t(req, "roles.web.add"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_delegates_post(struct web_req *req, struct web_resp *resp)
{
    const char *owner = web_form_get(&req->form, "owner"),
               *addr = web_form_get(&req->form, "address");
    const char *what = web_form_get(&req->form, "do"), *error;
    bool add = what != NULL && strcmp(what, "add") == 0;
    char object[600];
    int rc;

    if (!rq_approver(req, resp))
        return;
    if (owner == NULL || addr == NULL || what == NULL || (!add && strcmp(what, "remove") != 0)) {
        web_page_error(req, resp, 400, web_t(req, "roles.web.choose"));
        return;
    }
    /* a mailbox of another domain is "not found" */
    if (!web_may_decide(&req->sess, owner)) {
        web_page_error(req, resp, 404, web_t(req, "roles.web.nothing_here"));
        return;
    }
    rc = add ? store_delegate_add(req->st, owner, addr, req->sess.address, &error)
             : store_delegate_remove(req->st, owner, addr, &error);
    if (rc < 0) {
        web_page_message(req, resp, 400, web_t(req, "roles.web.not_done"), error,
                         "/admin/delegates", web_t(req, "roles.web.delegates"));
        return;
    }
    snprintf(object, sizeof(object), "%s:%s", owner, addr);
    store_audit(req->st, req->sess.address, add ? "delegate-add" : "delegate-remove", object,
                "portal", &error);
    web_resp_redirect(resp, "/admin/delegates");
}

void web_item_roles(struct html *h, struct web_req *req, const struct store_qitem *it)
{
    struct store_approval a;
    const char *error;
    char text[600];
    const char *args[] = {"address", it->original, "state", "", NULL};

    if (it->original[0] != '\0') {
        i18n_fill(text, sizeof(text), web_t(req, "roles.web.for_alias"), args);
        html_add(h, "<p class=\"muted\" id=\"original\">%s</p>\n", text);
    }
    if (store_approval_of(req->st, it->id, &a, &error) != 0)
        return;
    args[3] = web_t(req, strcmp(a.state, "pending") == 0    ? "roles.web.state.pending"
                         : strcmp(a.state, "approved") == 0 ? "roles.outcome.approved"
                                                            : "roles.outcome.denied");
    i18n_fill(text, sizeof(text), web_t(req, "roles.web.request_state"), args + 2);
    html_add(h, "<p class=\"notice\" id=\"request\">%s%s%s</p>\n", text,
             a.comment[0] ? " \u2014 " : "", a.comment);
}

bool web_item_release_form(struct html *h, const struct web_req *req, const struct store_qitem *it)
{
    enum svc_release policy = web_item_policy(req, it);

    if (policy == SVC_RELEASE_SELF)
        return false;
    if (policy == SVC_RELEASE_ADMIN) {
        html_add(h, "<p class=\"muted\">%s</p>\n", web_t(req, "roles.web.admin_only"));
        return true;
    }
    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\" class=\"ask\">", it->id);
    web_page_csrf(h, req);
    html_add(h,
             "<p>%s</p><input type=\"hidden\" name=\"action\" value=\"release\">"
             "<label for=\"reason\">%s</label><input id=\"reason\" name=\"reason\" "
             "maxlength=\"250\"><button type=\"submit\">%s</button></form>\n",
             web_t(req, "roles.web.ask_what"), web_t(req, "roles.web.ask_reason"),
             web_t(req, "roles.web.ask"));
    return true;
}
