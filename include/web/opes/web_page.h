/*
 * web_page.h - the portal's pages: the layout around every page, the error
 * pages, and the handlers that the route table names (pages_*.c; api.c's are
 * in web_api.h).
 */
#ifndef OPES_WEB_PAGE_H
#define OPES_WEB_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "opes/i18n.h"
#include "opes/store.h"
#include "opes/svcdesc.h"

struct html;
struct web_req;
struct web_resp;

/*
 * Every text of a page is a catalog key (i18n.h, store/base/i18n/web.LANG);
 * the helpers below write it in the request's language. Arguments that take
 * a key (title, message, link_text) show a text that is no key as it is.
 */
/* web_page_locale - req->lang and req->tz: the user's choice, else the browser's, else
 * [web] default_language and default_timezone. */
void web_page_locale(struct web_req *req);
/* web_t - the text of key in req's language. */
const char *web_t(const struct web_req *req, const char *key);
/* web_tf - key's text with "{name}" filled from name, value pairs (NULL-terminated, at most
 * WEB_TF_ARGS pairs) into buf; returns buf. */
#define WEB_TF_ARGS 6
const char *web_tf_(const struct web_req *req, char *buf, size_t size, const char *key, ...);
#define web_tf(req, buf, size, ...) web_tf_(req, buf, size, __VA_ARGS__, (const char *)NULL)
/* web_tn - KEY.one or KEY.other for n, with "{n}" filled, into buf; returns buf. */
const char *web_tn(const struct web_req *req, char *buf, size_t size, const char *key,
                   unsigned long n);
/* web_page_date - t in req's language and time zone; returns buf. */
const char *web_page_date(const struct web_req *req, int64_t t, enum i18n_datefmt fmt, char *buf,
                          size_t size);

/* web_svc_word - the words for a service's kind ("what" by type, "consent", "action",
 * "bypass") and word ("spamd", "opt-out" ...): key web.svc.KIND.WORD, or word itself. */
const char *web_svc_word(const struct web_req *req, const char *kind, const char *word);

/* web_page_begin / web_page_end - the layout: head, header and nav, footer; title is a key. */
void web_page_begin(struct html *h, const struct web_req *req, const char *title);
void web_page_end(struct html *h, const struct web_req *req);
/* web_page_thead - a table's head row: one column heading per key (NULL-terminated). */
void web_page_thead(struct html *h, const struct web_req *req, const char *const *keys);
/* web_page_csrf - the hidden CSRF field of a form in a session. */
void web_page_csrf(struct html *h, const struct web_req *req);
/* web_page_error - an HTML error page with the status and a sentence. */
void web_page_error(const struct web_req *req, struct web_resp *resp, int status,
                    const char *message);
/* web_page_message - a page with a title and a sentence (and a link back). */
void web_page_message(const struct web_req *req, struct web_resp *resp, int status,
                      const char *title, const char *message, const char *link,
                      const char *link_text);
/* web_page_time - "YYYY-MM-DD HH:MM UTC" (the administrator's pages). */
void web_page_time(int64_t t, char *buf, size_t size);

/* web_item_reason - why it was held, in req's language ("Likely spam (score 14.3 of 10.0)"). */
const char *web_item_reason(const struct web_req *req, const struct store_qitem *it, char *buf,
                            size_t size);
/* web_item_category - "spam", "virus", "attachment", "blocked", "rule", "unscannable", "other". */
const char *web_item_category(const struct web_req *req, const struct store_qitem *it);
/* web_item_mine - the item id if req's user may see it: 0, STORE_NOTFOUND (theirs or not:
 * ids cannot be probed) or -1. */
int web_item_mine(struct web_req *req, const char *id, struct store_qitem *item);
/* web_item_for - the item id if req's user may see it: 0, or the 404 or 500 page done (1). */
int web_item_for(struct web_req *req, struct web_resp *resp, const char *id,
                 struct store_qitem *item);
/*
 * web_item_act - carry out action ("release", "release-whitelist" (and allow
 * the sender), "block" (the sender, and delete), "delete", "restore",
 * "not-spam") on item for actor; whitelist "address" or "domain"; expires 0 or
 * a time. A release of what a service with release = request held becomes a
 * request to the approvers (with the form's "reason") unless the actor
 * decides for the item's recipient (web_may_decide); with release = admin
 * only those may release. 0 done, WEB_ITEM_ASKED when a request was made (or
 * one was pending already), or -1 with *why_r, a catalog key for the user.
 */
#define WEB_ITEM_ASKED 1
/* web_item_policy - the release policy that applies to req's user for item:
 * self when they decide for its recipient, else the service's. */
enum svc_release web_item_policy(const struct web_req *req, const struct store_qitem *item);
int web_item_act(struct web_req *req, const struct store_qitem *item, const char *action,
                 const char *whitelist, int64_t expires, const char *origin, const char **why_r);

/* web_sender_ok - a list's sender: "a@b" or "@domain", printable, no spaces, bounded. */
bool web_sender_ok(const char *s);
/*
 * "Not spam" (pages_learn.c). web_learn_offered - item is held by a service
 * that learns (spamd, rspamd). web_learn_form - its button on the item page
 * (nothing when not offered). web_learn_not_spam - release item and record
 * the learning request (ham, for the service that held it); 0, or -1 with
 * *why_r for the user. A learning request that cannot be recorded is logged:
 * the release stands.
 */
bool web_learn_offered(const struct web_req *req, const struct store_qitem *it);
void web_learn_form(struct html *h, const struct web_req *req, const struct store_qitem *it);
int web_learn_not_spam(struct web_req *req, const struct store_qitem *item, const char *origin,
                       const char **why_r);

/* handlers */
void page_opes(struct web_req *req, struct web_resp *resp);
/* pages_requests.c: approvers' queue of release requests, shared mailboxes' delegates */
/* pages_domlists.c: the lists of the addresses an approver decides for */
void page_domain_lists(struct web_req *req, struct web_resp *resp);
void page_domain_lists_post(struct web_req *req, struct web_resp *resp);
void page_requests(struct web_req *req, struct web_resp *resp);
void page_requests_post(struct web_req *req, struct web_resp *resp);
void page_delegates(struct web_req *req, struct web_resp *resp);
void page_delegates_post(struct web_req *req, struct web_resp *resp);
/*
 * web_item_roles - on an item's page: the address it was sent to when a
 * rewrite mapped it, and what became of its newest release request.
 */
void web_item_roles(struct html *h, struct web_req *req, const struct store_qitem *it);
/*
 * web_item_release_form - the release that req's user has for a held item
 * whose service's policy is not self: the request form (with a reason) for
 * request, a sentence for admin; true when it wrote one (the page shows no
 * plain Release button then), false for self.
 */
bool web_item_release_form(struct html *h, const struct web_req *req, const struct store_qitem *it);
void page_privacy(struct web_req *req, struct web_resp *resp);
void page_static_css(struct web_req *req, struct web_resp *resp);
void page_home(struct web_req *req, struct web_resp *resp);
void page_login_form(struct web_req *req, struct web_resp *resp);
void page_login_post(struct web_req *req, struct web_resp *resp);
void page_login_password_post(struct web_req *req, struct web_resp *resp);
void page_login_link(struct web_req *req, struct web_resp *resp);
void page_login_link_post(struct web_req *req, struct web_resp *resp);
void page_admin_login_form(struct web_req *req, struct web_resp *resp);
void page_admin_login_post(struct web_req *req, struct web_resp *resp);
void page_logout(struct web_req *req, struct web_resp *resp);
void page_action(struct web_req *req, struct web_resp *resp);
void page_action_post(struct web_req *req, struct web_resp *resp);
void page_quarantine(struct web_req *req, struct web_resp *resp);
void page_quarantine_bulk(struct web_req *req, struct web_resp *resp);
void page_item(struct web_req *req, struct web_resp *resp);
void page_item_post(struct web_req *req, struct web_resp *resp);
void page_trace(struct web_req *req, struct web_resp *resp);
void page_lists(struct web_req *req, struct web_resp *resp);
void page_lists_post(struct web_req *req, struct web_resp *resp);
void page_prefs(struct web_req *req, struct web_resp *resp);
void page_prefs_post(struct web_req *req, struct web_resp *resp);
void page_spam(struct web_req *req, struct web_resp *resp); /* pages_spam.c */
/* page_spam_link - the preferences page's link to the spam page. */
void page_spam_link(struct html *h, const struct web_req *req);
void page_spam_post(struct web_req *req, struct web_resp *resp);
void page_admin(struct web_req *req, struct web_resp *resp);
void page_metrics(struct web_req *req, struct web_resp *resp);

#endif
