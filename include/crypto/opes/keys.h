/*
 * keys.h - the secret keys of one installation (libsodium).
 *
 * A key file holds one line per key generation, newest last:
 *   key <id> <mac-key-hex> <storage-key-hex>
 * The newest key signs tokens and encrypts new content; older keys still
 * verify and decrypt what they made (rotation: keys_rotate appends a line).
 * The file is created 0600 with a first key on first use; a key file that
 * others can read is refused.
 */
#ifndef OPES_KEYS_H
#define OPES_KEYS_H

#include <stdint.h>

#define KEYS_LEN 32

struct keys;

/* keys_load - read (or create) path; NULL with *error_r. */
struct keys *keys_load(const char *path, const char **error_r);
/* keys_free - wipe and free; sets *kp to NULL. */
void keys_free(struct keys **kp);
/* keys_rotate - append a new key generation to path; its id, or -1 with *error_r. */
int keys_rotate(const char *path, const char **error_r);

uint32_t keys_current(const struct keys *k);
/* keys_mac / keys_storage - the key of generation id, or NULL when unknown. */
const unsigned char *keys_mac(const struct keys *k, uint32_t id);
const unsigned char *keys_storage(const struct keys *k, uint32_t id);

#endif
