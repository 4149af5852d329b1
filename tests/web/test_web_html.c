/*
 * test_web_html.c - the one escaping function and the page builder.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "opes/web_html.h"

Suite *unit_suite(void);

static char *take(struct html *h)
{
    size_t n;
    char *s = html_take(h, &n);
    ck_assert_uint_eq(strlen(s), n);
    return s;
}

START_TEST(strings_are_escaped)
{
    struct html h = {0};
    char *s;

    html_add(&h, "<p title=\"%s\">%s</p>", "a\"b'c", "<script>alert(1)</script> & more");
    s = take(&h);
    ck_assert_str_eq(s, "<p title=\"a&quot;b&#39;c\">&lt;script&gt;alert(1)&lt;/script&gt; "
                        "&amp; more</p>");
    free(s);
}
END_TEST

START_TEST(control_bytes_dropped)
{
    struct html h = {0};
    char *s;

    html_add(&h, "%s", "red\x1b[31m\r\nline\x7f\tend");
    s = take(&h);
    ck_assert_str_eq(s, "red[31m\nline\tend");
    free(s);
}
END_TEST

START_TEST(numbers_and_urls)
{
    struct html h = {0};
    char *s;

    html_add(&h, "%d %u %z %L %% <a href=\"/q?x=%U\">", -3, 7u, (size_t)42, (int64_t)1 << 40,
             "a b/<\"&>@x.org");
    s = take(&h);
    ck_assert_str_eq(s, "-3 7 42 1099511627776 % <a href=\"/q?x=a%20b%2F%3C%22%26%3E@x.org\">");
    free(s);
}
END_TEST

START_TEST(null_string_prints_nothing)
{
    struct html h = {0};
    char *s;

    html_add(&h, "[%s]", (const char *)NULL);
    s = take(&h);
    ck_assert_str_eq(s, "[]");
    free(s);
}
END_TEST

START_TEST(paragraphs)
{
    struct html h = {0};
    char *s;

    html_paragraphs(&h, "First <b>one</b>\nstill first\n\n\n\nSecond & last\n");
    s = take(&h);
    ck_assert_str_eq(s, "<p>First &lt;b&gt;one&lt;/b&gt;\nstill first</p>\n"
                        "<p>Second &amp; last\n</p>\n");
    free(s);
}
END_TEST

START_TEST(grows)
{
    struct html h = {0};
    char *s;

    for (int i = 0; i < 5000; i++)
        html_add(&h, "%s", "<>");
    s = take(&h);
    ck_assert_uint_eq(strlen(s), 5000 * 8);
    free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_html");
    TCase *tc = tcase_create("html");

    tcase_add_test(tc, strings_are_escaped);
    tcase_add_test(tc, control_bytes_dropped);
    tcase_add_test(tc, numbers_and_urls);
    tcase_add_test(tc, null_string_prints_nothing);
    tcase_add_test(tc, paragraphs);
    tcase_add_test(tc, grows);
    suite_add_tcase(s, tc);
    return s;
}
