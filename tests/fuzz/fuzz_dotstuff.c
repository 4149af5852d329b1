/*
 * fuzz_dotstuff.c - libFuzzer target for the DATA transparency layer.
 *
 * The input is the byte stream after DATA. It is decoded in one piece, in
 * pieces cut at pseudo-random points (seeded from the input, so a crash
 * repeats), and byte by byte for short inputs, in both modes; all of them
 * must agree on output, flags, end of data and bytes consumed, and the end
 * must be exactly after the first CRLF "." CRLF (or a leading "." CRLF),
 * never after a fake end such as LF "." LF. Then the input, made into CRLF
 * lines, is stuffed and unstuffed again and must come back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/dotstuff.h"

#include "fuzz_check.h"

struct result {
    char *out;
    size_t outlen;
    size_t consumed;
    bool done;
    unsigned flags;
};

static uint32_t next_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* hash - FNV-1a, only to derive split points from the input. */
static uint32_t hash(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h | 1;
}

/*
 * decode - mode 0: one piece; 1: byte by byte; 2: random pieces from seed.
 * Each call gets an output buffer of exactly 2 * n + 4 bytes (ASan checks it).
 */
static void decode(const char *in, size_t len, bool normalize, int mode, uint32_t seed,
                   struct result *r)
{
    struct dotstuff_decoder d;
    size_t pos = 0;

    memset(r, 0, sizeof(*r));
    r->out = malloc(2 * len + 4);
    FUZZ_CHECK(r->out != NULL);
    dotstuff_decoder_init(&d, normalize);
    while (pos < len) {
        size_t n = len - pos, outlen = 0, used;
        bool done = false;
        char *out;

        if (mode == 1)
            n = 1;
        else if (mode == 2)
            n = 1 + next_rand(&seed) % (n < 300 ? n : 300);
        out = malloc(2 * n + 4);
        FUZZ_CHECK(out != NULL);
        used = dotstuff_decode(&d, in + pos, n, out, &outlen, &done);
        FUZZ_CHECK(used <= n && outlen <= 2 * n + 4);
        FUZZ_CHECK(r->outlen + outlen <= 2 * len + 4);
        memcpy(r->out + r->outlen, out, outlen);
        r->outlen += outlen;
        free(out);
        pos += used;
        if (done) {
            r->done = true;
            break;
        }
        FUZZ_CHECK(used == n);
    }
    r->consumed = pos;
    r->flags = d.flags;
}

/* real_end - after a leading "." CRLF or the first CRLF "." CRLF; 0 if neither. */
static size_t real_end(const char *in, size_t len)
{
    const char *p;

    if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
        return 3;
    p = len >= 5 ? memmem(in, len, "\r\n.\r\n", 5) : NULL;
    return p != NULL ? (size_t)(p - in) + 5 : 0;
}

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

static void same(const struct result *a, const struct result *b)
{
    FUZZ_CHECK(a->done == b->done);
    FUZZ_CHECK(a->consumed == b->consumed);
    FUZZ_CHECK(a->flags == b->flags);
    FUZZ_CHECK(a->outlen == b->outlen);
    FUZZ_CHECK(memcmp(a->out, b->out, a->outlen) == 0);
}

static void fuzz_decode(const char *in, size_t len, bool normalize, uint32_t seed)
{
    struct result whole, other;
    size_t end = real_end(in, len);

    decode(in, len, normalize, 0, 0, &whole);
    FUZZ_CHECK(whole.done == (end != 0));
    FUZZ_CHECK(whole.consumed == (end != 0 ? end : len));
    if (normalize && whole.done)
        FUZZ_CHECK(crlf_only(whole.out, whole.outlen));
    FUZZ_CHECK((memchr(in, '\0', whole.consumed) != NULL) == ((whole.flags & DOTSTUFF_NUL) != 0));

    decode(in, len, normalize, 2, seed, &other);
    same(&whole, &other);
    free(other.out);
    if (len <= 4096) {
        decode(in, len, normalize, 1, 0, &other);
        same(&whole, &other);
        free(other.out);
    }
    free(whole.out);
}

/* crlf_lines - the input as CRLF lines: bare CR dropped, LF made CRLF, a final CRLF added. */
static char *crlf_lines(const char *in, size_t len, size_t *outlen)
{
    char *x = malloc(2 * len + 2);
    size_t o = 0;

    FUZZ_CHECK(x != NULL);
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r')
            continue;
        if (in[i] == '\n')
            x[o++] = '\r';
        x[o++] = in[i];
    }
    if (o > 0 && x[o - 1] != '\n') {
        x[o++] = '\r';
        x[o++] = '\n';
    }
    *outlen = o;
    return x;
}

static void fuzz_round_trip(const char *in, size_t len, uint32_t seed)
{
    struct dotstuff_encoder e;
    struct result r;
    size_t xlen, o = 0;
    char *x = crlf_lines(in, len, &xlen);
    char *enc = malloc(2 * xlen + 6);

    FUZZ_CHECK(enc != NULL);
    dotstuff_encoder_init(&e);
    for (size_t pos = 0; pos < xlen;) {
        size_t n = 1 + next_rand(&seed) % (xlen - pos < 64 ? xlen - pos : 64);
        size_t w = dotstuff_encode(&e, x + pos, n, enc + o);
        FUZZ_CHECK(w >= n && w <= 2 * n);
        o += w;
        pos += n;
    }
    o += dotstuff_encode_end(&e, enc + o);
    FUZZ_CHECK(o <= 2 * xlen + 6);

    decode(enc, o, false, 2, seed, &r);
    FUZZ_CHECK(r.done && r.consumed == o);
    FUZZ_CHECK(r.outlen == xlen && memcmp(r.out, x, xlen) == 0);
    FUZZ_CHECK((r.flags & (DOTSTUFF_BARE_CR | DOTSTUFF_BARE_LF)) == 0);
    free(r.out);
    free(enc);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    uint32_t seed = hash(data, size);

    fuzz_decode(in, size, false, seed);
    fuzz_decode(in, size, true, seed * 7u + 1u);
    fuzz_round_trip(in, size, seed);
    return 0;
}
