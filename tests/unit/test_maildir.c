/*
 * test_maildir.c - the built-in Maildir target.
 *
 * maildir_expand turns a recipient into a directory, so it is the guard
 * against an address that climbs out of the mail root; maildir_deliver must
 * leave exactly one complete message in new/ with LF line ends, the trace
 * header block first.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "opes/maildir.h"
#include "opes/spool.h"
#include "opes/variant.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define LIT(s) s, sizeof(s) - 1

/* deliver - prefix + spool as one copy */
static int deliver(const char *md, bool create, const char *prefix, size_t prefix_len,
                   struct spool *sp)
{
    struct variant v = {.prefix = prefix, .prefix_len = prefix_len, .spool = sp};

    return maildir_deliver(md, create, &v);
}

static char *tmpdir;

static void setup(void)
{
    tmpdir = unit_tmpdir();
}

static void teardown(void)
{
    unit_rmtree(tmpdir);
    free(tmpdir);
    tmpdir = NULL;
}

/*
 * maildir_expand
 */

struct expand_test {
    const char *tmpl;
    const char *addr;
    const char *out; /* NULL: must be refused */
};

static const struct expand_test expand_tests[] = {
    {"/var/mail/%d/%u", "alice@example.org", "/var/mail/example.org/alice"},
    {"/var/mail/%d/%u", "Alice@Example.ORG", "/var/mail/example.org/alice"},
    {"/var/mail/%a", "Alice@Example.ORG", "/var/mail/alice@example.org"},
    {"/Mail/%u/Maildir", "BOB@example.org", "/Mail/bob/Maildir"},
    {"/var/mail/100%%/%u", "bob@example.org", "/var/mail/100%/bob"},
    {"/var/mail/%%u", "bob@example.org", "/var/mail/%u"},
    {"/m/%u", "first.last+tag@example.org", "/m/first.last+tag"},
    {"/m/%u", "postmaster", "/m/postmaster"},
    {"/m/%u-%d", "a@b.example", "/m/a-b.example"},
    /* addresses that would escape the template */
    {"/var/mail/%u", "a/b@example.org", NULL},
    {"/var/mail/%u", "../../etc@example.org", NULL},
    {"/var/mail/%u", ".hidden@example.org", NULL},
    {"/var/mail/%u", "..@example.org", NULL},
    {"/var/mail/%u", "@example.org", NULL},
    {"/var/mail/%u", "", NULL},
    {"/var/mail/%d/%u", "bob@", NULL},
    {"/var/mail/%d/%u", "bob@..", NULL},
    {"/var/mail/%d/%u", "bob@.example.org", NULL},
    {"/var/mail/%d/%u", "bob@example.org/..", NULL},
    {"/var/mail/%d/%u", "postmaster", NULL},
    {"/var/mail/%a", ".bob@example.org", NULL},
    {"/var/mail/%a", "a/b@example.org", NULL},
    /* bad templates */
    {"/var/mail/%x", "bob@example.org", NULL},
    {"/var/mail/%", "bob@example.org", NULL},
};

START_TEST(expand)
{
    const struct expand_test *t = &expand_tests[_i];
    char out[256];
    int ret = maildir_expand(t->tmpl, t->addr, out, sizeof(out));

    if (t->out != NULL) {
        ck_assert_msg(ret == 0, "%s with <%s> refused", t->tmpl, t->addr);
        ck_assert_str_eq(out, t->out);
    } else {
        ck_assert_msg(ret < 0, "%s with <%s> gave \"%s\"", t->tmpl, t->addr, out);
    }
}
END_TEST

START_TEST(expand_bounds)
{
    char out[16];

    ck_assert_int_eq(maildir_expand("/m/%u", "abcdefghijkl@x", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/m/abcdefghijkl");
    ck_assert_int_lt(maildir_expand("/m/%u", "abcdefghijklm@x", out, sizeof(out)), 0);
    ck_assert_int_lt(maildir_expand("/mail/0123456789", "a@x", out, sizeof(out)), 0);
}
END_TEST

/*
 * maildir_check
 */

static char *path_in_tmp(const char *rel)
{
    char *p;

    ck_assert_int_ge(asprintf(&p, "%s/%s", tmpdir, rel), 0);
    return p;
}

START_TEST(check)
{
    char *md = path_in_tmp("alice"), *sub, *notmd = path_in_tmp("notmd"), *file;
    char longname[400];

    /* missing: unknown, unless it may be created */
    ck_assert_int_eq(maildir_check(md, false), MAILDIR_UNKNOWN);
    ck_assert_int_eq(maildir_check(md, true), MAILDIR_OK);
    /* a real maildir */
    ck_assert_int_eq(mkdir(md, 0700), 0);
    sub = path_in_tmp("alice/new");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(maildir_check(md, false), MAILDIR_OK);
    /* "new" that is not a directory */
    ck_assert_int_eq(mkdir(notmd, 0700), 0);
    file = unit_write_file(notmd, "new", "x", 1);
    ck_assert_int_eq(maildir_check(notmd, false), MAILDIR_UNKNOWN);
    /* a path the system refuses to look at is an error, not an unknown user */
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ck_assert_int_eq(maildir_check(longname, false), MAILDIR_ERROR);
    free(md);
    free(sub);
    free(notmd);
    free(file);
}
END_TEST

/*
 * maildir_deliver
 */

/* only_file - the one file name in dir (caller frees), or NULL when there are 0 or 2+. */
static char *only_file(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *name = NULL;

    *count = 0;
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        (*count)++;
        free(name);
        name = strdup(de->d_name);
    }
    closedir(d);
    if (*count != 1) {
        free(name);
        return NULL;
    }
    return name;
}

static char *read_file(const char *path, size_t *len_r)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long len;

    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *len_r = (size_t)len;
    return buf;
}

/* deliver_one - deliver and return the stored message; checks tmp/ and new/. */
static char *deliver_one(const char *md, bool create, const char *prefix, size_t prefix_len,
                         struct spool *sp, size_t *len_r)
{
    char *newdir, *tmpd, *name, *path, *msg;
    int count;
    struct stat st;

    ck_assert_msg(deliver(md, create, prefix, prefix_len, sp) == 0, "deliver: %s", strerror(errno));
    ck_assert_int_ge(asprintf(&newdir, "%s/new", md), 0);
    ck_assert_int_ge(asprintf(&tmpd, "%s/tmp", md), 0);
    name = only_file(newdir, &count);
    ck_assert_msg(count == 1, "%d files in new/", count);
    (void)only_file(tmpd, &count);
    ck_assert_msg(count == 0, "%d files left in tmp/", count);
    ck_assert_int_ge(asprintf(&path, "%s/%s", newdir, name), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    msg = read_file(path, len_r);
    free(newdir);
    free(tmpd);
    free(name);
    free(path);
    return msg;
}

START_TEST(deliver_basic)
{
    static const char prefix[] = "Received: from x\r\n\tby y; date\r\nOPES-System: u; trace=t\r\n";
    static const char body[] = "Subject: hi\r\n\r\nline one\r\nbare\rcr\r\n.dot\r\n";
    static const char expect[] = "Received: from x\n\tby y; date\nOPES-System: u; trace=t\n"
                                 "Subject: hi\n\nline one\nbare\rcr\n.dot\n";
    char *md = path_in_tmp("mail/example.org/alice"), *cur, *msg;
    struct spool *sp = spool_new(4096, tmpdir);
    struct stat st;
    size_t len;

    ck_assert_int_eq(spool_write(sp, LIT(body)), 0);
    msg = deliver_one(md, true, LIT(prefix), sp, &len);
    ck_assert_uint_eq(len, sizeof(expect) - 1);
    ck_assert_mem_eq(msg, expect, len);
    /* a complete maildir was created */
    ck_assert_int_ge(asprintf(&cur, "%s/cur", md), 0);
    ck_assert_int_eq(stat(cur, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(maildir_check(md, false), MAILDIR_OK);
    spool_free(&sp);
    free(msg);
    free(cur);
    free(md);
}
END_TEST

/* a CR at the end of the prefix and an LF at the start of the content are one line end */
START_TEST(deliver_crlf_across_prefix)
{
    char *md = path_in_tmp("m"), *msg;
    struct spool *sp = spool_new(4096, tmpdir);
    size_t len;

    ck_assert_int_eq(spool_write(sp, LIT("\nbody\r\n")), 0);
    msg = deliver_one(md, true, LIT("X-Trace: t\r"), sp, &len);
    ck_assert_uint_eq(len, 16);
    ck_assert_mem_eq(msg, "X-Trace: t\nbody\n", 16);
    spool_free(&sp);
    free(msg);
    free(md);
}
END_TEST

/*
 * a big message on disk: a CRLF split exactly across two reads of the spool,
 * many lines, and a bare CR at the very end
 */
START_TEST(deliver_big)
{
    const size_t lines = 20000, first = 65535;
    char *md = path_in_tmp("big"), *msg, *expect, *filler;
    struct spool *sp = spool_new(4096, tmpdir);
    size_t len, elen = 0;

    expect = malloc(first + lines * 40 + 16);
    filler = malloc(first);
    memset(filler, 'x', first);
    memcpy(expect, "P: 1\n", 5);
    elen = 5;
    ck_assert_int_eq(spool_write(sp, filler, first), 0);
    ck_assert_int_eq(spool_write(sp, "\r\n", 2), 0);
    memcpy(expect + elen, filler, first);
    elen += first;
    expect[elen++] = '\n';
    for (size_t i = 0; i < lines; i++) {
        char line[48];
        int n = snprintf(line, sizeof(line), "line %zu of the big message\r\n", i);
        ck_assert_int_eq(spool_write(sp, line, (size_t)n), 0);
        memcpy(expect + elen, line, (size_t)n - 2);
        elen += (size_t)n - 2;
        expect[elen++] = '\n';
    }
    ck_assert_int_eq(spool_write(sp, "\r", 1), 0);
    expect[elen++] = '\r';
    ck_assert(spool_on_disk(sp));
    msg = deliver_one(md, true, LIT("P: 1\r\n"), sp, &len);
    ck_assert_uint_eq(len, elen);
    ck_assert_mem_eq(msg, expect, elen);
    spool_free(&sp);
    free(msg);
    free(expect);
    free(filler);
    free(md);
}
END_TEST

/* DATA with nothing in it still yields a message: the trace header block */
START_TEST(deliver_empty_content)
{
    char *md = path_in_tmp("empty"), *msg;
    struct spool *sp = spool_new(4096, tmpdir);
    size_t len;

    msg = deliver_one(md, true, LIT("X-Trace: t\r\n"), sp, &len);
    ck_assert_uint_eq(len, 11);
    ck_assert_mem_eq(msg, "X-Trace: t\n", 11);
    spool_free(&sp);
    free(msg);
    free(md);
}
END_TEST

START_TEST(deliver_twice_two_files)
{
    char *md = path_in_tmp("two"), *newdir;
    struct spool *sp = spool_new(4096, tmpdir);
    int count;

    ck_assert_int_eq(spool_write(sp, LIT("a\r\n")), 0);
    ck_assert_int_eq(deliver(md, true, LIT("X: 1\r\n"), sp), 0);
    ck_assert_int_eq(deliver(md, true, LIT("X: 2\r\n"), sp), 0);
    ck_assert_int_ge(asprintf(&newdir, "%s/new", md), 0);
    (void)only_file(newdir, &count);
    ck_assert_int_eq(count, 2);
    spool_free(&sp);
    free(newdir);
    free(md);
}
END_TEST

START_TEST(deliver_missing_without_create)
{
    char *md = path_in_tmp("nobody/Maildir"), *parent = path_in_tmp("nobody");
    struct spool *sp = spool_new(4096, tmpdir);
    struct stat st;

    ck_assert_int_eq(spool_write(sp, LIT("a\r\n")), 0);
    errno = 0;
    ck_assert_int_eq(deliver(md, false, LIT("X: 1\r\n"), sp), -1);
    ck_assert_int_ne(errno, 0);
    /* and nothing was created on the way */
    ck_assert_int_lt(stat(parent, &st), 0);
    spool_free(&sp);
    free(md);
    free(parent);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("maildir");
    TCase *tc;

    tc = tcase_create("expand");
    tcase_add_loop_test(tc, expand, 0, (int)N_ELEMENTS(expand_tests));
    tcase_add_test(tc, expand_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("deliver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, check);
    tcase_add_test(tc, deliver_basic);
    tcase_add_test(tc, deliver_crlf_across_prefix);
    tcase_add_test(tc, deliver_big);
    tcase_add_test(tc, deliver_empty_content);
    tcase_add_test(tc, deliver_twice_two_files);
    tcase_add_test(tc, deliver_missing_without_create);
    suite_add_tcase(s, tc);
    return s;
}
