/*
 * store_quarantine.c - held messages: their encrypted content (stored once
 * for all the recipients of one message, in chunks), the quarantine entries,
 * the trace of what happened to each message, release requests carried out
 * by opesd's release worker, and the retention purge.
 */
#include "opes/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/content.h"
#include "opes/keys.h"
#include "store_int.h"

static const char *const qstatus_names[] = {"held", "released", "deleted", "expired"};

const char *store_qstatus_name(enum store_qstatus s)
{
    return (unsigned)s < 4 ? qstatus_names[s] : "?";
}

static enum store_qstatus qstatus_parse(const char *s)
{
    for (int i = 0; i < 4 && s != NULL; i++)
        if (strcmp(s, qstatus_names[i]) == 0)
            return (enum store_qstatus)i;
    return STORE_HELD;
}

/* ------------------------------------------------------------ content */

/* st_public_id - 20 random base32 characters (100 bits). */
static void st_public_id(char id[STORE_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char raw[STORE_ID_LEN];

    randombytes_buf(raw, sizeof(raw));
    for (int i = 0; i < STORE_ID_LEN; i++)
        id[i] = alphabet[raw[i] & 31];
    id[STORE_ID_LEN] = '\0';
}

/* st_hash - keyed hash and size of the reader's content (first pass). */
static int st_hash(struct store *st, const struct store_reader *r, unsigned char *hash,
                   uint64_t *size, unsigned char *buf, const char **error_r)
{
    struct content_hash h;
    ssize_t n;

    content_hash_init(&h, keys_mac(st->keys, keys_current(st->keys)));
    *size = 0;
    if (r->rewind(r->ctx) < 0)
        return st_fail(st, error_r, "cannot read the message");
    while ((n = r->read(r->ctx, buf, CONTENT_CHUNK)) > 0) {
        content_hash_update(&h, buf, (size_t)n);
        *size += (uint64_t)n;
    }
    content_hash_final(&h, hash);
    return n < 0 ? st_fail(st, error_r, "cannot read the message") : 0;
}

/* st_content_store - encrypt the reader's content into a new content row (second pass);
 * 0, 1 when the same content is there already (nothing stored), or -1. */
static int st_content_store(struct store *st, const struct store_reader *r,
                            const unsigned char *hash, uint64_t size, unsigned char *buf,
                            int64_t *content_id, const char **error_r)
{
    uint32_t kid = keys_current(st->keys);
    unsigned char header[CONTENT_HEADER_LEN], *cbuf = malloc(CONTENT_CHUNK + CONTENT_ABYTES);
    struct content_enc enc;
    struct st_q *q;
    int64_t seq = 0;
    uint64_t done = 0;
    int rc = -1;

    if (cbuf == NULL)
        return st_fail(st, error_r, "out of memory");
    content_enc_init(&enc, keys_storage(st->keys, kid), header);
    q = st_q(st, S_CONTENT_INSERT);
    st_blob(q, 1, hash, CONTENT_HASH_LEN);
    st_int(q, 2, kid);
    st_int(q, 3, (int64_t)size);
    st_blob(q, 4, header, sizeof(header));
    st_int(q, 5, st_now());
    if (st_exec1(st, q, error_r, "content insert") < 0)
        goto out;
    if (st_changes(st) == 0) {
        rc = 1;
        goto out;
    }
    *content_id = st_last_id(st);
    if (r->rewind(r->ctx) < 0) {
        st_fail(st, error_r, "cannot read the message");
        goto out;
    }
    do {
        size_t len = 0;
        ssize_t n;
        /* fill a whole chunk so that chunk boundaries do not depend on the reader */
        while (len < CONTENT_CHUNK && (n = r->read(r->ctx, buf + len, CONTENT_CHUNK - len)) > 0)
            len += (size_t)n;
        done += len;
        if (done > size || (len < CONTENT_CHUNK && done != size)) {
            st_fail(st, error_r, "the message changed while it was stored");
            goto out;
        }
        content_enc_chunk(&enc, buf, len, done == size, cbuf);
        q = st_q(st, S_CHUNK_INSERT);
        st_int(q, 1, *content_id);
        st_int(q, 2, seq++);
        st_blob(q, 3, cbuf, len + CONTENT_ABYTES);
        if (st_exec1(st, q, error_r, "chunk insert") < 0)
            goto out;
    } while (done < size);
    rc = 0;
out:
    sodium_memzero(&enc, sizeof(enc));
    free(cbuf);
    return rc;
}

/* st_content_find - the content row for this hash under the current key: 1 (in
 * *content_id), 0 when there is none, -1 on error. */
static int st_content_find(struct store *st, const unsigned char *hash, int64_t *content_id,
                           const char **error_r)
{
    struct st_q *q = st_q(st, S_CONTENT_FIND);
    int rc;

    st_blob(q, 1, hash, CONTENT_HASH_LEN);
    st_int(q, 2, keys_current(st->keys));
    rc = st_step(st, q, error_r, "content lookup");
    if (rc > 0) {
        *content_id = st_col_int(q, 0);
        st_reset(q);
    }
    return rc;
}

/* st_content_find_or_store - the content row for this content, shared when it exists.
 * The insert comes first: content is seldom stored twice (the recipients of one message
 * share one call), and an insert that finds the row there (stored before, or by another
 * node at this moment) does nothing; only then is the row looked up. One statement
 * less for new content, one round trip less on PostgreSQL. */
static int st_content_find_or_store(struct store *st, const struct store_reader *r,
                                    const unsigned char *hash, uint64_t size, unsigned char *buf,
                                    int64_t *content_id, const char **error_r)
{
    int rc = st_content_store(st, r, hash, size, buf, content_id, error_r);

    if (rc <= 0)
        return rc;
    rc = st_content_find(st, hash, content_id, error_r);
    return rc > 0   ? 0
           : rc < 0 ? -1
                    : st_fail(st, error_r, "content lookup: shared content vanished");
}

static int st_q_insert(struct store *st, struct store_qitem *it, int64_t content_id, uint64_t size,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_Q_INSERT);
    int64_t now = st_now();

    st_public_id(it->id);
    it->size = size;
    it->status = STORE_HELD;
    it->created = it->updated = now;
    st_text(q, 1, it->id);
    st_int(q, 2, content_id);
    st_text(q, 3, it->trace_id);
    st_text(q, 4, it->sender);
    st_text(q, 5, it->recipient);
    st_text(q, 6, it->subject);
    st_text(q, 7, it->date);
    st_int(q, 8, (int64_t)size);
    st_text(q, 9, it->service);
    st_text(q, 10, it->reason);
    st_int(q, 11, now);
    st_int(q, 12, now);
    st_text(q, 13, it->words);
    st_text(q, 14, it->from_name);
    st_text(q, 15, it->original);
    return st_exec1(st, q, error_r, "quarantine insert");
}

int store_quarantine_add(struct store *st, struct store_qitem *items, size_t n,
                         const struct store_reader *r, const char **error_r)
{
    return store_quarantine_add_ledger(st, items, n, r, NULL, error_r);
}

int store_quarantine_add_ledger(struct store *st, struct store_qitem *items, size_t n,
                                const struct store_reader *r, struct store_ledger *ledger,
                                const char **error_r)
{
    unsigned char hash[CONTENT_HASH_LEN], *buf = malloc(CONTENT_CHUNK);
    uint64_t size;
    int64_t content_id = 0;
    int rc = -1;

    st_keys(st); /* a rotated key file: new content under the newest key */
    if (buf == NULL)
        return st_fail(st, error_r, "out of memory");
    if (st_hash(st, r, hash, &size, buf, error_r) < 0 || st_begin(st, true, error_r) < 0)
        goto out;
    if (st_content_find_or_store(st, r, hash, size, buf, &content_id, error_r) < 0)
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        if (st_q_insert(st, &items[i], content_id, size, error_r) < 0)
            goto rollback;
        if (ledger == NULL)
            continue;
        memcpy(ledger[i].detail, items[i].id, sizeof(items[i].id));
        if (st_ledger_insert(st, &ledger[i], error_r) < 0)
            goto rollback;
    }
    if (st_commit(st, error_r) < 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    st_rollback(st);
out:
    free(buf);
    return rc;
}

void store_qitem_read(struct st_q *q, int first, struct store_qitem *it)
{
    st_copy(it->id, sizeof(it->id), q, first + QC_ID);
    st_copy(it->trace_id, sizeof(it->trace_id), q, first + QC_TRACE_ID);
    st_copy(it->sender, sizeof(it->sender), q, first + QC_SENDER);
    st_copy(it->recipient, sizeof(it->recipient), q, first + QC_RECIPIENT);
    st_copy(it->subject, sizeof(it->subject), q, first + QC_SUBJECT);
    st_copy(it->date, sizeof(it->date), q, first + QC_DATE);
    it->size = (uint64_t)st_col_int(q, first + QC_SIZE);
    st_copy(it->service, sizeof(it->service), q, first + QC_SERVICE);
    st_copy(it->reason, sizeof(it->reason), q, first + QC_REASON);
    it->status = qstatus_parse(st_col_text(q, first + QC_STATUS));
    it->created = st_col_int(q, first + QC_CREATED);
    it->updated = st_col_int(q, first + QC_UPDATED);
    st_copy(it->words, sizeof(it->words), q, first + QC_WORDS);
    st_copy(it->from_name, sizeof(it->from_name), q, first + QC_FROM_NAME);
    st_copy(it->original, sizeof(it->original), q, first + QC_ORIGINAL);
}

int store_quarantine_get(struct store *st, const char *id, struct store_qitem *item,
                         const char **error_r)
{
    struct st_q *q = st_q(st, S_Q_GET);
    int rc;

    st_text(q, 1, id);
    if ((rc = st_step(st, q, error_r, "quarantine get")) > 0)
        store_qitem_read(q, 0, item);
    return st_found(q, rc);
}

int st_qitems(struct store *st, struct st_q *q, void (*fn)(const struct store_qitem *it, void *ctx),
              void *ctx, const char **error_r, const char *what)
{
    struct store_qitem it;
    int rc;

    while ((rc = st_step(st, q, error_r, what)) > 0) {
        store_qitem_read(q, 0, &it);
        fn(&it, ctx);
    }
    return rc;
}

/* the listing's statements in the order of enum store_web_sort */
_Static_assert(S_Q_LIST_ALL_REASON - S_Q_LIST_ALL_NEWEST == STORE_SORT_REASON &&
                   S_Q_LIST_RCPT_NEWEST - S_Q_LIST_ALL_NEWEST == STORE_SORT_REASON + 1 &&
                   S_Q_LIST_RCPT_REASON - S_Q_LIST_RCPT_NEWEST == STORE_SORT_REASON &&
                   S_Q_LIST_SEES_NEWEST - S_Q_LIST_RCPT_NEWEST == STORE_SORT_REASON + 1 &&
                   S_Q_LIST_SEES_REASON - S_Q_LIST_SEES_NEWEST == STORE_SORT_REASON,
               "one listing statement per recipient choice and sort order");

/*
 * st_q_sees - which listing f asks for: everyone's (0), one address's own
 * entries (1), or what the address sees besides them as a delegate or a
 * domain administrator (2), which no index serves: most recipients are 1,
 * and keep the indexed statement. -1 on a store error.
 */
static int st_q_sees(struct store *st, const struct store_qfilter *f, const char **error_r)
{
    struct st_q *q;
    int rc;
    int64_t n = 0;

    if (f->recipient == NULL)
        return 0;
    q = st_q(st, S_Q_SEES_OTHERS);
    st_text(q, 1, f->recipient);
    if ((rc = st_step(st, q, error_r, "quarantine list")) > 0)
        n = st_col_int(q, 0);
    st_reset(q);
    return rc < 0 ? -1 : n > 0 ? 2 : 1;
}

/* st_q_filter - bind f's filter, ?1 to ?5 of the listing and its count, to q. */
static void st_q_filter(struct st_q *q, const struct store_qfilter *f)
{
    char like[600] = "";

    if (f->search != NULL && *f->search != '\0') {
        size_t o = 0;
        like[o++] = '%';
        for (const char *p = f->search; *p != '\0' && o < sizeof(like) - 3; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                like[o++] = '\\';
            like[o++] = *p;
        }
        like[o++] = '%';
        like[o] = '\0';
    }
    st_text(q, 1, f->recipient);
    st_text(q, 2, f->status >= 0 ? store_qstatus_name((enum store_qstatus)f->status) : "");
    st_text(q, 3, like);
    st_int(q, 4, f->since);
    st_int(q, 5, f->until);
}

int st_q_list(struct store *st, const struct store_qfilter *f, int sort,
              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
              const char **error_r)
{
    static const enum st_stmt firsts[] = {S_Q_LIST_ALL_NEWEST, S_Q_LIST_RCPT_NEWEST,
                                          S_Q_LIST_SEES_NEWEST};
    int which = st_q_sees(st, f, error_r);
    enum st_stmt first;
    struct st_q *q;

    if (which < 0)
        return -1;
    first = firsts[which];
    if (sort < 0 || sort > STORE_SORT_REASON)
        sort = STORE_SORT_NEWEST;
    q = st_q(st, (enum st_stmt)(first + sort));
    st_q_filter(q, f);
    st_int(q, 6, f->limit != 0 ? (int64_t)f->limit : 50);
    st_int(q, 7, (int64_t)f->offset);
    return st_qitems(st, q, fn, ctx, error_r, "quarantine list");
}

int store_web_quarantine_count(struct store *st, const struct store_qfilter *f, int64_t *n_r,
                               const char **error_r)
{
    static const enum st_stmt counts[] = {S_Q_COUNT_ALL, S_Q_COUNT_RCPT, S_Q_COUNT_SEES};
    int which = st_q_sees(st, f, error_r), rc;
    struct st_q *q;

    *n_r = 0;
    if (which < 0)
        return -1;
    q = st_q(st, counts[which]);
    st_q_filter(q, f);
    *n_r = 0;
    if ((rc = st_step(st, q, error_r, "quarantine count")) > 0)
        *n_r = st_col_int(q, 0);
    st_reset(q);
    return rc < 0 ? -1 : 0;
}

int store_quarantine_restore(struct store *st, const char *id, const char **error_r)
{
    struct st_q *q = st_q(st, S_Q_RESTORE);

    st_int(q, 1, st_now());
    st_text(q, 2, id);
    if (st_exec1(st, q, error_r, "quarantine restore") < 0)
        return -1;
    return st_changes(st) == 0 ? STORE_NOTFOUND : 0;
}

int store_quarantine_list(struct store *st, const struct store_qfilter *f,
                          void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                          const char **error_r)
{
    return st_q_list(st, f, STORE_SORT_NEWEST, fn, ctx, error_r);
}

int store_quarantine_set_status(struct store *st, const char *id, enum store_qstatus status,
                                const char **error_r)
{
    struct st_q *q = st_q(st, S_Q_SET_STATUS);

    st_text(q, 1, store_qstatus_name(status));
    st_int(q, 2, st_now());
    st_text(q, 3, id);
    if (st_exec1(st, q, error_r, "quarantine status") < 0)
        return -1;
    if (st_changes(st) == 0)
        return STORE_NOTFOUND;
    /* a deleted entry gets no notice and no DSN: its header section, kept in clear, goes now */
    if (status == STORE_DELETED) {
        q = st_q(st, S_N_FORGET_HEADERS);
        st_text(q, 1, id);
        if (st_exec1(st, q, error_r, "forget headers") < 0)
            return -1;
    }
    return 0;
}

/* st_content_read - decrypt every chunk of content_id in order into write. */
static int st_content_read(struct store *st, int64_t content_id, uint32_t kid,
                           const unsigned char *header,
                           int (*write)(void *ctx, const void *buf, size_t len), void *ctx,
                           const char **error_r)
{
    const unsigned char *key = keys_storage(st_keys(st), kid);
    unsigned char *plain = malloc(CONTENT_CHUNK);
    struct content_dec dec;
    struct st_q *q;
    int rc, result = -1;

    if (plain == NULL)
        return st_fail(st, error_r, "out of memory");
    if (key == NULL || content_dec_init(&dec, key, header) < 0) {
        free(plain);
        return st_fail(st, error_r, "content key %u is not in the key file", kid);
    }
    q = st_q(st, S_CHUNKS);
    st_int(q, 1, content_id);
    while ((rc = st_step(st, q, error_r, "content read")) > 0) {
        size_t len, clen;
        const void *chunk = st_col_blob(q, 0, &clen);
        if (content_dec_chunk(&dec, chunk, clen, plain, &len) < 0) {
            st_fail(st, error_r, "content does not decrypt: damaged or tampered with");
            goto out;
        }
        if (write(ctx, plain, len) < 0) {
            st_fail(st, error_r, "cannot write the content out");
            goto out;
        }
    }
    if (rc == 0 && !dec.final_seen)
        st_fail(st, error_r, "content is truncated");
    else if (rc == 0)
        result = 0;
out:
    st_reset(q);
    sodium_memzero(plain, CONTENT_CHUNK);
    free(plain);
    return result;
}

int store_quarantine_content(struct store *st, const char *id,
                             int (*write)(void *ctx, const void *buf, size_t len), void *ctx,
                             const char **error_r)
{
    struct st_q *q;
    unsigned char header[CONTENT_HEADER_LEN];
    const void *h = NULL;
    size_t hlen = 0;
    int64_t content_id;
    uint32_t kid;
    int rc;

    if (st_begin(st, false, error_r) < 0)
        return -1;
    q = st_q(st, S_CONTENT_OF);
    st_text(q, 1, id);
    rc = st_step(st, q, error_r, "content lookup");
    if (rc > 0)
        h = st_col_blob(q, 2, &hlen);
    if (rc <= 0 || h == NULL || hlen != CONTENT_HEADER_LEN) {
        st_reset(q);
        st_rollback(st);
        if (rc <= 0)
            return rc == 0 ? STORE_NOTFOUND : -1;
        return st_fail(st, error_r, "content header damaged");
    }
    content_id = st_col_int(q, 0);
    kid = (uint32_t)st_col_int(q, 1);
    memcpy(header, h, CONTENT_HEADER_LEN);
    st_reset(q);
    rc = st_content_read(st, content_id, kid, header, write, ctx, error_r);
    st_rollback(st); /* read-only: nothing to keep */
    return rc;
}

/* ------------------------------------------------------------ trace */

int st_trace_insert(struct store *st, const struct store_trace *t, const char **error_r)
{
    struct st_q *q = st_q(st, S_TRACE_INSERT);

    st_text(q, 1, t->trace_id);
    st_text(q, 2, t->recipient);
    st_text(q, 3, t->event);
    st_text(q, 4, t->service);
    st_text(q, 5, t->verdict);
    st_text(q, 6, t->detail);
    st_int(q, 7, t->duration_ms);
    st_int(q, 8, t->at != 0 ? t->at : st_now());
    return st_exec1(st, q, error_r, "trace insert");
}

int store_trace_add(struct store *st, const struct store_trace *t, const char **error_r)
{
    return st_trace_insert(st, t, error_r);
}

static int st_trace_row(struct store *st, const void *rows, size_t i, const char **error_r)
{
    return st_trace_insert(st, &((const struct store_trace *)rows)[i], error_r);
}

int store_trace_add_many(struct store *st, const struct store_trace *t, size_t n,
                         const char **error_r)
{
    return st_insert_unsynced(st, st_trace_row, t, n, error_r);
}

int store_trace_list(struct store *st, const char *trace_id,
                     void (*fn)(const struct store_trace *t, void *ctx), void *ctx,
                     const char **error_r)
{
    struct st_q *q = st_q(st, S_TRACE_LIST);
    int rc;

    st_text(q, 1, trace_id);
    while ((rc = st_step(st, q, error_r, "trace list")) > 0) {
        struct store_trace t;
        st_copy(t.trace_id, sizeof(t.trace_id), q, 0);
        st_copy(t.recipient, sizeof(t.recipient), q, 1);
        st_copy(t.event, sizeof(t.event), q, 2);
        st_copy(t.service, sizeof(t.service), q, 3);
        st_copy(t.verdict, sizeof(t.verdict), q, 4);
        st_copy(t.detail, sizeof(t.detail), q, 5);
        t.duration_ms = st_col_int(q, 6);
        t.at = st_col_int(q, 7);
        fn(&t, ctx);
    }
    return rc;
}

/* ------------------------------------------------------------ releases */

int store_release_request(struct store *st, const struct store_release *r, const char **error_r)
{
    struct st_q *q;
    int rc;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_Q_LOCK); /* requests for one entry from several nodes queue here */
    st_text(q, 1, r->item_id);
    if (st_exec1(st, q, error_r, "release lock") < 0)
        goto fail;
    q = st_q(st, S_REL_PENDING);
    st_text(q, 1, r->item_id);
    rc = st_step(st, q, error_r, "release lookup");
    st_reset(q);
    if (rc > 0) /* already asked for: one request is enough */
        return st_commit(st, error_r);
    q = st_q(st, S_REL_INSERT);
    st_text(q, 1, r->requested_by);
    st_text(q, 2, r->origin);
    st_text(q, 3, r->whitelist);
    st_text(q, 4, r->item_id);
    st_int(q, 5, st_now());
    st_text(q, 6, r->via);
    /* nothing inserted: no such item, or not held any more */
    return st_request_commit(st, q, "release request", STORE_NOTFOUND, r->requested_by,
                             "release-request", r->item_id, r->origin, r->via, error_r);
fail:
    st_rollback(st);
    return -1;
}

/* release_fill - a release request's columns (S_REL_NEXT) into a struct store_release. */
static int64_t release_fill(struct st_q *q, void *out)
{
    struct store_release *r = out;

    memset(r, 0, sizeof(*r));
    r->id = st_col_int(q, 0);
    st_copy(r->item_id, sizeof(r->item_id), q, 1);
    st_copy(r->requested_by, sizeof(r->requested_by), q, 2);
    st_copy(r->origin, sizeof(r->origin), q, 3);
    st_copy(r->whitelist, sizeof(r->whitelist), q, 4);
    r->attempts = (int)st_col_int(q, 5) + 1;
    st_copy(r->last_error, sizeof(r->last_error), q, 6);
    st_copy(r->via, sizeof(r->via), q, 7);
    return r->id;
}

int store_release_next(struct store *st, struct store_release *r, const char **error_r)
{
    return st_claim(st, S_REL_NEXT, S_REL_LEASE, release_fill, r, error_r, "release next");
}

int store_release_done(struct store *st, const struct store_release *r, const char **error_r)
{
    struct store_qitem it;
    struct store_trace t = {.at = 0};
    char object[128];
    struct st_q *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    if (store_quarantine_get(st, r->item_id, &it, error_r) != 0) {
        st_rollback(st);
        return st_fail(st, error_r, "item %s vanished", r->item_id);
    }
    if (store_quarantine_set_status(st, r->item_id, STORE_RELEASED, error_r) != 0)
        goto fail;
    if (r->whitelist[0] != '\0') {
        struct store_list_entry e = {.kind = STORE_WHITELIST};
        snprintf(e.owner, sizeof(e.owner), "%s", it.recipient);
        if (strcmp(r->whitelist, "domain") == 0)
            st_domain_key(e.sender, sizeof(e.sender), it.sender);
        else
            snprintf(e.sender, sizeof(e.sender), "%s", it.sender);
        snprintf(e.created_by, sizeof(e.created_by), "%s", r->requested_by);
        snprintf(e.origin, sizeof(e.origin), "%s", r->origin);
        if (st_list_insert(st, &e, error_r) < 0)
            goto fail;
    }
    snprintf(t.trace_id, sizeof(t.trace_id), "%s", it.trace_id);
    snprintf(t.recipient, sizeof(t.recipient), "%s", it.recipient);
    snprintf(t.event, sizeof(t.event), "release");
    snprintf(t.verdict, sizeof(t.verdict), "released");
    snprintf(t.detail, sizeof(t.detail), "released by %s via %s%s%s", r->requested_by, r->origin,
             r->whitelist[0] ? ", sender whitelisted by " : "", r->whitelist);
    snprintf(object, sizeof(object), "quarantine:%s", r->item_id);
    q = st_q(st, S_REL_DONE);
    st_int(q, 1, st_now());
    st_int(q, 2, r->id);
    if (st_trace_insert(st, &t, error_r) < 0 ||
        st_audit_insert(st, r->requested_by, "release delivered", object, r->origin, r->via,
                        error_r) < 0 ||
        st_exec1(st, q, error_r, "release done") < 0 || st_commit(st, error_r) < 0)
        goto fail;
    return 0;
fail:
    st_rollback(st);
    return -1;
}

int store_release_failed(struct store *st, const struct store_release *r, bool permanent,
                         const char *why, int64_t retry_after_s, const char **error_r)
{
    struct st_q *q;
    int64_t now = st_now();
    char action[320], object[128];

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_REL_FAIL);
    st_text(q, 1, permanent ? "failed" : "pending");
    st_int(q, 2, now + retry_after_s);
    st_text(q, 3, why);
    st_int(q, 4, now);
    st_int(q, 5, r->id);
    if (st_exec1(st, q, error_r, "release failed") < 0)
        goto fail;
    /* the outcome is audited once: when the request ends (a deferral is no outcome) */
    if (permanent && st_changes(st) == 1) {
        snprintf(action, sizeof(action), "release failed: %s", why);
        snprintf(object, sizeof(object), "quarantine:%s", r->item_id);
        if (st_audit_insert(st, r->requested_by, action, object, r->origin, r->via, error_r) < 0)
            goto fail;
    }
    return st_commit(st, error_r);
fail:
    st_rollback(st);
    return -1;
}

int store_release_info(struct store *st, const char *item_id, struct store_release_info *ri,
                       const char **error_r)
{
    struct st_q *q = st_q(st, S_REL_INFO);
    int rc;

    memset(ri, 0, sizeof(*ri));
    st_text(q, 1, item_id);
    if ((rc = st_step(st, q, error_r, "release info")) > 0) {
        st_copy(ri->state, sizeof(ri->state), q, 0);
        st_copy(ri->reply, sizeof(ri->reply), q, 1);
        ri->at = st_col_int(q, 2);
        ri->attempts = (int)st_col_int(q, 3);
    }
    return st_found(q, rc);
}

int store_release_state(struct store *st, const char *item_id, char *state, size_t size,
                        char *last_error, size_t esize, const char **error_r)
{
    return st_lookup2(st, S_REL_STATE, item_id, state, size, last_error, esize, error_r,
                      "release state");
}

/* ------------------------------------------------------------ retention */

int store_purge(struct store *st, unsigned retention_days, size_t *expired_r, size_t *removed_r,
                const char **error_r)
{
    int64_t now = st_now(), cutoff = now - (int64_t)retention_days * 86400;
    size_t expired, removed;
    struct st_q *q;

    if (st_begin(st, true, error_r) < 0)
        return -1;
    q = st_q(st, S_PURGE_EXPIRE);
    st_int(q, 1, now);
    st_int(q, 2, cutoff);
    if (st_exec1(st, q, error_r, "purge expire") < 0)
        goto fail;
    expired = (size_t)st_changes(st);
    if (st_exec1(st, st_q(st, S_PURGE_DETACH), error_r, "purge detach") < 0)
        goto fail;
    if (st_exec_int(st, S_PURGE_DELETE_Q, cutoff, error_r, "purge entries") < 0)
        goto fail;
    removed = (size_t)st_changes(st);
    if (st_exec1(st, st_q(st, S_PURGE_CONTENT), error_r, "purge content") < 0)
        goto fail;
    if (st_exec_int(st, S_PURGE_TRACE, cutoff, error_r, "purge trace") < 0 ||
        st_exec_int(st, S_PURGE_LIST, now, error_r, "purge lists") < 0 ||
        st_exec_int(st, S_LEARN_PURGE, cutoff, error_r, "purge learning") < 0 ||
        store_token_purge(st, error_r) < 0 || store_request_purge(st, error_r) < 0 ||
        st_commit(st, error_r) < 0)
        goto fail;
    if (expired_r != NULL)
        *expired_r = expired;
    if (removed_r != NULL)
        *removed_r = removed;
    return 0;
fail:
    st_rollback(st);
    return -1;
}
