/*
 * content.h - encryption at rest and de-duplication of message content.
 *
 * Content is hashed with keyed BLAKE2b (so equal messages are found without
 * the hash revealing anything to someone without the key) and encrypted with
 * libsodium's secretstream (XChaCha20-Poly1305) in chunks of CONTENT_CHUNK
 * bytes, the last chunk tagged FINAL so that truncation is detected.
 */
#ifndef OPES_CONTENT_H
#define OPES_CONTENT_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTENT_CHUNK 65536
#define CONTENT_HASH_LEN 32
#define CONTENT_HEADER_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define CONTENT_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

struct content_hash {
    crypto_generichash_state st;
};

void content_hash_init(struct content_hash *h, const unsigned char *mac_key);
void content_hash_update(struct content_hash *h, const void *data, size_t len);
void content_hash_final(struct content_hash *h, unsigned char out[CONTENT_HASH_LEN]);

struct content_enc {
    crypto_secretstream_xchacha20poly1305_state st;
};

/* content_enc_init - start a stream; header[] is stored next to the chunks. */
void content_enc_init(struct content_enc *e, const unsigned char *key,
                      unsigned char header[CONTENT_HEADER_LEN]);
/* content_enc_chunk - encrypt len (<= CONTENT_CHUNK) bytes into out (len + ABYTES). */
void content_enc_chunk(struct content_enc *e, const void *in, size_t len, bool final,
                       unsigned char *out);

struct content_dec {
    crypto_secretstream_xchacha20poly1305_state st;
    bool final_seen;
};

/* content_dec_init - 0, or -1 when the header is invalid. */
int content_dec_init(struct content_dec *d, const unsigned char *key,
                     const unsigned char header[CONTENT_HEADER_LEN]);
/* content_dec_chunk - decrypt into out (clen - ABYTES); -1 when forged, reordered or after FINAL.
 */
int content_dec_chunk(struct content_dec *d, const unsigned char *in, size_t clen,
                      unsigned char *out, size_t *outlen);

#endif
