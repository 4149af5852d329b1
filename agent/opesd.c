/*
 * opesd.c - the mail-side daemon: configuration, listeners, workers, signals.
 *
 * The main thread binds the listeners, drops privileges, then accepts
 * connections and hands them to a bounded pool of session threads (created on
 * demand up to max_connections, kept for reuse). Beyond the limit a client
 * gets "421 4.3.2" at once. SIGHUP loads the configuration again and new
 * sessions use it; SIGTERM stops accepting, lets sessions finish the message
 * in flight, and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "opes/config.h"
#include "opes/deliver.h"
#include "opes/endpoint.h"
#include "opes/jobs.h"
#include "opes/lmtp_local.h"
#include "opes/i18n.h"
#include "opes/log.h"
#include "opes/privdrop.h"
#include "opes/netio.h"
#include "opes/service.h"
#include "opes/store.h"
#include "opes/tracelog.h"

#define OPESD_MAX_LISTEN 16

struct opesd_listener {
    struct endpoint ep;
    int fd;
};

struct opesd {
    const char *config_path;
    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    struct lmtp_env *env; /* current; sessions take a reference */
    int *queue;
    size_t qhead, qlen, qcap;
    unsigned threads, waiting, active; /* active = queued + in a session */
    unsigned max;
    int stop_pipe[2];
    bool stopping;
    struct opesd_listener listeners[OPESD_MAX_LISTEN];
    int nlisteners;
    pthread_t jobs;
};

static int opesd_signal_pipe[2] = {-1, -1};

static void opesd_on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(opesd_signal_pipe[1], &c, 1) < 0) {
        /* the pipe is full: a signal is already pending */
    }
    errno = saved;
}

static void *opesd_worker(void *arg)
{
    struct opesd *d = arg;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (d->qlen == 0 && !d->stopping)
            pthread_cond_wait(&d->work, &d->lock);
        if (d->qlen == 0)
            break;
        int fd = d->queue[d->qhead];
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
        d->waiting--;
        struct lmtp_env *env = lmtp_env_ref(d->env);
        pthread_mutex_unlock(&d->lock);

        lmtp_local_session(env, fd, d->stop_pipe[0]);
        lmtp_env_unref(&env);

        pthread_mutex_lock(&d->lock);
        d->active--;
        d->waiting++;
        pthread_cond_broadcast(&d->idle);
    }
    d->threads--;
    d->waiting--;
    pthread_cond_broadcast(&d->idle);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* opesd_current_env - a reference to the configuration in force. */
static struct lmtp_env *opesd_current_env(struct opesd *d)
{
    struct lmtp_env *env;

    pthread_mutex_lock(&d->lock);
    env = lmtp_env_ref(d->env);
    pthread_mutex_unlock(&d->lock);
    return env;
}

/* opesd_jobs_store - the job thread's store connection, reopened when the path changed. */
static struct store *opesd_jobs_store(struct store *st, char *path, size_t size,
                                      const struct opes_config *cfg, time_t *warned)
{
    const char *error;

    if (st != NULL && strcmp(path, cfg->store_path) == 0)
        return st;
    store_close(&st);
    st = store_open_config(cfg, &error);
    if (st == NULL && time(NULL) - *warned >= 60) {
        log_warnx("jobs: store unavailable: %s", error);
        *warned = time(NULL);
    }
    snprintf(path, size, "%s", st != NULL ? cfg->store_path : "");
    return st;
}

/* opesd_node_name - this node's name in job leases: [store] node_name, or the
 * host name, with the process id so that a restarted node is a new holder. */
static void opesd_node_name(const struct opes_config *cfg, char *buf, size_t size)
{
    char host[256] = "localhost";

    if (cfg->node_name[0] != '\0')
        snprintf(host, sizeof(host), "%s", cfg->node_name);
    else if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, size, "%s:%ld", host, (long)getpid());
}

/*
 * opesd_jobs - the job thread: releases as they come, mail of our own, purge
 * every hour. With several nodes on one store each kind is done by one node
 * at a time (jobs.c). A store error closes the connection: the next round
 * opens it again, so a database that went away and came back is used again.
 */
static void *opesd_jobs(void *arg)
{
    struct opesd *d = arg;
    struct store *st = NULL;
    char path[4096] = "", node[300];
    time_t last_purge = 0, warned = 0;
    bool notify_scanned = false; /* every quarantine entry looked at once since start */

    log_set_context("jobs");
    for (;;) {
        struct lmtp_env *env = opesd_current_env(d);
        struct pollfd pfd = {.fd = d->stop_pipe[0], .events = POLLIN};
        int interval = (int)env->cfg->job_interval * 1000;
        struct jobs_lease lease = {.holder = node, .ttl = (int64_t)env->cfg->job_lease};
        int rc = 0, purged;

        opesd_node_name(env->cfg, node, sizeof(node));
        st = opesd_jobs_store(st, path, sizeof(path), env->cfg, &warned);
        if (st != NULL) {
            while ((rc = jobs_release_one(st, env)) == 1 && poll(&pfd, 1, 0) == 0)
                ;
            if (rc >= 0 && poll(&pfd, 1, 0) == 0)
                rc = jobs_notify(st, env, &lease, d->stop_pipe[0], &notify_scanned);
            if (rc >= 0 && time(NULL) - last_purge >= 3600) {
                if ((purged = jobs_purge(st, env, &lease)) >= 0)
                    last_purge = time(NULL); /* done here or by another node */
                rc = purged;
            }
            if (rc < 0) {
                log_warnx("jobs: store error: the connection is opened again next round");
                store_close(&st);
                path[0] = '\0';
            }
        }
        lmtp_env_unref(&env);
        if (poll(&pfd, 1, interval) != 0)
            break;
    }
    store_close(&st);
    return NULL;
}

/* opesd_refuse - the answer beyond max_connections, without blocking. */
static void opesd_refuse(struct opesd *d, int fd)
{
    char msg[300];
    int n = snprintf(msg, sizeof(msg), "421 4.3.2 %s Too many connections, try again later\r\n",
                     d->env->cfg->hostname);
    if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* the client will see the connection close */
    }
    close(fd);
}

static void opesd_accept(struct opesd *d, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warn("accept");
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (d->active >= d->max) {
        pthread_mutex_unlock(&d->lock);
        log_warnx("connection refused: max_connections=%u reached", d->max);
        opesd_refuse(d, fd);
        return;
    }
    d->active++;
    d->queue[(d->qhead + d->qlen) % d->qcap] = fd;
    d->qlen++;
    if (d->waiting < d->qlen) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 512 * 1024);
        if (pthread_create(&t, &attr, opesd_worker, d) == 0) {
            d->threads++;
            d->waiting++;
        } else {
            log_warn("pthread_create");
        }
        pthread_attr_destroy(&attr);
    }
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->lock);
}

static void opesd_listen(struct opesd *d, const struct opes_config *cfg)
{
    struct endpoint eps[OPESD_MAX_LISTEN];
    const char *error;
    char name[300];
    int n = endpoint_parse_list(cfg->listen, eps, OPESD_MAX_LISTEN, &error);

    if (n < 0)
        fatalx("lmtp.listen: %s", error);
    for (int i = 0; i < n; i++) {
        int fd = netio_listen(&eps[i], (unsigned)cfg->socket_mode, &error);
        endpoint_format(&eps[i], name, sizeof(name));
        if (fd < 0)
            fatalx("cannot listen on %s: %s", name, error);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        d->listeners[d->nlisteners].ep = eps[i];
        d->listeners[d->nlisteners++].fd = fd;
        log_info("listening on %s", name);
    }
}

/* opesd_mkdirs - mkdir -p for the spool directory. */
static void opesd_mkdirs(const char *dir, uid_t uid, gid_t gid)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) == 0 && c == '\0' && uid != (uid_t)-1 && chown(path, uid, gid) < 0)
            log_warn("chown %s", path);
        *p = c;
        if (c == '\0')
            break;
    }
}

/* opesd_mkdirs_parent - create the directory a file (store, key file) will live in. */
static void opesd_mkdirs_parent(const char *file, uid_t uid, gid_t gid)
{
    char dir[4096];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", file);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    opesd_mkdirs(dir, uid, gid);
}

/* opesd_drop_privileges - become [lmtp] user once the listeners are bound. */
static void opesd_drop_privileges(struct opesd *d, const struct opes_config *cfg)
{
    struct passwd *pw;

    if (cfg->user[0] == '\0') {
        opesd_mkdirs(cfg->spool_dir, (uid_t)-1, (gid_t)-1);
        opesd_mkdirs_parent(cfg->store_path, (uid_t)-1, (gid_t)-1);
        opesd_mkdirs_parent(cfg->key_file, (uid_t)-1, (gid_t)-1);
        if (geteuid() == 0)
            log_warnx("running as root: set [lmtp] user to drop privileges");
        return;
    }
    pw = privdrop_lookup("lmtp.user", cfg->user);
    opesd_mkdirs(cfg->spool_dir, pw->pw_uid, pw->pw_gid);
    opesd_mkdirs_parent(cfg->store_path, pw->pw_uid, pw->pw_gid);
    opesd_mkdirs_parent(cfg->key_file, pw->pw_uid, pw->pw_gid);
    for (int i = 0; i < d->nlisteners; i++)
        if (d->listeners[i].ep.kind == ENDPOINT_UNIX &&
            chown(d->listeners[i].ep.path, pw->pw_uid, pw->pw_gid) < 0)
            log_warn("chown %s", d->listeners[i].ep.path);
    privdrop_to(pw);
}

/* opesd_check_store - the store must open now, as the user opesd runs as. */
static void opesd_check_store(const struct opes_config *cfg)
{
    const char *error;
    struct store *st = store_open_config(cfg, &error);

    if (st == NULL)
        fatalx("store: %s", error);
    store_close(&st);
}

/* opesd_check_spool - fail at startup, not at the first large message. */
static void opesd_check_spool(const struct opes_config *cfg)
{
    struct stat st;

    if (stat(cfg->spool_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        fatal("lmtp.spool_dir: %s is not a directory", cfg->spool_dir);
    if (access(cfg->spool_dir, W_OK | X_OK) < 0)
        fatal("lmtp.spool_dir: %s is not writable", cfg->spool_dir);
}

/* opesd_log_lines - one log line per line of a multi-line message. */
static void opesd_log_lines(const char *what, const char *text)
{
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        log_warnx("%s: %.*s", what, (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void opesd_reload(struct opesd *d)
{
    const char *error;
    struct opes_config *cfg = config_load(d->config_path, &error);
    struct lmtp_env *env, *old;
    char keys[512];

    if (cfg == NULL) {
        opesd_log_lines("reload failed, keeping the old configuration", error);
        return;
    }
    if (config_restart_keys(d->env->cfg, cfg, keys, sizeof(keys)) > 0)
        log_warnx("reload: changes to %s need a restart", keys);
    log_set_level(cfg->log_level);
    env = lmtp_env_new(cfg, &error);
    if (env == NULL) {
        opesd_log_lines("reload failed, keeping the old configuration", error);
        return;
    }
    pthread_mutex_lock(&d->lock);
    old = d->env;
    d->env = env;
    d->max = (unsigned)env->cfg->max_connections;
    pthread_mutex_unlock(&d->lock);
    lmtp_env_unref(&old);
    log_info("configuration reloaded from %s", d->config_path);
}

/* opesd_shutdown - stop accepting, let sessions finish, return when they did. */
static void opesd_shutdown(struct opesd *d)
{
    struct timespec until;
    char c = 1;

    log_info("stopping: no new connections, finishing %u session(s)", d->active);
    for (int i = 0; i < d->nlisteners; i++) {
        close(d->listeners[i].fd);
        if (d->listeners[i].ep.kind == ENDPOINT_UNIX)
            unlink(d->listeners[i].ep.path);
    }
    if (write(d->stop_pipe[1], &c, 1) < 0)
        log_warn("stop pipe");
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)d->env->cfg->processing_timeout + (time_t)d->env->cfg->data_timeout;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_broadcast(&d->work);
    while (d->threads > 0)
        if (pthread_cond_timedwait(&d->idle, &d->lock, &until) == ETIMEDOUT)
            break;
    if (d->threads > 0)
        log_warnx("%u session(s) still busy at exit", d->active);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->jobs, NULL);
}

static void opesd_loop(struct opesd *d)
{
    struct pollfd pfd[OPESD_MAX_LISTEN + 1];

    for (;;) {
        int n = d->nlisteners;
        pfd[0] = (struct pollfd){.fd = opesd_signal_pipe[0], .events = POLLIN};
        for (int i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){.fd = d->listeners[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        if (pfd[0].revents & POLLIN) {
            unsigned char sig;
            while (read(opesd_signal_pipe[0], &sig, 1) == 1) {
                if (sig == SIGHUP) {
                    opesd_reload(d);
                } else {
                    opesd_shutdown(d);
                    return;
                }
            }
        }
        for (int i = 0; i < n; i++)
            if (pfd[i + 1].revents & POLLIN)
                opesd_accept(d, d->listeners[i].fd);
    }
}

static void opesd_signals(void)
{
    struct sigaction sa = {.sa_handler = opesd_on_signal};

    if (pipe2(opesd_signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        fatal("pipe");
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void usage(void)
{
    fprintf(stderr, "usage: opesd [-t] [-s] -c FILE\n"
                    "  -c FILE  configuration file\n"
                    "  -t       check the configuration, print the effective settings, exit\n"
                    "  -s       log to syslog (facility mail) instead of stderr\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opesd d = {.lock = PTHREAD_MUTEX_INITIALIZER,
                      .work = PTHREAD_COND_INITIALIZER,
                      .idle = PTHREAD_COND_INITIALIZER};
    struct opes_config *cfg;
    const char *error;
    bool check = false, use_syslog = false;
    int ch;

    while ((ch = getopt(argc, argv, "c:tsh")) != -1) {
        switch (ch) {
        case 'c':
            d.config_path = optarg;
            break;
        case 't':
            check = true;
            break;
        case 's':
            use_syslog = true;
            break;
        default:
            usage();
        }
    }
    if (d.config_path == NULL || optind != argc)
        usage();
    log_init("opesd", use_syslog && !check);
    cfg = config_load(d.config_path, &error);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    {
        /* the mails' words: built in, and the operator's catalogs read once, before threads */
        char ierr[512];
        if (i18n_init(cfg->web_catalog_dir, ierr, sizeof(ierr)) < 0) {
            fprintf(stderr, "opesd: %s\n", ierr);
            config_unref(&cfg);
            return 1;
        }
    }
    if (check) {
        struct svc_set *services = services_load(cfg, &error);
        if (services == NULL) {
            fprintf(stderr, "%s\n", error);
            config_unref(&cfg);
            return 1;
        }
        services_free(&services);
        struct deliver *dl = deliver_new(cfg, &error); /* the target, the password file */
        if (dl == NULL) {
            fprintf(stderr, "%s\n", error);
            config_unref(&cfg);
            return 1;
        }
        deliver_free(&dl);
        if (config_system_uri_warning(cfg) != NULL)
            fprintf(stderr, "opesd: warning: %s\n", config_system_uri_warning(cfg));
        config_print(cfg, stdout);
        config_unref(&cfg);
        return 0;
    }
    log_set_level(cfg->log_level);
    d.env = lmtp_env_new(cfg, &error);
    if (d.env == NULL)
        fatalx("%s", error);
    d.max = (unsigned)cfg->max_connections;
    d.qcap = 10000 + 1; /* the largest max_connections the configuration allows */
    d.queue = calloc(d.qcap, sizeof(*d.queue));
    if (d.queue == NULL || pipe2(d.stop_pipe, O_CLOEXEC) < 0)
        fatal("startup");
    opesd_signals();
    opesd_listen(&d, cfg);
    opesd_drop_privileges(&d, cfg);
    opesd_check_spool(cfg);
    opesd_check_store(cfg);
    tracelog_start();
    if (pthread_create(&d.jobs, NULL, opesd_jobs, &d) != 0)
        fatal("pthread_create");
    log_info("opesd started target=%s system_uri=%s", cfg->target, cfg->system_uri);
    if (config_system_uri_warning(cfg) != NULL)
        log_warnx("%s", config_system_uri_warning(cfg));
    opesd_loop(&d);
    tracelog_stop(); /* after the last session: its records are written */
    log_info("opesd stopped");
    lmtp_env_unref(&d.env);
    free(d.queue);
    return 0;
}
