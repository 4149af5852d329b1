/*
 * test_lmtp_parse.c - LMTP command lines, MAIL/RCPT paths, ESMTP parameters
 * and xtext, each checked against a table of valid and one of invalid inputs.
 *
 * These are what the server applies to every line a client sends, so each
 * invalid row is a command that must get a 501/555 instead of being acted on.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/lmtp_parse.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* limits a row may set instead of the default ones (NULL) */
static const struct lmtp_parse_limits line_13 = {
    .max_command_line = 13, .max_param_len = LMTP_PARAM_LEN_MAX, .max_params = LMTP_PARAMS_MAX};
static const struct lmtp_parse_limits param_16 = {
    .max_command_line = 4096, .max_param_len = 16, .max_params = LMTP_PARAMS_MAX};
static const struct lmtp_parse_limits params_2 = {
    .max_command_line = 4096, .max_param_len = LMTP_PARAM_LEN_MAX, .max_params = 2};

/* visible - s[0..len) with control and 8-bit octets as \xNN, for messages. */
static const char *visible(const char *s, size_t len)
{
    static char buf[512];
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < sizeof(buf); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/*
 * Command lines
 */

struct command_valid {
    const char *line;
    const char *verb;
    const char *args;
    const struct lmtp_parse_limits *limits;
};

static const struct command_valid command_valid_tests[] = {
    {"LHLO client.example.org", "LHLO", "client.example.org", NULL},
    {"lhlo client.example.org", "LHLO", "client.example.org", NULL},
    {"MaIl FROM:<a@example.org> SIZE=10", "MAIL", "FROM:<a@example.org> SIZE=10", NULL},
    {"NOOP", "NOOP", "", NULL},
    {"QUIT   ", "QUIT", "", NULL},
    {"RCPT \t TO:<b@example.org>", "RCPT", "TO:<b@example.org>", NULL},
    {"DATA\t", "DATA", "", NULL},
    {"XFORWARD NAME=mx.example.org ADDR=192.0.2.1", "XFORWARD",
     "NAME=mx.example.org ADDR=192.0.2.1", NULL},
    /* 8-bit text is not a control character (SMTPUTF8 addresses) */
    {"VRFY j\xc3\xb6rg", "VRFY", "j\xc3\xb6rg", NULL},
    /* 11 octets and CRLF: exactly the limit */
    {"NOOP 123456", "NOOP", "123456", &line_13},
};

START_TEST(command_valid)
{
    const struct command_valid *t = &command_valid_tests[_i];
    char buf[256], *verb = NULL, *args = NULL;

    snprintf(buf, sizeof(buf), "%s", t->line);
    ck_assert_msg(lmtp_parse_command(buf, strlen(buf), t->limits, &verb, &args) == 0,
                  "rejected \"%s\"", t->line);
    ck_assert_str_eq(verb, t->verb);
    ck_assert_str_eq(args, t->args);
}
END_TEST

struct command_invalid {
    const char *line;
    size_t len;
    const struct lmtp_parse_limits *limits; /* set: the line is over them (LMTP_PARSE_TOO_LONG) */
};

/* LIT - a string literal and its length, NULs included */
#define LIT(s) s, sizeof(s) - 1

static const struct command_invalid command_invalid_tests[] = {
    {LIT(""), NULL},
    {LIT(" NOOP"), NULL},
    {LIT("\tNOOP"), NULL},
    {LIT("B52"), NULL},
    {LIT("NOOP\x01"), NULL},
    {LIT("BELL\x08"), NULL},
    {LIT("RSET\rQUIT"), NULL},
    {LIT("RSET\nQUIT"), NULL},
    {LIT("MAIL FROM:<a@example.org>\r"), NULL},
    {LIT("MAIL FROM:<a@example.org>\x1b[31m"), NULL},
    {LIT("NOOP \x7f"), NULL},
    {LIT("NO\0OP"), NULL},
    {LIT("NOOP\0"), NULL},
    {LIT("RCPT TO:<a@example.org>\0 NOTIFY=NEVER"), NULL},
    {LIT("NOOP 1234567"), &line_13},
    {LIT("MAIL FROM:<a@example.org>"), &line_13},
};

START_TEST(command_invalid)
{
    const struct command_invalid *t = &command_invalid_tests[_i];
    size_t len = t->len;
    char buf[256], *verb = NULL, *args = NULL;

    memcpy(buf, t->line, len);
    buf[len] = '\0';
    if (t->limits != NULL)
        ck_assert_int_eq(lmtp_parse_command(buf, len, t->limits, &verb, &args),
                         LMTP_PARSE_TOO_LONG);
    else
        ck_assert_msg(lmtp_parse_command(buf, len, NULL, &verb, &args) == -1, "accepted \"%s\"",
                      visible(t->line, len));
}
END_TEST

/*
 * MAIL FROM / RCPT TO paths
 */

struct path_test {
    const char *args;
    const char *keyword;
    bool allow_null;
    bool utf8;
    const char *addr;   /* expected address (valid table) */
    const char *params; /* expected parameter text (valid table) */
};

static const struct path_test path_valid_tests[] = {
    {"FROM:<alice@example.org>", "FROM:", true, false, "alice@example.org", ""},
    {"from:<alice@example.org>", "FROM:", true, false, "alice@example.org", ""},
    {"FROM: <alice@example.org>", "FROM:", true, false, "alice@example.org", ""},
    {"FROM:<>", "FROM:", true, false, "", ""},
    {"FROM:<> BODY=8BITMIME", "FROM:", true, false, "", "BODY=8BITMIME"},
    {"FROM:<a@b.example> SIZE=1000  BODY=7BIT", "FROM:", true, false, "a@b.example",
     "SIZE=1000  BODY=7BIT"},
    {"TO:<bob@example.org>", "TO:", false, false, "bob@example.org", ""},
    {"TO:<bob@example.org>   ", "TO:", false, false, "bob@example.org", ""},
    {"to:<Bob@Example.ORG> NOTIFY=NEVER", "TO:", false, false, "Bob@Example.ORG", "NOTIFY=NEVER"},
    /* obsolete source route: accepted and dropped */
    {"TO:<@relay1.example,@relay2.example:bob@example.org>", "TO:", false, false, "bob@example.org",
     ""},
    {"FROM:<@relay.example:alice@example.org>", "FROM:", true, false, "alice@example.org", ""},
    /* quoted local parts are kept with their quotes */
    {"TO:<\"john doe\"@example.org>", "TO:", false, false, "\"john doe\"@example.org", ""},
    {"TO:<\"a\\\"b\"@example.org>", "TO:", false, false, "\"a\\\"b\"@example.org", ""},
    {"TO:<first.last+tag@example.org>", "TO:", false, false, "first.last+tag@example.org", ""},
    /* RFC 5321 4.5.1: postmaster without a domain, for RCPT only */
    {"TO:<postmaster>", "TO:", false, false, "postmaster", ""},
    {"TO:<PostMaster>", "TO:", false, false, "PostMaster", ""},
    /* address literals */
    {"TO:<bob@[192.0.2.1]>", "TO:", false, false, "bob@[192.0.2.1]", ""},
    {"TO:<bob@[IPv6:2001:db8::1]>", "TO:", false, false, "bob@[IPv6:2001:db8::1]", ""},
    /* SMTPUTF8 */
    {"TO:<j\xc3\xb6rg@example.org>", "TO:", false, true, "j\xc3\xb6rg@example.org", ""},
    {"TO:<bob@b\303\274cher.example>", "TO:", false, true, "bob@b\303\274cher.example", ""},
    {"FROM:<\"j\xc3\xb6rg\"@example.org> SMTPUTF8", "FROM:", true, true,
     "\"j\xc3\xb6rg\"@example.org", "SMTPUTF8"},
};

/*
 * heap_copy - the text in a buffer of exactly its size, as a command line
 * read from the network is: the sanitizer build then catches any read past
 * its end.
 */
static char *heap_copy(const char *s)
{
    char *p = strdup(s);

    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(path_valid)
{
    const struct path_test *t = &path_valid_tests[_i];
    char addr[LMTP_ADDR_MAX + 1], *args = heap_copy(t->args);
    const char *params = NULL, *error = NULL;
    int ret;

    ret = lmtp_parse_path(args, t->keyword, t->allow_null, t->utf8, addr, &params, &error);
    ck_assert_msg(ret == 0, "rejected \"%s\": %s", t->args, error != NULL ? error : "");
    ck_assert_str_eq(addr, t->addr);
    ck_assert_str_eq(params, t->params);
    free(args);
}
END_TEST

static const struct path_test path_invalid_tests[] = {
    {"", "FROM:", true, false, NULL, NULL},
    {"FROM:", "FROM:", true, false, NULL, NULL},
    {"TO:<>", "TO:", false, false, NULL, NULL},
    {"FROM:<postmaster>", "FROM:", true, false, NULL, NULL},
    {"TO:<bob>", "TO:", false, false, NULL, NULL},
    {"TO:<postmasterx>", "TO:", false, false, NULL, NULL},
    {"FROM:<alice@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:bob@example.org", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org", "TO:", false, false, NULL, NULL},
    /* the line ends inside the local part */
    {"TO:<bob", "TO:", false, false, NULL, NULL},
    {"FROM:<alice", "FROM:", true, false, NULL, NULL},
    {"TO:<postmaster", "TO:", false, false, NULL, NULL},
    {"TO:<j\xc3\xb6rg", "TO:", false, true, NULL, NULL},
    {"TO:<\"john doe\"", "TO:", false, false, NULL, NULL},
    {"TO:<\"john", "TO:", false, false, NULL, NULL},
    {"TO:<\"john\\", "TO:", false, false, NULL, NULL},
    /* a quoted pair escapes printable US-ASCII only, with or without SMTPUTF8 */
    {"TO:<\"john\\\xc4"
     "doe\"@example.org>",
     "TO:", false, false, NULL, NULL},
    {"TO:<\"john\\\xc4"
     "doe\"@example.org>",
     "TO:", false, true, NULL, NULL},
    {"TO:<bob@[192.0.2.1", "TO:", false, false, NULL, NULL},
    {"TO:<@relay.example", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org>x", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org>,<carol@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org><carol@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@>", "TO:", false, false, NULL, NULL},
    {"TO:<@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@.example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@-example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@exa_mple.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@[]>", "TO:", false, false, NULL, NULL},
    {"TO:<bob smith@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org >", "TO:", false, false, NULL, NULL},
    {"TO:<\"unterminated@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<\"a\x01z\"@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob\x7f@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@example.org\r>", "TO:", false, false, NULL, NULL},
    /* 8-bit only under SMTPUTF8 */
    {"TO:<j\xc3\xb6rg@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@b\303\274cher.example>", "TO:", false, false, NULL, NULL},
    {"TO:<\"j\xc3\xb6rg\"@example.org>", "TO:", false, false, NULL, NULL},
    {"TO:<bob@[192.0.2.\xc3\xa9]>", "TO:", false, false, NULL, NULL},
    {"FROM:<bob@[IPv6:\xff::1]>", "FROM:", true, false, NULL, NULL},
    /* under SMTPUTF8, well-formed UTF-8 only (RFC 3629): a stray continuation byte, a
     * truncated sequence, an overlong form, a surrogate, past U+10FFFF, 0xff */
    {"TO:<j\x80rg@example.org>", "TO:", false, true, NULL, NULL},
    {"TO:<j\xc3@example.org>", "TO:", false, true, NULL, NULL},
    {"TO:<j\xc0\xafrg@example.org>", "TO:", false, true, NULL, NULL},
    {"TO:<j\xe0\x80\xafrg@example.org>", "TO:", false, true, NULL, NULL},
    {"TO:<j\xed\xa0\x80rg@example.org>", "TO:", false, true, NULL, NULL},
    {"TO:<j\xf4\x90\x80\x80rg@example.org>", "TO:", false, true, NULL, NULL},
    {"FROM:<bob@b\xff\xfe"
     "cher.example>",
     "FROM:", true, true, NULL, NULL},
};

START_TEST(path_invalid)
{
    const struct path_test *t = &path_invalid_tests[_i];
    char addr[LMTP_ADDR_MAX + 1], *args = heap_copy(t->args);
    const char *params = NULL, *error = NULL;
    int ret;

    ret = lmtp_parse_path(args, t->keyword, t->allow_null, t->utf8, addr, &params, &error);
    ck_assert_msg(ret < 0, "accepted \"%s\" as <%s>", visible(t->args, strlen(t->args)), addr);
    ck_assert_msg(error != NULL && *error != '\0', "no reason given for \"%s\"", t->args);
    free(args);
}
END_TEST

/* path_of_length - "TO:<" local "@example.org>" with an address of exactly n octets. */
static char *path_of_length(size_t n)
{
    static const char domain[] = "@example.org";
    size_t local = n - (sizeof(domain) - 1);
    char *s = malloc(n + 8);

    ck_assert_ptr_nonnull(s);
    memcpy(s, "TO:<", 4);
    memset(s + 4, 'a', local);
    memcpy(s + 4 + local, domain, sizeof(domain) - 1);
    memcpy(s + 4 + n, ">", 2);
    return s;
}

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets */
START_TEST(path_length_limit)
{
    char addr[LMTP_ADDR_MAX + 1];
    const char *params, *error = NULL;
    char *ok = path_of_length(LMTP_ADDR_MAX - 2);
    char *over = path_of_length(LMTP_ADDR_MAX - 1);
    char *huge = path_of_length(4000);

    ck_assert_int_eq(lmtp_parse_path(ok, "TO:", false, false, addr, &params, &error), 0);
    ck_assert_uint_eq(strlen(addr), LMTP_ADDR_MAX - 2);
    ck_assert_mem_eq(addr, ok + 4, LMTP_ADDR_MAX - 2);
    ck_assert_int_lt(lmtp_parse_path(over, "TO:", false, false, addr, &params, &error), 0);
    ck_assert_int_lt(lmtp_parse_path(huge, "TO:", false, false, addr, &params, &error), 0);
    free(ok);
    free(over);
    free(huge);
}
END_TEST

/*
 * ESMTP parameters
 */

struct params_valid {
    const char *text;
    int count;
    const char *names[4];
    const char *values[4]; /* NULL: parameter without "=value" */
    const struct lmtp_parse_limits *limits;
};

static const struct params_valid params_valid_tests[] = {
    {"", 0, {NULL}, {NULL}, NULL},
    {"SIZE=1000", 1, {"SIZE"}, {"1000"}, NULL},
    {"size=1000 body=8bitmime", 2, {"SIZE", "BODY"}, {"1000", "8bitmime"}, NULL},
    {"SMTPUTF8", 1, {"SMTPUTF8"}, {NULL}, NULL},
    {"Body=7BIT   Smtputf8", 2, {"BODY", "SMTPUTF8"}, {"7BIT", NULL}, NULL},
    {"XOPES-BYPASS=http://opes.example.org/av+2Cx",
     1,
     {"XOPES-BYPASS"},
     {"http://opes.example.org/av+2Cx"},
     NULL},
    {"ENVID=QQ314159 RET=HDRS NOTIFY=SUCCESS,FAILURE",
     3,
     {"ENVID", "RET", "NOTIFY"},
     {"QQ314159", "HDRS", "SUCCESS,FAILURE"},
     NULL},
    /* 16 octets: exactly the limit */
    {"ENVID=1234567890", 1, {"ENVID"}, {"1234567890"}, &param_16},
    {"A B", 2, {"A", "B"}, {NULL, NULL}, &params_2},
};

START_TEST(params_valid)
{
    const struct params_valid *t = &params_valid_tests[_i];
    struct lmtp_param out[LMTP_PARAMS_MAX];
    char buf[256];
    int n;

    snprintf(buf, sizeof(buf), "%s", t->text);
    n = lmtp_parse_params(buf, out, t->limits);
    ck_assert_msg(n == t->count, "\"%s\": got %d parameters, expected %d", t->text, n, t->count);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(out[i].name, t->names[i]);
        if (t->values[i] == NULL)
            ck_assert_ptr_null(out[i].value);
        else
            ck_assert_pstr_eq(out[i].value, t->values[i]);
    }
}
END_TEST

struct params_invalid {
    const char *text;
    const struct lmtp_parse_limits *limits;
    int ret; /* -1, or LMTP_PARSE_TOO_LONG */
};

static const struct params_invalid params_invalid_tests[] = {
    {"SIZE=1 SIZE=2", NULL, -1},
    {"SIZE=1 size=1", NULL, -1},
    {"BODY=8BITMIME SIZE=10 body=7BIT", NULL, -1},
    {"=1", NULL, -1},
    {"SI_ZE=1", NULL, -1},
    {"SIZE:1", NULL, -1},
    {"SIZE=1\x01", NULL, -1},
    {"SIZE=\x7f", NULL, -1},
    {"SIZE=10\t BODY=7BIT", NULL, -1},
    {"A B C", &params_2, -1},
    /* one octet over: refused, not cut to fit */
    {"ENVID=12345678901", &param_16, LMTP_PARSE_TOO_LONG},
    {"SIZE=1 ENVID=12345678901 BODY=7BIT", &param_16, LMTP_PARSE_TOO_LONG},
    {"ENVID=12345678901 SIZE=1 SIZE=2", &param_16, LMTP_PARSE_TOO_LONG},
};

START_TEST(params_invalid)
{
    const struct params_invalid *t = &params_invalid_tests[_i];
    struct lmtp_param out[LMTP_PARAMS_MAX];
    char buf[256];
    int n;

    snprintf(buf, sizeof(buf), "%s", t->text);
    n = lmtp_parse_params(buf, out, t->limits);
    ck_assert_msg(n == t->ret, "\"%s\": got %d, expected %d", t->text, n, t->ret);
}
END_TEST

/* params_length_limit - the default limit, on a parameter as long as a command line allows */
START_TEST(params_length_limit)
{
    struct lmtp_param out[LMTP_PARAMS_MAX];
    char buf[4096];
    size_t len;

    /* "XOPES-BYPASS=" and values up to LMTP_PARAM_LEN_MAX octets in all */
    len = (size_t)snprintf(buf, sizeof(buf), "SIZE=10 XOPES-BYPASS=");
    memset(buf + len, 'a', LMTP_PARAM_LEN_MAX - 13);
    buf[len + LMTP_PARAM_LEN_MAX - 13] = '\0';
    ck_assert_int_eq(lmtp_parse_params(buf, out, NULL), 2);
    ck_assert_uint_eq(strlen(out[1].value), LMTP_PARAM_LEN_MAX - 13);
    len = (size_t)snprintf(buf, sizeof(buf), "SIZE=10 XOPES-BYPASS=");
    memset(buf + len, 'a', 3000);
    buf[len + 3000] = '\0';
    ck_assert_int_eq(lmtp_parse_params(buf, out, NULL), LMTP_PARSE_TOO_LONG);
}
END_TEST

/* params_list - "P0=0 P1=1 ..." with n parameters. */
static void params_list(char *buf, size_t size, int n)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, size - o, "%sP%d=%d", i ? " " : "", i, i);
}

START_TEST(params_too_many)
{
    struct lmtp_param out[LMTP_PARAMS_MAX + 1];
    char buf[1024];

    params_list(buf, sizeof(buf), LMTP_PARAMS_MAX);
    ck_assert_int_eq(lmtp_parse_params(buf, out, NULL), LMTP_PARAMS_MAX);
    ck_assert_str_eq(out[LMTP_PARAMS_MAX - 1].name, "P15");
    params_list(buf, sizeof(buf), LMTP_PARAMS_MAX + 1);
    ck_assert_int_eq(lmtp_parse_params(buf, out, NULL), -1);
}
END_TEST

/*
 * xtext (RFC 3461 4)
 */

struct xtext_valid {
    const char *xtext;
    const char *decoded;
};

static const struct xtext_valid xtext_valid_tests[] = {
    {"", ""},
    {"abc", "abc"},
    {"a+2Bb", "a+b"},
    {"+3D", "="},
    {"+20leading", " leading"},
    {"mx.example.org", "mx.example.org"},
    {"[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"},
    {"http://opes.example.org/av+2Cx", "http://opes.example.org/av,x"},
    {"caf+C3+A9", "caf\xc3\xa9"},
    {"+7E+21", "~!"},
};

START_TEST(xtext_valid)
{
    const struct xtext_valid *t = &xtext_valid_tests[_i];
    char out[256], back[256];

    ck_assert_int_eq(lmtp_xtext_decode(t->xtext, out, sizeof(out)), (int)strlen(t->decoded));
    ck_assert_str_eq(out, t->decoded);
    /* the canonical encoding of what was decoded decodes to the same text */
    ck_assert_int_ge(lmtp_xtext_encode(out, back, sizeof(back)), 0);
    ck_assert_int_ge(lmtp_xtext_decode(back, out, sizeof(out)), 0);
    ck_assert_str_eq(out, t->decoded);
}
END_TEST

static const char *const xtext_invalid_tests[] = {
    "+zz", "+2b",  "+2",    "+",           "abc+", "a=b", "=",
    "a b", "a\tb", "a\x7f", "caf\xc3\xa9", "+00",  "+G0", "+-1",
};

START_TEST(xtext_invalid)
{
    char out[256];

    ck_assert_msg(lmtp_xtext_decode(xtext_invalid_tests[_i], out, sizeof(out)) < 0,
                  "accepted \"%s\"", xtext_invalid_tests[_i]);
}
END_TEST

START_TEST(xtext_encode_specials)
{
    char out[64];

    ck_assert_int_eq(lmtp_xtext_encode("a+b=c d", out, sizeof(out)), 13);
    ck_assert_str_eq(out, "a+2Bb+3Dc+20d");
    ck_assert_int_eq(lmtp_xtext_encode("caf\xc3\xa9\x7f", out, sizeof(out)), 12);
    ck_assert_str_eq(out, "caf+C3+A9+7F");
    ck_assert_int_eq(lmtp_xtext_encode("", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* every octet 1..255 survives encode then decode, and the encoding is xtext */
START_TEST(xtext_round_trip)
{
    char in[256], enc[3 * 256 + 1], dec[256];
    int n;

    for (int i = 0; i < 255; i++)
        in[i] = (char)(i + 1);
    in[255] = '\0';
    n = lmtp_xtext_encode(in, enc, sizeof(enc));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(enc), (size_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)enc[i];
        ck_assert_msg(c >= 33 && c <= 126 && c != '=', "octet 0x%02x in xtext", c);
    }
    ck_assert_int_eq(lmtp_xtext_decode(enc, dec, sizeof(dec)), 255);
    ck_assert_mem_eq(dec, in, 256);
}
END_TEST

START_TEST(xtext_buffer_bounds)
{
    char out[8];

    /* "a+" needs "a+2B" and a NUL: five octets */
    ck_assert_int_eq(lmtp_xtext_encode("a+", out, 5), 4);
    ck_assert_str_eq(out, "a+2B");
    ck_assert_int_lt(lmtp_xtext_encode("a+", out, 4), 0);
    ck_assert_int_lt(lmtp_xtext_encode("a", out, 0), 0);
    ck_assert_int_eq(lmtp_xtext_decode("abc", out, 4), 3);
    ck_assert_int_lt(lmtp_xtext_decode("abcd", out, 4), 0);
}
END_TEST

/*
 * ORCPT=addr-type;xtext (RFC 3461 4.2)
 */

struct orcpt_valid {
    const char *value;
    const char *parsed;
};

static const struct orcpt_valid orcpt_valid_tests[] = {
    {"rfc822;alice@example.org", "rfc822;alice@example.org"},
    {"RFC822;Alice@Example.ORG", "RFC822;Alice@Example.ORG"},
    {"rfc822;a+2Bb@example.org", "rfc822;a+b@example.org"},
    {"rfc822;+22odd+20name+22@example.org", "rfc822;\"odd name\"@example.org"},
    {"x-local-type;box-7", "x-local-type;box-7"},
    {"utf-8;caf\\x{E9}@example.org", "utf-8;caf\\x{E9}@example.org"},
};

START_TEST(orcpt_valid)
{
    const struct orcpt_valid *t = &orcpt_valid_tests[_i];
    char out[LMTP_ORCPT_MAX + 1];

    ck_assert_int_eq(lmtp_parse_orcpt(t->value, out, sizeof(out)), 0);
    ck_assert_str_eq(out, t->parsed);
}
END_TEST

static const char *const orcpt_invalid_tests[] = {
    "",                             /* nothing */
    "alice@example.org",            /* no address type */
    ";alice@example.org",           /* empty address type */
    "rfc822;",                      /* empty address */
    "rfc 822;alice@example.org",    /* the type is an atom */
    "rfc822:alice@example.org",     /* wrong separator */
    "rfc822;alice+2@example.org",   /* broken xtext */
    "rfc822;a+0Db@example.org",     /* decodes to a control character */
    "rfc822;caf+C3+A9@example.org", /* not US-ASCII once decoded */
    "rfc822;a=b@example.org",       /* '=' is not xtext */
};

START_TEST(orcpt_invalid)
{
    char out[LMTP_ORCPT_MAX + 1];

    ck_assert_msg(lmtp_parse_orcpt(orcpt_invalid_tests[_i], out, sizeof(out)) < 0,
                  "accepted \"%s\"", orcpt_invalid_tests[_i]);
}
END_TEST

/* NULL (ORCPT without a value) is refused, and so is a value over 500 octets */
START_TEST(orcpt_limits)
{
    char value[LMTP_ORCPT_MAX + 2], out[LMTP_ORCPT_MAX + 1];

    ck_assert_int_lt(lmtp_parse_orcpt(NULL, out, sizeof(out)), 0);
    memset(value, 'a', sizeof(value) - 1);
    memcpy(value, "rfc822;", 7);
    value[LMTP_ORCPT_MAX] = '\0'; /* exactly 500: accepted */
    ck_assert_int_eq(lmtp_parse_orcpt(value, out, sizeof(out)), 0);
    ck_assert_uint_eq(strlen(out), LMTP_ORCPT_MAX);
    value[LMTP_ORCPT_MAX] = 'a'; /* 501 */
    value[LMTP_ORCPT_MAX + 1] = '\0';
    ck_assert_int_lt(lmtp_parse_orcpt(value, out, sizeof(out)), 0);
    /* a small buffer is refused, never cut */
    ck_assert_int_lt(lmtp_parse_orcpt("rfc822;alice@example.org", out, 10), 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("lmtp_parse");
    TCase *tc;

    tc = tcase_create("command");
    tcase_add_loop_test(tc, command_valid, 0, (int)N_ELEMENTS(command_valid_tests));
    tcase_add_loop_test(tc, command_invalid, 0, (int)N_ELEMENTS(command_invalid_tests));
    suite_add_tcase(s, tc);

    tc = tcase_create("path");
    tcase_add_loop_test(tc, path_valid, 0, (int)N_ELEMENTS(path_valid_tests));
    tcase_add_loop_test(tc, path_invalid, 0, (int)N_ELEMENTS(path_invalid_tests));
    tcase_add_test(tc, path_length_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_loop_test(tc, params_valid, 0, (int)N_ELEMENTS(params_valid_tests));
    tcase_add_loop_test(tc, params_invalid, 0, (int)N_ELEMENTS(params_invalid_tests));
    tcase_add_test(tc, params_too_many);
    tcase_add_test(tc, params_length_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("xtext");
    tcase_add_loop_test(tc, xtext_valid, 0, (int)N_ELEMENTS(xtext_valid_tests));
    tcase_add_loop_test(tc, xtext_invalid, 0, (int)N_ELEMENTS(xtext_invalid_tests));
    tcase_add_test(tc, xtext_encode_specials);
    tcase_add_test(tc, xtext_round_trip);
    tcase_add_test(tc, xtext_buffer_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("orcpt");
    tcase_add_loop_test(tc, orcpt_valid, 0, (int)N_ELEMENTS(orcpt_valid_tests));
    tcase_add_loop_test(tc, orcpt_invalid, 0, (int)N_ELEMENTS(orcpt_invalid_tests));
    tcase_add_test(tc, orcpt_limits);
    suite_add_tcase(s, tc);
    return s;
}
