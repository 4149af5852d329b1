/*
 * test_web_form.c - the portal's form and query parser: decoding, bounds and
 * malformed input (which must never yield half a form).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "opes/web_form.h"

Suite *unit_suite(void);

START_TEST(fields_decoded)
{
    struct web_form f = {0};
    static const char in[] = "a=1&b=hello+world&c=%3Cx%3E%26&&d&e=&%C3%A9=caf%C3%a9";

    ck_assert_int_eq(web_form_parse(&f, in, strlen(in)), WEB_FORM_OK);
    ck_assert_uint_eq(f.n, 6);
    ck_assert_str_eq(web_form_get(&f, "a"), "1");
    ck_assert_str_eq(web_form_get(&f, "b"), "hello world");
    ck_assert_str_eq(web_form_get(&f, "c"), "<x>&");
    ck_assert_str_eq(web_form_get(&f, "d"), "");
    ck_assert_str_eq(web_form_get(&f, "e"), "");
    ck_assert_str_eq(web_form_get(&f, "\xc3\xa9"), "caf\xc3\xa9");
    ck_assert_ptr_null(web_form_get(&f, "missing"));
    web_form_free(&f);
}
END_TEST

START_TEST(repeated_names)
{
    struct web_form f = {0};
    static const char in[] = "id=one&action=release&id=two&id=three";
    size_t pos = 0;

    ck_assert_int_eq(web_form_parse(&f, in, strlen(in)), WEB_FORM_OK);
    ck_assert_str_eq(web_form_next(&f, "id", &pos), "one");
    ck_assert_str_eq(web_form_next(&f, "id", &pos), "two");
    ck_assert_str_eq(web_form_next(&f, "id", &pos), "three");
    ck_assert_ptr_null(web_form_next(&f, "id", &pos));
    web_form_free(&f);
}
END_TEST

static const char *const malformed[] = {
    "a=%zz", "a=%4", "a=%", "a=1&b=%0", "%=1", "a=%00", "a=x%00y", "a=%g1",
};

START_TEST(malformed_is_refused_whole)
{
    struct web_form f = {0};
    const char *in = malformed[_i];

    ck_assert_msg(web_form_parse(&f, in, strlen(in)) == WEB_FORM_MALFORMED, "%s accepted", in);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_ptr_null(web_form_get(&f, "a"));
    web_form_free(&f);
}
END_TEST

START_TEST(embedded_nul_byte)
{
    struct web_form f = {0};
    static const char in[] = "a=1\0b=2";

    ck_assert_int_eq(web_form_parse(&f, in, sizeof(in) - 1), WEB_FORM_MALFORMED);
    web_form_free(&f);
}
END_TEST

START_TEST(bounds)
{
    struct web_form f = {0};
    size_t n = (WEB_FORM_MAX_FIELDS + 1) * 4;
    char *many = malloc(n + 1), *huge = malloc(WEB_FORM_MAX_INPUT + 2);

    for (size_t i = 0; i < WEB_FORM_MAX_FIELDS + 1; i++)
        memcpy(many + i * 4, "x=1&", 4);
    ck_assert_int_eq(web_form_parse(&f, many, n), WEB_FORM_TOO_BIG);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_int_eq(web_form_parse(&f, many, WEB_FORM_MAX_FIELDS * 4), WEB_FORM_OK);
    ck_assert_uint_eq(f.n, WEB_FORM_MAX_FIELDS);
    ck_assert_int_eq(web_form_add(&f, "one", "more"), -1);
    memset(huge, 'a', WEB_FORM_MAX_INPUT + 1);
    ck_assert_int_eq(web_form_parse(&f, huge, WEB_FORM_MAX_INPUT + 1), WEB_FORM_TOO_BIG);
    web_form_free(&f);
    free(many);
    free(huge);
}
END_TEST

START_TEST(add_keeps_parsed_fields)
{
    struct web_form f = {0};

    ck_assert_int_eq(web_form_parse(&f, "q=a%20b", 7), WEB_FORM_OK);
    ck_assert_int_eq(web_form_add(&f, "status", "held"), 0);
    ck_assert_int_eq(web_form_add(&f, "page", "2"), 0);
    ck_assert_str_eq(web_form_get(&f, "q"), "a b");
    ck_assert_str_eq(web_form_get(&f, "status"), "held");
    ck_assert_str_eq(web_form_get(&f, "page"), "2");
    web_form_free(&f);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_form");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, fields_decoded);
    tcase_add_test(tc, repeated_names);
    tcase_add_loop_test(tc, malformed_is_refused_whole, 0,
                        (int)(sizeof(malformed) / sizeof(malformed[0])));
    tcase_add_test(tc, embedded_nul_byte);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, add_keeps_parsed_fields);
    suite_add_tcase(s, tc);
    return s;
}
