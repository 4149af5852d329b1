/*
 * test_trace.c - trace ids and the header block put on top of every message.
 *
 * The Received, OPES-System and OPES-Via fields are what a recipient (and
 * every later hop) reads: they must carry the trace id, keep RFC 5322 line
 * limits, use CRLF, and never let peer-supplied text start a header of its own.
 */
#include <check.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/trace.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const char id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

START_TEST(id_format)
{
    char id[TRACE_ID_LEN + 1], prev[TRACE_ID_LEN + 1] = "";
    unsigned seen[256] = {0};

    for (int round = 0; round < 1000; round++) {
        memset(id, '#', sizeof(id));
        trace_id_new(id);
        ck_assert_uint_eq(strlen(id), 16);
        for (int i = 0; i < TRACE_ID_LEN; i++) {
            if (id[i] == '\0' || strchr(id_alphabet, id[i]) == NULL)
                ck_abort_msg("'%c' in trace id %s", id[i], id);
            seen[(unsigned char)id[i]]++;
        }
        ck_assert_str_ne(id, prev);
        memcpy(prev, id, sizeof(id));
    }
    /* 16000 characters: every letter of the alphabet shows up */
    for (const char *a = id_alphabet; *a != '\0'; a++)
        ck_assert_msg(seen[(unsigned char)*a] > 0, "'%c' never used", *a);
}
END_TEST

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(ids_unique)
{
    enum { N = 20000 };
    static char ids[N][TRACE_ID_LEN + 1];
    int dups = 0;

    for (int i = 0; i < N; i++)
        trace_id_new(ids[i]);
    qsort(ids, N, sizeof(ids[0]), id_cmp);
    for (int i = 1; i < N; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    ck_assert_msg(dups == 0, "%d repeated trace ids among %d", dups, N);
}
END_TEST

/*
 * Header block helpers
 */

/* check_lines - CRLF line ends only; each line at most max octets (CRLF excluded). */
static void check_lines(const char *buf, size_t len, size_t max)
{
    size_t start = 0;

    ck_assert_msg(len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n',
                  "block does not end with CRLF");
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
            ck_abort_msg("bare CR at %zu", i);
        if (buf[i] == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                ck_abort_msg("bare LF at %zu", i);
            if (i - 1 - start > max)
                ck_abort_msg("line of %zu octets (limit %zu): %.*s", i - 1 - start, max,
                             (int)(i - 1 - start), buf + start);
            start = i + 1;
        }
    }
}

/*
 * unfold_field - the value of field name (unfolded, runs of white space as one
 * space) into out; false when the block has no such field.
 */
static bool unfold_field(const char *buf, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name), o = 0;
    const char *p = buf;
    bool space = false;

    while (p != NULL && strncmp(p, name, nlen) != 0) {
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    if (p == NULL || *p == '\0')
        return false;
    p += nlen;
    for (; *p != '\0'; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            if (p[2] != ' ' && p[2] != '\t')
                break;
            p++;
            continue;
        }
        if (*p == ' ' || *p == '\t') {
            space = true;
        } else {
            if (space && o > 0 && o + 1 < size)
                out[o++] = ' ';
            space = false;
            if (o + 1 < size)
                out[o++] = *p;
        }
    }
    out[o] = '\0';
    return true;
}

/* field_count - how many header fields the block holds. */
static int field_count(const char *buf)
{
    int n = 0;

    for (const char *p = buf; *p != '\0'; p = strstr(p, "\r\n") + 2) {
        if (*p != ' ' && *p != '\t')
            n++;
        if (strstr(p, "\r\n") == NULL)
            break;
    }
    return n;
}

static const struct trace_via two_services[] = {
    {"http://opes.example.org/services/antivirus", "pass"},
    {"http://opes.example.org/services/footer", "modify"},
};

static void base_info(struct trace_info *ti)
{
    memset(ti, 0, sizeof(*ti));
    ti->id = "0123456789abcdef";
    ti->system_uri = "http://opes.example.org/opes";
    ti->by_host = "mx.example.org";
    ti->helo = "client.example.net";
    ti->peer_name = "client.example.net";
    ti->peer_addr = "192.0.2.1";
    ti->protocol = "LMTP";
    ti->for_rcpt = "alice@example.org";
    ti->when = 1700000000;
    ti->via = two_services;
    ti->nvia = 2;
}

START_TEST(headers_content)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_eq(len, strlen(buf));
    check_lines(buf, len, 78);
    ck_assert_int_eq(field_count(buf), 3);

    ck_assert_int_eq(strncmp(buf, "Received:", 9), 0);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "from client.example.net"));
    ck_assert_ptr_nonnull(strstr(field, "(client.example.net [192.0.2.1])"));
    ck_assert_ptr_nonnull(strstr(field, "by mx.example.org"));
    ck_assert_ptr_nonnull(strstr(field, "with LMTP id 0123456789abcdef"));
    ck_assert_ptr_nonnull(strstr(field, "for <alice@example.org>;"));
    /* the date after the semicolon, RFC 5322 style with a zone */
    ck_assert_ptr_nonnull(strstr(field, "2023"));
    ck_assert_ptr_nonnull(strchr(field, ';'));

    ck_assert(unfold_field(buf, "OPES-System:", field, sizeof(field)));
    ck_assert_str_eq(field, "http://opes.example.org/opes; trace=0123456789abcdef");

    ck_assert(unfold_field(buf, "OPES-Via:", field, sizeof(field)));
    ck_assert_str_eq(field, "http://opes.example.org/opes; action=relay, "
                            "http://opes.example.org/services/antivirus; action=pass, "
                            "http://opes.example.org/services/footer; action=modify");
}
END_TEST

START_TEST(headers_no_services)
{
    struct trace_info ti;
    char buf[4096], field[1024];
    size_t len;

    base_info(&ti);
    ti.via = NULL;
    ti.nvia = 0;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 78);
    ck_assert(unfold_field(buf, "OPES-Via:", field, sizeof(field)));
    ck_assert_str_eq(field, "http://opes.example.org/opes; action=relay");
}
END_TEST

/* OPES-Delivery-Id, when given, closes the block */
START_TEST(headers_delivery_id)
{
    struct trace_info ti;
    char buf[4096], field[256];
    size_t len;

    base_info(&ti);
    ti.delivery_id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 78);
    ck_assert_int_eq(field_count(buf), 4);
    ck_assert(unfold_field(buf, "OPES-Delivery-Id:", field, sizeof(field)));
    ck_assert_str_eq(field, "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    /* the last field of the block, and the block is still one opesd accepts */
    ck_assert_int_eq(
        strcmp(buf + len - 52, "OPES-Delivery-Id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0\r\n"), 0);
    ck_assert(trace_check(buf, len, ti.id));
}
END_TEST

/* "for <rcpt>" only names the recipient when there is exactly one */
START_TEST(headers_without_for)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.for_rcpt = NULL;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 78);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_null(strstr(field, "for "));
    ck_assert_ptr_null(strstr(field, "alice@example.org"));
    ck_assert_ptr_nonnull(strstr(field, "with LMTP id 0123456789abcdef;"));
}
END_TEST

START_TEST(headers_utf8lmtp_and_unix)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.protocol = "UTF8LMTP";
    ti.peer_addr = "unix";
    ti.peer_name = NULL;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 78);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "with UTF8LMTP id 0123456789abcdef"));
    ck_assert_ptr_nonnull(strstr(field, "(unix socket)"));
}
END_TEST

/* a client name cannot inject a header or break the field */
START_TEST(headers_hostile_peer_text)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.helo = "evil\r\nBcc: victim@example.org";
    ti.peer_name = "x)\r\n\r\nbody";
    ti.peer_addr = "1.2.3.4] (forged";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 998);
    ck_assert_int_eq(field_count(buf), 3);
    ck_assert_ptr_null(strstr(buf, "\r\nBcc:"));
    ck_assert_ptr_null(strstr(buf, "\r\n\r\n"));
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_null(strstr(field, "(forged"));
}
END_TEST

/* a realistic long reverse name with an IPv6 address still folds at 78 */
START_TEST(headers_fold_long_peer)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.helo = "mail-eopbgr80123.outbound.protection.outlook.com";
    ti.peer_name = "mail-eopbgr80123.outbound.protection.outlook.com";
    ti.peer_addr = "IPv6:2a01:111:f400:7e1a::201";
    ti.for_rcpt = "firstname.lastname+newsletters@department.example.org";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "mail-eopbgr80123.outbound.protection.outlook.com"));
    ck_assert_ptr_nonnull(strstr(field, "[IPv6:2a01:111:f400:7e1a::201]"));
    check_lines(buf, len, 78);
}
END_TEST

/* a release note becomes a comment in Received: sanitized, and folded like the rest */
START_TEST(headers_note)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.note = "released from quarantine by firstname.lastname@department.example.org via web";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field,
                                 "with LMTP id 0123456789abcdef (released from quarantine by "
                                 "firstname.lastname@department.example.org via web)"));
    check_lines(buf, len, 78);
}
END_TEST

/* note text that would close the comment early or start a header is neutralised */
START_TEST(headers_note_hostile)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.note = "by x) evil\r\nBcc: victim@example.org (";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 998);
    ck_assert_int_eq(field_count(buf), 3);
    ck_assert_ptr_null(strstr(buf, "\r\nBcc:"));
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_null(strstr(field, "x) evil"));
}
END_TEST

/* many services with long names: folded, every entry kept */
START_TEST(headers_many_services)
{
    struct trace_via via[32];
    char uris[32][80], buf[4096], field[4096], entry[128];
    struct trace_info ti;
    size_t len;

    for (int i = 0; i < 32; i++) {
        snprintf(uris[i], sizeof(uris[i]),
                 "https://opes.department.example.org/services/filter-%02d", i);
        via[i].uri = uris[i];
        via[i].action = i % 2 ? "quarantine" : "bypassed";
    }
    base_info(&ti);
    ti.via = via;
    ti.nvia = 32;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_msg(len > 0, "32 services do not fit in 4096 octets");
    check_lines(buf, len, 78);
    ck_assert(unfold_field(buf, "OPES-Via:", field, sizeof(field)));
    for (int i = 0; i < 32; i++) {
        snprintf(entry, sizeof(entry), "%s; action=%s%s", uris[i], via[i].action,
                 i < 31 ? "," : "");
        ck_assert_msg(strstr(field, entry) != NULL, "entry %d missing: %s", i, entry);
    }
}
END_TEST

/* a URI too long to fold: the line may pass 78, never 998 */
START_TEST(headers_never_over_998)
{
    static char uri[1300];
    struct trace_via via[1];
    struct trace_info ti;
    char buf[8192];
    size_t len;

    memcpy(uri, "http://opes.example.org/", 24);
    memset(uri + 24, 'a', sizeof(uri) - 25);
    uri[sizeof(uri) - 1] = '\0';
    via[0].uri = uri;
    via[0].action = "pass";
    base_info(&ti);
    ti.via = via;
    ti.nvia = 1;
    len = trace_headers(buf, sizeof(buf), &ti);
    /* refusing (0) is fine; a field line over 998 octets is not */
    if (len > 0)
        check_lines(buf, len, 998);
}
END_TEST

START_TEST(headers_too_small)
{
    struct trace_info ti;
    char buf[4096];
    size_t need;

    base_info(&ti);
    need = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(need, 0);
    ck_assert_uint_eq(trace_headers(buf, need + 1, &ti), need);
    ck_assert_uint_eq(trace_headers(buf, need, &ti), 0);
    ck_assert_uint_eq(trace_headers(buf, 64, &ti), 0);
}
END_TEST

struct sanitize_test {
    const char *in;
    const char *out;
};

static const struct sanitize_test sanitize_tests[] = {
    {"mx.example.org", "mx.example.org"},
    {"[192.0.2.1]", "[192.0.2.1]"},
    {"IPv6:2001:db8::1", "IPv6:2001:db8::1"},
    {"my_host-1", "my_host-1"},
    {"evil\r\nBcc: x", "evil__Bcc:_x"},
    {"a b(c)d;e<f>g\"h\\i", "a_b_c_d_e_f_g_h_i"},
    {"caf\xc3\xa9", "caf__"},
    {"tab\there", "tab_here"},
    {"", ""},
};

START_TEST(sanitize)
{
    const struct sanitize_test *t = &sanitize_tests[_i];
    char out[256];

    trace_sanitize(out, sizeof(out), t->in);
    ck_assert_str_eq(out, t->out);
}
END_TEST

START_TEST(sanitize_bounds)
{
    char out[8], big[300], longin[1000];

    trace_sanitize(out, sizeof(out), "abcdefghijkl");
    ck_assert_str_eq(out, "abcdefg");
    trace_sanitize(out, sizeof(out), NULL);
    ck_assert_str_eq(out, "");
    memset(longin, 'x', sizeof(longin) - 1);
    longin[sizeof(longin) - 1] = '\0';
    trace_sanitize(big, sizeof(big), longin);
    ck_assert_uint_le(strlen(big), 255);
    for (size_t i = 0; big[i] != '\0'; i++)
        ck_assert(isalnum((unsigned char)big[i]));
}
END_TEST

/* OPES fields a DKIM signature covers ride in Received comments, never dropped */
START_TEST(headers_carried_in_received)
{
    struct trace_info ti;
    char buf[4096], field[2048];
    size_t len;

    base_info(&ti);
    ti.note = "released by alice";
    ti.carry = TRACE_CARRY_SYSTEM | TRACE_CARRY_VIA;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    check_lines(buf, len, 78);
    ck_assert_int_eq(field_count(buf), 1);
    ck_assert(!unfold_field(buf, "OPES-System:", field, sizeof(field)));
    ck_assert(!unfold_field(buf, "OPES-Via:", field, sizeof(field)));
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "with LMTP id 0123456789abcdef (released by alice) "
                                        "(OPES-System: http://opes.example.org/opes; "
                                        "trace=0123456789abcdef) "
                                        "(OPES-Via: http://opes.example.org/opes; action=relay, "
                                        "http://opes.example.org/services/antivirus; action=pass, "
                                        "http://opes.example.org/services/footer; action=modify) "
                                        "for <alice@example.org>;"));
    ck_assert(trace_check(buf, len, ti.id));

    /* only OPES-Via signed: OPES-System stays a field of its own */
    ti.note = NULL;
    ti.carry = TRACE_CARRY_VIA;
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(field_count(buf), 2);
    ck_assert(unfold_field(buf, "OPES-System:", field, sizeof(field)));
    ck_assert(!unfold_field(buf, "OPES-Via:", field, sizeof(field)));
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "(OPES-Via: http://opes.example.org/opes; action=relay, "));
    ck_assert_ptr_null(strstr(field, "(OPES-System:"));

    /* a URI with comment-breaking characters cannot end the comment early */
    ti.system_uri = "http://opes.example.org/(x)\\";
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert(unfold_field(buf, "Received:", field, sizeof(field)));
    ck_assert_ptr_nonnull(strstr(field, "(OPES-Via: http://opes.example.org/_x__; action=relay"));
}
END_TEST

/* trace_check accepts what trace_headers writes and refuses damaged blocks */
START_TEST(check_block)
{
    struct trace_info ti;
    char buf[4096], bad[4200];
    size_t len;

    base_info(&ti);
    len = trace_headers(buf, sizeof(buf), &ti);
    ck_assert(len > 0);
    ck_assert(trace_check(buf, len, ti.id));
    ck_assert(!trace_check(buf, len, "someotherid00000"));
    ck_assert(!trace_check(buf, len - 2, ti.id)); /* no final CRLF */
    ck_assert(!trace_check(buf, 0, ti.id));
    /* a bare LF inside */
    memcpy(bad, buf, len);
    bad[10] = '\n';
    ck_assert(!trace_check(bad, len, ti.id));
    /* OPES-System naming another trace */
    snprintf(bad, sizeof(bad),
             "Received: from x by y with LMTP id %s; date\r\n"
             "OPES-System: http://o.example/opes; trace=other\r\n",
             ti.id);
    ck_assert(!trace_check(bad, strlen(bad), ti.id));
    /* a block starting with a continuation line */
    snprintf(bad, sizeof(bad), " x\r\nReceived: from x by y with LMTP id %s; date\r\n", ti.id);
    ck_assert(!trace_check(bad, strlen(bad), ti.id));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc;

    tc = tcase_create("id");
    tcase_add_test(tc, id_format);
    tcase_add_test(tc, ids_unique);
    suite_add_tcase(s, tc);

    tc = tcase_create("headers");
    tcase_add_test(tc, headers_content);
    tcase_add_test(tc, headers_no_services);
    tcase_add_test(tc, headers_delivery_id);
    tcase_add_test(tc, headers_without_for);
    tcase_add_test(tc, headers_utf8lmtp_and_unix);
    tcase_add_test(tc, headers_hostile_peer_text);
    tcase_add_test(tc, headers_fold_long_peer);
    tcase_add_test(tc, headers_note);
    tcase_add_test(tc, headers_note_hostile);
    tcase_add_test(tc, headers_many_services);
    tcase_add_test(tc, headers_never_over_998);
    tcase_add_test(tc, headers_too_small);
    tcase_add_test(tc, headers_carried_in_received);
    tcase_add_test(tc, check_block);
    suite_add_tcase(s, tc);

    tc = tcase_create("sanitize");
    tcase_add_loop_test(tc, sanitize, 0, (int)N_ELEMENTS(sanitize_tests));
    tcase_add_test(tc, sanitize_bounds);
    suite_add_tcase(s, tc);
    return s;
}
