/*
 * store_apitoken.c - per-user API tokens: a 256-bit random secret given once
 * as "opes_<id>_<base64url secret>"; the store keeps the secret's BLAKE2b
 * keyed with the installation's MAC key (its generation with it, so that a
 * key rotation does not end the tokens), and compares in constant time.
 */
#include "opes/store.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/keys.h"
#include "store_int.h"

#define APITOK_SECRET 32
#define APITOK_HASH 32
#define APITOK_PREFIX "opes_"

/* apitok_hash - the keyed hash of secret with the MAC key of generation key_id; -1 unknown. */
static int apitok_hash(struct store *st, uint32_t key_id, const unsigned char *secret,
                       unsigned char out[APITOK_HASH])
{
    const unsigned char *key = keys_mac(st_keys(st), key_id);

    if (key == NULL)
        return -1;
    crypto_generichash(out, APITOK_HASH, secret, APITOK_SECRET, key, KEYS_LEN);
    return 0;
}

int store_apitoken_create(struct store *st, const char *address, const char *name, unsigned days,
                          char text[STORE_APITOKEN_TEXT], int64_t *id_r, const char **error_r)
{
    unsigned char secret[APITOK_SECRET], hash[APITOK_HASH];
    char b64[sodium_base64_ENCODED_LEN(APITOK_SECRET, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    uint32_t key_id = keys_current(st_keys(st));
    int64_t now = st_now();
    struct st_q *q;
    char low[257];

    randombytes_buf(secret, sizeof(secret));
    if (apitok_hash(st, key_id, secret, hash) < 0) {
        sodium_memzero(secret, sizeof(secret));
        return st_fail(st, error_r, "api token: no current key");
    }
    sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof(secret));
    st_lower(low, sizeof(low), address);
    q = st_q(st, S_APITOK_INSERT);
    st_text(q, 1, low);
    st_text(q, 2, name);
    st_int(q, 3, key_id);
    st_blob(q, 4, hash, sizeof(hash));
    st_int(q, 5, now);
    st_int(q, 6, days > 0 ? now + (int64_t)days * 86400 : 0);
    if (st_exec1(st, q, error_r, "api token") < 0) {
        sodium_memzero(b64, sizeof(b64));
        return -1;
    }
    *id_r = st_last_id(st);
    snprintf(text, STORE_APITOKEN_TEXT, APITOK_PREFIX "%lld_%s", (long long)*id_r, b64);
    sodium_memzero(b64, sizeof(b64));
    return 0;
}

/* apitok_parse - the id and secret of a token's text; -1 when it is not one. */
static int apitok_parse(const char *text, int64_t *id_r, unsigned char secret[APITOK_SECRET])
{
    const char *p = text + strlen(APITOK_PREFIX);
    size_t bin_len = 0;
    long long id;
    char *end;

    if (strncmp(text, APITOK_PREFIX, strlen(APITOK_PREFIX)) != 0 || *p < '1' || *p > '9')
        return -1;
    errno = 0;
    id = strtoll(p, &end, 10);
    if (errno != 0 || *end != '_' || strlen(end + 1) != 43)
        return -1;
    if (sodium_base642bin(secret, APITOK_SECRET, end + 1, 43, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        bin_len != APITOK_SECRET)
        return -1;
    *id_r = id;
    return 0;
}

int store_apitoken_verify(struct store *st, const char *text, int64_t now, struct store_apitoken *t,
                          const char **error_r)
{
    unsigned char secret[APITOK_SECRET], want[APITOK_HASH], got[APITOK_HASH];
    const void *stored;
    size_t len = 0;
    int64_t id, key_id = -1;
    struct st_q *q;
    int rc;

    memset(t, 0, sizeof(*t));
    if (apitok_parse(text, &id, secret) < 0)
        return STORE_NOTFOUND;
    q = st_q(st, S_APITOK_GET);
    st_int(q, 1, id);
    if ((rc = st_step(st, q, error_r, "api token")) > 0) {
        st_copy(t->address, sizeof(t->address), q, 0);
        st_copy(t->name, sizeof(t->name), q, 1);
        key_id = st_col_int(q, 2);
        stored = st_col_blob(q, 3, &len);
        if (stored != NULL && len == APITOK_HASH)
            memcpy(want, stored, APITOK_HASH);
        else
            len = 0;
        t->expires = st_col_int(q, 4);
        t->revoked = st_col_int(q, 5);
    }
    if ((rc = st_found(q, rc)) != 0) {
        sodium_memzero(secret, sizeof(secret));
        return rc;
    }
    rc = len == APITOK_HASH && key_id >= 0 && key_id <= UINT32_MAX &&
                 apitok_hash(st, (uint32_t)key_id, secret, got) == 0 &&
                 sodium_memcmp(got, want, APITOK_HASH) == 0
             ? 0
             : STORE_NOTFOUND;
    sodium_memzero(secret, sizeof(secret));
    if (rc != 0 || t->revoked != 0 || (t->expires != 0 && t->expires <= now)) {
        memset(t, 0, sizeof(*t));
        return STORE_NOTFOUND;
    }
    t->id = id;
    t->last_used = now;
    q = st_q(st, S_APITOK_USED);
    st_int(q, 1, now);
    st_int(q, 2, id);
    return st_exec1(st, q, error_r, "api token use");
}

int store_apitoken_list(struct store *st, const char *address,
                        void (*fn)(const struct store_apitoken *t, void *ctx), void *ctx,
                        const char **error_r)
{
    struct st_q *q = st_q(st, S_APITOK_LIST);
    char low[257];
    int rc;

    st_lower(low, sizeof(low), address);
    st_text(q, 1, low);
    while ((rc = st_step(st, q, error_r, "api tokens")) > 0) {
        struct store_apitoken t;
        memset(&t, 0, sizeof(t));
        t.id = st_col_int(q, 0);
        st_copy(t.address, sizeof(t.address), q, 1);
        st_copy(t.name, sizeof(t.name), q, 2);
        t.created = st_col_int(q, 3);
        t.expires = st_col_int(q, 4);
        t.last_used = st_col_int(q, 5);
        t.revoked = st_col_int(q, 6);
        fn(&t, ctx);
    }
    return rc;
}

int store_apitoken_revoke(struct store *st, int64_t id, const char **error_r)
{
    struct st_q *q = st_q(st, S_APITOK_REVOKE);

    st_int(q, 1, st_now());
    st_int(q, 2, id);
    if (st_exec1(st, q, error_r, "api token revoke") < 0)
        return -1;
    return st_changes(st) == 1 ? 0 : STORE_NOTFOUND;
}
