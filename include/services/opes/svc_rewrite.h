/*
 * svc_rewrite.h - the rewrite service's envelope side.
 *
 * The address map is applied to each envelope recipient when the RCPT
 * arrives (the store verifies and delivers to the mapped address); the
 * service itself, run after DATA, changes the header fields that name mapped
 * addresses, so that envelope and header agree (RFC 4496 4.7).
 */
#ifndef OPES_SVC_REWRITE_H
#define OPES_SVC_REWRITE_H

#include <stddef.h>

struct svc_set;

/*
 * svc_rewrite_address - addr through every rewrite service of set, in order,
 * into out: 1 when it changed, 0 when not (out holds addr), -1 when the result
 * would not fit.
 */
int svc_rewrite_address(const struct svc_set *set, const char *addr, char *out, size_t size);

#endif
