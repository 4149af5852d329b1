/*
 * opes_web.c - the portal's main: configuration, the services it describes,
 * the operator's privacy text, the HTTP daemon, privilege drop, signals, and
 * a periodic purge of ended sessions. It talks to the store only.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/privdrop.h"
#include "opes/store.h"
#include "opes/web_http.h"
#include "opes/web_svcinfo.h"

#define WEB_PRIVACY_MAX (64 * 1024)

static int web_usage(void)
{
    fprintf(stderr, "usage: opes-web [-s] [-c FILE]\n"
                    "  -c FILE  configuration (default /etc/opesd/opesd.conf)\n"
                    "  -s       log to syslog instead of stderr\n");
    return 2;
}

/* web_read_privacy - the operator's policy text (bounded), or NULL when none. */
static char *web_read_privacy(const char *path)
{
    FILE *fp;
    char *text;
    size_t n;

    if (path[0] == '\0')
        return NULL;
    fp = fopen(path, "r");
    if (fp == NULL)
        fatal("web.privacy_file: %s", path);
    text = malloc(WEB_PRIVACY_MAX + 1);
    if (text == NULL)
        fatal("malloc");
    n = fread(text, 1, WEB_PRIVACY_MAX, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

/* web_drop_privileges - become [web] user once the socket is bound. */
static void web_drop_privileges(const struct opes_config *cfg)
{
    struct passwd *pw;

    if (cfg->web_user[0] == '\0') {
        if (geteuid() == 0)
            log_warnx("running as root: set [web] user to drop privileges");
        return;
    }
    pw = privdrop_lookup("web.user", cfg->web_user);
    privdrop_to(pw);
}

/* web_wait - serve until SIGTERM or SIGINT; purge ended sessions now and then. */
static void web_wait(struct store *st, const sigset_t *set)
{
    struct timespec tick = {.tv_sec = 60};
    const char *error;

    for (;;) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (sig == SIGHUP)
            log_info("SIGHUP: opes-web reads its configuration at start; restart it to apply");
        if (sig < 0 && errno != EAGAIN && errno != EINTR)
            fatal("sigtimedwait");
        if (store_web_session_purge(st, (int64_t)time(NULL), &error) < 0)
            log_warnx("session purge: %s", error);
    }
}

int main(int argc, char **argv)
{
    const char *path = "/etc/opesd/opesd.conf", *error;
    struct web_ctx ctx = {0};
    struct opes_config *cfg;
    struct web_http *http;
    struct store *st;
    sigset_t set;
    int ch, use_syslog = 0;

    while ((ch = getopt(argc, argv, "c:s")) != -1) {
        if (ch == 'c')
            path = optarg;
        else if (ch == 's')
            use_syslog = 1;
        else
            return web_usage();
    }
    if (optind != argc)
        return web_usage();
    log_init("opes-web", use_syslog);
    if (sodium_init() < 0)
        fatalx("libsodium cannot start");
    cfg = config_load(path, &error);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    log_set_level(cfg->log_level);
    ctx.cfg = cfg;
    ctx.secure = strncmp(cfg->web_base_url, "https://", 8) == 0;
    ctx.svc = web_svcinfo_load(cfg, &ctx.nsvc);
    ctx.privacy_text = web_read_privacy(cfg->web_privacy_file);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the HTTP threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);

    http = web_http_start(&ctx, &error);
    if (http == NULL)
        fatalx("web.listen: %s", error);
    web_drop_privileges(cfg);
    st = store_open_config(cfg, &error);
    if (st == NULL)
        fatalx("store: %s", error);
    log_info("opes-web listening on %s base_url=%s", cfg->web_listen, cfg->web_base_url);
    web_wait(st, &set);
    log_info("opes-web stopping");
    web_http_stop(&http);
    store_close(&st);
    free(ctx.svc);
    free(ctx.privacy_text);
    config_unref(&cfg);
    return 0;
}
