/*
 * test_lmtp_reply.c - the downstream reply parser (RFC 5321 4.2, RFC 2034).
 *
 * Every reply the mailbox store sends goes through lmtp_reply_parse_line; a
 * reply it accepts is relayed per recipient, a reply it rejects becomes our
 * own 451 4.4.0. So a malformed reply accepted here would be passed on as if
 * the store had said it.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "opes/lmtp_parse.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct reply_valid {
    const char *lines[6]; /* NULL-terminated */
    int code;
    const char *enh;
    const char *text;
};

static const struct reply_valid reply_valid_tests[] = {
    {{"250 OK"}, 250, "", "OK"},
    {{"250"}, 250, "", ""},
    {{"250 2.1.5 Ok"}, 250, "2.1.5", "Ok"},
    {{"550 5.1.1"}, 550, "5.1.1", ""},
    {{"550 5.1.1 <nobody@example.org> User doesn't exist: nobody@example.org"},
     550,
     "5.1.1",
     "<nobody@example.org> User doesn't exist: nobody@example.org"},
    {{"421 4.4.2 mx.example.org Disconnected for inactivity"},
     421,
     "4.4.2",
     "mx.example.org Disconnected for inactivity"},
    {{"220 mx.example.org Dovecot ready."}, 220, "", "mx.example.org Dovecot ready."},
    {{"250-mx.example.org", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 8BITMIME"},
     250,
     "",
     "mx.example.org\nPIPELINING\nENHANCEDSTATUSCODES\n8BITMIME"},
    {{"452-4.2.2 Mailbox is full", "452 4.2.2 Try again later"},
     452,
     "4.2.2",
     "Mailbox is full\nTry again later"},
    {{"250-2.1.5 first", "250 second"}, 250, "2.1.5", "first\nsecond"},
    {{"554-5.6.0 one", "554-5.6.0 two", "554 5.6.0 three"}, 554, "5.6.0", "one\ntwo\nthree"},
    /* enhanced code of another class than the reply: not an enhanced code, just text */
    {{"250 5.1.1 odd"}, 250, "", "5.1.1 odd"},
    {{"451 2.0.0 odd"}, 451, "", "2.0.0 odd"},
    /* not c.sss.ddd */
    {{"250 2.0.0.1 x"}, 250, "", "2.0.0.1 x"},
    {{"250 2.0 x"}, 250, "", "2.0 x"},
    {{"250 2.1.5x"}, 250, "", "2.1.5x"},
    {{"250 2.1000.5 x"}, 250, "", "2.1000.5 x"},
};

START_TEST(reply_valid)
{
    const struct reply_valid *t = &reply_valid_tests[_i];
    struct lmtp_reply_parser p;
    int n = 0, ret = -1;

    lmtp_reply_parser_init(&p);
    for (n = 0; t->lines[n] != NULL; n++) {
        ret = lmtp_reply_parse_line(&p, t->lines[n], strlen(t->lines[n]));
        if (t->lines[n + 1] != NULL)
            ck_assert_msg(ret == 0, "line %d \"%s\": got %d, expected 0 (more lines)", n,
                          t->lines[n], ret);
    }
    ck_assert_msg(ret == 1, "last line \"%s\": got %d, expected 1 (complete)", t->lines[n - 1],
                  ret);
    ck_assert_int_eq(p.reply.code, t->code);
    ck_assert_str_eq(p.reply.enh, t->enh);
    ck_assert_str_eq(p.reply.text, t->text);
    ck_assert_int_eq(p.reply.lines, n);
}
END_TEST

struct reply_invalid {
    const char *lines[4];
    int bad_line; /* index of the line that must be refused */
};

static const struct reply_invalid reply_invalid_tests[] = {
    {{""}, 0},
    {{"25"}, 0},
    {{"abc"}, 0},
    {{"25O OK"}, 0},
    {{"2x0 OK"}, 0},
    {{"O250 OK"}, 0},
    {{" 250 OK"}, 0},
    {{"199 OK"}, 0},
    {{"099 OK"}, 0},
    {{"600 OK"}, 0},
    {{"999 OK"}, 0},
    {{"250OK"}, 0},
    {{"2500 OK"}, 0},
    {{"250_OK"}, 0},
    {{"250\tOK"}, 0},
    {{"250 OK\r"}, 0},
    {{"250 O\nK"}, 0},
    {{"250-first", "251 second"}, 1},
    {{"250-first", "450 second"}, 1},
    {{"250-first", "250-second", "550 third"}, 2},
    {{"250-first", "25"}, 1},
    {{"250-first", "second"}, 1},
    {{"250-first", "250x"}, 1},
};

START_TEST(reply_invalid)
{
    const struct reply_invalid *t = &reply_invalid_tests[_i];
    struct lmtp_reply_parser p;

    lmtp_reply_parser_init(&p);
    for (int n = 0; n < t->bad_line; n++)
        ck_assert_int_eq(lmtp_reply_parse_line(&p, t->lines[n], strlen(t->lines[n])), 0);
    ck_assert_msg(lmtp_reply_parse_line(&p, t->lines[t->bad_line], strlen(t->lines[t->bad_line])) <
                      0,
                  "accepted \"%s\"", t->lines[t->bad_line]);
}
END_TEST

/* a NUL inside the line, which a C string table cannot hold */
START_TEST(reply_nul_rejected)
{
    static const char line[] = "250 O\0K";
    struct lmtp_reply_parser p;

    lmtp_reply_parser_init(&p);
    ck_assert_int_lt(lmtp_reply_parse_line(&p, line, sizeof(line) - 1), 0);
}
END_TEST

/* only the given length counts: the bytes after it are the next line */
START_TEST(reply_length_respected)
{
    static const char buf[] = "250 2.0.0 Ok\r\n250 2.0.0 more";
    struct lmtp_reply_parser p;

    lmtp_reply_parser_init(&p);
    ck_assert_int_eq(lmtp_reply_parse_line(&p, buf, 12), 1);
    ck_assert_str_eq(p.reply.text, "Ok");
}
END_TEST

START_TEST(reply_line_limit)
{
    struct lmtp_reply_parser p;
    char line[32];
    int ret;

    /* LMTP_REPLY_LINES_MAX lines are one reply */
    lmtp_reply_parser_init(&p);
    for (int i = 0; i < LMTP_REPLY_LINES_MAX - 1; i++) {
        snprintf(line, sizeof(line), "250-line %d", i);
        ck_assert_int_eq(lmtp_reply_parse_line(&p, line, strlen(line)), 0);
    }
    ck_assert_int_eq(lmtp_reply_parse_line(&p, "250 last", 8), 1);
    ck_assert_int_eq(p.reply.lines, LMTP_REPLY_LINES_MAX);

    /* one more is a protocol error, whether it ends the reply or not */
    for (int last = 0; last < 2; last++) {
        lmtp_reply_parser_init(&p);
        for (int i = 0; i < LMTP_REPLY_LINES_MAX; i++) {
            snprintf(line, sizeof(line), "250-line %d", i);
            ck_assert_int_eq(lmtp_reply_parse_line(&p, line, strlen(line)), 0);
        }
        snprintf(line, sizeof(line), "250%cone too many", last ? ' ' : '-');
        ret = lmtp_reply_parse_line(&p, line, strlen(line));
        ck_assert_msg(ret < 0, "line %d accepted (%d)", LMTP_REPLY_LINES_MAX + 1, ret);
    }
}
END_TEST

/* a long reply is cut to the text buffer, never past it */
START_TEST(reply_long_text)
{
    struct lmtp_reply_parser p;
    char line[3000];

    memcpy(line, "250-", 4);
    memset(line + 4, 'x', sizeof(line) - 5);
    line[sizeof(line) - 1] = '\0';
    lmtp_reply_parser_init(&p);
    ck_assert_int_eq(lmtp_reply_parse_line(&p, line, strlen(line)), 0);
    line[3] = ' ';
    ck_assert_int_eq(lmtp_reply_parse_line(&p, line, strlen(line)), 1);
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_uint_eq(strlen(p.reply.text), LMTP_REPLY_TEXT_MAX - 1);
    ck_assert_int_eq(p.reply.text[0], 'x');
}
END_TEST

struct enh_test {
    const char *enh;
    int code;
    bool valid;
};

static const struct enh_test enh_tests[] = {
    {"2.0.0", 250, true},     {"2.1.5", 251, true},     {"4.4.2", 421, true},
    {"5.7.1", 554, true},     {"5.123.456", 550, true}, {"4.2.2", 250, false},
    {"3.0.0", 354, false},    {"2.0", 250, false},      {"2.0.0.0", 250, false},
    {"2.1000.0", 250, false}, {"2.0.1000", 250, false}, {"2.+1.5", 250, false},
    {"2. 1.5", 250, false},   {"", 250, false},         {"x.1.5", 250, false},
};

START_TEST(enh_valid)
{
    const struct enh_test *t = &enh_tests[_i];

    ck_assert_msg(lmtp_enh_valid(t->enh, t->code) == t->valid, "\"%s\" for %d: expected %s", t->enh,
                  t->code, t->valid ? "valid" : "invalid");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("lmtp_reply");
    TCase *tc = tcase_create("reply");

    tcase_add_loop_test(tc, reply_valid, 0, (int)N_ELEMENTS(reply_valid_tests));
    tcase_add_loop_test(tc, reply_invalid, 0, (int)N_ELEMENTS(reply_invalid_tests));
    tcase_add_test(tc, reply_nul_rejected);
    tcase_add_test(tc, reply_length_respected);
    tcase_add_test(tc, reply_line_limit);
    tcase_add_test(tc, reply_long_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("enhanced_code");
    tcase_add_loop_test(tc, enh_valid, 0, (int)N_ELEMENTS(enh_tests));
    suite_add_tcase(s, tc);
    return s;
}
