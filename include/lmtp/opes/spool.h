/*
 * spool.h - where one message's content waits while it is processed.
 *
 * Bytes go to memory up to a threshold, then the whole content moves to an
 * unlinked temporary file in the spool directory, so memory per session stays
 * bounded whatever the message size. The first write error (ENOSPC, EIO) is
 * kept and reported once the data phase is over.
 */
#ifndef OPES_SPOOL_H
#define OPES_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

/* spool_new - mem_max bytes in memory at most; dir holds the temporary file. */
struct spool *spool_new(size_t mem_max, const char *dir);
void spool_free(struct spool **sp);

/* spool_write - append; 0, or -1 with errno (sticky: later writes fail too). */
int spool_write(struct spool *s, const void *data, size_t len);
/* spool_error - errno of the first failed write, 0 when none. */
int spool_error(const struct spool *s);
uint64_t spool_size(const struct spool *s);
bool spool_on_disk(const struct spool *s);

/* spool_rewind / spool_read - sequential reading from the start. */
int spool_rewind(struct spool *s);
/* spool_read - up to len bytes; 0 at the end, -1 with errno. */
ssize_t spool_read(struct spool *s, void *buf, size_t len);
/* spool_pread - up to len bytes from offset off, leaving the sequential position alone. */
ssize_t spool_pread(struct spool *s, uint64_t off, void *buf, size_t len);

#endif
