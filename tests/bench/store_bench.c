/*
 * store_bench.c - figures for the store, SQLite or PostgreSQL (a benchmark, not a test).
 *
 * 1. Durable quarantine inserts per second: store_quarantine_add of distinct
 *    10 KB messages, one recipient each, every call committed and synced as
 *    opesd needs before it answers 2xx (the call opesd makes; SQLite
 *    synchronous=FULL, PostgreSQL synchronous_commit=on); on one connection,
 *    then by 1 and by 2 "nodes": separate processes with THREADS connections
 *    each, as opesd's worker threads in one or two opesd (on SQLite, two
 *    processes on one file). Target: >= 300/s.
 * 2. Listing: the time of store_quarantine_list for one recipient's page of
 *    50 among 100 000 entries (the portal's quarantine page), and of a few
 *    neighbouring queries. The entries are written straight into a database
 *    created by the store, in one transaction, so that building them takes
 *    seconds; the queries go through the store interface. Target: < 5 ms.
 *
 * Usage: store_bench [-d DIR] [-c CONNINFO] [-n INSERTS] [-t THREADS] [-e ENTRIES] [-q QUERIES]
 * Without -c the store is an SQLite file in DIR, which must be on the disk to be
 * measured (not tmpfs): default $TMPDIR or /var/tmp; the key file is there in
 * both cases. With -c it is the PostgreSQL database CONNINFO names, emptied
 * (DROP SCHEMA public CASCADE) before each part: give it a database of its own.
 * Besides the readable figures it prints lines "RESULT name value" for the script.
 * Exit status 0 whatever the figures; 2 on a usage or store error.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opes/config.h"
#include "opes/store.h"

#define MSG_SIZE 10240
#define PAGE 50

static const char *bench_dir, *conninfo;
static char db_path[4096], key_path[4096];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, err != NULL ? err : "?");
    exit(2);
}

/* bench_open - a connection to the store measured (SQLite file or PostgreSQL database). */
static struct store *bench_open(void)
{
    const char *err = NULL;
    struct store *st = conninfo != NULL
                           ? store_open_at(CONFIG_STORE_POSTGRESQL, conninfo, key_path, &err)
                           : store_open_at(CONFIG_STORE_SQLITE, db_path, key_path, &err);
    if (st == NULL)
        die("store_open", err);
    return st;
}

/* pg_exec - run sql on the PostgreSQL database of the benchmark, or die. */
static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);

    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *pg_connect(void)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("postgresql", PQerrorMessage(c));
    pg_exec(c, "SET client_min_messages = warning");
    return c;
}

/* remove_db - an empty store for the next part: the SQLite files removed, or the
 * PostgreSQL schema dropped (the store creates it again). */
static void remove_db(const char *path)
{
    char p[4200];
    const char *suffix[] = {"", "-wal", "-shm"};

    if (conninfo != NULL) {
        PGconn *c = pg_connect();
        pg_exec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        PQfinish(c);
        return;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

struct buf_reader {
    const unsigned char *data;
    size_t len, pos;
};

static ssize_t br_read(void *ctx, void *buf, size_t len)
{
    struct buf_reader *b = ctx;
    size_t n = b->len - b->pos < len ? b->len - b->pos : len;

    memcpy(buf, b->data + b->pos, n);
    b->pos += n;
    return (ssize_t)n;
}

static int br_rewind(void *ctx)
{
    ((struct buf_reader *)ctx)->pos = 0;
    return 0;
}

static void hold(struct store *st, const char *recipient, const unsigned char *data, size_t len)
{
    struct buf_reader b = {data, len, 0};
    struct store_reader r = {br_read, br_rewind, &b};
    struct store_qitem it;
    const char *err = NULL;

    memset(&it, 0, sizeof(it));
    snprintf(it.trace_id, sizeof(it.trace_id), "bench");
    snprintf(it.sender, sizeof(it.sender), "sender@example.org");
    snprintf(it.recipient, sizeof(it.recipient), "%s", recipient);
    snprintf(it.subject, sizeof(it.subject), "benchmark message");
    snprintf(it.service, sizeof(it.service), "rules");
    snprintf(it.reason, sizeof(it.reason), "benchmark");
    if (store_quarantine_add(st, &it, 1, &r, &err) != 0)
        die("store_quarantine_add", err);
}

/* ------------------------------------------------------------ inserts */

struct inserter {
    pthread_t thread;
    int n, count;
};

static void *insert_loop(void *arg)
{
    struct inserter *w = arg;
    struct store *st = bench_open();
    unsigned char *msg = malloc(MSG_SIZE);
    char rcpt[64];

    snprintf(rcpt, sizeof(rcpt), "user%d@example.com", w->n);
    for (int i = 0; i < w->count; i++) {
        randombytes_buf(msg, MSG_SIZE); /* distinct: no de-duplication helps */
        hold(st, rcpt, msg, MSG_SIZE);
    }
    free(msg);
    store_close(&st);
    return NULL;
}

/* run_inserters - count inserts by each of threads connections of this process;
 * recipients are numbered from first. */
static void run_inserters(int first, int threads, int count)
{
    struct inserter *w = calloc((size_t)threads, sizeof(*w));

    for (int i = 0; i < threads; i++) {
        w[i].n = first + i;
        w[i].count = count;
        pthread_create(&w[i].thread, NULL, insert_loop, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(w[i].thread, NULL);
    free(w);
}

/*
 * bench_inserts - inserts per second of total messages by nodes processes of
 * threads connections each (nodes 0: threads connections in this process).
 */
static double bench_inserts(int total, int nodes, int threads)
{
    int procs = nodes > 0 ? nodes : 1, each = total / (procs * threads), failed = 0;
    pid_t *pid = calloc((size_t)procs, sizeof(*pid));
    struct store *st;
    double t0, t;

    remove_db(db_path);
    st = bench_open(); /* create the schema outside the timing */
    store_close(&st);
    t0 = now_s();
    if (nodes == 0) {
        run_inserters(0, threads, each);
    } else {
        fflush(stdout);
        for (int p = 0; p < nodes; p++) {
            pid[p] = fork();
            if (pid[p] < 0)
                die("fork", "failed");
            if (pid[p] == 0) {
                run_inserters(p * threads, threads, each);
                _exit(0);
            }
        }
        for (int p = 0; p < nodes; p++) {
            int status;
            if (waitpid(pid[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed = 1;
        }
    }
    t = now_s() - t0;
    free(pid);
    if (failed)
        die("inserts", "a node failed");
    return (double)(each * procs * threads) / t;
}

/* disk_baseline - write+fsync of MSG_SIZE bytes per second on the same disk, for comparison. */
static double disk_baseline(int count)
{
    char path[4200];
    unsigned char *msg = calloc(1, MSG_SIZE);
    double t0;
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "%s.fsync", db_path);
    f = fopen(path, "w");
    if (f == NULL || msg == NULL)
        die(path, "cannot create");
    fd = fileno(f);
    t0 = now_s();
    for (int i = 0; i < count; i++)
        if (write(fd, msg, MSG_SIZE) != MSG_SIZE || fsync(fd) < 0)
            die(path, "write or fsync failed");
    t0 = now_s() - t0;
    fclose(f);
    unlink(path);
    free(msg);
    return count / t0;
}

/* ------------------------------------------------------------ listing */

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg);
}

/*
 * populate_pg - the rows of populate in one INSERT ... SELECT on PostgreSQL, then
 * ANALYZE, as autovacuum would do shortly after such a load.
 */
static void populate_pg(int entries, int recipients, int64_t now)
{
    char sql[2048];
    PGconn *c = pg_connect();

    snprintf(sql, sizeof(sql),
             "INSERT INTO quarantine (public_id, content_id, trace_id, sender, recipient, "
             "subject, msg_date, size, service, reason, status, created, updated) "
             "SELECT 'b' || lpad(i::text, 19, '0'), (SELECT min(content_id) FROM quarantine), "
             "'bench-' || i, 'sender' || (i %% 997) || '@example' || (i %% 13) || '.org', "
             "CASE WHEN i %% 10 = 0 THEN 'heavy@example.com' ELSE 'user' || "
             "lpad(((i::bigint * 7919) %% %d)::text, 4, '0') || '@example.com' END, "
             "'offer number ' || i, '', 24, 'rules', 'bench', "
             "CASE WHEN i %% 20 = 1 THEN 'released' ELSE 'held' END, c, c "
             "FROM (SELECT i, %lld - 30 * 86400 + floor(i::float8 / %d * 30 * 86400)::bigint "
             "AS c FROM generate_series(0, %d) AS i) AS g",
             recipients, (long long)now, entries, entries - 1);
    pg_exec(c, sql);
    pg_exec(c, "ANALYZE quarantine");
    PQfinish(c);
}

/* populate - entries rows, one recipient in 10 being "heavy@example.com". */
static void populate(int entries, int recipients)
{
    static const unsigned char body[] = "Subject: bench\r\n\r\nbench\r\n";
    struct store *st;
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t content_id, now = (int64_t)time(NULL);

    remove_db(db_path);
    st = bench_open();
    hold(st, "seed@example.com", body, sizeof(body) - 1); /* one real content row */
    store_close(&st);

    if (conninfo != NULL) {
        populate_pg(entries, recipients, now);
        return;
    }
    if (sqlite3_open(db_path, &db) != SQLITE_OK)
        die("sqlite3_open", sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 10000);
    exec_sql(db, "BEGIN");
    {
        sqlite3_stmt *c;
        sqlite3_prepare_v2(db, "SELECT content_id FROM quarantine", -1, &c, NULL);
        sqlite3_step(c);
        content_id = sqlite3_column_int64(c, 0);
        sqlite3_finalize(c);
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO quarantine (public_id, content_id, trace_id, sender, "
                           "recipient, subject, msg_date, size, service, reason, status, created,"
                           " updated) VALUES (?, ?, ?, ?, ?, ?, '', 24, 'rules', 'bench', ?, ?, ?)",
                           -1, &q, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    for (int i = 0; i < entries; i++) {
        char id[32], trace[32], sender[64], rcpt[64], subject[64];
        int64_t created = now - 30 * 86400 + (int64_t)((double)i / entries * 30 * 86400);
        snprintf(id, sizeof(id), "b%019d", i);
        snprintf(trace, sizeof(trace), "bench-%d", i);
        snprintf(sender, sizeof(sender), "sender%d@example%d.org", i % 997, i % 13);
        if (i % 10 == 0)
            snprintf(rcpt, sizeof(rcpt), "heavy@example.com");
        else
            snprintf(rcpt, sizeof(rcpt), "user%04d@example.com", (i * 7919) % recipients);
        snprintf(subject, sizeof(subject), "offer number %d", i);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, content_id);
        sqlite3_bind_text(q, 3, trace, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 4, sender, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 5, rcpt, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 6, subject, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 7, i % 20 == 1 ? "released" : "held", -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 8, created);
        sqlite3_bind_int64(q, 9, created);
        if (sqlite3_step(q) != SQLITE_DONE)
            die("insert", sqlite3_errmsg(db));
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    exec_sql(db, "COMMIT");
    sqlite3_close(db);
}

static int rows_seen;
static double page_p50; /* of the last time_list */

static void count_row(const struct store_qitem *it, void *ctx)
{
    (void)it;
    (void)ctx;
    rows_seen++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* time_list - queries runs of one filter (recipient %d filled in from a random one). */
static double time_list(struct store *st, const char *label, const char *rcpt_fmt, int recipients,
                        int status, const char *search, size_t offset, int queries, int expect_rows)
{
    double *ms = malloc((size_t)queries * sizeof(double)), sum = 0;
    char rcpt[64];
    const char *err = NULL;

    for (int i = -queries / 10; i < queries; i++) { /* the first tenth warms up */
        struct store_qfilter f = {
            .recipient = NULL, .status = status, .search = search, .offset = offset, .limit = PAGE};
        double t0;
        if (rcpt_fmt != NULL) {
            snprintf(rcpt, sizeof(rcpt), rcpt_fmt,
                     (int)(randombytes_uniform((uint32_t)recipients)));
            f.recipient = rcpt;
        }
        rows_seen = 0;
        t0 = now_s();
        if (store_quarantine_list(st, &f, count_row, NULL, &err) != 0)
            die("store_quarantine_list", err);
        if (i >= 0)
            ms[i] = (now_s() - t0) * 1000;
        if (expect_rows >= 0 && rows_seen != expect_rows) {
            fprintf(stderr, "store_bench: %s: %d rows, expected %d\n", label, rows_seen,
                    expect_rows);
            exit(2);
        }
    }
    for (int i = 0; i < queries; i++)
        sum += ms[i];
    qsort(ms, (size_t)queries, sizeof(double), cmp_double);
    printf("  %-44s mean %7.3f  p50 %7.3f  p99 %7.3f  max %7.3f ms\n", label, sum / queries,
           ms[queries / 2], ms[queries * 99 / 100], ms[queries - 1]);
    double p99 = ms[queries * 99 / 100];
    page_p50 = ms[queries / 2];
    free(ms);
    return p99;
}

int main(int argc, char **argv)
{
    int inserts = 2000, threads = 4, entries = 100000, queries = 2000, recipients = 1000, opt;
    struct store *st;
    double rate1, rate_n[3], p99, t0;

    while ((opt = getopt(argc, argv, "d:c:n:t:e:q:")) != -1) {
        switch (opt) {
        case 'd':
            bench_dir = optarg;
            break;
        case 'c':
            conninfo = optarg;
            break;
        case 'n':
            inserts = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'e':
            entries = atoi(optarg);
            break;
        case 'q':
            queries = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: store_bench [-d DIR] [-c CONNINFO] [-n INSERTS] [-t THREADS] "
                            "[-e ENTRIES] [-q QUERIES]\n");
            return 2;
        }
    }
    if (inserts < 1 || threads < 1 || entries < 10 * PAGE || queries < 10) {
        fprintf(stderr, "store_bench: -n, -t must be >= 1, -e >= 500, -q >= 10\n");
        return 2;
    }
    if (bench_dir == NULL)
        bench_dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/var/tmp";
    if (sodium_init() < 0)
        die("sodium_init", "failed");
    snprintf(db_path, sizeof(db_path), "%s/store-bench-%d.db", bench_dir, (int)getpid());
    snprintf(key_path, sizeof(key_path), "%s/store-bench-%d.keys", bench_dir, (int)getpid());
    if (conninfo != NULL) {
        PGconn *c = pg_connect();
        PGresult *r = PQexec(c, "SELECT current_setting('fsync'), "
                                "current_setting('synchronous_commit'), "
                                "current_setting('wal_sync_method')");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            die("postgresql", PQresultErrorMessage(r));
        printf("store_bench: PostgreSQL %d (fsync=%s, synchronous_commit=%s before the store's "
               "own SET, wal_sync_method=%s), \"%s\"\n",
               PQserverVersion(c), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
               conninfo);
        PQclear(r);
        PQfinish(c);
    } else {
        printf("store_bench: SQLite %s, database in %s\n", sqlite3_libversion(), bench_dir);
    }

    printf("durable quarantine inserts, %d messages of %d bytes (target >= 300/s):\n", inserts,
           MSG_SIZE);
    printf("  the disk itself: %8.0f write+fsync of %d bytes/s\n", disk_baseline(inserts),
           MSG_SIZE);
    rate1 = bench_inserts(inserts, 0, 1);
    printf("  1 connection:           %8.0f inserts/s  %s\n", rate1,
           rate1 >= 300 ? "ok" : "BELOW TARGET");
    printf("RESULT insert_conn1 %.0f\n", rate1);
    for (int nodes = 1; nodes <= 2; nodes++) {
        rate_n[nodes] = bench_inserts(inserts, nodes, threads);
        printf("  %d node%s x %d connections: %8.0f inserts/s  %s\n", nodes, nodes > 1 ? "s" : " ",
               threads, rate_n[nodes], rate_n[nodes] >= 300 ? "ok" : "BELOW TARGET");
        printf("RESULT insert_node%d %.0f\n", nodes, rate_n[nodes]);
    }

    t0 = now_s();
    populate(entries, recipients);
    printf("list one page of %d among %d entries (%d recipients, one with %d; target < 5 ms),\n"
           "  built in %.1f s:\n",
           PAGE, entries, recipients + 1, (entries + 9) / 10, now_s() - t0);
    st = bench_open();
    p99 = time_list(st, "a recipient's first page", "user%04d@example.com", recipients, -1, NULL, 0,
                    queries, -1);
    printf("  => %s (p99 %.3f ms)\n", p99 < 5 ? "ok" : "ABOVE TARGET", p99);
    printf("RESULT page_p50 %.3f\nRESULT page_p99 %.3f\n", page_p50, p99);
    time_list(st, "a recipient's first page of held", "user%04d@example.com", recipients,
              STORE_HELD, NULL, 0, queries, -1);
    time_list(st, "heavy recipient, first page", "heavy@example.com", 1, -1, NULL, 0, queries,
              PAGE);
    {
        int heavy = (entries + 9) / 10, offset = heavy - PAGE < 1000 ? heavy - PAGE : 1000;
        char label[64];
        snprintf(label, sizeof(label), "heavy recipient, page at offset %d", offset);
        time_list(st, label, "heavy@example.com", 1, -1, NULL, (size_t)offset, queries, PAGE);
    }
    time_list(st, "heavy recipient, search in subject", "heavy@example.com", 1, -1, "number 9", 0,
              queries / 10, -1);
    time_list(st, "everyone, first page (admin)", NULL, 0, -1, NULL, 0, queries, PAGE);
    time_list(st, "everyone, search (admin)", NULL, 0, -1, "sender5@", 0, queries / 10, -1);
    store_close(&st);
    remove_db(db_path);
    unlink(key_path);
    return 0;
}
