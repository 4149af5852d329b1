/*
 * vec.c - the one growable array (see vec.h).
 */
#include "opes/vec.h"

#include <stdint.h>
#include <stdlib.h>

#include "opes/log.h"

void *vec_reserve(void *p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 8;
    void *np;

    if (need <= *cap)
        return p;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            fatalx("vec_reserve: %zu elements", need);
        n *= 2;
    }
    if (size != 0 && n > SIZE_MAX / size)
        fatalx("vec_reserve: %zu elements of %zu bytes", n, size);
    np = realloc(p, n * size);
    if (np == NULL)
        fatal("realloc");
    *cap = n;
    return np;
}
