/*
 * tracelog.h - trace records written behind the mail path.
 *
 * Sessions collect a transaction's trace records in a batch and hand it over
 * once; one writer thread commits whatever has queued up in one store
 * transaction. Sessions never wait on the store's write lock for the trace
 * (it is a record, not a delivery promise), and the store sees one commit
 * per burst instead of one per message. The queue is bounded: beyond it
 * records are dropped and counted in the log, never the mail.
 */
#ifndef OPES_TRACELOG_H
#define OPES_TRACELOG_H

#include <stddef.h>

#include "opes/store.h"

#define TRACELOG_QUEUE_MAX 8192 /* records waiting for the writer */

struct tracelog_batch {
    struct store_trace *t;
    size_t n, cap;
};

/* tracelog_batch_add - a new zeroed record at the end of b. */
struct store_trace *tracelog_batch_add(struct tracelog_batch *b);
void tracelog_batch_free(struct tracelog_batch *b);

/* tracelog_start - the writer thread; records go to the store at path/key_file. */
void tracelog_start(void);
/*
 * tracelog_submit - queue the batch's records (copied; b is emptied) for the
 * store that cfg names (the writer follows a changed path).
 */
void tracelog_submit(struct tracelog_batch *b, const struct opes_config *cfg);
/* tracelog_stop - write what is queued, stop the thread. */
void tracelog_stop(void);

#endif
