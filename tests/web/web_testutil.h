/*
 * web_testutil.h - a portal context on a real temporary store for the
 * suites that drive handlers: configuration from a written file, one
 * store connection, and helpers to make and run requests.
 */
#ifndef OPES_WEB_TESTUTIL_H
#define OPES_WEB_TESTUTIL_H

#include "opes/config.h"
#include "opes/store.h"
#include "opes/web_http.h"

struct wt {
    char *dir;
    struct opes_config *cfg;
    struct web_ctx ctx;
    struct store *st;
};

/* wt_open - a context whose config has extra appended (INI text, may be ""). */
void wt_open(struct wt *w, const char *extra);
void wt_close(struct wt *w);
/* wt_hold - hold a message (trace id "trace-1") for rcpt from sender; its id into id. */
void wt_hold(struct wt *w, const char *sender, const char *rcpt, const char *message, char *id);
/*
 * wt_run - dispatch method path with body (urlencoded, may be NULL) in the
 * session s (may be NULL); resp must be freed with web_resp_free.
 */
void wt_run(struct wt *w, const char *method, const char *path, const char *body,
            const struct web_session *s, const char *origin, struct web_resp *resp);
/* wt_accept_language - the Accept-Language of the requests wt_run makes (NULL: none). */
extern const char *wt_accept_language;

#endif
