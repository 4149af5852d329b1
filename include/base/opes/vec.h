/*
 * vec.h - the one growable array: callers keep a pointer, a count and a
 * capacity, and ask for room before they append:
 *
 *     v->items = vec_reserve(v->items, &v->cap, v->n + 1, sizeof(*v->items));
 *     v->items[v->n++] = item;
 *
 * Growth doubles (from 8), so appends are amortised O(1). Running out of
 * memory is fatal, as everywhere in opesd; callers that take sizes from the
 * network cap them before they ask (see CONVENTIONS: cap before you grow).
 */
#ifndef OPES_VEC_H
#define OPES_VEC_H

#include <stddef.h>

/* vec_reserve - p grown (realloc) so that it holds at least need elements of
 * size bytes; *cap is updated. Returns p itself when it is large enough. */
void *vec_reserve(void *p, size_t *cap, size_t need, size_t size);

#endif
