/*
 * test_scanner_parse.c - what the clamd and spamd clients make of the bytes
 * their scanner sends back.
 *
 * A clamd reply is clean only when it is exactly "stream: OK"; an error reply
 * (size limit) or anything unexpected must never read as clean or infected.
 * A spamd response gives a score, a threshold, a verdict and the rule names,
 * or an error naming spamd's own status; partial responses ask for more bytes
 * until the connection is closed. An rspamd reply is an HTTP response with a
 * JSON body: action, score, required score and the symbols sorted by score;
 * wrong types, missing members, unknown actions, truncated or overlong
 * replies are errors, never a verdict. Learning replies (spamd's TELL,
 * rspamd's controller) say learned, known before, or why not.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/clamd.h"
#include "opes/rspamd.h"
#include "opes/spamd.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct clamd_case {
    const char *reply;
    int rc;
    const char *virus_or_error; /* the name for 1, a substring of the error for -1 */
};

static const struct clamd_case clamd_cases[] = {
    {"stream: OK", 0, NULL},
    {"stream: Eicar-Test-Signature.UNOFFICIAL FOUND", 1, "Eicar-Test-Signature.UNOFFICIAL"},
    {"stream: Win.Test.EICAR_HDB-1 FOUND", 1, "Win.Test.EICAR_HDB-1"},
    {"stream: X FOUND", 1, "X"},
    {"stream: Heuristics.Broken Media FOUND", 1, "Heuristics.Broken Media"},
    {"INSTREAM size limit exceeded. ERROR", -1, "error reply \"INSTREAM size limit exceeded"},
    {"stream: Can't allocate memory ERROR", -1, "error reply"},
    {"stream: OK ", -1, "malformed"},
    {"stream: ok", -1, "malformed"},
    {"stream:OK", -1, "malformed"},
    {"1: stream: OK", -1, "malformed"},
    {"stream: FOUND", -1, "malformed"},
    {"stream:  FOUND", -1, "malformed"},
    {"stream:  Eicar FOUND", -1, "malformed"},
    {"stream: Eicar FOUND ", -1, "malformed"},
    {"UNKNOWN COMMAND", -1, "malformed reply \"UNKNOWN COMMAND\""},
    {"PONG", -1, "malformed"},
    {"", -1, "malformed"},
};

START_TEST(clamd_reply_table)
{
    const struct clamd_case *t = &clamd_cases[_i];
    char virus[64] = "unchanged";
    const char *error = NULL;
    int rc;

    rc = clamd_parse_reply(t->reply, strlen(t->reply), virus, sizeof(virus), &error);
    ck_assert_msg(rc == t->rc, "\"%s\": %d, expected %d", t->reply, rc, t->rc);
    if (rc == 1)
        ck_assert_str_eq(virus, t->virus_or_error);
    if (rc == -1) {
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, t->virus_or_error) != NULL, "\"%s\": error \"%s\"", t->reply,
                      error);
    }
}
END_TEST

START_TEST(clamd_reply_name_bounded)
{
    static const char reply[] = "stream: Eicar-Test-Signature FOUND";
    char virus[8];
    const char *error = NULL;

    ck_assert_int_eq(clamd_parse_reply(reply, strlen(reply), virus, sizeof(virus), &error), 1);
    ck_assert_str_eq(virus, "Eicar-T");
    /* no buffer at all still gives the verdict */
    ck_assert_int_eq(clamd_parse_reply(reply, strlen(reply), NULL, 0, &error), 1);
}
END_TEST

START_TEST(clamd_reply_name_unprintable)
{
    static const char reply[] = "stream: Bad\x1b[31mName\x80 FOUND";
    char virus[64];
    const char *error = NULL;

    ck_assert_int_eq(clamd_parse_reply(reply, strlen(reply), virus, sizeof(virus), &error), 1);
    ck_assert_str_eq(virus, "Bad?[31mName?");
}
END_TEST

START_TEST(clamd_reply_with_nul_inside)
{
    /* the NUL ends a reply: "stream: OK" followed by junk is not what arrived */
    static const char reply[] = "stream: OK\0junk";
    char virus[16];
    const char *error = NULL;

    ck_assert_int_eq(clamd_parse_reply(reply, sizeof(reply) - 1, virus, sizeof(virus), &error), -1);
}
END_TEST

#define GTUBE_RESPONSE                                                                             \
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"                 \
    "GTUBE,NO_RECEIVED,NO_RELAYS"

struct spamd_case {
    const char *response;
    int at_eof;
    int rc;
    double score, threshold;
    int is_spam;
    const char *symbols_or_error; /* the symbols for 1, a substring of the error for -1 */
};

static const struct spamd_case spamd_cases[] = {
    /* complete responses as spamd 4.0 sends them */
    {GTUBE_RESPONSE, 0, 1, 1000.0, 5.0, 1, "GTUBE,NO_RECEIVED,NO_RELAYS"},
    {GTUBE_RESPONSE, 1, 1, 1000.0, 5.0, 1, "GTUBE,NO_RECEIVED,NO_RELAYS"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0.0 / 5.0\r\n\r\n", 0, 1, 0.0, 5.0, 0,
     ""},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: False ; -1.9 / 5.0\r\n\r\nBAYES_00\n", 0, 1,
     -1.9, 5.0, 0, "BAYES_00"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 7.4 / 5.0\r\nX-Other: x\r\nContent-length: 5\r\n\r\n"
     "A,B_C",
     0, 1, 7.4, 5.0, 1, "A,B_C"},
    {"SPAMD/1.1 0 EX_OK\nContent-length: 3\nspam: true;12/6.5\n\nA,B", 0, 1, 12.0, 6.5, 1, "A,B"},
    /* CHECK-style: no Content-length, complete only when spamd closes */
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n", 0, 0, 0, 0, 0, NULL},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n", 1, 1, 1000.0, 5.0, 1, ""},
    /* partial responses */
    {"", 0, 0, 0, 0, 0, NULL},
    {"", 1, -1, 0, 0, 0, "cut short"},
    {"SPAMD/1.1 0 EX_O", 0, 0, 0, 0, 0, NULL},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: Tr", 0, 0, 0, 0, 0, NULL},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: Tr", 1, -1, 0, 0, 0, "cut short"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE", 0, 0, 0,
     0, 0, NULL},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE", 1, -1, 0,
     0, 0, "cut short"},
    /* spamd's own errors */
    {"SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 10 bytes, got 5 "
     "bytes)\r\n",
     1, -1, 0, 0, 0, "not EX_OK: \"76 Bad header line: (Content-Length mismatch"},
    {"SPAMD/1.0 79 Timeout: (300 second timeout while trying to SYMBOLS)\r\n", 0, -1, 0, 0, 0,
     "not EX_OK: \"79 Timeout"},
    {"SPAMD/1.0 69 Service Unavailable: x\r\n", 0, -1, 0, 0, 0, "69 Service Unavailable"},
    {"SPAMD/1.5 0 PONG\r\n\r\n", 1, -1, 0, 0, 0, "no Spam header"},
    /* malformed */
    {"HTTP/1.1 200 OK\r\n\r\n", 1, -1, 0, 0, 0, "malformed status line \"HTTP/1.1 200 OK\""},
    {"SPAMD/x 0 EX_OK\r\n", 0, -1, 0, 0, 0, "malformed status"},
    {"SPAMD/1.1 00 EX_OK\r\n", 0, -1, 0, 0, 0, "not EX_OK"},
    {"SPAMD/1.1 0\r\n", 0, -1, 0, 0, 0, "not EX_OK"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n", 1, -1, 0, 0, 0, "no Spam header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1.0 / 5.0\r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / \r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; abc / 5.0\r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True 1000.0 / 5.0\r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1. / 5.0\r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 10 / 5.0 x\r\n\r\n", 1, -1, 0, 0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\nSpam: False ; 0.0 / 5.0\r\n\r\n", 1, -1, 0,
     0, 0, "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 99999999\r\nSpam: True ; 1.0 / 5.0\r\n\r\n", 0, -1, 0, 0,
     0, "bad header \"Content-length: 99999999\""},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\nSpam: True ; 1.0 / 5.0\r\n\r\n", 0, -1, 0, 0, 0,
     "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length:\r\nSpam: True ; 1.0 / 5.0\r\n\r\n", 0, -1, 0, 0, 0,
     "bad header"},
    {"SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n", 0, -1, 0, 0, 0, "malformed header"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\nSpam: True ; 1.0 / 5.0\r\n\r\nA\x01,B", 0, -1, 0, 0,
     0, "unexpected octet 0x01"},
    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\nSpam: True ; 1.0 / 5.0\r\n\r\nA, B", 0, -1, 0, 0, 0,
     "unexpected octet 0x20"},
};

START_TEST(spamd_response_table)
{
    const struct spamd_case *t = &spamd_cases[_i];
    struct spamd_result r;
    const char *error = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = spamd_parse_response(t->response, strlen(t->response), t->at_eof, &r, &error);
    ck_assert_msg(rc == t->rc, "case %d: %d, expected %d (%s)", _i, rc, t->rc,
                  error != NULL ? error : "");
    if (rc == 1) {
        ck_assert_msg(fabs(r.score - t->score) < 1e-9, "case %d: score %f", _i, r.score);
        ck_assert_msg(fabs(r.threshold - t->threshold) < 1e-9, "case %d: threshold %f", _i,
                      r.threshold);
        ck_assert_int_eq(r.is_spam, t->is_spam);
        ck_assert_str_eq(r.symbols, t->symbols_or_error);
        ck_assert(!r.symbols_truncated);
    }
    if (rc == -1) {
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, t->symbols_or_error) != NULL, "case %d: error \"%s\"", _i,
                      error);
    }
}
END_TEST

/* spamd_response_with - a complete EX_OK response whose body is body. */
static char *spamd_response_with(const char *body)
{
    char *s;

    if (asprintf(&s, "SPAMD/1.1 0 EX_OK\r\nContent-length: %zu\r\nSpam: True ; 9.0 / 5.0\r\n\r\n%s",
                 strlen(body), body) < 0)
        abort();
    return s;
}

START_TEST(spamd_symbols_cut_at_whole_name)
{
    char body[2048] = "";
    struct spamd_result r;
    const char *error = NULL;
    char *resp;
    size_t len = 0;
    int i;

    for (i = 0; i < 100; i++)
        len +=
            (size_t)snprintf(body + len, sizeof(body) - len, "%sRULE_%010d", i > 0 ? "," : "", i);
    resp = spamd_response_with(body);
    ck_assert_int_eq(spamd_parse_response(resp, strlen(resp), false, &r, &error), 1);
    len = strlen(r.symbols);
    ck_assert(r.symbols_truncated);
    ck_assert_uint_le(len, SPAMD_SYMBOLS_MAX - 1);
    ck_assert_uint_gt(len, SPAMD_SYMBOLS_MAX - 1 - 16);
    ck_assert(strncmp(r.symbols, body, len) == 0);
    ck_assert_int_eq(body[len], ','); /* cut before a comma: the last name is whole */
    free(resp);
}
END_TEST

START_TEST(spamd_symbols_that_just_fit)
{
    char body[SPAMD_SYMBOLS_MAX];
    struct spamd_result r;
    const char *error = NULL;
    char *resp;

    memset(body, 'A', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    resp = spamd_response_with(body);
    ck_assert_int_eq(spamd_parse_response(resp, strlen(resp), false, &r, &error), 1);
    ck_assert(!r.symbols_truncated);
    ck_assert_str_eq(r.symbols, body);
    free(resp);
}
END_TEST

START_TEST(spamd_response_too_long)
{
    size_t len = SPAMD_RESPONSE_MAX + 1;
    char *resp = malloc(len);
    struct spamd_result r;
    const char *error = NULL;
    static const char head[] = "SPAMD/1.1 0 EX_OK\r\nX-Filler: ";

    memcpy(resp, head, sizeof(head) - 1);
    memset(resp + sizeof(head) - 1, 'x', len - (sizeof(head) - 1));
    ck_assert_int_eq(spamd_parse_response(resp, len, false, &r, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "longer than"));
    /* one octet less is still waiting for the end of the header */
    ck_assert_int_eq(spamd_parse_response(resp, len - 1, false, &r, &error), 0);
    free(resp);
}
END_TEST

/* ---- rspamd ---- */

/* the replies of rspamd 3.4 to GTUBE and to SpamAssassin's sample-nonspam.txt (shortened) */
#define RSPAMD_GTUBE                                                                               \
    "{\"is_skipped\":true,\"score\":15.0,\"required_score\":15.0,\"action\":\"reject\","           \
    "\"symbols\":{\"GTUBE\":{\"name\":\"GTUBE\",\"score\":0.0,\"metric_score\":0.0}},"             \
    "\"messages\":{\"smtp_message\":\"Gtube pattern\"},\"message-id\":\"GTUBE1.1010101@"           \
    "example.net\",\"time_real\":0.107794}"
#define RSPAMD_HAM                                                                                 \
    "{\"is_skipped\":false,\"score\":4.500000,\"required_score\":15.0,\"action\":\"greylist\","    \
    "\"symbols\":{\"HAS_REPLYTO\":{\"name\":\"HAS_REPLYTO\",\"score\":0.0,\"options\":[\"x\"]},"   \
    "\"HFILTER_FROMHOST_NORES_A_OR_MX\":{\"name\":\"HFILTER_FROMHOST_NORES_A_OR_MX\","             \
    "\"score\":1.500000,\"metric_score\":1.500000,\"description\":\"FROM host no resolve\"},"      \
    "\"MIME_GOOD\":{\"name\":\"MIME_GOOD\",\"score\":-0.100000},"                                  \
    "\"AUTH_NA\":{\"name\":\"AUTH_NA\",\"score\":1.0},\"DATE_IN_PAST\":{\"score\":1.0}},"          \
    "\"messages\":{},\"urls\":[\"tbtf.com\"],\"milter\":{\"remove_headers\":{\"X-Spam\":0}}}"

struct rspamd_case {
    const char *body;
    int rc; /* of rspamd_parse_reply */
    enum rspamd_action action;
    double score, required;
    const char *symbols_or_error; /* r.symbols for 0, a substring of the error for -1 */
};

static const struct rspamd_case rspamd_cases[] = {
    {RSPAMD_GTUBE, 0, RSPAMD_REJECT, 15.0, 15.0, "GTUBE(0.00)"},
    {RSPAMD_HAM, 0, RSPAMD_GREYLIST, 4.5, 15.0,
     "HFILTER_FROMHOST_NORES_A_OR_MX(1.50) AUTH_NA(1.00) DATE_IN_PAST(1.00) HAS_REPLYTO(0.00) "
     "MIME_GOOD(-0.10)"},
    {"{\"action\":\"no action\",\"score\":-1,\"required_score\":15}", 0, RSPAMD_NO_ACTION, -1, 15,
     ""},
    {"{\"action\":\"add header\",\"score\":6.5,\"required_score\":15,\"symbols\":{}}", 0,
     RSPAMD_ADD_HEADER, 6.5, 15, ""},
    {"{\"action\":\"rewrite subject\",\"score\":8,\"required_score\":15}", 0,
     RSPAMD_REWRITE_SUBJECT, 8, 15, ""},
    {"{\"action\":\"soft reject\",\"score\":0,\"required_score\":15}", 0, RSPAMD_SOFT_REJECT, 0, 15,
     ""},
    {" \r\n{\"action\":\"reject\",\"score\":1e2,\"required_score\":15.0}\r\n", 0, RSPAMD_REJECT,
     100, 15, ""},
    /* missing members */
    {"{\"score\":1,\"required_score\":15}", -1, 0, 0, 0, "no \"action\""},
    {"{\"action\":\"reject\",\"required_score\":15}", -1, 0, 0, 0, "no \"score\""},
    {"{\"action\":\"reject\",\"score\":15}", -1, 0, 0, 0, "no \"required_score\""},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":{\"A\":{}}}", -1, 0, 0,
     0, "no \"score\" of a symbol"},
    /* wrong types */
    {"{\"action\":1,\"score\":1,\"required_score\":15}", -1, 0, 0, 0, "\"action\" is not a string"},
    {"{\"action\":\"reject\",\"score\":\"15\",\"required_score\":15}", -1, 0, 0, 0,
     "\"score\" is not a number"},
    {"{\"action\":\"reject\",\"score\":null,\"required_score\":15}", -1, 0, 0, 0,
     "\"score\" is not a number"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":true}", -1, 0, 0, 0,
     "\"required_score\" is not a number"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":[]}", -1, 0, 0, 0,
     "\"symbols\" is not an object"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":{\"A\":1}}", -1, 0, 0, 0,
     "symbol A is not an object"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":{\"A\":{\"score\":[]}}}",
     -1, 0, 0, 0, "\"score\" of a symbol is not a number"},
    {"[\"reject\"]", -1, 0, 0, 0, "not a JSON object"},
    {"\"reject\"", -1, 0, 0, 0, "not JSON"},
    /* values out of bounds */
    {"{\"action\":\"junk\",\"score\":1,\"required_score\":15}", -1, 0, 0, 0,
     "unknown action \"junk\""},
    {"{\"action\":\"Reject\",\"score\":1,\"required_score\":15}", -1, 0, 0, 0, "unknown action"},
    {"{\"action\":\"reject\\u0001\",\"score\":1,\"required_score\":15}", -1, 0, 0, 0,
     "unknown action \"reject\\x01\""},
    {"{\"action\":\"reject\",\"score\":1e300,\"required_score\":15}", -1, 0, 0, 0,
     "\"score\" out of range"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":{\"A "
     "B\":{\"score\":1}}}",
     -1, 0, 0, 0, "bad symbol name \"A B\""},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15,\"symbols\":{\"\":{\"score\":1}}}",
     -1, 0, 0, 0, "bad symbol name"},
    {"{\"action\":\"reject\",\"action\":\"no action\",\"score\":1,\"required_score\":15}", -1, 0, 0,
     0, "not JSON"},
    /* truncated or not JSON at all */
    {"{\"action\":\"reject\",\"score\":15.0,\"required_sc", -1, 0, 0, 0, "not JSON"},
    {"{\"action\":\"reject\",\"score\":15.0,\"required_score\":15.0", -1, 0, 0, 0, "not JSON"},
    {"", -1, 0, 0, 0, "not JSON"},
    {"<html>Bad Gateway</html>", -1, 0, 0, 0, "not JSON"},
    {"{\"action\":\"reject\",\"score\":1,\"required_score\":15} {}", -1, 0, 0, 0, "not JSON"},
};

START_TEST(rspamd_reply_table)
{
    const struct rspamd_case *t = &rspamd_cases[_i];
    struct rspamd_result r;
    const char *error = NULL;
    int rc;

    rc = rspamd_parse_reply(t->body, strlen(t->body), &r, &error);
    ck_assert_msg(rc == t->rc, "case %d: %d, expected %d (%s)", _i, rc, t->rc,
                  error != NULL ? error : "");
    if (rc == 0) {
        ck_assert_int_eq(r.action, t->action);
        ck_assert_msg(fabs(r.score - t->score) < 1e-9, "case %d: score %f", _i, r.score);
        ck_assert_msg(fabs(r.required_score - t->required) < 1e-9, "case %d: required %f", _i,
                      r.required_score);
        ck_assert_str_eq(r.symbols, t->symbols_or_error);
        ck_assert_uint_eq(r.n_listed, r.n_symbols);
    } else {
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, t->symbols_or_error) != NULL, "case %d: error \"%s\"", _i,
                      error);
    }
}
END_TEST

/* rspamd_http - an HTTP response with status and body; NULL length: no Content-Length */
static char *rspamd_http(const char *status, const char *fields, const char *body, bool clen)
{
    char *s;
    int rc;

    if (clen)
        rc = asprintf(&s, "HTTP/1.1 %s\r\nServer: rspamd/3.4\r\n%sContent-Length: %zu\r\n\r\n%s",
                      status, fields, strlen(body), body);
    else
        rc = asprintf(&s, "HTTP/1.1 %s\r\nServer: rspamd/3.4\r\n%s\r\n%s", status, fields, body);
    if (rc < 0)
        abort();
    return s;
}

struct rspamd_http_case {
    const char *status, *fields, *body;
    bool clen, at_eof;
    int rc;
    const char *error; /* a substring of the error for -1 */
};

static const struct rspamd_http_case rspamd_http_cases[] = {
    {"200 OK", "Content-Type: application/json\r\n", RSPAMD_GTUBE, true, false, 1, NULL},
    {"200 OK", "Connection: close\r\n", RSPAMD_GTUBE, false, true, 1, NULL},
    {"200 OK", "Connection: close\r\n", RSPAMD_GTUBE, false, false, 0, NULL},
    {"200 OK", "Content-Encoding: identity\r\n", RSPAMD_GTUBE, true, false, 1, NULL},
    {"200 OK", "", "{\"action\":\"reject\"}", true, false, -1, "no \"score\""},
    {"400 Bad Request", "", "{\"error\":\"bad rcpt\\r\\n\"}", true, false, -1,
     "\"400 Bad Request\": bad rcpt\\x0d\\x0a"},
    {"503 Service Unavailable", "", "", true, true, -1, "\"503 Service Unavailable\""},
    {"413 Payload Too Large", "", "not json", false, true, -1, "\"413 Payload Too Large\""},
    {"200 OK", "Transfer-Encoding: chunked\r\n", "10\r\n{}", false, false, -1,
     "unsupported \"Transfer-Encoding: chunked\""},
    {"200 OK", "Content-Encoding: zstd\r\n", RSPAMD_GTUBE, true, false, -1, "unsupported"},
    {"200 OK", "Content-Length: 5\r\n", RSPAMD_GTUBE, true, false, -1, "bad header field"},
    {"200 OK", "Content-Length: 5x\r\n", "{}", false, false, -1, "bad header field"},
    {"200 OK", "Content-Length: 99999999999999999999\r\n", "{}", false, false, -1, "longer than"},
    {"200 OK", "no colon\r\n", "{}", true, false, -1, "malformed header field \"no colon\""},
    {"20 OK", "", "{}", true, false, -1, "malformed status line"},
    {"200OK", "", "{}", true, false, -1, "malformed status line"},
};

START_TEST(rspamd_http_table)
{
    const struct rspamd_http_case *t = &rspamd_http_cases[_i];
    char *resp = rspamd_http(t->status, t->fields, t->body, t->clen);
    struct rspamd_result r;
    const char *error = NULL;
    int rc;

    rc = rspamd_parse_response(resp, strlen(resp), t->at_eof, &r, &error);
    ck_assert_msg(rc == t->rc, "case %d: %d, expected %d (%s)", _i, rc, t->rc,
                  error != NULL ? error : "");
    if (rc == 1)
        ck_assert_int_eq(r.action, RSPAMD_REJECT);
    if (rc == -1)
        ck_assert_msg(strstr(error, t->error) != NULL, "case %d: error \"%s\"", _i, error);
    free(resp);
}
END_TEST

/* Every proper prefix of a good response asks for more, or is "cut short" at EOF. */
START_TEST(rspamd_http_truncated)
{
    char *resp = rspamd_http("200 OK", "Content-Type: application/json\r\n", RSPAMD_HAM, true);
    size_t len = strlen(resp);
    struct rspamd_result r;
    const char *error = NULL;

    for (size_t n = 1; n < len; n++) {
        char *part = malloc(n); /* exactly n octets, so that reading past them is caught */
        memcpy(part, resp, n);
        ck_assert_msg(rspamd_parse_response(part, n, false, &r, &error) == 0, "prefix %zu", n);
        ck_assert_int_eq(rspamd_parse_response(part, n, true, &r, &error), -1);
        free(part);
    }
    ck_assert_int_eq(rspamd_parse_response(resp, len, false, &r, &error), 1);
    ck_assert_int_eq(r.action, RSPAMD_GREYLIST);
    free(resp);
}
END_TEST

/* Many symbols: the list is cut after a whole one, and says how many it holds. */
START_TEST(rspamd_symbols_cut_at_whole_symbol)
{
    size_t cap = 64 + 500 * 64, len;
    char *body = malloc(cap);
    struct rspamd_result r;
    const char *error = NULL;
    size_t o;

    o = (size_t)snprintf(body, cap,
                         "{\"action\":\"reject\",\"score\":99,\"required_score\":15,"
                         "\"symbols\":{");
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(body + o, cap - o, "%s\"SYMBOL_%04d\":{\"score\":%d.5}", i ? "," : "",
                              i, 1000 - i);
    o += (size_t)snprintf(body + o, cap - o, "}}");
    ck_assert_int_eq(rspamd_parse_reply(body, o, &r, &error), 0);
    ck_assert_uint_eq(r.n_symbols, 500);
    ck_assert_uint_gt(r.n_listed, 10);
    ck_assert_uint_lt(r.n_listed, 500);
    len = strlen(r.symbols);
    ck_assert_uint_lt(len, RSPAMD_SYMBOLS_MAX);
    ck_assert_uint_gt(len, RSPAMD_SYMBOLS_MAX - 30);
    ck_assert(strncmp(r.symbols, "SYMBOL_0000(1000.50) SYMBOL_0001(999.50) ", 41) == 0);
    ck_assert_int_eq(r.symbols[len - 1], ')');
    free(body);
}
END_TEST

/* A huge reply is refused before it is parsed, whatever the framing says. */
START_TEST(rspamd_response_too_long)
{
    size_t len = RSPAMD_RESPONSE_MAX + 1;
    char *resp = malloc(len);
    struct rspamd_result r;
    const char *error = NULL;
    static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[";

    memcpy(resp, head, sizeof(head) - 1);
    memset(resp + sizeof(head) - 1, '1', len - (sizeof(head) - 1));
    ck_assert_int_eq(rspamd_parse_response(resp, len, false, &r, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "longer than"));
    ck_assert_int_eq(rspamd_parse_reply(resp, len, &r, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "longer than"));
    /* one octet less is waiting for the end of the body */
    ck_assert_int_eq(rspamd_parse_response(resp, len - 1, false, &r, &error), 0);
    /* a header that never ends */
    memset(resp, 'x', RSPAMD_HEADER_MAX + 1);
    memcpy(resp, "HTTP/1.1 200 OK\r\nX: ", 20);
    ck_assert_int_eq(rspamd_parse_response(resp, RSPAMD_HEADER_MAX + 1, false, &r, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "header longer than"));
    free(resp);
}
END_TEST

START_TEST(rspamd_action_names)
{
    for (int a = 0; a < RSPAMD_N_ACTIONS; a++)
        ck_assert_int_eq(rspamd_action_parse(rspamd_action_name((enum rspamd_action)a)), a);
    ck_assert_int_eq(rspamd_action_parse("no_action"), -1);
    ck_assert_str_eq(rspamd_action_name(RSPAMD_N_ACTIONS), "?");
}
END_TEST

/* Learning replies: spamd's TELL (DidSet or nothing) and rspamd's controller (200, 208). */
static const struct {
    const char *in;
    bool at_eof;
    int rc;
    bool learned;
} learn_tell_cases[] = {
    {"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n", false, 1, true},
    {"SPAMD/1.1 0 EX_OK\r\n\r\n", false, 1, false}, /* known already: nothing set */
    {"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n", false, 0, false},
    {"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n", true, -1, false},
    {"SPAMD/1.0 69 Service Unavailable: TELL commands are not enabled\r\n\r\n", false, -1, false},
    {"HTTP/1.1 200 OK\r\n\r\n", false, -1, false},
};

START_TEST(spamd_tell_table)
{
    const char *in = learn_tell_cases[_i].in, *err = NULL;
    bool learned = false;
    int rc = spamd_parse_tell(in, strlen(in), learn_tell_cases[_i].at_eof, &learned, &err);

    ck_assert_msg(rc == learn_tell_cases[_i].rc, "case %d: rc %d (%s)", _i, rc, err ? err : "");
    if (rc == 1)
        ck_assert(learned == learn_tell_cases[_i].learned);
}
END_TEST

static const struct {
    const char *in;
    int rc;
    bool learned;
    const char *error; /* a part of the error text */
} learn_controller_cases[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"success\":true}", 1, true, NULL},
    {"HTTP/1.1 208 <a@b> has been already learned as ham, ignore it\r\nContent-Length: 2\r\n\r\n"
     "{}",
     1, false, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"success\":false}", -1, false, "success"},
    {"HTTP/1.1 403 Forbidden\r\nContent-Length: 24\r\n\r\n{\"error\":\"Unauthorized\"}", -1, false,
     "Unauthorized"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"success\"", 0, false, NULL},
};

START_TEST(rspamd_learn_table)
{
    const char *in = learn_controller_cases[_i].in, *err = NULL;
    bool learned = false;
    int rc = rspamd_parse_learn(in, strlen(in), false, &learned, &err);

    ck_assert_msg(rc == learn_controller_cases[_i].rc, "case %d: rc %d (%s)", _i, rc,
                  err ? err : "");
    if (rc == 1)
        ck_assert(learned == learn_controller_cases[_i].learned);
    if (learn_controller_cases[_i].error != NULL)
        ck_assert_ptr_nonnull(strstr(err, learn_controller_cases[_i].error));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("scanner_parse");
    TCase *tc = tcase_create("clamd");

    tcase_add_loop_test(tc, clamd_reply_table, 0, (int)N_ELEMENTS(clamd_cases));
    tcase_add_test(tc, clamd_reply_name_bounded);
    tcase_add_test(tc, clamd_reply_name_unprintable);
    tcase_add_test(tc, clamd_reply_with_nul_inside);
    suite_add_tcase(s, tc);
    tc = tcase_create("spamd");
    tcase_add_loop_test(tc, spamd_response_table, 0, (int)N_ELEMENTS(spamd_cases));
    tcase_add_test(tc, spamd_symbols_cut_at_whole_name);
    tcase_add_test(tc, spamd_symbols_that_just_fit);
    tcase_add_test(tc, spamd_response_too_long);
    tcase_add_loop_test(tc, spamd_tell_table, 0, (int)N_ELEMENTS(learn_tell_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("rspamd");
    tcase_add_loop_test(tc, rspamd_reply_table, 0, (int)N_ELEMENTS(rspamd_cases));
    tcase_add_loop_test(tc, rspamd_http_table, 0, (int)N_ELEMENTS(rspamd_http_cases));
    tcase_add_test(tc, rspamd_http_truncated);
    tcase_add_test(tc, rspamd_symbols_cut_at_whole_symbol);
    tcase_add_test(tc, rspamd_response_too_long);
    tcase_add_test(tc, rspamd_action_names);
    tcase_add_loop_test(tc, rspamd_learn_table, 0, (int)N_ELEMENTS(learn_controller_cases));
    suite_add_tcase(s, tc);
    return s;
}
