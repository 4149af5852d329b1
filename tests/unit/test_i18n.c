/*
 * test_i18n.c - the message catalogs: every shipped language has every key
 * of English with the same arguments, and languages, sizes and dates are
 * written as a reader of that language expects.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/i18n.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

/* args_of - the "{name}" arguments of a text, sorted, joined by spaces. */
static void args_of(const char *text, char *out, size_t size)
{
    char names[32][40];
    size_t n = 0, off = 0;
    for (const char *p = strchr(text, '{'); p != NULL && n < 32; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        if (close == NULL || close - p > 32)
            continue;
        snprintf(names[n++], sizeof(names[0]), "%.*s", (int)(close - p - 1), p + 1);
    }
    qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(out + off, size - off, "%s ", names[i]);
}

START_TEST(builtin_catalogs_load)
{
    char error[256] = "";
    ck_assert_msg(i18n_init(NULL, error, sizeof(error)) == 0, "%s", error);
    ck_assert_str_eq(i18n_languages(), "en de");
}
END_TEST

START_TEST(every_language_has_every_key_with_the_same_arguments)
{
    char langs[256], *save = NULL;
    snprintf(langs, sizeof(langs), "%s", i18n_languages());
    for (char *lang = strtok_r(langs, " ", &save); lang != NULL;
         lang = strtok_r(NULL, " ", &save)) {
        const char *key, *text;
        size_t i;
        if (strcmp(lang, I18N_BASE) == 0)
            continue;
        for (i = 0; (key = i18n_key_at(I18N_BASE, i, &text)) != NULL; i++) {
            char want[512], got[512];
            ck_assert_msg(i18n_has(lang, key), "catalog %s lacks the key %s", lang, key);
            args_of(text, want, sizeof(want));
            args_of(i18n_text(lang, key), got, sizeof(got));
            ck_assert_msg(strcmp(want, got) == 0, "%s in %s has arguments {%s}, English {%s}", key,
                          lang, got, want);
        }
        for (i = 0; (key = i18n_key_at(lang, i, NULL)) != NULL; i++)
            ck_assert_msg(i18n_has(I18N_BASE, key), "catalog %s has %s, which English lacks", lang,
                          key);
    }
}
END_TEST

START_TEST(negotiation_prefers_the_preference_then_the_browser)
{
    ck_assert_str_eq(i18n_negotiate("de", "en-US,en;q=0.9", "en"), "de");
    ck_assert_str_eq(i18n_negotiate(NULL, "fr-FR,de-CH;q=0.8,en;q=0.5", "en"), "de");
    ck_assert_str_eq(i18n_negotiate("", "DE", NULL), "de");
    ck_assert_str_eq(i18n_negotiate("xx", "fr, it;q=0.5", "de"), "de");
    ck_assert_str_eq(i18n_negotiate(NULL, "de;q=0, en;q=0.1", "de"), "en");
    ck_assert_str_eq(i18n_negotiate(NULL, NULL, NULL), "en");
    ck_assert_str_eq(i18n_negotiate(NULL, ",;;q=,deutsch", "en"), "en");
}
END_TEST

START_TEST(sizes_and_numbers_read_as_people_write_them)
{
    char b[64];
    i18n_size(b, sizeof(b), "en", 1);
    ck_assert_str_eq(b, "1 byte");
    i18n_size(b, sizeof(b), "en", 812);
    ck_assert_str_eq(b, "812 bytes");
    i18n_size(b, sizeof(b), "en", 1025);
    ck_assert_str_eq(b, "2 KB");
    i18n_size(b, sizeof(b), "en", 1468006);
    ck_assert_str_eq(b, "1.4 MB");
    i18n_size(b, sizeof(b), "de", 1468006);
    ck_assert_str_eq(b, "1,4 MB");
    i18n_number(b, sizeof(b), "de", 14.25);
    ck_assert_str_eq(b, "14,2");
}
END_TEST

START_TEST(dates_in_the_readers_zone_and_language)
{
    char b[128];
    time_t t = 1795000000; /* Wed 2026-11-18 11:06:40 UTC */
    i18n_date(b, sizeof(b), "en", "UTC", t, I18N_DATETIME);
    ck_assert_str_eq(b, "Wed 18 Nov 2026, 11:06");
    i18n_date(b, sizeof(b), "de", "Europe/Berlin", t, I18N_DATETIME);
    ck_assert_str_eq(b, "Mi., 18. Nov. 2026, 12:06");
    i18n_date(b, sizeof(b), "en", "America/New_York", t, I18N_TIME);
    ck_assert_str_eq(b, "06:06");
    ck_assert_int_eq(i18n_day_number("UTC", t + 12 * 3600), 20261118);
    ck_assert_int_eq(i18n_day_number("Pacific/Kiritimati", t + 12 * 3600), 20261119);
    ck_assert(i18n_tz_valid("Europe/Berlin"));
    ck_assert(!i18n_tz_valid("../etc/passwd"));
    ck_assert(!i18n_tz_valid("Europe"));
    ck_assert(!i18n_tz_valid("Mars/Olympus"));
}
END_TEST

START_TEST(fill_keeps_unknown_names_and_cuts_safely)
{
    char b[16];
    const char *args[] = {"n", "3", NULL};
    size_t need = i18n_fill(b, sizeof(b), "{n} of {m} held", args);
    ck_assert_str_eq(b, "3 of {m} held");
    ck_assert_uint_eq(need, 13);
    need = i18n_fill(b, 8, "{n} messages held", args);
    ck_assert_str_eq(b, "3 messa");
    ck_assert_uint_eq(need, 15);
    ck_assert_str_eq(i18n_text("de", "no.such.key"), "no.such.key");
    ck_assert_str_eq(i18n_plural("en", "size.bytes", 1), "{n} byte");
}
END_TEST

START_TEST(operator_files_replace_keys_and_add_languages)
{
    char *dir = unit_tmpdir(), error[256] = "";
    free(unit_write_file(dir, "common.de", "size.kb = {n} kB\n", 17));
    free(unit_write_file(dir, "common.fr", "# French, partly\nlang.en = Anglais\n", 35));
    ck_assert_msg(i18n_init(dir, error, sizeof(error)) == 0, "%s", error);
    ck_assert_str_eq(i18n_text("de", "size.kb"), "{n} kB");
    ck_assert(i18n_language_known("fr"));
    ck_assert_str_eq(i18n_text("fr", "lang.en"), "Anglais");
    ck_assert_str_eq(i18n_text("fr", "size.mb"), "{n} MB"); /* English where French lacks it */
    unit_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(a_malformed_operator_file_is_refused_with_its_line)
{
    char *dir = unit_tmpdir(), error[256] = "";
    free(unit_write_file(dir, "web.de", "ok.key = fine\nno equals sign here\n", 35));
    ck_assert_int_eq(i18n_init(dir, error, sizeof(error)), -1);
    ck_assert_ptr_nonnull(strstr(error, "web.de line 2"));
    unit_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(a_catalog_is_checked_without_loading_it)
{
    char error[256] = "";
    ck_assert_int_eq(
        i18n_check_catalog("# fine\nweb.x = one\nweb.y = two {n}\n", error, sizeof(error)), 0);
    ck_assert_int_eq(i18n_check_catalog("web.x = one\nweb.x = again\n", error, sizeof(error)), -1);
    ck_assert_ptr_nonnull(strstr(error, "line 2: key web.x defined twice"));
    ck_assert_int_eq(i18n_check_catalog("bad key = x\n", error, sizeof(error)), -1);
    ck_assert_str_eq(i18n_text("en", "web.x"), "web.x"); /* nothing was loaded */
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("i18n");
    TCase *tc = tcase_create("i18n");
    tcase_add_test(tc, builtin_catalogs_load);
    tcase_add_test(tc, every_language_has_every_key_with_the_same_arguments);
    tcase_add_test(tc, negotiation_prefers_the_preference_then_the_browser);
    tcase_add_test(tc, sizes_and_numbers_read_as_people_write_them);
    tcase_add_test(tc, dates_in_the_readers_zone_and_language);
    tcase_add_test(tc, fill_keeps_unknown_names_and_cuts_safely);
    tcase_add_test(tc, operator_files_replace_keys_and_add_languages);
    tcase_add_test(tc, a_malformed_operator_file_is_refused_with_its_line);
    tcase_add_test(tc, a_catalog_is_checked_without_loading_it);
    suite_add_tcase(s, tc);
    return s;
}
