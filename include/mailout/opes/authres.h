/*
 * authres.h - whether a trusted upstream verified the envelope sender, read
 * from the Authentication-Results fields (RFC 8601) of a held message, so
 * that a non-delivery report goes only to a sender that really sent the mail
 * (no backscatter to forged addresses).
 */
#ifndef OPES_AUTHRES_H
#define OPES_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * authres_verified - whether the header section headers[0..len) has an
 * Authentication-Results field whose authserv-id is one of trusted (names
 * separated by spaces or commas, any case) and that shows the envelope sender
 * verified: spf=pass with smtp.mailfrom in the sender's domain, or dkim=pass
 * with header.d (or the domain of header.i) equal to the sender's domain or a
 * parent domain of it (relaxed alignment). Fields of any other authserv-id are
 * ignored. On true, what verified it ("spf=pass smtp.mailfrom=... by mx")
 * goes into how (at most size - 1 bytes and a NUL).
 */
bool authres_verified(const char *headers, size_t len, const char *trusted, const char *sender,
                      char *how, size_t size);

#endif
