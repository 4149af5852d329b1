/*
 * pages_quarantine.c - the held mail: the list (filtered by status,
 * searchable, paginated; administrators see every recipient and get bulk
 * actions), one item (envelope, header fields, a plain-text preview, the
 * attachments, the trace, and the actions), and the trace page.
 *
 * The message's own HTML is never sent to the browser: the preview is text,
 * escaped like everything else. A recipient only ever sees their own items;
 * another recipient's id answers 404, like an id that does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/store.h"
#include "opes/vec.h"
#include "opes/web_access.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_preview.h"

#define Q_PAGE 25

struct q_list {
    struct html *h;
    const struct web_req *req;
    size_t n;
};

/* q_status - the status filter of the query: -1 any, default held. */
static int q_status(const struct web_req *req, const char **name_r)
{
    const char *s = web_form_get(&req->query, "status");
    static const char *const names[] = {"held", "released", "deleted", "expired"};

    *name_r = "held";
    if (s == NULL)
        return STORE_HELD;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *name_r = names[i];
            return i;
        }
    *name_r = "any";
    return -1;
}

static const char *const q_sorts[] = {"newest", "oldest", "sender", "subject", "size"};

/* q_sort - the sort of the query (newest first by default). */
static enum store_web_sort q_sort(const struct web_req *req)
{
    const char *s = web_form_get(&req->query, "sort");

    for (size_t i = 0; s != NULL && i < sizeof(q_sorts) / sizeof(q_sorts[0]); i++)
        if (strcmp(s, q_sorts[i]) == 0)
            return (enum store_web_sort)i;
    return STORE_SORT_NEWEST;
}

static void q_row(const struct store_qitem *it, void *ctx)
{
    struct q_list *l = ctx;
    char when[32];

    if (++l->n > Q_PAGE)
        return; /* the one past the page only says that there is a next page */
    web_page_time(it->created, when, sizeof(when));
    html_add(l->h, "<tr>");
    if (l->req->sess.admin)
        html_add(l->h,
                 "<td><input type=\"checkbox\" name=\"id\" value=\"%s\" id=\"sel-%s\" "
                 "aria-label=\"Select %s\"></td>",
                 it->id, it->id, it->subject);
    html_add(l->h, "<td>%s</td><td>%s</td>", when, it->sender);
    if (web_sees_others(&l->req->sess))
        html_add(l->h, "<td>%s%s%s%s</td>", it->recipient, it->original[0] ? " (" : "",
                 it->original, it->original[0] ? ")" : "");
    html_add(l->h, "<td><a href=\"/quarantine/%U\">%s</a></td><td>%s: %s</td><td>%s</td></tr>\n",
             it->id, it->subject[0] ? it->subject : "(no subject)", it->service, it->reason,
             store_qstatus_name(it->status));
}

static void q_filters(struct html *h, const struct web_req *req, const char *status,
                      const char *search, enum store_web_sort sort)
{
    static const char *const opts[] = {"held", "released", "deleted", "expired", "any"};

    html_add(h, "<form method=\"get\" action=\"/quarantine\" class=\"filters\" role=\"search\">"
                "<div><label for=\"status\">Status</label><select id=\"status\" name=\"status\">");
    for (size_t i = 0; i < 5; i++)
        html_add(h, "<option%s>%s</option>", strcmp(opts[i], status) == 0 ? " selected" : "",
                 opts[i]);
    html_add(h, "</select></div><div><label for=\"sort\">Order</label>"
                "<select id=\"sort\" name=\"sort\">");
    for (size_t i = 0; i < sizeof(q_sorts) / sizeof(q_sorts[0]); i++)
        html_add(h, "<option%s>%s</option>", (size_t)sort == i ? " selected" : "", q_sorts[i]);
    html_add(h,
             "</select></div><div><label for=\"q\">Sender or subject</label>"
             "<input id=\"q\" name=\"q\" type=\"search\" maxlength=\"200\" value=\"%s\"></div>",
             search);
    if (req->sess.admin)
        html_add(h,
                 "<div><label for=\"recipient\">Recipient</label><input id=\"recipient\" "
                 "name=\"recipient\" maxlength=\"254\" value=\"%s\"></div>",
                 web_form_get(&req->query, "recipient"));
    html_add(h, "<div><button type=\"submit\">Show</button></div></form>\n");
}

static void q_pager(struct html *h, const struct web_req *req, const char *status,
                    const char *search, enum store_web_sort sort, size_t page, bool more)
{
    const char *rcpt = web_form_get(&req->query, "recipient");

    html_add(h, "<nav class=\"pager\" aria-label=\"Pages\">");
    if (page > 0)
        html_add(h,
                 "<a href=\"/quarantine?status=%U&amp;sort=%U&amp;q=%U&amp;recipient=%U&amp;"
                 "page=%z\">Previous page</a>",
                 status, q_sorts[sort], search, rcpt != NULL ? rcpt : "", page - 1);
    html_add(h, "<span>Page %z</span>", page + 1);
    if (more)
        html_add(h,
                 "<a href=\"/quarantine?status=%U&amp;sort=%U&amp;q=%U&amp;recipient=%U&amp;"
                 "page=%z\">Next page</a>",
                 status, q_sorts[sort], search, rcpt != NULL ? rcpt : "", page + 1);
    html_add(h, "</nav>\n");
}

void page_quarantine(struct web_req *req, struct web_resp *resp)
{
    const char *status_name, *search = web_form_get(&req->query, "q"), *error;
    const char *page_s = web_form_get(&req->query, "page");
    const char *rcpt = web_form_get(&req->query, "recipient");
    struct store_qfilter f = {.limit = Q_PAGE + 1};
    size_t page = page_s != NULL ? strtoul(page_s, NULL, 10) : 0;
    struct html h = {0};
    struct q_list l = {.h = &h, .req = req};
    enum store_web_sort sort = q_sort(req);

    f.status = q_status(req, &status_name);
    f.search = search != NULL && search[0] != '\0' ? search : NULL;
    f.recipient =
        req->sess.admin ? (rcpt != NULL && rcpt[0] != '\0' ? rcpt : NULL) : req->sess.address;
    if (page > 100000)
        page = 100000;
    f.offset = page * Q_PAGE;
    web_page_begin(&h, req, req->sess.admin ? "Quarantine (all recipients)" : "Your held mail");
    q_filters(&h, req, status_name, search != NULL ? search : "", sort);
    if (req->sess.admin) {
        html_add(&h, "<form method=\"post\" action=\"/quarantine/bulk\">");
        web_page_csrf(&h, req);
    }
    html_add(&h,
             "<div class=\"wrap\"><table id=\"items\">\n<caption class=\"muted\">Order: "
             "%s</caption>\n<thead><tr>",
             q_sorts[sort]);
    if (req->sess.admin)
        html_add(&h, "<th scope=\"col\">Select</th>");
    html_add(&h, "<th scope=\"col\">Received</th><th scope=\"col\">From</th>");
    if (web_sees_others(&req->sess))
        html_add(&h, "<th scope=\"col\">To</th>");
    html_add(&h, "<th scope=\"col\">Subject</th><th scope=\"col\">Held by</th>"
                 "<th scope=\"col\">Status</th></tr></thead>\n<tbody>\n");
    if (store_web_quarantine_list(req->st, &f, sort, q_row, &l, &error) < 0) {
        log_warnx("web: quarantine list: %s", error);
        html_free(&h);
        web_page_error(req, resp, 500, "The list could not be read.");
        return;
    }
    html_add(&h, "</tbody></table></div>\n");
    if (l.n == 0)
        html_add(&h, "<p>Nothing here.</p>\n");
    if (req->sess.admin)
        html_add(&h, "<div class=\"actions\"><div><label for=\"bulk\">With the selected</label>"
                     "<select id=\"bulk\" name=\"action\"><option value=\"release\">release"
                     "</option><option value=\"delete\">delete</option></select></div>"
                     "<div><button type=\"submit\">Apply</button></div></div></form>\n");
    q_pager(&h, req, status_name, search != NULL ? search : "", sort, page, l.n > Q_PAGE);
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

void page_quarantine_bulk(struct web_req *req, struct web_resp *resp)
{
    const char *action = web_form_get(&req->form, "action"), *id, *why;
    size_t pos = 0, done = 0, failed = 0;
    char msg[128];

    if (action == NULL || (strcmp(action, "release") != 0 && strcmp(action, "delete") != 0)) {
        web_page_error(req, resp, 400, "Choose release or delete.");
        return;
    }
    while ((id = web_form_next(&req->form, "id", &pos)) != NULL) {
        struct store_qitem item;
        if (strlen(id) == STORE_ID_LEN && store_quarantine_get(req->st, id, &item, &why) == 0 &&
            web_item_act(req, &item, action, "", 0, "portal", &why) == 0)
            done++;
        else
            failed++;
    }
    snprintf(msg, sizeof(msg), "%zu done, %zu not done (not held any more, or unknown).", done,
             failed);
    web_page_message(req, resp, 200, "Bulk action", msg, "/quarantine", "Back to the quarantine");
}

/* ------------------------------------------------------------ one item */

struct q_buf {
    char *data;
    size_t len, cap;
    bool cut;
};

static int q_collect(void *ctx, const void *buf, size_t len)
{
    struct q_buf *b = ctx;
    size_t room = WEB_PREVIEW_MAX_INPUT - b->len;

    if (len > room) {
        b->cut = true;
        len = room;
    }
    if (len == 0)
        return 0;
    b->data = vec_reserve(b->data, &b->cap, b->len + len + 1, 1); /* capped above */
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

struct q_trace {
    struct html *h;
    const char *recipient; /* NULL: every record */
    size_t n;
    size_t own; /* records that name the recipient (or any, for NULL) */
};

static void q_trace_row(const struct store_trace *t, void *ctx)
{
    struct q_trace *q = ctx;
    char when[32];

    if (q->recipient != NULL && t->recipient[0] != '\0' &&
        strcasecmp(t->recipient, q->recipient) != 0)
        return;
    q->n++;
    if (q->recipient == NULL || t->recipient[0] != '\0')
        q->own++;
    web_page_time(t->at, when, sizeof(when));
    html_add(q->h,
             "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%L ms</td>"
             "</tr>\n",
             when, t->event, t->service, t->verdict, t->detail, t->duration_ms);
}

/*
 * q_trace_table - the trace records of trace_id that concern recipient
 * (theirs and the transaction's own); returns how many name the recipient.
 */
static size_t q_trace_table(struct web_req *req, struct html *h, const char *trace_id,
                            const char *recipient)
{
    struct q_trace q = {.h = h, .recipient = recipient};
    const char *error;

    html_add(h, "<div class=\"wrap\"><table class=\"trace\">\n<thead><tr><th scope=\"col\">When"
                "</th><th scope=\"col\">Event</th><th scope=\"col\">Service</th><th "
                "scope=\"col\">Verdict</th><th scope=\"col\">Detail</th><th scope=\"col\">Time"
                "</th></tr></thead>\n<tbody>\n");
    if (store_trace_list(req->st, trace_id, q_trace_row, &q, &error) < 0)
        log_warnx("web: trace %s: %s", trace_id, error);
    html_add(h, "</tbody></table></div>\n");
    return q.own;
}

/* q_item_whitelist_form - release and whitelist the sender's address or domain. */
static void q_item_whitelist_form(struct html *h, const struct web_req *req,
                                  const struct store_qitem *it)
{
    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\">", it->id);
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"action\" value=\"release-whitelist\">"
             "<fieldset><legend>Whitelist the sender</legend>"
             "<input type=\"radio\" id=\"wl-address\" name=\"whitelist\" value=\"address\" "
             "checked><label for=\"wl-address\" class=\"inline\">%s</label>"
             "<input type=\"radio\" id=\"wl-domain\" name=\"whitelist\" value=\"domain\">"
             "<label for=\"wl-domain\" class=\"inline\">everyone at %s</label>"
             "<label for=\"expires\">Expires after (days, empty: never)</label>"
             "<input id=\"expires\" name=\"expires_days\" type=\"number\" min=\"1\" "
             "max=\"3650\"></fieldset>"
             "<button type=\"submit\">Release and whitelist sender</button></form>\n",
             it->sender, strrchr(it->sender, '@') ? strrchr(it->sender, '@') + 1 : it->sender);
}

static void q_item_actions(struct html *h, const struct web_req *req, const struct store_qitem *it)
{
    html_add(h, "<h2>Actions</h2>\n<div class=\"actions\">\n");
    if (!web_item_release_form(h, req, it)) {
        html_add(h, "<form method=\"post\" action=\"/quarantine/%U\">", it->id);
        web_page_csrf(h, req);
        html_add(h, "<input type=\"hidden\" name=\"action\" value=\"release\">"
                    "<button type=\"submit\">Release</button></form>\n");
    }
    web_learn_form(h, req, it);
    /* a release with a whitelist entry only where the user releases it themselves */
    if (web_item_policy(req, it) == SVC_RELEASE_SELF && it->sender[0] == '\0')
        html_add(h, "<p class=\"muted\">This message has no sender (it is a delivery report): "
                    "there is nothing to whitelist.</p>\n");
    else if (web_item_policy(req, it) == SVC_RELEASE_SELF)
        q_item_whitelist_form(h, req, it);
    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\">", it->id);
    web_page_csrf(h, req);
    html_add(h, "<input type=\"hidden\" name=\"action\" value=\"delete\">"
                "<button type=\"submit\" class=\"danger\">Delete</button></form>\n</div>\n");
}

static void q_item_preview(struct web_req *req, struct html *h, const struct store_qitem *it)
{
    struct q_buf b = {0};
    struct web_preview p;
    const char *error;

    if (store_quarantine_content(req->st, it->id, q_collect, &b, &error) < 0) {
        html_add(h, "<p class=\"muted\">The content is not available (%s).</p>\n",
                 it->status == STORE_HELD ? "it could not be read" : "no longer kept");
        free(b.data);
        return;
    }
    web_preview_parse(b.data != NULL ? b.data : "", b.len, &p);
    html_add(h, "<h2>Header fields</h2>\n<div class=\"wrap\"><table class=\"headers\"><tbody>\n");
    for (size_t i = 0; i < p.nhdr; i++)
        html_add(h, "<tr><th scope=\"row\">%s</th><td>%s</td></tr>\n", p.hdr[i].name,
                 p.hdr[i].value);
    html_add(h, "</tbody></table></div>\n<h2>Preview</h2>\n");
    if (p.from_html)
        html_add(h, "<p class=\"muted\">The message is HTML; only its text is shown.</p>\n");
    html_add(h, "<pre class=\"preview\" id=\"preview\">%s</pre>\n", p.text);
    if (p.truncated || b.cut)
        html_add(h, "<p class=\"muted\">The preview is cut short.</p>\n");
    html_add(h, "<h2>Attachments</h2>\n");
    if (p.natt == 0)
        html_add(h, "<p>None.</p>\n");
    else
        html_add(h, "<ul class=\"attachments\">");
    for (size_t i = 0; i < p.natt; i++)
        html_add(h, "<li>%s <span class=\"muted\">(%s, about %z bytes)</span></li>", p.att[i].name,
                 p.att[i].type, p.att[i].size);
    if (p.natt > 0)
        html_add(h, "</ul>\n");
    web_preview_free(&p);
    free(b.data);
}

static void q_item_release_state(struct web_req *req, struct html *h, const char *id)
{
    char state[16] = "", last[256] = "";
    const char *error;

    if (store_release_state(req->st, id, state, sizeof(state), last, sizeof(last), &error) != 0)
        return;
    /* "delivered" only after the store's 2xx; a failed try shows the store's reply */
    html_add(h, "<dt>Release</dt><dd>%s%s%s</dd>", strcmp(state, "done") == 0 ? "delivered" : state,
             last[0] ? ": " : "", last);
}

void page_item(struct web_req *req, struct web_resp *resp)
{
    const char *done = web_form_get(&req->query, "done");
    struct store_qitem it;
    struct html h = {0};
    char when[32];

    if (web_item_for(req, resp, req->args[0], &it) != 0)
        return;
    web_page_time(it.created, when, sizeof(when));
    web_page_begin(&h, req, it.subject[0] ? it.subject : "(no subject)");
    if (done != NULL)
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n",
                 strcmp(done, "delete") == 0  ? "The message was deleted."
                 : strcmp(done, "asked") == 0 ? "Your request was sent to your administrator: you "
                                                "will hear of the decision by mail and here."
                                              : "The release was requested: the message will be "
                                                "in the mailbox shortly.");
    html_add(&h,
             "<dl class=\"envelope\"><dt>From</dt><dd>%s</dd><dt>To</dt><dd>%s</dd>"
             "<dt>Subject</dt><dd>%s</dd><dt>Date</dt><dd>%s</dd><dt>Received</dt><dd>%s</dd>"
             "<dt>Size</dt><dd>%z bytes</dd><dt>Held by</dt><dd>%s</dd><dt>Reason</dt>"
             "<dd>%s</dd><dt>Status</dt><dd id=\"status\">%s</dd>"
             "<dt>Trace</dt><dd><a href=\"/trace/%U\">%s</a></dd>",
             it.sender, it.recipient, it.subject, it.date, when, (size_t)it.size, it.service,
             it.reason, store_qstatus_name(it.status), it.trace_id, it.trace_id);
    q_item_release_state(req, &h, it.id);
    html_add(&h, "</dl>\n");
    web_item_roles(&h, req, &it);
    if (it.status == STORE_HELD)
        q_item_actions(&h, req, &it);
    q_item_preview(req, &h, &it);
    html_add(&h, "<h2>Trace</h2>\n");
    q_trace_table(req, &h, it.trace_id, it.recipient);
    web_page_end(&h);
    web_resp_html(resp, 200, &h);
}

void page_item_post(struct web_req *req, struct web_resp *resp)
{
    const char *action = web_form_get(&req->form, "action");
    const char *wl = web_form_get(&req->form, "whitelist");
    const char *days = web_form_get(&req->form, "expires_days"), *why;
    struct store_qitem it;
    int64_t expires = 0;
    char to[80];

    if (web_item_for(req, resp, req->args[0], &it) != 0)
        return;
    if (days != NULL && days[0] != '\0') {
        long d = strtol(days, NULL, 10);
        if (d < 1 || d > 3650) {
            web_page_error(req, resp, 400, "The expiry must be between 1 and 3650 days.");
            return;
        }
        expires = req->now + (int64_t)d * 86400;
    }
    int rc = action != NULL
                 ? web_item_act(req, &it, action, wl != NULL ? wl : "", expires, "portal", &why)
                 : -1;
    if (rc < 0) {
        snprintf(to, sizeof(to), "/quarantine/%s", it.id);
        web_page_message(req, resp, action == NULL ? 400 : 409, "Not done",
                         action == NULL ? "No action was chosen." : why, to, "Back to the message");
        return;
    }
    snprintf(to, sizeof(to), "/quarantine/%s?done=%s", it.id,
             rc == WEB_ITEM_ASKED            ? "asked"
             : strcmp(action, "delete") == 0 ? "delete"
                                             : "release");
    web_resp_redirect(resp, to);
}

void page_trace(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    size_t n;

    web_page_begin(&h, req, "Trace");
    html_add(&h, "<p>Trace <code>%s</code>: what the OPES system did with this message%s.</p>\n",
             req->args[0], req->sess.admin ? "" : " for you");
    n = q_trace_table(req, &h, req->args[0], req->sess.admin ? NULL : req->sess.address);
    web_page_end(&h);
    if (n == 0) {
        html_free(&h);
        web_page_error(req, resp, 404, "There is no such trace for you.");
        return;
    }
    web_resp_html(resp, 200, &h);
}
