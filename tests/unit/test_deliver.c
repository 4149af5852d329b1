/*
 * test_deliver.c - the parts of the delivery module that need no store: the
 * address of a recipient's Junk folder (deliver_junk_address), which the
 * folder replaces any detail of, within the caller's buffer. The deliveries
 * themselves are tested against real stores (tests/integration/test_junk.py).
 */
#include <check.h>
#include <stddef.h>

#include "opes/deliver.h"

Suite *unit_suite(void);

static const struct {
    const char *rcpt;
    char delim;
    const char *folder, *want; /* NULL: refused */
} junk_tests[] = {
    {"alice@example.org", '+', "Junk", "alice+Junk@example.org"},
    {"alice+lists@example.org", '+', "Junk", "alice+Junk@example.org"},
    {"Alice.Smith@example.org", '-', "Spam", "Alice.Smith-Spam@example.org"},
    {"a-b-c@example.org", '-', "Junk", "a-Junk@example.org"},
    {"a+b@example.org", '-', "Junk", "a+b-Junk@example.org"},
    {"postmaster", '+', "Junk", "postmaster+Junk"},
    {"\"a b\"@example.org", '+', "Junk", NULL},
    {"@example.org", '+', "Junk", NULL},
};

START_TEST(junk_address)
{
    char out[64];
    int rc = deliver_junk_address(junk_tests[_i].rcpt, junk_tests[_i].delim, junk_tests[_i].folder,
                                  out, sizeof(out));

    if (junk_tests[_i].want == NULL) {
        ck_assert_int_eq(rc, -1);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out, junk_tests[_i].want);
}
END_TEST

START_TEST(junk_address_bounds)
{
    char out[23]; /* "alice+Junk@example.org" and its NUL */

    ck_assert_int_eq(deliver_junk_address("alice@example.org", '+', "Junk", out, sizeof(out)), 0);
    ck_assert_int_eq(deliver_junk_address("alice@example.org", '+', "Junk", out, sizeof(out) - 1),
                     -1);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("deliver");
    TCase *tc = tcase_create("junk_address");

    tcase_add_loop_test(tc, junk_address, 0, (int)(sizeof(junk_tests) / sizeof(junk_tests[0])));
    tcase_add_test(tc, junk_address_bounds);
    suite_add_tcase(s, tc);
    return s;
}
