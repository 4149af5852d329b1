/*
 * token.h - signed bypass tokens (DESIGN: Tokens and secrets).
 *
 * A recipient hands a sender a token that lets that sender's mail through
 * named services for a while: "OPES-Bypass: <service-uri>; token=<t>". The
 * token carries the key generation, the expiry, the allowed sender (an
 * address, "@domain", or empty for anyone), the service names and a nonce;
 * a crypto_auth MAC binds all of it and the recipient (who is not written in
 * the token: it only works for the recipient it was made for). Comparison is
 * constant time (crypto_auth_verify).
 */
#ifndef OPES_TOKEN_H
#define OPES_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct keys;

#define TOKEN_MAX 512

/*
 * token_bypass_issue - a token for recipient, valid until expires (unix
 * seconds) for services (comma list of service names) and sender (address,
 * "@domain" or ""). Writes it into out (TOKEN_MAX); 0 or -1 (too long).
 */
int token_bypass_issue(const struct keys *k, const char *recipient, const char *sender,
                       const char *services, int64_t expires, char *out, size_t size);

/*
 * token_bypass_verify - does token let sender's mail to recipient bypass
 * service (a name) at time now? 0 yes; -1 with *why_r: "malformed",
 * "unknown key", "forged or for another recipient", "expired",
 * "not for this sender", "not for this service".
 */
int token_bypass_verify(const struct keys *k, const char *token, const char *recipient,
                        const char *sender, const char *service, int64_t now, const char **why_r);

#endif
