/*
 * spool.c - message content in memory up to a threshold, then in a temp file.
 *
 * The temporary file is created with O_TMPFILE (or mkstemp and unlink) so that
 * nothing is left behind if opesd dies; the spool never holds the only copy of
 * a message that was answered 2xx.
 */
#include "opes/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opes/fdio.h"
#include "opes/log.h"

struct spool {
    char *mem;
    size_t mem_len, mem_cap, mem_max;
    int fd;
    char *dir;
    uint64_t size;
    uint64_t rpos;
    int error;
};

struct spool *spool_new(size_t mem_max, const char *dir)
{
    struct spool *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->dir = strdup(dir)) == NULL)
        fatal("calloc");
    s->mem_max = mem_max;
    s->fd = -1;
    return s;
}

void spool_free(struct spool **sp)
{
    struct spool *s = *sp;

    *sp = NULL;
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->mem);
    free(s->dir);
    free(s);
}

/* spool_open_file - an anonymous file in the spool directory. */
static int spool_open_file(const char *dir)
{
    char path[4096];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    snprintf(path, sizeof(path), "%s/spool.XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* spool_to_disk - move the memory part into a new temporary file. */
static int spool_to_disk(struct spool *s)
{
    s->fd = spool_open_file(s->dir);
    if (s->fd < 0)
        return -1;
    if (fdio_write_all(s->fd, s->mem, s->mem_len) < 0)
        return -1;
    free(s->mem);
    s->mem = NULL;
    s->mem_len = s->mem_cap = 0;
    return 0;
}

int spool_write(struct spool *s, const void *data, size_t len)
{
    if (s->error != 0) {
        errno = s->error;
        return -1;
    }
    if (len == 0)
        return 0;
    if (s->fd < 0 && s->mem_len + len <= s->mem_max) {
        if (s->mem_len + len > s->mem_cap) {
            size_t cap = s->mem_cap ? s->mem_cap : 8192;
            while (cap < s->mem_len + len)
                cap *= 2;
            if (cap > s->mem_max)
                cap = s->mem_max;
            char *m = realloc(s->mem, cap);
            if (m == NULL)
                fatal("realloc");
            s->mem = m;
            s->mem_cap = cap;
        }
        memcpy(s->mem + s->mem_len, data, len);
        s->mem_len += len;
        s->size += len;
        return 0;
    }
    if ((s->fd < 0 && spool_to_disk(s) < 0) || fdio_write_all(s->fd, data, len) < 0) {
        s->error = errno;
        return -1;
    }
    s->size += len;
    return 0;
}

int spool_error(const struct spool *s)
{
    return s->error;
}

uint64_t spool_size(const struct spool *s)
{
    return s->size;
}

bool spool_on_disk(const struct spool *s)
{
    return s->fd >= 0;
}

int spool_rewind(struct spool *s)
{
    s->rpos = 0;
    if (s->fd >= 0 && lseek(s->fd, 0, SEEK_SET) < 0)
        return -1;
    return 0;
}

ssize_t spool_read(struct spool *s, void *buf, size_t len)
{
    if (s->fd < 0) {
        size_t left = s->mem_len - (size_t)s->rpos;
        if (len > left)
            len = left;
        if (len == 0)
            return 0; /* also when nothing was ever written (mem is NULL) */
        memcpy(buf, s->mem + s->rpos, len);
        s->rpos += len;
        return (ssize_t)len;
    }
    for (;;) {
        ssize_t n = read(s->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            s->rpos += (uint64_t)n;
        return n;
    }
}

ssize_t spool_pread(struct spool *s, uint64_t off, void *buf, size_t len)
{
    if (off >= s->size)
        return 0;
    if (len > s->size - off)
        len = (size_t)(s->size - off);
    if (s->fd < 0) {
        memcpy(buf, s->mem + off, len);
        return (ssize_t)len;
    }
    for (;;) {
        ssize_t n = pread(s->fd, buf, len, (off_t)off);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}
