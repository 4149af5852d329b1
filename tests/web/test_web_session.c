/*
 * test_web_session.c - session ids (hashed at rest), idle and absolute
 * expiry, the admin flag, the CSRF comparison and the cookie attributes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/store.h"
#include "opes/web_session.h"
#include "web_testutil.h"

Suite *unit_suite(void);

START_TEST(hash_is_stable_and_distinct)
{
    unsigned char a[STORE_SESSION_HASH], b[STORE_SESSION_HASH], c[STORE_SESSION_HASH];

    web_session_hash("one-session-id", a);
    web_session_hash("one-session-id", b);
    web_session_hash("one-session-ie", c);
    ck_assert_mem_eq(a, b, sizeof(a));
    ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
}
END_TEST

START_TEST(alive_bounds)
{
    /* idle 600 s, absolute expiry at 10000 */
    ck_assert(web_session_alive(5000, 4500, 10000, 600));
    ck_assert(!web_session_alive(5100, 4500, 10000, 600));  /* idle exactly 600 s */
    ck_assert(!web_session_alive(10000, 9999, 10000, 600)); /* at the absolute expiry */
    ck_assert(web_session_alive(9999, 9999, 10000, 600));
}
END_TEST

START_TEST(create_lookup_expire)
{
    struct wt w;
    struct web_session s, got;
    char id[WEB_SESSION_TEXT], other[WEB_SESSION_TEXT];
    const char *error;
    struct store_web_session row;

    wt_open(&w, "");
    ck_assert_int_eq(
        web_session_create(w.st, "Alice@Example.org", false, 1000, 3600, id, &s, &error), 0);
    ck_assert_uint_eq(strlen(id), WEB_SESSION_TEXT - 1);
    ck_assert_str_eq(s.address, "alice@example.org");
    ck_assert_uint_ge(strlen(s.csrf), 40);
    /* the store knows the session by the hash of the id only */
    unsigned char raw[STORE_SESSION_HASH];
    memcpy(raw, id, STORE_SESSION_HASH);
    ck_assert_int_eq(store_web_session_get(w.st, raw, &row, &error), STORE_NOTFOUND);
    ck_assert_int_eq(store_web_session_get(w.st, s.hash, &row, &error), 0);

    ck_assert_int_eq(web_session_lookup(w.st, id, 1500, 600, &got, &error), 0);
    ck_assert(got.valid);
    ck_assert(!got.admin);
    ck_assert_str_eq(got.csrf, s.csrf);
    /* used at 1500: still alive at 2000, idle too long at 2101 (and then gone) */
    ck_assert_int_eq(web_session_lookup(w.st, id, 2000, 600, &got, &error), 0);
    ck_assert_int_eq(web_session_lookup(w.st, id, 2601, 600, &got, &error), 1);
    ck_assert(!got.valid);
    ck_assert_int_eq(web_session_lookup(w.st, id, 2000, 600, &got, &error), 1);

    /* absolute expiry, however busy the session */
    ck_assert_int_eq(
        web_session_create(w.st, "bob@example.org", false, 1000, 100, other, &s, &error), 0);
    ck_assert_int_eq(web_session_lookup(w.st, other, 1099, 600, &got, &error), 0);
    ck_assert_int_eq(web_session_lookup(w.st, other, 1100, 600, &got, &error), 1);
    /* unknown and malformed ids */
    other[0] = other[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(web_session_lookup(w.st, other, 1000, 600, &got, &error), 1);
    ck_assert_int_eq(web_session_lookup(w.st, "short", 1000, 600, &got, &error), 1);
    wt_close(&w);
}
END_TEST

START_TEST(admin_needs_password_session_and_role)
{
    struct wt w;
    struct web_session s, got;
    char id[WEB_SESSION_TEXT];
    const char *error;
    int64_t now = 1000;

    wt_open(&w, "");
    ck_assert_int_eq(store_user_add(w.st, "root@example.org", STORE_ROLE_ADMIN, &error), 0);
    /* a link-opened session of an admin's address is a recipient's session */
    web_session_create(w.st, "root@example.org", false, now, 3600, id, &s, &error);
    ck_assert_int_eq(web_session_lookup(w.st, id, now, 600, &got, &error), 0);
    ck_assert(!got.admin);
    web_session_create(w.st, "root@example.org", true, now, 3600, id, &s, &error);
    ck_assert_int_eq(web_session_lookup(w.st, id, now, 600, &got, &error), 0);
    ck_assert(got.admin);
    /* the role is checked on every request */
    ck_assert_int_eq(store_user_add(w.st, "root@example.org", STORE_ROLE_USER, &error), 0);
    ck_assert_int_eq(web_session_lookup(w.st, id, now, 600, &got, &error), 0);
    ck_assert(!got.admin);
    ck_assert_int_eq(web_session_end(w.st, &got, &error), 0);
    ck_assert_int_eq(web_session_lookup(w.st, id, now, 600, &got, &error), 1);
    wt_close(&w);
}
END_TEST

START_TEST(csrf_compare)
{
    ck_assert(web_session_csrf_ok("abcdef", "abcdef"));
    ck_assert(!web_session_csrf_ok("abcdef", "abcdeg"));
    ck_assert(!web_session_csrf_ok("abcdef", "abcde"));
    ck_assert(!web_session_csrf_ok("abcdef", "abcdefg"));
    ck_assert(!web_session_csrf_ok("abcdef", NULL));
    ck_assert(!web_session_csrf_ok("abcdef", ""));
    ck_assert(!web_session_csrf_ok("", ""));
}
END_TEST

START_TEST(cookie_attributes)
{
    char c[256];

    web_session_cookie(c, sizeof(c), "ID", true, 3600);
    ck_assert_str_eq(c, "opes_session=ID; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure");
    web_session_cookie(c, sizeof(c), "ID", false, 3600);
    ck_assert_ptr_null(strstr(c, "Secure"));
    web_session_cookie(c, sizeof(c), NULL, false, 3600);
    ck_assert_str_eq(c, "opes_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_session");
    TCase *tc = tcase_create("session");

    tcase_add_test(tc, hash_is_stable_and_distinct);
    tcase_add_test(tc, alive_bounds);
    tcase_add_test(tc, create_lookup_expire);
    tcase_add_test(tc, admin_needs_password_session_and_role);
    tcase_add_test(tc, csrf_compare);
    tcase_add_test(tc, cookie_attributes);
    suite_add_tcase(s, tc);
    return s;
}
