/*
 * mime_testutil.h - helpers shared by the MIME Check suites: reading files,
 * feeding a parser in pieces, comparing two parse results field by field, and
 * rendering a result in mime4j's event format for the corpus comparison.
 */
#ifndef OPES_MIME_TESTUTIL_H
#define OPES_MIME_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "opes/mime.h"

/* A growable string. */
struct mt_buf {
    char *data;
    size_t len, cap;
};

void mt_put(struct mt_buf *b, const char *s, size_t n);
void mt_free(struct mt_buf *b);

/* mt_read_file - the whole file (NUL-terminated) or NULL; *len gets its size. */
char *mt_read_file(const char *path, size_t *len);

/*
 * mt_parse_split - parse data fed in pieces: chunk bytes at a time, or, when
 * chunk is 0, pieces of random size drawn from seed (so failures repeat).
 */
struct mime_message *mt_parse_split(const char *data, size_t len, const struct mime_limits *lim,
                                    size_t chunk, uint32_t seed);

/* mt_diff - NULL when a and b are the same result, else what differs first (static text). */
const char *mt_diff(const struct mime_message *a, const struct mime_message *b);

/* mt_render - the result as mime4j's event stream (see test_mime_corpus.c). */
void mt_render(const struct mime_message *m, const char *msg, size_t len, struct mt_buf *out);

#endif
