/*
 * deliver.c - the downstream side of a transaction: verify, then deliver.
 *
 * For LMTP targets the RCPT probe and the delivery share one downstream
 * transaction whenever the set of recipients is unchanged, so a normal message
 * costs MAIL+RCPT (pipelined) at RCPT time and DATA plus content afterwards.
 * When the set differs (groups of recipients with different content, or a
 * recipient dropped by policy) the open transaction is reset and each group
 * gets a transaction of its own on the same connection. A failure before any
 * content was sent is retried once on a fresh connection (a cached connection
 * may have been closed by the server); after that, every recipient without an
 * answer gets a 4xx. Nothing is answered 2xx that the store did not accept.
 */
#include "opes/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "opes/clock.h"
#include "opes/config.h"
#include "opes/dotstuff.h"
#include "opes/log.h"
#include "opes/maildir.h"
#include "opes/mboxlock.h"
#include "opes/metrics.h"
#include "opes/spool.h"
#include "opes/variant.h"
#include "opes/vec.h"

enum deliver_kind { DELIVER_LMTP, DELIVER_MAILDIR };

struct deliver {
    const struct opes_config *cfg;
    enum deliver_kind kind;
    struct lmtp_pool *pool;
    const char *maildir_tmpl;
};

struct deliver_tx {
    struct deliver *d;
    char *sender, *body;
    char trace[64];
    uint64_t size;
    bool smtputf8;
    struct lmtp_client *conn;
    bool mail_open;
    char **probed; /* recipients accepted in the open downstream transaction */
    size_t nprobed, probed_cap;
    deliver_confirm_fn *confirm; /* told of each 2xx as it is read */
    void *confirm_ctx;
};

/* dl_ms - the timeout for one wait: the step's own, cut to the deadline. */
static int dl_ms(int64_t deadline_ms, uint64_t step_s)
{
    int64_t left = deadline_ms - clock_now_ms();
    int64_t step = (int64_t)step_s * 1000;

    if (left < 0)
        left = 0;
    return (int)(left < step ? left : step);
}

/*
 * dl_auth_load - [downstream] auth into a; the password comes from its file,
 * which must be a regular file that others cannot read. One trailing newline
 * is not part of the password. Returns 0, or -1 with *error_r.
 */
static int dl_auth_load(const struct opes_config *cfg, struct lmtp_auth *a, const char **error_r)
{
    static _Thread_local char err[600];
    const char *path = cfg->down_auth_password_file;
    struct stat st;
    ssize_t got;
    size_t n = 0;
    int fd;

    memset(a, 0, sizeof(*a));
    if (cfg->down_auth == CONFIG_AUTH_EXTERNAL)
        a->mech = LMTP_AUTH_EXTERNAL;
    if (cfg->down_auth != CONFIG_AUTH_PLAIN)
        return 0;
    a->mech = LMTP_AUTH_PLAIN;
    snprintf(a->user, sizeof(a->user), "%s", cfg->down_auth_user);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, sizeof(err), "downstream.auth_password_file: cannot read %s: %s", path,
                 strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        snprintf(err, sizeof(err),
                 "downstream.auth_password_file: %s must be a regular file that others can "
                 "neither read nor write (chmod 0600 or 0640)",
                 path);
        goto fail;
    }
    while (n < sizeof(a->password) &&
           (got = read(fd, a->password + n, sizeof(a->password) - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, sizeof(err), "downstream.auth_password_file: cannot read %s: %s", path,
                     strerror(errno));
            goto fail;
        }
        n += (size_t)got;
    }
    if (n > 0 && a->password[n - 1] == '\n')
        n--;
    if (n > 0 && a->password[n - 1] == '\r')
        n--;
    if (n == 0 || n >= sizeof(a->password) || memchr(a->password, '\0', n) != NULL ||
        memchr(a->password, '\n', n) != NULL) {
        snprintf(err, sizeof(err),
                 "downstream.auth_password_file: %s must hold one password line (1-255 bytes)",
                 path);
        goto fail;
    }
    a->password[n] = '\0';
    close(fd);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    sodium_memzero(a, sizeof(*a));
    *error_r = err;
    return -1;
}

struct deliver *deliver_new(const struct opes_config *cfg, const char **error_r)
{
    struct lmtp_auth auth;
    struct deliver *d = calloc(1, sizeof(*d));
    struct endpoint ep;

    if (d == NULL)
        fatal("calloc");
    d->cfg = cfg;
    if (strncmp(cfg->target, "maildir:", 8) == 0) {
        d->kind = DELIVER_MAILDIR;
        d->maildir_tmpl = cfg->target + 8;
        return d;
    }
    if (strncmp(cfg->target, "lmtp:", 5) != 0 ||
        endpoint_parse(cfg->target + 5, &ep, error_r) < 0) {
        *error_r = "bad downstream target";
        free(d);
        return NULL;
    }
    if (dl_auth_load(cfg, &auth, error_r) < 0) {
        free(d);
        return NULL;
    }
    d->kind = DELIVER_LMTP;
    d->pool = lmtp_pool_new(&ep, cfg->hostname, (unsigned)cfg->down_max_idle,
                            (unsigned)cfg->down_idle_timeout);
    lmtp_pool_set_auth(d->pool, &auth);
    sodium_memzero(&auth, sizeof(auth));
    return d;
}

void deliver_free(struct deliver **dp)
{
    struct deliver *d = *dp;

    *dp = NULL;
    if (d == NULL)
        return;
    lmtp_pool_free(&d->pool);
    free(d);
}

struct lmtp_caps deliver_caps(struct deliver *d)
{
    struct lmtp_caps caps = {
        .known = true, .pipelining = true, .eightbitmime = true, .smtputf8 = true};
    struct lmtp_client *c;
    struct lmtp_reply r;
    bool reused;

    if (d->kind == DELIVER_MAILDIR)
        return caps;
    caps = lmtp_pool_caps(d->pool);
    if (caps.known)
        return caps;
    c = lmtp_pool_get(d->pool, 2000, 2000, &reused, &r);
    if (c != NULL) {
        caps = *lmtp_client_caps(c);
        lmtp_pool_put(d->pool, &c);
        return caps;
    }
    /*
     * The store has not been reached yet. Every LMTP store in use takes
     * 8-bit data; not offering 8BITMIME would make the MTA re-encode 8-bit
     * mail and break DKIM signatures. SMTPUTF8 is only offered when seen.
     */
    return (struct lmtp_caps){.pipelining = true, .eightbitmime = true};
}

struct deliver_tx *deliver_tx_begin(struct deliver *d, const struct deliver_mail *mail)
{
    struct deliver_tx *tx = calloc(1, sizeof(*tx));

    if (tx == NULL || (tx->sender = strdup(mail->sender)) == NULL)
        fatal("calloc");
    if (mail->body != NULL && (tx->body = strdup(mail->body)) == NULL)
        fatal("strdup");
    tx->d = d;
    snprintf(tx->trace, sizeof(tx->trace), "%s", mail->trace_id);
    tx->size = mail->size;
    tx->smtputf8 = mail->smtputf8;
    return tx;
}

static void dl_probed_clear(struct deliver_tx *tx)
{
    for (size_t i = 0; i < tx->nprobed; i++)
        free(tx->probed[i]);
    tx->nprobed = 0;
}

static void dl_probed_add(struct deliver_tx *tx, const char *rcpt)
{
    tx->probed = vec_reserve(tx->probed, &tx->probed_cap, tx->nprobed + 1, sizeof(*tx->probed));
    if ((tx->probed[tx->nprobed++] = strdup(rcpt)) == NULL)
        fatal("strdup");
}

/* dl_probed_equal - is the open transaction exactly for rcpts, in order? */
static bool dl_probed_equal(const struct deliver_tx *tx, const char *const *rcpts, size_t n)
{
    if (!tx->mail_open || tx->nprobed != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tx->probed[i], rcpts[i]) != 0)
            return false;
    return true;
}

/* dl_drop - forget the connection and whatever transaction it had. */
static void dl_drop(struct deliver_tx *tx)
{
    lmtp_client_close(&tx->conn);
    tx->mail_open = false;
    dl_probed_clear(tx);
}

/* dl_reset - end an open downstream transaction (RSET); on failure drop the connection. */
static void dl_reset(struct deliver_tx *tx)
{
    const struct opes_config *cfg = tx->d->cfg;
    struct lmtp_reply r;

    if (tx->conn == NULL || !tx->mail_open)
        return;
    if (lmtp_client_send(tx->conn, 5000, "RSET") < 0 ||
        lmtp_client_read_reply(tx->conn, (int)cfg->down_command_timeout * 1000, &r) !=
            LMTP_CLIENT_OK ||
        r.code / 100 != 2) {
        dl_drop(tx);
        return;
    }
    tx->mail_open = false;
    dl_probed_clear(tx);
}

static int dl_send_mail(struct deliver_tx *tx, int ms)
{
    const struct lmtp_caps *caps = lmtp_client_caps(tx->conn);
    char params[128] = "";
    size_t o = 0;

    /* the client's estimate plus room for the trace fields we add */
    if (caps->size && tx->size > 0)
        o += (size_t)snprintf(params + o, sizeof(params) - o, " SIZE=%llu",
                              (unsigned long long)tx->size + 4096);
    if (caps->eightbitmime && tx->body != NULL)
        o += (size_t)snprintf(params + o, sizeof(params) - o, " BODY=%s", tx->body);
    if (caps->smtputf8 && tx->smtputf8)
        snprintf(params + o, sizeof(params) - o, " SMTPUTF8");
    return lmtp_client_send(tx->conn, ms, "MAIL FROM:<%s>%s", tx->sender, params);
}

enum dl_cmd { DL_MAIL, DL_RCPT, DL_DATA };

struct dl_batch {
    const char *const *rcpts;
    size_t n;
    bool send_rcpts, want_data;
    struct lmtp_reply *replies;
    size_t *accepted; /* indexes into rcpts, in order of acceptance */
    size_t naccepted;
    bool mail_failed, data_ok, failed;
    struct lmtp_reply mail_reply;
};

static int dl_send_cmd(struct deliver_tx *tx, struct dl_batch *b, enum dl_cmd cmd, size_t i, int ms)
{
    if (cmd == DL_MAIL)
        return dl_send_mail(tx, ms);
    if (cmd == DL_RCPT)
        return lmtp_client_send(tx->conn, ms, "RCPT TO:<%s>", b->rcpts[i]);
    return lmtp_client_send(tx->conn, ms, "DATA");
}

/* dl_bad_code - a relayed reply must be a final 2xx/4xx/5xx. */
static void dl_check_code(struct lmtp_reply *r, bool want_354)
{
    if (want_354 ? (r->code == 354 || r->code / 100 == 4 || r->code / 100 == 5)
                 : (r->code / 100 == 2 || r->code / 100 == 4 || r->code / 100 == 5))
        return;
    log_warnx("downstream answered with unexpected code=%d", r->code);
    lmtp_reply_set(r, 451, "4.4.0", "Mailbox store protocol error");
}

/* dl_handle - account one reply of the batch. */
static void dl_handle(struct deliver_tx *tx, struct dl_batch *b, enum dl_cmd cmd, size_t i,
                      struct lmtp_reply *r)
{
    if (cmd == DL_MAIL) {
        if (r->code == 530 || r->code == 430) {
            /* the store wants AUTH ([downstream] auth): our configuration, never a 5xx */
            log_warnx("downstream requires authentication (MAIL answered %d): set "
                      "[downstream] auth",
                      r->code);
            lmtp_reply_set(r, 451, "4.7.0", "Mailbox store requires authentication");
        }
        dl_check_code(r, false);
        if (r->code / 100 == 2) {
            tx->mail_open = true;
        } else {
            b->mail_failed = true;
            b->mail_reply = *r;
        }
        return;
    }
    if (cmd == DL_RCPT) {
        if (b->mail_failed) {
            b->replies[i] = b->mail_reply;
            return;
        }
        dl_check_code(r, false);
        b->replies[i] = *r;
        if (r->code / 100 == 2) {
            b->accepted[b->naccepted++] = i;
            dl_probed_add(tx, b->rcpts[i]);
        }
        return;
    }
    dl_check_code(r, true);
    if (r->code == 354 && b->naccepted > 0) {
        b->data_ok = true;
        return;
    }
    if (r->code == 354) {
        /* nobody to deliver to, yet the server wants content: give it none */
        struct lmtp_reply ignored;
        if (lmtp_client_send(tx->conn, 5000, ".") < 0 ||
            lmtp_client_read_reply(tx->conn, 30000, &ignored) != LMTP_CLIENT_OK)
            dl_drop(tx);
        return;
    }
    for (size_t k = 0; k < b->naccepted; k++)
        b->replies[b->accepted[k]] = *r;
    b->naccepted = 0;
}

/*
 * dl_exchange - one pass of MAIL / RCPT... / DATA on tx->conn, pipelined when
 * the server allows it. Returns 0, or the client status of a failed read.
 */
static int dl_exchange(struct deliver_tx *tx, struct dl_batch *b, int64_t deadline)
{
    const struct opes_config *cfg = tx->d->cfg;
    bool pipe = lmtp_client_caps(tx->conn)->pipelining;
    int cmd_ms = dl_ms(deadline, cfg->down_command_timeout);
    /* the commands are MAIL (unless open), RCPT x n (unless sent), DATA (if wanted) */
    size_t first_rcpt = tx->mail_open ? 0 : 1;
    size_t nrcpt = b->send_rcpts ? b->n : 0;
    size_t ncmds = first_rcpt + nrcpt + (b->want_data ? 1 : 0), k;

    b->mail_failed = b->data_ok = false;
    b->naccepted = 0;
    if (!b->send_rcpts) /* already accepted in the open transaction */
        for (; b->naccepted < b->n; b->naccepted++)
            b->accepted[b->naccepted] = b->naccepted;

    for (k = 0; pipe && k < ncmds; k++) {
        enum dl_cmd cmd = k < first_rcpt ? DL_MAIL : k < first_rcpt + nrcpt ? DL_RCPT : DL_DATA;
        if (dl_send_cmd(tx, b, cmd, k - first_rcpt, cmd_ms) < 0)
            return LMTP_CLIENT_IO;
    }
    for (k = 0; k < ncmds; k++) {
        enum dl_cmd cmd = k < first_rcpt ? DL_MAIL : k < first_rcpt + nrcpt ? DL_RCPT : DL_DATA;
        size_t i = k - first_rcpt;
        struct lmtp_reply r;
        int ms =
            dl_ms(deadline, cmd == DL_DATA ? cfg->down_data_timeout : cfg->down_command_timeout);
        int st;

        if (!pipe) {
            if (cmd == DL_DATA && b->naccepted == 0)
                continue;
            if (b->mail_failed) {
                dl_handle(tx, b, cmd, i, &b->mail_reply);
                continue;
            }
            if (dl_send_cmd(tx, b, cmd, i, ms) < 0)
                return LMTP_CLIENT_IO;
        }
        st = lmtp_client_read_reply(tx->conn, ms, &r);
        if (st == LMTP_CLIENT_OK && r.code == 421) {
            /* the store is closing the connection: a broken connection, not an answer */
            errno = ECONNRESET;
            st = LMTP_CLIENT_IO;
        }
        if (st != LMTP_CLIENT_OK)
            return st;
        dl_handle(tx, b, cmd, i, &r); /* may drop the connection, after DATA only */
    }
    return LMTP_CLIENT_OK;
}

/* dl_fail_all - our own answer for every recipient of the batch still without one. */
static void dl_fail_all(struct dl_batch *b, int status, const struct lmtp_reply *why)
{
    struct lmtp_reply r;

    if (why != NULL)
        r = *why;
    else if (status == LMTP_CLIENT_PROTO)
        lmtp_reply_set(&r, 451, "4.4.0", "Mailbox store protocol error");
    else if (errno == ETIMEDOUT)
        lmtp_reply_set(&r, 451, "4.4.2", "Mailbox store timed out");
    else
        lmtp_reply_set(&r, 451, "4.4.2", "Mailbox store connection broken");
    for (size_t i = 0; i < b->n; i++)
        b->replies[i] = r;
    b->naccepted = 0;
    b->failed = true;
}

/*
 * dl_batch_run - open (or reuse) the transaction for b->rcpts and, when
 * wanted, reach the 354. Retried once on a fresh connection.
 */
static void dl_batch_run(struct deliver_tx *tx, struct dl_batch *b, int64_t deadline)
{
    const struct opes_config *cfg = tx->d->cfg;

    for (int attempt = 0; attempt < 2; attempt++) {
        struct lmtp_reply why;
        bool reused = false;
        int st;

        if (tx->conn == NULL) {
            tx->conn = lmtp_pool_get(tx->d->pool, dl_ms(deadline, cfg->down_connect_timeout),
                                     dl_ms(deadline, cfg->down_command_timeout), &reused, &why);
            if (tx->conn == NULL) {
                dl_fail_all(b, 0, &why);
                return;
            }
        }
        st = dl_exchange(tx, b, deadline);
        if (st == LMTP_CLIENT_OK)
            return;
        int err = errno;
        log_warnx("downstream exchange failed (%s)%s",
                  st == LMTP_CLIENT_PROTO ? "protocol error" : strerror(err),
                  attempt == 0 ? ", retrying on a fresh connection" : "");
        dl_drop(tx);
        b->send_rcpts = true;
        for (size_t i = 0; i < b->n; i++)
            memset(&b->replies[i], 0, sizeof(b->replies[i]));
        if (attempt == 1 || clock_now_ms() >= deadline) {
            errno = err;
            dl_fail_all(b, st, NULL);
            return;
        }
    }
}

void deliver_tx_rcpt(struct deliver_tx *tx, const char *rcpt, struct lmtp_reply *reply)
{
    const struct opes_config *cfg = tx->d->cfg;
    size_t accepted[1];
    struct dl_batch b = {
        .rcpts = &rcpt, .n = 1, .send_rcpts = true, .replies = reply, .accepted = accepted};

    if (tx->d->kind == DELIVER_MAILDIR) {
        char dir[4096];
        if (maildir_expand(tx->d->maildir_tmpl, rcpt, dir, sizeof(dir)) < 0) {
            lmtp_reply_set(reply, 550, "5.1.3", "<%s> Bad recipient address syntax", rcpt);
            return;
        }
        switch (maildir_check(dir, cfg->maildir_create)) {
        case MAILDIR_OK:
            lmtp_reply_set(reply, 250, "2.1.5", "<%s> OK", rcpt);
            break;
        case MAILDIR_UNKNOWN:
            lmtp_reply_set(reply, 550, "5.1.1", "<%s> User unknown", rcpt);
            break;
        default:
            log_warn("maildir=%s check failed", dir);
            lmtp_reply_set(reply, 451, "4.3.0", "<%s> Mailbox temporarily unavailable", rcpt);
        }
        return;
    }
    dl_batch_run(tx, &b, clock_now_ms() + (int64_t)cfg->down_command_timeout * 1000 * 2);
}

#define DL_CHUNK 32768

/*
 * dl_send_content - the copy, dot-stuffed, then the final dot, which waits
 * until no other transaction is saving into one of the n mailboxes of to
 * (mboxlock.h; held in *lock until the replies are read).
 */
static int dl_send_content(struct deliver_tx *tx, const struct variant *v, int64_t deadline,
                           const char *const *to, size_t n, struct mboxlock **lock, int *spool_err)
{
    const struct opes_config *cfg = tx->d->cfg;
    /* on the heap for the transfer only: idle session threads hold no such buffer */
    char *in = malloc(DL_CHUNK), *out = malloc(2 * DL_CHUNK + 8);
    struct dotstuff_encoder enc;
    struct variant_reader rd;
    size_t len;
    ssize_t got;
    int rc = -1;

    if (in == NULL || out == NULL)
        fatal("malloc");
    dotstuff_encoder_init(&enc);
    variant_reader_init(&rd, v);
    while ((got = variant_read(&rd, in, DL_CHUNK)) > 0) {
        len = dotstuff_encode(&enc, in, (size_t)got, out);
        if (lmtp_client_write(tx->conn, out, len, dl_ms(deadline, cfg->down_data_timeout)) < 0)
            goto out;
    }
    if (got < 0) {
        *spool_err = errno;
        goto out;
    }
    len = dotstuff_encode_end(&enc, out);
    if (lmtp_client_flush(tx->conn, dl_ms(deadline, cfg->down_data_timeout)) < 0)
        goto out;
    /* no longer than the store may take for one message, and not past the deadline */
    *lock = mboxlock_acquire(to, n, cfg->recipient_delimiter[0],
                             clock_now_ms() + dl_ms(deadline, cfg->down_data_done_timeout));
    if (lmtp_client_write(tx->conn, out, len, dl_ms(deadline, cfg->down_data_timeout)) < 0)
        goto out;
    rc = lmtp_client_flush(tx->conn, dl_ms(deadline, cfg->down_data_timeout));
out:
    free(in);
    free(out);
    return rc;
}

static void dl_data_lmtp(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                         const struct variant *v, int64_t deadline, struct lmtp_reply *replies)
{
    const struct opes_config *cfg = tx->d->cfg;
    size_t *accepted = calloc(n ? n : 1, sizeof(*accepted));
    const char **to = calloc(n ? n : 1, sizeof(*to));
    struct dl_batch b = {
        .rcpts = rcpts, .n = n, .want_data = true, .replies = replies, .accepted = accepted};
    struct mboxlock *lock = NULL;
    int spool_err = 0;

    if (accepted == NULL || to == NULL)
        fatal("calloc");
    /* when the RCPT-time transaction is exactly this one, only DATA is missing */
    b.send_rcpts = !dl_probed_equal(tx, rcpts, n);
    if (b.send_rcpts)
        dl_reset(tx);
    dl_batch_run(tx, &b, deadline);
    if (!b.data_ok) {
        free(accepted);
        free(to);
        return;
    }
    for (size_t k = 0; k < b.naccepted; k++)
        to[k] = rcpts[accepted[k]];
    /* too late to start: the store must not get a message we answer 4xx for */
    int sent = -1;
    if (clock_now_ms() < deadline)
        sent = dl_send_content(tx, v, deadline, to, b.naccepted, &lock, &spool_err);
    else
        errno = ETIMEDOUT;
    if (sent < 0) {
        struct lmtp_reply r;
        if (spool_err != 0)
            lmtp_reply_set(&r, 451, "4.3.0", "Local error reading the spooled message");
        else
            lmtp_reply_set(&r, 451, "4.4.2", "Mailbox store connection broken during DATA");
        log_warnx("downstream content transfer failed: %s",
                  strerror(spool_err ? spool_err : errno));
        for (size_t k = 0; k < b.naccepted; k++)
            replies[accepted[k]] = r;
        dl_drop(tx); /* closing without the dot aborts the downstream transaction */
        mboxlock_release(&lock);
        free(accepted);
        free(to);
        return;
    }
    tx->mail_open = false;
    dl_probed_clear(tx);
    for (size_t k = 0; k < b.naccepted; k++) {
        struct lmtp_reply r;
        int st = lmtp_client_read_reply(tx->conn, dl_ms(deadline, cfg->down_data_done_timeout), &r);
        if (st == LMTP_CLIENT_OK && r.code == 421)
            st = LMTP_CLIENT_IO; /* closing: the delivery is not confirmed */
        if (st != LMTP_CLIENT_OK) {
            lmtp_reply_set(&r, 451, st == LMTP_CLIENT_PROTO ? "4.4.0" : "4.4.2",
                           st == LMTP_CLIENT_PROTO ? "Mailbox store protocol error"
                                                   : "Mailbox store did not confirm delivery");
            for (; k < b.naccepted; k++)
                replies[accepted[k]] = r;
            dl_drop(tx);
            break;
        }
        dl_check_code(&r, false);
        replies[accepted[k]] = r;
        if (r.code / 100 == 2 && tx->confirm != NULL)
            tx->confirm(tx->confirm_ctx, rcpts[accepted[k]], &r);
    }
    mboxlock_release(&lock);
    free(accepted);
    free(to);
}

/*
 * dl_data_maildir - v into the maildir of each recipient; with folder, into
 * its Maildir++ folder .FOLDER/ (created when missing), or the inbox when that
 * cannot be written (inbox[i] set).
 */
static void dl_data_maildir(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                            const struct variant *v, const char *folder, struct lmtp_reply *replies,
                            bool *inbox)
{
    const struct opes_config *cfg = tx->d->cfg;

    for (size_t i = 0; i < n; i++) {
        char dir[4096], sub[4200];
        if (maildir_expand(tx->d->maildir_tmpl, rcpts[i], dir, sizeof(dir)) < 0) {
            lmtp_reply_set(&replies[i], 550, "5.1.3", "<%s> Bad recipient address syntax",
                           rcpts[i]);
            continue;
        }
        if (folder != NULL) {
            snprintf(sub, sizeof(sub), "%s/.%s", dir, folder);
            if (maildir_check(dir, cfg->maildir_create) == MAILDIR_OK &&
                maildir_deliver(sub, true, v) == 0) {
                lmtp_reply_set(&replies[i], 250, "2.0.0", "<%s> Delivered to maildir folder %s",
                               rcpts[i], folder);
                continue;
            }
            log_warn("maildir=%s junk folder not written: delivering to the inbox with the tag "
                     "fields",
                     sub);
            inbox[i] = true;
        }
        if (maildir_deliver(dir, cfg->maildir_create, v) == 0) {
            lmtp_reply_set(&replies[i], 250, "2.0.0", "<%s> Delivered to maildir", rcpts[i]);
            if (tx->confirm != NULL)
                tx->confirm(tx->confirm_ctx, rcpts[i], &replies[i]);
        } else if (errno == ENOSPC || errno == EDQUOT) {
            log_warn("maildir=%s delivery failed", dir);
            lmtp_reply_set(&replies[i], 452, "4.3.1", "<%s> Insufficient system storage", rcpts[i]);
        } else {
            log_warn("maildir=%s delivery failed", dir);
            lmtp_reply_set(&replies[i], 451, "4.3.0", "<%s> Local delivery error", rcpts[i]);
        }
    }
}

void deliver_tx_on_confirm(struct deliver_tx *tx, deliver_confirm_fn *fn, void *ctx)
{
    tx->confirm = fn;
    tx->confirm_ctx = ctx;
}

void deliver_tx_content(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                        const struct variant *v, int64_t deadline_ms, struct lmtp_reply *replies)
{
    if (n == 0)
        return;
    if (tx->d->kind == DELIVER_MAILDIR)
        dl_data_maildir(tx, rcpts, n, v, NULL, replies, NULL);
    else
        dl_data_lmtp(tx, rcpts, n, v, deadline_ms, replies);
    metrics_downstream(replies, n);
}

int deliver_junk_address(const char *rcpt, char delimiter, const char *folder, char *out,
                         size_t size)
{
    const char *at = strrchr(rcpt, '@');
    size_t local = at != NULL ? (size_t)(at - rcpt) : strlen(rcpt);
    const char *detail = memchr(rcpt, delimiter, local);
    int n;

    if (rcpt[0] == '"' || local == 0)
        return -1;
    if (detail != NULL) /* the recipient's own detail gives way to the folder */
        local = (size_t)(detail - rcpt);
    n = snprintf(out, size, "%.*s%c%s%s", (int)local, rcpt, delimiter, folder,
                 at != NULL ? at : "");
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* dl_data_some - v to to[0..n), whose answers go to replies[slot[j]]. */
static void dl_data_some(struct deliver_tx *tx, const char *const *to, const size_t *slot, size_t n,
                         const struct variant *v, int64_t deadline, struct lmtp_reply *replies)
{
    struct lmtp_reply *got;

    if (n == 0)
        return;
    if ((got = calloc(n, sizeof(*got))) == NULL)
        fatal("calloc");
    dl_data_lmtp(tx, to, n, v, deadline, got);
    for (size_t j = 0; j < n; j++)
        replies[slot[j]] = got[j];
    free(got);
}

/*
 * dl_junk_lmtp - the copies to the folder addresses; each one the store
 * refuses (5xx: no plus-addressing, no such folder) to the inbox instead.
 */
static void dl_junk_lmtp(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                         const struct variant *v, int64_t deadline, struct lmtp_reply *replies,
                         bool *inbox)
{
    const struct opes_config *cfg = tx->d->cfg;
    char(*addr)[600] = calloc(n, sizeof(*addr));
    const char **to = calloc(n, sizeof(*to));
    size_t *slot = calloc(n, sizeof(*slot)), k = 0, nto = 0;

    if (addr == NULL || to == NULL || slot == NULL)
        fatal("calloc");
    for (size_t i = 0; i < n; i++) {
        if (deliver_junk_address(rcpts[i], cfg->recipient_delimiter[0], cfg->junk_folder, addr[i],
                                 sizeof(addr[i])) < 0) {
            lmtp_reply_set(&replies[i], 550, "5.1.3", "no folder address for this recipient");
            continue;
        }
        slot[nto] = i;
        to[nto++] = addr[i];
    }
    dl_data_some(tx, to, slot, nto, v, deadline, replies);
    for (size_t i = 0; i < n; i++) {
        char text[512];
        if (replies[i].code / 100 != 5)
            continue;
        log_escape(text, sizeof(text), replies[i].text, strlen(replies[i].text));
        log_warnx("rcpt=<%s> junk folder refused (%d %s): delivering to the inbox with the "
                  "tag fields; enable plus-addressing in the store or set "
                  "[downstream] junk_folder",
                  rcpts[i], replies[i].code, text);
        inbox[i] = true;
        slot[k] = i;
        to[k++] = rcpts[i];
    }
    dl_data_some(tx, to, slot, k, v, deadline, replies);
    free(addr);
    free(to);
    free(slot);
}

void deliver_tx_junk(struct deliver_tx *tx, const char *const *rcpts, size_t n,
                     const struct variant *v, int64_t deadline_ms, struct lmtp_reply *replies,
                     bool *inbox)
{
    for (size_t i = 0; i < n; i++)
        inbox[i] = false;
    if (n == 0)
        return;
    if (tx->d->kind == DELIVER_MAILDIR)
        dl_data_maildir(tx, rcpts, n, v, tx->d->cfg->junk_folder, replies, inbox);
    else
        dl_junk_lmtp(tx, rcpts, n, v, deadline_ms, replies, inbox);
}

void deliver_tx_data(struct deliver_tx *tx, const char *const *rcpts, size_t n, const char *prefix,
                     size_t prefix_len, struct spool *spool, int64_t deadline_ms,
                     struct lmtp_reply *replies)
{
    struct variant v = {.prefix = prefix, .prefix_len = prefix_len, .spool = spool};

    deliver_tx_content(tx, rcpts, n, &v, deadline_ms, replies);
}

void deliver_tx_end(struct deliver_tx **txp)
{
    struct deliver_tx *tx = *txp;

    *txp = NULL;
    if (tx == NULL)
        return;
    dl_reset(tx);
    if (tx->conn != NULL)
        lmtp_pool_put(tx->d->pool, &tx->conn);
    dl_probed_clear(tx);
    free(tx->probed);
    free(tx->sender);
    free(tx->body);
    free(tx);
}

void deliver_one(struct deliver *d, const struct deliver_mail *mail, const char *rcpt,
                 const char *prefix, size_t prefix_len, struct spool *spool, int64_t timeout_ms,
                 struct lmtp_reply *reply)
{
    struct deliver_tx *tx = deliver_tx_begin(d, mail);

    deliver_tx_rcpt(tx, rcpt, reply);
    if (reply->code / 100 == 2)
        deliver_tx_data(tx, &rcpt, 1, prefix, prefix_len, spool, clock_now_ms() + timeout_ms,
                        reply);
    deliver_tx_end(&tx);
}
