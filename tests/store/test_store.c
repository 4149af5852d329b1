/*
 * test_store.c - every call of the store interface (include/opes/store.h).
 *
 * The store holds what opesd promised to keep: a message answered 2xx and put
 * in quarantine must come back byte for byte, only to the right people, never
 * altered silently, and must go when its retention is over. Lists decide what
 * gets delivered, releases are carried out once, and every action is audited.
 * Where a test has to look below the interface (count content rows, age an
 * entry, damage a chunk) it opens the database file with sqlite3 directly.
 */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "opes/keys.h"
#include "opes/store.h"

#include "store_int.h" /* the statement table, for test_statements_prepare */
#include "store_util.h"

#define DAY 86400

static char *dir, *db_path, *key_path;
static struct store *st;
static unsigned item_seq;

/* ------------------------------------------------------------ fixtures */

static void dir_setup(void)
{
    dir = tu_tmpdir();
    db_path = tu_path(dir, "store.db");
    key_path = tu_path(dir, "keys");
    item_seq = 0;
}

static void dir_teardown(void)
{
    store_close(&st);
    tu_rmtree(dir);
    free(dir);
    free(db_path);
    free(key_path);
    dir = db_path = key_path = NULL;
}

static struct store *open_store(void)
{
    const char *err = NULL;
    struct store *s = tu_store_open(db_path, key_path, &err);

    ck_assert_msg(s != NULL, "store_open: %s", err != NULL ? err : "(no message)");
    return s;
}

static void store_setup(void)
{
    dir_setup();
    st = open_store();
}

static void reopen(void)
{
    store_close(&st);
    st = open_store();
}

/* ------------------------------------------------------------ helpers */

static struct store_qitem mkitem(const char *recipient, const char *sender, const char *subject)
{
    struct store_qitem it;

    memset(&it, 0, sizeof(it));
    snprintf(it.trace_id, sizeof(it.trace_id), "trace-%u", ++item_seq);
    snprintf(it.sender, sizeof(it.sender), "%s", sender);
    snprintf(it.recipient, sizeof(it.recipient), "%s", recipient);
    snprintf(it.subject, sizeof(it.subject), "%s", subject);
    snprintf(it.date, sizeof(it.date), "Mon, 1 Jan 2024 10:00:00 +0000");
    snprintf(it.service, sizeof(it.service), "rules");
    snprintf(it.reason, sizeof(it.reason), "matched test rule %u", item_seq);
    return it;
}

static void add_items(struct store_qitem *items, size_t n, const void *data, size_t len)
{
    const char *err = NULL;
    int rc = tu_add(st, items, n, data, len, 4096, &err);

    ck_assert_msg(rc == 0, "store_quarantine_add: %d %s", rc, rc != 0 && err ? err : "");
}

/* add1 - hold one message; its id is copied into id. */
static void add1(char id[STORE_ID_LEN + 1], const char *recipient, const char *sender,
                 const char *subject, const void *data, size_t len)
{
    struct store_qitem it = mkitem(recipient, sender, subject);

    add_items(&it, 1, data, len);
    memcpy(id, it.id, STORE_ID_LEN + 1);
}

static void add_text(char id[STORE_ID_LEN + 1], const char *recipient, const char *sender,
                     const char *subject)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "Subject: %s\r\n\r\nbody %u\r\n", subject, item_seq + 1);

    add1(id, recipient, sender, subject, body, (size_t)n);
}

/* expect_content - the entry's content reads back exactly as data. */
static void expect_content(const char *id, const void *data, size_t len)
{
    const char *err = NULL;
    unsigned char *got;
    size_t got_len;
    int rc = tu_content(st, id, &got, &got_len, &err);

    ck_assert_msg(rc == 0, "store_quarantine_content(%s): %d %s", id, rc, rc < 0 ? err : "");
    ck_assert_uint_eq(got_len, len);
    ck_assert_msg(len == 0 || memcmp(got, data, len) == 0, "content of %s differs", id);
    free(got);
}

/* expect_content_fails - reading the content back fails (-1, with a message). */
static void expect_content_fails(const char *id)
{
    const char *err = NULL;
    unsigned char *got;
    size_t got_len;
    int rc = tu_content(st, id, &got, &got_len, &err);

    free(got);
    ck_assert_msg(rc == -1, "content of %s read back (rc %d) although it is damaged", id, rc);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_gt((int)strlen(err), 0);
}

static struct store_qitem get_item(const char *id)
{
    struct store_qitem it;
    const char *err = NULL;
    int rc;

    memset(&it, 0, sizeof(it));
    rc = store_quarantine_get(st, id, &it, &err);
    ck_assert_msg(rc == 0, "store_quarantine_get(%s): %d %s", id, rc, rc < 0 ? err : "");
    return it;
}

#define MAX_IDS 128
struct idlist {
    size_t n;
    char id[MAX_IDS][STORE_ID_LEN + 1];
    struct store_qitem item[MAX_IDS];
};

static void collect_item(const struct store_qitem *item, void *ctx)
{
    struct idlist *l = ctx;

    ck_assert_uint_lt(l->n, MAX_IDS);
    memcpy(l->id[l->n], item->id, STORE_ID_LEN + 1);
    l->item[l->n] = *item;
    l->n++;
}

static struct idlist list_of(const char *recipient, int status, const char *search, size_t offset,
                             size_t limit)
{
    struct store_qfilter f = {.recipient = recipient,
                              .status = status,
                              .search = search,
                              .offset = offset,
                              .limit = limit};
    struct idlist l;
    const char *err = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = store_quarantine_list(st, &f, collect_item, &l, &err);
    ck_assert_msg(rc == 0, "store_quarantine_list: %s", rc < 0 ? err : "");
    return l;
}

static bool has_id(const struct idlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->id[i], id) == 0)
            return true;
    return false;
}

/* schema_of - every schema object of a database, in a stable order. */
static char *schema_of(const char *path)
{
    if (tu_pg() != NULL)
        return tu_db_text(path,
                          "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ("
                          "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || "
                          "is_nullable || ' ' || coalesce(column_default, '') AS x FROM "
                          "information_schema.columns WHERE table_schema = 'public' UNION ALL "
                          "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' UNION ALL "
                          "SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) "
                          "FROM pg_constraint WHERE connamespace = 'public'::regnamespace) s");
    sqlite3 *db = tu_raw_open(path);
    sqlite3_stmt *q;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT type, name, tbl_name, coalesce(sql, '') "
                                        "FROM sqlite_master ORDER BY type, name",
                                        -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW)
        fprintf(f, "%s|%s|%s|%s\n", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
                sqlite3_column_text(q, 2), sqlite3_column_text(q, 3));
    sqlite3_finalize(q);
    sqlite3_close(db);
    fclose(f);
    return out;
}

static int64_t content_rows(void)
{
    return tu_db_int(db_path, "SELECT count(*) FROM content");
}

static int64_t content_id_of(const char *id)
{
    return tu_db_int(db_path, "SELECT content_id FROM quarantine WHERE public_id = %Q", id);
}

/* ------------------------------------------------------------ open, schema, migrations */

START_TEST(test_open_creates_schema)
{
    const char *err = NULL;

    if (tu_pg() == NULL)
        ck_assert_int_ne(access(db_path, F_OK), 0);
    st = tu_store_open(db_path, key_path, &err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    ck_assert_int_eq(store_schema_version(st), (int)store_migration_count);
    ck_assert_int_ge((int)store_migration_count, 1);
    ck_assert_int_eq(store_integrity_check(st, &err), 0);
    /* the tables are there: an entry can be held and read back */
    char id[STORE_ID_LEN + 1];
    add_text(id, "a@example.com", "b@example.org", "first");
    ck_assert_str_eq(get_item(id).recipient, "a@example.com");
}
END_TEST

START_TEST(test_open_empty_file)
{
    FILE *f = fopen(db_path, "w");
    const char *err = NULL;

    ck_assert_ptr_nonnull(f);
    fclose(f);
    chmod(db_path, 0600);
    st = tu_store_open(db_path, key_path, &err);
    ck_assert_msg(st != NULL, "store_open on an empty file: %s", err);
    ck_assert_int_eq(store_schema_version(st), (int)store_migration_count);
    ck_assert_int_eq(tu_db_version(db_path), (int64_t)store_migration_count);
}
END_TEST

START_TEST(test_reopen_idempotent)
{
    char id[STORE_ID_LEN + 1], *before, *after;

    st = open_store();
    add_text(id, "a@example.com", "b@example.org", "kept");
    store_close(&st);
    before = schema_of(db_path);
    for (int i = 0; i < 3; i++) {
        st = open_store();
        ck_assert_int_eq(store_schema_version(st), (int)store_migration_count);
        store_close(&st);
    }
    after = schema_of(db_path);
    ck_assert_str_eq(before, after);
    st = open_store();
    ck_assert_str_eq(get_item(id).subject, "kept");
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 1);
    free(before);
    free(after);
}
END_TEST

/* the PostgreSQL schema steps a test applies by hand: the newest, or the first k */
static size_t pg_steps(size_t k)
{
    for (size_t i = 0; i < k; i++) {
        tu_db_exec(db_path, "%s", store_pg_migrations[i]);
        tu_db_exec(db_path, "UPDATE store_schema SET version = %d", (int)i + 1);
    }
    return k;
}

START_TEST(test_newer_version_refused_pg)
{
    const char *err = NULL;
    int newer = (int)store_pg_migration_count + 1;

    ck_assert_uint_eq(store_pg_migration_count, store_migration_count); /* same numbering */
    pg_steps(store_pg_migration_count);
    tu_db_exec(db_path, "UPDATE store_schema SET version = %d", newer);
    tu_db_exec(db_path, "CREATE TABLE from_the_future (x INTEGER)");
    st = tu_store_open(db_path, key_path, &err);
    ck_assert_msg(st == NULL, "a database of schema version %d was opened", newer);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "version") != NULL && strstr(err, "newer") != NULL,
                  "error does not say why: %s", err);
    ck_assert_int_eq(tu_db_version(db_path), newer);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                        "'from_the_future'"),
                     1);
}
END_TEST

/* a password in the connection string is refused before anything connects */
START_TEST(test_conninfo_password_refused)
{
    static const char *const bad[] = {"host=/nowhere dbname=opes password=secret",
                                      "postgresql://opes:secret@localhost/opes",
                                      "postgresql://localhost/opes?password=secret"};
    const char *err = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = store_open_pg(bad[i], key_path, &err);
        ck_assert_msg(st == NULL, "%s was opened", bad[i]);
        ck_assert_msg(strstr(err, "passfile") != NULL, "%s: %s", bad[i], err);
    }
}
END_TEST

START_TEST(test_newer_version_refused)
{
    sqlite3 *db = tu_raw_open(db_path);
    const char *err = NULL;
    int newer = (int)store_migration_count + 1;

    for (size_t i = 0; i < store_migration_count; i++)
        tu_raw_exec(db, "%s", store_migrations[i]);
    tu_raw_exec(db, "PRAGMA user_version = %d", newer);
    tu_raw_exec(db, "CREATE TABLE from_the_future (x INTEGER)");
    sqlite3_close(db);

    st = tu_store_open(db_path, key_path, &err);
    ck_assert_msg(st == NULL, "a database of schema version %d was opened", newer);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "version") != NULL, "error does not say why: %s", err);
    /* and it is left as it was */
    ck_assert_int_eq(tu_db_version(db_path), newer);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM sqlite_master WHERE name = "
                                        "'from_the_future'"),
                     1);
}
END_TEST

/*
 * test_migrate_from_version - a database left at version k (the first k
 * migrations applied, as an older opesd left it) is brought to the newest
 * version with the same schema as a new database, and works.
 */
START_TEST(test_migrate_from_version)
{
    int k = _i;
    char *fresh_path = tu_path(dir, "fresh.db"), *fresh, *migrated, id[STORE_ID_LEN + 1];
    const char *err = NULL;
    struct store *f;

    if (tu_pg() != NULL) {
        pg_steps((size_t)k);
    } else {
        sqlite3 *db = tu_raw_open(db_path);
        for (int i = 0; i < k; i++) {
            tu_raw_exec(db, "BEGIN");
            tu_raw_exec(db, "%s", store_migrations[i]);
            tu_raw_exec(db, "PRAGMA user_version = %d", i + 1);
            tu_raw_exec(db, "COMMIT");
        }
        sqlite3_close(db);
    }
    if (k > 0 || tu_pg() == NULL)
        ck_assert_int_eq(tu_db_version(db_path), k);

    st = open_store();
    ck_assert_int_eq(store_schema_version(st), (int)store_migration_count);
    ck_assert_int_eq(store_integrity_check(st, &err), 0);
    add1(id, "a@example.com", "b@example.org", "after migration", "migrated\r\n", 10);
    expect_content(id, "migrated\r\n", 10);
    store_close(&st);

    f = tu_store_open(fresh_path, key_path, &err);
    ck_assert_msg(f != NULL, "store_open: %s", err);
    store_close(&f);
    fresh = schema_of(fresh_path);
    migrated = schema_of(db_path);
    ck_assert_str_eq(migrated, fresh);
    free(fresh);
    free(migrated);
    free(fresh_path);
}
END_TEST

START_TEST(test_database_files_private)
{
    char id[STORE_ID_LEN + 1];
    const char *suffix[] = {"", "-wal", "-shm"};
    mode_t old = umask(022);

    st = open_store();
    add_text(id, "a@example.com", "b@example.org", "private");
    umask(old);
    for (size_t i = 0; i < 3; i++) {
        char *p;
        struct stat sb;
        ck_assert_int_ge(asprintf(&p, "%s%s", db_path, suffix[i]), 0);
        if (stat(p, &sb) == 0)
            ck_assert_msg((sb.st_mode & 077) == 0, "%s has mode %o", p, sb.st_mode & 0777);
        else
            ck_assert_msg(i != 0, "%s missing", p);
        free(p);
    }
}
END_TEST

/* ------------------------------------------------------------ keys */

START_TEST(test_key_file_created_0600)
{
    mode_t old = umask(0);
    struct stat sb;

    st = open_store();
    umask(old);
    ck_assert_int_eq(stat(key_path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_gt((int)sb.st_size, 0);
}
END_TEST

START_TEST(test_key_file_readable_by_others_refused)
{
    const mode_t modes[] = {0644, 0640, 0604};
    const char *err;

    st = open_store();
    store_close(&st);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(chmod(key_path, modes[i]), 0);
        err = NULL;
        st = tu_store_open(db_path, key_path, &err);
        ck_assert_msg(st == NULL, "a key file of mode %o was accepted", modes[i]);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strstr(err, key_path) != NULL, "error does not name the key file: %s", err);
    }
    ck_assert_int_eq(chmod(key_path, 0600), 0);
    st = open_store();
}
END_TEST

START_TEST(test_key_rotation)
{
    unsigned char *a = tu_pattern(100000, 1), *b = tu_pattern(5000, 2);
    char ida[STORE_ID_LEN + 1], idb[STORE_ID_LEN + 1];
    const char *err = NULL;
    struct stat sb;
    int next;

    st = open_store();
    add1(ida, "a@example.com", "s@example.org", "before", a, 100000);
    int64_t key_a = tu_db_int(db_path, "SELECT key_id FROM content WHERE id = %lld",
                              (long long)content_id_of(ida));
    store_close(&st);

    next = keys_rotate(key_path, &err);
    ck_assert_msg(next > 0, "keys_rotate: %s", err);
    ck_assert_int_ne(next, (int)key_a);
    ck_assert_int_eq(stat(key_path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);

    st = open_store();
    expect_content(ida, a, 100000);
    add1(idb, "a@example.com", "s@example.org", "after", b, 5000);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT key_id FROM content WHERE id = %lld",
                               (long long)content_id_of(idb)),
                     next);
    expect_content(idb, b, 5000);
    reopen();
    expect_content(ida, a, 100000);
    expect_content(idb, b, 5000);
    free(a);
    free(b);
}
END_TEST

/* a rotation by another program reaches an open store without a reopen */
START_TEST(test_key_rotation_seen_by_open_store)
{
    unsigned char *b = tu_pattern(5000, 3);
    char idb[STORE_ID_LEN + 1];
    const char *err = NULL;
    int next;

    st = open_store();
    ck_assert_uint_eq(keys_current(store_keys(st)), 1);
    next = keys_rotate(key_path, &err);
    ck_assert_msg(next == 2, "keys_rotate: %s", err);
    sleep(2); /* the key file is looked at again at most once a second */
    ck_assert_uint_eq(keys_current(store_keys(st)), 2);
    add1(idb, "a@example.com", "s@example.org", "after", b, 5000);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT key_id FROM content WHERE id = %lld",
                               (long long)content_id_of(idb)),
                     2);
    expect_content(idb, b, 5000);
    free(b);
}
END_TEST

START_TEST(test_content_unreadable_without_its_key)
{
    unsigned char *a = tu_pattern(3000, 9);
    char id[STORE_ID_LEN + 1], *other_keys = tu_path(dir, "other-keys");
    const char *err = NULL;

    st = open_store();
    add1(id, "a@example.com", "s@example.org", "secret", a, 3000);
    store_close(&st);
    /* the same database with another installation's key file */
    st = tu_store_open(db_path, other_keys, &err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    expect_content_fails(id);
    free(other_keys);
    free(a);
}
END_TEST

/* ------------------------------------------------------------ quarantine */

static bool is_public_id(const char *id)
{
    if (strlen(id) != STORE_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
            return false;
    return true;
}

START_TEST(test_add_one)
{
    struct store_qitem it = mkitem("alice@example.com", "mallory@evil.example", "Invoice");
    const char *body = "From: mallory@evil.example\r\nSubject: Invoice\r\n\r\npay\r\n";
    int64_t before = (int64_t)time(NULL), after;
    struct store_qitem got;

    add_items(&it, 1, body, strlen(body));
    after = (int64_t)time(NULL);
    ck_assert_msg(is_public_id(it.id), "id \"%s\" is not 20 base32 characters", it.id);
    got = get_item(it.id);
    ck_assert_str_eq(got.id, it.id);
    ck_assert_str_eq(got.trace_id, it.trace_id);
    ck_assert_str_eq(got.sender, "mallory@evil.example");
    ck_assert_str_eq(got.recipient, "alice@example.com");
    ck_assert_str_eq(got.subject, "Invoice");
    ck_assert_str_eq(got.date, it.date);
    ck_assert_str_eq(got.service, "rules");
    ck_assert_str_eq(got.reason, it.reason);
    ck_assert_uint_eq(got.size, strlen(body));
    ck_assert_int_eq(got.status, STORE_HELD);
    ck_assert_str_eq(store_qstatus_name(got.status), "held");
    ck_assert_int_ge(got.created, before);
    ck_assert_int_le(got.created, after);
    ck_assert_int_eq(got.updated, got.created);
    expect_content(it.id, body, strlen(body));
    ck_assert_int_eq(content_rows(), 1);
}
END_TEST

START_TEST(test_add_three_recipients)
{
    struct store_qitem it[3] = {mkitem("a@example.com", "s@example.org", "to three"),
                                mkitem("b@example.com", "s@example.org", "to three"),
                                mkitem("c@example.net", "s@example.org", "to three")};
    unsigned char *body = tu_pattern(70000, 3);

    add_items(it, 3, body, 70000);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(is_public_id(it[i].id), "id \"%s\" is not 20 base32 characters", it[i].id);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(it[i].id, it[j].id);
        struct store_qitem got = get_item(it[i].id);
        ck_assert_str_eq(got.recipient, it[i].recipient);
        ck_assert_uint_eq(got.size, 70000);
        expect_content(it[i].id, body, 70000);
    }
    ck_assert_int_eq(content_rows(), 1);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 3);
    free(body);
}
END_TEST

START_TEST(test_ids_unique)
{
    enum { N = 300 };
    static char ids[N][STORE_ID_LEN + 1];

    for (int i = 0; i < N; i++) {
        add_text(ids[i], "a@example.com", "s@example.org", "many");
        ck_assert(is_public_id(ids[i]));
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(ids[i], ids[j]);
    }
}
END_TEST

START_TEST(test_get_unknown)
{
    struct store_qitem it;
    const char *err = NULL;
    char id[STORE_ID_LEN + 1];

    ck_assert_int_eq(store_quarantine_get(st, "0000000000000000000a", &it, &err), STORE_NOTFOUND);
    add_text(id, "a@example.com", "s@example.org", "x");
    ck_assert_int_eq(store_quarantine_get(st, "", &it, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_get(st, "' OR 1=1 --", &it, &err), STORE_NOTFOUND);
    unsigned char *data;
    size_t len;
    ck_assert_int_eq(tu_content(st, "0000000000000000000a", &data, &len, &err), STORE_NOTFOUND);
    ck_assert_uint_eq(len, 0);
    free(data);
}
END_TEST

START_TEST(test_list_recipient_and_order)
{
    char a1[21], a2[21], a3[21], b1[21];
    struct idlist l;

    add_text(a1, "alice@example.com", "s1@example.org", "one");
    add_text(b1, "bob@example.com", "s1@example.org", "other");
    add_text(a2, "alice@example.com", "s2@example.org", "two");
    add_text(a3, "alice@example.com", "s3@example.org", "three");

    l = list_of("alice@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 3);
    /* newest first (all in the same second here: the latest added comes first) */
    ck_assert_str_eq(l.id[0], a3);
    ck_assert_str_eq(l.id[1], a2);
    ck_assert_str_eq(l.id[2], a1);
    ck_assert_str_eq(l.item[0].subject, "three");
    ck_assert_str_eq(l.item[0].recipient, "alice@example.com");

    l = list_of("bob@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], b1);

    l = list_of("nobody@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 0);

    l = list_of(NULL, -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.id[0], a3);
    ck_assert_str_eq(l.id[3], a1);

    /* ordered by time, not by the order of insertion: a1 arrived "later" */
    tu_db_exec(db_path, "UPDATE quarantine SET created = created + 100 WHERE public_id = %Q", a1);
    l = list_of("alice@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.id[0], a1);
    ck_assert_str_eq(l.id[1], a3);
    ck_assert_str_eq(l.id[2], a2);
    /* and an older entry goes last */
    tu_db_exec(db_path, "UPDATE quarantine SET created = created - 100 WHERE public_id = %Q", a3);
    l = list_of(NULL, -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.id[0], a1);
    ck_assert_str_eq(l.id[3], a3);
}
END_TEST

/* web_list_of - the portal's listing in sort order sort, all statuses. */
static struct idlist web_list_of(const char *recipient, enum store_web_sort sort)
{
    struct store_qfilter f = {.recipient = recipient, .status = -1};
    struct idlist l;
    const char *err = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = store_web_quarantine_list(st, &f, sort, collect_item, &l, &err);
    ck_assert_msg(rc == 0, "store_web_quarantine_list: %s", rc < 0 ? err : "");
    return l;
}

/* web_list_of_filter - the portal's listing of f in sort order sort. */
static struct idlist web_list_of_filter(const struct store_qfilter *f, enum store_web_sort sort)
{
    struct idlist l;
    const char *err = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = store_web_quarantine_list(st, f, sort, collect_item, &l, &err);
    ck_assert_msg(rc == 0, "store_web_quarantine_list: %s", rc < 0 ? err : "");
    return l;
}

START_TEST(test_web_list_sorts)
{
    char a1[21], a2[21], a3[21], b1[21];
    struct idlist l, d;

    add_text(a1, "alice@example.com", "Carol@example.org", "beta");
    add_text(a2, "alice@example.com", "bob@example.org", "Gamma");
    add_text(a3, "alice@example.com", "dave@example.org", "alpha");
    add_text(b1, "bob@example.com", "ann@example.org", "delta");
    tu_db_exec(db_path, "UPDATE quarantine SET size = 10 WHERE public_id = %Q", a1);
    tu_db_exec(db_path, "UPDATE quarantine SET size = 30 WHERE public_id = %Q", a2);
    tu_db_exec(db_path, "UPDATE quarantine SET size = 20 WHERE public_id = %Q", a3);
    tu_db_exec(db_path, "UPDATE quarantine SET created = created - 10 WHERE public_id = %Q", a2);

    /* newest first: the store's own listing is the same one */
    l = web_list_of("alice@example.com", STORE_SORT_NEWEST);
    d = list_of("alice@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_str_eq(l.id[0], a3);
    ck_assert_str_eq(l.id[1], a1);
    ck_assert_str_eq(l.id[2], a2);
    for (size_t i = 0; i < l.n; i++) {
        ck_assert_str_eq(l.id[i], d.id[i]);
        ck_assert_str_eq(l.item[i].sender, d.item[i].sender);
        ck_assert_str_eq(l.item[i].subject, d.item[i].subject);
        ck_assert_uint_eq(l.item[i].size, d.item[i].size);
        ck_assert_int_eq(l.item[i].created, d.item[i].created);
    }
    l = web_list_of("alice@example.com", STORE_SORT_OLDEST);
    ck_assert_str_eq(l.id[0], a2);
    ck_assert_str_eq(l.id[2], a3);
    /* sender and subject without regard to case */
    l = web_list_of("alice@example.com", STORE_SORT_SENDER);
    ck_assert_str_eq(l.id[0], a2);
    ck_assert_str_eq(l.id[1], a1);
    ck_assert_str_eq(l.id[2], a3);
    l = web_list_of("alice@example.com", STORE_SORT_SUBJECT);
    ck_assert_str_eq(l.id[0], a3);
    ck_assert_str_eq(l.id[1], a1);
    ck_assert_str_eq(l.id[2], a2);
    ck_assert_str_eq(l.item[2].subject, "Gamma");
    l = web_list_of("alice@example.com", STORE_SORT_SIZE);
    ck_assert_str_eq(l.id[0], a2);
    ck_assert_str_eq(l.id[1], a3);
    ck_assert_str_eq(l.id[2], a1);
    ck_assert_uint_eq(l.item[0].size, 30);
    /* everyone's, and an order out of range is newest first */
    l = web_list_of(NULL, STORE_SORT_SENDER);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.id[0], b1);
    l = web_list_of(NULL, (enum store_web_sort)99);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.id[0], b1);
    ck_assert_str_eq(l.id[3], a2);
}
END_TEST

/* web_count_of - store_web_quarantine_count of f, checked. */
static int64_t web_count_of(const struct store_qfilter *f)
{
    const char *err = NULL;
    int64_t n = -1;

    ck_assert_msg(store_web_quarantine_count(st, f, &n, &err) == 0, "count: %s", err);
    return n;
}

/* the portal's list: display names, a total, days, the order by reason, restore */
START_TEST(test_web_list_filters)
{
    struct store_qitem it = mkitem("alice@example.com", "jm@example.de", "hallo");
    struct store_qfilter f = {.recipient = "alice@example.com", .status = -1};
    struct store_qitem got;
    char a2[21], a3[21], b1[21];
    const char *err = NULL;
    struct idlist l;
    int64_t now;

    snprintf(it.from_name, sizeof(it.from_name), "J\xc3\xbcrgen M\xc3\xbcller");
    add_items(&it, 1, "Subject: hallo\r\n\r\nx\r\n", 21);
    add_text(a2, "alice@example.com", "bob@example.org", "two");
    add_text(a3, "alice@example.com", "carol@example.org", "three");
    add_text(b1, "bob@example.com", "ann@example.org", "four");
    ck_assert_int_eq(store_quarantine_get(st, it.id, &got, &err), 0);
    ck_assert_str_eq(got.from_name, "J\xc3\xbcrgen M\xc3\xbcller");
    ck_assert_int_eq(store_quarantine_get(st, a2, &got, &err), 0);
    ck_assert_str_eq(got.from_name, "");
    now = got.created;
    /* the total, whatever the page */
    f.limit = 1;
    ck_assert_int_eq(web_count_of(&f), 3);
    f.recipient = NULL;
    ck_assert_int_eq(web_count_of(&f), 4);
    f.recipient = "alice@example.com";
    /* the display name is searched too */
    f.search = "M\xc3\xbcller";
    ck_assert_int_eq(web_count_of(&f), 1);
    l = web_list_of_filter(&f, STORE_SORT_NEWEST);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], it.id);
    f.search = NULL;
    f.limit = 0;
    /* a day: [since, until) */
    tu_db_exec(db_path, "UPDATE quarantine SET created = created - 86400 WHERE public_id = %Q", a3);
    f.since = now - 3600;
    f.until = now + 3600;
    ck_assert_int_eq(web_count_of(&f), 2);
    l = web_list_of_filter(&f, STORE_SORT_NEWEST);
    ck_assert_uint_eq(l.n, 2);
    f.since = now - 86400 - 3600;
    f.until = now - 3600;
    ck_assert_int_eq(web_count_of(&f), 1);
    l = web_list_of_filter(&f, STORE_SORT_NEWEST);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], a3);
    f.since = f.until = 0;
    /* by reason: the service, then its reason */
    tu_db_exec(db_path, "UPDATE quarantine SET service = 'clamd' WHERE public_id = %Q", a2);
    l = web_list_of_filter(&f, STORE_SORT_REASON);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.id[0], a2);
    /* a deleted entry is held again on restore, once; a held one is not "restored" */
    ck_assert_int_eq(store_quarantine_restore(st, a3, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_set_status(st, a3, STORE_DELETED, &err), 0);
    f.status = STORE_DELETED;
    ck_assert_int_eq(web_count_of(&f), 1);
    ck_assert_int_eq(store_quarantine_restore(st, a3, &err), 0);
    ck_assert_int_eq(web_count_of(&f), 0);
    ck_assert_int_eq(store_quarantine_get(st, a3, &got, &err), 0);
    ck_assert_int_eq(got.status, STORE_HELD);
    expect_content(a3, "Subject: three\r\n\r\nbody 3\r\n",
                   strlen("Subject: three\r\n\r\nbody 3\r\n"));
    ck_assert_int_eq(store_quarantine_restore(st, a3, &err), STORE_NOTFOUND);
    /* after the purge took its content, a deleted entry stays deleted */
    ck_assert_int_eq(store_quarantine_set_status(st, a3, STORE_DELETED, &err), 0);
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_quarantine_restore(st, a3, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_get(st, a3, &got, &err), 0);
    ck_assert_int_eq(got.status, STORE_DELETED);
}
END_TEST

static void count_label(const char *label, int64_t count, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);

    snprintf(out + n, 256 - n, "%s=%lld;", label, (long long)count);
}

START_TEST(test_web_count)
{
    char h1[21], h2[21], r[21], out[256] = "";
    const char *err = NULL;

    add_text(h1, "alice@example.com", "s@example.org", "one");
    add_text(h2, "bob@example.com", "s@example.org", "two");
    add_text(r, "bob@example.com", "s@example.org", "three");
    ck_assert_int_eq(store_quarantine_set_status(st, r, STORE_RELEASED, &err), 0);
    ck_assert_int_eq(store_web_count(st, "status", 1, count_label, out, &err), 0);
    ck_assert_str_eq(out, "held=2;released=1;");
    out[0] = '\0';
    ck_assert_int_eq(store_web_count(st, "held_service", 1, count_label, out, &err), 0);
    ck_assert_str_eq(out, "rules=2;");
    out[0] = '\0';
    ck_assert_int_eq(store_web_count(st, "latency", 1, count_label, out, &err), 0);
    ck_assert_str_eq(out, "10=0;50=0;100=0;250=0;500=0;1000=0;5000=0;30000=0;+Inf=0;sum=0;");
    ck_assert_int_eq(store_web_count(st, "nonsense", 1, count_label, out, &err), -1);
    ck_assert_str_eq(err, "unknown count nonsense");
}
END_TEST

/* every statement of the store prepares: they are prepared when first used */
START_TEST(test_statements_prepare)
{
    for (int s = 0; s < S_MAX; s++)
        ck_assert_msg(st_q(st, (enum st_stmt)s) != NULL, "statement %d does not prepare", s);
}
END_TEST

START_TEST(test_list_status_filter)
{
    char h[21], r[21], d[21];
    const char *err = NULL;
    struct idlist l;

    add_text(h, "alice@example.com", "s@example.org", "held");
    add_text(r, "alice@example.com", "s@example.org", "released");
    add_text(d, "alice@example.com", "s@example.org", "deleted");
    ck_assert_int_eq(store_quarantine_set_status(st, r, STORE_RELEASED, &err), 0);
    ck_assert_int_eq(store_quarantine_set_status(st, d, STORE_DELETED, &err), 0);

    l = list_of("alice@example.com", STORE_HELD, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], h);
    l = list_of(NULL, STORE_RELEASED, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], r);
    ck_assert_int_eq(l.item[0].status, STORE_RELEASED);
    l = list_of("alice@example.com", STORE_DELETED, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], d);
    l = list_of(NULL, STORE_EXPIRED, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 0);
    l = list_of("alice@example.com", -1, NULL, 0, 0);
    ck_assert_uint_eq(l.n, 3);
}
END_TEST

START_TEST(test_list_search_escapes_wildcards)
{
    char pct[21], percent[21], ab[21], axb[21], bs[21], bsx[21], promo[21], promoy[21];
    struct idlist l;

    add_text(pct, "a@example.com", "s@example.org", "100% sure");
    add_text(percent, "a@example.com", "s@example.org", "1000 sure things");
    add_text(ab, "a@example.com", "s@example.org", "the a_b report");
    add_text(axb, "a@example.com", "s@example.org", "the axb report");
    add_text(bs, "b@example.com", "s@example.org", "path c:\\temp\\x");
    add_text(bsx, "b@example.com", "s@example.org", "path c:/temp/x");
    add_text(promo, "b@example.com", "promo_1@shop.example", "hello");
    add_text(promoy, "b@example.com", "promoy1@shop.example", "hello");

    l = list_of(NULL, -1, "100%", 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], pct);
    ck_assert(!has_id(&l, percent)); /* "%" is not a wildcard */

    l = list_of(NULL, -1, "a_b", 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], ab);
    ck_assert(!has_id(&l, axb)); /* "_" is not a wildcard */

    l = list_of(NULL, -1, "c:\\temp", 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], bs);
    ck_assert(!has_id(&l, bsx));

    l = list_of(NULL, -1, "%", 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], pct);

    l = list_of(NULL, -1, "_", 0, 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(has_id(&l, ab));
    ck_assert(has_id(&l, promo));

    /* the sender is searched too */
    l = list_of(NULL, -1, "promo_1", 0, 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], promo);
    l = list_of(NULL, -1, "shop.example", 0, 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(has_id(&l, promo));
    ck_assert(has_id(&l, promoy));

    /* a plain substring, combined with the recipient */
    l = list_of(NULL, -1, "report", 0, 0);
    ck_assert_uint_eq(l.n, 2);
    l = list_of("b@example.com", -1, "report", 0, 0);
    ck_assert_uint_eq(l.n, 0);
    l = list_of("a@example.com", -1, "sure", 0, 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(has_id(&l, pct));
    ck_assert(has_id(&l, percent));
    l = list_of(NULL, -1, "no such words", 0, 0);
    ck_assert_uint_eq(l.n, 0);
    /* an empty search is no filter */
    l = list_of(NULL, -1, "", 0, 0);
    ck_assert_uint_eq(l.n, 8);
}
END_TEST

START_TEST(test_list_limit_offset)
{
    enum { N = 7 };
    char ids[N][21];
    struct idlist l;

    for (int i = 0; i < N; i++)
        add_text(ids[i], "a@example.com", "s@example.org", "page");
    /* pages of 3, newest first: 6 5 4 | 3 2 1 | 0 */
    l = list_of("a@example.com", -1, NULL, 0, 3);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.id[0], ids[6]);
    ck_assert_str_eq(l.id[2], ids[4]);
    l = list_of("a@example.com", -1, NULL, 3, 3);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.id[0], ids[3]);
    ck_assert_str_eq(l.id[2], ids[1]);
    l = list_of("a@example.com", -1, NULL, 6, 3);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.id[0], ids[0]);
    l = list_of("a@example.com", -1, NULL, 7, 3);
    ck_assert_uint_eq(l.n, 0);
    l = list_of(NULL, -1, NULL, 5, 0);
    ck_assert_uint_eq(l.n, 2);
}
END_TEST

START_TEST(test_list_default_limit_50)
{
    for (int i = 0; i < 60; i++) {
        char id[21];
        add_text(id, "a@example.com", "s@example.org", "many");
    }
    ck_assert_uint_eq(list_of("a@example.com", -1, NULL, 0, 0).n, 50);
    ck_assert_uint_eq(list_of("a@example.com", -1, NULL, 50, 0).n, 10);
    ck_assert_uint_eq(list_of(NULL, -1, NULL, 0, 100).n, 60);
}
END_TEST

START_TEST(test_set_status)
{
    char id[21];
    const char *err = NULL;
    struct store_qitem it;

    add_text(id, "a@example.com", "s@example.org", "status");
    tu_db_exec(db_path, "UPDATE quarantine SET updated = updated - 1000 WHERE public_id = %Q", id);
    int64_t before = get_item(id).updated;
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_DELETED, &err), 0);
    it = get_item(id);
    ck_assert_int_eq(it.status, STORE_DELETED);
    ck_assert_str_eq(store_qstatus_name(it.status), "deleted");
    ck_assert_int_ge(it.updated, before + 1000);
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_RELEASED, &err), 0);
    ck_assert_int_eq(get_item(id).status, STORE_RELEASED);
    ck_assert_int_eq(store_quarantine_set_status(st, "zzzzzzzzzzzzzzzzzzzz", STORE_DELETED, &err),
                     STORE_NOTFOUND);
    reopen();
    ck_assert_int_eq(get_item(id).status, STORE_RELEASED);
}
END_TEST

/* sizes around the chunk boundaries of CONTENT_CHUNK (65536) */
static const size_t content_sizes[] = {0, 1, 65535, 65536, 65537, 131072, 131073, 1 << 20};
/* how many bytes the reader hands out at a time: the store must not depend on it */
static const size_t reader_steps[] = {1, 777, 65536, 100000};

START_TEST(test_content_sizes)
{
    enum { STEPS = sizeof(reader_steps) / sizeof(reader_steps[0]) };
    size_t len = content_sizes[_i];
    unsigned char *body[STEPS] = {NULL};
    char ids[STEPS][STORE_ID_LEN + 1];

    for (size_t s = 0; s < STEPS; s++) {
        struct store_qitem it = mkitem("a@example.com", "s@example.org", "size");
        const char *err = NULL;
        int rc;
        if ((len == 0 && s > 0) || (reader_steps[s] == 1 && len > 131073))
            continue; /* nothing new to learn, only time to spend */
        body[s] = tu_pattern(len, (uint32_t)(len * 8 + s));
        rc = tu_add(st, &it, 1, body[s], len, reader_steps[s], &err);
        ck_assert_msg(rc == 0, "store_quarantine_add of %zu bytes: %s", len, rc ? err : "");
        memcpy(ids[s], it.id, sizeof(ids[s]));
        ck_assert_uint_eq(get_item(it.id).size, len);
        expect_content(it.id, body[s], len);
    }
    reopen();
    for (size_t s = 0; s < STEPS; s++)
        if (body[s] != NULL) {
            expect_content(ids[s], body[s], len);
            free(body[s]);
        }
}
END_TEST

START_TEST(test_content_write_failure)
{
    unsigned char *body = tu_pattern(200000, 5);
    char id[21];
    const char *err = NULL;
    int calls = 0;

    add1(id, "a@example.com", "s@example.org", "x", body, 200000);
    ck_assert_int_eq(tu_content_fail_at(st, id, 2, &calls, &err), -1);
    ck_assert_int_eq(calls, 2); /* it stops at the first failed write */
    /* and the store is still usable afterwards */
    expect_content(id, body, 200000);
    free(body);
}
END_TEST

/* flip_chunk_byte - damage one byte of chunk seq of the content of id. */
static void flip_chunk_byte(const char *id, int seq, int at)
{
    if (tu_pg() != NULL) {
        int64_t cid = content_id_of(id);
        char pos[64];
        if (at < 0)
            snprintf(pos, sizeof(pos), "length(data) - 1");
        else
            snprintf(pos, sizeof(pos), "%d", at);
        tu_db_exec(db_path,
                   "UPDATE content_chunk SET data = set_byte(data, %s, get_byte(data, %s) # 1) "
                   "WHERE content_id = %lld AND seq = %d",
                   pos, pos, (long long)cid, seq);
        ck_assert_int_eq(tu_db_int(db_path,
                                   "SELECT count(*) FROM content_chunk WHERE "
                                   "content_id = %lld AND seq = %d",
                                   (long long)cid, seq),
                         1);
        return;
    }
    sqlite3 *db = tu_raw_open(db_path);
    int64_t cid = tu_raw_int(db, "SELECT content_id FROM quarantine WHERE public_id = %Q", id);
    sqlite3_stmt *q;
    unsigned char *data;
    int len;

    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT data FROM content_chunk WHERE content_id = ? "
                                        "AND seq = ?",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, cid);
    sqlite3_bind_int(q, 2, seq);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    len = sqlite3_column_bytes(q, 0);
    ck_assert_int_gt(len, at);
    data = malloc((size_t)len);
    memcpy(data, sqlite3_column_blob(q, 0), (size_t)len);
    sqlite3_finalize(q);
    data[at < 0 ? len - 1 : at] ^= 0x01;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "UPDATE content_chunk SET data = ? WHERE content_id = "
                                        "? AND seq = ?",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(q, 1, data, len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, cid);
    sqlite3_bind_int(q, 3, seq);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    ck_assert_int_eq(sqlite3_changes(db), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(data);
}

START_TEST(test_tampered_chunk_fails)
{
    /* 3 chunks: flip one byte in chunk _i (a byte of the ciphertext, then of the tag) */
    unsigned char *body = tu_pattern(150000, 6);
    char id[21], other[21];

    add1(id, "a@example.com", "s@example.org", "x", body, 150000);
    add1(other, "b@example.com", "s@example.org", "y", body + 1, 1000);
    expect_content(id, body, 150000);
    flip_chunk_byte(id, _i, 100);
    expect_content_fails(id);
    expect_content(other, body + 1, 1000); /* other content is not affected */
    free(body);
}
END_TEST

START_TEST(test_tampered_small_content_fails)
{
    char id[21];
    const char *body = "Subject: short\r\n\r\nshort\r\n";

    add1(id, "a@example.com", "s@example.org", "short", body, strlen(body));
    flip_chunk_byte(id, 0, -1); /* the last byte: the MAC */
    expect_content_fails(id);
}
END_TEST

START_TEST(test_tampered_header_fails)
{
    unsigned char *body = tu_pattern(1000, 7);
    char id[21];

    add1(id, "a@example.com", "s@example.org", "x", body, 1000);
    tu_db_exec(db_path, tu_pg() != NULL
                            ? "UPDATE content SET header = decode(repeat('00', length(header)), "
                              "'hex')"
                            : "UPDATE content SET header = zeroblob(length(header))");
    expect_content_fails(id);
    free(body);
}
END_TEST

START_TEST(test_truncated_content_fails)
{
    unsigned char *body = tu_pattern(150000, 8);
    char id[21], one[21];

    add1(id, "a@example.com", "s@example.org", "three chunks", body, 150000);
    add1(one, "a@example.com", "s@example.org", "one chunk", body, 1000);
    tu_db_exec(db_path, "DELETE FROM content_chunk WHERE content_id = %lld AND seq = 2",
               (long long)content_id_of(id));
    expect_content_fails(id);
    tu_db_exec(db_path, "DELETE FROM content_chunk WHERE content_id = %lld",
               (long long)content_id_of(one));
    expect_content_fails(one);
    free(body);
}
END_TEST

START_TEST(test_missing_middle_or_reordered_chunk_fails)
{
    unsigned char *body = tu_pattern(200000, 9), *body2 = tu_pattern(200000, 19);
    char id[21], id2[21];
    long long cid, cid2;

    add1(id, "a@example.com", "s@example.org", "x", body, 200000);
    add1(id2, "a@example.com", "s@example.org", "y", body2, 200000);
    cid = (long long)content_id_of(id);
    cid2 = (long long)content_id_of(id2);
    ck_assert_int_ne(cid, cid2);
    tu_db_exec(db_path, "DELETE FROM content_chunk WHERE content_id = %lld AND seq = 1", cid);
    expect_content_fails(id);
    tu_db_exec(db_path, "UPDATE content_chunk SET seq = 99 WHERE content_id = %lld AND seq = 0",
               cid2);
    tu_db_exec(db_path, "UPDATE content_chunk SET seq = 0 WHERE content_id = %lld AND seq = 1",
               cid2);
    tu_db_exec(db_path, "UPDATE content_chunk SET seq = 1 WHERE content_id = %lld AND seq = 99",
               cid2);
    expect_content_fails(id2);
    free(body);
    free(body2);
}
END_TEST

START_TEST(test_dedup)
{
    unsigned char *body = tu_pattern(150000, 10), *other = tu_pattern(150000, 11);
    char a[21], b[21], c[21];

    add1(a, "a@example.com", "s@example.org", "same", body, 150000);
    add1(b, "b@example.com", "t@example.org", "same again", body, 150000);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(content_rows(), 1);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM content_chunk"), 3);
    ck_assert_int_eq(content_id_of(a), content_id_of(b));
    add1(c, "a@example.com", "s@example.org", "different", other, 150000);
    ck_assert_int_eq(content_rows(), 2);
    expect_content(a, body, 150000);
    expect_content(b, body, 150000);
    expect_content(c, other, 150000);
    reopen();
    add1(c, "c@example.com", "s@example.org", "same, after reopening", body, 150000);
    ck_assert_int_eq(content_rows(), 2);
    expect_content(c, body, 150000);
    free(body);
    free(other);
}
END_TEST

START_TEST(test_add_failing_reader_stores_nothing)
{
    unsigned char *body = tu_pattern(100000, 12);
    const char *err = NULL;

    for (int pass = 1; pass <= 2; pass++) {
        struct store_qitem it = mkitem("a@example.com", "s@example.org", "broken");
        struct store_reader r;
        struct mem_reader *m = tu_reader_new(&r, body, 100000, 4096);
        tu_reader_fail_on_pass(m, pass);
        err = NULL;
        ck_assert_int_eq(store_quarantine_add(st, &it, 1, &r, &err), -1);
        ck_assert_ptr_nonnull(err);
        free(m);
    }
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 0);
    ck_assert_int_eq(content_rows(), 0);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM content_chunk"), 0);
    ck_assert_uint_eq(list_of(NULL, -1, NULL, 0, 0).n, 0);
    free(body);
}
END_TEST

/* the server ends the store's connection, as a fail-over does */
static void cut_connection(void)
{
    tu_db_exec(db_path, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid()");
}

/* the connection lost between the statements of a held message (those sent ahead
 * included): the add fails, nothing of it stays, and the same store works again */
START_TEST(test_failover_mid_transaction_pg)
{
    unsigned char *body = tu_pattern(10240, 21);
    struct store_reader r;
    struct mem_reader *m = tu_reader_new(&r, body, 10240, 0);
    struct store_qitem it = mkitem("a@example.com", "s@example.org", "cut");
    char id[STORE_ID_LEN + 1];
    const char *err = NULL;

    add_text(id, "a@example.com", "s@example.org", "before"); /* every statement prepared */
    /* the second pass encrypts, inside the transaction, after the content row's insert */
    tu_reader_hook_on_pass(m, 2, cut_connection);
    ck_assert_int_eq(store_quarantine_add(st, &it, 1, &r, &err), -1);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 1);
    ck_assert_int_eq(content_rows(), 1);
    tu_reader_hook_on_pass(m, 0, NULL);
    it = mkitem("a@example.com", "s@example.org", "after the cut");
    err = NULL;
    ck_assert_msg(store_quarantine_add(st, &it, 1, &r, &err) == 0, "add: %s", err);
    ck_assert_str_eq(get_item(it.id).subject, "after the cut");
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 2);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM content_chunk"), 2);
    free(m);
    free(body);
}
END_TEST

START_TEST(test_add_changing_content_stores_nothing)
{
    unsigned char *body = tu_pattern(100000, 13);
    const char *err = NULL;
    struct store_qitem it = mkitem("a@example.com", "s@example.org", "growing");
    struct store_reader r;
    struct mem_reader *m = tu_reader_new(&r, body, 100000, 4096);

    tu_reader_grow_on_pass2(m, 10);
    ck_assert_int_eq(store_quarantine_add(st, &it, 1, &r, &err), -1);
    free(m);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM quarantine"), 0);
    ck_assert_int_eq(content_rows(), 0);
    /* the store goes on working */
    char id[21];
    add1(id, "a@example.com", "s@example.org", "fine", body, 100000);
    expect_content(id, body, 100000);
    free(body);
}
END_TEST

/* ------------------------------------------------------------ trace */

struct traces {
    size_t n;
    struct store_trace t[16];
};

static void collect_trace(const struct store_trace *t, void *ctx)
{
    struct traces *l = ctx;

    ck_assert_uint_lt(l->n, 16);
    l->t[l->n++] = *t;
}

static struct store_trace mktrace(const char *trace_id, const char *event, const char *service,
                                  const char *verdict, int64_t at)
{
    struct store_trace t;

    memset(&t, 0, sizeof(t));
    snprintf(t.trace_id, sizeof(t.trace_id), "%s", trace_id);
    snprintf(t.recipient, sizeof(t.recipient), "a@example.com");
    snprintf(t.event, sizeof(t.event), "%s", event);
    snprintf(t.service, sizeof(t.service), "%s", service);
    snprintf(t.verdict, sizeof(t.verdict), "%s", verdict);
    snprintf(t.detail, sizeof(t.detail), "%s by %s", verdict, service);
    t.duration_ms = 12;
    t.at = at;
    return t;
}

START_TEST(test_trace_add_list)
{
    const char *err = NULL;
    struct traces l = {0};
    struct store_trace in[4] = {mktrace("T1", "service", "clamd", "pass", 1700000000),
                                mktrace("T2", "service", "clamd", "pass", 1700000000),
                                mktrace("T1", "service", "spamd", "quarantine", 1699999990),
                                mktrace("T1", "quarantine", "", "held", 0)};
    int64_t before = (int64_t)time(NULL);

    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(store_trace_add(st, &in[i], &err), 0);
    ck_assert_int_eq(store_trace_list(st, "T1", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 3);
    /* in the order they happened (added), not by timestamp */
    ck_assert_str_eq(l.t[0].service, "clamd");
    ck_assert_str_eq(l.t[1].service, "spamd");
    ck_assert_str_eq(l.t[1].verdict, "quarantine");
    ck_assert_str_eq(l.t[1].detail, "quarantine by spamd");
    ck_assert_str_eq(l.t[1].recipient, "a@example.com");
    ck_assert_int_eq(l.t[1].duration_ms, 12);
    ck_assert_int_eq(l.t[1].at, 1699999990);
    ck_assert_str_eq(l.t[2].event, "quarantine");
    ck_assert_int_ge(l.t[2].at, before); /* 0: now */
    ck_assert_int_le(l.t[2].at, (int64_t)time(NULL));
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(store_trace_list(st, "T2", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 1);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(store_trace_list(st, "T3", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 0);
}
END_TEST

/* ------------------------------------------------------------ lists */

#define MAX_ENTRIES 16
struct entries {
    size_t n;
    struct store_list_entry e[MAX_ENTRIES];
};

static void collect_entry(const struct store_list_entry *e, void *ctx)
{
    struct entries *l = ctx;

    ck_assert_uint_lt(l->n, MAX_ENTRIES);
    l->e[l->n++] = *e;
}

static struct entries show(const char *owner)
{
    struct entries l;
    const char *err = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = store_list_show(st, owner, collect_entry, &l, &err);
    ck_assert_msg(rc == 0, "store_list_show: %s", rc < 0 ? err : "");
    return l;
}

static void list_add(enum store_list_kind kind, const char *owner, const char *sender,
                     const char *by, const char *origin, int64_t expires)
{
    struct store_list_entry e;
    const char *err = NULL;
    int rc;

    memset(&e, 0, sizeof(e));
    e.kind = kind;
    snprintf(e.owner, sizeof(e.owner), "%s", owner);
    snprintf(e.sender, sizeof(e.sender), "%s", sender);
    snprintf(e.created_by, sizeof(e.created_by), "%s", by);
    snprintf(e.origin, sizeof(e.origin), "%s", origin);
    e.expires = expires;
    rc = store_list_add(st, &e, &err);
    ck_assert_msg(rc == 0, "store_list_add: %s", rc < 0 ? err : "");
}

static int match(enum store_list_kind kind, const char *recipient, const char *sender)
{
    const char *err = NULL;
    int rc = store_list_match(st, kind, recipient, sender, &err);

    ck_assert_msg(rc == 0 || rc == 1, "store_list_match: %d %s", rc, rc < 0 ? err : "");
    return rc;
}

START_TEST(test_trace_add_many)
{
    const char *err = NULL;
    struct traces l = {0};
    struct store_trace in[3] = {mktrace("TM", "service", "clamd", "pass", 1700000000),
                                mktrace("TM", "bypass", "spamd", "granted", 1700000001),
                                mktrace("TM", "reply", "", "250", 1700000002)};

    ck_assert_int_eq(store_trace_add_many(st, in, 0, &err), 0);
    ck_assert_int_eq(store_trace_add_many(st, in, 3, &err), 0);
    ck_assert_int_eq(store_trace_list(st, "TM", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.t[1].verdict, "granted");
}
END_TEST

START_TEST(test_users_and_passwords)
{
    const char *err = NULL;
    struct store_user u;

    ck_assert_int_eq(store_user_get(st, "alice@example.com", &u, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_user_set_password(st, "alice@example.com", "long enough secret", &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_user_add(st, "Alice@Example.com", STORE_ROLE_USER, &err), 0);
    ck_assert_int_eq(store_user_get(st, "ALICE@example.com", &u, &err), 0);
    ck_assert_str_eq(u.address, "alice@example.com");
    ck_assert_int_eq(u.role, STORE_ROLE_USER);
    ck_assert(!u.has_password);
    ck_assert_int_eq(store_user_check_password(st, "alice@example.com", "anything", &err), 0);
    ck_assert_int_eq(store_user_set_password(st, "alice@example.com", "long enough secret", &err),
                     0);
    ck_assert_int_eq(store_user_check_password(st, "alice@example.com", "long enough secret", &err),
                     1);
    ck_assert_int_eq(store_user_check_password(st, "alice@example.com", "long enough secreT", &err),
                     0);
    ck_assert_int_eq(
        store_user_check_password(st, "nobody@example.com", "long enough secret", &err), 0);
    /* adding again changes the role, keeps the password */
    ck_assert_int_eq(store_user_add(st, "alice@example.com", STORE_ROLE_ADMIN, &err), 0);
    ck_assert_int_eq(store_user_get(st, "alice@example.com", &u, &err), 0);
    ck_assert_int_eq(u.role, STORE_ROLE_ADMIN);
    ck_assert(u.has_password);
}
END_TEST

/* a recipient's spam level: chosen, changed, read back to the tenth, forgotten */
START_TEST(test_spam_level)
{
    const char *err = NULL;
    struct store_spam sp, got;

    ck_assert_int_eq(store_user_spam(st, "carol@example.com", &got, &err), 0);
    sp = (struct store_spam){.level = "strict", .tag = 2.0, .junk = 4.0, .quarantine = 7.0};
    ck_assert_int_eq(store_user_set_spam(st, "Carol@example.com", &sp, &err), 0);
    ck_assert_int_eq(store_user_spam(st, "CAROL@example.com", &got, &err), 1);
    ck_assert_str_eq(got.level, "strict");
    ck_assert(got.updated > 0);
    sp = (struct store_spam){.level = "custom", .tag = 3.25, .junk = INFINITY, .quarantine = 12.5};
    ck_assert_int_eq(store_user_set_spam(st, "carol@example.com", &sp, &err), 0);
    ck_assert_int_eq(store_user_spam(st, "carol@example.com", &got, &err), 1);
    ck_assert_str_eq(got.level, "custom");
    ck_assert_double_eq_tol(got.tag, 3.3, 0.001); /* kept to a tenth */
    ck_assert(isinf(got.junk));                   /* off */
    ck_assert_double_eq_tol(got.quarantine, 12.5, 0.001);
    /* one recipient's level is not another's */
    ck_assert_int_eq(store_user_spam(st, "dave@example.com", &got, &err), 0);
    /* the user row was created for it, and deleting the user takes the level along */
    struct store_user u;
    ck_assert_int_eq(store_user_get(st, "carol@example.com", &u, &err), 0);
    ck_assert_int_eq(store_user_set_spam(st, "carol@example.com", NULL, &err), 0);
    ck_assert_int_eq(store_user_spam(st, "carol@example.com", &got, &err), 0);
}
END_TEST

START_TEST(test_consent)
{
    const char *err = NULL;

    ck_assert_int_eq(store_user_consent(st, "bob@example.com", "spamd", &err), -1);
    ck_assert_int_eq(store_user_set_consent(st, "Bob@example.com", "spamd", false, &err), 0);
    ck_assert_int_eq(store_user_consent(st, "bob@example.com", "spamd", &err), 0);
    ck_assert_int_eq(store_user_consent(st, "bob@example.com", "banner", &err), -1);
    ck_assert_int_eq(store_user_set_consent(st, "bob@example.com", "spamd", true, &err), 0);
    ck_assert_int_eq(store_user_consent(st, "BOB@example.com", "spamd", &err), 1);
    /* the user row was created for the consent */
    struct store_user u;
    ck_assert_int_eq(store_user_get(st, "bob@example.com", &u, &err), 0);
}
END_TEST

START_TEST(test_list_add_refresh_remove_show)
{
    const char *err = NULL;
    int64_t now = (int64_t)time(NULL);
    struct entries l;

    list_add(STORE_WHITELIST, "Alice@Example.com", "Friend@Other.org", "admin", "cli", 0);
    l = show("alice@example.com");
    ck_assert_uint_eq(l.n, 1);
    int64_t id = l.e[0].id;
    ck_assert_int_eq(l.e[0].kind, STORE_WHITELIST);
    ck_assert_int_eq(strcasecmp(l.e[0].owner, "alice@example.com"), 0);
    ck_assert_int_eq(strcasecmp(l.e[0].sender, "friend@other.org"), 0);
    ck_assert_str_eq(l.e[0].created_by, "admin");
    ck_assert_str_eq(l.e[0].origin, "cli");
    ck_assert_int_eq(l.e[0].expires, 0);
    ck_assert_int_ge(l.e[0].created, now);
    /* the owner is found whatever its case */
    ck_assert_uint_eq(show("ALICE@EXAMPLE.COM").n, 1);

    /* refresh: same kind, owner and sender (any case) -> still one entry, updated */
    list_add(STORE_WHITELIST, "alice@example.com", "FRIEND@OTHER.ORG", "alice@example.com",
             "portal", now + 3600);
    l = show("alice@example.com");
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.e[0].id, id);
    ck_assert_str_eq(l.e[0].created_by, "alice@example.com");
    ck_assert_str_eq(l.e[0].origin, "portal");
    ck_assert_int_eq(l.e[0].expires, now + 3600);

    /* the other kind is another entry; other owners are not shown */
    list_add(STORE_BLOCKLIST, "alice@example.com", "friend@other.org", "admin", "cli", 0);
    list_add(STORE_BLOCKLIST, "bob@example.com", "@spam.example", "bob@example.com", "token", 0);
    ck_assert_uint_eq(show("alice@example.com").n, 2);
    ck_assert_uint_eq(show("bob@example.com").n, 1);
    ck_assert_uint_eq(show("carol@example.com").n, 0);
    l = show(NULL);
    ck_assert_uint_eq(l.n, 3);

    ck_assert_int_eq(store_list_remove(st, id, &err), 0);
    l = show("alice@example.com");
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.e[0].kind, STORE_BLOCKLIST);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "friend@other.org"), 0);
    ck_assert_int_eq(store_list_remove(st, id, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_list_remove(st, 999999, &err), STORE_NOTFOUND);
    ck_assert_uint_eq(show(NULL).n, 2);
}
END_TEST

START_TEST(test_list_show_hides_expired)
{
    int64_t now = (int64_t)time(NULL);

    list_add(STORE_WHITELIST, "a@example.com", "old@example.org", "admin", "cli", now - 10);
    list_add(STORE_WHITELIST, "a@example.com", "new@example.org", "admin", "cli", now + 3600);
    list_add(STORE_WHITELIST, "a@example.com", "forever@example.org", "admin", "cli", 0);
    struct entries l = show("a@example.com");
    ck_assert_uint_eq(l.n, 2);
    for (size_t i = 0; i < l.n; i++)
        ck_assert_str_ne(l.e[i].sender, "old@example.org");
    ck_assert_uint_eq(show(NULL).n, 2);
}
END_TEST

START_TEST(test_list_match_address)
{
    list_add(STORE_WHITELIST, "alice@example.com", "bob@partner.org", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "bob@partner.org"), 1);
    ck_assert_int_eq(match(STORE_WHITELIST, "ALICE@Example.COM", "Bob@PARTNER.org"), 1);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "carol@partner.org"), 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice2@example.com", "bob@partner.org"), 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "bob@partner.org", "alice@example.com"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "alice@example.com", "bob@partner.org"), 0);
}
END_TEST

START_TEST(test_list_match_domain)
{
    list_add(STORE_BLOCKLIST, "@Example.NET", "@Spam.Example", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "x@example.net", "y@spam.example"), 1);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "X@EXAMPLE.NET", "Y@SPAM.EXAMPLE"), 1);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "x@example.org", "y@spam.example"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "x@example.net", "y@ham.example"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "x@sub.example.net", "y@spam.example"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "x@example.net", "y@sub.spam.example"), 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "x@example.net", "y@spam.example"), 0);
    /* an address owner with a domain sender */
    list_add(STORE_WHITELIST, "alice@example.com", "@partner.org", "alice@example.com", "portal",
             0);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "anyone@partner.org"), 1);
    ck_assert_int_eq(match(STORE_WHITELIST, "bob@example.com", "anyone@partner.org"), 0);
}
END_TEST

START_TEST(test_list_match_star)
{
    list_add(STORE_BLOCKLIST, "*", "@spam.example", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "anyone@anywhere.org", "x@spam.example"), 1);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "anyone@anywhere.org", "x@ham.example"), 0);
    list_add(STORE_WHITELIST, "boss@example.com", "*", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "Boss@Example.com", "who@ever.example"), 1);
    ck_assert_int_eq(match(STORE_WHITELIST, "staff@example.com", "who@ever.example"), 0);
    list_add(STORE_WHITELIST, "*", "*", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "staff@example.com", "who@ever.example"), 1);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "staff@example.com", "who@ever.example"), 0);
}
END_TEST

START_TEST(test_list_match_expiry)
{
    int64_t now = (int64_t)time(NULL);

    list_add(STORE_BLOCKLIST, "a@example.com", "old@example.org", "admin", "cli", now - 1);
    list_add(STORE_BLOCKLIST, "*", "*", "admin", "cli", now - 100);
    list_add(STORE_BLOCKLIST, "a@example.com", "new@example.org", "admin", "cli", now + 3600);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "a@example.com", "old@example.org"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "b@example.com", "x@example.org"), 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "a@example.com", "new@example.org"), 1);
    /* refreshing an expired entry brings it back */
    list_add(STORE_BLOCKLIST, "a@example.com", "old@example.org", "admin", "cli", 0);
    ck_assert_int_eq(match(STORE_BLOCKLIST, "a@example.com", "old@example.org"), 1);
}
END_TEST

/* ------------------------------------------------------------ audit */

#define MAX_AUDIT 16
struct audits {
    size_t n;
    struct store_audit_entry e[MAX_AUDIT];
};

static void collect_audit(const struct store_audit_entry *e, void *ctx)
{
    struct audits *l = ctx;

    ck_assert_uint_lt(l->n, MAX_AUDIT);
    l->e[l->n++] = *e;
}

static struct audits audit_list(size_t limit)
{
    struct audits l;
    const char *err = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = store_audit_list(st, limit, collect_audit, &l, &err);
    ck_assert_msg(rc == 0, "store_audit_list: %s", rc < 0 ? err : "");
    return l;
}

static size_t audit_count(const char *action, const char *object_part)
{
    struct audits l = audit_list(0);
    size_t n = 0;

    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.e[i].action, action) == 0 && strstr(l.e[i].object, object_part) != NULL)
            n++;
    return n;
}

START_TEST(test_audit_add_list)
{
    const char *err = NULL;
    int64_t before = (int64_t)time(NULL);
    struct audits l;

    ck_assert_int_eq(store_audit(st, "admin", "list-add", "white:a@example.com", "cli", &err), 0);
    ck_assert_int_eq(store_audit(st, "a@example.com", "login", "session", "portal", &err), 0);
    ck_assert_int_eq(store_audit(st, "a@example.com", "delete", "quarantine:x", "portal", &err), 0);
    l = audit_list(2);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.e[0].action, "delete"); /* newest first */
    ck_assert_str_eq(l.e[0].object, "quarantine:x");
    ck_assert_str_eq(l.e[0].actor, "a@example.com");
    ck_assert_str_eq(l.e[0].origin, "portal");
    ck_assert_int_ge(l.e[0].at, before);
    ck_assert_int_le(l.e[0].at, (int64_t)time(NULL));
    ck_assert_str_eq(l.e[1].action, "login");
    l = audit_list(0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.e[2].action, "list-add");
    ck_assert_str_eq(l.e[2].actor, "admin");
    ck_assert_str_eq(l.e[2].origin, "cli");
    reopen();
    ck_assert_uint_eq(audit_list(10).n, 3);
}
END_TEST

/* ------------------------------------------------------------ releases */

static struct store_release mkrelease(const char *item_id, const char *by, const char *origin,
                                      const char *whitelist)
{
    struct store_release r;

    memset(&r, 0, sizeof(r));
    snprintf(r.item_id, sizeof(r.item_id), "%s", item_id);
    snprintf(r.requested_by, sizeof(r.requested_by), "%s", by);
    snprintf(r.origin, sizeof(r.origin), "%s", origin);
    snprintf(r.whitelist, sizeof(r.whitelist), "%s", whitelist);
    return r;
}

static int request(const char *item_id, const char *whitelist)
{
    struct store_release r = mkrelease(item_id, "alice@example.com", "portal", whitelist);
    const char *err = NULL;
    int rc = store_release_request(st, &r, &err);

    ck_assert_msg(rc == 0 || rc == STORE_NOTFOUND, "store_release_request: %d %s", rc,
                  rc < 0 ? err : "");
    return rc;
}

static int next(struct store_release *r)
{
    const char *err = NULL;
    int rc = store_release_next(st, r, &err);

    ck_assert_msg(rc == 0 || rc == STORE_NOTFOUND, "store_release_next: %d %s", rc,
                  rc < 0 ? err : "");
    return rc;
}

static int state_of(const char *item_id, char *state, char *last_error)
{
    const char *err = NULL;
    int rc = store_release_state(st, item_id, state, 16, last_error, 256, &err);

    ck_assert_msg(rc == 0 || rc == STORE_NOTFOUND, "store_release_state: %d %s", rc,
                  rc < 0 ? err : "");
    return rc;
}

START_TEST(test_release_request_not_found)
{
    char id[21], state[16], why[256];
    const char *err = NULL;

    ck_assert_int_eq(request("aaaaaaaaaaaaaaaaaaaa", ""), STORE_NOTFOUND);
    add_text(id, "alice@example.com", "s@example.org", "deleted");
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_DELETED, &err), 0);
    ck_assert_int_eq(request(id, ""), STORE_NOTFOUND);
    ck_assert_int_eq(state_of(id, state, why), STORE_NOTFOUND);
    struct store_release r;
    ck_assert_int_eq(next(&r), STORE_NOTFOUND);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM release_request"), 0);
    ck_assert_uint_eq(audit_count("release-request", ""), 0);
}
END_TEST

START_TEST(test_release_request_not_duplicated)
{
    char id[21], state[16], why[256];
    struct store_release r;

    add_text(id, "alice@example.com", "s@example.org", "wanted");
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(state_of(id, state, why), 0);
    ck_assert_str_eq(state, "pending");
    ck_assert_int_eq(request(id, "address"), 0); /* asked again, e.g. a double click */
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM release_request"), 1);
    ck_assert_uint_eq(audit_count("release-request", id), 1);
    ck_assert_int_eq(next(&r), 0);
    ck_assert_str_eq(r.item_id, id);
    ck_assert_int_eq(next(&r), STORE_NOTFOUND);
    /* while it is being carried out, a new request is not a second one either */
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM release_request"), 1);
}
END_TEST

START_TEST(test_release_next_claims_once)
{
    char id1[21], id2[21];
    struct store_release r, r2;

    add_text(id1, "alice@example.com", "s@example.org", "first");
    add_text(id2, "bob@example.com", "t@example.org", "second");
    ck_assert_int_eq(request(id1, "domain"), 0);
    ck_assert_int_eq(request(id2, ""), 0);
    ck_assert_int_eq(next(&r), 0);
    ck_assert_str_eq(r.item_id, id1); /* the oldest first */
    ck_assert_str_eq(r.requested_by, "alice@example.com");
    ck_assert_str_eq(r.origin, "portal");
    ck_assert_str_eq(r.whitelist, "domain");
    ck_assert_int_eq(r.attempts, 1);
    ck_assert_int_gt(r.id, 0);
    ck_assert_int_eq(next(&r2), 0);
    ck_assert_str_eq(r2.item_id, id2);
    ck_assert_int_ne(r2.id, r.id);
    /* a second worker right after: nothing (both are leased) */
    ck_assert_int_eq(next(&r2), STORE_NOTFOUND);
    /* from another connection too */
    reopen();
    ck_assert_int_eq(next(&r2), STORE_NOTFOUND);
    /* a worker that died: once its lease runs out, the request comes back */
    tu_db_exec(db_path, "UPDATE release_request SET next_attempt = next_attempt - 601");
    ck_assert_int_eq(next(&r2), 0);
    ck_assert_str_eq(r2.item_id, id1);
    ck_assert_int_eq(r2.attempts, 2);
}
END_TEST

START_TEST(test_release_failed_temporary)
{
    char id[21], state[16], why[256];
    struct store_release r;
    const char *err = NULL;

    add_text(id, "alice@example.com", "s@example.org", "retry");
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(next(&r), 0);
    ck_assert_int_eq(store_release_failed(st, &r, false, "451 4.3.0 try later", 3600, &err), 0);
    ck_assert_int_eq(state_of(id, state, why), 0);
    ck_assert_str_eq(state, "pending");
    ck_assert_str_eq(why, "451 4.3.0 try later");
    ck_assert_int_eq(next(&r), STORE_NOTFOUND); /* not due yet */
    ck_assert_int_eq(get_item(id).status, STORE_HELD);
    /* once due, it comes back, counting the attempts */
    tu_db_exec(db_path, "UPDATE release_request SET next_attempt = next_attempt - 3600");
    ck_assert_int_eq(next(&r), 0);
    ck_assert_str_eq(r.item_id, id);
    ck_assert_int_eq(r.attempts, 2);
    ck_assert_str_eq(r.last_error, "451 4.3.0 try later");
    ck_assert_int_eq(store_release_failed(st, &r, false, "421 busy", 0, &err), 0);
    ck_assert_int_eq(next(&r), 0); /* retry_after 0: due at once */
    ck_assert_int_eq(r.attempts, 3);
    ck_assert_str_eq(r.last_error, "421 busy");
}
END_TEST

START_TEST(test_release_failed_permanent)
{
    char id[21], state[16], why[256];
    struct store_release r;
    const char *err = NULL;

    add_text(id, "alice@example.com", "s@example.org", "doomed");
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(next(&r), 0);
    ck_assert_int_eq(store_release_failed(st, &r, true, "550 5.1.1 no such user", 0, &err), 0);
    ck_assert_int_eq(state_of(id, state, why), 0);
    ck_assert_str_eq(state, "failed");
    ck_assert_str_eq(why, "550 5.1.1 no such user");
    ck_assert_int_eq(next(&r), STORE_NOTFOUND);
    tu_db_exec(db_path, "UPDATE release_request SET next_attempt = next_attempt - 100000");
    ck_assert_int_eq(next(&r), STORE_NOTFOUND); /* never retried */
    ck_assert_int_eq(get_item(id).status, STORE_HELD);
    /* the user may ask again: a new request */
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(state_of(id, state, why), 0);
    ck_assert_str_eq(state, "pending");
    ck_assert_int_eq(next(&r), 0);
    ck_assert_str_eq(r.item_id, id);
}
END_TEST

static bool trace_has_release(const char *trace_id, const char *recipient)
{
    struct traces l = {0};
    const char *err = NULL;

    ck_assert_int_eq(store_trace_list(st, trace_id, collect_trace, &l, &err), 0);
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.t[i].event, "release") == 0 && strcmp(l.t[i].recipient, recipient) == 0)
            return true;
    return false;
}

START_TEST(test_release_done_address)
{
    struct store_qitem it = mkitem("alice@example.com", "Bob@Partner.org", "let me in");
    char state[16], why[256];
    struct store_release r;
    const char *err = NULL;
    struct entries l;

    add_items(&it, 1, "hello\r\n", 7);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "bob@partner.org"), 0);
    ck_assert_int_eq(request(it.id, "address"), 0);
    ck_assert_int_eq(next(&r), 0);
    ck_assert_int_eq(store_release_done(st, &r, &err), 0);

    ck_assert_int_eq(get_item(it.id).status, STORE_RELEASED);
    ck_assert_int_eq(state_of(it.id, state, why), 0);
    ck_assert_str_eq(state, "done");
    ck_assert_str_eq(why, "");
    ck_assert_int_eq(next(&r), STORE_NOTFOUND);
    /* the sender is whitelisted for this recipient, saying who and how */
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "bob@partner.org"), 1);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "eve@partner.org"), 0);
    ck_assert_int_eq(match(STORE_WHITELIST, "carol@example.com", "bob@partner.org"), 0);
    l = show("alice@example.com");
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.e[0].kind, STORE_WHITELIST);
    ck_assert_str_eq(l.e[0].created_by, "alice@example.com");
    ck_assert_str_eq(l.e[0].origin, "portal");
    ck_assert_int_eq(l.e[0].expires, 0);
    /* traced and audited */
    ck_assert(trace_has_release(it.trace_id, "alice@example.com"));
    ck_assert_uint_eq(audit_count("release-request", it.id), 1);
    ck_assert_uint_eq(audit_count("release delivered", it.id), 1);
    /* released: no more requests */
    ck_assert_int_eq(request(it.id, ""), STORE_NOTFOUND);
    /* the content stays readable (delivered from it) */
    expect_content(it.id, "hello\r\n", 7);
}
END_TEST

START_TEST(test_release_done_domain_and_none)
{
    struct store_qitem a = mkitem("alice@example.com", "bob@partner.org", "domain");
    struct store_qitem b = mkitem("carol@example.com", "dave@other.org", "none");
    struct store_release r;
    const char *err = NULL;
    struct entries l;

    add_items(&a, 1, "a\r\n", 3);
    add_items(&b, 1, "b\r\n", 3);
    r = mkrelease(a.id, "admin", "cli", "domain");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    r = mkrelease(b.id, "carol@example.com", "token", "");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(next(&r), 0);
        ck_assert_int_eq(store_release_done(st, &r, &err), 0);
    }
    ck_assert_int_eq(get_item(a.id).status, STORE_RELEASED);
    ck_assert_int_eq(get_item(b.id).status, STORE_RELEASED);
    ck_assert_int_eq(match(STORE_WHITELIST, "alice@example.com", "anyone@partner.org"), 1);
    l = show("alice@example.com");
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.e[0].sender, "@partner.org");
    ck_assert_str_eq(l.e[0].created_by, "admin");
    ck_assert_str_eq(l.e[0].origin, "cli");
    ck_assert_uint_eq(show("carol@example.com").n, 0); /* no whitelist asked */
    ck_assert_int_eq(match(STORE_WHITELIST, "carol@example.com", "dave@other.org"), 0);
    ck_assert(trace_has_release(b.trace_id, "carol@example.com"));
    ck_assert_uint_eq(audit_count("release delivered", b.id), 1);
}
END_TEST

START_TEST(test_release_state)
{
    char id[21], state[16], why[256];

    add_text(id, "alice@example.com", "s@example.org", "x");
    ck_assert_int_eq(state_of(id, state, why), STORE_NOTFOUND);
    ck_assert_int_eq(state_of("nosuchitem0000000000", state, why), STORE_NOTFOUND);
    ck_assert_int_eq(request(id, ""), 0);
    ck_assert_int_eq(state_of(id, state, why), 0);
    ck_assert_str_eq(state, "pending");
    ck_assert_str_eq(why, "");
}
END_TEST

/* audit_line - the newest audit entry whose action starts with prefix (fails when none). */
static struct store_audit_entry audit_line(const char *prefix)
{
    struct audits l = audit_list(0);

    for (size_t i = 0; i < l.n; i++)
        if (strncmp(l.e[i].action, prefix, strlen(prefix)) == 0)
            return l.e[i];
    ck_abort_msg("no audit line %s", prefix);
    return l.e[0];
}

static struct store_release_info info_of(const char *item_id, int want)
{
    struct store_release_info ri;
    const char *err = NULL;
    int rc = store_release_info(st, item_id, &ri, &err);

    ck_assert_msg(rc == want, "store_release_info: %d %s", rc, rc < 0 ? err : "");
    return ri;
}

START_TEST(test_release_failed_keeps_reply_and_audits_end)
{
    static const char reply[] = "550 5.1.1 <carol@example.com> User doesn't exist";
    char id[21];
    struct store_release r = {0}, got;
    const char *err = NULL;
    struct store_audit_entry a;
    int64_t before = (int64_t)time(NULL);

    add_text(id, "carol@example.com", "s@example.org", "refused");
    info_of(id, STORE_NOTFOUND);
    r = mkrelease(id, "carol@example.com", "api", "");
    snprintf(r.via, sizeof(r.via), "token 7 ci");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    ck_assert_str_eq(info_of(id, 0).state, "pending");
    ck_assert_int_eq(next(&got), 0);
    ck_assert_str_eq(got.via, "token 7 ci");
    ck_assert_str_eq(got.origin, "api");
    /* a deferral is no outcome: nothing audited, still pending with the reply so far */
    ck_assert_int_eq(store_release_failed(st, &got, false, "451 4.3.0 later", 0, &err), 0);
    ck_assert_str_eq(info_of(id, 0).state, "pending");
    ck_assert_str_eq(info_of(id, 0).reply, "451 4.3.0 later");
    ck_assert_uint_eq(audit_count("release failed: 451 4.3.0 later", ""), 0);
    ck_assert_int_eq(next(&got), 0);
    ck_assert_int_eq(store_release_failed(st, &got, true, reply, 0, &err), 0);
    struct store_release_info ri = info_of(id, 0);
    ck_assert_str_eq(ri.state, "failed");
    ck_assert_str_eq(ri.reply, reply);
    ck_assert_int_eq(ri.attempts, 2);
    ck_assert_int_ge(ri.at, before);
    a = audit_line("release failed: ");
    ck_assert_str_eq(a.action + strlen("release failed: "), reply);
    ck_assert_str_eq(a.actor, "carol@example.com");
    ck_assert_str_eq(a.origin, "api");
    ck_assert_str_eq(a.via, "token 7 ci");
    ck_assert_ptr_nonnull(strstr(a.object, id));
    ck_assert_uint_eq(audit_count("release delivered", ""), 0);
    ck_assert_int_eq(get_item(id).status, STORE_HELD);
    /* a second report of the ended request changes nothing and audits nothing */
    ck_assert_int_eq(store_release_failed(st, &got, true, "550 again", 0, &err), 0);
    ck_assert_str_eq(info_of(id, 0).reply, reply);
}
END_TEST

START_TEST(test_release_delivered_audited_by_origin_and_token)
{
    char id[21];
    struct store_release r, got;
    const char *err = NULL;
    struct store_audit_entry a;

    add_text(id, "alice@example.com", "s@example.org", "wanted");
    r = mkrelease(id, "alice@example.com", "api", "");
    snprintf(r.via, sizeof(r.via), "token 3 laptop");
    ck_assert_int_eq(store_release_request(st, &r, &err), 0);
    ck_assert_uint_eq(audit_count("release delivered", ""), 0); /* asked is not delivered */
    ck_assert_int_eq(next(&got), 0);
    ck_assert_int_eq(store_release_done(st, &got, &err), 0);
    ck_assert_str_eq(info_of(id, 0).state, "done");
    a = audit_line("release delivered");
    ck_assert_str_eq(a.origin, "api");
    ck_assert_str_eq(a.via, "token 3 laptop");
    a = audit_line("release-request");
    ck_assert_str_eq(a.via, "token 3 laptop");
}
END_TEST

START_TEST(test_restore_deleted_while_content_is_there)
{
    char id[21], held[21];
    const char *err = NULL;

    add_text(id, "alice@example.com", "s@example.org", "oops");
    add_text(held, "alice@example.com", "s@example.org", "still held");
    ck_assert_int_eq(store_quarantine_restore(st, held, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_DELETED, &err), 0);
    ck_assert_int_eq(store_quarantine_restore(st, id, &err), 0);
    ck_assert_int_eq(get_item(id).status, STORE_HELD);
    ck_assert_int_eq(store_quarantine_restore(st, id, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_restore(st, "nosuchitem0000000000", &err), STORE_NOTFOUND);
    /* once the purge took the content away, a deleted entry stays deleted */
    ck_assert_int_eq(store_quarantine_set_status(st, id, STORE_DELETED, &err), 0);
    tu_db_exec(db_path, "UPDATE quarantine SET content_id = NULL WHERE public_id = %Q", id);
    ck_assert_int_eq(store_quarantine_restore(st, id, &err), STORE_NOTFOUND);
    ck_assert_int_eq(get_item(id).status, STORE_DELETED);
}
END_TEST

/* ------------------------------------------------------------ API tokens */

#define MAX_TOKENS 8
struct tokens {
    size_t n;
    struct store_apitoken t[MAX_TOKENS];
};

static void collect_token(const struct store_apitoken *t, void *ctx)
{
    struct tokens *l = ctx;

    ck_assert_uint_lt(l->n, MAX_TOKENS);
    l->t[l->n++] = *t;
}

static struct tokens tokens_of(const char *address)
{
    struct tokens l;
    const char *err = NULL;

    memset(&l, 0, sizeof(l));
    ck_assert_msg(store_apitoken_list(st, address, collect_token, &l, &err) == 0, "list: %s", err);
    return l;
}

static int64_t mktoken(const char *address, const char *name, unsigned days,
                       char text[STORE_APITOKEN_TEXT])
{
    const char *err = NULL;
    int64_t id = 0;

    ck_assert_msg(store_apitoken_create(st, address, name, days, text, &id, &err) == 0,
                  "create: %s", err);
    ck_assert_int_gt(id, 0);
    return id;
}

static int verify(const char *text, int64_t now, struct store_apitoken *t)
{
    const char *err = NULL;
    int rc = store_apitoken_verify(st, text, now, t, &err);

    ck_assert_msg(rc == 0 || rc == STORE_NOTFOUND, "verify: %d %s", rc, rc < 0 ? err : "");
    return rc;
}

START_TEST(test_apitoken_create_verify)
{
    char a[STORE_APITOKEN_TEXT], b[STORE_APITOKEN_TEXT], bad[STORE_APITOKEN_TEXT];
    int64_t now = (int64_t)time(NULL);
    struct store_apitoken t;
    int64_t ia = mktoken("Alice@Example.com", "laptop", 0, a);
    int64_t ib = mktoken("bob@example.com", "ci", 0, b);
    char *secret = strchr(a + 5, '_') + 1;

    ck_assert_int_ne(ia, ib);
    ck_assert_uint_eq(strlen(secret), 43);
    ck_assert_int_eq(strncmp(a, "opes_", 5), 0);
    ck_assert_int_eq(verify(a, now, &t), 0);
    ck_assert_int_eq(t.id, ia);
    ck_assert_str_eq(t.address, "alice@example.com");
    ck_assert_str_eq(t.name, "laptop");
    ck_assert_int_eq(verify(b, now, &t), 0);
    ck_assert_str_eq(t.address, "bob@example.com");
    /* the store keeps no secret: neither the token nor its secret part is in the row */
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM api_token WHERE hash = %Q", secret),
                     0);
    ck_assert_int_eq(tu_db_int(db_path,
                               "SELECT count(*) FROM api_token WHERE name = %Q OR "
                               "address = %Q",
                               secret, a),
                     0);
    /* one wrong character, another token's id with this secret, or malformed: refused */
    snprintf(bad, sizeof(bad), "%s", a);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(bad, now, &t), STORE_NOTFOUND);
    ck_assert_str_eq(t.address, "");
    snprintf(bad, sizeof(bad), "opes_%lld_%s", (long long)ib, secret);
    ck_assert_int_eq(verify(bad, now, &t), STORE_NOTFOUND);
    const char *malformed[] = {"",
                               "opes_",
                               "opes_0_x",
                               "Bearer",
                               "opes_1",
                               "opes_-1_abc",
                               "opes_99999_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        ck_assert_int_eq(verify(malformed[i], now, &t), STORE_NOTFOUND);
}
END_TEST

START_TEST(test_apitoken_revoke_expiry_last_used)
{
    char a[STORE_APITOKEN_TEXT], b[STORE_APITOKEN_TEXT], c[STORE_APITOKEN_TEXT];
    int64_t now = (int64_t)time(NULL);
    const char *err = NULL;
    struct store_apitoken t;
    struct tokens l;
    int64_t ia = mktoken("alice@example.com", "laptop", 0, a);
    int64_t ib = mktoken("alice@example.com", "phone", 1, b);
    int64_t ic = mktoken("carol@example.com", "other", 0, c);

    l = tokens_of("ALICE@example.com");
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.t[0].id, ia);
    ck_assert_int_eq(l.t[0].expires, 0);
    ck_assert_int_eq(l.t[0].last_used, 0);
    ck_assert_int_eq(l.t[1].id, ib);
    ck_assert_int_ge(l.t[1].expires, now + 86400 - 5);
    ck_assert_int_le(l.t[1].expires, now + 86400 + 5);
    /* last use is recorded at the verifying time */
    ck_assert_int_eq(verify(a, now + 100, &t), 0);
    ck_assert_int_eq(tokens_of("alice@example.com").t[0].last_used, now + 100);
    /* expiry: valid until then, not after */
    ck_assert_int_eq(verify(b, now + 3600, &t), 0);
    ck_assert_int_eq(verify(b, now + 86400 + 60, &t), STORE_NOTFOUND);
    ck_assert_int_eq(tokens_of("alice@example.com").t[1].last_used, now + 3600);
    /* revoked: refused from then on, listed as revoked; once only */
    ck_assert_int_eq(store_apitoken_revoke(st, ia, &err), 0);
    ck_assert_int_eq(verify(a, now, &t), STORE_NOTFOUND);
    ck_assert_int_gt(tokens_of("alice@example.com").t[0].revoked, 0);
    ck_assert_int_eq(store_apitoken_revoke(st, ia, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_apitoken_revoke(st, 999999, &err), STORE_NOTFOUND);
    /* the others stay */
    ck_assert_int_eq(verify(c, now, &t), 0);
    ck_assert_int_eq(t.id, ic);
    reopen(); /* and on another connection */
    ck_assert_int_eq(verify(a, now, &t), STORE_NOTFOUND);
    ck_assert_int_eq(verify(c, now, &t), 0);
}
END_TEST

/* ------------------------------------------------------------ purge */

static void age(const char *id, int64_t created_ago, int64_t updated_ago)
{
    int64_t now = (int64_t)time(NULL);

    tu_db_exec(db_path, "UPDATE quarantine SET created = %lld, updated = %lld WHERE public_id = %Q",
               (long long)(now - created_ago), (long long)(now - updated_ago), id);
}

START_TEST(test_purge)
{
    unsigned char *ca = tu_pattern(1000, 20), *cb = tu_pattern(1000, 21),
                  *cc = tu_pattern(200000, 22), *cs = tu_pattern(150000, 23);
    char a[21], b[21], c[21], d[21], e[21];
    const char *err = NULL;
    size_t expired = 99, removed = 99;
    int64_t now = (int64_t)time(NULL);

    add1(a, "alice@example.com", "s@example.org", "old and held", ca, 1000);
    add1(b, "alice@example.com", "s@example.org", "new and held", cb, 1000);
    add1(c, "alice@example.com", "s@example.org", "old and released", cc, 200000);
    add1(d, "alice@example.com", "s@example.org", "old, deleted, shared", cs, 150000);
    add1(e, "bob@example.com", "s@example.org", "new, held, shared", cs, 150000);
    ck_assert_int_eq(store_quarantine_set_status(st, c, STORE_RELEASED, &err), 0);
    ck_assert_int_eq(store_quarantine_set_status(st, d, STORE_DELETED, &err), 0);
    age(a, 40 * DAY, 40 * DAY);
    age(b, 29 * DAY, 29 * DAY);
    age(c, 45 * DAY, 40 * DAY);
    age(d, 45 * DAY, 31 * DAY);
    int64_t content_c = content_id_of(c);
    list_add(STORE_WHITELIST, "alice@example.com", "gone@example.org", "admin", "cli", now - 1);
    list_add(STORE_WHITELIST, "alice@example.com", "later@example.org", "admin", "cli", now + 99);
    list_add(STORE_WHITELIST, "alice@example.com", "always@example.org", "admin", "cli", 0);
    ck_assert_int_eq(content_rows(), 4);

    ck_assert_int_eq(store_purge(st, 30, &expired, &removed, &err), 0);
    ck_assert_uint_eq(expired, 1);
    ck_assert_uint_eq(removed, 2);

    ck_assert_int_eq(get_item(a).status, STORE_EXPIRED);
    ck_assert_int_eq(get_item(b).status, STORE_HELD);
    expect_content(b, cb, 1000);
    struct store_qitem it;
    ck_assert_int_eq(store_quarantine_get(st, c, &it, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_get(st, d, &it, &err), STORE_NOTFOUND);
    /* c's content went with it; the shared content stays for e */
    ck_assert_int_eq(
        tu_db_int(db_path, "SELECT count(*) FROM content WHERE id = %lld", (long long)content_c),
        0);
    ck_assert_int_eq(tu_db_int(db_path,
                               "SELECT count(*) FROM content_chunk WHERE content_id = "
                               "%lld",
                               (long long)content_c),
                     0);
    expect_content(e, cs, 150000);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM content_chunk WHERE content_id NOT "
                                        "IN (SELECT id FROM content)"),
                     0);
    ck_assert_uint_eq(list_of(NULL, -1, NULL, 0, 0).n, 3);
    /* expired list entries are gone from the database, the others stay */
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM list WHERE sender = "
                                        "'gone@example.org'"),
                     0);
    ck_assert_uint_eq(show("alice@example.com").n, 2);
    ck_assert_int_eq(store_integrity_check(st, &err), 0);

    /* once e is gone too, the shared content goes */
    int64_t content_s = content_id_of(e);
    ck_assert_int_eq(store_quarantine_set_status(st, e, STORE_DELETED, &err), 0);
    age(e, 40 * DAY, 31 * DAY);
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_quarantine_get(st, e, &it, &err), STORE_NOTFOUND);
    ck_assert_int_eq(
        tu_db_int(db_path, "SELECT count(*) FROM content WHERE id = %lld", (long long)content_s),
        0);
    ck_assert_int_eq(tu_db_int(db_path,
                               "SELECT count(*) FROM content_chunk WHERE content_id = "
                               "%lld",
                               (long long)content_s),
                     0);
    expect_content(b, cb, 1000);
    free(ca);
    free(cb);
    free(cc);
    free(cs);
}
END_TEST

/*
 * test_purge_keeps_recent - nothing younger than the retention is removed: a
 * message released yesterday is still there with its content, for "opesctl
 * quarantine content" and the portal, until it is old enough to be removed.
 * A deleted entry stays listed, but its content goes at the first purge: a
 * recipient who deletes a message means it.
 */
START_TEST(test_purge_keeps_recent)
{
    unsigned char *body[4];
    char ids[4][21];
    const char *err = NULL;
    size_t expired = 99, removed = 99;

    for (int i = 0; i < 4; i++) {
        body[i] = tu_pattern(5000, 40 + (uint32_t)i);
        add1(ids[i], "alice@example.com", "s@example.org", "recent", body[i], 5000);
    }
    ck_assert_int_eq(store_quarantine_set_status(st, ids[1], STORE_RELEASED, &err), 0);
    ck_assert_int_eq(store_quarantine_set_status(st, ids[2], STORE_DELETED, &err), 0);
    age(ids[0], 29 * DAY, 29 * DAY);
    age(ids[1], 29 * DAY, 1 * DAY);
    age(ids[2], 29 * DAY, 1 * DAY);
    ck_assert_int_eq(store_purge(st, 30, &expired, &removed, &err), 0);
    ck_assert_uint_eq(expired, 0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(get_item(ids[0]).status, STORE_HELD);
    ck_assert_int_eq(get_item(ids[1]).status, STORE_RELEASED);
    ck_assert_int_eq(get_item(ids[2]).status, STORE_DELETED);
    ck_assert_int_eq(get_item(ids[3]).status, STORE_HELD);
    for (int i = 0; i < 4; i++) {
        unsigned char *got;
        size_t len;
        int rc = tu_content(st, ids[i], &got, &len, &err);
        if (i == 2) {
            ck_assert_msg(rc == STORE_NOTFOUND, "a deleted entry's content survived a purge (%d)",
                          rc);
            free(got);
            free(body[i]);
            continue;
        }
        ck_assert_msg(rc == 0,
                      "the content of a %s entry younger than the retention is gone "
                      "after a purge (store_quarantine_content returned %d)",
                      store_qstatus_name(get_item(ids[i]).status), rc);
        ck_assert_uint_eq(len, 5000);
        ck_assert_int_eq(memcmp(got, body[i], 5000), 0);
        free(got);
        free(body[i]);
    }
}
END_TEST

START_TEST(test_purge_trace)
{
    const char *err = NULL;
    struct traces l = {0};
    int64_t now = (int64_t)time(NULL);
    struct store_trace old = mktrace("T-old", "service", "clamd", "pass", now - 31 * DAY),
                       recent = mktrace("T-new", "service", "clamd", "pass", now - 29 * DAY);

    ck_assert_int_eq(store_trace_add(st, &old, &err), 0);
    ck_assert_int_eq(store_trace_add(st, &recent, &err), 0);
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_trace_list(st, "T-old", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(store_trace_list(st, "T-new", collect_trace, &l, &err), 0);
    ck_assert_uint_eq(l.n, 1);
}
END_TEST

/* ------------------------------------------------------------ delivery ledger */

#define HASH_A "aa00000000000000000000000000000000000000000000000000000000000001"
#define HASH_B "bb00000000000000000000000000000000000000000000000000000000000002"

static struct store_ledger mkledger(const char *ident, const char *hash, const char *rcpt,
                                    const char *outcome, const char *trace, int64_t at)
{
    struct store_ledger row;

    memset(&row, 0, sizeof(row));
    snprintf(row.ident, sizeof(row.ident), "%s", ident);
    snprintf(row.hash, sizeof(row.hash), "%s", hash);
    snprintf(row.recipient, sizeof(row.recipient), "%s", rcpt);
    snprintf(row.outcome, sizeof(row.outcome), "%s", outcome);
    snprintf(row.trace_id, sizeof(row.trace_id), "%s", trace);
    snprintf(row.detail, sizeof(row.detail), "250 2.0.0 <%s> saved", rcpt);
    row.at = at;
    return row;
}

/* a recorded recipient is found under its exact key only: another message never matches */
START_TEST(test_ledger_add_find)
{
    const char *err = NULL;
    struct store_ledger rows[2] = {
        mkledger("queue:4XyZ1", HASH_A, "Alice@Example.com", "delivered", "T-first", 0),
        mkledger("queue:4XyZ1", HASH_A, "bob@example.com", "delivered", "T-first", 0)};
    struct store_ledger again =
        mkledger("queue:4XyZ1", HASH_A, "bob@example.com", "delivered", "T-second", 0);
    struct store_ledger got;
    int64_t now = (int64_t)time(NULL);

    ck_assert_int_eq(store_ledger_add(st, rows, 2, &err), 0);
    reopen(); /* committed, not only in this connection */
    ck_assert_int_eq(store_ledger_find(st, "queue:4XyZ1", HASH_A, "alice@example.COM", &got, &err),
                     0);
    ck_assert_str_eq(got.outcome, "delivered");
    ck_assert_str_eq(got.trace_id, "T-first");
    ck_assert_str_eq(got.detail, "250 2.0.0 <Alice@Example.com> saved");
    ck_assert(got.at >= now - 5 && got.at <= now + 5);
    /* same queue id, other bytes; other queue id, same bytes; other recipient */
    ck_assert_int_eq(store_ledger_find(st, "queue:4XyZ1", HASH_B, "alice@example.com", &got, &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_ledger_find(st, "queue:4XyZ2", HASH_A, "alice@example.com", &got, &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_ledger_find(st, "queue:4XyZ1", HASH_A, "carol@example.com", &got, &err),
                     STORE_NOTFOUND);
    /* recording the same key again keeps the first delivery's row */
    ck_assert_int_eq(store_ledger_add(st, &again, 1, &err), 0);
    ck_assert_int_eq(store_ledger_find(st, "queue:4XyZ1", HASH_A, "bob@example.com", &got, &err),
                     0);
    ck_assert_str_eq(got.trace_id, "T-first");
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM ledger"), 2);
}
END_TEST

/* held recipients are recorded in the quarantine's own commit, with their entry's id */
START_TEST(test_ledger_with_quarantine)
{
    const char *err = NULL;
    struct store_qitem items[2] = {mkitem("a@example.com", "s@example.org", "held"),
                                   mkitem("b@example.com", "s@example.org", "held")};
    struct store_ledger rows[2] = {
        mkledger("msgid:<1@example.org>", HASH_A, "a@example.com", "quarantined", "T-q", 0),
        mkledger("msgid:<1@example.org>", HASH_A, "b@example.com", "quarantined", "T-q", 0)};
    struct store_ledger got;
    unsigned char *body = tu_pattern(100000, 21);
    struct store_reader r;
    struct mem_reader *m = tu_reader_new(&r, body, 100000, 4096);

    ck_assert_int_eq(store_quarantine_add_ledger(st, items, 2, &r, rows, &err), 0);
    free(m);
    ck_assert_int_eq(
        store_ledger_find(st, "msgid:<1@example.org>", HASH_A, "b@example.com", &got, &err), 0);
    ck_assert_str_eq(got.outcome, "quarantined");
    ck_assert_str_eq(got.detail, items[1].id);
    ck_assert_str_eq(get_item(items[1].id).recipient, "b@example.com");

    /* a hold that fails records nothing: the retry must hold it */
    struct store_qitem c = mkitem("c@example.com", "s@example.org", "broken");
    struct store_ledger crow =
        mkledger("msgid:<2@example.org>", HASH_B, "c@example.com", "quarantined", "T-c", 0);
    unsigned char *other = tu_pattern(100000, 22); /* not shared with what is held */
    m = tu_reader_new(&r, other, 100000, 4096);
    tu_reader_fail_on_pass(m, 2);
    ck_assert_int_eq(store_quarantine_add_ledger(st, &c, 1, &r, &crow, &err), -1);
    free(m);
    ck_assert_int_eq(
        store_ledger_find(st, "msgid:<2@example.org>", HASH_B, "c@example.com", &got, &err),
        STORE_NOTFOUND);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT count(*) FROM ledger"), 2);
    free(other);
    free(body);
}
END_TEST

/* rows older than the ledger's days go, recent ones stay */
START_TEST(test_ledger_purge)
{
    const char *err = NULL;
    int64_t now = (int64_t)time(NULL);
    struct store_ledger rows[2] = {
        mkledger("queue:OLD", HASH_A, "a@example.com", "delivered", "T-old", now - 8 * DAY),
        mkledger("queue:NEW", HASH_A, "a@example.com", "delivered", "T-new", now - 6 * DAY)};
    struct store_ledger got;
    size_t removed = 0;

    ck_assert_int_eq(store_ledger_add(st, rows, 2, &err), 0);
    ck_assert_int_eq(store_ledger_purge(st, 7, &removed, &err), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(store_ledger_find(st, "queue:OLD", HASH_A, "a@example.com", &got, &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_ledger_find(st, "queue:NEW", HASH_A, "a@example.com", &got, &err), 0);
}
END_TEST

/* ------------------------------------------------------------ integrity */

/* PostgreSQL checks its own pages: the store's check finds content without its chunks */
START_TEST(test_integrity_check_pg)
{
    const char *err = NULL;
    char id[21];

    add_text(id, "alice@example.com", "s@example.org", "fill");
    ck_assert_int_eq(store_integrity_check(st, &err), 0);
    tu_db_exec(db_path, "DELETE FROM content_chunk WHERE content_id = %lld",
               (long long)content_id_of(id));
    err = NULL;
    ck_assert_int_eq(store_integrity_check(st, &err), -1);
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_integrity_check)
{
    const char *err = NULL;
    unsigned char *body = tu_pattern(300000, 30);
    char id[21];

    for (int i = 0; i < 20; i++)
        add_text(id, "alice@example.com", "s@example.org", "fill");
    add1(id, "alice@example.com", "s@example.org", "big", body, 300000);
    ck_assert_int_eq(store_integrity_check(st, &err), 0);
    store_close(&st);

    /* damage one page of an index: the check must notice */
    sqlite3 *db = tu_raw_open(db_path);
    int64_t page = tu_raw_int(db, "SELECT rootpage FROM sqlite_master WHERE name = "
                                  "'quarantine_recipient'");
    int64_t size = tu_raw_int(db, "PRAGMA page_size");
    sqlite3_close(db);
    FILE *f = fopen(db_path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)((page - 1) * size + 8), SEEK_SET), 0);
    for (int i = 0; i < 64; i++)
        fputc(0xA5, f);
    fclose(f);
    st = open_store();
    err = NULL;
    ck_assert_int_eq(store_integrity_check(st, &err), -1);
    ck_assert_ptr_nonnull(err);
    free(body);
}
END_TEST

/* ------------------------------------------------------------ suite */

/* an action link works once, across connections; purge forgets expired nonces */
START_TEST(test_token_single_use)
{
    const char *err;
    int64_t later = (int64_t)time(NULL) + 3600;

    ck_assert_int_eq(store_token_seen(st, "nonce-1", &err), 0);
    ck_assert_int_eq(store_token_use(st, "nonce-1", later, &err), 0);
    ck_assert_int_eq(store_token_use(st, "nonce-1", later, &err), STORE_USED);
    reopen();
    ck_assert_int_eq(store_token_seen(st, "nonce-1", &err), STORE_USED);
    ck_assert_int_eq(store_token_use(st, "nonce-1", later, &err), STORE_USED);
    ck_assert_int_eq(store_token_use(st, "nonce-2", 1, &err), 0);
    ck_assert_int_eq(store_purge(st, 30, NULL, NULL, &err), 0);
    ck_assert_int_eq(store_token_seen(st, "nonce-2", &err), 0);
    ck_assert_int_eq(store_token_seen(st, "nonce-1", &err), STORE_USED);
}
END_TEST

/* login requests come out oldest first, once; rate limits count per key and window */
START_TEST(test_login_requests_and_rate)
{
    const char *err;
    char addr[257];
    int64_t id1, id2;

    ck_assert_int_eq(store_login_request_next(st, &id1, addr, sizeof(addr), &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_login_request_add(st, "alice@example.org", &err), 0);
    ck_assert_int_eq(store_login_request_add(st, "bob@example.org", &err), 0);
    ck_assert_int_eq(store_login_request_next(st, &id1, addr, sizeof(addr), &err), 0);
    ck_assert_str_eq(addr, "alice@example.org");
    ck_assert_int_eq(store_login_request_done(st, id1, true, &err), 0);
    ck_assert_int_eq(store_login_request_next(st, &id2, addr, sizeof(addr), &err), 0);
    ck_assert_str_eq(addr, "bob@example.org");
    ck_assert(id2 != id1);
    ck_assert_int_eq(store_login_request_done(st, id2, false, &err), 0);
    ck_assert_int_eq(store_login_request_next(st, &id2, addr, sizeof(addr), &err), STORE_NOTFOUND);

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(store_rate_hit(st, "login:a", 3600, 3, &err), 0);
    ck_assert_int_eq(store_rate_hit(st, "login:a", 3600, 3, &err), STORE_LIMITED);
    ck_assert_int_eq(store_rate_hit(st, "login:b", 3600, 3, &err), 0);
    reopen();
    ck_assert_int_eq(store_rate_hit(st, "login:a", 3600, 3, &err), STORE_LIMITED);
    /* a zero-length window starts afresh at every hit */
    ck_assert_int_eq(store_rate_hit(st, "login:a", 0, 3, &err), 0);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_open_creates_schema);
    tcase_add_test(tc, test_reopen_idempotent);
    tcase_add_test(tc, test_conninfo_password_refused);
    tcase_add_loop_test(tc, test_migrate_from_version, 0, (int)store_migration_count);
    if (tu_pg() != NULL) {
        tcase_add_test(tc, test_newer_version_refused_pg);
    } else {
        /* about the database file itself: PostgreSQL has its own tests above and below */
        tcase_add_test(tc, test_open_empty_file);
        tcase_add_test(tc, test_newer_version_refused);
        tcase_add_test(tc, test_database_files_private);
    }
    tcase_add_test(tc, test_key_file_created_0600);
    tcase_add_test(tc, test_key_file_readable_by_others_refused);
    tcase_add_test(tc, test_key_rotation);
    tcase_add_test(tc, test_key_rotation_seen_by_open_store);
    tcase_add_test(tc, test_content_unreadable_without_its_key);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("quarantine");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_test(tc, test_add_one);
    tcase_add_test(tc, test_add_three_recipients);
    tcase_add_test(tc, test_ids_unique);
    tcase_add_test(tc, test_get_unknown);
    tcase_add_test(tc, test_list_recipient_and_order);
    tcase_add_test(tc, test_list_status_filter);
    tcase_add_test(tc, test_web_list_sorts);
    tcase_add_test(tc, test_web_list_filters);
    tcase_add_test(tc, test_web_count);
    tcase_add_test(tc, test_statements_prepare);
    tcase_add_test(tc, test_list_search_escapes_wildcards);
    tcase_add_test(tc, test_list_limit_offset);
    tcase_add_test(tc, test_list_default_limit_50);
    tcase_add_test(tc, test_set_status);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("content");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_loop_test(tc, test_content_sizes, 0,
                        (int)(sizeof(content_sizes) / sizeof(content_sizes[0])));
    tcase_add_test(tc, test_content_write_failure);
    tcase_add_loop_test(tc, test_tampered_chunk_fails, 0, 3);
    tcase_add_test(tc, test_tampered_small_content_fails);
    tcase_add_test(tc, test_tampered_header_fails);
    tcase_add_test(tc, test_truncated_content_fails);
    tcase_add_test(tc, test_missing_middle_or_reordered_chunk_fails);
    tcase_add_test(tc, test_dedup);
    tcase_add_test(tc, test_add_failing_reader_stores_nothing);
    tcase_add_test(tc, test_add_changing_content_stores_nothing);
    if (tu_pg() != NULL)
        tcase_add_test(tc, test_failover_mid_transaction_pg);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("trace_lists_audit");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_test(tc, test_trace_add_list);
    tcase_add_test(tc, test_list_add_refresh_remove_show);
    tcase_add_test(tc, test_list_show_hides_expired);
    tcase_add_test(tc, test_list_match_address);
    tcase_add_test(tc, test_list_match_domain);
    tcase_add_test(tc, test_list_match_star);
    tcase_add_test(tc, test_list_match_expiry);
    tcase_add_test(tc, test_audit_add_list);
    tcase_add_test(tc, test_trace_add_many);
    tcase_add_test(tc, test_users_and_passwords);
    tcase_add_test(tc, test_consent);
    tcase_add_test(tc, test_spam_level);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("release");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_test(tc, test_release_request_not_found);
    tcase_add_test(tc, test_release_request_not_duplicated);
    tcase_add_test(tc, test_release_next_claims_once);
    tcase_add_test(tc, test_release_failed_temporary);
    tcase_add_test(tc, test_release_failed_permanent);
    tcase_add_test(tc, test_release_done_address);
    tcase_add_test(tc, test_release_done_domain_and_none);
    tcase_add_test(tc, test_release_state);
    tcase_add_test(tc, test_release_failed_keeps_reply_and_audits_end);
    tcase_add_test(tc, test_release_delivered_audited_by_origin_and_token);
    tcase_add_test(tc, test_restore_deleted_while_content_is_there);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("api_tokens");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_test(tc, test_apitoken_create_verify);
    tcase_add_test(tc, test_apitoken_revoke_expiry_last_used);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("purge");
    tcase_add_checked_fixture(tc, store_setup, dir_teardown);
    tcase_add_test(tc, test_purge);
    tcase_add_test(tc, test_purge_keeps_recent);
    tcase_add_test(tc, test_purge_trace);
    tcase_add_test(tc, tu_pg() != NULL ? test_integrity_check_pg : test_integrity_check);
    tcase_add_test(tc, test_token_single_use);
    tcase_add_test(tc, test_login_requests_and_rate);
    tcase_add_test(tc, test_ledger_add_find);
    tcase_add_test(tc, test_ledger_with_quarantine);
    tcase_add_test(tc, test_ledger_purge);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
