/*
 * content.c - keyed hashing and chunked authenticated encryption of content.
 */
#include "opes/content.h"

void content_hash_init(struct content_hash *h, const unsigned char *mac_key)
{
    crypto_generichash_init(&h->st, mac_key, crypto_generichash_KEYBYTES, CONTENT_HASH_LEN);
    /* a separate domain from the token MACs made with the same key */
    crypto_generichash_update(&h->st, (const unsigned char *)"opes-content-v1", 15);
}

void content_hash_update(struct content_hash *h, const void *data, size_t len)
{
    crypto_generichash_update(&h->st, data, len);
}

void content_hash_final(struct content_hash *h, unsigned char out[CONTENT_HASH_LEN])
{
    crypto_generichash_final(&h->st, out, CONTENT_HASH_LEN);
}

void content_enc_init(struct content_enc *e, const unsigned char *key,
                      unsigned char header[CONTENT_HEADER_LEN])
{
    crypto_secretstream_xchacha20poly1305_init_push(&e->st, header, key);
}

void content_enc_chunk(struct content_enc *e, const void *in, size_t len, bool final,
                       unsigned char *out)
{
    crypto_secretstream_xchacha20poly1305_push(
        &e->st, out, NULL, in, len, NULL, 0,
        final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
}

int content_dec_init(struct content_dec *d, const unsigned char *key,
                     const unsigned char header[CONTENT_HEADER_LEN])
{
    d->final_seen = false;
    return crypto_secretstream_xchacha20poly1305_init_pull(&d->st, header, key) == 0 ? 0 : -1;
}

int content_dec_chunk(struct content_dec *d, const unsigned char *in, size_t clen,
                      unsigned char *out, size_t *outlen)
{
    unsigned long long mlen;
    unsigned char tag;

    if (d->final_seen || clen < CONTENT_ABYTES)
        return -1;
    if (crypto_secretstream_xchacha20poly1305_pull(&d->st, out, &mlen, &tag, in, clen, NULL, 0) !=
        0)
        return -1;
    d->final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    *outlen = (size_t)mlen;
    return 0;
}
