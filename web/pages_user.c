/*
 * pages_user.c - what a recipient sets for themselves: allow list and block
 * list entries (/lists), and preferences (/prefs): how they are told about
 * held mail, their language and time zone, consent to opt-out and opt-in
 * services, and signed bypass tokens to hand to a sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/i18n.h"
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
    const struct web_req *req = l->req;
    char exp[64], origin[40];

    if (l->find_id != 0) {
        l->found = l->found || e->id == l->find_id;
        return;
    }
    l->n++;
    if (e->expires != 0)
        web_page_date(req, e->expires, I18N_DAY, exp, sizeof(exp));
    else
        snprintf(exp, sizeof(exp), "%s", web_t(req, "web.lists.never"));
    snprintf(origin, sizeof(origin), "web.lists.origin.%s", e->origin);
    html_add(l->h,
             "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>"
             "<form method=\"post\" action=\"/lists\" class=\"inline\">",
             web_t(req, e->kind == STORE_WHITELIST ? "web.lists.allow" : "web.lists.block"),
             e->sender, exp, i18n_has(I18N_BASE, origin) ? web_t(req, origin) : e->origin);
    web_page_csrf(l->h, req);
    html_add(l->h,
             "<input type=\"hidden\" name=\"remove\" value=\"%L\">"
             "<button type=\"submit\" class=\"secondary small\">%s<span class=\"vh\">: %s"
             "</span></button></form></td></tr>\n",
             e->id, web_t(req, "web.lists.remove"), e->sender);
}

void page_lists(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    struct u_lists l = {.h = &h, .req = req};
    const char *error;
    static const char *const cols[] = {"web.lists.list",    "web.lists.sender", "web.lists.expires",
                                       "web.lists.made_by", "web.lists.remove", NULL};

    web_page_begin(&h, req, "web.lists.title");
    html_add(&h, "<p>%s</p>\n<div class=\"wrap\"><table id=\"lists\">",
             web_t(req, "web.lists.intro"));
    web_page_thead(&h, req, cols);
    html_add(&h, "<tbody>\n");
    if (store_list_show(req->st, req->sess.address, u_list_row, &l, &error) < 0)
        log_warnx("web: lists: %s", error);
    html_add(&h, "</tbody></table></div>\n");
    if (l.n == 0)
        html_add(&h, "<p>%s</p>\n", web_t(req, "web.lists.empty"));
    html_add(&h, "<h2>%s</h2>\n<form method=\"post\" action=\"/lists\" class=\"stack\">",
             web_t(req, "web.lists.add"));
    web_page_csrf(&h, req);
    html_add(&h,
             "<label for=\"kind\">%s</label><select id=\"kind\" name=\"kind\">"
             "<option value=\"white\">%s</option><option value=\"block\">%s</option>"
             "</select><label for=\"sender\">%s</label>"
             "<input id=\"sender\" name=\"sender\" required maxlength=\"254\">"
             "<label for=\"days\">%s</label>"
             "<input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"3650\">"
             "<div><button type=\"submit\">%s</button></div></form>\n",
             web_t(req, "web.lists.list"), web_t(req, "web.lists.allow"),
             web_t(req, "web.lists.block"), web_t(req, "web.lists.sender_hint"),
             web_t(req, "web.lists.days"), web_t(req, "web.lists.add_button"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

static void u_list_remove(struct web_req *req, struct web_resp *resp, const char *id_s)
{
    struct u_lists l = {.find_id = strtoll(id_s, NULL, 10)};
    const char *error;

    if (l.find_id <= 0 || store_list_show(req->st, req->sess.address, u_list_row, &l, &error) < 0 ||
        !l.found) {
        web_page_error(req, resp, 404, "web.err.no_entry");
        return;
    }
    if (store_list_remove(req->st, l.find_id, &error) < 0) {
        web_page_error(req, resp, 500, "web.err.entry_remove");
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
        web_page_error(req, resp, 400, "web.err.entry_form");
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
        web_page_error(req, resp, 500, "web.err.entry_store");
        return;
    }
    store_audit(req->st, req->sess.address, "list-add", e.sender, "portal", &error);
    web_resp_redirect(resp, "/lists");
}

/* ------------------------------------------------------------ preferences */

/* u_hour - the hour of a "daily@HH" schedule, or -1. */
static int u_hour(const char *sched)
{
    int hh;
    char end;

    if (sched == NULL || sscanf(sched, "daily@%2d%c", &hh, &end) != 1 || hh < 0 || hh > 23)
        return -1;
    return hh;
}

static void u_prefs_notify(struct html *h, struct web_req *req)
{
    static const char *const modes[] = {"immediate", "digest", "off"};
    const struct opes_config *cfg = req->ctx->cfg;
    char mode[16] = "default", sched[64] = "";
    const char *error, *now;
    int hour;

    if (store_web_prefs_get(req->st, req->sess.address, mode, sizeof(mode), sched, sizeof(sched),
                            &error) < 0)
        log_warnx("web: prefs: %s", error);
    /* "default": the choice the operator made for everyone, shown as the one in effect */
    now = strcmp(mode, "default") == 0 ? config_notify_mode_name(cfg->notify_default_mode) : mode;
    hour = u_hour(sched);
    hour = hour >= 0 ? hour : u_hour(cfg->notify_digest_schedule);
    hour = hour >= 0 ? hour : 8;
    html_add(h, "<h2>%s</h2>\n<form method=\"post\" action=\"/prefs\" class=\"stack\">",
             web_t(req, "web.prefs.notify_h"));
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"what\" value=\"notify\"><fieldset><legend>%s"
             "</legend>",
             web_t(req, "web.prefs.notify_legend"));
    for (size_t i = 0; i < 3; i++) {
        char key[40];
        snprintf(key, sizeof(key), "web.prefs.mode.%s", modes[i]);
        html_add(h,
                 "<div class=\"choice\"><input type=\"radio\" id=\"mode-%s\" name=\"mode\" "
                 "value=\"%s\"%s><label for=\"mode-%s\" class=\"inline\">%s</label>",
                 modes[i], modes[i], strcmp(now, modes[i]) == 0 ? " checked" : "", modes[i],
                 web_t(req, key));
        if (i == 1) {
            html_add(h,
                     " <label for=\"hour\" class=\"vh\">%s</label><select id=\"hour\" "
                     "name=\"hour\">",
                     web_t(req, "web.prefs.hour"));
            for (int k = 0; k < 24; k++)
                html_add(h, "<option value=\"%d\"%s>%s%d:00</option>", k,
                         k == hour ? " selected" : "", k < 10 ? "0" : "", k);
            html_add(h, "</select>");
        }
        html_add(h, "</div>");
    }
    html_add(h, "</fieldset><div><button type=\"submit\">%s</button></div></form>\n",
             web_t(req, "web.prefs.save"));
}

/* the time zones offered; any other valid one a user has is offered too */
static const char *const u_zones[] = {"UTC",
                                      "Europe/London",
                                      "Europe/Dublin",
                                      "Europe/Lisbon",
                                      "Europe/Paris",
                                      "Europe/Berlin",
                                      "Europe/Vienna",
                                      "Europe/Zurich",
                                      "Europe/Amsterdam",
                                      "Europe/Brussels",
                                      "Europe/Madrid",
                                      "Europe/Rome",
                                      "Europe/Stockholm",
                                      "Europe/Oslo",
                                      "Europe/Copenhagen",
                                      "Europe/Helsinki",
                                      "Europe/Warsaw",
                                      "Europe/Prague",
                                      "Europe/Athens",
                                      "Europe/Istanbul",
                                      "Europe/Kyiv",
                                      "Europe/Moscow",
                                      "Africa/Johannesburg",
                                      "Asia/Dubai",
                                      "Asia/Kolkata",
                                      "Asia/Singapore",
                                      "Asia/Shanghai",
                                      "Asia/Tokyo",
                                      "Australia/Sydney",
                                      "Pacific/Auckland",
                                      "America/Sao_Paulo",
                                      "America/New_York",
                                      "America/Chicago",
                                      "America/Denver",
                                      "America/Los_Angeles",
                                      "America/Anchorage",
                                      "Pacific/Honolulu"};

static void u_prefs_locale(struct html *h, struct web_req *req)
{
    char lang[I18N_LANG_MAX] = "", tz[64] = "", key[40], langs[128], text[200];
    const char *error;
    bool listed = false;

    if (store_user_locale(req->st, req->sess.address, lang, sizeof(lang), tz, sizeof(tz), &error) <
        0)
        log_warnx("web: locale: %s", error);
    html_add(h, "<h2>%s</h2>\n<form method=\"post\" action=\"/prefs\" class=\"stack\">",
             web_t(req, "web.prefs.locale_h"));
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"what\" value=\"locale\"><label for=\"language\">%s"
             "</label><select id=\"language\" name=\"language\"><option value=\"\">%s</option>",
             web_t(req, "web.prefs.language"), web_t(req, "web.prefs.language_auto"));
    snprintf(langs, sizeof(langs), "%s", i18n_languages());
    for (char *save, *l = strtok_r(langs, " ", &save); l != NULL; l = strtok_r(NULL, " ", &save)) {
        snprintf(key, sizeof(key), "lang.%s", l);
        html_add(h, "<option value=\"%s\"%s lang=\"%s\">%s</option>", l,
                 strcmp(lang, l) == 0 ? " selected" : "", l, web_t(req, key));
    }
    html_add(h,
             "</select><label for=\"timezone\">%s</label><select id=\"timezone\" "
             "name=\"timezone\"><option value=\"\">%s</option>",
             web_t(req, "web.prefs.timezone"),
             web_tf(req, text, sizeof(text), "web.prefs.timezone_default", "zone",
                    req->ctx->cfg->web_default_timezone[0] != '\0'
                        ? req->ctx->cfg->web_default_timezone
                        : "UTC"));
    for (size_t i = 0; i < sizeof(u_zones) / sizeof(u_zones[0]); i++) {
        listed = listed || strcmp(tz, u_zones[i]) == 0;
        html_add(h, "<option%s>%s</option>", strcmp(tz, u_zones[i]) == 0 ? " selected" : "",
                 u_zones[i]);
    }
    if (!listed && tz[0] != '\0')
        html_add(h, "<option selected>%s</option>", tz);
    html_add(h, "</select><div><button type=\"submit\">%s</button></div></form>\n",
             web_t(req, "web.prefs.save"));
}

static void u_prefs_consent(struct html *h, struct web_req *req)
{
    const char *error;
    bool any = false;

    html_add(h, "<h2>%s</h2>\n<form method=\"post\" action=\"/prefs\" class=\"stack\">",
             web_t(req, "web.prefs.consent_h"));
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
                 web_svc_word(req, "consent", web_svcinfo_consent(s)),
                 web_svc_word(req, "what", s->type));
    }
    if (!any)
        html_add(h, "<p>%s</p>", web_t(req, "web.prefs.all_mandatory"));
    else
        html_add(h, "<div><button type=\"submit\">%s</button></div>", web_t(req, "web.prefs.save"));
    html_add(h, "</form>\n");
}

static void u_prefs_token_form(struct html *h, struct web_req *req)
{
    bool any = false;

    html_add(h, "<h2>%s</h2>\n", web_t(req, "web.token.h"));
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        any = any || (req->ctx->svc[i].bypass & SVC_BYPASS_TOKEN) != 0;
    if (!any) {
        html_add(h, "<p>%s</p>\n", web_t(req, "web.token.none"));
        return;
    }
    html_add(h, "<p>%s</p>\n<form method=\"post\" action=\"/prefs\" class=\"stack\">",
             web_t(req, "web.token.intro"));
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"what\" value=\"token\">"
             "<label for=\"tsender\">%s</label>"
             "<input id=\"tsender\" name=\"sender\" required maxlength=\"254\">"
             "<label for=\"tservice\">%s</label><select id=\"tservice\" name=\"service\">",
             web_t(req, "web.lists.sender_hint"), web_t(req, "web.token.service"));
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        if ((req->ctx->svc[i].bypass & SVC_BYPASS_TOKEN) != 0)
            html_add(h, "<option>%s</option>", req->ctx->svc[i].name);
    html_add(h,
             "</select><label for=\"tdays\">%s</label>"
             "<input id=\"tdays\" name=\"days\" type=\"number\" min=\"1\" max=\"365\" "
             "value=\"30\"><div><button type=\"submit\">%s</button></div></form>\n",
             web_t(req, "web.token.days"), web_t(req, "web.token.make"));
}

static void u_prefs_page(struct web_req *req, struct web_resp *resp, const char *notice,
                         const char *header_line)
{
    struct html h = {0};

    web_page_begin(&h, req, "web.prefs.title");
    if (notice != NULL)
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n", web_t(req, notice));
    if (header_line != NULL)
        html_add(&h,
                 "<p>%s</p>\n<pre class=\"preview\" id=\"bypass-line\" tabindex=\"0\">%s</pre>\n",
                 web_t(req, "web.token.give"), header_line);
    u_prefs_notify(&h, req);
    page_spam_link(&h, req);
    u_prefs_locale(&h, req);
    u_prefs_consent(&h, req);
    u_prefs_token_form(&h, req);
    web_page_end(&h, req);
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
        web_page_error(req, resp, 400, "web.err.token_form");
        return;
    }
    if (token_bypass_issue(store_keys(req->st), req->sess.address, sender, s->name,
                           req->now + (int64_t)d * 86400, token, sizeof(token)) < 0) {
        web_page_error(req, resp, 400, "web.err.token_sender");
        return;
    }
    snprintf(line, sizeof(line), "OPES-Bypass: %s; token=%s", s->uri, token);
    snprintf(object, sizeof(object), "%s:%s:%s", req->sess.address, s->name, sender);
    store_audit(req->st, req->sess.address, "token-issue", object, "portal", &error);
    u_prefs_page(req, resp, "web.token.made", line);
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

/* u_prefs_locale_save - the language ("" automatic, or one with a catalog) and time zone. */
static void u_prefs_locale_save(struct web_req *req, struct web_resp *resp)
{
    const char *lang = web_form_get(&req->form, "language");
    const char *tz = web_form_get(&req->form, "timezone"), *error;
    char object[400];

    lang = lang != NULL ? lang : "";
    tz = tz != NULL ? tz : "";
    if ((lang[0] != '\0' && !i18n_language_known(lang)) || strlen(tz) > 63 ||
        (tz[0] != '\0' && !i18n_tz_valid(tz))) {
        web_page_error(req, resp, 400, "web.err.locale");
        return;
    }
    if (store_user_set_locale(req->st, req->sess.address, lang, tz, &error) < 0) {
        log_warnx("web: locale: %s", error);
        web_page_error(req, resp, 500, "web.err.store");
        return;
    }
    snprintf(object, sizeof(object), "language=%s timezone=%s", lang, tz);
    store_audit(req->st, req->sess.address, "prefs", object, "portal", &error);
    web_page_locale(req); /* the answer already in the new language */
    u_prefs_page(req, resp, "web.prefs.saved", NULL);
}

void page_prefs_post(struct web_req *req, struct web_resp *resp)
{
    const char *what = web_form_get(&req->form, "what"), *error;
    const char *mode = web_form_get(&req->form, "mode");
    const char *sched = web_form_get(&req->form, "schedule");
    const char *hour = web_form_get(&req->form, "hour");
    char daily[16];

    if (what != NULL && strcmp(what, "token") == 0) {
        u_prefs_token(req, resp);
        return;
    }
    if (what != NULL && strcmp(what, "consent") == 0) {
        u_prefs_consent_save(req);
        u_prefs_page(req, resp, "web.prefs.saved", NULL);
        return;
    }
    if (what != NULL && strcmp(what, "locale") == 0) {
        u_prefs_locale_save(req, resp);
        return;
    }
    if (what == NULL || strcmp(what, "notify") != 0 || mode == NULL) {
        web_page_error(req, resp, 400, "web.err.form");
        return;
    }
    /* the form's choice: a daily summary at an hour; an older form's schedule as it is */
    if (hour != NULL && strcmp(mode, "digest") == 0) {
        long hh = strtol(hour, NULL, 10);
        snprintf(daily, sizeof(daily), "daily@%02ld", hh >= 0 && hh <= 23 ? hh : 8);
        sched = daily;
    } else if (hour != NULL) {
        sched = "";
    }
    if (!u_schedule_ok(sched)) {
        web_page_error(req, resp, 400, "web.err.schedule");
        return;
    }
    if (store_web_prefs_set(req->st, req->sess.address, mode, sched != NULL ? sched : "", &error) <
        0) {
        web_page_error(req, resp, 400, "web.err.mode");
        return;
    }
    store_audit(req->st, req->sess.address, "prefs", mode, "portal", &error);
    u_prefs_page(req, resp, "web.prefs.saved", NULL);
}
