/*
 * pages_learn.c - "Not spam" in the portal and in one-click links: the held
 * message is released as with "Release", and a learning request is recorded
 * for opesd, whose job runner teaches the message as ham to the service that
 * held it once the release is done. Offered only for messages held by a
 * service that learns (spamd, rspamd); the portal never talks to a scanner
 * itself, and the store makes the learning happen once per message.
 */
#include <stdio.h>
#include <string.h>

#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/store.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_svcinfo.h"

bool web_learn_offered(const struct web_req *req, const struct store_qitem *it)
{
    const struct web_svcinfo *s = web_svcinfo_find(req->ctx->svc, req->ctx->nsvc, it->service);

    return it->status == STORE_HELD && s != NULL && s->type != NULL &&
           (strcmp(s->type, "spamd") == 0 || strcmp(s->type, "rspamd") == 0);
}

/* learn_lang - the reader's language (the portal's own choice once it makes one). */
static const char *learn_lang(void)
{
    return i18n_negotiate(NULL, NULL, NULL);
}

void web_learn_form(struct html *h, const struct web_req *req, const struct store_qitem *it)
{
    const char *lang = learn_lang();
    const char *args[] = {"service", it->service, NULL};
    char hint[300];

    if (!web_learn_offered(req, it))
        return;
    i18n_fill(hint, sizeof(hint), i18n_text(lang, "web.learn.hint"), args);
    html_add(h, "<form method=\"post\" action=\"/quarantine/%U\">", it->id);
    web_page_csrf(h, req);
    html_add(h,
             "<input type=\"hidden\" name=\"action\" value=\"not-spam\">"
             "<button type=\"submit\" id=\"not-spam\">%s</button>"
             "<span class=\"muted\"> %s</span></form>\n",
             i18n_text(lang, "web.learn.button"), hint);
}

int web_learn_not_spam(struct web_req *req, const struct store_qitem *item, const char *origin,
                       const char **why_r)
{
    struct store_learn l = {.id = 0};
    const char *error;
    int rc;

    if (!web_learn_offered(req, item)) {
        *why_r = i18n_text(learn_lang(), item->status != STORE_HELD ? "web.learn.not_held"
                                                                    : "web.learn.not_scored");
        return -1;
    }
    /* the release first: learning must never stand in its way */
    if (web_item_act(req, item, "release", "", 0, origin, why_r) < 0)
        return -1;
    snprintf(l.message, sizeof(l.message), "%s", item->id);
    snprintf(l.kind, sizeof(l.kind), "ham");
    snprintf(l.service, sizeof(l.service), "%s", item->service);
    snprintf(l.trace_id, sizeof(l.trace_id), "%s", item->trace_id);
    snprintf(l.requested_by, sizeof(l.requested_by), "%s", req->sess.address);
    snprintf(l.origin, sizeof(l.origin), "%s", origin);
    rc = store_learn_request(req->st, &l, &error);
    if (rc < 0)
        log_warnx("web: learn %s: %s (released all the same)", item->id, error);
    return 0;
}
