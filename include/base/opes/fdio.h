/*
 * fdio.h - the one write-all loop for files and pipes (sockets with
 * deadlines go through netio instead).
 */
#ifndef OPES_FDIO_H
#define OPES_FDIO_H

#include <stddef.h>

/* fdio_write_all - write all len bytes, retrying after EINTR and short
 * writes; 0, or -1 with errno set. */
int fdio_write_all(int fd, const void *p, size_t len);

#endif
