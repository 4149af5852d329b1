/*
 * web_page.h - the portal's pages: the layout around every page, the error
 * pages, and the handlers that the route table names (pages_*.c; api.c's are
 * in web_api.h).
 */
#ifndef OPES_WEB_PAGE_H
#define OPES_WEB_PAGE_H

#include "opes/store.h"
#include "opes/svcdesc.h"

struct html;
struct web_req;
struct web_resp;

/* web_page_begin / web_page_end - the layout: head, header and nav, footer. */
void web_page_begin(struct html *h, const struct web_req *req, const char *title);
void web_page_end(struct html *h);
/* web_page_csrf - the hidden CSRF field of a form in a session. */
void web_page_csrf(struct html *h, const struct web_req *req);
/* web_page_error - an HTML error page with the status and a sentence. */
void web_page_error(const struct web_req *req, struct web_resp *resp, int status,
                    const char *message);
/* web_page_message - a page with a title and a sentence (and a link back). */
void web_page_message(const struct web_req *req, struct web_resp *resp, int status,
                      const char *title, const char *message, const char *link,
                      const char *link_text);
/* web_page_time - "YYYY-MM-DD HH:MM UTC". */
void web_page_time(int64_t t, char *buf, size_t size);

/* web_item_for - the item id if req's user may see it: 0, or 404 page done (1). */
int web_item_for(struct web_req *req, struct web_resp *resp, const char *id,
                 struct store_qitem *item);
/*
 * web_item_act - carry out action ("release", "release-whitelist", "delete",
 * "not-spam")
 * on item for actor; whitelist "address" or "domain"; expires 0 or a time.
 * A release of what a service with release = request held becomes a request
 * to the approvers (with the form's "reason") unless the actor decides for
 * the item's recipient (web_may_decide); with release = admin only those
 * may release. 0 done, WEB_ITEM_ASKED when a request was made (or one was
 * pending already), or -1 with *why_r for the user.
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
/* web_roles_t - the words of key (the roles catalog) for req's reader. */
const char *web_roles_t(const struct web_req *req, const char *key);
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
