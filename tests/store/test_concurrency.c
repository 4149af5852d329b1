/*
 * test_concurrency.c - many connections on one store at once.
 *
 * opesd opens one store connection per worker thread, while opes-web lists
 * and opesctl or the job thread purges. None of them may ever see an error
 * (SQLITE_BUSY or anything else) because the others are busy: a worker that
 * failed to hold a message would have to answer 4xx. Eight writers hold
 * messages, two readers list, look up and read content back, and one thread
 * purges, all for a few seconds (STORE_CONCURRENCY_SECONDS, 3 by default);
 * afterwards every message a writer was told was held is there, intact.
 * Also: threads opening a new installation at the same moment, and release
 * workers on several connections claiming each request exactly once.
 */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "opes/store.h"

#include "store_util.h"

extern const size_t store_migration_count;

#define WRITERS 8
#define READERS 2
#define SHARED_CONTENTS 4 /* contents several writers hold at once (de-duplicated) */

static char *dir, *db_path, *key_path;
static atomic_bool stop;
static pthread_barrier_t start_line;

static void setup(void)
{
    dir = tu_tmpdir();
    db_path = tu_path(dir, "store.db");
    key_path = tu_path(dir, "keys");
    atomic_store(&stop, false);
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
    free(db_path);
    free(key_path);
}

static double seconds(void)
{
    const char *s = getenv("STORE_CONCURRENCY_SECONDS");
    double v = s != NULL ? atof(s) : 0;
    return v > 0 ? v : 3.0;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* content_len - the size of content seed: mostly small, some over a chunk. */
static size_t content_len(uint32_t seed)
{
    uint32_t x = seed * 2654435761u;
    return (x % 10 == 0) ? 65536 + x % 100000 : 200 + x % 20000;
}

/* A thread's record of what it did and the first error it met. */
struct held {
    char id[STORE_ID_LEN + 1];
    char recipient[64];
    uint32_t seed;
};

struct worker {
    int n;
    pthread_t thread;
    struct held *held;
    size_t nheld, cap;
    atomic_long calls;
    double slowest; /* seconds of the slowest store_quarantine_add */
    char error[600];
};

static void note_failure(struct worker *w, const char *what, int rc, const char *err)
{
    if (w->error[0] == '\0')
        snprintf(w->error, sizeof(w->error), "thread %d: %s returned %d: %s", w->n, what, rc,
                 err != NULL ? err : "(no message)");
    atomic_store(&stop, true);
}

static struct store *thread_open(struct worker *w)
{
    const char *err = NULL;
    struct store *st;

    pthread_barrier_wait(&start_line);
    st = tu_store_open(db_path, key_path, &err);
    if (st == NULL)
        note_failure(w, "store_open", -1, err);
    return st;
}

static void *writer(void *arg)
{
    struct worker *w = arg;
    struct store *st = thread_open(w);
    uint32_t k = 0;

    while (st != NULL && !atomic_load(&stop)) {
        struct store_qitem it[2];
        size_t n = (k % 3 == 0) ? 2 : 1;
        /* every 5th message is one of a few contents the other writers hold too */
        uint32_t seed =
            (k % 5 == 0) ? 1 + k % SHARED_CONTENTS : 1000 + (uint32_t)w->n * 1000000 + k;
        size_t len = content_len(seed);
        unsigned char *body = tu_pattern(len, seed);
        const char *err = NULL;
        int rc;

        memset(it, 0, sizeof(it));
        for (size_t i = 0; i < n; i++) {
            snprintf(it[i].trace_id, sizeof(it[i].trace_id), "w%d-%u", w->n, k);
            snprintf(it[i].sender, sizeof(it[i].sender), "sender%u@example.org", k % 7);
            snprintf(it[i].recipient, sizeof(it[i].recipient), "%s%d@example.com",
                     i == 0 ? "user" : "shared", i == 0 ? w->n : 0);
            snprintf(it[i].subject, sizeof(it[i].subject), "message %u of writer %d", k, w->n);
            snprintf(it[i].service, sizeof(it[i].service), "rules");
            snprintf(it[i].reason, sizeof(it[i].reason), "test");
        }
        double t0 = now_mono();
        rc = tu_add(st, it, n, body, len, 8192, &err);
        if (now_mono() - t0 > w->slowest)
            w->slowest = now_mono() - t0;
        free(body);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_quarantine_add", rc, err);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (w->nheld == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 256;
                w->held = realloc(w->held, w->cap * sizeof(*w->held));
                if (w->held == NULL)
                    abort();
            }
            memcpy(w->held[w->nheld].id, it[i].id, sizeof(it[i].id));
            snprintf(w->held[w->nheld].recipient, sizeof(w->held[w->nheld].recipient), "%s",
                     it[i].recipient);
            w->held[w->nheld].seed = seed;
            w->nheld++;
        }
        k++;
    }
    store_close(&st);
    return NULL;
}

struct seen {
    size_t n;
    char id[20][STORE_ID_LEN + 1];
};

/*
 * collect - the writers' entries of a listing (user<N>@, shared0@): the
 * purger's own ones and the old deleted ones seeded for it may go at any moment.
 */
static void collect(const struct store_qitem *item, void *ctx)
{
    struct seen *s = ctx;

    if (s->n < 20 && strncmp(item->recipient, "purged@", 7) != 0 &&
        strncmp(item->recipient, "old@", 4) != 0)
        memcpy(s->id[s->n++], item->id, STORE_ID_LEN + 1);
}

static void *reader(void *arg)
{
    struct worker *w = arg;
    struct store *st = thread_open(w);
    unsigned k = 0;

    while (st != NULL && !atomic_load(&stop)) {
        char rcpt[64];
        struct seen s = {0};
        struct store_qfilter f = {.recipient = rcpt, .status = -1, .limit = 20};
        const char *err = NULL;
        int rc;

        snprintf(rcpt, sizeof(rcpt), "user%u@example.com", k % WRITERS);
        if (k % 4 == 1)
            f.recipient = NULL;
        if (k % 4 == 2)
            f.search = "message 1";
        if (k % 4 == 3)
            f.status = STORE_HELD;
        rc = store_quarantine_list(st, &f, collect, &s, &err);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_quarantine_list", rc, err);
            break;
        }
        for (size_t i = 0; i < s.n && i < 3; i++) {
            struct store_qitem it;
            unsigned char *data;
            size_t len;
            rc = store_quarantine_get(st, s.id[i], &it, &err);
            w->calls++;
            if (rc != 0) {
                note_failure(w, "store_quarantine_get", rc, err);
                break;
            }
            rc = tu_content(st, s.id[i], &data, &len, &err);
            free(data);
            w->calls++;
            if (rc != 0 || len != it.size) {
                note_failure(w, "store_quarantine_content", rc, rc != 0 ? err : "wrong size");
                break;
            }
        }
        k++;
    }
    store_close(&st);
    return NULL;
}

/*
 * purger - purges again and again; between runs it holds a message, deletes
 * it and ages it, so that every purge has entries and content to remove.
 */
static void *purger(void *arg)
{
    struct worker *w = arg;
    struct store *st = thread_open(w);
    uint32_t k = 0;

    while (st != NULL && !atomic_load(&stop)) {
        struct store_qitem it;
        size_t len = content_len(5000000 + k);
        unsigned char *body = tu_pattern(len, 5000000 + k);
        const char *err = NULL;
        size_t expired, removed;
        int rc;

        memset(&it, 0, sizeof(it));
        snprintf(it.trace_id, sizeof(it.trace_id), "p-%u", k);
        snprintf(it.sender, sizeof(it.sender), "old@example.org");
        snprintf(it.recipient, sizeof(it.recipient), "purged@example.com");
        snprintf(it.service, sizeof(it.service), "rules");
        snprintf(it.reason, sizeof(it.reason), "test");
        rc = tu_add(st, &it, 1, body, len, 65536, &err);
        free(body);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_quarantine_add", rc, err);
            break;
        }
        rc = store_quarantine_set_status(st, it.id, STORE_DELETED, &err);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_quarantine_set_status", rc, err);
            break;
        }
        rc = store_purge(st, 30, &expired, &removed, &err);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_purge", rc, err);
            break;
        }
        rc = store_audit(st, "test", "purge", "quarantine", "cli", &err);
        w->calls++;
        if (rc != 0) {
            note_failure(w, "store_audit", rc, err);
            break;
        }
        usleep(20000);
        k++;
    }
    store_close(&st);
    return NULL;
}

START_TEST(test_writers_readers_purge)
{
    struct worker w[WRITERS + READERS + 1];
    const char *err = NULL;
    struct store *st = tu_store_open(db_path, key_path, &err);
    double until;
    size_t total = 0;

    ck_assert_msg(st != NULL, "store_open: %s", err);
    /* old deleted entries for the first purges, some sharing content with the writers */
    for (uint32_t i = 0; i < 40; i++) {
        struct store_qitem it;
        uint32_t seed = i % 2 ? 1 + i % SHARED_CONTENTS : 9000000 + i;
        size_t len = content_len(seed);
        unsigned char *body = tu_pattern(len, seed);
        memset(&it, 0, sizeof(it));
        snprintf(it.recipient, sizeof(it.recipient), "old@example.com");
        ck_assert_int_eq(tu_add(st, &it, 1, body, len, 4096, &err), 0);
        ck_assert_int_eq(store_quarantine_set_status(st, it.id, STORE_DELETED, &err), 0);
        free(body);
    }
    store_close(&st);
    tu_db_exec(db_path, "UPDATE quarantine SET created = created - 40 * 86400, "
                        "updated = updated - 40 * 86400");

    memset(w, 0, sizeof(w));
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, WRITERS + READERS + 1), 0);
    for (int i = 0; i < WRITERS + READERS + 1; i++) {
        w[i].n = i;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL,
                                        i < WRITERS             ? writer
                                        : i < WRITERS + READERS ? reader
                                                                : purger,
                                        &w[i]),
                         0);
    }
    /* run for the time asked, and until every thread has had its turn (at most 60 s) */
    until = now_mono() + seconds();
    for (;;) {
        bool all_called = true;
        for (int i = 0; i < WRITERS + READERS + 1; i++)
            all_called = all_called && atomic_load(&w[i].calls) > 0;
        if (atomic_load(&stop) || (now_mono() >= until && all_called) || now_mono() >= until + 60)
            break;
        usleep(10000);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < WRITERS + READERS + 1; i++)
        pthread_join(w[i].thread, NULL);
    pthread_barrier_destroy(&start_line);

    for (int i = 0; i < WRITERS + READERS + 1; i++)
        ck_assert_msg(w[i].error[0] == '\0', "%s", w[i].error);
    for (int i = 0; i < WRITERS + READERS + 1; i++)
        ck_assert_msg(atomic_load(&w[i].calls) > 0, "thread %d made no call in 60 s", i);

    /* afterwards: every id a writer got is there, held, for its recipient, intact */
    st = tu_store_open(db_path, key_path, &err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    ck_assert_int_eq(store_integrity_check(st, &err), 0);
    for (int i = 0; i < WRITERS; i++) {
        for (size_t j = 0; j < w[i].nheld; j++) {
            const struct held *h = &w[i].held[j];
            size_t len = content_len(h->seed), got_len;
            unsigned char *want = tu_pattern(len, h->seed), *got;
            struct store_qitem it;
            int rc = store_quarantine_get(st, h->id, &it, &err);
            ck_assert_msg(rc == 0, "held item %s is missing (%d)", h->id, rc);
            ck_assert_int_eq(it.status, STORE_HELD);
            ck_assert_str_eq(it.recipient, h->recipient);
            ck_assert_uint_eq(it.size, len);
            rc = tu_content(st, h->id, &got, &got_len, &err);
            ck_assert_msg(rc == 0, "content of %s: %d %s", h->id, rc, rc < 0 ? err : "");
            ck_assert_uint_eq(got_len, len);
            ck_assert_msg(memcmp(got, want, len) == 0, "content of %s differs", h->id);
            free(got);
            free(want);
        }
        total += w[i].nheld;
        free(w[i].held);
    }
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine WHERE status = 'held' "
                                        "AND recipient <> 'purged@example.com'"),
                     (int64_t)total);
    /* the old entries went, and no content is left over from them */
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine WHERE recipient = "
                                        "'old@example.com'"),
                     0);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM content WHERE id NOT IN "
                                        "(SELECT content_id FROM quarantine WHERE content_id "
                                        "IS NOT NULL)"),
                     0);
    /* and the writers did enough to have met each other */
    ck_assert_msg(total >= 8 * WRITERS, "only %zu messages held in %.1f s", total, seconds());
    double slowest = 0;
    for (int i = 0; i < WRITERS; i++)
        if (w[i].slowest > slowest)
            slowest = w[i].slowest;
    fprintf(stderr,
            "\nconcurrency: %zu messages held by %d writers in %.1f s, slowest hold %.0f ms\n",
            total, WRITERS, seconds(), slowest * 1000);
    store_close(&st);
}
END_TEST

/* Threads of opesd, opesctl and opes-web starting at once on a new installation. */
static void *opener(void *arg)
{
    struct worker *w = arg;
    struct store *st = thread_open(w);

    if (st != NULL) {
        int v = store_schema_version(st);
        if (v != (int)store_migration_count)
            note_failure(w, "store_schema_version", v, "not the newest version");
        else {
            struct store_qitem it;
            const char *err = NULL;
            int rc;
            memset(&it, 0, sizeof(it));
            snprintf(it.recipient, sizeof(it.recipient), "first@example.com");
            rc = tu_add(st, &it, 1, "x", 1, 1, &err);
            if (rc != 0)
                note_failure(w, "store_quarantine_add", rc, err);
        }
    }
    store_close(&st);
    return NULL;
}

START_TEST(test_simultaneous_first_open)
{
    enum { N = 8, ROUNDS = 40 };
    struct worker w[N];
    char first[700] = "", last[700] = "";
    int broken = 0;

    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        bool failed = false;

        free(db_path);
        free(key_path);
        snprintf(name, sizeof(name), "new-%d.db", round);
        db_path = tu_path(dir, name);
        snprintf(name, sizeof(name), "new-%d.keys", round);
        key_path = tu_path(dir, name);
        memset(w, 0, sizeof(w));
        atomic_store(&stop, false);
        ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, N), 0);
        for (int i = 0; i < N; i++) {
            w[i].n = i;
            ck_assert_int_eq(pthread_create(&w[i].thread, NULL, opener, &w[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(w[i].thread, NULL);
        pthread_barrier_destroy(&start_line);
        for (int i = 0; i < N; i++)
            if (w[i].error[0] != '\0') {
                if (!failed)
                    snprintf(broken == 0 ? first : last, sizeof(first), "round %d, %s", round,
                             w[i].error);
                failed = true;
            }
        if (failed) {
            broken++;
            continue;
        }
        ck_assert_int_eq(tu_db_version(db_path), (int64_t)store_migration_count);
        ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), N);
    }
    ck_assert_msg(broken == 0,
                  "in %d of %d rounds a store_open failed while %d threads opened a new "
                  "installation at once; first: %s; last: %s",
                  broken, ROUNDS, N, first, last);
}
END_TEST

/*
 * Release workers on several connections (threads of opesd, or several
 * nodes): each request is claimed by exactly one of them, so that a released
 * message is delivered once.
 */
#define CLAIMERS 4
#define REQUESTS 150

struct claimer {
    struct worker w;
    int64_t claimed[REQUESTS];
    size_t n;
};

static void *claimer(void *arg)
{
    struct claimer *c = arg;
    struct store *st = thread_open(&c->w);
    int idle = 0;

    while (st != NULL && idle < 20 && !atomic_load(&stop)) {
        struct store_release r;
        const char *err = NULL;
        int rc = store_release_next(st, &r, &err);
        c->w.calls++;
        if (rc == STORE_NOTFOUND) {
            idle++;
            usleep(1000);
            continue;
        }
        if (rc != 0) {
            note_failure(&c->w, "store_release_next", rc, err);
            break;
        }
        idle = 0;
        if (c->n == REQUESTS) {
            note_failure(&c->w, "store_release_next", rc, "more claims than requests");
            break;
        }
        c->claimed[c->n++] = r.id;
        rc = store_release_done(st, &r, &err);
        c->w.calls++;
        if (rc != 0) {
            note_failure(&c->w, "store_release_done", rc, err);
            break;
        }
    }
    store_close(&st);
    return NULL;
}

START_TEST(test_release_claimed_once)
{
    static struct claimer c[CLAIMERS];
    const char *err = NULL;
    struct store *st = tu_store_open(db_path, key_path, &err);
    static char ids[REQUESTS][STORE_ID_LEN + 1];
    static int times[REQUESTS + 1];
    int64_t first_id = -1;
    size_t total = 0;

    ck_assert_msg(st != NULL, "store_open: %s", err);
    for (int i = 0; i < REQUESTS; i++) {
        struct store_qitem it;
        struct store_release r;
        memset(&it, 0, sizeof(it));
        snprintf(it.recipient, sizeof(it.recipient), "user%d@example.com", i % 10);
        snprintf(it.sender, sizeof(it.sender), "s%d@example.org", i);
        ck_assert_int_eq(tu_add(st, &it, 1, "x\r\n", 3, 3, &err), 0);
        memcpy(ids[i], it.id, sizeof(ids[i]));
        memset(&r, 0, sizeof(r));
        memcpy(r.item_id, it.id, sizeof(r.item_id));
        snprintf(r.requested_by, sizeof(r.requested_by), "%s", it.recipient);
        snprintf(r.origin, sizeof(r.origin), "portal");
        snprintf(r.whitelist, sizeof(r.whitelist), "address");
        ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    }
    first_id = tu_db_int(db_path, "SELECT min(id) FROM release_request");

    memset(c, 0, sizeof(c));
    memset(times, 0, sizeof(times));
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, CLAIMERS), 0);
    for (int i = 0; i < CLAIMERS; i++) {
        c[i].w.n = i;
        ck_assert_int_eq(pthread_create(&c[i].w.thread, NULL, claimer, &c[i]), 0);
    }
    for (int i = 0; i < CLAIMERS; i++)
        pthread_join(c[i].w.thread, NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < CLAIMERS; i++)
        ck_assert_msg(c[i].w.error[0] == '\0', "%s", c[i].w.error);
    for (int i = 0; i < CLAIMERS; i++)
        for (size_t j = 0; j < c[i].n; j++) {
            int64_t k = c[i].claimed[j] - first_id;
            ck_assert_int_ge(k, 0);
            ck_assert_int_lt(k, REQUESTS);
            times[k]++;
            total++;
        }
    for (int k = 0; k < REQUESTS; k++)
        ck_assert_msg(times[k] == 1, "release request %lld was claimed %d times",
                      (long long)(first_id + k), times[k]);
    ck_assert_uint_eq(total, REQUESTS);
    for (int i = 0; i < REQUESTS; i++) {
        struct store_qitem it;
        char state[16], why[256];
        ck_assert_int_eq(store_quarantine_get(st, ids[i], &it, &err), 0);
        ck_assert_int_eq(it.status, STORE_RELEASED);
        ck_assert_int_eq(
            store_release_state(st, ids[i], state, sizeof(state), why, sizeof(why), &err), 0);
        ck_assert_str_eq(state, "done");
    }
    ck_assert_int_eq(
        tu_db_int(db_path, "SELECT count(*) FROM audit WHERE action = 'release delivered'"),
        REQUESTS);
    store_close(&st);
}
END_TEST

/*
 * test_single_winners - connections racing for the same thing, round after
 * round: a job lease, a single-use token, a release request of one entry and
 * a rate limit of max hits. Exactly one wins each lease, token and request;
 * the limit lets exactly max through.
 */
#define RACERS 6
#define RACE_ROUNDS 40
#define RACE_MAX 3

static char race_ids[RACE_ROUNDS][STORE_ID_LEN + 1];
static atomic_int race_wins[RACE_ROUNDS][3]; /* lease, token, under the limit */

struct racer {
    struct worker w;
};

static void *racer(void *arg)
{
    struct racer *c = arg;
    const char *err = NULL;
    struct store *st = tu_store_open(db_path, key_path, &err);
    char holder[32];

    pthread_barrier_wait(&start_line);
    if (st == NULL) {
        note_failure(&c->w, "store_open", -1, err);
        return NULL;
    }
    snprintf(holder, sizeof(holder), "node%d", c->w.n);
    for (int r = 0; r < RACE_ROUNDS; r++) {
        char name[64];
        struct store_release rel;
        int rc;

        snprintf(name, sizeof(name), "digest-run-%d", r);
        rc = store_claim(st, name, holder, (int64_t)time(NULL) + 600, &err);
        if (rc < 0)
            note_failure(&c->w, "store_claim", rc, err);
        else if (rc == 0)
            atomic_fetch_add(&race_wins[r][0], 1);
        snprintf(name, sizeof(name), "nonce-%d", r);
        rc = store_token_use(st, name, (int64_t)time(NULL) + 600, &err);
        if (rc < 0)
            note_failure(&c->w, "store_token_use", rc, err);
        else if (rc == 0)
            atomic_fetch_add(&race_wins[r][1], 1);
        snprintf(name, sizeof(name), "login-link:%d", r);
        rc = store_rate_hit(st, name, 3600, RACE_MAX, &err);
        if (rc < 0)
            note_failure(&c->w, "store_rate_hit", rc, err);
        else if (rc == 0)
            atomic_fetch_add(&race_wins[r][2], 1);
        memset(&rel, 0, sizeof(rel));
        memcpy(rel.item_id, race_ids[r], sizeof(rel.item_id));
        snprintf(rel.requested_by, sizeof(rel.requested_by), "%s", holder);
        snprintf(rel.origin, sizeof(rel.origin), "portal");
        rc = store_release_request(st, &rel, &err);
        if (rc != 0)
            note_failure(&c->w, "store_release_request", rc, err);
        c->w.calls += 4;
    }
    store_close(&st);
    return NULL;
}

START_TEST(test_single_winners)
{
    static struct racer c[RACERS];
    const char *err = NULL;
    struct store *st = tu_store_open(db_path, key_path, &err);

    ck_assert_msg(st != NULL, "store_open: %s", err);
    memset(race_wins, 0, sizeof(race_wins));
    for (int r = 0; r < RACE_ROUNDS; r++) {
        struct store_qitem it;
        memset(&it, 0, sizeof(it));
        snprintf(it.recipient, sizeof(it.recipient), "race%d@example.com", r);
        snprintf(it.sender, sizeof(it.sender), "s@example.org");
        ck_assert_int_eq(tu_add(st, &it, 1, "x\r\n", 3, 3, &err), 0);
        memcpy(race_ids[r], it.id, sizeof(race_ids[r]));
    }
    memset(c, 0, sizeof(c));
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        c[i].w.n = i;
        ck_assert_int_eq(pthread_create(&c[i].w.thread, NULL, racer, &c[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(c[i].w.thread, NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < RACERS; i++)
        ck_assert_msg(c[i].w.error[0] == '\0', "%s", c[i].w.error);
    for (int r = 0; r < RACE_ROUNDS; r++) {
        ck_assert_msg(race_wins[r][0] == 1, "lease %d taken %d times", r, race_wins[r][0]);
        ck_assert_msg(race_wins[r][1] == 1, "token %d used %d times", r, race_wins[r][1]);
        ck_assert_msg(race_wins[r][2] == RACE_MAX, "limit %d let %d through", r, race_wins[r][2]);
    }
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM release_request"), RACE_ROUNDS);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(DISTINCT quarantine_id) FROM "
                                        "release_request WHERE state = 'pending'"),
                     RACE_ROUNDS);
    /* a lease is the holder's until it expires; then another takes it */
    ck_assert_int_eq(store_claim(st, "purge", "a", (int64_t)time(NULL) + 600, &err), 0);
    ck_assert_int_eq(store_claim(st, "purge", "b", (int64_t)time(NULL) + 600, &err), STORE_USED);
    ck_assert_int_eq(store_claim(st, "purge", "a", (int64_t)time(NULL) + 900, &err), 0);
    tu_db_exec(db_path, "UPDATE claim SET expires = expires - 1000");
    ck_assert_int_eq(store_claim(st, "purge", "b", (int64_t)time(NULL) + 600, &err), 0);
    ck_assert_int_eq(store_claim_drop(st, "purge", "a", &err), 0); /* not a's any more */
    ck_assert_int_eq(store_claim(st, "purge", "a", (int64_t)time(NULL) + 600, &err), STORE_USED);
    ck_assert_int_eq(store_claim_drop(st, "purge", "b", &err), 0);
    ck_assert_int_eq(store_claim(st, "purge", "a", (int64_t)time(NULL) + 600, &err), 0);
    /* renewing: only a lease held without a break, even when nobody else took it since */
    ck_assert_int_eq(store_claim_renew(st, "purge", "a", (int64_t)time(NULL) + 700, &err), 0);
    ck_assert_int_eq(store_claim_renew(st, "purge", "b", (int64_t)time(NULL) + 700, &err),
                     STORE_USED);
    tu_db_exec(db_path, "UPDATE claim SET expires = expires - 1000");
    ck_assert_int_eq(store_claim_renew(st, "purge", "a", (int64_t)time(NULL) + 700, &err),
                     STORE_USED);
    ck_assert_int_eq(store_claim(st, "purge", "a", (int64_t)time(NULL) + 600, &err), 0);
    store_close(&st);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store_concurrency");
    TCase *tc = tcase_create("concurrency");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_writers_readers_purge);
    tcase_add_test(tc, test_simultaneous_first_open);
    tcase_add_test(tc, test_release_claimed_once);
    tcase_add_test(tc, test_single_winners);
    tcase_set_timeout(tc, 240);
    suite_add_tcase(s, tc);
    return s;
}
