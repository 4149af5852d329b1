/*
 * mime_bench.c - how long one parse of a large message takes.
 *
 * Builds a 10 MB message in memory: a multipart/mixed with a 1 MB text/plain
 * part (scanned for inline PGP), a 4 MB text/html part and a 5 MB base64
 * attachment (its syntax checked), then parses it whole and in 64 KiB pieces (as the spool hands
 * it over) and decodes the attachment. Prints the best of a few runs; it is a
 * figure for the README, not a test.
 *   usage: mime_bench [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opes/mime.h"

struct bench_buf {
    char *data;
    size_t len, cap;
};

static void put(struct bench_buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL)
            abort();
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(struct bench_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* fill - lines of line_len bytes from alphabet until about size bytes were added. */
static void fill(struct bench_buf *b, size_t size, size_t line_len, const char *alphabet)
{
    size_t alen = strlen(alphabet), start = b->len;
    unsigned seed = 1;
    char line[256];

    while (b->len - start < size) {
        for (size_t i = 0; i < line_len; i++) {
            seed = seed * 1103515245u + 12345u;
            line[i] = alphabet[(seed >> 16) % alen];
        }
        line[line_len] = '\r';
        line[line_len + 1] = '\n';
        put(b, line, line_len + 2);
    }
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_bytes(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    struct bench_buf b = {0};
    double best_whole = 1e9, best_pieces = 1e9, best_decode = 1e9;
    size_t att = 0, decoded = 0;

    puts_(&b, "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/mixed; boundary=\"=_bench_boundary\"\r\n\r\n"
              "--=_bench_boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    fill(&b, 1 << 20, 72, "abcdefghij klmnopqrstuvwxyz.,-");
    puts_(&b, "--=_bench_boundary\r\nContent-Type: text/html; charset=utf-8\r\n\r\n");
    fill(&b, 4 << 20, 120, "<p>abcdefghij klmnopqrstuvwxyz</p>");
    puts_(&b, "--=_bench_boundary\r\nContent-Type: application/octet-stream\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n");
    fill(&b, 5 << 20, 76, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    puts_(&b, "--=_bench_boundary--\r\n");

    for (int r = 0; r < runs; r++) {
        double t0 = now_ms(), t1, t2, t3;
        struct mime_message *m = mime_parse(b.data, b.len, NULL);
        struct mime_parser *p;
        struct mime_buffer mb = {b.data, b.len};
        const char *error;

        t1 = now_ms();
        p = mime_parser_new(NULL);
        for (size_t pos = 0; pos < b.len; pos += 65536)
            mime_parser_feed(p, b.data + pos, b.len - pos < 65536 ? b.len - pos : 65536);
        mime_message_free(&m);
        m = mime_parser_finish(&p);
        t2 = now_ms();
        decoded = 0;
        if (m->nparts != 4 ||
            mime_part_decode(m, 3, mime_buffer_read, &mb, count_bytes, &decoded, &error) != 0) {
            fprintf(stderr, "mime_bench: unexpected structure\n");
            mime_message_free(&m);
            free(b.data);
            return 1;
        }
        t3 = now_ms();
        att = (size_t)(m->parts[3].body_end - m->parts[3].body_start);
        mime_message_free(&m);
        best_whole = t1 - t0 < best_whole ? t1 - t0 : best_whole;
        best_pieces = t2 - t1 < best_pieces ? t2 - t1 : best_pieces;
        best_decode = t3 - t2 < best_decode ? t3 - t2 : best_decode;
    }
    printf("message %.1f MB (base64 attachment %.1f MB, %.1f MB decoded)\n", b.len / 1048576.0,
           att / 1048576.0, decoded / 1048576.0);
    printf("parse at once: %.2f ms, in 64 KiB pieces: %.2f ms, decode attachment: %.2f ms "
           "(best of %d)\n",
           best_whole, best_pieces, best_decode, runs);
    free(b.data);
    return 0;
}
