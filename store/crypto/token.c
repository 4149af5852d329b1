/*
 * token.c - issue and verify signed bypass tokens.
 *
 * Text form: "b1.<kid>.<expires>.<sender>.<services>.<nonce>.<mac>", the
 * sender and services base64url-encoded, the MAC (crypto_auth, HMAC-SHA512-256
 * with the key generation's MAC key) over "opes-bypass-v1" NUL recipient NUL
 * and the token text up to the MAC. Lower-case recipient and sender so that
 * the MTA's case does not matter.
 */
#include "opes/token.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/keys.h"

#define TOKEN_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static void token_lower(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* token_mac - the MAC of body for recipient with key generation kid. */
static int token_mac(const struct keys *k, uint32_t kid, const char *recipient, const char *body,
                     unsigned char mac[crypto_auth_BYTES])
{
    const unsigned char *key = keys_mac(k, kid);
    crypto_auth_hmacsha512256_state st;
    char rcpt[300];

    if (key == NULL)
        return -1;
    token_lower(rcpt, sizeof(rcpt), recipient);
    crypto_auth_hmacsha512256_init(&st, key, KEYS_LEN);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)"opes-bypass-v1", 15);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)rcpt, strlen(rcpt) + 1);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha512256_final(&st, mac);
    return 0;
}

/* token_append_mac - append "." and the base64 of mac to the n-byte token in
 * out (size bytes); -1 when it does not fit. */
static int token_append_mac(char *out, size_t size, size_t n,
                            const unsigned char mac[crypto_auth_BYTES])
{
    char m64[80];

    sodium_bin2base64(m64, sizeof(m64), mac, crypto_auth_BYTES, TOKEN_B64);
    if (n + 1 + strlen(m64) >= size)
        return -1;
    snprintf(out + n, size - n, ".%s", m64);
    return 0;
}

int token_bypass_issue(const struct keys *k, const char *recipient, const char *sender,
                       const char *services, int64_t expires, char *out, size_t size)
{
    char s64[400], v64[400], n64[40], low[300];
    unsigned char nonce[12], mac[crypto_auth_BYTES];
    uint32_t kid = keys_current(k);
    int n;

    if (strlen(sender) > 256 || strlen(services) > 256)
        return -1;
    token_lower(low, sizeof(low), sender);
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2base64(s64, sizeof(s64), (const unsigned char *)low, strlen(low), TOKEN_B64);
    sodium_bin2base64(v64, sizeof(v64), (const unsigned char *)services, strlen(services),
                      TOKEN_B64);
    sodium_bin2base64(n64, sizeof(n64), nonce, sizeof(nonce), TOKEN_B64);
    n = snprintf(out, size, "b1.%u.%lld.%s.%s.%s", kid, (long long)expires, s64, v64, n64);
    if (n < 0 || (size_t)n >= size || token_mac(k, kid, recipient, out, mac) < 0)
        return -1;
    return token_append_mac(out, size, (size_t)n, mac);
}

/* token_field - the i-th dot-separated field of t into out; -1 if missing or too long. */
static int token_field(const char *t, int i, char *out, size_t size)
{
    for (; i > 0; i--) {
        t = strchr(t, '.');
        if (t == NULL)
            return -1;
        t++;
    }
    size_t n = strcspn(t, ".");
    if (n >= size)
        return -1;
    memcpy(out, t, n);
    out[n] = '\0';
    return 0;
}

static int token_unb64(const char *in, char *out, size_t size)
{
    size_t len;

    if (sodium_base642bin((unsigned char *)out, size - 1, in, strlen(in), NULL, &len, NULL,
                          TOKEN_B64) != 0)
        return -1;
    out[len] = '\0';
    return strlen(out) == len ? 0 : -1;
}

/* token_sender_ok - "" is anyone; "@domain" its domain; else the address. */
static int token_sender_ok(const char *allowed, const char *sender)
{
    const char *at = strrchr(sender, '@');

    if (allowed[0] == '\0')
        return 1;
    if (allowed[0] == '@')
        return at != NULL && strcasecmp(allowed, at) == 0;
    return strcasecmp(allowed, sender) == 0;
}

/* token_service_ok - is service one of the comma-separated names? */
static int token_service_ok(const char *list, const char *service)
{
    size_t n = strlen(service);

    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, service, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/*
 * token_split_mac - a signed token's parts: the body (everything before the
 * last dot) into body, the MAC after it into mac, the key generation (field
 * 1) into *kid. -1 when any is malformed.
 */
static int token_split_mac(const char *token, char *body, size_t size,
                           unsigned char mac[crypto_auth_BYTES], uint32_t *kid)
{
    const char *dot = strrchr(token, '.');
    char kid_s[16];
    size_t maclen;
    unsigned long v;
    char *end;

    if (dot == NULL || (size_t)(dot - token) >= size ||
        token_field(token, 1, kid_s, sizeof(kid_s)) < 0 || kid_s[0] == '\0')
        return -1;
    memcpy(body, token, (size_t)(dot - token));
    body[dot - token] = '\0';
    if (sodium_base642bin(mac, crypto_auth_BYTES, dot + 1, strlen(dot + 1), NULL, &maclen, NULL,
                          TOKEN_B64) != 0 ||
        maclen != crypto_auth_BYTES)
        return -1;
    v = strtoul(kid_s, &end, 10);
    if (*end != '\0' || v > UINT32_MAX)
        return -1;
    *kid = (uint32_t)v;
    return 0;
}

int token_bypass_verify(const struct keys *k, const char *token, const char *recipient,
                        const char *sender, const char *service, int64_t now, const char **why_r)
{
    char exp_s[24], s64[400], v64[400], m64[80], body[TOKEN_MAX];
    char allowed[300], services[300];
    unsigned char mac[crypto_auth_BYTES], want[crypto_auth_BYTES];
    uint32_t kid;
    char *end;

    *why_r = "malformed";
    if (strlen(token) >= TOKEN_MAX || strncmp(token, "b1.", 3) != 0 ||
        token_field(token, 2, exp_s, sizeof(exp_s)) < 0 ||
        token_field(token, 3, s64, sizeof(s64)) < 0 ||
        token_field(token, 4, v64, sizeof(v64)) < 0 ||
        token_field(token, 6, m64, sizeof(m64)) < 0 ||
        token_split_mac(token, body, sizeof(body), mac, &kid) < 0)
        return -1;
    if (token_mac(k, kid, recipient, body, want) < 0) {
        *why_r = "unknown key";
        return -1;
    }
    if (sodium_memcmp(mac, want, sizeof(mac)) != 0) {
        *why_r = "forged or for another recipient";
        return -1;
    }
    if (token_unb64(s64, allowed, sizeof(allowed)) < 0 ||
        token_unb64(v64, services, sizeof(services)) < 0)
        return -1;
    long long exp = strtoll(exp_s, &end, 10);
    if (*end != '\0')
        return -1;
    if (now >= exp) {
        *why_r = "expired";
        return -1;
    }
    if (!token_sender_ok(allowed, sender)) {
        *why_r = "not for this sender";
        return -1;
    }
    if (!token_service_ok(services, service)) {
        *why_r = "not for this service";
        return -1;
    }
    return 0;
}

static const char *const token_purposes[] = {[TOKEN_LOGIN] = "login", [TOKEN_ACTION] = "action"};

/* token_link_mac - the MAC of body (the token up to its MAC) with generation kid. */
static int token_link_mac(const struct keys *k, uint32_t kid, const char *body,
                          unsigned char mac[crypto_auth_BYTES])
{
    const unsigned char *key = keys_mac(k, kid);
    crypto_auth_hmacsha512256_state st;

    if (key == NULL)
        return -1;
    crypto_auth_hmacsha512256_init(&st, key, KEYS_LEN);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)"opes-link-v1", 13);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha512256_final(&st, mac);
    return 0;
}

/* token_word_ok - item and action are [A-Za-z0-9-] (they sit between dots unencoded). */
static int token_word_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

int token_link_issue(const struct keys *k, struct token_link *l, char *out, size_t size)
{
    char r64[400], low[300];
    unsigned char nonce[TOKEN_NONCE_LEN], mac[crypto_auth_BYTES];
    uint32_t kid = keys_current(k);
    int n;

    if ((unsigned)l->purpose > TOKEN_ACTION || strlen(l->recipient) > 256 ||
        !token_word_ok(l->item) || !token_word_ok(l->action))
        return -1;
    token_lower(low, sizeof(low), l->recipient);
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2base64(l->nonce, sizeof(l->nonce), nonce, sizeof(nonce), TOKEN_B64);
    sodium_bin2base64(r64, sizeof(r64), (const unsigned char *)low, strlen(low), TOKEN_B64);
    n = snprintf(out, size, "l1.%u.%lld.%s.%s.%s.%s.%s", kid, (long long)l->expires,
                 token_purposes[l->purpose], r64, l->item, l->action, l->nonce);
    if (n < 0 || (size_t)n >= size || token_link_mac(k, kid, out, mac) < 0)
        return -1;
    return token_append_mac(out, size, (size_t)n, mac);
}

/* token_link_fields - split the unsigned fields of t into l; -1 when malformed. */
static int token_link_fields(const char *t, struct token_link *l)
{
    char exp_s[24], purpose[16], r64[400];
    char *end;

    if (token_field(t, 2, exp_s, sizeof(exp_s)) < 0 ||
        token_field(t, 3, purpose, sizeof(purpose)) < 0 ||
        token_field(t, 4, r64, sizeof(r64)) < 0 ||
        token_field(t, 5, l->item, sizeof(l->item)) < 0 ||
        token_field(t, 6, l->action, sizeof(l->action)) < 0 ||
        token_field(t, 7, l->nonce, sizeof(l->nonce)) < 0 ||
        token_unb64(r64, l->recipient, sizeof(l->recipient)) < 0)
        return -1;
    l->expires = strtoll(exp_s, &end, 10);
    if (*end != '\0' || exp_s[0] == '\0')
        return -1;
    if (strcmp(purpose, "login") == 0)
        l->purpose = TOKEN_LOGIN;
    else if (strcmp(purpose, "action") == 0)
        l->purpose = TOKEN_ACTION;
    else
        return -1;
    return 0;
}

int token_link_verify(const struct keys *k, const char *token, int64_t now, struct token_link *l,
                      const char **why_r)
{
    char body[TOKEN_MAX];
    unsigned char mac[crypto_auth_BYTES], want[crypto_auth_BYTES];
    size_t dots = 0;
    uint32_t kid;

    memset(l, 0, sizeof(*l));
    *why_r = "malformed";
    for (const char *p = token; *p != '\0'; p++)
        dots += *p == '.';
    if (strlen(token) >= TOKEN_MAX || strncmp(token, "l1.", 3) != 0 || dots != 8 ||
        token_split_mac(token, body, sizeof(body), mac, &kid) < 0)
        return -1;
    if (token_link_mac(k, kid, body, want) < 0) {
        *why_r = "unknown key";
        return -1;
    }
    if (sodium_memcmp(mac, want, sizeof(mac)) != 0) {
        *why_r = "forged";
        return -1;
    }
    if (token_link_fields(token, l) < 0)
        return -1;
    if (now >= l->expires) {
        *why_r = "expired";
        return -1;
    }
    return 0;
}
