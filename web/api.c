/*
 * api.c - /api/v1: the quarantine and the white and block lists as JSON, to
 * read and to act on. A request is authenticated by an API token
 * (Authorization: Bearer, which alone decides: no cookie counts and CSRF does
 * not apply) or else by the session cookie, whose writes need the session's
 * CSRF token as for the pages. Who may see and act on what is web_may_act's
 * decision, the same as the pages'; another recipient's item is "not found",
 * so that ids cannot be probed. Every act is audited with origin "api" and
 * the token's id and name (never its secret). Documents are built with
 * jansson, never by string concatenation; web/openapi.json describes them.
 *
 * Each entry carries the technical reason and, as the pages show them,
 * reason_text (in the language the pages would use) and category.
 *
 * A release is a request that opesd carries out: the answer is 202 with the
 * request's state and the item's URL to poll; the item shows "delivered" only
 * after the store's 2xx, and "failed" with the store's reply.
 *
 * Decisions on release requests (approve, deny) belong beside the quarantine
 * actions below: a POST on the request's path, judged by web_may_act on the
 * item's recipient, audited by api_audit.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/reason.h"
#include "opes/store.h"
#include "opes/web_access.h"
#include "opes/web_api.h"
#include "opes/web_http.h"
#include "opes/web_page.h"

#define API_HOUR 3600
#define API_ORIGIN "api"

/* the description of this API, embedded at build time from web/openapi.json */
struct api_doc {
    const char *name;
    const char *text;
};
extern const struct api_doc api_docs[];

/* ------------------------------------------------------------ answers */

static void api_send(struct web_resp *resp, int status, json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

    json_decref(j);
    resp->no_store = true;
    if (s == NULL) {
        static const char oom[] = "{\"error\":\"server_error\",\"message\":\"encoding\"}";
        web_resp_text(resp, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    web_resp_text(resp, status, "application/json", s, strlen(s));
    free(s);
}

/* api_code - the machine-readable word of an error status. */
static const char *api_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "too_large";
    case 429:
        return "rate_limited";
    case 503:
        return "unavailable";
    default:
        return "server_error";
    }
}

void web_api_error(const struct web_req *req, struct web_resp *resp, int status,
                   const char *message)
{
    (void)req;
    api_send(resp, status, json_pack("{s:s, s:s}", "error", api_code(status), "message", message));
    resp->bearer_challenge = status == 401;
}

void api_unauthorized(const struct web_req *req, struct web_resp *resp, const char *message)
{
    web_api_error(req, resp, 401, message);
}

/* ------------------------------------------------------------ authentication */

/* api_bearer_failed - count a failed token for the client: 401, or 429 over the limit. */
static int api_bearer_failed(struct web_req *req, struct web_resp *resp, const char *message)
{
    unsigned max = (unsigned)req->ctx->cfg->web_login_rate * 4; /* as the login link's */
    const char *error;
    char key[128];
    int rc;

    snprintf(key, sizeof(key), "api-token-client:%s", req->client);
    rc = store_rate_hit(req->st, key, API_HOUR, max, &error);
    if (rc < 0)
        log_warnx("web: rate limit: %s", error);
    if (rc != 0)
        web_api_error(req, resp, 429,
                      "Too many failed API tokens from your address. "
                      "Try again later.");
    else
        api_unauthorized(req, resp, message);
    return -1;
}

int api_bearer(struct web_req *req, struct web_resp *resp)
{
    const char *a = req->authorization, *error;
    struct store_apitoken t;
    struct store_user u;
    int rc;

    memset(&req->sess, 0, sizeof(req->sess));
    req->via[0] = '\0';
    if (strncasecmp(a, "Bearer ", 7) != 0)
        return api_bearer_failed(req, resp, "Send the API token as Authorization: Bearer TOKEN.");
    a += 7;
    a += strspn(a, " ");
    rc = store_apitoken_verify(req->st, a, req->now, &t, &error);
    if (rc < 0) {
        log_warnx("web: api token: %s", error);
        web_api_error(req, resp, 500, "The token could not be checked.");
        return -1;
    }
    if (rc != 0)
        return api_bearer_failed(req, resp, "The API token is unknown, revoked or expired.");
    rc = store_user_get(req->st, t.address, &u, &error);
    if (rc < 0) {
        log_warnx("web: api user: %s", error);
        web_api_error(req, resp, 500, "The token's user could not be read.");
        return -1;
    }
    req->sess.valid = true;
    req->sess.admin = rc == 0 && u.role == STORE_ROLE_ADMIN; /* the role as it is now */
    snprintf(req->sess.address, sizeof(req->sess.address), "%s", t.address);
    snprintf(req->via, sizeof(req->via), "token %lld %s", (long long)t.id, t.name);
    if (web_access_load(req->st, &req->sess, &error) < 0) {
        log_warnx("web: api user's scope: %s", error);
        web_api_error(req, resp, 500, "The token's user could not be read.");
        return -1;
    }
    return 0;
}

/* api_audit - one act of the API in the audit log: origin "api", and the token. */
static void api_audit(struct web_req *req, const char *action, const char *object)
{
    const char *error;

    if (store_audit_via(req->st, req->sess.address, action, object, API_ORIGIN, req->via, &error) <
        0)
        log_warnx("web: audit: %s", error);
}

/*
 * api_body - the request's fields: a JSON object body (*obj_r, NULL when the
 * body is empty or a form). 0, or -1 with a 400 made.
 */
static int api_body(struct web_req *req, struct web_resp *resp, json_t **obj_r)
{
    json_error_t jerr;

    *obj_r = NULL;
    if (req->body == NULL || req->body_len == 0)
        return 0;
    *obj_r = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (*obj_r == NULL || !json_is_object(*obj_r)) {
        json_decref(*obj_r);
        *obj_r = NULL;
        web_api_error(req, resp, 400, "The body must be a JSON object.");
        return -1;
    }
    return 0;
}

/* api_field - a text field from the JSON body, else from a form body; NULL when absent. */
static const char *api_field(struct web_req *req, json_t *obj, const char *name)
{
    json_t *v = obj != NULL ? json_object_get(obj, name) : NULL;

    if (v != NULL)
        return json_is_string(v) ? json_string_value(v) : "";
    return web_form_get(&req->form, name);
}

/* ------------------------------------------------------------ the quarantine */

/* api_release - the newest release request of item id as the recipient sees it, or NULL. */
static json_t *api_release(struct web_req *req, const char *id)
{
    struct store_release_info ri;
    const char *error;

    if (store_release_info(req->st, id, &ri, &error) != 0)
        return NULL;
    return json_pack("{s:s, s:s, s:I, s:i}", "state",
                     strcmp(ri.state, "done") == 0 ? "delivered" : ri.state, "reply", ri.reply,
                     "at", (json_int_t)ri.at, "attempts", ri.attempts);
}

static json_t *api_item(struct web_req *req, const struct store_qitem *it)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I}", "id", it->id,
                  "trace", it->trace_id, "sender", it->sender, "recipient", it->recipient,
                  "subject", it->subject, "date", it->date, "size", (json_int_t)it->size, "service",
                  it->service, "reason", it->reason, "status", store_qstatus_name(it->status),
                  "created", (json_int_t)it->created, "updated", (json_int_t)it->updated);
    json_t *rel = o != NULL ? api_release(req, it->id) : NULL;
    char why[REASON_WORDS_MAX];

    if (o == NULL)
        return NULL;
    if (rel != NULL)
        json_object_set_new(o, "release", rel);
    /* the words the pages show, in the language they would use */
    json_object_set_new(o, "from_name", json_string(it->from_name));
    json_object_set_new(o, "reason_text", json_string(web_item_reason(req, it, why, sizeof(why))));
    json_object_set_new(o, "category", json_string(web_item_category(req, it)));
    json_object_set_new(o, "language", json_string(req->lang != NULL ? req->lang : "en"));
    return o;
}

struct api_list_ctx {
    struct web_req *req;
    json_t *arr;
};

static void api_list_cb(const struct store_qitem *it, void *ctx)
{
    struct api_list_ctx *l = ctx;
    json_t *o = api_item(l->req, it);
    if (o != NULL)
        json_array_append_new(l->arr, o);
}

void api_quarantine_list(struct web_req *req, struct web_resp *resp)
{
    const char *status = web_form_get(&req->query, "status");
    const char *q = web_form_get(&req->query, "q");
    const char *off = web_form_get(&req->query, "offset");
    const char *lim = web_form_get(&req->query, "limit"), *error;
    const char *sort = web_form_get(&req->query, "sort");
    const char *rcpt = web_form_get(&req->query, "recipient");
    enum store_web_sort order = STORE_SORT_NEWEST;
    struct store_qfilter f = {.status = -1, .limit = 50};
    struct api_list_ctx l = {.req = req, .arr = json_array()};
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
    /* everyone's for whom may act on every address, else one's own */
    f.recipient =
        web_sees_all(&req->sess) ? (rcpt != NULL && rcpt[0] ? rcpt : NULL) : req->sess.address;
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
        json_decref(l.arr);
        web_api_error(req, resp, 500, "The quarantine could not be read.");
        return;
    }
    api_send(resp, 200, json_pack("{s:o, s:I}", "items", l.arr, "total", (json_int_t)total));
}

/* api_item_reply - the item id (as it is now) with status, or a 500. */
static void api_item_reply(struct web_req *req, struct web_resp *resp, const char *id, int status)
{
    struct store_qitem it;
    const char *error;

    if (store_quarantine_get(req->st, id, &it, &error) != 0) {
        web_api_error(req, resp, 500, "The item could not be read.");
        return;
    }
    api_send(resp, status, api_item(req, &it));
}

void api_quarantine_item(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;

    if (web_item_for(req, resp, req->args[0], &it) == 0)
        api_send(resp, 200, api_item(req, &it));
}

/* api_held - the item of the path, held and the caller's to act on: 0, or -1 answered. */
static int api_held(struct web_req *req, struct web_resp *resp, struct store_qitem *it)
{
    if (web_item_for(req, resp, req->args[0], it) != 0)
        return -1;
    if (it->status != STORE_HELD) {
        web_api_error(req, resp, 409, "This message is not held any more.");
        return -1;
    }
    return 0;
}

/* api_act_failed - web_item_act said why: 409 when the item moved on meanwhile, else 400. */
static void api_act_failed(struct web_req *req, struct web_resp *resp, const char *id,
                           const char *why)
{
    struct store_qitem it;
    const char *error;
    int rc = store_quarantine_get(req->st, id, &it, &error);

    web_api_error(req, resp, rc < 0 ? 500 : rc != 0 || it.status != STORE_HELD ? 409 : 400, why);
}

void api_quarantine_release(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;
    const char *whitelist, *why;
    json_t *body, *rel;
    char poll[128];
    int rc;

    if (api_held(req, resp, &it) < 0 || api_body(req, resp, &body) < 0)
        return;
    whitelist = api_field(req, body, "whitelist");
    if (whitelist != NULL && whitelist[0] == '\0')
        whitelist = NULL;
    rc = web_item_act(req, &it, whitelist != NULL ? "release-whitelist" : "release",
                      whitelist != NULL ? whitelist : "", 0, API_ORIGIN, &why);
    json_decref(body);
    if (rc < 0) {
        api_act_failed(req, resp, it.id, why);
        return;
    }
    snprintf(poll, sizeof(poll), "/api/v1/quarantine/%s", it.id);
    if (rc == WEB_ITEM_ASKED) { /* release = request: an approver decides */
        struct store_approval a = {.id = 0};
        store_approval_of(req->st, it.id, &a, &why);
        snprintf(resp->location, sizeof(resp->location), "%s", poll);
        api_send(resp, 202,
                 json_pack("{s:s, s:{s:I, s:s}, s:s}", "id", it.id, "request", "id",
                           (json_int_t)a.id, "state", "pending", "poll", poll));
        return;
    }
    rel = api_release(req, it.id);
    if (rel == NULL)
        rel = json_pack("{s:s, s:s, s:I, s:i}", "state", "pending", "reply", "", "at",
                        (json_int_t)req->now, "attempts", 0);
    snprintf(resp->location, sizeof(resp->location), "%s", poll);
    api_send(resp, 202, json_pack("{s:s, s:o, s:s}", "id", it.id, "release", rel, "poll", poll));
}

void api_quarantine_delete(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;
    const char *why;

    if (api_held(req, resp, &it) < 0)
        return;
    if (web_item_act(req, &it, "delete", "", 0, API_ORIGIN, &why) < 0) {
        api_act_failed(req, resp, it.id, why);
        return;
    }
    api_item_reply(req, resp, it.id, 200);
}

void api_quarantine_restore(struct web_req *req, struct web_resp *resp)
{
    struct store_qitem it;
    const char *error;
    int rc;

    if (web_item_for(req, resp, req->args[0], &it) != 0)
        return;
    if (it.status != STORE_DELETED) {
        web_api_error(req, resp, 409, "Only a deleted message can be restored.");
        return;
    }
    rc = store_quarantine_restore(req->st, it.id, &error);
    if (rc != 0) {
        if (rc < 0)
            log_warnx("web: restore %s: %s", it.id, error);
        web_api_error(req, resp, rc < 0 ? 500 : 409,
                      rc < 0 ? "The message could not be restored."
                             : "The message's content is gone: it cannot be restored.");
        return;
    }
    api_audit(req, "restore", it.id);
    api_item_reply(req, resp, it.id, 200);
}

/* ------------------------------------------------------------ white and block lists */

struct api_lists_ctx {
    json_t *arr;
    int64_t find_id; /* > 0: only look for this entry */
    bool found;
    struct store_list_entry entry;
};

static void api_lists_cb(const struct store_list_entry *e, void *ctx)
{
    struct api_lists_ctx *l = ctx;

    if (l->find_id > 0) {
        if (e->id == l->find_id) {
            l->found = true;
            l->entry = *e;
        }
        return;
    }
    json_array_append_new(
        l->arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", (json_int_t)e->id,
                          "kind", e->kind == STORE_WHITELIST ? "white" : "block", "owner", e->owner,
                          "sender", e->sender, "created_by", e->created_by, "origin", e->origin,
                          "expires", (json_int_t)e->expires, "created", (json_int_t)e->created));
}

/* api_owner - whose lists: ?owner= / "owner" when given, else the caller's; NULL answered 404. */
static const char *api_owner(struct web_req *req, struct web_resp *resp, const char *owner)
{
    if (owner == NULL || owner[0] == '\0')
        return req->sess.address;
    if (!web_may_act(&req->sess, owner)) {
        web_api_error(req, resp, 404, "There are no such lists for you.");
        return NULL;
    }
    return owner;
}

void api_lists(struct web_req *req, struct web_resp *resp)
{
    const char *owner = web_form_get(&req->query, "owner"), *error;
    struct api_lists_ctx l = {.arr = json_array()};

    /* whoever may act on every address sees every list without ?owner= */
    if ((owner == NULL || owner[0] == '\0') && web_sees_all(&req->sess))
        owner = NULL;
    else if ((owner = api_owner(req, resp, owner)) == NULL) {
        json_decref(l.arr);
        return;
    }
    if (store_list_show(req->st, owner, api_lists_cb, &l, &error) < 0) {
        log_warnx("web: api lists: %s", error);
        json_decref(l.arr);
        web_api_error(req, resp, 500, "The lists could not be read.");
        return;
    }
    api_send(resp, 200, json_pack("{s:o}", "entries", l.arr));
}

void api_lists_add(struct web_req *req, struct web_resp *resp)
{
    struct store_list_entry e = {.created = req->now};
    struct api_lists_ctx l = {.arr = json_array()};
    const char *kind, *sender, *days, *owner, *error;
    json_t *body;
    long d;

    if (api_body(req, resp, &body) < 0) {
        json_decref(l.arr);
        return;
    }
    kind = api_field(req, body, "kind");
    sender = api_field(req, body, "sender");
    days = api_field(req, body, "days");
    d = days != NULL && days[0] != '\0' ? strtol(days, NULL, 10) : 0;
    if (body != NULL && json_is_integer(json_object_get(body, "days")))
        d = (long)json_integer_value(json_object_get(body, "days"));
    owner = api_owner(req, resp, api_field(req, body, "owner"));
    if (owner == NULL)
        goto done;
    if (kind == NULL || (strcmp(kind, "white") != 0 && strcmp(kind, "block") != 0) ||
        !web_sender_ok(sender) || d < 0 || d > 3650) {
        web_api_error(req, resp, 400,
                      "Give kind (white or block), sender (an address or @domain) and days "
                      "(0 to 3650).");
        goto done;
    }
    e.kind = strcmp(kind, "white") == 0 ? STORE_WHITELIST : STORE_BLOCKLIST;
    e.expires = d > 0 ? req->now + (int64_t)d * 86400 : 0;
    snprintf(e.owner, sizeof(e.owner), "%s", owner);
    snprintf(e.sender, sizeof(e.sender), "%s", sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", req->sess.address);
    snprintf(e.origin, sizeof(e.origin), API_ORIGIN);
    if (store_list_add(req->st, &e, &error) < 0 ||
        store_list_show(req->st, e.owner, api_lists_cb, &l, &error) < 0) {
        log_warnx("web: api list add: %s", error);
        web_api_error(req, resp, 500, "The entry could not be stored.");
        goto done;
    }
    api_audit(req, e.kind == STORE_WHITELIST ? "list-add white" : "list-add block", e.sender);
    for (size_t i = 0; i < json_array_size(l.arr); i++) {
        json_t *o = json_array_get(l.arr, i);
        if (strcasecmp(json_string_value(json_object_get(o, "sender")), e.sender) == 0 &&
            strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0) {
            api_send(resp, 201, json_incref(o));
            goto done;
        }
    }
    web_api_error(req, resp, 500, "The entry was stored but cannot be read back.");
done:
    json_decref(body);
    json_decref(l.arr);
}

void api_lists_remove(struct web_req *req, struct web_resp *resp)
{
    struct api_lists_ctx l = {.find_id = strtoll(req->args[0], NULL, 10)};
    const char *error;
    char object[32];

    /* only an entry the caller may act on is found: another's is "not found" */
    if (l.find_id <= 0 ||
        store_list_show(req->st, web_sees_all(&req->sess) ? NULL : req->sess.address, api_lists_cb,
                        &l, &error) < 0 ||
        !l.found || !web_may_act(&req->sess, l.entry.owner)) {
        web_api_error(req, resp, 404, "There is no such entry in your lists.");
        return;
    }
    if (store_list_remove(req->st, l.find_id, &error) != 0) {
        web_api_error(req, resp, 500, "The entry could not be removed.");
        return;
    }
    snprintf(object, sizeof(object), "%lld", (long long)l.find_id);
    api_audit(req, "list-remove", object);
    api_send(resp, 200, json_pack("{s:I, s:b}", "id", (json_int_t)l.find_id, "removed", 1));
}

/* ------------------------------------------------------------ the description */

void api_openapi(struct web_req *req, struct web_resp *resp)
{
    (void)req;
    web_resp_text(resp, 200, "application/json", api_docs[0].text, strlen(api_docs[0].text));
}
