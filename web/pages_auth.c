/*
 * pages_auth.c - logging in and link tokens.
 *
 * "Send me a login link" answers the same page whatever the address and
 * only records a request (opesd mails the link). A link from a mail shows a
 * confirmation page on GET and acts only on POST, so that a mail scanner
 * following links changes nothing; the POST spends the token's nonce, so a
 * link works once. With [web] password_auth, recipients may also log in
 * with their mail password, checked by the mail system (web_passauth).
 * Administrators log in with an Argon2id password. Every attempt counts
 * against per-address-and-client and per-client limits: no global lockout.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/reason.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/web_access.h"
#include "opes/web_html.h"
#include "opes/web_http.h"
#include "opes/web_page.h"
#include "opes/web_passauth.h"

#define AUTH_HOUR 3600
#define AUTH_GLOBAL_FACTOR 200 /* all addresses together: this many times the per-address rate */

/* auth_address_ok - a plausible mail address: local@domain, printable, bounded. */
static bool auth_address_ok(const char *a)
{
    const char *at = a != NULL ? strrchr(a, '@') : NULL;
    size_t n = a != NULL ? strlen(a) : 0;

    if (at == NULL || at == a || at[1] == '\0' || n > 254)
        return false;
    for (const char *p = a; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("<>\"'\\,;", *p) != NULL)
            return false;
    return true;
}

/* auth_lower - address in lower case into dst (257 bytes), for keys and lookups. */
static void auth_lower(char dst[257], const char *address)
{
    size_t i;

    for (i = 0; i < 256 && address[i] != '\0'; i++)
        dst[i] = (char)(address[i] >= 'A' && address[i] <= 'Z' ? address[i] + 32 : address[i]);
    dst[i] = '\0';
}

/* auth_limited - count one attempt of kind for key; true when over limit (or on error). */
static bool auth_limited(struct web_req *req, const char *kind, const char *key, unsigned max)
{
    char k[400];
    const char *error;
    int rc;

    snprintf(k, sizeof(k), "%s:%s", kind, key);
    rc = store_rate_hit(req->st, k, AUTH_HOUR, max, &error);
    if (rc < 0)
        log_warnx("web: rate limit: %s", error);
    return rc != 0;
}

/* auth_login - open a session for address and set its cookie. 0 or -1 (500 page made). */
static int auth_login(struct web_req *req, struct web_resp *resp, const char *address, bool admin,
                      const char *origin)
{
    const char *error;
    char id[WEB_SESSION_TEXT];
    int64_t max = (int64_t)req->ctx->cfg->web_session_max;

    if (web_session_create(req->st, address, admin, req->now, max, id, &req->sess, &error) < 0) {
        log_warnx("web: session: %s", error);
        web_page_error(req, resp, 500, "web.err.session");
        return -1;
    }
    web_session_cookie(resp->cookie, sizeof(resp->cookie), id, req->ctx->secure, max);
    resp->no_store = true;
    store_audit(req->st, req->sess.address, admin ? "login-admin" : "login", req->sess.address,
                origin, &error);
    return 0;
}

/*
 * auth_login_page - the login page: with [web] password_auth, the mail
 * password form first, then the login link; notice (a catalog key) on top.
 */
static void auth_login_page(struct web_req *req, struct web_resp *resp, int status,
                            const char *notice)
{
    struct html h = {0};
    bool passwords = req->ctx->cfg->web_password_auth != CONFIG_PASSAUTH_NONE;

    web_page_begin(&h, req, "web.login.title");
    if (notice != NULL)
        html_add(&h, "<p class=\"notice\" role=\"status\">%s</p>\n", web_t(req, notice));
    if (passwords)
        html_add(&h,
                 "<h2>%s</h2>\n<form method=\"post\" action=\"/login/password\" "
                 "class=\"stack\">\n<label for=\"pw-address\">%s</label>\n"
                 "<input id=\"pw-address\" name=\"address\" type=\"email\" required "
                 "autocomplete=\"username\" maxlength=\"254\">\n"
                 "<label for=\"password\">%s</label>\n"
                 "<input id=\"password\" name=\"password\" type=\"password\" required "
                 "autocomplete=\"current-password\" maxlength=\"256\">\n"
                 "<div><button type=\"submit\">%s</button></div>\n</form>\n<h2>%s</h2>\n",
                 web_t(req, "web.login.pw_h"), web_t(req, "web.login.address"),
                 web_t(req, "web.login.password"), web_t(req, "web.login.button"),
                 web_t(req, "web.login.link_h"));
    html_add(&h,
             "<p>%s</p>\n<form method=\"post\" action=\"/login\" class=\"stack\">\n"
             "<label for=\"address\">%s</label>\n"
             "<input id=\"address\" name=\"address\" type=\"email\" required "
             "autocomplete=\"email\" maxlength=\"254\">\n"
             "<div><button type=\"submit\"%s>%s</button></div>\n</form>\n"
             "<p class=\"muted\"><a href=\"/admin/login\">%s</a></p>\n",
             web_t(req, "web.login.intro"), web_t(req, "web.login.address"),
             passwords ? " class=\"secondary\"" : "", web_t(req, "web.login.send"),
             web_t(req, "web.login.admin"));
    web_page_end(&h, req);
    web_resp_html(resp, status, &h);
}

void page_login_form(struct web_req *req, struct web_resp *resp)
{
    auth_login_page(req, resp, 200, NULL);
}

/*
 * page_login_password_post - log in with the mail password, which the mail
 * system checks (web_passauth: Dovecot's auth service or IMAP); opes-web
 * keeps and logs nothing of it. Attempts count per address from this client
 * and per client, so that nobody can lock an address out for everyone.
 */
void page_login_password_post(struct web_req *req, struct web_resp *resp)
{
    const char *address = web_form_get(&req->form, "address");
    const char *password = web_form_get(&req->form, "password"), *error;
    unsigned rate = (unsigned)req->ctx->cfg->web_login_rate;
    enum web_passauth_result r;
    char low[257], key[320], why[512];

    if (req->ctx->cfg->web_password_auth == CONFIG_PASSAUTH_NONE) {
        web_page_error(req, resp, 404, "web.err.no_page");
        return;
    }
    if (!auth_address_ok(address) || password == NULL || password[0] == '\0' ||
        strlen(password) > 256) {
        auth_login_page(req, resp, 400, "web.login.pw_missing");
        return;
    }
    auth_lower(low, address);
    snprintf(key, sizeof(key), "%s|%s", low, req->client);
    if (auth_limited(req, "password-login", key, rate) ||
        auth_limited(req, "password-login-client", req->client, rate * 4)) {
        auth_login_page(req, resp, 429, "web.login.pw_limited");
        return;
    }
    r = web_passauth_check(req->ctx->cfg, low, password, req->client, why, sizeof(why));
    if (r == WEB_PASSAUTH_OK) {
        if (auth_login(req, resp, low, false, "portal") == 0)
            web_resp_redirect(resp, "/quarantine");
        return;
    }
    if (r == WEB_PASSAUTH_TEMP) {
        log_warnx("web: password login of %s: %s", low, why);
        auth_login_page(req, resp, 503, "web.login.pw_unavailable");
        return;
    }
    log_info("web: password login of %s refused: %s", low, why);
    store_audit(req->st, low, "login-failed", low, "portal", &error);
    auth_login_page(req, resp, 403, "web.login.pw_wrong");
}

void page_login_post(struct web_req *req, struct web_resp *resp)
{
    const char *address = web_form_get(&req->form, "address"), *error;
    unsigned rate = (unsigned)req->ctx->cfg->web_login_rate;
    /* the answer is the same page in every case: nothing tells whether the address exists */
    if (auth_address_ok(address)) {
        char low[257];
        auth_lower(low, address);
        if (!auth_limited(req, "login-link", low, rate) &&
            !auth_limited(req, "login-link-client", req->client, rate * 4) &&
            !auth_limited(req, "login-link", "*", rate * AUTH_GLOBAL_FACTOR) &&
            store_login_request_add(req->st, low, &error) < 0)
            log_warnx("web: login request: %s", error);
    }
    auth_login_page(req, resp, 200, "web.login.sent");
}

/* auth_token - verify the link token in the path; 0, or -1 with the error page made. */
static int auth_token(struct web_req *req, struct web_resp *resp, struct token_link *l,
                      enum token_purpose purpose, bool spend)
{
    const char *why, *error;
    int rc;

    resp->origin_referrer = true; /* its form's POST then carries our Origin */
    if (token_link_verify(store_keys(req->st), req->args[0], req->now, l, &why) < 0) {
        bool expired = strcmp(why, "expired") == 0;
        web_page_message(req, resp, expired ? 410 : 400, "web.link.invalid_title",
                         expired ? "web.link.expired" : "web.link.invalid", "/login",
                         "web.link.ask_new");
        return -1;
    }
    /* before spending: a link posted to the other kind of page must stay usable */
    if (l->purpose != purpose) {
        web_page_error(req, resp, 400,
                       purpose == TOKEN_LOGIN ? "web.link.not_login" : "web.link.not_action");
        return -1;
    }
    rc = spend ? store_token_use(req->st, l->nonce, l->expires, &error)
               : store_token_seen(req->st, l->nonce, &error);
    if (rc < 0) {
        log_warnx("web: token ledger: %s", error);
        web_page_error(req, resp, 500, "web.link.unchecked");
        return -1;
    }
    if (rc != 0) {
        web_page_message(req, resp, 410, "web.link.used_title", "web.link.used", "/login",
                         "web.link.ask_new");
        return -1;
    }
    return 0;
}

void page_login_link(struct web_req *req, struct web_resp *resp)
{
    struct token_link l;
    struct html h = {0};

    if (auth_token(req, resp, &l, TOKEN_LOGIN, false) < 0)
        return;
    resp->no_store = true;
    web_page_begin(&h, req, "web.login.title");
    html_add(&h,
             "<p>%s <strong>%s</strong></p>\n<form method=\"post\" action=\"/login/%U\">\n"
             "<button type=\"submit\">%s</button>\n</form>\n",
             web_t(req, "web.login.confirm"), l.recipient, req->args[0],
             web_t(req, "web.login.button"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_login_link_post(struct web_req *req, struct web_resp *resp)
{
    struct token_link l;
    char to[STORE_ID_LEN + 20];

    if (auth_token(req, resp, &l, TOKEN_LOGIN, true) < 0 ||
        auth_login(req, resp, l.recipient, false, "token") < 0)
        return;
    if (l.item[0] != '\0' && strlen(l.item) == STORE_ID_LEN)
        snprintf(to, sizeof(to), "/quarantine/%s", l.item);
    else
        snprintf(to, sizeof(to), "/quarantine");
    web_resp_redirect(resp, to);
}

static void auth_admin_page(struct web_req *req, struct web_resp *resp, int status,
                            const char *problem)
{
    struct html h = {0};

    web_page_begin(&h, req, "web.admin_login.title");
    if (problem != NULL)
        html_add(&h, "<p class=\"error\" role=\"alert\">%s</p>\n", web_t(req, problem));
    html_add(&h,
             "<form method=\"post\" action=\"/admin/login\" class=\"stack\">\n"
             "<label for=\"address\">%s</label>\n"
             "<input id=\"address\" name=\"address\" type=\"email\" required "
             "autocomplete=\"username\" maxlength=\"254\">\n"
             "<label for=\"password\">%s</label>\n"
             "<input id=\"password\" name=\"password\" type=\"password\" required "
             "autocomplete=\"current-password\" maxlength=\"256\">\n"
             "<div><button type=\"submit\">%s</button></div>\n</form>\n",
             web_t(req, "web.admin_login.address"), web_t(req, "web.admin_login.password"),
             web_t(req, "web.login.button"));
    web_page_end(&h, req);
    web_resp_html(resp, status, &h);
}

void page_admin_login_form(struct web_req *req, struct web_resp *resp)
{
    auth_admin_page(req, resp, 200, NULL);
}

void page_admin_login_post(struct web_req *req, struct web_resp *resp)
{
    const char *address = web_form_get(&req->form, "address");
    const char *password = web_form_get(&req->form, "password"), *error;
    unsigned rate = (unsigned)req->ctx->cfg->web_login_rate;
    struct store_user u;
    char low[257], key[320];
    int rc;

    if (!auth_address_ok(address) || password == NULL || strlen(password) > 256) {
        auth_admin_page(req, resp, 400, "web.admin_login.missing");
        return;
    }
    auth_lower(low, address);
    address = low;
    /* per address from this client, and per client: no one locks an address out for everyone */
    snprintf(key, sizeof(key), "%s|%s", address, req->client);
    if (auth_limited(req, "admin-login", key, rate) ||
        auth_limited(req, "admin-login-client", req->client, rate * 4)) {
        auth_admin_page(req, resp, 429, "web.admin_login.limited");
        return;
    }
    rc = store_user_check_password(req->st, address, password, &error);
    if (rc == 1 && store_user_get(req->st, address, &u, &error) == 0 &&
        u.role == STORE_ROLE_ADMIN) {
        if (auth_login(req, resp, address, true, "portal") == 0)
            web_resp_redirect(resp, "/admin");
        return;
    }
    if (rc < 0)
        log_warnx("web: password check: %s", error);
    store_audit(req->st, address, "login-failed", address, "portal", &error);
    auth_admin_page(req, resp, 403, "web.admin_login.wrong");
}

void page_logout(struct web_req *req, struct web_resp *resp)
{
    const char *error;

    if (web_session_end(req->st, &req->sess, &error) < 0)
        log_warnx("web: logout: %s", error);
    req->sess.valid = false;
    web_session_cookie(resp->cookie, sizeof(resp->cookie), NULL, req->ctx->secure, 0);
    web_page_message(req, resp, 200, "web.logout.title", "web.logout.text", "/login",
                     "web.nav.login");
}

/* action_words - what an action link does: its catalog key, NULL for no such action. */
static const char *action_words(const char *action)
{
    if (strcmp(action, "release") == 0)
        return "web.link.do.release";
    if (strcmp(action, "release-whitelist") == 0)
        return "web.link.do.release-whitelist";
    if (strcmp(action, "delete") == 0)
        return "web.link.do.delete";
    if (strcmp(action, "block") == 0)
        return "web.link.do.block";
    if (strcmp(action, "not-spam") == 0)
        return "web.link.do.not-spam";
    return NULL;
}

/* action_load - the token's item, which must be the token recipient's; 0 or -1 (page made). */
static int action_load(struct web_req *req, struct web_resp *resp, const struct token_link *l,
                       struct store_qitem *item)
{
    struct web_session who = {.valid = true};
    const char *error;
    int rc;

    if (l->purpose != TOKEN_ACTION || action_words(l->action) == NULL) {
        web_page_error(req, resp, 400, "web.link.not_action");
        return -1;
    }
    /* the link's recipient, or a delegate of it (a shared mailbox's digest) */
    snprintf(who.address, sizeof(who.address), "%s", l->recipient);
    rc = store_quarantine_get(req->st, l->item, item, &error);
    if (rc == 0 && web_access_load(req->st, &who, &error) < 0)
        rc = -1;
    if (rc != 0 || !web_may_act(&who, item->recipient)) {
        web_page_error(req, resp, 404, "web.link.gone");
        return -1;
    }
    return 0;
}

void page_action(struct web_req *req, struct web_resp *resp)
{
    struct token_link l;
    struct store_qitem item;
    struct html h = {0};
    char why[REASON_WORDS_MAX], key[40];

    if (auth_token(req, resp, &l, TOKEN_ACTION, false) < 0 || action_load(req, resp, &l, &item) < 0)
        return;
    resp->no_store = true;
    snprintf(key, sizeof(key), "web.status.%s", store_qstatus_name(item.status));
    web_page_begin(&h, req, "web.link.confirm_title");
    html_add(&h,
             "<p>%s <strong>%s</strong></p>\n<dl>"
             "<dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd>"
             "<dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>%s</dd></dl>\n"
             "<form method=\"post\" action=\"/action/%U\">\n"
             "<button type=\"submit\">%s</button>\n</form>\n",
             web_t(req, "web.link.about_to"), web_t(req, action_words(l.action)),
             web_t(req, "web.col.from"), item.sender, web_t(req, "web.col.to"), item.recipient,
             web_t(req, "web.col.subject"), item.subject, web_t(req, "web.col.why"),
             web_item_reason(req, &item, why, sizeof(why)), web_t(req, "web.col.status"),
             web_t(req, key), req->args[0], web_t(req, "web.link.confirm"));
    web_page_end(&h, req);
    web_resp_html(resp, 200, &h);
}

void page_action_post(struct web_req *req, struct web_resp *resp)
{
    struct token_link l;
    struct store_qitem item;
    const char *why;
    char link[STORE_ID_LEN + 20];
    int rc;

    if (auth_token(req, resp, &l, TOKEN_ACTION, true) < 0 ||
        action_load(req, resp, &l, &item) < 0 ||
        auth_login(req, resp, l.recipient, false, "token") < 0)
        return;
    snprintf(link, sizeof(link), "/quarantine/%s", item.id);
    rc = web_item_act(req, &item, l.action, "address", 0, "token", &why);
    if (rc < 0) {
        web_page_message(req, resp, 409, "web.status.409", why, link, "web.link.open");
        return;
    }
    web_page_message(req, resp, 200, "web.link.done_title",
                     rc == WEB_ITEM_ASKED              ? "roles.web.asked"
                     : strcmp(l.action, "delete") == 0 ? "web.item.done.delete"
                     : strcmp(l.action, "block") == 0  ? "web.item.done.block"
                                                       : "web.item.done.release",
                     link, "web.link.open");
}
