/*
 * loginmail.c - login-link mails (see loginmail.h). A request that cannot be
 * delivered now (the mailbox store answered 4xx) stays pending and is tried
 * again on the next job interval; its rate-limit hit is counted again then.
 */
#include "opes/loginmail.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opes/config.h"
#include "opes/lmtp_parse.h"
#include "opes/lmtp_local.h"
#include "opes/log.h"
#include "opes/mailgen.h"
#include "opes/mailview.h"
#include "opes/notify.h"
#include "opes/store.h"
#include "opes/token.h"

#define LOGINMAIL_BATCH 50

/* loginmail_allowed - NULL when a mail may go to address, else why not. */
static const char *loginmail_allowed(struct store *st, const struct opes_config *cfg,
                                     const char *address, const char **error_r)
{
    char key[300];
    int rc = store_notify_known(st, address, error_r);

    if (rc < 0)
        return "store error";
    if (rc == 0)
        return "unknown address";
    snprintf(key, sizeof(key), "login-link:%s", address);
    rc = store_rate_hit(st, key, 3600, (unsigned)cfg->notify_login_rate, error_r);
    if (rc != 0)
        return rc < 0 ? "store error" : "rate limit for the address";
    rc = store_rate_hit(st, "login-link:*", 3600, (unsigned)cfg->notify_login_rate_global, error_r);
    if (rc != 0)
        return rc < 0 ? "store error" : "global rate limit";
    return NULL;
}

/* loginmail_one - 1 sent, 0 refused, -1 not now (keep pending). */
static int loginmail_one(struct store *st, struct lmtp_env *env, const char *address)
{
    const struct opes_config *cfg = env->cfg;
    struct token_link l = {.purpose = TOKEN_LOGIN};
    char token[TOKEN_MAX], url[TOKEN_MAX + 300], expires[64], opes[300], privacy[300], rcpt[300];
    struct mailgen_buf msg = {0};
    struct mailview_reader rd;
    struct lmtp_reply reply;
    const char *error = "", *why;

    mailgen_clean_address(rcpt, sizeof(rcpt), address);
    if (strcmp(rcpt, address) != 0 || strchr(rcpt, '@') == NULL) {
        log_info("login-link rcpt=<%s> action=refused why=\"malformed address\"", rcpt);
        return 0;
    }
    why = loginmail_allowed(st, cfg, address, &error);
    if (why != NULL) {
        log_info("login-link rcpt=<%s> action=refused why=\"%s\"%s%s", rcpt, why,
                 *error ? " error=" : "", error);
        return strcmp(why, "store error") == 0 ? -1 : 0;
    }
    l.expires = (int64_t)time(NULL) + (int64_t)cfg->notify_login_minutes * 60;
    snprintf(l.recipient, sizeof(l.recipient), "%s", address);
    if (token_link_issue(store_keys(st), &l, token, sizeof(token)) < 0) {
        log_warnx("login-link rcpt=<%s> cannot issue a token", rcpt);
        return 0;
    }
    snprintf(url, sizeof(url), "%s/login/%s", cfg->web_base_url, token);
    mailview_reader_of(st, cfg, address, &rd);
    i18n_date(expires, sizeof(expires), rd.lang, rd.tz, (time_t)l.expires, I18N_DATETIME);
    snprintf(opes, sizeof(opes), "%s/opes", cfg->web_base_url);
    snprintf(privacy, sizeof(privacy), "%s/privacy", cfg->web_base_url);
    {
        struct mailgen_var vars[] = {{"recipient", address, false},
                                     {"login_url", url, false},
                                     {"expires", expires, false},
                                     {"opes_url", opes, false},
                                     {"privacy_url", privacy, false}};
        if (notify_compose(cfg, "login", rd.lang, address, "auto-replied", vars, 5, false, &msg) <
            0) {
            mailgen_free(&msg);
            return -1;
        }
    }
    notify_deliver(env, address, msg.data, msg.len, &reply);
    mailgen_free(&msg);
    log_info("login-link rcpt=<%s> action=%s reply=\"%d %s %s\"", rcpt,
             reply.code / 100 == 2   ? "sent"
             : reply.code / 100 == 5 ? "refused"
                                     : "deferred",
             reply.code, reply.enh, reply.text);
    if (reply.code / 100 == 2)
        return 1;
    return reply.code / 100 == 5 ? 0 : -1;
}

int loginmail_run(struct store *st, struct lmtp_env *env, const struct notify_round *round)
{
    int done = 0;

    for (int i = 0; i < LOGINMAIL_BATCH && !notify_stopping(round, 0); i++) {
        char address[300];
        int64_t id;
        const char *error;
        int rc = store_login_request_next(st, &id, address, sizeof(address), &error);

        if (rc == STORE_NOTFOUND)
            break;
        if (rc < 0) {
            log_warnx("login-link: store error: %s", error);
            return -1;
        }
        rc = loginmail_one(st, env, address);
        if (rc < 0)
            break; /* the oldest stays pending: tried again next interval */
        if (store_login_request_done(st, id, rc == 1, &error) < 0) {
            log_warnx("login-link: store error: %s", error);
            return -1;
        }
        done++;
    }
    return done;
}
