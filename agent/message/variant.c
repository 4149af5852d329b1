/*
 * variant.c - edits over the spooled message, and reading one copy.
 */
#include "opes/variant.h"

#include <stdlib.h>
#include <string.h>

#include "opes/log.h"
#include "opes/spool.h"
#include "opes/vec.h"

/* variant_slot - where an edit at off goes (after those at or before off). */
static size_t variant_slot(const struct variant_edits *v, uint64_t off)
{
    size_t i = v->n;

    while (i > 0 && v->e[i - 1].off > off)
        i--;
    return i;
}

static bool variant_overlaps(const struct variant_edits *v, size_t at, uint64_t off, uint64_t del)
{
    if (at > 0 && v->e[at - 1].off + v->e[at - 1].del > off)
        return true;
    /* an insertion (del 0) may sit at the offset where the next edit starts */
    return at < v->n && off + del > v->e[at].off;
}

int variant_edits_add(struct variant_edits *v, uint64_t off, uint64_t del, const char *ins,
                      size_t ins_len)
{
    size_t at = variant_slot(v, off);
    struct variant_edit e = {.off = off, .del = del, .ins_len = ins_len};

    if (variant_overlaps(v, at, off, del))
        return -1;
    v->e = vec_reserve(v->e, &v->cap, v->n + 1, sizeof(*v->e));
    e.ins = malloc(ins_len + 1);
    if (e.ins == NULL)
        fatal("malloc");
    memcpy(e.ins, ins, ins_len);
    e.ins[ins_len] = '\0';
    memmove(&v->e[at + 1], &v->e[at], (v->n - at) * sizeof(*v->e));
    v->e[at] = e;
    v->n++;
    return 0;
}

int variant_edits_merge(struct variant_edits *dst, const struct variant_edits *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (variant_overlaps(dst, variant_slot(dst, src->e[i].off), src->e[i].off, src->e[i].del))
            return -1;
    for (size_t i = 0; i < src->n; i++)
        if (variant_edits_add(dst, src->e[i].off, src->e[i].del, src->e[i].ins, src->e[i].ins_len) <
            0)
            return -1; /* src overlapping itself: not made by variant_edits_add */
    return 0;
}

bool variant_edits_equal(const struct variant_edits *a, const struct variant_edits *b)
{
    size_t na = a != NULL ? a->n : 0, nb = b != NULL ? b->n : 0;

    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const struct variant_edit *x = &a->e[i], *y = &b->e[i];
        if (x->off != y->off || x->del != y->del || x->ins_len != y->ins_len ||
            memcmp(x->ins, y->ins, x->ins_len) != 0)
            return false;
    }
    return true;
}

void variant_edits_clear(struct variant_edits *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->e[i].ins);
    free(v->e);
    memset(v, 0, sizeof(*v));
}

void variant_reader_init(struct variant_reader *r, const struct variant *v)
{
    memset(r, 0, sizeof(*r));
    r->v = v;
}

/* variant_step - the next piece of the copy after the prefix; 0 at the end. */
static ssize_t variant_step(struct variant_reader *r, char *buf, size_t len)
{
    const struct variant_edits *ed = r->v->edits;
    uint64_t size = spool_size(r->v->spool), limit = size;

    if (ed != NULL && r->edit < ed->n) {
        const struct variant_edit *e = &ed->e[r->edit];
        if (r->pos >= e->off) {
            size_t n = e->ins_len - r->in_ins;
            if (n > 0) {
                if (n > len)
                    n = len;
                memcpy(buf, e->ins + r->in_ins, n);
                r->in_ins += n;
                return (ssize_t)n;
            }
            r->pos = e->off + e->del;
            r->edit++;
            r->in_ins = 0;
            return variant_step(r, buf, len);
        }
        limit = e->off < size ? e->off : size;
    }
    if (r->pos >= limit)
        return 0;
    if (len > limit - r->pos)
        len = (size_t)(limit - r->pos);
    ssize_t n = spool_pread(r->v->spool, r->pos, buf, len);
    if (n > 0)
        r->pos += (uint64_t)n;
    return n;
}

ssize_t variant_read(struct variant_reader *r, void *buf, size_t len)
{
    const struct variant *v = r->v;

    if (r->prefix_pos < v->prefix_len) {
        size_t n = v->prefix_len - r->prefix_pos;
        if (n > len)
            n = len;
        memcpy(buf, v->prefix + r->prefix_pos, n);
        r->prefix_pos += n;
        return (ssize_t)n;
    }
    return variant_step(r, buf, len);
}

uint64_t variant_size(const struct variant *v)
{
    uint64_t size = v->prefix_len + spool_size(v->spool);

    for (size_t i = 0; v->edits != NULL && i < v->edits->n; i++)
        size = size + v->edits->e[i].ins_len - v->edits->e[i].del;
    return size;
}
