/*
 * test_spool.c - where a message waits while it is filtered and delivered.
 *
 * Small messages stay in memory, big ones move to an unlinked file in the
 * spool directory; either way the content must read back byte for byte, and a
 * failing spool must keep failing so that the message is answered 4xx instead
 * of being delivered truncated.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/spool.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);

static char *spool_dir;

static void setup(void)
{
    spool_dir = unit_tmpdir();
}

static void teardown(void)
{
    unit_rmtree(spool_dir);
    free(spool_dir);
    spool_dir = NULL;
}

/* dir_entries - number of names in dir besides "." and "..". */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* pattern - deterministic content that shows misplaced or lost bytes. */
static char *pattern(size_t len)
{
    char *p = malloc(len + 1);

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)((i * 31 + i / 251) & 0xff);
    return p;
}

/* read_all - rewind and read everything back in reads of at most step bytes. */
static char *read_all(struct spool *s, size_t step, size_t *len_r)
{
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);
    ssize_t n;

    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(spool_rewind(s), 0);
    for (;;) {
        if (len + step > cap) {
            cap = 2 * (len + step);
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        n = spool_read(s, buf + len, step);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        ck_assert_uint_le((size_t)n, step);
        len += (size_t)n;
    }
    *len_r = len;
    return buf;
}

/* write_in_pieces - write data in pieces of varying size. */
static void write_in_pieces(struct spool *s, const char *data, size_t len)
{
    static const size_t sizes[] = {1, 7, 100, 4095, 3, 65536, 12};
    size_t pos = 0, k = 0;

    while (pos < len) {
        size_t n = sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];
        if (n > len - pos)
            n = len - pos;
        ck_assert_int_eq(spool_write(s, data + pos, n), 0);
        pos += n;
    }
}

START_TEST(small_stays_in_memory)
{
    struct spool *s = spool_new(4096, spool_dir);
    char *data = pattern(100), *back;
    size_t len;

    ck_assert_int_eq(spool_write(s, data, 100), 0);
    ck_assert(!spool_on_disk(s));
    ck_assert_uint_eq(spool_size(s), 100);
    ck_assert_int_eq(dir_entries(spool_dir), 0);
    back = read_all(s, 33, &len);
    ck_assert_uint_eq(len, 100);
    ck_assert_mem_eq(back, data, 100);
    ck_assert_int_eq(spool_error(s), 0);
    spool_free(&s);
    ck_assert_ptr_null(s);
    free(back);
    free(data);
}
END_TEST

START_TEST(threshold)
{
    struct spool *s = spool_new(4096, spool_dir);
    char *data = pattern(4097), *back;
    size_t len;

    /* exactly the threshold still fits in memory */
    ck_assert_int_eq(spool_write(s, data, 4000), 0);
    ck_assert_int_eq(spool_write(s, data + 4000, 96), 0);
    ck_assert(!spool_on_disk(s));
    /* one byte more moves everything to a file */
    ck_assert_int_eq(spool_write(s, data + 4096, 1), 0);
    ck_assert(spool_on_disk(s));
    ck_assert_uint_eq(spool_size(s), 4097);
    back = read_all(s, 4096, &len);
    ck_assert_uint_eq(len, 4097);
    ck_assert_mem_eq(back, data, 4097);
    spool_free(&s);
    free(back);
    free(data);
}
END_TEST

START_TEST(big_goes_to_disk)
{
    const size_t size = 3 * 1024 * 1024 + 17;
    struct spool *s = spool_new(65536, spool_dir);
    char *data = pattern(size), *back;
    size_t len;

    write_in_pieces(s, data, size);
    ck_assert(spool_on_disk(s));
    ck_assert_uint_eq(spool_size(s), size);
    /* the file is anonymous: nothing is left behind if opesd dies */
    ck_assert_int_eq(dir_entries(spool_dir), 0);
    back = read_all(s, 10000, &len);
    ck_assert_uint_eq(len, size);
    ck_assert_mem_eq(back, data, size);
    free(back);
    /* reading twice gives the same content */
    back = read_all(s, 65536, &len);
    ck_assert_uint_eq(len, size);
    ck_assert_mem_eq(back, data, size);
    free(back);
    ck_assert_int_eq(spool_error(s), 0);
    spool_free(&s);
    free(data);
}
END_TEST

START_TEST(big_write_at_once)
{
    const size_t size = 100000;
    struct spool *s = spool_new(4096, spool_dir);
    char *data = pattern(size), *back;
    size_t len;

    ck_assert_int_eq(spool_write(s, data, size), 0);
    ck_assert(spool_on_disk(s));
    back = read_all(s, 777, &len);
    ck_assert_uint_eq(len, size);
    ck_assert_mem_eq(back, data, size);
    spool_free(&s);
    free(back);
    free(data);
}
END_TEST

/* an empty message (DATA then "." at once) reads back as empty */
START_TEST(empty)
{
    struct spool *s = spool_new(4096, spool_dir);
    char buf[16];

    ck_assert_uint_eq(spool_size(s), 0);
    ck_assert_int_eq(spool_rewind(s), 0);
    ck_assert_int_eq(spool_read(s, buf, sizeof(buf)), 0);
    spool_free(&s);
}
END_TEST

START_TEST(missing_dir_fails)
{
    char *dir;
    struct spool *s;
    int err;

    ck_assert_int_ge(asprintf(&dir, "%s/no/such/dir", spool_dir), 0);
    s = spool_new(16, dir);
    /* below the threshold nothing touches the directory */
    ck_assert_int_eq(spool_write(s, "0123456789", 10), 0);
    ck_assert_int_eq(spool_error(s), 0);
    /* the first write past it must fail, and say why */
    errno = 0;
    ck_assert_int_eq(spool_write(s, "0123456789", 10), -1);
    err = spool_error(s);
    ck_assert_int_ne(err, 0);
    ck_assert_int_eq(errno, err);
    /* and every later write too, even a small one */
    errno = 0;
    ck_assert_int_eq(spool_write(s, "x", 1), -1);
    ck_assert_int_eq(errno, err);
    ck_assert_int_eq(spool_error(s), err);
    spool_free(&s);
    free(dir);
}
END_TEST

/* a spool directory that is a file fails the same way */
START_TEST(dir_is_a_file)
{
    char *path;
    struct spool *s;
    FILE *fp;

    ck_assert_int_ge(asprintf(&path, "%s/file", spool_dir), 0);
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    s = spool_new(8, path);
    ck_assert_int_eq(spool_write(s, "0123456789", 10), -1);
    ck_assert_int_ne(spool_error(s), 0);
    ck_assert_int_eq(spool_write(s, "0", 1), -1);
    spool_free(&s);
    free(path);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("spool");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, small_stays_in_memory);
    tcase_add_test(tc, threshold);
    tcase_add_test(tc, big_goes_to_disk);
    tcase_add_test(tc, big_write_at_once);
    tcase_add_test(tc, empty);
    tcase_add_test(tc, missing_dir_fails);
    tcase_add_test(tc, dir_is_a_file);
    suite_add_tcase(s, tc);
    return s;
}
