/*
 * netio.c - buffered, time-bounded socket I/O for both LMTP sides.
 *
 * Owns a fixed input buffer and a bounded output buffer per connection. Every
 * wait goes through poll() with a timeout and the optional stop descriptor.
 */
#include "opes/netio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "opes/clock.h"
#include "opes/log.h"

struct netio {
    int fd;
    int stop_fd;
    size_t rpos, rlen;
    size_t wlen;
    char rbuf[NETIO_RBUF_SIZE];
    char wbuf[NETIO_WBUF_SIZE];
};

struct netio *netio_new(int fd, int stop_fd)
{
    struct netio *io = malloc(sizeof(*io));

    if (io == NULL)
        fatal("malloc");
    io->fd = fd;
    io->stop_fd = stop_fd;
    io->rpos = io->rlen = io->wlen = 0;
    return io;
}

void netio_free(struct netio **iop)
{
    struct netio *io = *iop;

    *iop = NULL;
    if (io == NULL)
        return;
    close(io->fd);
    free(io);
}

int netio_fd(const struct netio *io)
{
    return io->fd;
}

int netio_set_stop(struct netio *io, int stop_fd)
{
    int old = io->stop_fd;

    io->stop_fd = stop_fd;
    return old;
}

/* netio_wait - poll for events on fd (and the stop descriptor); 0 ready, -1 errno. */
static int netio_wait(struct netio *io, short events, int timeout_ms)
{
    struct pollfd pfd[2] = {{.fd = io->fd, .events = events},
                            {.fd = io->stop_fd, .events = POLLIN}};
    int n;

    for (;;) {
        n = poll(pfd, io->stop_fd >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (pfd[0].revents != 0)
            return 0;
        errno = ECANCELED;
        return -1;
    }
}

/* netio_send_all - write p[0..len) within timeout_ms per wait; 0 or -1. */
static int netio_send_all(struct netio *io, const char *p, size_t len, int timeout_ms)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(io->fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a stop request must not cut a reply short: wait without it */
            int stop = io->stop_fd, rc;
            io->stop_fd = -1;
            rc = netio_wait(io, POLLOUT, timeout_ms);
            io->stop_fd = stop;
            if (rc == 0)
                continue;
        }
        return -1;
    }
    return 0;
}

int netio_flush(struct netio *io, int timeout_ms)
{
    int rc = netio_send_all(io, io->wbuf, io->wlen, timeout_ms);

    io->wlen = 0;
    return rc;
}

int netio_fill(struct netio *io, int timeout_ms)
{
    ssize_t n;

    if (io->wlen > 0 && netio_flush(io, timeout_ms) < 0)
        return -1;
    if (io->rpos > 0) {
        memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
        io->rlen -= io->rpos;
        io->rpos = 0;
    }
    if (io->rlen == sizeof(io->rbuf)) {
        errno = ENOBUFS;
        return -1;
    }
    for (;;) {
        n = recv(io->fd, io->rbuf + io->rlen, sizeof(io->rbuf) - io->rlen, MSG_DONTWAIT);
        if (n > 0) {
            io->rlen += (size_t)n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (netio_wait(io, POLLIN, timeout_ms) < 0)
            return -1;
    }
}

int netio_readline(struct netio *io, size_t max, int timeout_ms, char **line_r, size_t *len_r)
{
    int64_t deadline = clock_now_ms() + timeout_ms;
    int overlong = 0;

    for (;;) {
        char *start = io->rbuf + io->rpos;
        size_t avail = io->rlen - io->rpos;
        char *lf = memchr(start, '\n', avail);
        int rc;

        if (lf != NULL) {
            size_t len = (size_t)(lf - start);
            io->rpos += len + 1;
            if (overlong || len + 1 > max)
                return 2;
            if (len > 0 && start[len - 1] == '\r')
                len--;
            start[len] = '\0';
            *line_r = start;
            *len_r = len;
            return 1;
        }
        if (avail >= max) {
            /* too long already: drop what we have, keep looking for the LF */
            overlong = 1;
            io->rpos = io->rlen;
        }
        if (clock_ms_left(deadline) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        rc = netio_fill(io, clock_ms_left(deadline));
        if (rc <= 0)
            return rc;
    }
}

size_t netio_peek(struct netio *io, const char **data_r)
{
    *data_r = io->rbuf + io->rpos;
    return io->rlen - io->rpos;
}

void netio_consume(struct netio *io, size_t n)
{
    io->rpos += n;
    if (io->rpos == io->rlen)
        io->rpos = io->rlen = 0;
}

int netio_write(struct netio *io, const void *data, size_t len, int timeout_ms)
{
    if (io->wlen + len > sizeof(io->wbuf)) {
        if (netio_flush(io, timeout_ms) < 0)
            return -1;
        if (len >= sizeof(io->wbuf))
            return netio_send_all(io, data, len, timeout_ms);
    }
    memcpy(io->wbuf + io->wlen, data, len);
    io->wlen += len;
    return 0;
}

int netio_printf(struct netio *io, int timeout_ms, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    return netio_write(io, buf, (size_t)n, timeout_ms);
}

bool netio_readable_now(struct netio *io)
{
    struct pollfd pfd = {.fd = io->fd, .events = POLLIN};

    if (io->rpos < io->rlen)
        return true;
    return poll(&pfd, 1, 0) != 0;
}

static void netio_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* netio_connect_one - nonblocking connect to one resolved address. */
static int netio_connect_one(const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct pollfd pfd;
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (fd < 0)
        return -1;
    if (connect(fd, sa, salen) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    for (;;) {
        int n = poll(&pfd, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ETIMEDOUT;
        if (n <= 0)
            goto fail;
        break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
        goto fail;
    if (err != 0) {
        errno = err;
        goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

int netio_connect(const struct endpoint *ep, int timeout_ms, const char **error_r)
{
    static _Thread_local char err[256];
    int fd = -1;

    if (ep->kind == ENDPOINT_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        strcpy(sun.sun_path, ep->path);
        fd = netio_connect_one((struct sockaddr *)&sun, sizeof(sun), timeout_ms);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
        int rc = getaddrinfo(ep->host, ep->port, &hints, &res);
        if (rc != 0) {
            snprintf(err, sizeof(err), "cannot resolve %s: %s", ep->host, gai_strerror(rc));
            *error_r = err;
            return -1;
        }
        for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
            fd = netio_connect_one(ai->ai_addr, ai->ai_addrlen, timeout_ms);
        freeaddrinfo(res);
        if (fd >= 0)
            netio_nodelay(fd);
    }
    if (fd < 0) {
        snprintf(err, sizeof(err), "connect: %s", strerror(errno));
        *error_r = err;
    }
    return fd;
}

int netio_listen(const struct endpoint *ep, unsigned mode, const char **error_r)
{
    static _Thread_local char err[256];
    int fd = -1, one = 1;

    if (ep->kind == ENDPOINT_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        struct stat st;
        strcpy(sun.sun_path, ep->path);
        if (lstat(ep->path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(ep->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
            chmod(ep->path, mode) < 0 || listen(fd, 128) < 0)
            goto fail;
        return fd;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res;
    int rc = getaddrinfo(ep->host, ep->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, sizeof(err), "cannot resolve %s: %s", ep->host, gai_strerror(rc));
        *error_r = err;
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        freeaddrinfo(res);
        goto fail;
    }
    freeaddrinfo(res);
    return fd;
fail:
    snprintf(err, sizeof(err), "%s", strerror(errno));
    *error_r = err;
    if (fd >= 0)
        close(fd);
    return -1;
}

void netio_peer_name(int fd, char *buf, size_t size, char *port, size_t portsize)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    snprintf(buf, size, "unknown");
    snprintf(port, portsize, "0");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        snprintf(buf, size, "unix");
        return;
    }
    netio_nodelay(fd);
    getnameinfo((struct sockaddr *)&ss, len, buf, (socklen_t)size, port, (socklen_t)portsize,
                NI_NUMERICHOST | NI_NUMERICSERV);
    if (strncmp(buf, "::ffff:", 7) == 0)
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
}
