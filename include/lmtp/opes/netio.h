/*
 * netio.h - buffered socket I/O with a timeout on every wait.
 *
 * Used by both LMTP sides. Input is read into a fixed buffer (never grown from
 * network input); output is collected and written in one write when the
 * reader would block, which is what PIPELINING needs (RFC 2920: flush when the
 * input buffer is empty) and what keeps Nagle and delayed ACKs from stalling a
 * relay. An optional stop descriptor aborts any wait (shutdown).
 */
#ifndef OPES_NETIO_H
#define OPES_NETIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "opes/endpoint.h"

#define NETIO_RBUF_SIZE 65536
#define NETIO_WBUF_SIZE 16384

struct netio;

/* netio_new - take ownership of fd; stop_fd (or -1) is only watched. */
struct netio *netio_new(int fd, int stop_fd);
/* netio_free - close the descriptor and free; sets *iop to NULL. */
void netio_free(struct netio **iop);
int netio_fd(const struct netio *io);
/* netio_set_stop - watch another stop descriptor (-1: none); returns the old one. */
int netio_set_stop(struct netio *io, int stop_fd);

/*
 * netio_fill - flush pending output, then wait up to timeout_ms for input.
 * Returns 1 when bytes were added, 0 on EOF, -1 on error with errno set:
 * ETIMEDOUT, ECANCELED (stop descriptor), ENOBUFS (buffer full) or the
 * socket's own error.
 */
int netio_fill(struct netio *io, int timeout_ms);

/*
 * netio_readline - next line, without its LF (a CR before the LF is removed
 * too). *line_r points into the buffer until the next netio call.
 * Returns 1 for a line, 2 for a line of more than max octets with its CRLF (discarded up to and
 * including its LF), 0 on EOF, -1 as netio_fill. timeout_ms bounds the whole line, not each
 * wait: a client that sends a byte now and then is cut off all the same (ETIMEDOUT).
 */
int netio_readline(struct netio *io, size_t max, int timeout_ms, char **line_r, size_t *len_r);

/* netio_peek / netio_consume - raw access to buffered input (DATA). */
size_t netio_peek(struct netio *io, const char **data_r);
void netio_consume(struct netio *io, size_t n);

/* netio_write / netio_printf - queue output; 0 or -1 (write failure). */
int netio_write(struct netio *io, const void *data, size_t len, int timeout_ms);
int netio_printf(struct netio *io, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* netio_flush - write out everything queued; 0 or -1 with errno. */
int netio_flush(struct netio *io, int timeout_ms);

/* netio_readable_now - true when input or EOF is waiting (stale cached peer). */
bool netio_readable_now(struct netio *io);

/*
 * netio_connect - connect to ep within timeout_ms (TCP_NODELAY set).
 * Returns the descriptor or -1 with *error_r set.
 */
int netio_connect(const struct endpoint *ep, int timeout_ms, const char **error_r);

/* netio_listen - bind and listen; a unix socket gets mode and an old file is replaced. */
int netio_listen(const struct endpoint *ep, unsigned mode, const char **error_r);

/* netio_peer_name - "1.2.3.4", "::1" or "unix" for an accepted socket. */
void netio_peer_name(int fd, char *buf, size_t size, char *port, size_t portsize);

#endif
