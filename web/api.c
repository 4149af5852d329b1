/*
 * api.c - /api/v1: the quarantine as JSON, with the same authorisation as
 * the pages (the session cookie; a recipient sees their own items, an
 * administrator every item). Each entry carries the technical reason and,
 * as the pages show them, reason_text (in the language the pages would use)
 * and category. Documents are built with jansson, never by string
 * concatenation.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "opes/log.h"
#include "opes/reason.h"
#include "opes/store.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

/* api_item - an entry; reason_text and category are the words the pages show (req's language). */
static json_t *api_item(const struct web_req *req, const struct store_qitem *it)
{
    char why[REASON_WORDS_MAX];
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I}", "id", it->id,
                  "trace", it->trace_id, "sender", it->sender, "recipient", it->recipient,
                  "subject", it->subject, "date", it->date, "size", (json_int_t)it->size, "service",
                  it->service, "reason", it->reason, "status", store_qstatus_name(it->status),
                  "created", (json_int_t)it->created, "updated", (json_int_t)it->updated);

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "from_name", json_string(it->from_name));
    json_object_set_new(o, "reason_text", json_string(web_item_reason(req, it, why, sizeof(why))));
    json_object_set_new(o, "category", json_string(web_item_category(req, it)));
    json_object_set_new(o, "language", json_string(req->lang != NULL ? req->lang : "en"));
    return o;
}

struct api_list {
    const struct web_req *req;
    json_t *arr;
};

static void api_list_cb(const struct store_qitem *it, void *ctx)
{
    struct api_list *l = ctx;
    json_t *o = api_item(l->req, it);

    if (o != NULL)
        json_array_append_new(l->arr, o);
}

static void api_send(struct web_resp *resp, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

    json_decref(j);
    if (s == NULL) {
        web_resp_text(resp, 500, "application/json", "{\"error\":\"encoding\"}", 20);
        return;
    }
    web_resp_text(resp, status, "application/json", s, strlen(s));
    free(s);
    resp->no_store = true;
}

static void api_error(struct web_resp *resp, int status, const char *message)
{
    api_send(resp, status, json_pack("{s:s}", "error", message));
}

void api_quarantine_list(struct web_req *req, struct web_resp *resp)
{
    const char *status = web_form_get(&req->query, "status");
    const char *q = web_form_get(&req->query, "q");
    const char *off = web_form_get(&req->query, "offset");
    const char *lim = web_form_get(&req->query, "limit"), *error;
    const char *sort = web_form_get(&req->query, "sort");
    enum store_web_sort order = STORE_SORT_NEWEST;
    struct store_qfilter f = {.status = -1, .limit = 50};
    json_t *arr = json_array();
    struct api_list l = {.req = req, .arr = arr};
    int64_t total = 0;

    if (status != NULL)
        for (int i = 0; i < 4; i++)
            if (strcmp(status, store_qstatus_name((enum store_qstatus)i)) == 0)
                f.status = i;
    f.search = q != NULL && q[0] != '\0' ? q : NULL;
    f.offset = off != NULL ? strtoul(off, NULL, 10) : 0;
    f.limit = lim != NULL ? strtoul(lim, NULL, 10) : 50;
    if (f.limit == 0 || f.limit > 200)
        f.limit = 200;
    f.recipient = req->sess.admin ? web_form_get(&req->query, "recipient") : req->sess.address;
    if (sort != NULL && strcmp(sort, "oldest") == 0)
        order = STORE_SORT_OLDEST;
    else if (sort != NULL && strcmp(sort, "sender") == 0)
        order = STORE_SORT_SENDER;
    else if (sort != NULL && strcmp(sort, "subject") == 0)
        order = STORE_SORT_SUBJECT;
    else if (sort != NULL && strcmp(sort, "size") == 0)
        order = STORE_SORT_SIZE;
    else if (sort != NULL && strcmp(sort, "reason") == 0)
        order = STORE_SORT_REASON;
    if (store_web_quarantine_list(req->st, &f, order, api_list_cb, &l, &error) < 0 ||
        store_web_quarantine_count(req->st, &f, &total, &error) < 0) {
        log_warnx("web: api list: %s", error);
        json_decref(arr);
        api_error(resp, 500, "store");
        return;
    }
    api_send(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}

void api_quarantine_item(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;
    const char *error;
    int rc = strlen(req->args[0]) == STORE_ID_LEN
                 ? store_quarantine_get(req->st, req->args[0], &it, &error)
                 : STORE_NOTFOUND;

    if (rc < 0) {
        api_error(resp, 500, "store");
        return;
    }
    if (rc == STORE_NOTFOUND ||
        (!req->sess.admin && strcasecmp(it.recipient, req->sess.address) != 0)) {
        api_error(resp, 404, "not found");
        return;
    }
    api_send(resp, 200, api_item(req, &it));
}
