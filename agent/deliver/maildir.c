/*
 * maildir.c - deliver into a Maildir: write tmp/NAME, fsync, rename to new/NAME,
 * fsync new/. Names are "<sec>.M<usec>P<pid>Q<n>.<host>" (the usual scheme),
 * unique across threads through an atomic counter.
 */
#include "opes/maildir.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "opes/fdio.h"
#include "opes/spool.h"
#include "opes/variant.h"

static unsigned long maildir_seq;

/* maildir_put - append a path component; -1 if it is unsafe or too long. */
static int maildir_put(char *out, size_t size, size_t *o, const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || memchr(s, '/', n) != NULL || memchr(s, '\0', n) != NULL ||
        *o + n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[(*o)++] = (char)tolower((unsigned char)s[i]);
    return 0;
}

/* maildir_unquote - "a\"b"@x -> a"b@x (a quoted local part names the same mailbox). */
static int maildir_unquote(const char *addr, char *out, size_t size)
{
    const char *at = strrchr(addr, '@');
    size_t o = 0;

    if (addr[0] != '"') {
        snprintf(out, size, "%s", addr);
        return strlen(addr) < size ? 0 : -1;
    }
    if (at == NULL || at == addr + 1 || at[-1] != '"')
        return -1;
    for (const char *p = addr + 1; p < at - 1; p++) {
        if (*p == '\\' && p + 1 < at - 1)
            p++;
        if (o + 1 >= size)
            return -1;
        out[o++] = *p;
    }
    if (o + strlen(at) + 1 > size)
        return -1;
    strcpy(out + o, at);
    return 0;
}

int maildir_expand(const char *tmpl, const char *address, char *out, size_t size)
{
    char addr[512];
    if (maildir_unquote(address, addr, sizeof(addr)) < 0)
        return -1;
    const char *at = strrchr(addr, '@');
    size_t llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
    const char *dom = at != NULL ? at + 1 : "";
    size_t o = 0;

    for (const char *p = tmpl; *p != '\0'; p++) {
        int rc = 0;
        if (*p != '%' || p[1] == '%') {
            if (o + 1 >= size)
                return -1;
            out[o++] = *p;
            p += *p == '%';
            continue;
        }
        switch (*++p) {
        case 'u':
            rc = maildir_put(out, size, &o, addr, llen);
            break;
        case 'd':
            rc = maildir_put(out, size, &o, dom, strlen(dom));
            break;
        case 'a':
            rc = maildir_put(out, size, &o, addr, strlen(addr));
            break;
        default:
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    out[o] = '\0';
    return 0;
}

enum maildir_status maildir_check(const char *dir, bool create)
{
    char path[4200];
    struct stat st;

    snprintf(path, sizeof(path), "%s/new", dir);
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? MAILDIR_OK : MAILDIR_UNKNOWN;
    if (errno == ENOENT || errno == ENOTDIR)
        return create ? MAILDIR_OK : MAILDIR_UNKNOWN;
    return MAILDIR_ERROR;
}

/* maildir_mkdirs - mkdir -p dir, then tmp, new and cur. */
static int maildir_mkdirs(const char *dir)
{
    char path[4200];
    static const char *const sub[] = {"tmp", "new", "cur"};

    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

/* maildir_write_lf - write with CRLF turned into LF; *cr carries a CR across calls. */
static int maildir_write_lf(int fd, const char *in, size_t len, int *cr)
{
    char out[65536 + 1];
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (*cr && in[i] != '\n')
            out[o++] = '\r';
        *cr = in[i] == '\r';
        if (!*cr)
            out[o++] = in[i];
        if (o >= sizeof(out) - 2) {
            if (fdio_write_all(fd, out, o) < 0)
                return -1;
            o = 0;
        }
    }
    return fdio_write_all(fd, out, o);
}

static int maildir_copy(int fd, const struct variant *v)
{
    char buf[65536];
    struct variant_reader rd;
    int cr = 0;
    ssize_t n;

    variant_reader_init(&rd, v);
    while ((n = variant_read(&rd, buf, sizeof(buf))) > 0)
        if (maildir_write_lf(fd, buf, (size_t)n, &cr) < 0)
            return -1;
    if (n < 0 || (cr && fdio_write_all(fd, "\r", 1) < 0))
        return -1;
    return 0;
}

int maildir_deliver(const char *dir, bool create, const struct variant *v)
{
    char name[256], host[128] = "localhost", tmp[4400], dst[4400];
    struct timeval tv;
    int fd, err, dfd;

    if (create && maildir_mkdirs(dir) < 0)
        return -1;
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p != '\0'; p++)
        if (*p == '/' || *p == ':')
            *p = '_';
    gettimeofday(&tv, NULL);
    snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
             (long)getpid(), __atomic_add_fetch(&maildir_seq, 1, __ATOMIC_SEQ_CST), host);
    snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
    snprintf(dst, sizeof(dst), "%s/new/%s", dir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (maildir_copy(fd, v) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, dst) < 0)
        goto fail;
    snprintf(tmp, sizeof(tmp), "%s/new", dir);
    dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    err = fsync(dfd);
    close(dfd);
    return err;
fail:
    err = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = err;
    return -1;
}
