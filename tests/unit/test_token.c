/*
 * test_token.c - signed bypass and link tokens: what they open, and what they do not.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/keys.h"
#include "opes/token.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);

static struct keys *keys_in(const char *dir)
{
    char path[512];
    const char *error;
    struct keys *k;

    snprintf(path, sizeof(path), "%s/keys", dir);
    k = keys_load(path, &error);
    ck_assert_msg(k != NULL, "%s", error);
    return k;
}

START_TEST(issue_and_verify)
{
    char *dir = unit_tmpdir(), token[TOKEN_MAX];
    struct keys *k = keys_in(dir);
    const char *why = NULL;

    ck_assert_int_eq(token_bypass_issue(k, "Alice@Example.org", "@Remote.example", "spamd,banner",
                                        2000, token, sizeof(token)),
                     0);
    ck_assert_int_eq(
        token_bypass_verify(k, token, "alice@example.org", "x@remote.EXAMPLE", "spamd", 1999, &why),
        0);
    ck_assert_int_eq(token_bypass_verify(k, token, "alice@example.org", "x@remote.example",
                                         "banner", 1000, &why),
                     0);
    ck_assert_int_eq(
        token_bypass_verify(k, token, "alice@example.org", "x@remote.example", "spamd", 2000, &why),
        -1);
    ck_assert_str_eq(why, "expired");
    ck_assert_int_eq(
        token_bypass_verify(k, token, "bob@example.org", "x@remote.example", "spamd", 1000, &why),
        -1);
    ck_assert_str_eq(why, "forged or for another recipient");
    ck_assert_int_eq(
        token_bypass_verify(k, token, "alice@example.org", "x@other.example", "spamd", 1000, &why),
        -1);
    ck_assert_str_eq(why, "not for this sender");
    ck_assert_int_eq(
        token_bypass_verify(k, token, "alice@example.org", "x@remote.example", "spam", 1000, &why),
        -1);
    ck_assert_str_eq(why, "not for this service");
    keys_free(&k);
    free(dir);
}
END_TEST

/* changing any byte of the token (kid, expiry, sender, services, nonce, MAC) breaks it */
START_TEST(every_byte_counts)
{
    char *dir = unit_tmpdir(), token[TOKEN_MAX], bad[TOKEN_MAX];
    struct keys *k = keys_in(dir);
    const char *why;

    ck_assert_int_eq(
        token_bypass_issue(k, "a@example.org", "", "spamd", 5000, token, sizeof(token)), 0);
    for (size_t i = 3; i < strlen(token); i++) {
        if (token[i] == '.')
            continue;
        strcpy(bad, token);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ck_assert_msg(
            token_bypass_verify(k, bad, "a@example.org", "s@x.example", "spamd", 10, &why) != 0,
            "changed byte %zu still verifies: %s", i, bad);
    }
    ck_assert_int_eq(token_bypass_verify(k, "", "a@example.org", "s@x", "spamd", 10, &why), -1);
    ck_assert_int_eq(token_bypass_verify(k, "b1....", "a@example.org", "s@x", "spamd", 10, &why),
                     -1);
    keys_free(&k);
    free(dir);
}
END_TEST

/* tokens made with an older key generation still verify after a rotation */
START_TEST(rotation)
{
    char *dir = unit_tmpdir(), token[TOKEN_MAX], path[512];
    struct keys *k = keys_in(dir);
    const char *why, *error;

    ck_assert_int_eq(
        token_bypass_issue(k, "a@example.org", "", "spamd", 5000, token, sizeof(token)), 0);
    keys_free(&k);
    snprintf(path, sizeof(path), "%s/keys", dir);
    ck_assert_int_eq(keys_rotate(path, &error), 2);
    k = keys_in(dir);
    ck_assert_uint_eq(keys_current(k), 2);
    ck_assert_int_eq(token_bypass_verify(k, token, "a@example.org", "s@x", "spamd", 10, &why), 0);
    keys_free(&k);
    free(dir);
}
END_TEST

/* a link token carries who, what and until when; any changed byte is refused */
START_TEST(link_round_trip)
{
    char *dir = unit_tmpdir(), token[TOKEN_MAX], bad[TOKEN_MAX];
    struct keys *k = keys_in(dir);
    struct token_link l = {.purpose = TOKEN_ACTION,
                           .recipient = "Alice@Example.org",
                           .item = "ABCDEFGHIJKLMNOPQRST",
                           .action = "release",
                           .expires = 3000};
    struct token_link got;
    const char *why;

    ck_assert_int_eq(token_link_issue(k, &l, token, sizeof(token)), 0);
    ck_assert_uint_eq(strlen(l.nonce), TOKEN_NONCE_TEXT - 1);
    ck_assert_int_eq(token_link_verify(k, token, 2999, &got, &why), 0);
    ck_assert_int_eq(got.purpose, TOKEN_ACTION);
    ck_assert_str_eq(got.recipient, "alice@example.org");
    ck_assert_str_eq(got.item, "ABCDEFGHIJKLMNOPQRST");
    ck_assert_str_eq(got.action, "release");
    ck_assert_str_eq(got.nonce, l.nonce);
    ck_assert(got.expires == 3000);
    ck_assert_int_eq(token_link_verify(k, token, 3000, &got, &why), -1);
    ck_assert_str_eq(why, "expired");
    for (size_t i = 3; i < strlen(token); i++) {
        if (token[i] == '.')
            continue;
        strcpy(bad, token);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ck_assert_msg(token_link_verify(k, bad, 10, &got, &why) != 0, "byte %zu accepted", i);
    }
    /* a bypass token is not a link token and the other way round */
    ck_assert_int_eq(token_link_verify(k, "l1.1.9.login.x..x.x.x", 10, &got, &why), -1);
    ck_assert_str_eq(why, "malformed");
    ck_assert_int_eq(token_bypass_verify(k, token, "alice@example.org", "s@x", "spamd", 10, &why),
                     -1);
    /* item and action are plain words */
    strcpy(l.action, "re.lease");
    ck_assert_int_eq(token_link_issue(k, &l, token, sizeof(token)), -1);
    keys_free(&k);
    free(dir);
}
END_TEST

/* two tokens for the same thing differ (each has its own nonce) */
START_TEST(link_nonce_fresh)
{
    char *dir = unit_tmpdir(), t1[TOKEN_MAX], t2[TOKEN_MAX];
    struct keys *k = keys_in(dir);
    struct token_link l = {.purpose = TOKEN_LOGIN, .recipient = "bob@example.org", .expires = 50};
    char n1[TOKEN_NONCE_TEXT];

    ck_assert_int_eq(token_link_issue(k, &l, t1, sizeof(t1)), 0);
    strcpy(n1, l.nonce);
    ck_assert_int_eq(token_link_issue(k, &l, t2, sizeof(t2)), 0);
    ck_assert_str_ne(n1, l.nonce);
    ck_assert_str_ne(t1, t2);
    keys_free(&k);
    free(dir);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("bypass");

    tcase_add_test(tc, issue_and_verify);
    tcase_add_test(tc, every_byte_counts);
    tcase_add_test(tc, rotation);
    suite_add_tcase(s, tc);
    tc = tcase_create("link");
    tcase_add_test(tc, link_round_trip);
    tcase_add_test(tc, link_nonce_fresh);
    suite_add_tcase(s, tc);
    return s;
}
