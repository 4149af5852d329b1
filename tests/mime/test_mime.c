/*
 * test_mime.c - the MIME parser as the services will see it.
 *
 * Tables of inputs and what a service must get out of them: header fields
 * unfolded and where they sit, encoded words and parameters decoded for
 * display and for attachment-name rules, where each part's body starts and
 * ends (the bytes a scanner is handed), what happens at the limits, which
 * messages count as signed or encrypted (their bodies must not be touched),
 * and which header names a DKIM signature covers (they must not be added).
 * Every message is also parsed byte by byte and in random pieces, and the
 * result must be the same.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_testutil.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* parse_lim - the message at once, checked against byte-by-byte and random pieces. */
static struct mime_message *parse_lim(const char *msg, size_t len, const struct mime_limits *lim)
{
    struct mime_message *m = mime_parse(msg, len, lim);
    struct mime_message *bytewise = mt_parse_split(msg, len, lim, 1, 0);
    struct mime_message *pieces = mt_parse_split(msg, len, lim, 0, (uint32_t)len + 7);
    const char *why;

    why = mt_diff(m, bytewise);
    ck_assert_msg(why == NULL, "byte by byte: %s", why);
    why = mt_diff(m, pieces);
    ck_assert_msg(why == NULL, "in pieces: %s", why);
    mime_message_free(&bytewise);
    mime_message_free(&pieces);
    return m;
}

static struct mime_message *parse(const char *msg)
{
    return parse_lim(msg, strlen(msg), NULL);
}

/* body - the bytes of part i's body (what a scanner would be handed), as a string. */
static char *body(const struct mime_message *m, const char *msg, size_t i)
{
    const struct mime_part *p = &m->parts[i];

    ck_assert_uint_le(p->body_start, p->body_end);
    return strndup(msg + p->body_start, (size_t)(p->body_end - p->body_start));
}

#define ASSERT_BODY(m, msg, i, want)                                                               \
    do {                                                                                           \
        char *got_ = body(m, msg, i);                                                              \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

/* assert_type - part i is "type/subtype". */
static void assert_type(const struct mime_message *m, size_t i, const char *want)
{
    char got[256];

    ck_assert_uint_lt(i, m->nparts);
    snprintf(got, sizeof(got), "%s/%s", m->parts[i].type, m->parts[i].subtype);
    ck_assert_str_eq(got, want);
}

/* assert_sane - offsets nest: every part inside its parent, in document order. */
static void assert_sane(const struct mime_message *m, size_t len, const struct mime_limits *lim)
{
    for (size_t i = 0; i < m->nparts; i++) {
        const struct mime_part *p = &m->parts[i];
        ck_assert(p->header_start <= p->body_start && p->body_start <= p->body_end);
        ck_assert_uint_le(p->body_end, len);
        ck_assert_uint_le(p->depth, lim != NULL ? lim->max_depth : 20);
        if (i == 0) {
            ck_assert_int_eq(p->parent, -1);
            continue;
        }
        ck_assert(p->parent >= 0 && (size_t)p->parent < i);
        const struct mime_part *up = &m->parts[p->parent];
        ck_assert_uint_eq(p->depth, up->depth + 1);
        ck_assert(p->header_start >= up->body_start && p->body_end <= up->body_end);
        ck_assert(p->header_start >= m->parts[i - 1].header_start);
    }
}

/* ---- header fields ---- */

struct header_case {
    const char *msg;
    size_t nfields;
    const char *name[3];
    const char *value[3];
    uint64_t offset[3], raw_len[3];
    unsigned flags;
    uint64_t body_start;
};

static const struct header_case header_cases[] = {
    {"Subject: hello\r\n\r\nbody", 1, {"Subject"}, {"hello"}, {0}, {14}, 0, 18},
    /* folding: only the line ends go, the white space stays */
    {"Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\n",
     2,
     {"Subject", "To"},
     {"a b\tc", "x"},
     {0, 20},
     {18, 5},
     0,
     29},
    /* a line of white space only continues the field (it is not the blank line) */
    {"Date: Wed\r\n \r\nbody?\r\n\r\n", 1, {"Date"}, {"Wed"}, {0}, {12}, MIME_F_BAD_HEADER, 23},
    /* obsolete syntax: white space before the colon; empty value */
    {"Subject :x\r\nX-Empty:\r\n\r\n",
     2,
     {"Subject", "X-Empty"},
     {"x", ""},
     {0, 12},
     {10, 8},
     0,
     24},
    /* a line that is not a field is skipped, the header goes on (as mime4j does) */
    {"Subject: a\r\nnot a header\r\nTo: b\r\n\r\n",
     2,
     {"Subject", "To"},
     {"a", "b"},
     {0, 26},
     {10, 5},
     MIME_F_BAD_HEADER,
     35},
    /* so is an mbox "From " line, and a name with a space or 8-bit byte */
    {"From a@b Mon Jan 1 00:00:00 2024\r\nBad Name: 1\r\nB\xe4"
     "d: 2\r\nX: y\r\n\r\n",
     1,
     {"X"},
     {"y"},
     {55},
     {4},
     MIME_F_BAD_HEADER,
     63},
    /* a continuation with no field before it */
    {" lost\r\nSubject: s\r\n\r\n", 1, {"Subject"}, {"s"}, {7}, {10}, MIME_F_BAD_HEADER, 21},
    /* bare LF line ends */
    {"Subject: a\nTo: b\n\nbody\n",
     2,
     {"Subject", "To"},
     {"a", "b"},
     {0, 11},
     {10, 5},
     MIME_F_BARE_LF,
     18},
    /* no blank line: all header, the body is empty at the end */
    {"Subject: only a header\r\n", 1, {"Subject"}, {"only a header"}, {0}, {22}, 0, 24},
    {"Subject: no line end", 1, {"Subject"}, {"no line end"}, {0}, {20}, 0, 20},
    /* trailing white space is not part of the value */
    {"Subject:   padded  \t\r\n\r\n", 1, {"Subject"}, {"padded"}, {0}, {20}, 0, 24},
};

START_TEST(test_header_fields)
{
    const struct header_case *t = &header_cases[_i];
    const char *msg = t->msg;
    struct mime_message *m = parse(msg);

    ck_assert_uint_eq(m->nfields, t->nfields);
    for (size_t k = 0; k < m->nfields; k++) {
        ck_assert_str_eq(m->fields[k].name, t->name[k]);
        ck_assert_str_eq(m->fields[k].value, t->value[k]);
        ck_assert_uint_eq(m->fields[k].offset, t->offset[k]);
        ck_assert_uint_eq(m->fields[k].raw_len, t->raw_len[k]);
        /* the offsets cut out the field exactly as written */
        ck_assert_int_eq(memcmp(msg + m->fields[k].offset, t->name[k], strlen(t->name[k])), 0);
    }
    ck_assert_uint_eq(m->flags, t->flags);
    ck_assert_uint_eq(m->parts[0].body_start, t->body_start);
    ck_assert_uint_eq(m->parts[0].body_end, strlen(msg));
    mime_message_free(&m);
}
END_TEST

START_TEST(test_header_get_and_trace)
{
    const char *msg = "Received: from a by b\r\nReturn-Path: <x@y>\r\nResent-From: r@s\r\n"
                      "OPES-Via: u; action=pass\r\nsubject: first\r\nSubject: second\r\n"
                      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: text/plain\r\nX-Part: inner\r\n\r\nx\r\n--b--\r\n";
    struct mime_message *m = parse(msg);

    ck_assert(m->fields[0].trace && m->fields[1].trace && m->fields[2].trace && m->fields[3].trace);
    ck_assert(!m->fields[4].trace && !m->fields[5].trace);
    ck_assert_str_eq(mime_header_get(m, -1, "SUBJECT"), "first");
    ck_assert_str_eq(mime_header_get(m, -1, "resent-from"), "r@s");
    ck_assert_ptr_null(mime_header_get(m, -1, "X-Part"));
    ck_assert_str_eq(mime_header_get(m, 1, "x-part"), "inner");
    ck_assert_ptr_null(mime_header_get(m, 1, "Subject"));
    ck_assert_ptr_null(mime_header_get(m, 7, "Subject"));
    mime_message_free(&m);
}
END_TEST

START_TEST(test_header_too_long)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    char *msg = malloc(3000);
    struct mime_message *m;
    size_t n;

    lim.max_header_line = 100;
    n = (size_t)sprintf(msg, "Subject: ");
    memset(msg + n, 'a', 2000);
    n += 2000;
    n += (size_t)sprintf(msg + n, "\r\n continued\r\nTo: t\r\n\r\nbody");
    m = parse_lim(msg, n, &lim);
    ck_assert_uint_eq(m->nfields, 2);
    ck_assert(m->fields[0].truncated);
    ck_assert_uint_eq(strlen(m->fields[0].value), 100 - strlen("Subject:") - 1);
    ck_assert_uint_eq(m->fields[0].raw_len, 9 + 2000 + 2 + 10);
    ck_assert_str_eq(m->fields[1].value, "t");
    ck_assert(m->flags & MIME_F_HEADER_TOO_LONG);
    ASSERT_BODY(m, msg, 0, "body");
    mime_message_free(&m);
    free(msg);
}
END_TEST

START_TEST(test_header_nul)
{
    /* a NUL cannot end a value early: what follows it stays visible to rules */
    static const char msg[] = "Subject: free\0 money\r\nContent-Type: text/html\0; x=y\r\n\r\nb";
    struct mime_message *m = parse_lim(msg, sizeof(msg) - 1, NULL);

    ck_assert_str_eq(mime_header_get(m, -1, "Subject"), "free  money");
    ck_assert_str_eq(mime_part_param(&m->parts[0], "x"), "y");
    assert_type(m, 0, "text/html");
    mime_message_free(&m);
}
END_TEST

/* ---- RFC 2047 for display ---- */

struct rfc2047_case {
    const char *in, *out;
};

static const struct rfc2047_case rfc2047_cases[] = {
    {"plain text", "plain text"},
    {"=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9"},
    {"=?UTF-8?Q?a_b?=", "a b"},
    {"=?utf-8?B?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9"},
    {"=?ISO-8859-1?Q?a=E9b?=", "a\xc3\xa9"
                               "b"},
    {"=?iso-8859-1?b?6Q==?=", "\xc3\xa9"},
    {"=?latin1?q?=E9?=", "\xc3\xa9"},
    {"=?windows-1252?q?=80_=93x=94?=", "\xe2\x82\xac \xe2\x80\x9cx\xe2\x80\x9d"},
    {"=?us-ascii?q?hi?=", "hi"},
    {"=?utf-8*en?q?lang?=", "lang"},
    /* white space between adjacent encoded words goes; elsewhere it stays */
    {"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
    {"=?utf-8?q?a?=\r\n\t=?iso-8859-1?q?b?=", "ab"},
    {"=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"},
    {"Re: =?utf-8?q?x?= (y)", "Re: x (y)"},
    /* a character split across two words comes out whole */
    {"=?utf-8?b?ww==?= =?utf-8?b?qQ==?=", "\xc3\xa9"},
    /* unknown charsets keep the word as written */
    {"=?koi8-r?B?8tXT?=", "=?koi8-r?B?8tXT?="},
    {"=?koi8-r?B?8tXT?= =?utf-8?q?x?=", "=?koi8-r?B?8tXT?= x"},
    /* malformed words stay as they are */
    {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
    {"=?utf-8?q?no end", "=?utf-8?q?no end"},
    {"=?utf-8?q?sp ace?=", "=?utf-8?q?sp ace?="},
    /* invalid UTF-8 in a declared UTF-8 word, NUL */
    {"=?utf-8?q?=FFx?=", "\xef\xbf\xbdx"},
    {"=?utf-8?q?a=00b?=", "a\xef\xbf\xbd"
                          "b"},
    /* raw 8-bit: kept when UTF-8, read as windows-1252 otherwise */
    {"caf\xc3\xa9", "caf\xc3\xa9"},
    {"caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac"},
};

START_TEST(test_rfc2047)
{
    const struct rfc2047_case *t = &rfc2047_cases[_i];
    char out[256];
    size_t n = mime_decode_2047(t->in, out, sizeof(out));

    ck_assert_str_eq(out, t->out);
    ck_assert_uint_eq(n, strlen(t->out));
}
END_TEST

/* the From display names the portal's list shows */
START_TEST(test_display_name)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Mallory <mallory@remote.example>", "Mallory"},
        {"\"Doe, Jane \\\"JD\\\"\" <jane@example.org>", "Doe, Jane \"JD\""},
        {"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>", "J\xc3\xbcrgen M\xc3\xbcller"},
        {"\"=?iso-8859-1?q?Ren=E9?=\" <r@example.fr>", "Ren\xc3\xa9"},
        {"bob@example.org (Bob Smith)", "Bob Smith"},
        {"bob@example.org", ""},
        {"<bob@example.org>", ""},
        {"  Ann\r\n Lee   <ann@example.org>", "Ann   Lee"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mime_display_name(cases[i].in, out, sizeof(out));
        ck_assert_str_eq(out, cases[i].out);
    }
    /* bounded, never half a character */
    ck_assert_uint_eq(mime_display_name("=?utf-8?q?=C3=BC=C3=BC=C3=BC?= <a@b>", out, 6), 4);
}
END_TEST

START_TEST(test_rfc2047_truncation)
{
    char out[6];

    /* three 2-byte characters do not fit in 5 bytes: two do, never half of one */
    ck_assert_uint_eq(mime_decode_2047("=?utf-8?q?=C3=A9=C3=A9=C3=A9?=", out, sizeof(out)), 4);
    ck_assert_str_eq(out, "\xc3\xa9\xc3\xa9");
    ck_assert_uint_eq(mime_decode_2047("abcdefgh", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "abcde");
    ck_assert_uint_eq(mime_decode_2047("abc", out, 1), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* ---- parameters: RFC 2231, 2047 in file names, lenient syntax ---- */

struct param_case {
    const char *header; /* Content-Type and/or Content-Disposition lines */
    const char *filename;
    const char *param, *value; /* a Content-Type parameter to check, or NULL */
    unsigned flags;
};

static const struct param_case param_cases[] = {
    {"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.txt\r\n",
     "\xe2\x82\xac rates.txt", NULL, NULL, 0},
    {"Content-Disposition: attachment; filename*=iso-8859-1'en'%A3%20rates\r\n", "\xc2\xa3 rates",
     NULL, NULL, 0},
    /* continuations, one UTF-8 character split across two sections */
    {"Content-Disposition: attachment;\r\n filename*0*=utf-8''caf%C3;\r\n filename*1*=%A9.txt\r\n",
     "caf\xc3\xa9.txt", NULL, NULL, 0},
    {"Content-Disposition: attachment; filename*0=\"long \"; filename*1=\"name.pdf\"\r\n",
     "long name.pdf", NULL, NULL, 0},
    {"Content-Disposition: attachment; filename*1=\"b.txt\"; filename*0=a\r\n", "ab.txt", NULL,
     NULL, 0},
    /* the RFC 2231 form wins over the plain fallback that clients add */
    {"Content-Disposition: attachment; filename=\"fallback.txt\"; filename*=utf-8''real.txt\r\n",
     "real.txt", NULL, NULL, 0},
    /* RFC 2047 inside quotes, as mail clients write it, and unquoted */
    {"Content-Disposition: attachment; filename=\"=?UTF-8?B?w6l0w6kucGRm?=\"\r\n",
     "\xc3\xa9t\xc3\xa9.pdf", NULL, NULL, 0},
    {"Content-Type: application/pdf; name==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=\r\n",
     "This is a test.pdf", NULL, NULL, 0},
    {"Content-Type: image/jpeg;\r\n\tname=\"=?ISO-8859-1?Q?Eelanal=FC=FCsi_p=E4ring.jpg?=\"\r\n",
     "Eelanal\xc3\xbc\xc3\xbcsi p\xc3\xa4ring.jpg", NULL, NULL, 0},
    /* unquoted with spaces, raw 8-bit, the type's name when there is no disposition */
    {"Content-Disposition: attachment; filename=This is a test.txt\r\n", "This is a test.txt", NULL,
     NULL, 0},
    {"Content-Type: text/plain; name=ci\xc3\xab"
     "le.txt\r\n",
     "ci\xc3\xab"
     "le.txt",
     NULL, NULL, 0},
    {"Content-Type: text/plain; name=\"ci\xeb"
     "le.txt\"\r\n",
     "ci\xc3\xab"
     "le.txt",
     NULL, NULL, 0},
    {"Content-Type: text/plain; name=\"type.txt\"\r\nContent-Disposition: inline; "
     "filename=\"disp.txt\"\r\n",
     "disp.txt", NULL, NULL, 0},
    /* a charset nobody converts: the bytes, read as UTF-8 or windows-1252 */
    {"Content-Disposition: attachment; filename*=x-unknown''abc%41\r\n", "abcA", NULL, NULL, 0},
    /* quoted-pair, comments, double semicolons, white space around '=' */
    {"Content-Type: text/plain; charset=\"a\\\"b\"\r\n", NULL, "charset", "a\"b", 0},
    {"Content-Type: text/plain; charset=us-ascii (Plain text)\r\n", NULL, "charset", "us-ascii", 0},
    {"Content-Type: text/plain (a comment);; charset = \"utf-8\"\r\n", NULL, "charset", "utf-8", 0},
    {"Content-Type: multipart/mixed; boundary =bar\r\n", NULL, "boundary", "bar", MIME_F_TRUNCATED},
    {"Content-Type: TEXT/Plain; CHARSET=x\r\n", NULL, "charset", "x", 0},
    /* the first of two definitions counts, and it is recorded */
    {"Content-Disposition: attachment; filename=\"a.txt\"; filename=\"b.exe\"\r\n", "a.txt", NULL,
     NULL, MIME_F_DUP_PARAM},
    {"Content-Type: text/plain\r\nContent-Type: application/x-msdownload\r\n", NULL, NULL, NULL,
     MIME_F_DUP_FIELD},
};

START_TEST(test_params)
{
    const struct param_case *t = &param_cases[_i];
    char msg[1024];
    struct mime_message *m;
    const struct mime_part *p;

    snprintf(msg, sizeof(msg), "%s\r\nbody\r\n", t->header);
    m = parse(msg);
    p = &m->parts[0];
    if (t->filename != NULL) {
        ck_assert_ptr_nonnull(p->filename);
        ck_assert_str_eq(p->filename, t->filename);
    } else {
        ck_assert_ptr_null(p->filename);
    }
    if (t->param != NULL) {
        ck_assert_ptr_nonnull(mime_part_param(p, t->param));
        ck_assert_str_eq(mime_part_param(p, t->param), t->value);
    }
    ck_assert_uint_eq(m->flags, t->flags);
    ASSERT_BODY(m, msg, 0, "body\r\n");
    mime_message_free(&m);
}
END_TEST

struct type_case {
    const char *header;
    const char *type, *cte, *disposition;
    bool attachment;
    unsigned flags;
};

static const struct type_case type_cases[] = {
    {"", "text/plain", "7bit", NULL, false, 0},
    {"Content-Type: TEXT/HTML\r\n", "text/html", "7bit", NULL, false, 0},
    {"Content-Type: text plain\r\n", "text/plain", "7bit", NULL, false, MIME_F_BAD_HEADER},
    {"Content-Type: /\r\n", "text/plain", "7bit", NULL, false, MIME_F_BAD_HEADER},
    /* the body "--x" is no base64 */
    {"Content-Transfer-Encoding: BASE64 (comment)\r\n", "text/plain", "base64", NULL, false,
     MIME_F_BAD_BASE64},
    {"Content-Transfer-Encoding: quoted-printable;\r\n", "text/plain", "quoted-printable", NULL,
     false, 0},
    {"Content-Disposition: ATTACHMENT\r\n", "text/plain", "7bit", "attachment", true, 0},
    {"Content-Disposition: inline; filename=a.png\r\nContent-Type: image/png\r\n", "image/png",
     "7bit", "inline", true, 0},
    {"Content-Disposition: inline\r\n", "text/plain", "7bit", "inline", false, 0},
    /* a multipart without a boundary cannot be split: it stays one piece */
    {"Content-Type: multipart/mixed\r\n", "multipart/mixed", "7bit", NULL, false,
     MIME_F_BAD_BOUNDARY},
};

START_TEST(test_types)
{
    const struct type_case *t = &type_cases[_i];
    char msg[512];
    struct mime_message *m;
    const struct mime_part *p;

    snprintf(msg, sizeof(msg), "%s\r\n--x\r\n", t->header);
    m = parse(msg);
    p = &m->parts[0];
    ck_assert_uint_eq(m->nparts, 1);
    assert_type(m, 0, t->type);
    ck_assert_str_eq(p->cte, t->cte);
    if (t->disposition == NULL)
        ck_assert_ptr_null(p->disposition);
    else
        ck_assert_str_eq(p->disposition, t->disposition);
    ck_assert_int_eq(p->attachment, t->attachment);
    ck_assert_int_eq(p->kind, MIME_KIND_LEAF);
    ck_assert_uint_eq(m->flags, t->flags);
    ASSERT_BODY(m, msg, 0, "--x\r\n");
    mime_message_free(&m);
}
END_TEST

/* ---- structure and boundaries ---- */

#define MP(b) "Content-Type: multipart/mixed; boundary=\"" b "\"\r\n\r\n"

/* Each case: the parts in document order, their parents, and the leaves' bodies. */
struct structure_case {
    const char *what;
    const char *msg;
    size_t nparts;
    const char *type[6];
    int parent[6];
    const char *body[6]; /* NULL: not a leaf */
    unsigned flags;
};

static const struct structure_case structure_cases[] = {
    {"the line end before a delimiter belongs to it",
     MP("b") "preamble\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n\r\n--b--\r\nepilogue\r\n",
     3,
     {"multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 0},
     {NULL, "one", "two\r\n"},
     0},
    {"white space after a delimiter is transport padding",
     MP("b") "--b  \t\r\n\r\none\r\n--b \r\n\r\ntwo\r\n--b--  \r\n",
     3,
     {"multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 0},
     {NULL, "one", "two"},
     0},
    {"lines that only look like delimiters are content",
     MP("b") "--b\r\n\r\n --b\r\n--bx\r\n--b-\r\n-- b\r\n--B\r\n--b\r\n\r\nlast\r\n--b--",
     3,
     {"multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 0},
     {NULL, " --b\r\n--bx\r\n--b-\r\n-- b\r\n--B", "last"},
     0},
    {"an inner boundary that extends the outer one",
     MP("b") "--b\r\n" MP("b-1") "--b-1\r\n\r\ninner\r\n--b-1--\r\n--b\r\n\r\nouter\r\n--b--\r\n",
     4,
     {"multipart/mixed", "multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 1, 0},
     {NULL, NULL, "inner", "outer"},
     MIME_F_PREFIX_BOUNDARY},
    {"an outer boundary that extends the inner one",
     MP("b-1") "--b-1\r\n" MP("b") "--b\r\n\r\ninner\r\n--b--\r\n--b-1\r\n\r\nouter\r\n--b-1--\r\n",
     4,
     {"multipart/mixed", "multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 1, 0},
     {NULL, NULL, "inner", "outer"},
     MIME_F_PREFIX_BOUNDARY},
    {"a missing close delimiter: the last part runs to the end",
     MP("b") "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
     3,
     {"multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 0},
     {NULL, "one", "two\r\n"},
     MIME_F_TRUNCATED},
    {"an outer delimiter ends an inner multipart that was never closed",
     MP("o") "--o\r\n" MP("i") "--i\r\n\r\ninner\r\n--o\r\n\r\nnext\r\n--o--\r\n",
     4,
     {"multipart/mixed", "multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 1, 0},
     {NULL, NULL, "inner", "next"},
     MIME_F_TRUNCATED},
    {"nested multiparts with the same boundary: the innermost takes the lines",
     MP("b") "--b\r\n" MP("b") "--b\r\n\r\ninner\r\n--b--\r\n--b\r\n\r\nouter\r\n--b--\r\n",
     4,
     {"multipart/mixed", "multipart/mixed", "text/plain", "text/plain"},
     {-1, 0, 1, 0},
     {NULL, NULL, "inner", "outer"},
     MIME_F_BAD_BOUNDARY},
    {"after the close delimiter, its boundary means nothing",
     MP("b") "--b\r\n\r\none\r\n--b--\r\n--b\r\nContent-Type: text/html\r\n\r\nno\r\n",
     2,
     {"multipart/mixed", "text/plain"},
     {-1, 0},
     {NULL, "one"},
     MIME_F_AFTER_CLOSE},
    {"a delimiter ends a part's header; empty parts",
     MP("b") "--b\r\nContent-Type: text/html\r\n--b\r\n--b\r\n\r\n--b--\r\n",
     4,
     {"multipart/mixed", "text/html", "text/plain", "text/plain"},
     {-1, 0, 0, 0},
     {NULL, "", "", ""},
     0},
    {"bare LF line ends",
     "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\nhtml\n--b--\n",
     2,
     {"multipart/mixed", "text/html"},
     {-1, 0},
     {NULL, "html"},
     MIME_F_BARE_LF},
    {"a boundary with quoted specials and spaces",
     MP("a'()+_,-./:=? z") "--a'()+_,-./:=? z\r\n\r\nx\r\n--a'()+_,-./:=? z--\r\n",
     2,
     {"multipart/mixed", "text/plain"},
     {-1, 0},
     {NULL, "x"},
     0},
    {"message/rfc822: the enclosed message is a part of its own",
     MP("b") "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
             "Content-Type: text/html\r\n\r\n<p>\r\n--b--\r\n",
     3,
     {"multipart/mixed", "message/rfc822", "text/html"},
     {-1, 0, 1},
     {NULL, NULL, "<p>"},
     0},
    {"multipart/digest: parts default to message/rfc822",
     "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n"
     "--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\n",
     4,
     {"multipart/digest", "message/rfc822", "text/plain", "text/plain"},
     {-1, 0, 1, 0},
     {NULL, NULL, "first", "not a message"},
     0},
    {"a base64 message/rfc822 is not parsed inside",
     "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
     "base64\r\n\r\nU3ViamVjdDogeA0K\r\n",
     1,
     {"message/rfc822"},
     {-1},
     {"U3ViamVjdDogeA0K\r\n"},
     MIME_F_ENCODED_CONTAINER},
    {"two boundary parameters: recorded (first used)",
     "Content-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\r\n\r\n--b\r\n\r\nhid\r\n"
     "--a\r\n\r\nshown\r\n--a--\r\n",
     2,
     {"multipart/mixed", "text/plain"},
     {-1, 0},
     {NULL, "shown"},
     MIME_F_DUP_BOUNDARY | MIME_F_DUP_PARAM},
};

START_TEST(test_structure)
{
    const struct structure_case *t = &structure_cases[_i];
    const char *msg = t->msg;
    struct mime_message *m = parse(msg);
    size_t want = t->nparts;

    ck_assert_msg(m->nparts == want, "%s: %zu parts", t->what, m->nparts);
    for (size_t k = 0; k < m->nparts; k++) {
        assert_type(m, k, t->type[k]);
        ck_assert_int_eq(m->parts[k].parent, t->parent[k]);
        if (t->body[k] != NULL) {
            ck_assert_int_eq(m->parts[k].kind, MIME_KIND_LEAF);
            ASSERT_BODY(m, msg, k, t->body[k]);
        } else {
            ck_assert_int_ne(m->parts[k].kind, MIME_KIND_LEAF);
        }
    }
    ck_assert_msg(m->flags == t->flags, "%s: flags %#x", t->what, m->flags);
    assert_sane(m, strlen(msg), NULL);
    mime_message_free(&m);
}
END_TEST

START_TEST(test_preamble_epilogue_offsets)
{
    const char *msg = MP("b") "pre\r\n--b\r\n\r\nx\r\n--b--\r\nepi\r\n";
    struct mime_message *m = parse(msg);
    const struct mime_part *root = &m->parts[0];
    size_t bs = strlen(MP("b"));

    ck_assert_int_eq(root->kind, MIME_KIND_MULTIPART);
    ck_assert_uint_eq(root->body_start, bs);
    ck_assert_uint_eq(root->preamble_end, bs + 3);
    ck_assert_uint_eq(root->epilogue_start, strlen(msg) - 5);
    ck_assert_uint_eq(root->body_end, strlen(msg));
    ck_assert_uint_eq(m->parts[1].header_start, bs + 10);
    mime_message_free(&m);
}
END_TEST

START_TEST(test_nested_message_fields)
{
    const char *msg = "Subject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n"
                      "\r\nSubject: inner\r\nFrom: x@y\r\n\r\nhello\r\n--b--\r\n";
    struct mime_message *m = parse(msg);

    ck_assert_uint_eq(m->nparts, 3);
    ck_assert(m->parts[0].is_message && !m->parts[1].is_message && m->parts[2].is_message);
    ck_assert_int_eq(m->parts[1].kind, MIME_KIND_MESSAGE);
    ck_assert(m->parts[1].attachment);
    ck_assert_str_eq(mime_header_get(m, -1, "Subject"), "outer");
    ck_assert_str_eq(mime_header_get(m, 2, "Subject"), "inner");
    ck_assert_str_eq(mime_header_get(m, 2, "From"), "x@y");
    /* the enclosed message starts where the wrapper's body starts */
    ck_assert_uint_eq(m->parts[2].header_start, m->parts[1].body_start);
    ck_assert_uint_eq(m->parts[2].body_end, m->parts[1].body_end);
    ASSERT_BODY(m, msg, 2, "hello");
    mime_message_free(&m);
}
END_TEST

START_TEST(test_long_boundary)
{
    char b[1001], want[1100], *msg = malloc(8000);
    struct mime_message *m;

    memset(b, 'q', 1000);
    b[1000] = '\0';
    snprintf(want, sizeof(want), "one\r\n--%sx", b); /* one byte more: content */
    sprintf(msg,
            "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n\r\none\r\n--%sx\r\n"
            "--%s\r\n\r\ntwo\r\n--%s--\r\n",
            b, b, b, b, b);
    m = parse(msg);
    ck_assert_uint_eq(m->nparts, 3);
    ASSERT_BODY(m, msg, 1, want);
    ASSERT_BODY(m, msg, 2, "two");
    mime_message_free(&m);
    free(msg);
}
END_TEST

/* ---- limits ---- */

/*
 * nested_multiparts - levels multiparts inside each other, a text part
 * innermost; boundaries of two digits, so that none is a prefix of another.
 */
static char *nested_multiparts(int levels)
{
    struct mt_buf b = {0};
    char line[128];

    for (int i = 0; i < levels; i++) {
        int n = snprintf(line, sizeof(line),
                         "Content-Type: multipart/mixed; boundary=b%02d\r\n\r\n--b%02d\r\n", i, i);
        mt_put(&b, line, (size_t)n);
    }
    mt_put(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n", 34);
    for (int i = levels - 1; i >= 0; i--) {
        int n = snprintf(line, sizeof(line), "--b%02d--\r\n", i);
        mt_put(&b, line, (size_t)n);
    }
    return b.data;
}

START_TEST(test_limit_depth)
{
    char *msg = nested_multiparts(30);
    struct mime_message *m = parse(msg);
    unsigned deepest = 0;

    for (size_t i = 0; i < m->nparts; i++)
        deepest = m->parts[i].depth > deepest ? m->parts[i].depth : deepest;
    ck_assert_uint_eq(deepest, 20);
    ck_assert_uint_eq(m->nparts, 21);
    ck_assert_uint_eq(m->flags, MIME_F_LIMIT);
    ck_assert_uint_eq(m->limits, MIME_L_DEPTH);
    /* the part at the limit is not split; it runs to its parent's close delimiter */
    ck_assert_int_eq(m->parts[20].kind, MIME_KIND_LEAF);
    ck_assert(m->parts[20].flags & MIME_F_LIMIT);
    ck_assert_int_eq(memcmp(msg + m->parts[20].body_end, "\r\n--b19--\r\n", 11), 0);
    assert_sane(m, strlen(msg), NULL);
    mime_message_free(&m);
    free(msg);
}
END_TEST

/*
 * Which limit stopped the parser: each row a message, the limits it is read
 * with (a small value per row), and the MIME_L_* bits and the words that
 * mime_limit_text() must give.
 */
struct limit_case {
    const char *what;
    const char *msg;
    struct mime_limits lim; /* 0: the default */
    unsigned limits;
    const char *text;
};

static const struct limit_case limit_cases[] = {
    {"nothing reached", "Subject: a\r\n\r\nbody\r\n", {0}, 0, ""},
    {"a field past max_fields",
     "A: 1\r\nB: 2\r\nSubject: evil\r\n\r\nx\r\n",
     {.max_fields = 2},
     MIME_L_FIELDS,
     "header fields (max 2)"},
    {"a field longer than max_header_line",
     "Subject: 0123456789evil\r\n\r\nx\r\n",
     {.max_header_line = 12},
     MIME_L_FIELD_LEN,
     "field length (max 12)"},
    {"a header block over max_header_block",
     "A: 0123456789\r\nSubject: evil\r\n\r\nx\r\n",
     {.max_header_block = 10},
     MIME_L_HEADER_BLOCK,
     "header size (max 10)"},
    {"stored header text over max_header_total",
     "A: 0123456789\r\nSubject: evil\r\n\r\nx\r\n",
     {.max_header_total = 40},
     MIME_L_HEADER_TOTAL,
     "header text in all (max 40)"},
    {"a part past max_parts",
     MP("b") "--b\r\n\r\none\r\n--b\r\nContent-Type: application/x-evil\r\n\r\ntwo\r\n--b--\r\n",
     {.max_parts = 2},
     MIME_L_PARTS,
     "parts (max 2)"},
    {"a multipart below max_depth",
     MP("b") "--b\r\n" MP("c") "--c\r\n\r\ndeep\r\n--c--\r\n--b--\r\n",
     {.max_depth = 1},
     MIME_L_DEPTH,
     "nesting depth (max 1)"},
    {"a message/rfc822 below max_depth",
     "Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n",
     {.max_depth = 1},
     MIME_L_DEPTH,
     "nesting depth (max 1)"},
    {"a message/rfc822 past max_parts",
     MP("b") "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny\r\n--b--\r\n",
     {.max_parts = 2},
     MIME_L_PARTS,
     "parts (max 2)"},
    {"two limits at once",
     "A: 1\r\nB: 0123456789evil\r\n\r\nx\r\n",
     {.max_fields = 1, .max_header_line = 8},
     MIME_L_FIELDS | MIME_L_FIELD_LEN,
     "header fields (max 1), field length (max 8)"},
};

START_TEST(test_limit_named)
{
    const struct limit_case *t = &limit_cases[_i];
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mime_message *m;
    char text[200];

    lim.max_depth = t->lim.max_depth ? t->lim.max_depth : lim.max_depth;
    lim.max_parts = t->lim.max_parts ? t->lim.max_parts : lim.max_parts;
    lim.max_header_block = t->lim.max_header_block ? t->lim.max_header_block : lim.max_header_block;
    lim.max_header_line = t->lim.max_header_line ? t->lim.max_header_line : lim.max_header_line;
    lim.max_fields = t->lim.max_fields ? t->lim.max_fields : lim.max_fields;
    lim.max_header_total = t->lim.max_header_total ? t->lim.max_header_total : lim.max_header_total;
    m = parse_lim(t->msg, strlen(t->msg), &lim);

    ck_assert_msg(m->limits == t->limits, "%s: limits %#x", t->what, m->limits);
    ck_assert_str_eq(mime_limit_text(m, text, sizeof(text)), t->text);
    ck_assert_msg((t->limits != 0) == ((m->flags & (MIME_F_LIMIT | MIME_F_HEADER_TOO_LONG)) != 0),
                  "%s: flags %#x", t->what, m->flags);
    mime_message_free(&m);
}
END_TEST

/*
 * Structures that readers may split differently: the MIME_F_AMBIGUOUS flag
 * each must raise (0: none), and a word of mime_ambiguity_text().
 */
struct ambiguous_case {
    const char *what;
    const char *msg;
    unsigned flag;
    const char *word;
};

#define EXE "Content-Type: application/octet-stream; name=\"evil.exe\"\r\n\r\nMZ\r\n"
#define B64 "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
#define QP "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
#define LINE100                                                                                    \
    "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB" \
    "QUFBQUFB"
#define LINE1000 LINE100 LINE100 LINE100 LINE100 LINE100 LINE100 LINE100 LINE100 LINE100 LINE100

static const struct ambiguous_case ambiguous_cases[] = {
    {"a plain multipart", MP("b") "--b\r\n\r\none\r\n--b--\r\n", 0, NULL},
    {"an epilogue of text only", MP("b") "--b\r\n\r\none\r\n--b--\r\nbye\r\n--\r\n", 0, NULL},
    {"a part after the close delimiter", MP("b") "--b\r\n\r\none\r\n--b--\r\n--b\r\n" EXE,
     MIME_F_AFTER_CLOSE, "close delimiter"},
    {"a second close delimiter", MP("b") "--b\r\n\r\none\r\n--b--\r\n--b--\r\n", MIME_F_AFTER_CLOSE,
     "close delimiter"},
    {"an inner part after its close delimiter",
     MP("b") "--b\r\n" MP("c") "--c\r\n\r\nx\r\n--c--\r\n--c\r\n" EXE "--b--\r\n",
     MIME_F_AFTER_CLOSE, "close delimiter"},
    {"two Content-Type fields", "Content-Type: text/plain\r\n" MP("b") "--b\r\n" EXE "--b--\r\n",
     MIME_F_DUP_FIELD, "Content-Type"},
    {"two Content-Transfer-Encoding fields",
     "Content-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit\r\n\r\nTVo=\r\n",
     MIME_F_DUP_FIELD, "twice"},
    {"two boundary parameters",
     "Content-Type: multipart/mixed; boundary=a; boundary=b\r\n\r\n--a\r\n\r\nx\r\n--b\r\n" EXE
     "--a--\r\n",
     MIME_F_DUP_BOUNDARY, "two boundary"},
    {"an inner boundary extends the outer one",
     MP("b") "--b\r\n" MP("b1") "--b1\r\n\r\nx\r\n--b1--\r\n--b--\r\n", MIME_F_PREFIX_BOUNDARY,
     "prefix"},
    {"an inner boundary is a prefix of the outer one",
     MP("bb") "--bb\r\n" MP("b") "--b\r\n\r\nx\r\n--b--\r\n--bb--\r\n", MIME_F_PREFIX_BOUNDARY,
     "prefix"},
    {"the enclosing boundary again", MP("b") "--b\r\n" MP("b") "--b\r\n\r\nx\r\n--b--\r\n--b--\r\n",
     MIME_F_BAD_BOUNDARY, "boundary"},
    {"a multipart without a boundary", "Content-Type: multipart/mixed\r\n\r\n--x\r\n" EXE,
     MIME_F_BAD_BOUNDARY, "without a boundary"},
    {"a base64 multipart",
     "Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     "--b\r\n\r\nx\r\n--b--\r\n",
     MIME_F_BAD_CTE, "transfer encoding"},
    {"an unknown transfer encoding",
     "Content-Type: application/octet-stream; name=x.exe\r\n"
     "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x.exe\r\n",
     MIME_F_BAD_CTE, "transfer encoding"},
    {"quoted printable with a space", "Content-Transfer-Encoding: quoted printable\r\n\r\n=41\r\n",
     MIME_F_BAD_CTE, "transfer encoding"},
    {"known transfer encodings", "Content-Transfer-Encoding: 8BIT\r\n\r\nx\r\n", 0, NULL},
    {"an unknown encoding every reader leaves alone",
     "Content-Transfer-Encoding: 7-bit\r\n\r\nx\r\n", 0, NULL},
    /* transfer encodings that decoders read differently */
    {"clean base64", B64 "TVqQAAMA\r\nAAAEAA==\r\n\r\n", 0, NULL},
    {"base64 with a space at the end of a line", B64 "TVqQ \r\nAAAA\t\r\n", 0, NULL},
    {"a base64 multipart's part", MP("b") "--b\r\n" B64 "TVo=\r\n--b--\r\n", 0, NULL},
    {"base64 with a character outside the alphabet", B64 "TVqQ!AMA\r\n", MIME_F_BAD_BASE64,
     "base64"},
    {"base64 with a space inside a line", B64 "TVqQ AMA\r\n", MIME_F_BAD_BASE64, "base64"},
    {"base64 padding in the middle", B64 "TV=QAAMA\r\n", MIME_F_BAD_BASE64, "base64"},
    {"base64 padding where no quantum ends", B64 "TVqQA===\r\n", MIME_F_BAD_BASE64, "base64"},
    {"base64 data after the padding", B64 "TVo=\r\nTVqQ\r\n", MIME_F_BAD_BASE64, "base64"},
    {"base64 data after padding in a multipart's part",
     MP("b") "--b\r\n" B64 "TVo=TVqQ\r\n--b--\r\n", MIME_F_BAD_BASE64, "base64"},
    {"base64 cut short", B64 "TVqQAAM\r\n", MIME_F_BAD_BASE64, "base64"},
    {"a base64 line of 5 characters", B64 "TVqQA\r\nAMA=\r\n", MIME_F_BAD_BASE64, "base64"},
    {"a base64 line over 998 octets", B64 LINE1000 "\r\n", MIME_F_BAD_BASE64, "base64"},
    {"clean quoted-printable", QP "caf=C3=A9 =3d soft=\r\nbreak =  \r\nend\r\n", 0, NULL},
    {"quoted-printable '=' before no hex digit", QP "a=b\r\n", MIME_F_BAD_QP, "quoted-printable"},
    {"quoted-printable '=' and one hex digit", QP "=4x\r\n", MIME_F_BAD_QP, "quoted-printable"},
    {"quoted-printable '=' and a space inside a line", QP "= x\r\n", MIME_F_BAD_QP,
     "quoted-printable"},
    {"quoted-printable '=' at the end", QP "x=", MIME_F_BAD_QP, "quoted-printable"},
    {"a file name given twice is not ambiguous: every reading is kept",
     "Content-Type: application/octet-stream; name=a.txt; name=evil.exe\r\n\r\nx\r\n", 0, NULL},
};

START_TEST(test_ambiguous)
{
    const struct ambiguous_case *t = &ambiguous_cases[_i];
    struct mime_message *m = parse(t->msg);
    char text[300];

    ck_assert_msg((m->flags & MIME_F_AMBIGUOUS) == t->flag, "%s: flags %#x", t->what, m->flags);
    mime_ambiguity_text(m->flags, text, sizeof(text));
    if (t->word != NULL)
        ck_assert_msg(strstr(text, t->word) != NULL, "%s: \"%s\"", t->what, text);
    else
        ck_assert_str_eq(text, "");
    mime_message_free(&m);
}
END_TEST

/* Every file name a reader may take, in the order mime_part_names() gives them. */
struct names_case {
    const char *what;
    const char *header;
    const char *names[4];
};

static const struct names_case names_cases[] = {
    {"one name", "Content-Type: a/b; name=x.pdf", {"x.pdf"}},
    {"filename given twice",
     "Content-Type: a/b\r\nContent-Disposition: attachment; filename=\"ok.txt\"; "
     "filename=\"evil.exe\"",
     {"ok.txt", "evil.exe"}},
    {"name and filename differ",
     "Content-Type: a/b; name=evil.exe\r\nContent-Disposition: attachment; filename=ok.txt",
     {"ok.txt", "evil.exe"}},
    {"filename* and a plain filename differ",
     "Content-Disposition: attachment; filename=ok.txt; filename*=utf-8''evil%2Eexe",
     {"evil.exe", "ok.txt"}},
    {"sections and a plain name differ",
     "Content-Type: a/b; name=ok.txt; name*0=evil; name*1=.exe",
     {"evil.exe", "ok.txt"}},
    {"the same value twice counts once", "Content-Type: a/b; name=x.pdf; name=x.pdf", {"x.pdf"}},
    {"an encoded word and its plain twin",
     "Content-Type: a/b; name=\"=?utf-8?q?evil.exe?=\"; name=ok.txt",
     {"evil.exe", "ok.txt"}},
};

START_TEST(test_part_names)
{
    const struct names_case *t = &names_cases[_i];
    char msg[512];
    const char *names[8];
    struct mime_message *m;
    size_t n, want = 0;

    snprintf(msg, sizeof(msg), "%s\r\n\r\nbody\r\n", t->header);
    m = parse(msg);
    n = mime_part_names(&m->parts[0], names, 8);
    while (want < 4 && t->names[want] != NULL)
        want++;
    ck_assert_msg(n == want, "%s: %zu names", t->what, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(names[i], t->names[i]) == 0, "%s: %s", t->what, names[i]);
    ck_assert_str_eq(m->parts[0].filename, t->names[0]);
    ck_assert_uint_eq(mime_part_names(&m->parts[0], names, 1), want > 0 ? 1 : 0);
    mime_message_free(&m);
}
END_TEST

START_TEST(test_limit_depth_messages)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mt_buf b = {0};
    struct mime_message *m;

    for (int i = 0; i < 25; i++)
        mt_put(&b, "Content-Type: message/rfc822\r\n\r\n", 32);
    mt_put(&b, "Subject: deep\r\n\r\nbody\r\n", 23);
    lim.max_depth = 5;
    m = parse_lim(b.data, b.len, &lim);
    ck_assert_uint_eq(m->nparts, 6);
    ck_assert_uint_eq(m->parts[5].depth, 5);
    ck_assert_int_eq(m->parts[5].kind, MIME_KIND_LEAF);
    ck_assert_uint_eq(m->flags, MIME_F_LIMIT);
    assert_sane(m, b.len, &lim);
    mime_message_free(&m);
    mt_free(&b);
}
END_TEST

START_TEST(test_limit_parts)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mt_buf b = {0};
    struct mime_message *m;
    const char *head = MP("o") "--o\r\n" MP("i");

    mt_put(&b, head, strlen(head));
    for (int i = 0; i < 2000; i++)
        mt_put(&b, "--i\r\n\r\nx\r\n", 10);
    mt_put(&b, "--i--\r\n--o\r\n\r\nafter\r\n--o--\r\nepilogue\r\n", 38);
    lim.max_parts = 50;
    m = parse_lim(b.data, b.len, &lim);
    ck_assert_uint_eq(m->nparts, 50);
    ck_assert_uint_eq(m->flags, MIME_F_LIMIT); /* no TRUNCATED: the delimiters were followed */
    ck_assert(m->parts[1].flags & MIME_F_LIMIT);
    ASSERT_BODY(m, b.data, 49, "x");
    ck_assert_uint_eq(m->parts[0].epilogue_start, b.len - 10);
    /* the inner close line's CRLF is the line end before the outer delimiter */
    ck_assert_uint_eq(m->parts[1].epilogue_start, b.len - 33);
    assert_sane(m, b.len, &lim);
    mime_message_free(&m);
    mt_free(&b);
}
END_TEST

START_TEST(test_limit_fields_and_block)
{
    struct mime_limits lim = MIME_LIMITS_DEFAULT;
    struct mt_buf b = {0};
    struct mime_message *m;
    char line[64];

    for (int i = 0; i < 40; i++) {
        int n = snprintf(line, sizeof(line), "X-Filler-%02d: some value here\r\n", i);
        mt_put(&b, line, (size_t)n);
    }
    mt_put(&b, MP("b") "--b\r\n\r\npart\r\n--b--\r\n", strlen(MP("b")) + 21);

    lim.max_fields = 10;
    m = parse_lim(b.data, b.len, &lim);
    ck_assert_uint_eq(m->nfields, 10);
    ck_assert_uint_eq(m->flags, MIME_F_LIMIT);
    /* the Content-Type after the limit still shapes the message */
    ck_assert_uint_eq(m->nparts, 2);
    ASSERT_BODY(m, b.data, 1, "part");
    mime_message_free(&m);

    lim = (struct mime_limits)MIME_LIMITS_DEFAULT;
    lim.max_header_block = 300;
    m = parse_lim(b.data, b.len, &lim);
    ck_assert_uint_lt(m->nfields, 10);
    ck_assert_uint_eq(m->flags, MIME_F_HEADER_TOO_LONG);
    ck_assert_uint_eq(m->nparts, 2);
    mime_message_free(&m);

    lim = (struct mime_limits)MIME_LIMITS_DEFAULT;
    lim.max_header_total = 500;
    m = parse_lim(b.data, b.len, &lim);
    ck_assert_uint_lt(m->nfields, 10);
    ck_assert(m->flags & MIME_F_LIMIT);
    ck_assert_uint_eq(m->nparts, 2);
    ASSERT_BODY(m, b.data, 1, "part");
    mime_message_free(&m);
    mt_free(&b);
}
END_TEST

/* ---- protected content (PROTOCOL.md 27) ---- */

#define PGP_SIGNED "-----BEGIN PGP SIGNED MESSAGE-----"
#define PGP_MESSAGE "-----BEGIN PGP MESSAGE-----"

struct protected_case {
    const char *what;
    const char *msg;
    unsigned protected;
};

static const struct protected_case protected_cases[] = {
    {"plain text", "Subject: x\r\n\r\nhello\r\n", 0},
    {"multipart/signed",
     "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=s\r\n\r\n"
     "--s\r\n\r\ntext\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n",
     MIME_P_SIGNED},
    {"multipart/signed inside multipart/mixed",
     MP("m") "--m\r\nContent-Type: multipart/signed; boundary=s\r\n\r\n--s\r\n\r\nt\r\n--s--\r\n"
             "--m--\r\n",
     MIME_P_SIGNED},
    {"multipart/signed in a forwarded message",
     MP("m") "--m\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/signed; "
             "boundary=s\r\n\r\n--s\r\n\r\nt\r\n--s--\r\n--m--\r\n",
     MIME_P_SIGNED},
    {"multipart/encrypted", "Content-Type: multipart/encrypted; boundary=e\r\n\r\n--e--\r\n",
     MIME_P_ENCRYPTED},
    {"application/pkcs7-mime",
     "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
     "\r\nMIAG\r\n",
     MIME_P_PKCS7},
    {"application/x-pkcs7-mime", "Content-Type: application/x-pkcs7-mime\r\n\r\nMIAG\r\n",
     MIME_P_PKCS7},
    {"a .p7m file",
     MP("m") "--m\r\nContent-Type: application/octet-stream\r\n"
             "Content-Disposition: attachment; filename=\"SMIME.P7M\"\r\n\r\nx\r\n--m--\r\n",
     MIME_P_PKCS7},
    {"application/pgp-encrypted", "Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n",
     MIME_P_PGP_ENCRYPTED},
    {"inline PGP signed", "Subject: x\r\n\r\nHi\r\n" PGP_SIGNED "\r\nHash: SHA256\r\n",
     MIME_P_PGP_INLINE},
    {"inline PGP message as the first line",
     "Content-Type: text/plain\r\n\r\n" PGP_MESSAGE "\r\n\r\nhQEM\r\n", MIME_P_PGP_INLINE},
    {"inline PGP in a text part of a multipart",
     MP("m") "--m\r\nContent-Type: text/html\r\n\r\n<p>\r\n--m\r\n\r\n" PGP_MESSAGE "\r\n--m--\r\n",
     MIME_P_PGP_INLINE},
    {"inline PGP in quoted-printable",
     "Content-Transfer-Encoding: quoted-printable\r\n\r\nHi=\r\n\r\n=2D----BEGIN PGP MESS=\r\n"
     "AGE-----\r\n",
     MIME_P_PGP_INLINE},
    {"inline PGP in base64", /* "x\r\n-----BEGIN PGP MESSAGE-----\r\n" */
     "Content-Transfer-Encoding: base64\r\n\r\neA0KLS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0tDQo=\r\n",
     MIME_P_PGP_INLINE},
    {"not at the start of a line", "Subject: x\r\n\r\nsee " PGP_MESSAGE "\r\n", 0},
    {"indented", "Subject: x\r\n\r\n " PGP_MESSAGE "\r\n", 0},
    {"a marker cut short", "Subject: x\r\n\r\n-----BEGIN PGP MESSAGE----\r\n", 0},
    {"not text/plain", "Content-Type: text/html\r\n\r\n" PGP_MESSAGE "\r\n", 0},
    {"in the header only", "X-Note: " PGP_MESSAGE "\r\n\r\nhello\r\n", 0},
    {"in the preamble", MP("m") PGP_SIGNED "\r\n--m\r\n\r\nx\r\n--m--\r\n", 0},
    {"application/pkcs7-signature alone", "Content-Type: application/pkcs7-signature\r\n\r\nx\r\n",
     0},
};

START_TEST(test_protected)
{
    const struct protected_case *t = &protected_cases[_i];
    struct mime_message *m = parse(t->msg);

    ck_assert_msg(m->protected == t->protected, "%s: %#x", t->what, m->protected);
    mime_message_free(&m);
}
END_TEST

/* ---- DKIM h= (PROTOCOL.md 28) ---- */

struct dkim_case {
    const char *header;
    unsigned signatures;
    const char *names; /* space-separated, in order */
};

static const struct dkim_case dkim_cases[] = {
    {"Subject: none\r\n", 0, ""},
    {"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; h=From:To:Subject; bh=x; b=y\r\n", 1,
     "from to subject"},
    /* folding and white space anywhere (RFC 6376 3.5) */
    {"DKIM-Signature: v=1; d=example.org;\r\n\th = from : to :\r\n  subject ;\r\n b=y\r\n", 1,
     "from to subject"},
    /* oversigning: a name listed once more than it occurs */
    {"DKIM-Signature: v=1; h=from:from:subject:subject:date; b=y\r\n", 1,
     "from from subject subject date"},
    /* every signature counts; bh= is not h= */
    {"dkim-signature: bh=abc; h=From; b=y\r\nDKIM-Signature: h=Reply-To:List-Id\r\n", 2,
     "from reply-to list-id"},
    {"DKIM-Signature: v=1; b=no h tag\r\n", 1, ""},
};

START_TEST(test_dkim)
{
    const struct dkim_case *t = &dkim_cases[_i];
    char msg[512], names[256] = "";
    const char *got[8];
    struct mime_message *m;
    size_t n;

    snprintf(msg, sizeof(msg), "%s\r\nbody\r\n", t->header);
    m = parse(msg);
    ck_assert_uint_eq(m->dkim_signatures, t->signatures);
    n = mime_dkim_signed_headers(m, got, N_ELEMENTS(got));
    for (size_t k = 0; k < n && k < N_ELEMENTS(got); k++) {
        if (k > 0)
            strcat(names, " ");
        strcat(names, got[k]);
    }
    ck_assert_str_eq(names, t->names);
    mime_message_free(&m);
}
END_TEST

START_TEST(test_dkim_lookup)
{
    const char *msg = "DKIM-Signature: v=1; h=From:Subject:Subject:Date:To; b=y\r\nSubject: s\r\n"
                      "Content-Type: message/rfc822\r\n\r\n"
                      "DKIM-Signature: v=1; h=X-Inner; b=z\r\n\r\ninner\r\n";
    struct mime_message *m = parse(msg);
    const char *two[2];

    ck_assert(mime_dkim_signs(m, "SUBJECT"));
    ck_assert(mime_dkim_signs(m, "to"));
    ck_assert(!mime_dkim_signs(m, "OPES-Via"));
    ck_assert(!mime_dkim_signs(m, "Received"));
    /* only the top-level signatures count */
    ck_assert(!mime_dkim_signs(m, "X-Inner"));
    ck_assert_uint_eq(m->dkim_signatures, 1);
    /* a short array gets the first names, the count is the total */
    ck_assert_uint_eq(mime_dkim_signed_headers(m, two, 2), 5);
    ck_assert_str_eq(two[0], "from");
    ck_assert_str_eq(two[1], "subject");
    ck_assert_uint_eq(mime_dkim_signed_headers(m, NULL, 0), 5);
    mime_message_free(&m);
}
END_TEST

/* ---- transfer decoding ---- */

struct decode_case {
    enum mime_encoding enc;
    const char *in, *out;
};

static const struct decode_case decode_cases[] = {
    {MIME_ENC_BASE64, "aGVsbG8=", "hello"},
    {MIME_ENC_BASE64, "aGVs\r\nbG8=\r\n", "hello"},
    {MIME_ENC_BASE64, "aGVsbG8", "hello"}, /* padding missing */
    {MIME_ENC_BASE64, "aGVs bG8h", "hello!"},
    {MIME_ENC_BASE64, "a*G!V-s", "hel"},   /* bytes outside the alphabet are skipped */
    {MIME_ENC_BASE64, "aGk=aGk=", "hihi"}, /* decoding goes on after padding */
    {MIME_ENC_QP, "a=3Db", "a=b"},
    {MIME_ENC_QP, "=e9t=E9", "\xe9t\xe9"},
    {MIME_ENC_QP, "soft=\r\nbreak", "softbreak"},
    {MIME_ENC_QP, "soft=\nbreak", "softbreak"},
    {MIME_ENC_QP, "soft= \t\r\nbreak", "softbreak"},
    {MIME_ENC_QP, "trail  \t\r\nx", "trail\r\nx"},
    {MIME_ENC_QP, "bare lf\nx", "bare lf\r\nx"},
    {MIME_ENC_QP, "mid  space", "mid  space"},
    {MIME_ENC_QP, "=ZZ=4", "=ZZ=4"},
    {MIME_ENC_QP, "= x", "= x"},
    {MIME_ENC_QP, "end=", "end="},
    {MIME_ENC_QP, "cr\rx", "cr\rx"},
    {MIME_ENC_QP, "tab\t=\r\n", "tab\t"},
    {MIME_ENC_IDENTITY, "=3D as is\r\n", "=3D as is\r\n"},
};

/* decode_all - in[0..n) through a decoder, piece bytes at a time (0: at once). */
static char *decode_all(enum mime_encoding enc, const char *in, size_t n, size_t piece,
                        size_t *outlen)
{
    struct mime_decoder d;
    struct mt_buf b = {0};
    size_t pos = 0;

    mime_decoder_init(&d, enc);
    mt_put(&b, "", 0);
    while (pos < n) {
        size_t k = piece == 0 || piece > n - pos ? n - pos : piece;
        char *out = malloc(MIME_DECODER_OUT(k));
        size_t o = mime_decoder_feed(&d, in + pos, k, out);
        ck_assert_uint_le(o, MIME_DECODER_OUT(k));
        mt_put(&b, out, o);
        free(out);
        pos += k;
    }
    char tail[MIME_DECODER_OUT(0)];
    mt_put(&b, tail, mime_decoder_finish(&d, tail));
    *outlen = b.len;
    return b.data;
}

START_TEST(test_decoders)
{
    const struct decode_case *t = &decode_cases[_i];
    const char *in = t->in, *want = t->out;
    size_t n, n1;
    char *whole = decode_all(t->enc, in, strlen(in), 0, &n);
    char *bytes = decode_all(t->enc, in, strlen(in), 1, &n1);

    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(whole, want, n), 0);
    ck_assert_uint_eq(n1, n);
    ck_assert_int_eq(memcmp(bytes, want, n), 0);
    free(whole);
    free(bytes);
}
END_TEST

START_TEST(test_encoding_names)
{
    ck_assert_int_eq(mime_encoding_of("base64"), MIME_ENC_BASE64);
    ck_assert_int_eq(mime_encoding_of("BASE64"), MIME_ENC_BASE64);
    ck_assert_int_eq(mime_encoding_of("Quoted-Printable"), MIME_ENC_QP);
    ck_assert_int_eq(mime_encoding_of("7bit"), MIME_ENC_IDENTITY);
    ck_assert_int_eq(mime_encoding_of("x-uuencode"), MIME_ENC_IDENTITY);
    ck_assert_int_eq(mime_encoding_of(NULL), MIME_ENC_IDENTITY);
}
END_TEST

static int collect(void *ctx, const void *data, size_t len)
{
    mt_put(ctx, data, len);
    return 0;
}

static int refuse(void *ctx, const void *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return -1;
}

static ssize_t failing_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    (void)ctx;
    (void)offset;
    (void)buf;
    (void)len;
    return -1;
}

START_TEST(test_part_decode)
{
    const char *msg = MP("b") "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                              "caf=C3=A9 =\r\nsoft\r\n--b\r\nContent-Type: application/zip\r\n"
                              "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n";
    struct mime_message *m = parse(msg);
    struct mime_buffer mb = {msg, strlen(msg)}, shortmb = {msg, strlen(msg) - 20};
    struct mt_buf out = {0};
    const char *error = NULL;

    mt_put(&out, "", 0);
    ck_assert_int_eq(mime_part_decode(m, 1, mime_buffer_read, &mb, collect, &out, &error), 0);
    ck_assert_str_eq(out.data, "caf\xc3\xa9 soft");
    out.len = 0;
    ck_assert_int_eq(mime_part_decode(m, 2, mime_buffer_read, &mb, collect, &out, &error), 0);
    ck_assert_uint_eq(out.len, 4);
    ck_assert_int_eq(memcmp(out.data, "PK\x03\x04", 4), 0);
    /* what cannot be decoded says so */
    ck_assert_int_eq(mime_part_decode(m, 0, mime_buffer_read, &mb, collect, &out, &error), -1);
    ck_assert_str_eq(error, "a multipart has no body of its own");
    ck_assert_int_eq(mime_part_decode(m, 3, mime_buffer_read, &mb, collect, &out, &error), -1);
    ck_assert_str_eq(error, "no such part");
    ck_assert_int_eq(mime_part_decode(m, 2, mime_buffer_read, &shortmb, collect, &out, &error), -1);
    ck_assert_str_eq(error, "the message is shorter than parsed");
    ck_assert_int_eq(mime_part_decode(m, 2, failing_read, NULL, collect, &out, &error), -1);
    ck_assert_str_eq(error, "cannot read the message");
    ck_assert_int_eq(mime_part_decode(m, 2, mime_buffer_read, &mb, refuse, NULL, &error), -1);
    ck_assert_str_eq(error, "the consumer stopped");
    mt_free(&out);
    mime_message_free(&m);
}
END_TEST

/* ---- the readers for code that holds a header block or a message in memory ---- */

struct find_case {
    const char *hdr;
    const char *name;
    bool decode;
    const char *out; /* NULL: not found */
};

static const struct find_case find_cases[] = {
    {"From: a@b\r\nSubject: one\r\n\ttwo\r\n\r\n", "subject", false, "one two"},
    {"From: a@b\r\nLIST-ID:  <x.y>  \r\n\r\n", "List-Id", false, "<x.y>"},
    {"From: a@b\nSubject: one\n two\n\n", "Subject", false, "one two"},
    {"Subject : obsolete\r\n\r\n", "subject", false, "obsolete"},
    {"Subject: first\r\nSubject: second\r\n\r\n", "Subject", false, "first"},
    {"From: a@b\r\n\r\nPrecedence: bulk\r\n", "Precedence", false, NULL},
    {"From: a@b\r\n", "Precedence", false, NULL},
    {"", "Subject", false, NULL},
    {"\r\nSubject: body\r\n", "Subject", false, NULL},
    {"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=\r\n\r\n", "Subject", false,
     "=?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?="},
    {"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=\r\n\r\n", "Subject", true, "caf\xc3\xa9 ok"},
    {"Subject: =?utf-8?q?a=0Db=09c?=\r\n\r\n", "Subject", true, "a b c"},
    {"Subject: a\tb\r\n\r\n", "Subject", false, "a b"},
    /* a header followed by a body that looks like a header */
    {"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Inner: i\r\n\r\nx\r\n--b--\r\n",
     "X-Inner", false, NULL},
};

START_TEST(test_header_find)
{
    const struct find_case *t = &find_cases[_i];
    char out[64] = "untouched";
    bool found = mime_header_find(t->hdr, strlen(t->hdr), t->name, t->decode, out, sizeof(out));

    ck_assert_int_eq(found, t->out != NULL);
    ck_assert_str_eq(out, t->out != NULL ? t->out : "untouched");
}
END_TEST

START_TEST(test_field_text_bounds)
{
    char out[6];

    ck_assert_uint_eq(mime_field_text("  abcdefgh", false, out, sizeof(out)), 3);
    ck_assert_str_eq(out, "abc"); /* cut first, then trimmed */
    ck_assert_uint_eq(mime_field_text("=?utf-8?q?=C3=A9=C3=A9=C3=A9?=", true, out, sizeof(out)), 4);
    ck_assert_str_eq(out, "\xc3\xa9\xc3\xa9");
    ck_assert_uint_eq(mime_field_text("abc", true, out, 0), 0);
}
END_TEST

START_TEST(test_text_utf8)
{
    size_t n;
    bool cut;
    char *t;

    t = mime_text_utf8("iso-8859-1", "caf\xe9", 4, 100, &n, &cut);
    ck_assert_str_eq(t, "caf\xc3\xa9");
    ck_assert_uint_eq(n, 5);
    ck_assert(!cut);
    free(t);
    t = mime_text_utf8(NULL, "caf\xc3\xa9 \x80", 7, 100, &n, &cut);
    ck_assert_str_eq(t, "caf\xc3\xa9 \xe2\x82\xac");
    free(t);
    t = mime_text_utf8("UTF-8", "a\xff", 2, 100, &n, &cut);
    ck_assert_str_eq(t, "a\xef\xbf\xbd");
    free(t);
    t = mime_text_utf8("koi8-r", "caf\xc3\xa9", 5, 100, &n, &cut);
    ck_assert_str_eq(t, "caf\xc3\xa9"); /* no converter: read as undeclared */
    free(t);
    /* the bound never splits a character */
    t = mime_text_utf8("utf-8", "caf\xc3\xa9", 5, 4, &n, &cut);
    ck_assert_str_eq(t, "caf");
    ck_assert_uint_eq(n, 3);
    ck_assert(cut);
    free(t);
}
END_TEST

START_TEST(test_part_body)
{
    const char *msg = MP("b") "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                              "caf=C3=A9 =\r\nsoft\r\n--b\r\nContent-Type: application/zip\r\n"
                              "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n";
    struct mime_message *m = parse(msg);
    size_t n = 99;
    bool cut = true;
    char *b;

    b = mime_part_body(m, 1, msg, strlen(msg), 100, &n, &cut);
    ck_assert_str_eq(b, "caf\xc3\xa9 soft");
    ck_assert_uint_eq(n, 10);
    ck_assert(!cut);
    free(b);
    b = mime_part_body(m, 2, msg, strlen(msg), 3, &n, &cut);
    ck_assert_uint_eq(n, 3);
    ck_assert(cut);
    ck_assert_int_eq(memcmp(b, "PK\x03", 4), 0);
    free(b);
    b = mime_part_body(m, 2, msg, strlen(msg), 4, &n, &cut);
    ck_assert_uint_eq(n, 4);
    ck_assert(!cut);
    free(b);
    ck_assert_ptr_null(mime_part_body(m, 0, msg, strlen(msg), 100, &n, &cut));
    ck_assert_ptr_null(mime_part_body(m, 3, msg, strlen(msg), 100, &n, &cut));
    mime_message_free(&m);
}
END_TEST

/* ---- however the input is cut ---- */

START_TEST(test_split_points)
{
    /* a message with a bit of everything, cut at every position into two pieces */
    const char *msg =
        "Received: from a\r\n by b\r\nDKIM-Signature: h=from:subject\r\nSubject: "
        "=?utf-8?q?x?=\r\n" MP(
            "outer") "pre\r\n--outer  \r\nContent-Type: multipart/alternative; boundary=outer-1\r\n"
                     "\r\n--outer-1\r\nContent-Transfer-Encoding: "
                     "base64\r\n\r\nLS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0t\r\n"
                     "--outer-1\r\nContent-Type: text/html\r\n\r\n<p>\n--outer-1--\r\n--outer\r\n"
                     "Content-Type: message/rfc822\r\n\r\nSubject: "
                     "in\r\n\r\nbody\r\n--outer--\r\nepi";
    size_t len = strlen(msg);
    struct mime_message *whole = parse(msg);

    ck_assert_uint_eq(whole->nparts, 6);
    ck_assert_uint_eq(whole->protected, MIME_P_PGP_INLINE);
    for (size_t cut = 0; cut <= len; cut++) {
        struct mime_parser *p = mime_parser_new(NULL);
        struct mime_message *m;
        const char *why;
        mime_parser_feed(p, msg, cut);
        mime_parser_feed(p, msg + cut, len - cut);
        m = mime_parser_finish(&p);
        ck_assert_ptr_null(p);
        why = mt_diff(whole, m);
        ck_assert_msg(why == NULL, "cut at %zu: %s", cut, why);
        mime_message_free(&m);
    }
    mime_message_free(&whole);
}
END_TEST

START_TEST(test_abandon)
{
    struct mime_parser *p = mime_parser_new(NULL);
    struct mime_message *m = NULL;

    mime_parser_feed(p, MP("b") "--b\r\nSubject: half", strlen(MP("b")) + 18);
    mime_parser_free(&p);
    ck_assert_ptr_null(p);
    mime_parser_free(&p);
    mime_message_free(&m);
    ck_assert_ptr_null(mime_parser_finish(&p));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("mime");
    TCase *tc = tcase_create("headers");

    tcase_add_loop_test(tc, test_header_fields, 0, N_ELEMENTS(header_cases));
    tcase_add_test(tc, test_header_get_and_trace);
    tcase_add_test(tc, test_header_too_long);
    tcase_add_test(tc, test_header_nul);
    tcase_add_loop_test(tc, test_rfc2047, 0, N_ELEMENTS(rfc2047_cases));
    tcase_add_test(tc, test_rfc2047_truncation);
    tcase_add_test(tc, test_display_name);
    tcase_add_loop_test(tc, test_params, 0, N_ELEMENTS(param_cases));
    tcase_add_loop_test(tc, test_types, 0, N_ELEMENTS(type_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("structure");
    tcase_add_loop_test(tc, test_structure, 0, N_ELEMENTS(structure_cases));
    tcase_add_test(tc, test_preamble_epilogue_offsets);
    tcase_add_test(tc, test_nested_message_fields);
    tcase_add_test(tc, test_long_boundary);
    tcase_add_test(tc, test_split_points);
    tcase_add_test(tc, test_abandon);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_limit_depth);
    tcase_add_test(tc, test_limit_depth_messages);
    tcase_add_test(tc, test_limit_parts);
    tcase_add_test(tc, test_limit_fields_and_block);
    tcase_add_loop_test(tc, test_limit_named, 0, N_ELEMENTS(limit_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("ambiguity");
    tcase_add_loop_test(tc, test_ambiguous, 0, N_ELEMENTS(ambiguous_cases));
    tcase_add_loop_test(tc, test_part_names, 0, N_ELEMENTS(names_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("services");
    tcase_add_loop_test(tc, test_protected, 0, N_ELEMENTS(protected_cases));
    tcase_add_loop_test(tc, test_dkim, 0, N_ELEMENTS(dkim_cases));
    tcase_add_test(tc, test_dkim_lookup);
    tcase_add_loop_test(tc, test_decoders, 0, N_ELEMENTS(decode_cases));
    tcase_add_test(tc, test_encoding_names);
    tcase_add_test(tc, test_part_decode);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers");
    tcase_add_loop_test(tc, test_header_find, 0, N_ELEMENTS(find_cases));
    tcase_add_test(tc, test_field_text_bounds);
    tcase_add_test(tc, test_text_utf8);
    tcase_add_test(tc, test_part_body);
    suite_add_tcase(s, tc);
    return s;
}
