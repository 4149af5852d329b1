/*
 * web_testutil.c - see web_testutil.h.
 */
#include "web_testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/web_page.h"
#include "opes/web_svcinfo.h"

char *unit_tmpdir(void);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

void wt_open(struct wt *w, const char *extra)
{
    char *text, *path;
    const char *error;

    memset(w, 0, sizeof(*w));
    w->dir = unit_tmpdir();
    if (asprintf(&text,
                 "[opes]\nsystem_uri = http://opes.example.org/opes\n"
                 "[store]\npath = %s/opesd.db\nkey_file = %s/keys\n"
                 "[web]\nbase_url = http://portal.example.org\n%s",
                 w->dir, w->dir, extra) < 0)
        abort();
    path = unit_write_file(w->dir, "opesd.conf", text, strlen(text));
    w->cfg = config_load(path, &error);
    ck_assert_msg(w->cfg != NULL, "%s", error);
    w->ctx.cfg = w->cfg;
    w->ctx.svc = web_svcinfo_load(w->cfg, &w->ctx.nsvc);
    w->st = store_open(w->cfg->store_path, w->cfg->key_file, &error);
    ck_assert_msg(w->st != NULL, "%s", error);
    free(text);
    free(path);
}

void wt_close(struct wt *w)
{
    store_close(&w->st);
    free(w->ctx.svc);
    config_unref(&w->cfg);
    free(w->dir);
}

struct wt_msg {
    const char *text;
    size_t off;
};

static ssize_t wt_read(void *ctx, void *buf, size_t len)
{
    struct wt_msg *m = ctx;
    size_t n = strlen(m->text + m->off);

    if (n > len)
        n = len;
    memcpy(buf, m->text + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

static int wt_rewind(void *ctx)
{
    ((struct wt_msg *)ctx)->off = 0;
    return 0;
}

void wt_hold(struct wt *w, const char *sender, const char *rcpt, const char *message, char *id)
{
    struct wt_msg m = {.text = message};
    struct store_reader r = {.read = wt_read, .rewind = wt_rewind, .ctx = &m};
    struct store_qitem it = {.status = STORE_HELD, .size = strlen(message)};
    const char *error;

    snprintf(it.trace_id, sizeof(it.trace_id), "trace-1");
    snprintf(it.sender, sizeof(it.sender), "%s", sender);
    snprintf(it.recipient, sizeof(it.recipient), "%s", rcpt);
    snprintf(it.subject, sizeof(it.subject), "held <b>subject</b>");
    snprintf(it.service, sizeof(it.service), "rules");
    snprintf(it.reason, sizeof(it.reason), "test rule");
    ck_assert_msg(store_quarantine_add(w->st, &it, 1, &r, &error) == 0, "%s", error);
    strcpy(id, it.id);
}

const char *wt_accept_language;

void wt_run(struct wt *w, const char *method, const char *path, const char *body,
            const struct web_session *s, const char *origin, struct web_resp *resp)
{
    struct web_req req;

    memset(&req, 0, sizeof(req));
    memset(resp, 0, sizeof(*resp));
    req.ctx = &w->ctx;
    req.st = w->st;
    req.method = method;
    req.path = path;
    req.origin = origin;
    req.now = (int64_t)time(NULL);
    snprintf(req.client, sizeof(req.client), "127.0.0.1");
    if (body != NULL)
        ck_assert_int_eq(web_form_parse(&req.form, body, strlen(body)), WEB_FORM_OK);
    if (s != NULL)
        req.sess = *s;
    req.accept_language = wt_accept_language;
    web_page_locale(&req);
    web_route_dispatch(&req, resp);
    web_req_free(&req);
}
