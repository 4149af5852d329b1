/*
 * pages_spam.c - the recipient's spam level (/prefs/spam): lenient, normal,
 * strict, or scores of their own for tag, Junk folder and quarantine.
 *
 * The scanner runs once per message; opesd compares its score with each
 * recipient's thresholds (agent/message/policy.c), so the choice made here
 * sends one recipient's copy to the Junk folder while another's is held. The
 * level is the store's (store_user_spam); "normal" is no row at all, so a
 * recipient who never chose follows the operator's thresholds. Each level is
 * explained in one sentence, in the recipient's language (else the portal's
 * default language); the words come from the catalogs spam.LANG.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/store.h"
#include "opes/web_form.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

/* the levels offered, in the order shown */
static const char *const spam_levels[] = {"lenient", "normal", "strict", "custom"};
#define SPAM_NLEVELS (sizeof(spam_levels) / sizeof(spam_levels[0]))

/* spam_lang - the language of the page, as for every page (web_page_locale). */
static const char *spam_lang(const struct web_req *req)
{
    return req->lang != NULL ? req->lang : I18N_BASE;
}

/* spam_text - "web.spam." key in lang. */
static const char *spam_text(const char *lang, const char *key)
{
    char full[80];

    snprintf(full, sizeof(full), "web.spam.%s", key);
    return i18n_text(lang, full);
}

/* spam_score_value - a custom score for an input field: "" when off or unset. */
static void spam_score_value(double v, bool custom, char *buf, size_t size)
{
    if (!custom || isinf(v))
        buf[0] = '\0';
    else
        snprintf(buf, size, "%.1f", v);
}

/* spam_page - the form, with the recipient's level checked; notice: the key of a line on top. */
static void spam_page(struct web_req *req, struct web_resp *resp, int status, const char *notice)
{
    const char *lang = spam_lang(req);
    struct store_spam sp = {.level = "normal"};
    struct html h = {0};
    const char *error = "";
    char what[64], tag[16], junk[16], quarantine[16];
    bool custom;

    if (store_user_spam(req->st, req->sess.address, &sp, &error) < 0)
        log_warnx("web: spam level: %s", error);
    custom = strcmp(sp.level, "custom") == 0;
    spam_score_value(sp.tag, custom, tag, sizeof(tag));
    spam_score_value(sp.junk, custom, junk, sizeof(junk));
    spam_score_value(sp.quarantine, custom, quarantine, sizeof(quarantine));
    web_page_begin(&h, req, "web.spam.title");
    if (notice != NULL)
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n", spam_text(lang, notice));
    html_add(&h, "<p>%s</p>\n<form method=\"post\" action=\"/prefs/spam\" class=\"stack\">",
             spam_text(lang, "intro"));
    web_page_csrf(&h, req);
    html_add(&h, "<fieldset><legend>%s</legend>", spam_text(lang, "legend"));
    for (size_t i = 0; i < SPAM_NLEVELS; i++) {
        snprintf(what, sizeof(what), "%s.what", spam_levels[i]);
        html_add(&h,
                 "<div><input type=\"radio\" id=\"level-%s\" name=\"level\" value=\"%s\"%s> "
                 "<label for=\"level-%s\" class=\"inline\"><strong>%s</strong>: %s</label></div>",
                 spam_levels[i], spam_levels[i],
                 strcmp(sp.level, spam_levels[i]) == 0 ? " checked" : "", spam_levels[i],
                 spam_text(lang, spam_levels[i]), spam_text(lang, what));
    }
    html_add(&h,
             "</fieldset><label for=\"tag\">%s</label>"
             "<input id=\"tag\" name=\"tag\" inputmode=\"decimal\" maxlength=\"8\" value=\"%s\">"
             "<label for=\"junk\">%s</label>"
             "<input id=\"junk\" name=\"junk\" inputmode=\"decimal\" maxlength=\"8\" value=\"%s\">"
             "<label for=\"quarantine\">%s</label>"
             "<input id=\"quarantine\" name=\"quarantine\" inputmode=\"decimal\" maxlength=\"8\" "
             "value=\"%s\"><div><button type=\"submit\">%s</button></div></form>\n",
             spam_text(lang, "tag"), tag, spam_text(lang, "junk"), junk,
             spam_text(lang, "quarantine"), quarantine, spam_text(lang, "save"));
    web_page_end(&h, req);
    web_resp_html(resp, status, &h);
}

void page_spam_link(struct html *h, const struct web_req *req)
{
    html_add(h, "<p><a href=\"/prefs/spam\">%s</a></p>\n", spam_text(spam_lang(req), "link"));
}

void page_spam(struct web_req *req, struct web_resp *resp)
{
    spam_page(req, resp, 200, NULL);
}

void page_spam_post(struct web_req *req, struct web_resp *resp)
{
    const char *level = web_form_get(&req->form, "level");
    const char *junk = web_form_get(&req->form, "junk");
    const char *scores[3] = {web_form_get(&req->form, "tag"),
                             junk != NULL && junk[0] != '\0' ? junk : "off",
                             web_form_get(&req->form, "quarantine")};
    struct store_spam sp;
    const char *error = "";
    char object[400];
    bool normal = level != NULL && strcmp(level, "normal") == 0;
    bool custom = level != NULL && strcmp(level, "custom") == 0;

    if (level == NULL || (custom && (scores[0] == NULL || scores[2] == NULL)) ||
        store_spam_parse(level, custom ? scores : NULL, &sp, &error) < 0) {
        spam_page(req, resp, 400, "bad");
        return;
    }
    /* normal is no choice of one's own: the operator's thresholds, as they are */
    if (store_user_set_spam(req->st, req->sess.address, normal ? NULL : &sp, &error) < 0) {
        log_warnx("web: spam level: %s", error);
        web_page_error(req, resp, 500, "The level could not be stored.");
        return;
    }
    snprintf(object, sizeof(object), "%s:%s", req->sess.address, level);
    store_audit(req->st, req->sess.address, "spam-level", object, "portal", &error);
    spam_page(req, resp, 200, "saved");
}
