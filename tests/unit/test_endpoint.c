/*
 * test_endpoint.c - "host:port", "[v6]:port" and "unix:/path" as written in
 * the listen list and the downstream target.
 *
 * A value rejected here is a configuration error with a line number; a value
 * accepted here is what opesd binds to or connects to.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "opes/endpoint.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct ep_valid {
    const char *text;
    enum endpoint_kind kind;
    const char *host;
    const char *port;
    const char *path;
    const char *formatted;
};

static const struct ep_valid ep_valid_tests[] = {
    {"127.0.0.1:2424", ENDPOINT_INET, "127.0.0.1", "2424", "", "127.0.0.1:2424"},
    {"localhost:24", ENDPOINT_INET, "localhost", "24", "", "localhost:24"},
    {"mail.example.org:65535", ENDPOINT_INET, "mail.example.org", "65535", "",
     "mail.example.org:65535"},
    {"0.0.0.0:1", ENDPOINT_INET, "0.0.0.0", "1", "", "0.0.0.0:1"},
    {"[::1]:2424", ENDPOINT_INET, "::1", "2424", "", "[::1]:2424"},
    {"[2001:db8::25]:24", ENDPOINT_INET, "2001:db8::25", "24", "", "[2001:db8::25]:24"},
    {"[::]:24", ENDPOINT_INET, "::", "24", "", "[::]:24"},
    {"unix:/run/dovecot/lmtp", ENDPOINT_UNIX, "", "", "/run/dovecot/lmtp",
     "unix:/run/dovecot/lmtp"},
    {"unix:/var/spool/postfix/private/opesd", ENDPOINT_UNIX, "", "",
     "/var/spool/postfix/private/opesd", "unix:/var/spool/postfix/private/opesd"},
};

START_TEST(ep_valid)
{
    const struct ep_valid *t = &ep_valid_tests[_i];
    struct endpoint ep;
    const char *error = NULL;
    char buf[256];

    ck_assert_msg(endpoint_parse(t->text, &ep, &error) == 0, "\"%s\" rejected: %s", t->text,
                  error != NULL ? error : "");
    ck_assert_int_eq(ep.kind, t->kind);
    if (t->kind == ENDPOINT_INET) {
        ck_assert_str_eq(ep.host, t->host);
        ck_assert_str_eq(ep.port, t->port);
    } else {
        ck_assert_str_eq(ep.path, t->path);
    }
    ck_assert_str_eq(endpoint_format(&ep, buf, sizeof(buf)), t->formatted);
}
END_TEST

static const char *const ep_invalid_tests[] = {
    "",
    "127.0.0.1",
    "127.0.0.1:",
    ":2424",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:99999",
    "127.0.0.1:123456",
    "127.0.0.1:-1",
    "127.0.0.1:24x",
    "127.0.0.1:lmtp",
    "::1:24",
    "2001:db8::25:24",
    "[::1]",
    "[::1]24",
    "[::1]:",
    "[]:24",
    "[::1:24",
    "unix:",
    "unix:run/dovecot/lmtp",
    "unix:./lmtp",
    "unix:~/lmtp",
};

START_TEST(ep_invalid)
{
    struct endpoint ep;
    const char *error = NULL;

    ck_assert_msg(endpoint_parse(ep_invalid_tests[_i], &ep, &error) < 0, "\"%s\" accepted",
                  ep_invalid_tests[_i]);
    ck_assert_ptr_nonnull(error);
    ck_assert_str_ne(error, "");
}
END_TEST

/* sockaddr_un holds 108 octets with the NUL */
START_TEST(ep_unix_path_length)
{
    struct endpoint ep;
    const char *error = NULL;
    char text[256];

    memcpy(text, "unix:/", 6);
    memset(text + 6, 'p', 106);
    text[112] = '\0'; /* a path of 107 octets */
    ck_assert_int_eq(endpoint_parse(text, &ep, &error), 0);
    ck_assert_uint_eq(strlen(ep.path), 107);
    memset(text + 6, 'p', 107);
    text[113] = '\0'; /* 108 octets: no room for the NUL */
    ck_assert_int_lt(endpoint_parse(text, &ep, &error), 0);
}
END_TEST

START_TEST(ep_host_length)
{
    struct endpoint ep;
    const char *error = NULL;
    char text[400];

    memset(text, 'h', 255);
    strcpy(text + 255, ":24");
    ck_assert_int_eq(endpoint_parse(text, &ep, &error), 0);
    ck_assert_uint_eq(strlen(ep.host), 255);
    memset(text, 'h', 256);
    strcpy(text + 256, ":24");
    ck_assert_int_lt(endpoint_parse(text, &ep, &error), 0);
}
END_TEST

struct list_test {
    const char *text;
    int count;
    const char *formatted[4];
};

static const struct list_test list_valid_tests[] = {
    {"127.0.0.1:2424", 1, {"127.0.0.1:2424"}},
    {"127.0.0.1:2424,[::1]:2424", 2, {"127.0.0.1:2424", "[::1]:2424"}},
    {"127.0.0.1:2424, [::1]:2424 unix:/run/opesd/lmtp",
     3,
     {"127.0.0.1:2424", "[::1]:2424", "unix:/run/opesd/lmtp"}},
    {"  a.example:1 ,, \tb.example:2  ", 2, {"a.example:1", "b.example:2"}},
};

START_TEST(list_valid)
{
    const struct list_test *t = &list_valid_tests[_i];
    struct endpoint eps[4];
    const char *error = NULL;
    char buf[256];
    int n = endpoint_parse_list(t->text, eps, 4, &error);

    ck_assert_msg(n == t->count, "\"%s\": %d endpoints (%s)", t->text, n,
                  error != NULL ? error : "");
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(endpoint_format(&eps[i], buf, sizeof(buf)), t->formatted[i]);
}
END_TEST

static const char *const list_invalid_tests[] = {
    "",
    " , ",
    "127.0.0.1:2424, 127.0.0.1",
    "127.0.0.1:2424 unix:relative",
    "[::1]:2424,::1:2425",
    "a:1 b:2 c:3 d:4 e:5",
};

START_TEST(list_invalid)
{
    struct endpoint eps[4];
    const char *error = NULL;

    ck_assert_msg(endpoint_parse_list(list_invalid_tests[_i], eps, 4, &error) < 0,
                  "\"%s\" accepted", list_invalid_tests[_i]);
    ck_assert_ptr_nonnull(error);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("endpoint");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, ep_valid, 0, (int)N_ELEMENTS(ep_valid_tests));
    tcase_add_loop_test(tc, ep_invalid, 0, (int)N_ELEMENTS(ep_invalid_tests));
    tcase_add_test(tc, ep_unix_path_length);
    tcase_add_test(tc, ep_host_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_add_loop_test(tc, list_valid, 0, (int)N_ELEMENTS(list_valid_tests));
    tcase_add_loop_test(tc, list_invalid, 0, (int)N_ELEMENTS(list_invalid_tests));
    suite_add_tcase(s, tc);
    return s;
}
