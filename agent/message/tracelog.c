/*
 * tracelog.c - one writer thread for the trace records of every session.
 */
#include "opes/tracelog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opes/config.h"
#include "opes/log.h"
#include "opes/vec.h"

#define TRACELOG_GATHER_US 20000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct tracelog_batch queue;
    char path[4096], key[4096];
    int backend; /* enum config_store_backend */
    bool running, stopping;
    unsigned long dropped;
    pthread_t thread;
} tl = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

struct store_trace *tracelog_batch_add(struct tracelog_batch *b)
{
    b->t = vec_reserve(b->t, &b->cap, b->n + 1, sizeof(*b->t));
    memset(&b->t[b->n], 0, sizeof(b->t[0]));
    return &b->t[b->n++];
}

void tracelog_batch_free(struct tracelog_batch *b)
{
    free(b->t);
    b->t = NULL;
    b->n = b->cap = 0;
}

/* tracelog_write - commit one batch, (re)opening the store as needed. */
static void tracelog_write(struct store **st, char *open_path, struct tracelog_batch *b,
                           int backend, const char *path, const char *key)
{
    const char *error;

    if (*st != NULL && strcmp(open_path, path) != 0)
        store_close(st);
    if (*st == NULL) {
        *st = store_open_at(backend, path, key, &error);
        if (*st == NULL) {
            log_warnx("trace records not stored (%zu): %s", b->n, error);
            return;
        }
        snprintf(open_path, 4096, "%s", path);
    }
    if (store_trace_add_many(*st, b->t, b->n, &error) < 0)
        log_warnx("trace records not stored (%zu): %s", b->n, error);
}

static void *tracelog_thread(void *arg)
{
    struct store *st = NULL;
    char open_path[4096] = "", path[4096], key[4096];

    (void)arg;
    log_set_context("trace-writer");
    pthread_mutex_lock(&tl.lock);
    for (;;) {
        struct tracelog_batch b;
        while (tl.queue.n == 0 && !tl.stopping)
            pthread_cond_wait(&tl.wake, &tl.lock);
        if (tl.queue.n == 0)
            break;
        /* let a burst gather: one commit for many transactions */
        pthread_mutex_unlock(&tl.lock);
        if (!tl.stopping)
            usleep(TRACELOG_GATHER_US);
        pthread_mutex_lock(&tl.lock);
        b = tl.queue;
        memset(&tl.queue, 0, sizeof(tl.queue));
        memcpy(path, tl.path, sizeof(path));
        memcpy(key, tl.key, sizeof(key));
        if (tl.dropped > 0) {
            log_warnx("trace queue full: %lu records dropped", tl.dropped);
            tl.dropped = 0;
        }
        pthread_mutex_unlock(&tl.lock);
        tracelog_write(&st, open_path, &b, tl.backend, path, key);
        tracelog_batch_free(&b);
        pthread_mutex_lock(&tl.lock);
    }
    pthread_mutex_unlock(&tl.lock);
    store_close(&st);
    return NULL;
}

void tracelog_start(void)
{
    pthread_mutex_lock(&tl.lock);
    if (!tl.running && pthread_create(&tl.thread, NULL, tracelog_thread, NULL) == 0)
        tl.running = true;
    pthread_mutex_unlock(&tl.lock);
}

void tracelog_submit(struct tracelog_batch *b, const struct opes_config *cfg)
{
    pthread_mutex_lock(&tl.lock);
    if (!tl.running || tl.queue.n + b->n > TRACELOG_QUEUE_MAX) {
        tl.dropped += b->n;
    } else {
        bool was_empty = tl.queue.n == 0;
        for (size_t i = 0; i < b->n; i++)
            *tracelog_batch_add(&tl.queue) = b->t[i];
        tl.backend = (int)cfg->store_backend; /* restart-only: never changes under the writer */
        snprintf(tl.path, sizeof(tl.path), "%s",
                 cfg->store_backend == CONFIG_STORE_POSTGRESQL ? cfg->store_conninfo
                                                               : cfg->store_path);
        snprintf(tl.key, sizeof(tl.key), "%s", cfg->key_file);
        if (was_empty) /* otherwise the writer is awake already */
            pthread_cond_signal(&tl.wake);
    }
    pthread_mutex_unlock(&tl.lock);
    b->n = 0;
}

void tracelog_stop(void)
{
    pthread_mutex_lock(&tl.lock);
    if (!tl.running) {
        pthread_mutex_unlock(&tl.lock);
        return;
    }
    tl.stopping = true;
    pthread_cond_signal(&tl.wake);
    pthread_mutex_unlock(&tl.lock);
    pthread_join(tl.thread, NULL);
    tracelog_batch_free(&tl.queue);
    tl.running = false;
}
