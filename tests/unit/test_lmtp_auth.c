/*
 * test_lmtp_auth.c - the AUTH command sent to a mailbox store that demands
 * authentication (RFC 4616 PLAIN, RFC 4954 EXTERNAL with an empty response).
 */
#include <check.h>
#include <sodium.h>
#include <string.h>

#include "opes/lmtp_client.h"

Suite *unit_suite(void);

static struct lmtp_auth auth_plain(const char *user, const char *password)
{
    struct lmtp_auth a;

    memset(&a, 0, sizeof(a));
    a.mech = LMTP_AUTH_PLAIN;
    strcpy(a.user, user);
    strcpy(a.password, password);
    return a;
}

START_TEST(plain_is_base64_of_nul_user_nul_password)
{
    struct lmtp_auth a = auth_plain("lmtpadmin", "s3cret-pw");
    char line[512];
    unsigned char bin[128];
    size_t binlen;
    int n = lmtp_auth_line(&a, line, sizeof(line));

    ck_assert_int_eq(n, (int)strlen(line));
    /* printf '\0lmtpadmin\0s3cret-pw' | base64 */
    ck_assert_str_eq(line, "AUTH PLAIN AGxtdHBhZG1pbgBzM2NyZXQtcHc=");
    ck_assert_int_eq(sodium_base642bin(bin, sizeof(bin), line + 11, strlen(line + 11), NULL,
                                       &binlen, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    ck_assert_uint_eq(binlen, 1 + 9 + 1 + 9);
    ck_assert_mem_eq(bin, "\0lmtpadmin\0s3cret-pw", binlen);
}
END_TEST

START_TEST(plain_rfc4616_example)
{
    /* RFC 4616 4: authcid "tim", passwd "tanstaaftanstaaf", no authzid */
    struct lmtp_auth a = auth_plain("tim", "tanstaaftanstaaf");
    char line[512];

    ck_assert_int_gt(lmtp_auth_line(&a, line, sizeof(line)), 0);
    ck_assert_str_eq(line, "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
}
END_TEST

START_TEST(plain_utf8_and_padding)
{
    struct lmtp_auth a = auth_plain("us\xc3\xa9r", "p");
    char line[512];

    ck_assert_int_gt(lmtp_auth_line(&a, line, sizeof(line)), 0);
    /* 00 75 73 c3 a9 72 00 70 */
    ck_assert_str_eq(line, "AUTH PLAIN AHVzw6lyAHA=");
}
END_TEST

START_TEST(external_sends_empty_response)
{
    struct lmtp_auth a;
    char line[64];

    memset(&a, 0, sizeof(a));
    a.mech = LMTP_AUTH_EXTERNAL;
    ck_assert_int_eq(lmtp_auth_line(&a, line, sizeof(line)), 15);
    ck_assert_str_eq(line, "AUTH EXTERNAL =");
}
END_TEST

START_TEST(too_small_or_none_fails)
{
    struct lmtp_auth a = auth_plain("lmtpadmin", "s3cret-pw");
    char line[64];

    /* "AUTH PLAIN " plus 28 base64 characters plus NUL need 40 bytes */
    ck_assert_int_eq(lmtp_auth_line(&a, line, 39), -1);
    ck_assert_int_gt(lmtp_auth_line(&a, line, 40), 0);
    ck_assert_int_eq(lmtp_auth_line(&a, line, 10), -1);
    a.mech = LMTP_AUTH_NONE;
    ck_assert_int_eq(lmtp_auth_line(&a, line, sizeof(line)), -1);
    a.mech = LMTP_AUTH_EXTERNAL;
    ck_assert_int_eq(lmtp_auth_line(&a, line, 15), -1);
}
END_TEST

START_TEST(longest_credentials_fit)
{
    struct lmtp_auth a;
    char line[1024];

    memset(&a, 'x', sizeof(a));
    a.mech = LMTP_AUTH_PLAIN;
    a.user[255] = '\0';
    a.password[255] = '\0';
    ck_assert_int_gt(lmtp_auth_line(&a, line, sizeof(line)), 0);
    ck_assert_uint_eq(strlen(line), 11 + 4 * ((2 + 255 + 255 + 2) / 3));
    a.password[255] = 'x'; /* not terminated: refused, never read past the field */
    ck_assert_int_eq(lmtp_auth_line(&a, line, sizeof(line)), -1);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("lmtp_auth");
    TCase *tc = tcase_create("auth_line");

    tcase_add_test(tc, plain_is_base64_of_nul_user_nul_password);
    tcase_add_test(tc, plain_rfc4616_example);
    tcase_add_test(tc, plain_utf8_and_padding);
    tcase_add_test(tc, external_sends_empty_response);
    tcase_add_test(tc, too_small_or_none_fails);
    tcase_add_test(tc, longest_credentials_fit);
    suite_add_tcase(s, tc);
    return s;
}
