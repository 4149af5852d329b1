/*
 * variant.h - content variants: one recipient's copy of a message.
 *
 * The spooled message is never rewritten. A copy is described by the fields
 * put on top of it (trace fields, tags) and by a sorted list of edits over
 * the spool, each "at offset off, drop del bytes and put ins there". Services
 * that modify content (banner, rewrite) return edits; the pipeline merges the
 * edits of the services that apply to a recipient; recipients with the same
 * fields and edits share one delivery; a reader streams the copy without
 * ever holding the message in memory.
 */
#ifndef OPES_VARIANT_H
#define OPES_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

struct variant_edit {
    uint64_t off; /* in the spooled message */
    uint64_t del; /* bytes dropped there */
    char *ins;    /* bytes put there (owned) */
    size_t ins_len;
};

struct variant_edits {
    struct variant_edit *e; /* sorted by off; no two overlap */
    size_t n, cap;
};

/* variant_edits_add - add one edit (ins copied); -1 when it overlaps one already there. */
int variant_edits_add(struct variant_edits *v, uint64_t off, uint64_t del, const char *ins,
                      size_t ins_len);
/* variant_edits_merge - add all of src, or nothing (-1) when one would overlap. */
int variant_edits_merge(struct variant_edits *dst, const struct variant_edits *src);
bool variant_edits_equal(const struct variant_edits *a, const struct variant_edits *b);
void variant_edits_clear(struct variant_edits *v);

/* A copy: prefix, then the spool with the edits applied (edits may be NULL). */
struct variant {
    const char *prefix;
    size_t prefix_len;
    const struct variant_edits *edits;
    struct spool *spool;
};

struct variant_reader {
    const struct variant *v;
    size_t prefix_pos;
    uint64_t pos;  /* in the spool */
    size_t edit;   /* the next edit not yet applied */
    size_t in_ins; /* bytes of that edit's ins already given */
};

/* variant_reader_init - read v from the start. */
void variant_reader_init(struct variant_reader *r, const struct variant *v);
/* variant_read - up to len bytes of the copy; 0 at the end, -1 with errno. */
ssize_t variant_read(struct variant_reader *r, void *buf, size_t len);
/* variant_size - the size of the copy. */
uint64_t variant_size(const struct variant *v);

#endif
