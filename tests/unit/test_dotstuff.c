/*
 * test_dotstuff.c - DATA transparency (RFC 5321 4.5.2) and SMTP smuggling.
 *
 * The decoder decides where a message ends. If it ends anywhere but at
 * CRLF "." CRLF, a sender can make the text after a fake end (LF "." LF and
 * friends) be read as new commands: a second, forged message. So every fake
 * end below must stay data, be flagged, and decode the same however the bytes
 * arrive from the network.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/dotstuff.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define LIT(s) s, sizeof(s) - 1
/*
 * REQUIRE - ck_assert_msg for hot loops: Check records every assertion it
 * passes, which makes byte-at-a-time feeding slow; this one only calls Check
 * when the condition fails.
 */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

struct decoded {
    char *out;
    size_t outlen;
    size_t consumed;
    bool done;
    unsigned flags;
};

/* next_rand - a small deterministic generator, so that failures repeat. */
static uint32_t next_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/*
 * decode_split - feed in[0..len) to a fresh decoder in pieces: chunk 0 means
 * one piece, otherwise pieces of at most chunk bytes; seed != 0 picks random
 * piece sizes instead. Each call gets an output buffer of exactly the
 * documented size with a guard zone after it that must stay untouched.
 */
static void decode_split(const char *in, size_t len, bool normalize, size_t chunk, uint32_t seed,
                         struct decoded *r)
{
    struct dotstuff_decoder d;
    size_t pos = 0;

    memset(r, 0, sizeof(*r));
    r->out = malloc(1);
    ck_assert_ptr_nonnull(r->out);
    dotstuff_decoder_init(&d, normalize);
    while (pos < len) {
        size_t n = len - pos, outlen = SIZE_MAX, used, bound;
        bool done = false;
        char *out;

        if (seed != 0)
            n = 1 + next_rand(&seed) % (n < 9 ? n : 9);
        else if (chunk != 0 && n > chunk)
            n = chunk;
        bound = 2 * n + 4;
        out = malloc(bound + 16);
        REQUIRE(out != NULL, "out of memory");
        memset(out, 0xa5, bound + 16);
        used = dotstuff_decode(&d, in + pos, n, out, &outlen, &done);
        REQUIRE(used <= n, "consumed %zu of %zu bytes", used, n);
        REQUIRE(outlen <= bound, "%zu output bytes for %zu input bytes", outlen, n);
        for (size_t i = bound; i < bound + 16; i++)
            REQUIRE((unsigned char)out[i] == 0xa5, "output written past 2*len+4");
        r->out = realloc(r->out, r->outlen + outlen + 1);
        REQUIRE(r->out != NULL, "out of memory");
        memcpy(r->out + r->outlen, out, outlen);
        r->outlen += outlen;
        free(out);
        pos += used;
        if (done) {
            r->done = true;
            break;
        }
        REQUIRE(used == n, "input left over without an end of data");
    }
    r->consumed = pos;
    r->flags = d.flags;
}

/* decode_same - decode in several ways and insist that they all agree. */
static void decode_same(const char *in, size_t len, bool normalize, struct decoded *r)
{
    static const size_t chunks[] = {1, 2, 3, 5, 7, 64};
    struct decoded o;

    decode_split(in, len, normalize, 0, 0, r);
    for (size_t c = 0; c < N_ELEMENTS(chunks) + 8; c++) {
        if (c < N_ELEMENTS(chunks))
            decode_split(in, len, normalize, chunks[c], 0, &o);
        else
            decode_split(in, len, normalize, 0, (uint32_t)(c * 7919u + 1), &o);
        REQUIRE(o.done == r->done, "end of data depends on how the input is split (split %zu)", c);
        REQUIRE(o.consumed == r->consumed, "consumed %zu split, %zu unsplit", o.consumed,
                r->consumed);
        REQUIRE(o.flags == r->flags, "flags 0x%x split, 0x%x unsplit", o.flags, r->flags);
        REQUIRE(o.outlen == r->outlen && memcmp(o.out, r->out, r->outlen) == 0,
                "output differs between split and unsplit feeding (split %zu)", c);
        free(o.out);
    }
}

/* memmem_count - occurrences of needle in hay. */
static int memmem_count(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    int n = 0;
    const char *p = hay, *end = hay + hlen;

    while ((p = memmem(p, (size_t)(end - p), needle, nlen)) != NULL) {
        n++;
        p += nlen;
    }
    return n;
}

/* crlf_only - every CR in buf is followed by LF and every LF follows a CR. */
static bool crlf_only(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
            return false;
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return false;
    }
    return true;
}

/*
 * Unstuffing and the real end of data
 */

struct unstuff_test {
    const char *in;
    size_t inlen;
    const char *out;
    size_t outlen;
    size_t consumed;
};

static const struct unstuff_test unstuff_tests[] = {
    /* an empty message: the terminator right at the start */
    {LIT(".\r\n"), LIT(""), 3},
    {LIT(".\r\nQUIT\r\n"), LIT(""), 3},
    /* one empty line */
    {LIT("\r\n.\r\n"), LIT("\r\n"), 5},
    {LIT("Subject: x\r\n\r\nbody\r\n.\r\n"), LIT("Subject: x\r\n\r\nbody\r\n"), 23},
    /* leading dots lose one dot, other dots stay */
    {LIT("..abc\r\n.\r\n"), LIT(".abc\r\n"), 10},
    {LIT("a\r\n..\r\n.\r\n"), LIT("a\r\n.\r\n"), 10},
    {LIT("a\r\n...\r\n.\r\n"), LIT("a\r\n..\r\n"), 11},
    {LIT("a.b\r\n.c.\r\n.\r\n"), LIT("a.b\r\nc.\r\n"), 13},
    {LIT("x\r\n. \r\n.\r\n"), LIT("x\r\n \r\n"), 10},
    /* bytes after the end belong to the next command */
    {LIT("abc\r\n.\r\nMAIL FROM:<x@example.org>\r\n"), LIT("abc\r\n"), 8},
    {LIT("abc\r\n.\r\n.\r\n"), LIT("abc\r\n"), 8},
};

START_TEST(unstuff)
{
    const struct unstuff_test *t = &unstuff_tests[_i];
    struct decoded r;

    decode_same(t->in, t->inlen, false, &r);
    ck_assert_msg(r.done, "no end of data found");
    ck_assert_uint_eq(r.consumed, t->consumed);
    ck_assert_uint_eq(r.outlen, t->outlen);
    ck_assert_mem_eq(r.out, t->out, t->outlen);
    ck_assert_uint_eq(r.flags, 0);
    free(r.out);
    /* a clean message decodes identically in normalize mode */
    decode_same(t->in, t->inlen, true, &r);
    ck_assert(r.done);
    ck_assert_uint_eq(r.consumed, t->consumed);
    ck_assert_uint_eq(r.outlen, t->outlen);
    ck_assert_mem_eq(r.out, t->out, t->outlen);
    free(r.out);
}
END_TEST

/* without CRLF "." CRLF, everything is data and nothing ends */
START_TEST(no_end_without_terminator)
{
    static const char in[] = "Subject: x\r\n\r\nline\r\n.\r";
    struct decoded r;

    decode_same(in, sizeof(in) - 1, false, &r);
    ck_assert(!r.done);
    ck_assert_uint_eq(r.consumed, sizeof(in) - 1);
    free(r.out);
}
END_TEST

/* once ended, the decoder takes nothing more */
START_TEST(nothing_after_end)
{
    struct dotstuff_decoder d;
    char out[64];
    size_t outlen = 1;
    bool done = false;

    dotstuff_decoder_init(&d, false);
    ck_assert_uint_eq(dotstuff_decode(&d, LIT("a\r\n.\r\n"), out, &outlen, &done), 6);
    ck_assert(done);
    ck_assert_uint_eq(
        dotstuff_decode(&d, LIT("MAIL FROM:<x@example.org>\r\n"), out, &outlen, &done), 0);
    ck_assert(done);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

/*
 * Smuggling: fake ends are data, flagged, and never end the message
 */

struct smuggle_test {
    const char *fake;
    size_t len;
    unsigned flags;
};

#define CR DOTSTUFF_BARE_CR
#define LF DOTSTUFF_BARE_LF

static const struct smuggle_test smuggle_tests[] = {
    {LIT("\n.\n"), LF},
    {LIT("\r.\r"), CR},
    {LIT("\r.\n"), CR | LF},
    {LIT("\n.\r"), LF | CR},
    {LIT("\n.\r\n"), LF},
    {LIT("\r.\r\n"), CR},
    {LIT("\r\n.\n"), LF},
    {LIT("\r\n.\r"), CR},
    {LIT("\r\n.\r\r\n"), CR},
    {LIT("\r\n.\n\r\n"), LF},
    {LIT("\n.\n\r\n"), LF},
    {LIT("\r\r\n.\n"), CR | LF},
    {LIT("\n\r\n.\n"), LF},
    {LIT("\r\n.\x00\r\n"), DOTSTUFF_NUL},
    {LIT("\r\n\x00.\r\n"), DOTSTUFF_NUL},
};

static const char smuggle_head[] = "From: a@example.org\r\nSubject: one\r\n\r\nfirst message";
static const char smuggle_tail[] = "MAIL FROM:<evil@example.org>\r\n"
                                   "RCPT TO:<victim@example.org>\r\n"
                                   "DATA\r\n"
                                   "From: ceo@example.org\r\n\r\nforged\r\n";
static const char smuggle_after[] = "NOOP\r\n";

/* smuggle_input - head (or nothing) + fake + tail + CRLF.CRLF + a next command. */
static char *smuggle_input(const struct smuggle_test *t, bool with_head, size_t *len_r,
                           size_t *end_r)
{
    size_t hl = with_head ? sizeof(smuggle_head) - 1 : 0;
    size_t tl = sizeof(smuggle_tail) - 1, al = sizeof(smuggle_after) - 1;
    size_t len = hl + t->len + tl + 3 + al;
    char *in = malloc(len);

    ck_assert_ptr_nonnull(in);
    memcpy(in, smuggle_head, hl);
    memcpy(in + hl, t->fake, t->len);
    memcpy(in + hl + t->len, smuggle_tail, tl);
    memcpy(in + hl + t->len + tl, ".\r\n", 3);
    memcpy(in + len - al, smuggle_after, al);
    *len_r = len;
    *end_r = len - al;
    return in;
}

static void smuggle_check(const struct smuggle_test *t, bool with_head, bool normalize)
{
    struct decoded r;
    size_t len, end;
    char *in = smuggle_input(t, with_head, &len, &end);

    decode_same(in, len, normalize, &r);
    ck_assert_msg(r.done, "the real end of data was not found");
    ck_assert_msg(r.consumed == end, "message ended at %zu instead of %zu (a fake end)", r.consumed,
                  end);
    ck_assert_msg(r.flags == t->flags, "flags 0x%x, expected 0x%x", r.flags, t->flags);
    /* the would-be second transaction is still part of this message */
    ck_assert_int_eq(memmem_count(r.out, r.outlen, LIT("MAIL FROM:<evil@example.org>\r\n")), 1);
    ck_assert_int_eq(memmem_count(r.out, r.outlen, LIT("forged\r\n")), 1);
    ck_assert(r.outlen >= sizeof(smuggle_tail) - 1);
    ck_assert_mem_eq(r.out + r.outlen - (sizeof(smuggle_tail) - 1), smuggle_tail,
                     sizeof(smuggle_tail) - 1);
    if (with_head)
        ck_assert_mem_eq(r.out, smuggle_head, sizeof(smuggle_head) - 1);
    if (normalize)
        ck_assert_msg(crlf_only(r.out, r.outlen), "bare CR or LF left in normalized output");
    free(r.out);
    free(in);
}

START_TEST(smuggle_mid_message)
{
    smuggle_check(&smuggle_tests[_i], true, false);
}
END_TEST

START_TEST(smuggle_at_start)
{
    smuggle_check(&smuggle_tests[_i], false, false);
}
END_TEST

START_TEST(smuggle_normalized)
{
    smuggle_check(&smuggle_tests[_i], true, true);
    smuggle_check(&smuggle_tests[_i], false, true);
}
END_TEST

/* a fake end at the very end of what was sent must not end the message either */
START_TEST(smuggle_fake_end_last)
{
    const struct smuggle_test *t = &smuggle_tests[_i];
    size_t hl = sizeof(smuggle_head) - 1;
    char *in = malloc(hl + t->len);
    struct decoded r;

    memcpy(in, smuggle_head, hl);
    memcpy(in + hl, t->fake, t->len);
    decode_same(in, hl + t->len, false, &r);
    ck_assert_msg(!r.done, "a fake end of data ended the message");
    ck_assert_uint_eq(r.consumed, hl + t->len);
    free(r.out);
    free(in);
}
END_TEST

/*
 * Bare line ends, NUL, normalize mode
 */

struct bare_test {
    const char *in;
    size_t inlen;
    unsigned flags;
    const char *out; /* without normalize */
    size_t outlen;
    const char *normout; /* with normalize */
    size_t normlen;
};

static const struct bare_test bare_tests[] = {
    {LIT("a\nb\r\n.\r\n"), LF, LIT("a\nb\r\n"), LIT("a\r\nb\r\n")},
    {LIT("a\rb\r\n.\r\n"), CR, LIT("a\rb\r\n"), LIT("a\r\nb\r\n")},
    {LIT("a\r\rb\r\n.\r\n"), CR, LIT("a\r\rb\r\n"), LIT("a\r\n\r\nb\r\n")},
    {LIT("a\n\nb\r\n.\r\n"), LF, LIT("a\n\nb\r\n"), LIT("a\r\n\r\nb\r\n")},
    {LIT("a\n\r\n.\r\n"), LF, LIT("a\n\r\n"), LIT("a\r\n\r\n")},
    {LIT("\nb\r\n.\r\n"), LF, LIT("\nb\r\n"), LIT("\r\nb\r\n")},
    {LIT("a\0b\r\n.\r\n"), DOTSTUFF_NUL, LIT("a\0b\r\n"), LIT("a\0b\r\n")},
    {LIT("\0\r\n.\r\n"), DOTSTUFF_NUL, LIT("\0\r\n"), LIT("\0\r\n")},
    {LIT("a\rb\nc\0\r\n.\r\n"), CR | LF | DOTSTUFF_NUL, LIT("a\rb\nc\0\r\n"),
     LIT("a\r\nb\r\nc\0\r\n")},
};

START_TEST(bare_line_ends)
{
    const struct bare_test *t = &bare_tests[_i];
    struct decoded r;

    decode_same(t->in, t->inlen, false, &r);
    ck_assert(r.done);
    ck_assert_uint_eq(r.consumed, t->inlen);
    ck_assert_uint_eq(r.flags, t->flags);
    ck_assert_uint_eq(r.outlen, t->outlen);
    ck_assert_mem_eq(r.out, t->out, t->outlen);
    free(r.out);

    decode_same(t->in, t->inlen, true, &r);
    ck_assert(r.done);
    ck_assert_uint_eq(r.consumed, t->inlen);
    ck_assert_uint_eq(r.flags, t->flags);
    ck_assert_uint_eq(r.outlen, t->normlen);
    ck_assert_mem_eq(r.out, t->normout, t->normlen);
    ck_assert(crlf_only(r.out, r.outlen));
    free(r.out);
}
END_TEST

/*
 * Random inputs: split and unsplit feeding agree, bounds hold
 */

/*
 * real_end - where the message must end: after a leading "." CRLF or after
 * the first CRLF "." CRLF; 0 when the input holds neither.
 */
static size_t real_end(const char *in, size_t len)
{
    const char *p;

    if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
        return 3;
    p = len >= 5 ? memmem(in, len, "\r\n.\r\n", 5) : NULL;
    return p != NULL ? (size_t)(p - in) + 5 : 0;
}

START_TEST(random_inputs_agree)
{
    static const char alphabet[] = {'\r', '\n', '.', 'a', '\0', '\r', '\n', '.'};
    uint32_t state = 0x5eed0000u + (uint32_t)_i;
    char in[300];

    for (int round = 0; round < 50; round++) {
        size_t len = next_rand(&state) % sizeof(in), end;
        struct decoded r;

        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[next_rand(&state) % sizeof(alphabet)];
        end = real_end(in, len);
        decode_same(in, len, false, &r);
        if (end == 0) {
            REQUIRE(!r.done, "ended at %zu without CRLF.CRLF", r.consumed);
            REQUIRE(r.consumed == len, "consumed %zu of %zu", r.consumed, len);
        } else {
            REQUIRE(r.done, "CRLF.CRLF at %zu did not end the message", end);
            REQUIRE(r.consumed == end, "ended at %zu, the first CRLF.CRLF ends at %zu", r.consumed,
                    end);
        }
        free(r.out);
        decode_same(in, len, true, &r);
        REQUIRE(r.done == (end != 0) && r.consumed == (end != 0 ? end : len),
                "normalize mode ends elsewhere (%zu)", r.consumed);
        REQUIRE(!r.done || crlf_only(r.out, r.outlen), "bare CR or LF in normalized output");
        free(r.out);
    }
}
END_TEST

/* worst cases for output growth, in every split */
START_TEST(output_bound)
{
    static const char *const patterns[] = {"\n", "\r", ".\r", "\r\n.\rx", "\r\n.\r", "\r\r\n.\r\r"};
    char in[600];

    for (size_t p = 0; p < N_ELEMENTS(patterns); p++) {
        size_t plen = strlen(patterns[p]), len = 0;
        struct decoded r;

        while (len + plen <= sizeof(in)) {
            memcpy(in + len, patterns[p], plen);
            len += plen;
        }
        decode_same(in, len, true, &r); /* asserts the bound for every call */
        ck_assert_uint_le(r.outlen, 2 * len + 4);
        free(r.out);
        decode_same(in, len, false, &r);
        free(r.out);
    }
}
END_TEST

/*
 * Encoder
 */

struct encode_test {
    const char *in;
    size_t inlen;
    const char *out; /* with the end marker */
    size_t outlen;
};

static const struct encode_test encode_tests[] = {
    {LIT(""), LIT(".\r\n")},
    {LIT("\r\n"), LIT("\r\n.\r\n")},
    {LIT("abc\r\n"), LIT("abc\r\n.\r\n")},
    {LIT("abc"), LIT("abc\r\n.\r\n")},
    {LIT("."), LIT("..\r\n.\r\n")},
    {LIT(".\r\n"), LIT("..\r\n.\r\n")},
    {LIT(".a\r\n.b\r\n"), LIT("..a\r\n..b\r\n.\r\n")},
    {LIT("a.b\r\nc.\r\n"), LIT("a.b\r\nc.\r\n.\r\n")},
    {LIT("x\r\n..\r\n"), LIT("x\r\n...\r\n.\r\n")},
    {LIT("x\r\n."), LIT("x\r\n..\r\n.\r\n")},
};

/* encode_all - encode in pieces of chunk bytes (0: one piece) and add the end. */
static char *encode_all(const char *in, size_t len, size_t chunk, size_t *outlen)
{
    struct dotstuff_encoder e;
    char *out = malloc(2 * len + 6 + 16);
    size_t o = 0;

    ck_assert_ptr_nonnull(out);
    memset(out, 0xa5, 2 * len + 6 + 16);
    dotstuff_encoder_init(&e);
    for (size_t pos = 0; pos < len;) {
        size_t n = chunk == 0 || len - pos < chunk ? len - pos : chunk;
        size_t w = dotstuff_encode(&e, in + pos, n, out + o);
        REQUIRE(w <= 2 * n, "%zu output bytes for %zu input bytes", w, n);
        o += w;
        pos += n;
    }
    o += dotstuff_encode_end(&e, out + o);
    ck_assert_uint_le(o, 2 * len + 6);
    for (size_t i = 2 * len + 6; i < 2 * len + 6 + 16; i++)
        REQUIRE((unsigned char)out[i] == 0xa5, "output written past 2*len+6");
    *outlen = o;
    return out;
}

START_TEST(encode)
{
    const struct encode_test *t = &encode_tests[_i];

    for (size_t chunk = 0; chunk < 4; chunk++) {
        size_t outlen;
        char *out = encode_all(t->in, t->inlen, chunk, &outlen);
        ck_assert_uint_eq(outlen, t->outlen);
        ck_assert_mem_eq(out, t->out, t->outlen);
        free(out);
    }
}
END_TEST

/* round_trip - decode(encode(x) + end) == x for content made of CRLF lines. */
static void round_trip(const char *x, size_t len)
{
    size_t enclen;
    char *enc = encode_all(x, len, 0, &enclen);
    struct decoded r;

    decode_same(enc, enclen, false, &r);
    REQUIRE(r.done, "encoded message has no end");
    REQUIRE(r.consumed == enclen, "ended at %zu of %zu", r.consumed, enclen);
    REQUIRE(r.flags == 0, "flags 0x%x on clean content", r.flags);
    REQUIRE(r.outlen == len && memcmp(r.out, x, len) == 0, "decode(encode(x)) != x");
    free(r.out);
    free(enc);
}

START_TEST(encode_decode_round_trip)
{
    static const char *const fixed[] = {
        "",
        "\r\n",
        ".\r\n",
        "..\r\n",
        "\r\n.\r\n",
        "a\r\n.\r\nb\r\n",
        "Subject: x\r\n\r\n.\r\n..\r\n. \r\n.x\r\n",
    };
    static const char alphabet[] = {'.', '.', 'x', ' ', '\t'};
    uint32_t state = 0xd07u;
    char x[2000];

    for (size_t i = 0; i < N_ELEMENTS(fixed); i++)
        round_trip(fixed[i], strlen(fixed[i]));
    for (int round = 0; round < 200; round++) {
        size_t len = 0, lines = next_rand(&state) % 20;
        for (size_t l = 0; l < lines; l++) {
            size_t n = next_rand(&state) % 6;
            for (size_t k = 0; k < n; k++)
                x[len++] = alphabet[next_rand(&state) % sizeof(alphabet)];
            x[len++] = '\r';
            x[len++] = '\n';
        }
        round_trip(x, len);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("dotstuff");
    TCase *tc;

    tc = tcase_create("decode");
    tcase_add_loop_test(tc, unstuff, 0, (int)N_ELEMENTS(unstuff_tests));
    tcase_add_test(tc, no_end_without_terminator);
    tcase_add_test(tc, nothing_after_end);
    tcase_add_loop_test(tc, bare_line_ends, 0, (int)N_ELEMENTS(bare_tests));
    tcase_add_loop_test(tc, random_inputs_agree, 0, 8);
    tcase_add_test(tc, output_bound);
    suite_add_tcase(s, tc);

    tc = tcase_create("smuggling");
    tcase_add_loop_test(tc, smuggle_mid_message, 0, (int)N_ELEMENTS(smuggle_tests));
    tcase_add_loop_test(tc, smuggle_at_start, 0, (int)N_ELEMENTS(smuggle_tests));
    tcase_add_loop_test(tc, smuggle_normalized, 0, (int)N_ELEMENTS(smuggle_tests));
    tcase_add_loop_test(tc, smuggle_fake_end_last, 0, (int)N_ELEMENTS(smuggle_tests));
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_loop_test(tc, encode, 0, (int)N_ELEMENTS(encode_tests));
    tcase_add_test(tc, encode_decode_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
