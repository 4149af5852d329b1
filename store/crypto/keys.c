/*
 * keys.c - load, create and rotate the key file (MAC and storage keys).
 *
 * Keys live in sodium_malloc'd memory (guarded, locked, wiped on free). The
 * file is written with O_EXCL or appended under an exclusive lock, 0600.
 */
#include "opes/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_MAX 64

struct keys_gen {
    uint32_t id;
    unsigned char mac[KEYS_LEN];
    unsigned char storage[KEYS_LEN];
};

struct keys {
    struct keys_gen *gen; /* sodium_malloc */
    size_t n;
};

static _Thread_local char keys_err[512];

static const char *keys_error(const char *fmt, const char *path)
{
    snprintf(keys_err, sizeof(keys_err), fmt, path, strerror(errno));
    return keys_err;
}

/* keys_append - write one new generation line to an open, locked file. */
static int keys_append(int fd, uint32_t id)
{
    unsigned char mac[KEYS_LEN], storage[KEYS_LEN];
    char mhex[2 * KEYS_LEN + 1], shex[2 * KEYS_LEN + 1], line[200];
    int n, rc = 0;

    randombytes_buf(mac, sizeof(mac));
    randombytes_buf(storage, sizeof(storage));
    sodium_bin2hex(mhex, sizeof(mhex), mac, sizeof(mac));
    sodium_bin2hex(shex, sizeof(shex), storage, sizeof(storage));
    n = snprintf(line, sizeof(line), "key %u %s %s\n", id, mhex, shex);
    if (lseek(fd, 0, SEEK_END) < 0 || write(fd, line, (size_t)n) != n || fsync(fd) < 0)
        rc = -1;
    sodium_memzero(mac, sizeof(mac));
    sodium_memzero(storage, sizeof(storage));
    sodium_memzero(mhex, sizeof(mhex));
    sodium_memzero(shex, sizeof(shex));
    sodium_memzero(line, sizeof(line));
    return rc;
}

/* keys_parse - read every generation from an open file. */
static int keys_parse(FILE *f, struct keys *k, const char **error_r)
{
    char line[512];
    int lineno = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        char mhex[128], shex[128];
        unsigned id;
        struct keys_gen *g;
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (k->n == KEYS_MAX || sscanf(line, "key %u %127s %127s", &id, mhex, shex) != 3)
            goto bad;
        g = &k->gen[k->n];
        g->id = id;
        if (sodium_hex2bin(g->mac, KEYS_LEN, mhex, strlen(mhex), NULL, NULL, NULL) != 0 ||
            sodium_hex2bin(g->storage, KEYS_LEN, shex, strlen(shex), NULL, NULL, NULL) != 0 ||
            strlen(mhex) != 2 * KEYS_LEN || strlen(shex) != 2 * KEYS_LEN)
            goto bad;
        k->n++;
        sodium_memzero(line, sizeof(line));
        sodium_memzero(mhex, sizeof(mhex));
        sodium_memzero(shex, sizeof(shex));
    }
    if (k->n == 0) {
        *error_r = "key file holds no key";
        return -1;
    }
    return 0;
bad:
    sodium_memzero(line, sizeof(line));
    snprintf(keys_err, sizeof(keys_err), "key file line %d is malformed", lineno);
    *error_r = keys_err;
    return -1;
}

/*
 * keys_create - a first key file, made whole before it appears: written to a
 * temporary name, synced, then linked into place. Two programs starting at
 * once both succeed (the second finds the first one's file), and a program
 * killed half-way leaves no empty key file behind.
 */
static int keys_create(const char *path, const char **error_r)
{
    char tmp[4200];
    int fd, rc = 0;

    snprintf(tmp, sizeof(tmp), "%s.new.%ld.%08x", path, (long)getpid(), randombytes_random());
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *error_r = keys_error("%s: cannot create the key file: %s", path);
        return -1;
    }
    if (keys_append(fd, 1) < 0 || (link(tmp, path) < 0 && errno != EEXIST)) {
        *error_r = keys_error("%s: cannot write the new key file: %s", path);
        rc = -1;
    }
    close(fd);
    unlink(tmp);
    return rc;
}

/* keys_open - open path, creating it with a first key when missing. */
static int keys_open(const char *path, const char **error_r)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
        if (keys_create(path, error_r) < 0)
            return -1;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        *error_r = keys_error("%s: %s", path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || (st.st_mode & 077) != 0) {
        errno = EPERM;
        *error_r = keys_error("%s: key file must not be readable by group or others (%s)", path);
        close(fd);
        return -1;
    }
    return fd;
}

struct keys *keys_load(const char *path, const char **error_r)
{
    struct keys *k;
    FILE *f;
    int fd;

    if (sodium_init() < 0) {
        *error_r = "libsodium cannot be initialised";
        return NULL;
    }
    fd = keys_open(path, error_r);
    if (fd < 0)
        return NULL;
    k = calloc(1, sizeof(*k));
    if (k == NULL || (k->gen = sodium_malloc(KEYS_MAX * sizeof(*k->gen))) == NULL) {
        free(k);
        close(fd);
        *error_r = "out of memory";
        return NULL;
    }
    lseek(fd, 0, SEEK_SET);
    f = fdopen(fd, "r");
    if (f == NULL || keys_parse(f, k, error_r) < 0) {
        if (f != NULL)
            fclose(f);
        else
            close(fd);
        keys_free(&k);
        return NULL;
    }
    fclose(f);
    return k;
}

void keys_free(struct keys **kp)
{
    struct keys *k = *kp;

    *kp = NULL;
    if (k == NULL)
        return;
    sodium_free(k->gen);
    free(k);
}

int keys_rotate(const char *path, const char **error_r)
{
    struct keys *k = keys_load(path, error_r);
    uint32_t next = 0;
    int fd;

    if (k == NULL)
        return -1;
    for (size_t i = 0; i < k->n; i++)
        if (k->gen[i].id > next)
            next = k->gen[i].id;
    keys_free(&k);
    next++;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) < 0 || keys_append(fd, next) < 0) {
        *error_r = keys_error("%s: cannot append a key: %s", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return (int)next;
}

uint32_t keys_current(const struct keys *k)
{
    return k->gen[k->n - 1].id;
}

static const struct keys_gen *keys_find(const struct keys *k, uint32_t id)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->gen[i].id == id)
            return &k->gen[i];
    return NULL;
}

const unsigned char *keys_mac(const struct keys *k, uint32_t id)
{
    const struct keys_gen *g = keys_find(k, id);
    return g != NULL ? g->mac : NULL;
}

const unsigned char *keys_storage(const struct keys *k, uint32_t id)
{
    const struct keys_gen *g = keys_find(k, id);
    return g != NULL ? g->storage : NULL;
}
