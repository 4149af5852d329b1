/*
 * web_api.h - /api/v1: the quarantine and the lists as JSON, for a session
 * or an API token (Authorization: Bearer). Documented in web/openapi.json,
 * which is also served at /api/v1/openapi.json.
 */
#ifndef OPES_WEB_API_H
#define OPES_WEB_API_H

struct web_req;
struct web_resp;

/*
 * api_bearer - authenticate req by its Authorization header alone: a live API
 * token makes req's session that of the token's user (req->via names the
 * token). 0, or -1 with the answer made: 401 with WWW-Authenticate, or 429
 * once the client's failures pass the per-client limit.
 */
int api_bearer(struct web_req *req, struct web_resp *resp);
/* api_unauthorized - the API's 401 (WWW-Authenticate: Bearer) with message. */
void api_unauthorized(const struct web_req *req, struct web_resp *resp, const char *message);
/* web_api_error - the API's error answer: {"error": code, "message": message} with status. */
void web_api_error(const struct web_req *req, struct web_resp *resp, int status,
                   const char *message);

/* handlers */
void api_openapi(struct web_req *req, struct web_resp *resp);
void api_quarantine_list(struct web_req *req, struct web_resp *resp);
void api_quarantine_item(struct web_req *req, struct web_resp *resp);
void api_quarantine_release(struct web_req *req, struct web_resp *resp);
void api_quarantine_delete(struct web_req *req, struct web_resp *resp);
void api_quarantine_restore(struct web_req *req, struct web_resp *resp);
void api_lists(struct web_req *req, struct web_resp *resp);
void api_lists_add(struct web_req *req, struct web_resp *resp);
void api_lists_remove(struct web_req *req, struct web_resp *resp);

#endif
