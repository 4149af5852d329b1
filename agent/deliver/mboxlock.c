/*
 * mboxlock.c - one final dot at a time per mailbox, across the process
 * (mboxlock.h).
 *
 * The held mailboxes are a short list (at most one entry per transaction in
 * flight) under one mutex; a transaction whose mailboxes are busy waits on one
 * condition, woken by every release. Keys are SipHash values of the folded
 * address under a key drawn at start: a collision only makes two mailboxes
 * wait for each other.
 */
#include "opes/mboxlock.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/clock.h"
#include "opes/log.h"

struct mboxlock {
    struct mboxlock *next;
    size_t n;
    uint64_t keys[];
};

static pthread_mutex_t mboxlock_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mboxlock_cond;
static pthread_once_t mboxlock_once = PTHREAD_ONCE_INIT;
static unsigned char mboxlock_sipkey[crypto_shorthash_KEYBYTES];
static struct mboxlock *mboxlock_held;

/* mboxlock_init - the random key, and a condition that waits on the monotonic clock. */
static void mboxlock_init(void)
{
    pthread_condattr_t attr;

    randombytes_buf(mboxlock_sipkey, sizeof(mboxlock_sipkey));
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&mboxlock_cond, &attr);
    pthread_condattr_destroy(&attr);
}

uint64_t mboxlock_key(const char *addr, char delimiter)
{
    char folded[512];
    const char *at = strrchr(addr, '@');
    size_t len = 0, local = at != NULL ? (size_t)(at - addr) : strlen(addr);
    const char *detail = delimiter != '\0' ? memchr(addr, delimiter, local) : NULL;
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t key;

    pthread_once(&mboxlock_once, mboxlock_init);
    if (addr[0] != '"' && detail != NULL)
        local = (size_t)(detail - addr);
    for (size_t i = 0; i < local && len < sizeof(folded); i++)
        folded[len++] = (char)tolower((unsigned char)addr[i]);
    for (const char *p = at; p != NULL && *p != '\0' && len < sizeof(folded); p++)
        folded[len++] = (char)tolower((unsigned char)*p);
    crypto_shorthash(out, (const unsigned char *)folded, len, mboxlock_sipkey);
    memcpy(&key, out, sizeof(key));
    return key;
}

/* mboxlock_busy - does a held entry share a key with l? (under the mutex) */
static bool mboxlock_busy(const struct mboxlock *l)
{
    for (const struct mboxlock *h = mboxlock_held; h != NULL; h = h->next)
        for (size_t i = 0; i < h->n; i++)
            for (size_t j = 0; j < l->n; j++)
                if (h->keys[i] == l->keys[j])
                    return true;
    return false;
}

struct mboxlock *mboxlock_acquire(const char *const *addrs, size_t n, char delimiter,
                                  int64_t wait_until_ms)
{
    struct mboxlock *l;
    struct timespec until;
    int rc = 0;

    if (n == 0)
        return NULL;
    if ((l = malloc(sizeof(*l) + n * sizeof(l->keys[0]))) == NULL)
        fatal("malloc");
    l->n = n;
    for (size_t i = 0; i < n; i++)
        l->keys[i] = mboxlock_key(addrs[i], delimiter);
    until.tv_sec = (time_t)(wait_until_ms / 1000);
    until.tv_nsec = (long)(wait_until_ms % 1000) * 1000000L;
    pthread_mutex_lock(&mboxlock_mutex);
    while (mboxlock_busy(l) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&mboxlock_cond, &mboxlock_mutex, &until);
    if (rc == ETIMEDOUT && mboxlock_busy(l)) {
        pthread_mutex_unlock(&mboxlock_mutex);
        log_warnx("rcpt=<%s> mailbox still busy with another delivery: sending without waiting "
                  "(a crash now could deliver this message twice)",
                  addrs[0]);
        free(l);
        return NULL;
    }
    l->next = mboxlock_held;
    mboxlock_held = l;
    pthread_mutex_unlock(&mboxlock_mutex);
    return l;
}

void mboxlock_release(struct mboxlock **lp)
{
    struct mboxlock *l = *lp;

    *lp = NULL;
    if (l == NULL)
        return;
    pthread_mutex_lock(&mboxlock_mutex);
    for (struct mboxlock **p = &mboxlock_held; *p != NULL; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    pthread_cond_broadcast(&mboxlock_cond);
    pthread_mutex_unlock(&mboxlock_mutex);
    free(l);
}
