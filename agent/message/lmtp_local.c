/*
 * lmtp_local.c - opesd's side of an LMTP session, as Dovecot's lmtp daemon
 * is to its lib-smtp server.
 *
 * The protocol library speaks LMTP and asks the callbacks here what a
 * command means: the capabilities of the delivery target at LHLO, a
 * transaction (transaction.h) at MAIL, the rewrite services' address map and
 * the downstream verification at RCPT, the content during and after DATA.
 * The session's store connection is kept here, opened at the first message
 * that needs it. Also here: the environment a session runs in.
 */
#include "opes/lmtp_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/log.h"
#include "opes/lmtp_server.h"
#include "opes/metrics.h"
#include "opes/service.h"
#include "opes/store.h"
#include "opes/svc_rewrite.h"
#include "opes/trace.h"
#include "opes/transaction.h"

/* One connection's daemon side. */
struct lmtp_local {
    struct lmtp_env *env;
    struct store *st; /* opened at the first message that needs it */
    bool st_failed;
};

/* ---------------------------------------------------------------- env */

struct lmtp_env *lmtp_env_new(struct opes_config *cfg, const char **error_r)
{
    struct lmtp_env *env = calloc(1, sizeof(*env));

    if (env == NULL)
        fatal("calloc");
    env->cfg = cfg;
    env->services = services_load(cfg, error_r);
    env->deliver = env->services != NULL ? deliver_new(cfg, error_r) : NULL;
    if (env->deliver == NULL) {
        services_free(&env->services);
        config_unref(&env->cfg);
        free(env);
        return NULL;
    }
    env->refs = 1;
    return env;
}

struct lmtp_env *lmtp_env_ref(struct lmtp_env *env)
{
    __atomic_add_fetch(&env->refs, 1, __ATOMIC_SEQ_CST);
    return env;
}

void lmtp_env_unref(struct lmtp_env **envp)
{
    struct lmtp_env *env = *envp;

    *envp = NULL;
    if (env == NULL || __atomic_sub_fetch(&env->refs, 1, __ATOMIC_SEQ_CST) != 0)
        return;
    deliver_free(&env->deliver);
    services_free(&env->services);
    config_unref(&env->cfg);
    free(env);
}

/* ---------------------------------------------------------------- callbacks */

/* lmtp_local_store - the session's store connection, opened when first needed
 * and tried again at each message while the store is away (logged once per
 * session). A connection that breaks later is reset by the store itself. */
static struct store *lmtp_local_store(struct lmtp_local *l)
{
    const char *error;

    if (l->st == NULL) {
        l->st = store_open_config(l->env->cfg, &error);
        if (l->st == NULL && !l->st_failed) {
            log_warnx("store unavailable: %s", error);
            l->st_failed = true;
        }
    }
    return l->st;
}

static void lmtp_local_lhlo(void *ctx, struct lmtp_caps *caps)
{
    struct lmtp_local *l = ctx;

    *caps = deliver_caps(l->env->deliver);
}

/* lmtp_local_xforward_value - XFORWARD text reaches the trace fields: keep it safe there. */
static void lmtp_local_xforward_value(void *ctx, char *dst, size_t size, const char *value)
{
    (void)ctx;
    trace_sanitize(dst, size, value);
}

static int lmtp_local_mail(void *ctx, struct lmtp_server_tx *tx, struct lmtp_reply *reply)
{
    struct lmtp_local *l = ctx;

    (void)reply;
    tx->context = transaction_new(l->env->cfg, l->env->services, l->env->deliver, tx);
    return 0;
}

/* lmtp_local_rcpt_filter - the rewrite services' address map, before the store sees the address. */
static void lmtp_local_rcpt_filter(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *r)
{
    struct lmtp_local *l = ctx;
    char mapped[LMTP_ADDR_MAX + 1];

    (void)tx;
    if (svc_rewrite_address(l->env->services, r->addr, mapped, sizeof(mapped)) != 1)
        return;
    log_info("rcpt=<%s> rewritten to <%s>", r->addr, mapped);
    memcpy(r->orig, r->addr, sizeof(r->orig));
    memcpy(r->addr, mapped, sizeof(r->addr));
}

static void lmtp_local_rcpt(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *r)
{
    (void)ctx;
    transaction_rcpt(tx->context, r->addr, &r->reply);
}

static void lmtp_local_data_begin(void *ctx, struct lmtp_server_tx *tx)
{
    (void)ctx;
    transaction_data_begin(tx->context);
}

static void lmtp_local_data_chunk(void *ctx, struct lmtp_server_tx *tx, const char *data,
                                  size_t len)
{
    (void)ctx;
    transaction_data_feed(tx->context, data, len);
}

static void lmtp_local_data_end(void *ctx, struct lmtp_server_tx *tx, struct spool *spool)
{
    transaction_deliver(tx->context, lmtp_local_store(ctx), tx, spool);
}

static void lmtp_local_data_replied(void *ctx, struct lmtp_server_tx *tx)
{
    (void)ctx;
    transaction_replied(tx->context, tx);
}

static void lmtp_local_tx_free(void *ctx, struct lmtp_server_tx *tx)
{
    struct transaction *t = tx->context;

    (void)ctx;
    tx->context = NULL;
    transaction_free(&t);
}

static const struct lmtp_server_callbacks lmtp_local_callbacks = {
    .lhlo = lmtp_local_lhlo,
    .xforward_value = lmtp_local_xforward_value,
    .mail = lmtp_local_mail,
    .rcpt_filter = lmtp_local_rcpt_filter,
    .rcpt = lmtp_local_rcpt,
    .data_begin = lmtp_local_data_begin,
    .data_chunk = lmtp_local_data_chunk,
    .data_end = lmtp_local_data_end,
    .data_replied = lmtp_local_data_replied,
    .tx_free = lmtp_local_tx_free,
};

void lmtp_local_session(struct lmtp_env *env, int fd, int stop_fd)
{
    const struct opes_config *cfg = env->cfg;
    struct lmtp_local l = {.env = env};
    struct lmtp_server_settings set = {
        .hostname = cfg->hostname,
        .xforward_hosts = cfg->xforward_hosts,
        .max_message_size = cfg->max_message_size,
        .max_recipients = cfg->max_recipients,
        .max_bad_commands = cfg->max_bad_commands,
        .limits = {.max_command_line = (size_t)cfg->max_command_line,
                   .max_param_len = LMTP_PARAM_LEN_MAX,
                   .max_params = LMTP_PARAMS_MAX},
        .command_timeout = cfg->command_timeout,
        .data_timeout = cfg->data_timeout,
        .min_data_rate = cfg->min_data_rate,
        .bare_eol_normalize = cfg->bare_eol == CONFIG_BARE_EOL_NORMALIZE,
        .bare_eol_reject = cfg->bare_eol == CONFIG_BARE_EOL_REJECT,
        .spool_memory = (size_t)cfg->spool_memory,
        .spool_dir = cfg->spool_dir,
    };

    metrics_session(1);
    lmtp_server_session(&set, &lmtp_local_callbacks, &l, fd, stop_fd);
    metrics_session(-1);
    store_close(&l.st);
}
