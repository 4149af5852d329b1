/*
 * pages_user.c - what a recipient sets for themselves: white and block
 * list entries (/lists), and preferences (/prefs): how they are told about
 * held mail, consent to opt-out and opt-in services, and signed bypass
 * tokens to hand to a sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/schedule.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_svcinfo.h"

struct u_lists {
    struct html *h;
    const struct web_req *req;
    size_t n;
    int64_t find_id; /* page_lists_post: is this id the user's? */
    bool found;
};

static void u_list_row(const struct store_list_entry *e, void *ctx)
{
    struct u_lists *l = ctx;
    char exp[32] = "never";

    if (l->find_id != 0) {
        l->found = l->found || e->id == l->find_id;
        return;
    }
    l->n++;
    if (e->expires != 0)
        web_page_time(e->expires, exp, sizeof(exp));
    html_add(l->h,
             "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>"
             "<form method=\"post\" action=\"/lists\" class=\"inline\">",
             e->kind == STORE_WHITELIST ? "allow" : "block", e->sender, exp, e->origin);
    web_page_csrf(l->h, l->req);
    html_add(l->h,
             "<input type=\"hidden\" name=\"remove\" value=\"%L\">"
             "<button type=\"submit\" class=\"secondary\" aria-label=\"Remove %s\">Remove"
             "</button></form></td></tr>\n",
             e->id, e->sender);
}

void page_lists(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    struct u_lists l = {.h = &h, .req = req};
    const char *error;

    web_page_begin(&h, req, "White and block lists");
    html_add(&h, "<p>Mail from a sender on your allow list is never held by services that "
                 "honour the portal; mail from a sender on your block list is held.</p>\n"
                 "<div class=\"wrap\"><table id=\"lists\"><thead><tr><th scope=\"col\">List</th>"
                 "<th scope=\"col\">Sender</th><th scope=\"col\">Expires</th>"
                 "<th scope=\"col\">Made by</th><th scope=\"col\">Remove</th></tr></thead>"
                 "<tbody>\n");
    if (store_list_show(req->st, req->sess.address, u_list_row, &l, &error) < 0)
        log_warnx("web: lists: %s", error);
    html_add(&h, "</tbody></table></div>\n");
    if (l.n == 0)
        html_add(&h, "<p>No entries.</p>\n");
    html_add(&h, "<h2>Add an entry</h2>\n<form method=\"post\" action=\"/lists\" "
                 "class=\"stack\">");
    web_page_csrf(&h, req);
    html_add(&h, "<label for=\"kind\">List</label><select id=\"kind\" name=\"kind\">"
                 "<option value=\"white\">allow</option><option value=\"block\">block</option>"
                 "</select><label for=\"sender\">Sender address or @domain</label>"
                 "<input id=\"sender\" name=\"sender\" required maxlength=\"254\">"
                 "<label for=\"days\">Expires after (days, empty: never)</label>"
                 "<input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"3650\">"
                 "<div><button type=\"submit\">Add</button></div></form>\n");
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

static void u_list_remove(struct web_req *req, struct web_resp *resp, const char *id_s)
{
    struct u_lists l = {.find_id = strtoll(id_s, NULL, 10)};
    const char *error;

    if (l.find_id <= 0 || store_list_show(req->st, req->sess.address, u_list_row, &l, &error) < 0 ||
        !l.found) {
        web_page_error(req, resp, 404, "There is no such entry in your lists.");
        return;
    }
    if (store_list_remove(req->st, l.find_id, &error) < 0) {
        web_page_error(req, resp, 500, "The entry could not be removed.");
        return;
    }
    store_audit(req->st, req->sess.address, "list-remove", id_s, "portal", &error);
    web_resp_redirect(resp, "/lists");
}

void page_lists_post(struct web_req *req, struct web_resp *resp)
{
    const char *remove = web_form_get(&req->form, "remove");
    const char *kind = web_form_get(&req->form, "kind");
    const char *sender = web_form_get(&req->form, "sender");
    const char *days = web_form_get(&req->form, "days"), *error;
    struct store_list_entry e = {.created = req->now};
    long d = days != NULL && days[0] != '\0' ? strtol(days, NULL, 10) : 0;

    if (remove != NULL) {
        u_list_remove(req, resp, remove);
        return;
    }
    if (kind == NULL || (strcmp(kind, "white") != 0 && strcmp(kind, "block") != 0) ||
        !web_sender_ok(sender) || d < 0 || d > 3650) {
        web_page_error(req, resp, 400, "Give a sender address or @domain, and a list.");
        return;
    }
    e.kind = strcmp(kind, "white") == 0 ? STORE_WHITELIST : STORE_BLOCKLIST;
    e.expires = d > 0 ? req->now + (int64_t)d * 86400 : 0;
    snprintf(e.owner, sizeof(e.owner), "%s", req->sess.address);
    snprintf(e.sender, sizeof(e.sender), "%s", sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", req->sess.address);
    snprintf(e.origin, sizeof(e.origin), "portal");
    if (store_list_add(req->st, &e, &error) < 0) {
        log_warnx("web: list add: %s", error);
        web_page_error(req, resp, 500, "The entry could not be stored.");
        return;
    }
    store_audit(req->st, req->sess.address, "list-add", e.sender, "portal", &error);
    web_resp_redirect(resp, "/lists");
}

/* ------------------------------------------------------------ preferences */

static void u_prefs_notify(struct html *h, struct web_req *req)
{
    static const char *const modes[] = {"default", "immediate", "digest", "off"};
    char mode[16], sched[64];
    const char *error;

    if (store_web_prefs_get(req->st, req->sess.address, mode, sizeof(mode), sched, sizeof(sched),
                            &error) < 0)
        log_warnx("web: prefs: %s", error);
    html_add(h, "<h2>Notifications</h2>\n<form method=\"post\" action=\"/prefs\" "
                "class=\"stack\">");
    web_page_csrf(h, req);
    html_add(h, "<input type=\"hidden\" name=\"what\" value=\"notify\">"
                "<label for=\"mode\">When mail is held for you</label>"
                "<select id=\"mode\" name=\"mode\">");
    for (size_t i = 0; i < 4; i++)
        html_add(h, "<option%s>%s</option>", strcmp(modes[i], mode) == 0 ? " selected" : "",
                 modes[i]);
    html_add(h,
             "</select><label for=\"schedule\">Digest schedule (daily@08, or every 6h)</label>"
             "<input id=\"schedule\" name=\"schedule\" maxlength=\"60\" value=\"%s\">"
             "<div><button type=\"submit\">Save</button></div></form>\n",
             sched);
}

static void u_prefs_consent(struct html *h, struct web_req *req)
{
    const char *error;
    bool any = false;

    html_add(h, "<h2>Services you can choose</h2>\n<form method=\"post\" action=\"/prefs\" "
                "class=\"stack\">");
    web_page_csrf(h, req);
    html_add(h, "<input type=\"hidden\" name=\"what\" value=\"consent\">");
    for (size_t i = 0; i < req->ctx->nsvc; i++) {
        const struct web_svcinfo *s = &req->ctx->svc[i];
        bool optin = s->consent == SVC_OPT_IN;
        int c;
        if (s->consent == SVC_MANDATORY)
            continue;
        any = true;
        c = store_user_consent(req->st, req->sess.address, s->name, &error);
        html_add(h,
                 "<div><input type=\"checkbox\" id=\"consent-%s\" name=\"on\" value=\"%s\"%s>"
                 " <label for=\"consent-%s\" class=\"inline\">%s (%s): %s</label></div>",
                 s->name, s->name, (c < 0 ? !optin : c == 1) ? " checked" : "", s->name, s->name,
                 web_svcinfo_consent(s), s->what);
    }
    if (!any)
        html_add(h, "<p>Every service here is mandatory.</p>");
    else
        html_add(h, "<div><button type=\"submit\">Save</button></div>");
    html_add(h, "</form>\n");
}

static void u_prefs_token_form(struct html *h, struct web_req *req)
{
    bool any = false;

    html_add(h, "<h2>Let a sender through</h2>\n");
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        any = any || (req->ctx->svc[i].bypass & SVC_BYPASS_TOKEN) != 0;
    if (!any) {
        html_add(h, "<p>No service here accepts bypass tokens.</p>\n");
        return;
    }
    html_add(h, "<p>A bypass token lets one sender's mail through the service you choose, for a "
                "while. Give the sender the header line that this form makes.</p>\n"
                "<form method=\"post\" action=\"/prefs\" class=\"stack\">");
    web_page_csrf(h, req);
    html_add(h, "<input type=\"hidden\" name=\"what\" value=\"token\">"
                "<label for=\"tsender\">Sender address or @domain</label>"
                "<input id=\"tsender\" name=\"sender\" required maxlength=\"254\">"
                "<label for=\"tservice\">Service</label><select id=\"tservice\" name=\"service\">");
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        if ((req->ctx->svc[i].bypass & SVC_BYPASS_TOKEN) != 0)
            html_add(h, "<option>%s</option>", req->ctx->svc[i].name);
    html_add(h, "</select><label for=\"tdays\">Valid for (days)</label>"
                "<input id=\"tdays\" name=\"days\" type=\"number\" min=\"1\" max=\"365\" "
                "value=\"30\"><div><button type=\"submit\">Make a token</button></div></form>\n");
}

static void u_prefs_page(struct web_req *req, struct web_resp *resp, const char *notice,
                         const char *header_line)
{
    struct html h = {0};

    web_page_begin(&h, req, "Preferences");
    if (notice != NULL)
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n", notice);
    if (header_line != NULL)
        html_add(&h,
                 "<p>Give this header line to the sender:</p>\n<pre class=\"preview\" "
                 "id=\"bypass-line\">%s</pre>\n",
                 header_line);
    page_spam_link(&h, req);
    u_prefs_notify(&h, req);
    u_prefs_consent(&h, req);
    u_prefs_token_form(&h, req);
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

void page_prefs(struct web_req *req, struct web_resp *resp)
{
    u_prefs_page(req, resp, NULL, NULL);
}

static void u_prefs_token(struct web_req *req, struct web_resp *resp)
{
    const char *sender = web_form_get(&req->form, "sender");
    const char *service = web_form_get(&req->form, "service");
    const char *days = web_form_get(&req->form, "days"), *error;
    const struct web_svcinfo *s =
        service != NULL ? web_svcinfo_find(req->ctx->svc, req->ctx->nsvc, service) : NULL;
    long d = days != NULL ? strtol(days, NULL, 10) : 0;
    char token[TOKEN_MAX], line[TOKEN_MAX + 400], object[600];

    if (s == NULL || (s->bypass & SVC_BYPASS_TOKEN) == 0 || !web_sender_ok(sender) || d < 1 ||
        d > 365) {
        web_page_error(req, resp, 400,
                       "Choose a service that takes tokens, a sender, and "
                       "1 to 365 days.");
        return;
    }
    if (token_bypass_issue(store_keys(req->st), req->sess.address, sender, s->name,
                           req->now + (int64_t)d * 86400, token, sizeof(token)) < 0) {
        web_page_error(req, resp, 400, "The sender is too long.");
        return;
    }
    snprintf(line, sizeof(line), "OPES-Bypass: %s; token=%s", s->uri, token);
    snprintf(object, sizeof(object), "%s:%s:%s", req->sess.address, s->name, sender);
    store_audit(req->st, req->sess.address, "token-issue", object, "portal", &error);
    u_prefs_page(req, resp, "The token is made.", line);
}

static void u_prefs_consent_save(struct web_req *req)
{
    const char *error;

    for (size_t i = 0; i < req->ctx->nsvc; i++) {
        const struct web_svcinfo *s = &req->ctx->svc[i];
        size_t pos = 0;
        const char *v;
        bool on = false;
        char object[320];
        if (s->consent == SVC_MANDATORY)
            continue;
        while ((v = web_form_next(&req->form, "on", &pos)) != NULL)
            on = on || strcmp(v, s->name) == 0;
        if (store_user_set_consent(req->st, req->sess.address, s->name, on, &error) < 0) {
            log_warnx("web: consent: %s", error);
            continue;
        }
        snprintf(object, sizeof(object), "%s:%s=%s", req->sess.address, s->name, on ? "on" : "off");
        store_audit(req->st, req->sess.address, "consent", object, "portal", &error);
    }
}

/* u_schedule_ok - a digest schedule: absent or empty (the default), or one schedule.h reads. */
static bool u_schedule_ok(const char *s)
{
    struct schedule sch;

    return s == NULL || s[0] == '\0' || schedule_parse(s, &sch) == 0;
}

void page_prefs_post(struct web_req *req, struct web_resp *resp)
{
    const char *what = web_form_get(&req->form, "what"), *error;
    const char *mode = web_form_get(&req->form, "mode");
    const char *sched = web_form_get(&req->form, "schedule");

    if (what != NULL && strcmp(what, "token") == 0) {
        u_prefs_token(req, resp);
        return;
    }
    if (what != NULL && strcmp(what, "consent") == 0) {
        u_prefs_consent_save(req);
        u_prefs_page(req, resp, "Your choices are saved.", NULL);
        return;
    }
    if (what == NULL || strcmp(what, "notify") != 0 || mode == NULL) {
        web_page_error(req, resp, 400, "The form could not be read.");
        return;
    }
    if (!u_schedule_ok(sched)) {
        web_page_error(req, resp, 400,
                       "A digest schedule is daily@HH (00-23) or every Nh (1-168 hours).");
        return;
    }
    if (store_web_prefs_set(req->st, req->sess.address, mode, sched != NULL ? sched : "", &error) <
        0) {
        web_page_error(req, resp, 400, "Choose one of the notification modes.");
        return;
    }
    store_audit(req->st, req->sess.address, "prefs", mode, "portal", &error);
    u_prefs_page(req, resp, "Your preferences are saved.", NULL);
}
