/*
 * test_variant.c - content variants: a recipient's copy is the added fields,
 * then the spooled message with the edits of the services applied. Whatever
 * the edits and the read sizes, the copy must equal the one built in memory,
 * in memory and on disk, and edits that would overlap are refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/spool.h"
#include "opes/variant.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);

/* read_all - the whole copy, in reads of step bytes. */
static char *read_all(const struct variant *v, size_t step, size_t *len_r)
{
    struct variant_reader rd;
    size_t cap = 1024, len = 0;
    char *out = malloc(cap);
    ssize_t n;

    variant_reader_init(&rd, v);
    for (;;) {
        if (len + step + 1 > cap)
            out = realloc(out, cap = 2 * (len + step + 1));
        n = variant_read(&rd, out + len, step);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *len_r = len;
    return out;
}

/* oracle - apply edits to msg in memory. */
static char *oracle(const char *prefix, const char *msg, size_t len, const struct variant_edits *ed,
                    size_t *len_r)
{
    char *out = malloc(strlen(prefix) + len + 4096);
    size_t o = strlen(prefix), pos = 0;

    memcpy(out, prefix, o);
    for (size_t i = 0; i < ed->n; i++) {
        memcpy(out + o, msg + pos, ed->e[i].off - pos);
        o += ed->e[i].off - pos;
        memcpy(out + o, ed->e[i].ins, ed->e[i].ins_len);
        o += ed->e[i].ins_len;
        pos = ed->e[i].off + ed->e[i].del;
    }
    memcpy(out + o, msg + pos, len - pos);
    *len_r = o + len - pos;
    return out;
}

START_TEST(edits_random)
{
    char *dir = unit_tmpdir(), msg[3000];
    unsigned seed = 7;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('a' + rand_r(&seed) % 26);
    for (int round = 0; round < 200; round++) {
        /* small spools stay in memory, the others go to a file */
        struct spool *sp = spool_new(round % 2 ? 64 : 8192, dir);
        struct variant_edits ed = {0};
        size_t len = (size_t)rand_r(&seed) % sizeof(msg), want_len, got_len;
        int nedits = rand_r(&seed) % 6;

        ck_assert_int_eq(spool_write(sp, msg, len), 0);
        for (int k = 0; k < nedits; k++) {
            uint64_t off = len ? (uint64_t)rand_r(&seed) % (len + 1) : 0;
            uint64_t del = off < len ? (uint64_t)rand_r(&seed) % (len - off + 1) % 40 : 0;
            char ins[64];
            int n = snprintf(ins, sizeof(ins), "<%d:%d>", round, k);
            variant_edits_add(&ed, off, del, ins, (size_t)(rand_r(&seed) % 3 ? n : 0));
        }
        struct variant v = {
            .prefix = "X-Added: 1\r\n", .prefix_len = 12, .edits = &ed, .spool = sp};
        char *want = oracle("X-Added: 1\r\n", msg, len, &ed, &want_len);
        char *got = read_all(&v, 1 + (size_t)rand_r(&seed) % 50, &got_len);
        ck_assert_uint_eq(got_len, want_len);
        ck_assert_uint_eq(variant_size(&v), want_len);
        ck_assert(memcmp(got, want, want_len) == 0);
        free(got);
        free(want);
        variant_edits_clear(&ed);
        spool_free(&sp);
    }
    unit_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(overlap_refused)
{
    struct variant_edits a = {0}, b = {0};

    ck_assert_int_eq(variant_edits_add(&a, 10, 5, "x", 1), 0);
    ck_assert_int_eq(variant_edits_add(&a, 12, 0, "y", 1), -1); /* inside a replaced range */
    ck_assert_int_eq(variant_edits_add(&a, 8, 3, "y", 1), -1);  /* reaching into it */
    ck_assert_int_eq(variant_edits_add(&a, 15, 0, "z", 1), 0);  /* right after it */
    ck_assert_int_eq(variant_edits_add(&a, 10, 0, "w", 1), -1); /* into a replacement's start */
    ck_assert_int_eq(variant_edits_add(&a, 0, 0, "v", 1), 0);
    ck_assert_uint_eq(a.n, 3);
    ck_assert(a.e[0].off == 0 && a.e[1].off == 10 && a.e[2].off == 15);

    /* a merge takes all or nothing */
    ck_assert_int_eq(variant_edits_add(&b, 100, 0, "p", 1), 0);
    ck_assert_int_eq(variant_edits_add(&b, 11, 1, "q", 1), 0);
    ck_assert_int_eq(variant_edits_merge(&a, &b), -1);
    ck_assert_uint_eq(a.n, 3);
    variant_edits_clear(&b);
    ck_assert_int_eq(variant_edits_add(&b, 100, 0, "p", 1), 0);
    ck_assert_int_eq(variant_edits_merge(&a, &b), 0);
    ck_assert_uint_eq(a.n, 4);
    ck_assert(!variant_edits_equal(&a, &b));
    ck_assert(variant_edits_equal(NULL, &(struct variant_edits){0}));
    variant_edits_clear(&a);
    variant_edits_clear(&b);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("variant");
    TCase *tc = tcase_create("variant");

    tcase_add_test(tc, edits_random);
    tcase_add_test(tc, overlap_refused);
    suite_add_tcase(s, tc);
    return s;
}
