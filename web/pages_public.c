/*
 * pages_public.c - the pages anyone may read: the start page, /opes (the
 * OPES system, its operator and services, where the OPES-System URI leads,
 * RFC 3897 3.2) and /privacy (the operator's text and the generated facts).
 */
#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_svcinfo.h"

void page_home(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    char text[600];

    if (req->sess.valid) {
        web_resp_redirect(resp, "/quarantine");
        return;
    }
    web_page_begin(&h, req, "web.home.title");
    html_add(
        &h,
        "<p>%s</p>\n<p><a class=\"button\" href=\"/login\">%s</a></p>\n"
        "<p><a href=\"/opes\">%s</a></p>\n",
        web_tf(req, text, sizeof(text), "web.home.intro", "operator", req->ctx->cfg->web_operator),
        web_t(req, "web.login.send"), web_t(req, "web.home.what"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

static void pages_service(struct html *h, const struct web_req *req, const struct web_svcinfo *s)
{
    char bypass[64], words[400] = "";
    size_t o = 0;

    /* "header, token" in the reader's words */
    web_svcinfo_bypass(s, bypass, sizeof(bypass));
    for (char *save, *w = strtok_r(bypass, ", ", &save); w != NULL && o < sizeof(words);
         w = strtok_r(NULL, ", ", &save))
        o += (size_t)snprintf(words + o, sizeof(words) - o, "%s%s", o > 0 ? ", " : "",
                              web_svc_word(req, "bypass", w));
    html_add(h,
             "<section class=\"card\" id=\"service-%s\">\n<h3>%s</h3>\n<dl>"
             "<dt>URI</dt><dd><code>%s</code></dd>"
             "<dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd>%s</dd></dl>\n</section>\n",
             s->name, s->name, s->uri, web_t(req, "web.opes.type"), s->type,
             web_t(req, "web.opes.what"), web_svc_word(req, "what", s->type),
             web_t(req, "web.opes.on_hit"), web_svc_word(req, "action", web_svcinfo_action(s)),
             web_t(req, "web.opes.consent"), web_svc_word(req, "consent", web_svcinfo_consent(s)),
             web_t(req, "web.opes.bypass"), words);
}

void page_opes(struct web_req *req, struct web_resp *resp)
{
    const struct opes_config *cfg = req->ctx->cfg;
    struct html h = {0};

    if (req->args[0][0] != '\0' &&
        web_svcinfo_find(req->ctx->svc, req->ctx->nsvc, req->args[0]) == NULL) {
        web_page_error(req, resp, 404, "web.err.no_service");
        return;
    }
    web_page_begin(&h, req, "web.opes.title");
    html_add(&h,
             "<p>%s</p>\n<dl><dt>%s</dt><dd><code>%s</code></dd>"
             "<dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd></dl>\n<h2>%s</h2>\n",
             web_t(req, "web.opes.intro"), web_t(req, "web.opes.system_uri"), cfg->system_uri,
             web_t(req, "web.opes.operator"), cfg->web_operator, web_t(req, "web.opes.contact"),
             cfg->web_contact, web_t(req, "web.opes.services"));
    if (req->ctx->nsvc == 0)
        html_add(&h, "<p>%s</p>\n", web_t(req, "web.opes.none"));
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        pages_service(&h, req, &req->ctx->svc[i]);
    html_add(&h,
             "<h2>%s</h2>\n<p>%s</p>\n<p>%s <a href=\"/prefs\">%s</a></p>\n"
             "<p><a href=\"/privacy\">%s</a></p>\n",
             web_t(req, "web.opes.bypass_h"), web_t(req, "web.opes.bypass_text"),
             web_t(req, "web.opes.consent_text"), web_t(req, "web.nav.prefs"),
             web_t(req, "web.footer.privacy"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_privacy(struct web_req *req, struct web_resp *resp)
{
    const struct opes_config *cfg = req->ctx->cfg;
    static const char *const stores[] = {"web.privacy.store.held",    "web.privacy.store.meta",
                                         "web.privacy.store.headers", "web.privacy.store.trace",
                                         "web.privacy.store.lists",   "web.privacy.store.sessions",
                                         "web.privacy.store.ledger"};
    static const char *const fields[] = {"web.privacy.field.received", "web.privacy.field.system",
                                         "web.privacy.field.via"};
    struct html h = {0};
    char days[24], text[1200];

    snprintf(days, sizeof(days), "%lld", (long long)cfg->retention_days);
    web_page_begin(&h, req, "web.privacy.title");
    if (req->ctx->privacy_text != NULL) {
        html_add(&h, "<section class=\"policy\"><h2>%s</h2>\n", web_t(req, "web.privacy.policy"));
        html_paragraphs(&h, req->ctx->privacy_text);
        html_add(&h, "</section>\n");
    }
    html_add(&h, "<h2>%s</h2>\n<ul>", web_t(req, "web.privacy.stores_h"));
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++)
        html_add(&h, "<li>%s</li>", web_t(req, stores[i]));
    html_add(&h, "</ul>\n<h2>%s</h2>\n<p>%s</p>\n", web_t(req, "web.privacy.how_long_h"),
             web_tf(req, text, sizeof(text), "web.privacy.how_long", "days", days));
    html_add(&h, "<h2>%s</h2>\n<p>%s</p>\n", web_t(req, "web.privacy.who_h"),
             web_tf(req, text, sizeof(text), "web.privacy.who", "operator", cfg->web_operator,
                    "contact", cfg->web_contact));
    html_add(&h, "<h2>%s</h2>\n<p>%s</p>\n<ul>", web_t(req, "web.privacy.fields_h"),
             web_t(req, "web.privacy.fields"));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        html_add(&h, "<li>%s</li>",
                 web_tf(req, text, sizeof(text), fields[i], "system", cfg->system_uri));
    html_add(&h, "</ul>\n<p>%s</p>\n", web_t(req, "web.privacy.dkim"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}
