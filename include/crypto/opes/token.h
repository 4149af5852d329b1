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

/*
 * Link tokens: what notification and digest mails carry in their links, and
 * what "opesctl link" and the portal's login mail hand out. Text form
 * "l1.<kid>.<expires>.<purpose>.<recipient>.<item>.<action>.<nonce>.<mac>",
 * recipient base64url, the MAC over "opes-link-v1" NUL and the text before
 * it. The recipient is inside: a link names who may use it. Single use is
 * the store's job (store_token_use on the nonce).
 */
#define TOKEN_NONCE_LEN 16
#define TOKEN_NONCE_TEXT 23 /* base64url without padding, plus NUL */

enum token_purpose { TOKEN_LOGIN, TOKEN_ACTION };

struct token_link {
    enum token_purpose purpose;
    char recipient[257];
    char item[32];   /* a quarantine id, or "" */
    char action[24]; /* "view", "release", "release-whitelist", "delete", ... or "" */
    int64_t expires;
    char nonce[TOKEN_NONCE_TEXT]; /* filled in by token_link_issue */
};

/* token_link_issue - sign l (a fresh nonce goes into l->nonce) into out; 0 or -1. */
int token_link_issue(const struct keys *k, struct token_link *l, char *out, size_t size);
/*
 * token_link_verify - parse and check token at time now into *l; 0, or -1
 * with *why_r: "malformed", "unknown key", "forged", "expired".
 */
int token_link_verify(const struct keys *k, const char *token, int64_t now, struct token_link *l,
                      const char **why_r);

#endif
