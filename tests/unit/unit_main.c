/*
 * unit_main.c - the runner and the few helpers shared by the Check suites.
 *
 * Every test_<module>.c defines unit_suite(); this file runs it and turns the
 * number of failed tests into the exit status that CTest reads. The helpers
 * give each test a private temporary directory below one directory per run,
 * which the runner removes at the end even when tests failed or crashed (Check
 * runs each test in a child process that then skips its own teardown).
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

static char *unit_base;

/* unit_tmpdir - a new empty directory for one test; caller frees. */
char *unit_tmpdir(void)
{
    char *path;

    if (asprintf(&path, "%s/t.XXXXXX", unit_base) < 0)
        abort();
    if (mkdtemp(path) == NULL) {
        perror(path);
        abort();
    }
    return path;
}

static int unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* unit_rmtree - remove dir and everything below it. */
void unit_rmtree(const char *dir)
{
    nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* unit_write_file - write data to dir/name; returns the path (caller frees). */
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char *path;
    FILE *fp;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
        perror(path);
        abort();
    }
    return path;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;

    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    if (asprintf(&unit_base, "%s/opes-unit.XXXXXX", tmp) < 0 || mkdtemp(unit_base) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    sr = srunner_create(unit_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    unit_rmtree(unit_base);
    free(unit_base);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
