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

    if (req->sess.valid) {
        web_resp_redirect(resp, "/quarantine");
        return;
    }
    web_page_begin(&h, req, "Mail held for you");
    html_add(&h,
             "<p>This portal shows the mail that %s held for review before it reached "
             "your mailbox, and lets you release it, tell senders apart, and choose how "
             "you are told about held mail.</p>\n"
             "<p><a class=\"button\" href=\"/login\">Send me a login link</a></p>\n"
             "<p><a href=\"/opes\">What this mail system does to your mail</a></p>\n",
             req->ctx->cfg->web_operator);
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

static void pages_service(struct html *h, const struct web_svcinfo *s)
{
    char bypass[64];

    web_svcinfo_bypass(s, bypass, sizeof(bypass));
    html_add(h,
             "<section class=\"card\" id=\"service-%s\">\n<h3>%s</h3>\n<dl>"
             "<dt>URI</dt><dd><code>%s</code></dd>"
             "<dt>Type</dt><dd>%s</dd>"
             "<dt>What it does</dt><dd>%s</dd>"
             "<dt>On a hit</dt><dd>%s</dd>"
             "<dt>Consent</dt><dd>%s</dd>"
             "<dt>Bypass</dt><dd>%s</dd></dl>\n</section>\n",
             s->name, s->name, s->uri, s->type, s->what, web_svcinfo_action(s),
             web_svcinfo_consent(s), bypass);
}

void page_opes(struct web_req *req, struct web_resp *resp)
{
    const struct opes_config *cfg = req->ctx->cfg;
    struct html h = {0};

    if (req->args[0][0] != '\0' &&
        web_svcinfo_find(req->ctx->svc, req->ctx->nsvc, req->args[0]) == NULL) {
        web_page_error(req, resp, 404, "There is no such service.");
        return;
    }
    web_page_begin(&h, req, "This OPES system");
    html_add(&h,
             "<p>Mail for this domain passes through an OPES system (RFC 4902) between the mail "
             "server and your mailbox. It runs the services below on each message, at most once "
             "each, and records what they did in the message's trace header fields.</p>\n<dl>"
             "<dt>System URI</dt><dd><code>%s</code></dd>"
             "<dt>Operator</dt><dd>%s</dd><dt>Contact</dt><dd>%s</dd></dl>\n"
             "<h2>Services</h2>\n",
             cfg->system_uri, cfg->web_operator, cfg->web_contact);
    if (req->ctx->nsvc == 0)
        html_add(&h, "<p>No services are configured: mail is passed on unchanged.</p>\n");
    for (size_t i = 0; i < req->ctx->nsvc; i++)
        pages_service(&h, &req->ctx->svc[i]);
    html_add(&h, "<h2>Bypass</h2>\n<p>A service can be bypassed only in the ways its policy above "
                 "names: <em>header</em> (an <code>OPES-Bypass</code> field in the message), "
                 "<em>dialog</em> (the mail server's XOPES-BYPASS parameter), <em>token</em> (a "
                 "signed token that a recipient issued in this portal and handed to a sender), "
                 "<em>portal</em> (a recipient's release, and the whitelist entry it creates). "
                 "Mandatory services are always run. Every bypass granted or refused is written "
                 "into the trace.</p>\n"
                 "<p>Opt-out services run unless you turn them off; opt-in services run only when "
                 "you turn them on, in your <a href=\"/prefs\">preferences</a>.</p>\n"
                 "<p>See also the <a href=\"/privacy\">privacy policy</a>.</p>\n");
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

void page_privacy(struct web_req *req, struct web_resp *resp)
{
    const struct opes_config *cfg = req->ctx->cfg;
    struct html h = {0};

    web_page_begin(&h, req, "Privacy");
    if (req->ctx->privacy_text != NULL) {
        html_add(&h, "<section class=\"policy\"><h2>The operator's policy</h2>\n");
        html_paragraphs(&h, req->ctx->privacy_text);
        html_add(&h, "</section>\n");
    }
    html_add(&h,
             "<h2>What this system stores</h2>\n<ul>"
             "<li>Held (quarantined) messages, whole, encrypted at rest with libsodium. A "
             "message sent to several recipients is kept once.</li>"
             "<li>For each held message: the envelope sender and recipient, the subject, the "
             "date, the size, which service held it and why.</li>"
             "<li>For each held message, its header section (From, To, Subject, Received and "
             "the other header fields) in clear, not encrypted, to check notices for mail "
             "loops and for a later non-delivery report. It goes when the message is deleted; "
             "after a release or expiry it stays until the entry is removed.</li>"
             "<li>Trace records of every message: which services ran, their verdicts and "
             "reasons, bypass decisions, the replies of the mailbox store, and the original "
             "recipient address when the sending mail server gave one (ORCPT).</li>"
             "<li>Your white and block list entries, your notification preferences and "
             "consent choices, and a log of the actions taken in this portal.</li>"
             "<li>Portal sessions, stored only as a hash of the cookie.</li></ul>\n"
             "<h2>For how long</h2>\n<p>Held messages are kept for %L days, then they "
             "expire. An entry no longer held is removed with its content and header section "
             "%L days after it was released, deleted or expired. Trace records are removed "
             "%L days after they were written, except the original recipient address "
             "(ORCPT) of a held message, which stays with its entry for a late "
             "non-delivery report.</p>\n"
             "<h2>Who can see it</h2>\n<p>You see the mail held for your own address and its "
             "trace. The administrators of %s (%s) see every recipient's held mail, to "
             "keep the system running and answer requests.</p>\n"
             "<h2>What the trace header fields reveal</h2>\n<p>Each delivered message gets "
             "trace header fields that travel with it to its recipient, and with any copy the "
             "recipient forwards:</p>\n<ul>"
             "<li><code>Received</code>: the name the sending mail server gave for itself "
             "(HELO), its host name and network address, this system's host name and the "
             "trace id, and, when the message had a single recipient, that recipient's "
             "address (<code>for &lt;address&gt;</code>).</li>"
             "<li><code>OPES-System</code>: this system (<code>%s</code>) and the trace "
             "id.</li>"
             "<li><code>OPES-Via</code>: each service that ran and its verdict, and each "
             "service that was bypassed. It therefore shows a recipient's choices: a service "
             "bypassed at the recipient's request (a whitelist entry, a token) appears as "
             "<code>bypassed</code>, and a service the recipient turned off (or did not turn "
             "on) in the consent preferences is missing from the list.</li></ul>\n"
             "<p>They never show the content of other mail. When a DKIM signature of the "
             "message covers these field names, the same text is carried in a comment of the "
             "<code>Received</code> field instead.</p>\n",
             (int64_t)cfg->retention_days, (int64_t)cfg->retention_days,
             (int64_t)cfg->retention_days, cfg->web_operator, cfg->web_contact, cfg->system_uri);
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}
