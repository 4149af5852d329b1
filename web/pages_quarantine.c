/*
 * pages_quarantine.c - the held mail: the list (grouped by day, with the
 * sender's name, size and the reason in words; filtered by status, day and
 * text, sortable by its columns, a total; bulk and per-row actions for
 * everyone, administrators see every recipient), the confirmation before a
 * delete, one item (preview and actions first, the technical details folded
 * away), and the trace page.
 *
 * The message's own HTML is never sent to the browser: the preview is text,
 * escaped like everything else, its links written out as text. A recipient
 * only ever sees their own items; another recipient's id answers 404, like
 * an id that does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/reason.h"
#include "opes/store.h"
#include "opes/vec.h"
#include "opes/web_access.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_preview.h"

#define Q_PAGE 25
#define Q_BULK_MAX 200 /* ids in one bulk form */

static const char *const q_statuses[] = {"held", "released", "deleted", "expired", "any"};
static const char *const q_sorts[] = {"newest", "oldest", "sender", "subject", "size", "reason"};

/* The list's query, as read from the URL. */
struct q_query {
    const char *status; /* one of q_statuses */
    int status_n;       /* enum store_qstatus, -1 any */
    enum store_web_sort sort;
    const char *search, *day, *rcpt;
    size_t page;
    bool select_all;
};

struct q_list {
    struct html *h;
    struct web_req *req;
    const struct q_query *qq;
    size_t n;
    long day; /* the day of the group being written, 0 before the first */
    bool grouped;
};

/* q_query_read - the list's query from req (defaults: held, newest first, page 0). */
static void q_query_read(const struct web_req *req, struct q_query *qq)
{
    const char *s = web_form_get(&req->query, "status");
    const char *sort = web_form_get(&req->query, "sort");
    const char *page = web_form_get(&req->query, "page");
    const char *sel = web_form_get(&req->query, "select");

    memset(qq, 0, sizeof(*qq));
    qq->status = "held";
    qq->status_n = STORE_HELD;
    for (int i = 0; s != NULL && i < 5; i++)
        if (strcmp(s, q_statuses[i]) == 0) {
            qq->status = q_statuses[i];
            qq->status_n = i < 4 ? i : -1;
        }
    for (size_t i = 0; sort != NULL && i < sizeof(q_sorts) / sizeof(q_sorts[0]); i++)
        if (strcmp(sort, q_sorts[i]) == 0)
            qq->sort = (enum store_web_sort)i;
    qq->search = web_form_get(&req->query, "q");
    qq->search = qq->search != NULL ? qq->search : "";
    qq->day = web_form_get(&req->query, "day");
    qq->day = qq->day != NULL ? qq->day : "";
    qq->rcpt = req->sess.admin ? web_form_get(&req->query, "recipient") : NULL;
    qq->rcpt = qq->rcpt != NULL ? qq->rcpt : "";
    qq->page = page != NULL ? strtoul(page, NULL, 10) : 0;
    if (qq->page > 100000)
        qq->page = 100000;
    qq->select_all = sel != NULL && strcmp(sel, "all") == 0;
}

/* q_href - the list's URL for qq with one sort and page (and select=all when asked). */
static void q_href(struct html *h, const struct q_query *qq, enum store_web_sort sort, size_t page,
                   bool select_all)
{
    html_add(h, "/quarantine?status=%U&amp;sort=%U&amp;q=%U&amp;day=%U", qq->status, q_sorts[sort],
             qq->search, qq->day);
    if (qq->rcpt[0] != '\0')
        html_add(h, "&amp;recipient=%U", qq->rcpt);
    if (page > 0)
        html_add(h, "&amp;page=%z", page);
    if (select_all)
        html_add(h, "&amp;select=all");
}

/*
 * q_day_range - the day "YYYY-MM-DD" in the reader's time zone as [since,
 * until); false when day is not such a date.
 */
static bool q_day_range(const struct web_req *req, const char *day, int64_t *since, int64_t *until)
{
    int y, m, d;
    char end;
    struct tm tm = {0};
    long want;
    int64_t lo, hi;

    if (sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &end) != 3 || y < 1970 || y > 9999 || m < 1 ||
        m > 12 || d < 1 || d > 31)
        return false;
    want = (long)y * 10000 + m * 100 + d;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    /* the first seconds of the day and of the next in the zone (the day number only grows) */
    for (int k = 0; k < 2; k++) {
        lo = (int64_t)timegm(&tm) - 86400 + (int64_t)k * 86400;
        hi = lo + 2 * 86400;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (i18n_day_number(req->tz, (time_t)mid) < want + k)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (k == 0)
            *since = lo;
        else
            *until = lo;
    }
    return *until > *since;
}

/* q_sender - "Name <address>", or the address alone, or the null sender's words. */
static void q_sender(struct html *h, const struct web_req *req, const struct store_qitem *it)
{
    if (it->sender[0] == '\0')
        html_add(h, "<span class=\"name\">%s</span>", web_t(req, "web.item.null_sender"));
    else if (it->from_name[0] != '\0')
        html_add(h, "<span class=\"name\">%s</span> <span class=\"addr\">&lt;%s&gt;</span>",
                 it->from_name, it->sender);
    else
        html_add(h, "<span class=\"addr\">%s</span>", it->sender);
}

static const char *q_subject(const struct web_req *req, const struct store_qitem *it)
{
    return it->subject[0] != '\0' ? it->subject : web_t(req, "web.item.no_subject");
}

/* q_quick - one row's button: the action and id in one value, the subject for screen readers. */
static void q_quick(struct html *h, const struct web_req *req, const struct store_qitem *it,
                    const char *action, const char *key, const char *cls)
{
    html_add(h,
             "<button type=\"submit\" name=\"one\" value=\"%s %s\" class=\"%s\">%s<span "
             "class=\"vh\">: %s</span></button>",
             action, it->id, cls, web_t(req, key), q_subject(req, it));
}

static void q_row(const struct store_qitem *it, void *ctx)
{
    struct q_list *l = ctx;
    const struct web_req *req = l->req;
    char when[64], size[32], why[REASON_WORDS_MAX];
    long day = i18n_day_number(req->tz, (time_t)it->created);
    int cols = web_sees_others(&req->sess) ? 8 : 7;

    if (++l->n > Q_PAGE)
        return; /* the one past the page only says that there is a next page */
    if (l->grouped && day != l->day) {
        char dname[64];
        if (l->day != 0)
            html_add(l->h, "</tbody>\n");
        html_add(l->h,
                 "<tbody><tr class=\"day\"><th scope=\"colgroup\" colspan=\"%d\">%s</th>"
                 "</tr>\n",
                 cols, web_page_date(req, it->created, I18N_DAY, dname, sizeof(dname)));
        l->day = day;
    } else if (!l->grouped && l->n == 1) {
        html_add(l->h, "<tbody>\n");
    }
    web_page_date(req, it->created, l->grouped ? I18N_TIME : I18N_DATETIME, when, sizeof(when));
    i18n_size(size, sizeof(size), req->lang, it->size);
    html_add(l->h,
             "<tr class=\"row\"><td class=\"c-sel\"><input type=\"checkbox\" name=\"id\" "
             "value=\"%s\" id=\"sel-%s\"%s><label for=\"sel-%s\" class=\"vh\">%s: %s</label></td>"
             "<td class=\"c-from\">",
             it->id, it->id, l->qq->select_all ? " checked" : "", it->id,
             web_t(req, "web.list.select"), q_subject(req, it));
    q_sender(l->h, req, it);
    html_add(l->h, "</td>");
    if (web_sees_others(&req->sess)) /* whose it is, and the alias it was sent to */
        html_add(l->h, "<td class=\"c-to\">%s%s%s%s</td>", it->recipient,
                 it->original[0] ? " (" : "", it->original, it->original[0] ? ")" : "");
    html_add(l->h,
             "<td class=\"c-subj\"><a href=\"/quarantine/%U\">%s</a></td>"
             "<td class=\"c-why cat-%s\">%s",
             it->id, q_subject(req, it), web_item_category(req, it),
             web_item_reason(req, it, why, sizeof(why)));
    if (l->qq->status_n != STORE_HELD) {
        char key[40];
        snprintf(key, sizeof(key), "web.status.%s", store_qstatus_name(it->status));
        html_add(l->h, " <span class=\"badge\">%s</span>", web_t(req, key));
    }
    html_add(l->h,
             "</td><td class=\"c-size\">%s</td><td class=\"c-time\"><time>%s</time></td>"
             "<td class=\"c-act\">",
             size, when);
    if (it->status == STORE_HELD) {
        if (web_item_policy(req, it) == SVC_RELEASE_SELF) /* else: on the item's page */
            q_quick(l->h, req, it, "release", "web.action.release", "small");
        q_quick(l->h, req, it, "delete", "web.action.delete", "small secondary");
    } else if (it->status == STORE_DELETED) {
        q_quick(l->h, req, it, "restore", "web.action.restore", "small secondary");
    }
    html_add(l->h, "</td></tr>\n");
}

static void q_filters(struct html *h, const struct web_req *req, const struct q_query *qq)
{
    char key[40];

    html_add(h,
             "<form method=\"get\" action=\"/quarantine\" class=\"filters\" role=\"search\">"
             "<div><label for=\"status\">%s</label><select id=\"status\" name=\"status\">",
             web_t(req, "web.list.show"));
    for (size_t i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "web.filter.%s", q_statuses[i]);
        html_add(h, "<option value=\"%s\"%s>%s</option>", q_statuses[i],
                 strcmp(q_statuses[i], qq->status) == 0 ? " selected" : "", web_t(req, key));
    }
    html_add(h,
             "</select></div><div><label for=\"day\">%s</label><input id=\"day\" name=\"day\" "
             "type=\"date\" value=\"%s\"></div><div><label for=\"sort\">%s</label>"
             "<select id=\"sort\" name=\"sort\">",
             web_t(req, "web.list.day"), qq->day, web_t(req, "web.list.order"));
    for (size_t i = 0; i < sizeof(q_sorts) / sizeof(q_sorts[0]); i++) {
        snprintf(key, sizeof(key), "web.sort.%s", q_sorts[i]);
        html_add(h, "<option value=\"%s\"%s>%s</option>", q_sorts[i],
                 (size_t)qq->sort == i ? " selected" : "", web_t(req, key));
    }
    html_add(h,
             "</select></div><div><label for=\"q\">%s</label>"
             "<input id=\"q\" name=\"q\" type=\"search\" maxlength=\"200\" value=\"%s\"></div>",
             web_t(req, "web.list.search"), qq->search);
    if (req->sess.admin)
        html_add(h,
                 "<div><label for=\"recipient\">%s</label><input id=\"recipient\" "
                 "name=\"recipient\" maxlength=\"254\" value=\"%s\"></div>",
                 web_t(req, "web.list.recipient"), qq->rcpt);
    html_add(h, "<div><button type=\"submit\" class=\"secondary\">%s</button></div></form>\n",
             web_t(req, "web.list.apply"));
}

/* q_head - a sortable column's heading: a link to that order, aria-sort on the current one. */
static void q_head(struct html *h, const struct web_req *req, const struct q_query *qq,
                   const char *key, const char *cls, enum store_web_sort sort, bool toggles)
{
    bool on = qq->sort == sort || (toggles && qq->sort == STORE_SORT_OLDEST);
    enum store_web_sort to = toggles && qq->sort == STORE_SORT_NEWEST ? STORE_SORT_OLDEST : sort;
    const char *dir = !on ? NULL
                      : qq->sort == STORE_SORT_OLDEST || qq->sort == STORE_SORT_SENDER ||
                              qq->sort == STORE_SORT_SUBJECT || qq->sort == STORE_SORT_REASON
                          ? "ascending"
                          : "descending";

    html_add(h, "<th scope=\"col\" class=\"%s\"", cls);
    if (dir != NULL)
        html_add(h, " aria-sort=\"%s\"", dir);
    html_add(h, "><a href=\"");
    q_href(h, qq, to, 0, false);
    html_add(h, "\">%s%s</a></th>", web_t(req, key),
             dir == NULL ? "" : (dir[0] == 'a' ? " \xe2\x96\xb2" : " \xe2\x96\xbc"));
}

/* q_bulk_bar - the buttons for the selected messages, above the list. */
static void q_bulk_bar(struct html *h, const struct web_req *req, const struct q_query *qq)
{
    html_add(h, "<div class=\"bulk\" role=\"group\" aria-label=\"%s\"><a class=\"selall\" href=\"",
             web_t(req, "web.list.with_selected"));
    q_href(h, qq, qq->sort, qq->page, !qq->select_all);
    html_add(h, "\">%s</a>",
             web_t(req, qq->select_all ? "web.list.select_none" : "web.list.select_all"));
    if (qq->status_n == STORE_DELETED) {
        html_add(h, "<button type=\"submit\" name=\"action\" value=\"restore\">%s</button>",
                 web_t(req, "web.action.restore_selected"));
    } else if (qq->status_n == STORE_HELD || qq->status_n < 0) {
        html_add(h,
                 "<button type=\"submit\" name=\"action\" value=\"release\">%s</button>"
                 "<button type=\"submit\" name=\"action\" value=\"release-whitelist\">%s</button>"
                 "<button type=\"submit\" name=\"action\" value=\"block\" class=\"secondary\">"
                 "%s</button><button type=\"submit\" name=\"action\" value=\"delete\" "
                 "class=\"danger\">%s</button>",
                 web_t(req, "web.action.release"), web_t(req, "web.action.allow"),
                 web_t(req, "web.action.block"), web_t(req, "web.action.delete"));
    }
    html_add(h, "</div>\n");
}

/* q_done - what the last bulk action did, from the redirect's query. */
static void q_done(struct html *h, const struct web_req *req)
{
    const char *done = web_form_get(&req->query, "done");
    const char *n_s = web_form_get(&req->query, "n"), *f_s = web_form_get(&req->query, "failed");
    const char *a_s = web_form_get(&req->query, "asked");
    unsigned long n = n_s != NULL ? strtoul(n_s, NULL, 10) : 0;
    unsigned long failed = f_s != NULL ? strtoul(f_s, NULL, 10) : 0;
    char key[48], text[300];
    static const char *const actions[] = {"release", "release-whitelist", "block", "delete",
                                          "restore"};
    bool known = false;

    for (size_t i = 0; done != NULL && i < sizeof(actions) / sizeof(actions[0]); i++)
        known = known || strcmp(done, actions[i]) == 0;
    if (!known)
        return;
    snprintf(key, sizeof(key), "web.done.%s", done);
    html_add(h, "<div class=\"notice\" role=\"status\"><p>%s",
             web_tn(req, text, sizeof(text), key, n));
    if (failed > 0)
        html_add(h, " %s", web_tn(req, text, sizeof(text), "web.done.failed", failed));
    if (a_s != NULL && strtoul(a_s, NULL, 10) > 0)
        html_add(h, " %s",
                 web_tn(req, text, sizeof(text), "roles.done.asked", strtoul(a_s, NULL, 10)));
    html_add(h, "</p>");
    if ((strcmp(done, "delete") == 0 || strcmp(done, "block") == 0) && n > 0)
        html_add(h, "<p><a href=\"/quarantine?status=deleted\">%s</a></p>",
                 web_t(req, "web.done.see_deleted"));
    html_add(h, "</div>\n");
}

static void q_pager(struct html *h, const struct web_req *req, const struct q_query *qq,
                    int64_t total, bool more)
{
    char text[120], a[24], b[24], t[24];
    size_t first = qq->page * Q_PAGE + 1, last = qq->page * Q_PAGE + Q_PAGE;

    if (total <= 0)
        return;
    if ((int64_t)last > total)
        last = (size_t)total;
    snprintf(a, sizeof(a), "%zu", first);
    snprintf(b, sizeof(b), "%zu", last);
    snprintf(t, sizeof(t), "%lld", (long long)total);
    html_add(h, "<nav class=\"pager\" aria-label=\"%s\">", web_t(req, "web.pager.label"));
    if (qq->page > 0) {
        html_add(h, "<a href=\"");
        q_href(h, qq, qq->sort, qq->page - 1, false);
        html_add(h, "\">%s</a>", web_t(req, "web.pager.prev"));
    }
    html_add(h, "<span>%s</span>",
             web_tf(req, text, sizeof(text), "web.pager.range", "first", a, "last", b, "total", t));
    if (more) {
        html_add(h, "<a href=\"");
        q_href(h, qq, qq->sort, qq->page + 1, false);
        html_add(h, "\">%s</a>", web_t(req, "web.pager.next"));
    }
    html_add(h, "</nav>\n");
}

void page_quarantine(struct web_req *req, struct web_resp *resp)
{
    const char *error;
    struct q_query qq;
    struct store_qfilter f = {.limit = Q_PAGE + 1};
    struct html h = {0};
    struct q_list l = {.h = &h, .req = req, .qq = &qq};
    int64_t total = 0;
    char text[200];

    q_query_read(req, &qq);
    f.status = qq.status_n;
    f.search = qq.search[0] != '\0' ? qq.search : NULL;
    f.recipient = req->sess.admin ? (qq.rcpt[0] != '\0' ? qq.rcpt : NULL) : req->sess.address;
    if (qq.day[0] != '\0' && !q_day_range(req, qq.day, &f.since, &f.until))
        qq.day = "";
    f.offset = qq.page * Q_PAGE;
    l.grouped = qq.sort == STORE_SORT_NEWEST || qq.sort == STORE_SORT_OLDEST;
    if (store_web_quarantine_count(req->st, &f, &total, &error) < 0) {
        log_warnx("web: quarantine count: %s", error);
        web_page_error(req, resp, 500, "web.err.list_read");
        return;
    }
    web_page_begin(&h, req, req->sess.admin ? "web.list.title_admin" : "web.list.title");
    q_done(&h, req);
    q_filters(&h, req, &qq);
    html_add(&h, "<p class=\"count\" id=\"total\">%s</p>\n",
             web_tn(req, text, sizeof(text), "web.list.count", (unsigned long)total));
    html_add(&h, "<form method=\"post\" action=\"/quarantine/bulk\" id=\"bulk\">");
    web_page_csrf(&h, req);
    if (total > 0)
        q_bulk_bar(&h, req, &qq);
    html_add(&h,
             "<table id=\"items\" class=\"items\">\n<thead><tr><th scope=\"col\" "
             "class=\"c-sel\"><span class=\"vh\">%s</span></th>",
             web_t(req, "web.list.select"));
    q_head(&h, req, &qq, "web.col.from", "c-from", STORE_SORT_SENDER, false);
    if (web_sees_others(&req->sess))
        html_add(&h, "<th scope=\"col\" class=\"c-to\">%s</th>", web_t(req, "web.col.to"));
    q_head(&h, req, &qq, "web.col.subject", "c-subj", STORE_SORT_SUBJECT, false);
    q_head(&h, req, &qq, "web.col.why", "c-why", STORE_SORT_REASON, false);
    q_head(&h, req, &qq, "web.col.size", "c-size", STORE_SORT_SIZE, false);
    q_head(&h, req, &qq, "web.col.received", "c-time", STORE_SORT_NEWEST, true);
    html_add(&h, "<th scope=\"col\" class=\"c-act\">%s</th></tr></thead>\n",
             web_t(req, "web.col.actions"));
    if (store_web_quarantine_list(req->st, &f, qq.sort, q_row, &l, &error) < 0) {
        log_warnx("web: quarantine list: %s", error);
        html_free(&h);
        web_page_error(req, resp, 500, "web.err.list_read");
        return;
    }
    if (l.n > 0)
        html_add(&h, "</tbody>\n");
    html_add(&h, "</table></form>\n");
    if (l.n == 0)
        html_add(&h, "<p class=\"empty\">%s</p>\n",
                 web_t(req, qq.status_n == STORE_HELD && f.search == NULL && f.since == 0
                                ? "web.list.empty_held"
                                : "web.list.empty"));
    q_pager(&h, req, &qq, total, l.n > Q_PAGE);
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

/* ------------------------------------------------------------ bulk actions */

static bool q_action_known(const char *a)
{
    return a != NULL &&
           (strcmp(a, "release") == 0 || strcmp(a, "release-whitelist") == 0 ||
            strcmp(a, "block") == 0 || strcmp(a, "delete") == 0 || strcmp(a, "restore") == 0);
}

/*
 * q_confirm_delete - "Delete these messages?": the ids again as hidden
 * fields, a button that confirms and a way back. No script needed.
 */
static void q_confirm_delete(struct web_req *req, struct web_resp *resp, const char **ids, size_t n,
                             const char *back)
{
    struct html h = {0};
    char text[200];

    web_page_begin(&h, req, "web.confirm.title");
    html_add(&h, "<p>%s</p>\n<ul class=\"confirm-list\">",
             web_tn(req, text, sizeof(text), "web.confirm.delete", (unsigned long)n));
    for (size_t i = 0; i < n; i++) {
        struct store_qitem it;
        if (web_item_mine(req, ids[i], &it) == 0)
            html_add(&h, "<li>%s <span class=\"muted\">%s</span></li>", q_subject(req, &it),
                     it.sender);
    }
    html_add(&h,
             "</ul>\n<p>%s</p>\n<form method=\"post\" action=\"/quarantine/bulk\" "
             "class=\"confirm\">",
             web_t(req, "web.confirm.undo"));
    web_page_csrf(&h, req);
    for (size_t i = 0; i < n; i++)
        html_add(&h, "<input type=\"hidden\" name=\"id\" value=\"%s\">", ids[i]);
    html_add(&h,
             "<input type=\"hidden\" name=\"action\" value=\"delete\"><input type=\"hidden\" "
             "name=\"confirm\" value=\"1\"><input type=\"hidden\" name=\"back\" value=\"%s\">"
             "<button type=\"submit\" class=\"danger\">%s</button> <a class=\"button secondary\" "
             "href=\"%s\">%s</a></form>\n",
             back, web_t(req, "web.confirm.yes"), back, web_t(req, "web.confirm.no"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

/* q_back_ok - a local page of the quarantine to return to. */
static const char *q_back(const struct web_req *req)
{
    const char *b = web_form_get(&req->form, "back");

    if (b != NULL && strncmp(b, "/quarantine", 11) == 0 && strlen(b) < 100 &&
        strpbrk(b, "\"<>\\\r\n ") == NULL)
        return b;
    return "/quarantine";
}

void page_quarantine_bulk(struct web_req *req, struct web_resp *resp)
{
    const char *action = web_form_get(&req->form, "action"), *id, *why;
    const char *one = web_form_get(&req->form, "one");
    const char *confirm = web_form_get(&req->form, "confirm");
    const char *ids[Q_BULK_MAX];
    char one_action[24] = "", to[160];
    size_t pos = 0, n = 0, done = 0, failed = 0, asked = 0;

    /* a row's own button: "ACTION ID" */
    if (one != NULL) {
        const char *sp = strchr(one, ' ');
        if (sp == NULL || (size_t)(sp - one) >= sizeof(one_action)) {
            web_page_error(req, resp, 400, "web.err.form");
            return;
        }
        memcpy(one_action, one, (size_t)(sp - one));
        one_action[sp - one] = '\0';
        action = one_action;
        ids[n++] = sp + 1;
    } else {
        while (n < Q_BULK_MAX && (id = web_form_next(&req->form, "id", &pos)) != NULL)
            ids[n++] = id;
    }
    if (!q_action_known(action)) {
        web_page_error(req, resp, 400, "web.err.choose_action");
        return;
    }
    if (n == 0) {
        web_page_message(req, resp, 400, "web.status.notice", "web.err.none_selected", q_back(req),
                         "web.back.list");
        return;
    }
    if (strcmp(action, "delete") == 0 && (confirm == NULL || strcmp(confirm, "1") != 0)) {
        q_confirm_delete(req, resp, ids, n, q_back(req));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_qitem item;
        int rc = web_item_mine(req, ids[i], &item) == 0
                     ? web_item_act(req, &item, action, "address", 0, "portal", &why)
                     : -1;
        if (rc == WEB_ITEM_ASKED) /* release = request: an approver decides */
            asked++;
        else if (rc == 0)
            done++;
        else
            failed++;
    }
    if (asked > 0)
        snprintf(to, sizeof(to), "/quarantine?done=%s&n=%zu&failed=%zu&asked=%zu", action, done,
                 failed, asked);
    else
        snprintf(to, sizeof(to), "/quarantine?done=%s&n=%zu&failed=%zu", action, done, failed);
    web_resp_redirect(resp, to);
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
    const struct web_req *req;
    const char *recipient; /* NULL: every record */
    size_t n;
    size_t own; /* records that name the recipient (or any, for NULL) */
};

static void q_trace_row(const struct store_trace *t, void *ctx)
{
    struct q_trace *q = ctx;
    char when[64];

    if (q->recipient != NULL && t->recipient[0] != '\0' &&
        strcasecmp(t->recipient, q->recipient) != 0)
        return;
    q->n++;
    if (q->recipient == NULL || t->recipient[0] != '\0')
        q->own++;
    web_page_date(q->req, t->at, I18N_DATETIME, when, sizeof(when));
    html_add(q->h,
             "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"detail\">%s</td>"
             "<td>%L ms</td></tr>\n",
             when, t->event, t->service, t->verdict, t->detail, t->duration_ms);
}

/*
 * q_trace_table - the trace records of trace_id that concern recipient
 * (theirs and the transaction's own); returns how many name the recipient.
 */
static size_t q_trace_table(struct web_req *req, struct html *h, const char *trace_id,
                            const char *recipient)
{
    struct q_trace q = {.h = h, .req = req, .recipient = recipient};
    const char *error;
    static const char *const cols[] = {"web.trace.when",
                                       "web.trace.event",
                                       "web.trace.service",
                                       "web.trace.verdict",
                                       "web.trace.detail",
                                       "web.trace.time",
                                       NULL};

    html_add(h, "<div class=\"wrap\"><table class=\"trace\">\n");
    web_page_thead(h, req, cols);
    html_add(h, "<tbody>\n");
    if (store_trace_list(req->st, trace_id, q_trace_row, &q, &error) < 0)
        log_warnx("web: trace %s: %s", trace_id, error);
    html_add(h, "</tbody></table></div>\n");
    return q.own;
}

/* q_action_form - one action's form: a hidden action, CSRF and the button. */
static void q_action_form(struct html *h, const struct web_req *req, const struct store_qitem *it,
                          const char *action, const char *key, const char *cls)
{
    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\" class=\"act\">", it->id);
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"action\" value=\"%s\"><button type=\"submit\" "
             "class=\"%s\">%s</button></form>\n",
             action, cls, web_t(req, key));
}

/* q_item_allow_form - release and allow the sender's address or domain. */
static void q_item_allow_form(struct html *h, const struct web_req *req,
                              const struct store_qitem *it)
{
    const char *at = strrchr(it->sender, '@');
    char everyone[300];

    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\" class=\"allow\">", it->id);
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"action\" value=\"release-whitelist\">"
             "<fieldset><legend>%s</legend>"
             "<div><input type=\"radio\" id=\"wl-address\" name=\"whitelist\" value=\"address\" "
             "checked><label for=\"wl-address\" class=\"inline\">%s</label></div>"
             "<div><input type=\"radio\" id=\"wl-domain\" name=\"whitelist\" value=\"domain\">"
             "<label for=\"wl-domain\" class=\"inline\">%s</label></div></fieldset>"
             "<button type=\"submit\">%s</button></form>\n",
             web_t(req, "web.item.allow_legend"), it->sender,
             web_tf(req, everyone, sizeof(everyone), "web.item.allow_domain", "domain",
                    at != NULL ? at + 1 : it->sender),
             web_t(req, "web.action.allow"));
}

static void q_item_actions(struct html *h, const struct web_req *req, const struct store_qitem *it)
{
    char state[16] = "", last[256] = "";
    const char *error;

    html_add(h,
             "<section class=\"actions-box\" aria-labelledby=\"actions-h\"><h2 id=\"actions-h\" "
             "class=\"vh\">%s</h2><div class=\"actions\">\n",
             web_t(req, "web.item.actions"));
    /* a release on its way: nothing more to do here */
    if (it->status == STORE_HELD &&
        store_release_state(req->st, it->id, state, sizeof(state), last, sizeof(last), &error) ==
            0 &&
        strcmp(state, "pending") == 0) {
        html_add(h, "</div>\n<p class=\"notice\">%s</p>\n", web_t(req, "web.item.pending"));
    } else if (it->status == STORE_HELD) {
        char failed[600];
        /* a release that did not arrive says so, with the mailbox store's own reply */
        if (strcmp(state, "failed") == 0)
            html_add(h, "<p class=\"notice\" role=\"status\">%s</p>\n",
                     web_tf(req, failed, sizeof(failed), "web.item.release_failed", "reply",
                            last[0] != '\0' ? last : "-"));
        if (!web_item_release_form(h, req, it))
            q_action_form(h, req, it, "release", "web.action.release", "");
        web_learn_form(h, req, it);
        if (it->sender[0] != '\0')
            q_action_form(h, req, it, "block", "web.action.block", "secondary");
        q_action_form(h, req, it, "delete", "web.action.delete", "danger");
        html_add(h, "</div>\n");
        if (it->sender[0] == '\0') /* the null sender: nothing to allow or block */
            html_add(h, "<p class=\"muted\">%s</p>\n", web_t(req, "web.item.null_sender_note"));
        else if (web_item_policy(req, it) == SVC_RELEASE_SELF) /* allowing releases too */
            q_item_allow_form(h, req, it);
    } else if (it->status == STORE_DELETED) {
        q_action_form(h, req, it, "restore", "web.action.restore", "");
        html_add(h, "</div>\n<p class=\"muted\">%s</p>\n", web_t(req, "web.item.deleted_note"));
    } else {
        html_add(h, "</div>\n<p class=\"muted\">%s</p>\n",
                 web_t(req, it->status == STORE_RELEASED ? "web.item.released_note"
                                                         : "web.item.expired_note"));
    }
    html_add(h, "</section>\n");
}

/* q_item_load - the item's content looked at for the preview; false when not available. */
static bool q_item_load(struct web_req *req, const struct store_qitem *it, struct web_preview *p,
                        bool *cut)
{
    struct q_buf b = {0};
    const char *error;

    if (store_quarantine_content(req->st, it->id, q_collect, &b, &error) < 0) {
        free(b.data);
        return false;
    }
    web_preview_parse(b.data != NULL ? b.data : "", b.len, p);
    *cut = b.cut;
    free(b.data);
    return true;
}

/* q_item_preview - the message as text and its attachments (p NULL: not available). */
static void q_item_preview(struct web_req *req, struct html *h, const struct store_qitem *it,
                           const struct web_preview *p, bool cut)
{
    char size[32];

    html_add(h, "<section aria-labelledby=\"preview-h\"><h2 id=\"preview-h\">%s</h2>\n",
             web_t(req, "web.item.message"));
    if (p == NULL) {
        html_add(
            h, "<p class=\"muted\">%s</p>\n</section>\n",
            web_t(req, it->status == STORE_HELD ? "web.item.unreadable" : "web.item.not_kept"));
        return;
    }
    html_add(h, "<p class=\"muted\">%s</p>\n",
             web_t(req, p->from_html ? "web.item.html_note" : "web.item.text_note"));
    html_add(h,
             "<pre class=\"preview\" id=\"preview\" tabindex=\"0\" aria-labelledby=\"preview-h\">"
             "%s</pre>\n",
             p->text);
    if (p->truncated || cut)
        html_add(h, "<p class=\"muted\">%s</p>\n", web_t(req, "web.item.cut"));
    if (p->natt > 0) {
        html_add(h, "<h3>%s</h3>\n<ul class=\"attachments\">", web_t(req, "web.item.attachments"));
        for (size_t i = 0; i < p->natt; i++) {
            i18n_size(size, sizeof(size), req->lang, p->att[i].size);
            html_add(h, "<li>%s <span class=\"muted\">(%s, %s)</span></li>", p->att[i].name,
                     p->att[i].type, size);
        }
        html_add(h, "</ul>\n");
    }
    html_add(h, "</section>\n");
}

/* q_item_tech - "Technical details", folded: the OPES trace explained, the technical
 * reason, the header fields and the trace. */
static void q_item_tech(struct web_req *req, struct html *h, const struct store_qitem *it,
                        const struct web_preview *p)
{
    html_add(h,
             "<details class=\"tech\"><summary>%s</summary>\n<p>%s <a href=\"/opes\">%s</a></p>\n"
             "<dl><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd><a href=\"/trace/%U\">%s</a></dd></dl>\n",
             web_t(req, "web.tech.summary"), web_t(req, "web.tech.explain"),
             web_t(req, "web.tech.opes_link"), web_t(req, "web.tech.service"), it->service,
             web_t(req, "web.tech.reason"), it->reason, web_t(req, "web.tech.date"), it->date,
             web_t(req, "web.tech.trace"), it->trace_id, it->trace_id);
    if (p != NULL) {
        html_add(h, "<h3>%s</h3>\n<div class=\"wrap\"><table class=\"headers\"><tbody>\n",
                 web_t(req, "web.item.header_fields"));
        for (size_t i = 0; i < p->nhdr; i++)
            html_add(h, "<tr><th scope=\"row\">%s</th><td>%s</td></tr>\n", p->hdr[i].name,
                     p->hdr[i].value);
        html_add(h, "</tbody></table></div>\n");
    }
    html_add(h, "<h3>%s</h3>\n", web_t(req, "web.tech.trace_h"));
    q_trace_table(req, h, it->trace_id, it->recipient);
    html_add(h, "</details>\n");
}

struct q_next {
    const char *skip;
    char id[STORE_ID_LEN + 1];
};

static void q_next_row(const struct store_qitem *it, void *ctx)
{
    struct q_next *n = ctx;

    if (n->id[0] == '\0' && strcmp(it->id, n->skip) != 0)
        snprintf(n->id, sizeof(n->id), "%s", it->id);
}

/* q_item_done - what the action just did, and where to go next. */
static void q_item_done(struct web_req *req, struct html *h, const struct store_qitem *it)
{
    const char *done = web_form_get(&req->query, "done");
    struct store_qfilter f = {.recipient = it->recipient, .status = STORE_HELD, .limit = 2};
    struct q_next next = {.skip = it->id};
    const char *error;
    char key[48];

    if (done != NULL && strcmp(done, "asked") == 0) { /* release = request */
        html_add(h, "<div class=\"notice\" role=\"status\"><p>%s</p></div>\n",
                 web_t(req, "roles.web.asked"));
        return;
    }
    if (done == NULL || (!q_action_known(done) && strcmp(done, "not-spam") != 0))
        return;
    snprintf(key, sizeof(key), "web.item.done.%s", done);
    html_add(h, "<div class=\"notice\" role=\"status\"><p>%s</p><p class=\"next\">",
             web_t(req, key));
    if (store_web_quarantine_list(req->st, &f, STORE_SORT_NEWEST, q_next_row, &next, &error) < 0)
        log_warnx("web: next item: %s", error);
    if (next.id[0] != '\0')
        html_add(h, "<a href=\"/quarantine/%U\" class=\"button\">%s</a> ", next.id,
                 web_t(req, "web.item.next"));
    html_add(h, "<a href=\"/quarantine\">%s</a></p></div>\n", web_t(req, "web.back.list"));
}

void page_item(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;
    struct web_preview p;
    struct html h = {0};
    char when[64], size[32], why[REASON_WORDS_MAX], key[40];
    bool have, cut = false;

    if (web_item_for(req, resp, req->args[0], &it) != 0)
        return;
    have = q_item_load(req, &it, &p, &cut);
    web_page_begin(&h, req, q_subject(req, &it));
    q_item_done(req, &h, &it);
    snprintf(key, sizeof(key), "web.status.%s", store_qstatus_name(it.status));
    i18n_size(size, sizeof(size), req->lang, it.size);
    html_add(&h, "<dl class=\"envelope\"><dt>%s</dt><dd>", web_t(req, "web.col.from"));
    q_sender(&h, req, &it);
    html_add(&h,
             "</dd><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd class=\"why cat-%s\" id=\"why\">%s</dd>"
             "<dt>%s</dt><dd id=\"status\" data-status=\"%s\">%s</dd></dl>\n",
             web_t(req, "web.col.to"), it.recipient, web_t(req, "web.col.received"),
             web_page_date(req, it.created, I18N_DATETIME, when, sizeof(when)),
             web_t(req, "web.col.size"), size, web_t(req, "web.col.why"),
             web_item_category(req, &it), web_item_reason(req, &it, why, sizeof(why)),
             web_t(req, "web.col.status"), store_qstatus_name(it.status), web_t(req, key));
    web_item_roles(&h, req, &it);
    q_item_actions(&h, req, &it);
    q_item_preview(req, &h, &it, have ? &p : NULL, cut);
    q_item_tech(req, &h, &it, have ? &p : NULL);
    if (have)
        web_preview_free(&p);
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_item_post(struct web_req *req, struct web_resp *resp)
{
    const char *action = web_form_get(&req->form, "action");
    const char *confirm = web_form_get(&req->form, "confirm");
    const char *wl = web_form_get(&req->form, "whitelist");
    const char *days = web_form_get(&req->form, "expires_days"), *why;
    struct store_qitem it;
    int64_t expires = 0;
    char to[160];
    int rc;

    if (web_item_for(req, resp, req->args[0], &it) != 0)
        return;
    snprintf(to, sizeof(to), "/quarantine/%s", it.id);
    if (days != NULL && days[0] != '\0') {
        long d = strtol(days, NULL, 10);
        if (d < 1 || d > 3650) {
            web_page_error(req, resp, 400, "web.err.expiry");
            return;
        }
        expires = req->now + (int64_t)d * 86400;
    }
    if (action != NULL && strcmp(action, "delete") == 0 &&
        (confirm == NULL || strcmp(confirm, "1") != 0)) {
        const char *ids[1] = {it.id};
        q_confirm_delete(req, resp, ids, 1, to);
        return;
    }
    rc = action != NULL
             ? web_item_act(req, &it, action, wl != NULL ? wl : "", expires, "portal", &why)
             : -1;
    if (rc < 0) {
        web_page_message(req, resp, action == NULL ? 400 : 409, "web.status.409",
                         action == NULL ? "web.err.choose_action" : why, to, "web.back.item");
        return;
    }
    snprintf(to, sizeof(to), "/quarantine/%s?done=%s", it.id,
             rc == WEB_ITEM_ASKED ? "asked" : action);
    web_resp_redirect(resp, to);
}

void page_trace(struct web_req *req, struct web_resp *resp)
{
    struct html h = {0};
    char text[300];
    size_t n;

    web_page_begin(&h, req, "web.trace.title");
    html_add(&h, "<p>%s <a href=\"/opes\">%s</a></p>\n",
             web_tf(req, text, sizeof(text), "web.trace.intro", "trace", req->args[0]),
             web_t(req, "web.tech.opes_link"));
    n = q_trace_table(req, &h, req->args[0], req->sess.admin ? NULL : req->sess.address);
    web_page_end(&h, req);
    if (n == 0) {
        html_free(&h);
        web_page_error(req, resp, 404, "web.err.no_trace");
        return;
    }
    web_resp_html(resp, 200, &h);
}
