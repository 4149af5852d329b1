/*
 * store_ledger.c - the delivery ledger (store.h): which recipients of which
 * message the mailbox store or the quarantine already took.
 *
 * A row is written before opesd answers the MTA, and looked up when a
 * transaction arrives: the MTA that sends a transaction again because opesd
 * died before its answer gets 250 for the recipients found here, and they are
 * not delivered twice. Rows are kept [store] ledger_days (longer than the
 * MTA retries), then the purge forgets them.
 */
#include "opes/store.h"

#include <string.h>

#include "store_int.h"

int st_ledger_insert(struct store *st, const struct store_ledger *row, const char **error_r)
{
    struct st_q *q = st_q(st, S_LEDGER_INSERT);
    char low[sizeof(row->recipient)];

    st_lower(low, sizeof(low), row->recipient);
    st_text(q, 1, row->ident);
    st_text(q, 2, row->hash);
    st_text(q, 3, low);
    st_text(q, 4, row->outcome);
    st_text(q, 5, row->trace_id);
    st_text(q, 6, row->detail);
    st_int(q, 7, row->at != 0 ? row->at : st_now());
    return st_exec1(st, q, error_r, "ledger insert");
}

static int st_ledger_row(struct store *st, const void *rows, size_t i, const char **error_r)
{
    return st_ledger_insert(st, &((const struct store_ledger *)rows)[i], error_r);
}

int store_ledger_add(struct store *st, const struct store_ledger *rows, size_t n,
                     const char **error_r)
{
    /* it has to survive a killed opesd, which an unsynced commit does; a sync adds latency */
    return st_insert_unsynced(st, st_ledger_row, rows, n, error_r);
}

int store_ledger_find(struct store *st, const char *ident, const char *hash, const char *recipient,
                      struct store_ledger *row, const char **error_r)
{
    struct st_q *q = st_q(st, S_LEDGER_FIND);
    char low[sizeof(row->recipient)];
    int rc;

    st_lower(low, sizeof(low), recipient);
    st_text(q, 1, ident);
    st_text(q, 2, hash);
    st_text(q, 3, low);
    if ((rc = st_step(st, q, error_r, "ledger lookup")) > 0) {
        memset(row, 0, sizeof(*row));
        strncpy(row->ident, ident, sizeof(row->ident) - 1);
        strncpy(row->hash, hash, sizeof(row->hash) - 1);
        memcpy(row->recipient, low, sizeof(row->recipient));
        st_copy(row->outcome, sizeof(row->outcome), q, 0);
        st_copy(row->trace_id, sizeof(row->trace_id), q, 1);
        st_copy(row->detail, sizeof(row->detail), q, 2);
        row->at = st_col_int(q, 3);
    }
    return st_found(q, rc);
}

int store_ledger_purge(struct store *st, unsigned days, size_t *removed_r, const char **error_r)
{
    if (st_exec_int(st, S_LEDGER_PURGE, st_now() - (int64_t)days * 86400, error_r, "ledger purge") <
        0)
        return -1;
    if (removed_r != NULL)
        *removed_r = (size_t)st_changes(st);
    return 0;
}
