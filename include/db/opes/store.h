/*
 * store.h - opesd's persistent state, behind one interface.
 *
 * Quarantined content (encrypted at rest, de-duplicated by keyed hash),
 * quarantine entries per recipient, trace records, white and block lists,
 * release requests and the audit log. Callers never see SQL, and inside the
 * store only the backends do (connection, settings, migrations, the SQL of
 * every statement): the embedded SQLite (store_sqlite.c) for one node, or a
 * PostgreSQL shared by several nodes (store_pg.c), chosen at run time by
 * [store] backend. A struct store is one connection: open one per thread;
 * the backend handles concurrent writers (SQLite: WAL and busy waiting;
 * PostgreSQL: row locks, upserts and leases, so work is done once across
 * nodes).
 *
 * Conventions: functions return 0 on success and -1 on failure with
 * *error_r set to a message that stays valid until the next call on the
 * same handle; "not found" is STORE_NOTFOUND (1) where a lookup can miss.
 */
#ifndef OPES_STORE_H
#define OPES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_NOTFOUND 1
#define STORE_USED 2        /* a single-use token was used before */
#define STORE_LIMITED 3     /* a rate limit said no */
#define STORE_ID_LEN 20     /* public quarantine id: 20 base32 characters */
#define STORE_WORDS_MAX 512 /* an entry's reason in words (reason.h's REASON_WORDS_MAX) */
#define STORE_VIA_MAX 96    /* an act's API token, as "token <id> <name>" */

struct store;
struct keys;
struct opes_config;

/*
 * store_open - open (creating and migrating as needed) the SQLite database at
 * path, with the key file key_path (created 0600 with a first key when
 * missing). Content is encrypted with the key file whatever the backend:
 * every node of a shared store needs the same key file.
 */
struct store *store_open(const char *path, const char *key_path, const char **error_r);
/*
 * store_open_pg - the same on the PostgreSQL database that the libpq
 * connection string conninfo names (migrated as needed). A conninfo that
 * names a password is refused: it belongs in a passfile.
 */
struct store *store_open_pg(const char *conninfo, const char *key_path, const char **error_r);
/* store_open_at - store_open (sqlite) or store_open_pg (postgresql) of target,
 * by backend (an enum config_store_backend). */
struct store *store_open_at(int backend, const char *target, const char *key_path,
                            const char **error_r);
/* store_open_config - the store the configuration names ([store] backend, path or
 * conninfo, key_file): how every program opens it. */
struct store *store_open_config(const struct opes_config *cfg, const char **error_r);
void store_close(struct store **stp);
/* store_copy_fn - one table copied: its rows in the source and in the target. */
typedef void store_copy_fn(const char *table, int64_t src_rows, int64_t dst_rows, void *ctx);
/*
 * store_copy - copy every table that carries state from src into dst, an
 * empty store (refused when it holds entries, users, lists or audit lines),
 * ids kept and content still encrypted as it is (the same key file serves
 * both), in one transaction on dst; then compare each table's rows, reported
 * to fn (may be NULL) with ctx. 0, or -1 with *error_r and dst left as it was
 * (a difference in any count is an error). Job leases are not copied.
 */
int store_copy(struct store *src, struct store *dst, store_copy_fn *fn, void *ctx,
               const char **error_r);
/* store_keys - the key generations this store was opened with (tokens use them). */
const struct keys *store_keys(const struct store *st);
/* store_schema_version - the schema version after migration (SQLite's PRAGMA
 * user_version, PostgreSQL's store_schema table); -1 when unreadable. */
int store_schema_version(struct store *st);
/* store_unreachable - the database server dropped this connection (it went
 * away or failed over): what failed since failed for that reason. The next
 * statement outside a transaction connects again. Never true for SQLite. */
bool store_unreachable(struct store *st);
/* store_integrity_check - 0 when the database says ok (SQLite's PRAGMA
 * integrity_check; on PostgreSQL every content row has its chunks). */
int store_integrity_check(struct store *st, const char **error_r);

/* A sequential source of message bytes that can start over. */
struct store_reader {
    ssize_t (*read)(void *ctx, void *buf, size_t len); /* 0 at end, -1 on error */
    int (*rewind)(void *ctx);
    void *ctx;
};

enum store_qstatus { STORE_HELD, STORE_RELEASED, STORE_DELETED, STORE_EXPIRED };
const char *store_qstatus_name(enum store_qstatus s);

struct store_qitem {
    char id[STORE_ID_LEN + 1];
    char trace_id[32];
    char sender[257];
    char recipient[257];
    char subject[256];
    char date[64];
    uint64_t size;
    char service[64];
    char reason[256];
    enum store_qstatus status;
    int64_t created, updated; /* unix seconds */
    /* why, for the recipient: a words value (reason.h), "" for entries held before words */
    char words[STORE_WORDS_MAX];
    char from_name[256]; /* the From display name (decoded), or "" */
    /* the address the message named when a rewrite mapped it to recipient, else "" */
    char original[257];
};

/*
 * store_quarantine_add - hold the content from r for each of items[0..n)
 * (same content, one entry per recipient). The content is stored once
 * (encrypted; shared with identical content already held). On return 0 the
 * rows are committed and synced: the caller may answer 2xx. ids are written
 * into items[i].id.
 */
int store_quarantine_add(struct store *st, struct store_qitem *items, size_t n,
                         const struct store_reader *r, const char **error_r);

/* store_quarantine_get - one entry by public id; 0, STORE_NOTFOUND or -1. */
int store_quarantine_get(struct store *st, const char *id, struct store_qitem *item,
                         const char **error_r);

struct store_qfilter {
    /* NULL: everyone; else what this address sees: its own entries, those of the shared
     * mailboxes it is a delegate of, and those of the domains it administers */
    const char *recipient;
    int status;           /* -1: any */
    const char *search;   /* substring of sender, display name or subject, or NULL */
    int64_t since, until; /* created in [since, until); 0: open */
    size_t offset, limit; /* limit 0: 50 */
};

/* store_quarantine_list - calls fn for each entry, newest first. */
int store_quarantine_list(struct store *st, const struct store_qfilter *f,
                          void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                          const char **error_r);

/* store_quarantine_set_status - e.g. released or deleted; 0, STORE_NOTFOUND or -1. */
int store_quarantine_set_status(struct store *st, const char *id, enum store_qstatus status,
                                const char **error_r);

/*
 * store_quarantine_restore - a deleted entry held again, as long as the purge
 * has not taken its content; 0, STORE_NOTFOUND (not deleted, or purged) or -1.
 */
int store_quarantine_restore(struct store *st, const char *id, const char **error_r);

/*
 * store_quarantine_content - decrypt the entry's content and hand it to
 * write in chunks (never whole in memory). The content's integrity is
 * verified chunk by chunk; a tampered or truncated content fails.
 */
int store_quarantine_content(struct store *st, const char *id,
                             int (*write)(void *ctx, const void *buf, size_t len), void *ctx,
                             const char **error_r);

/* Trace records: one row per event of a transaction and recipient. */
struct store_trace {
    char trace_id[32];
    char recipient[257];
    char event[32]; /* service, bypass, variant, delivery, quarantine, release */
    char service[64];
    char verdict[32];
    char detail[512];
    int64_t duration_ms;
    int64_t at;
};

int store_trace_add(struct store *st, const struct store_trace *t, const char **error_r);
/*
 * store_trace_add_many - n records in one transaction. Trace records are not
 * a delivery promise, so this commit is not synced (synchronous=NORMAL in
 * WAL: lost only with the machine, never corrupted).
 */
int store_trace_add_many(struct store *st, const struct store_trace *t, size_t n,
                         const char **error_r);
int store_trace_list(struct store *st, const char *trace_id,
                     void (*fn)(const struct store_trace *t, void *ctx), void *ctx,
                     const char **error_r);

/* White and block lists. owner: an address, "@domain" or "*"; sender: address, "@domain" or "*". */
enum store_list_kind { STORE_WHITELIST, STORE_BLOCKLIST };

struct store_list_entry {
    int64_t id;
    enum store_list_kind kind;
    char owner[257];
    char sender[257];
    char created_by[257];
    char origin[16]; /* cli, portal, token */
    int64_t expires; /* 0: never */
    int64_t created;
};

/* store_list_add - add or refresh (same kind, owner, sender) an entry. */
int store_list_add(struct store *st, const struct store_list_entry *e, const char **error_r);
/* store_list_remove - by id; 0, STORE_NOTFOUND or -1. */
int store_list_remove(struct store *st, int64_t id, const char **error_r);
/* store_list_show - entries of owner (NULL: all), unexpired. */
int store_list_show(struct store *st, const char *owner,
                    void (*fn)(const struct store_list_entry *e, void *ctx), void *ctx,
                    const char **error_r);
/*
 * store_list_match - does a live entry of kind cover (recipient, sender)?
 * Owner matches the recipient, its "@domain" or "*"; sender matches the
 * address, its "@domain" or "*". 1 yes, 0 no, -1 error.
 */
int store_list_match(struct store *st, enum store_list_kind kind, const char *recipient,
                     const char *sender, const char **error_r);
/*
 * store_list_lookup - both lists at once (one query on the mail path):
 * *white and *black say whether a live entry covers (recipient, sender).
 * 0, or -1 on error (then both are false).
 */
int store_list_lookup(struct store *st, const char *recipient, const char *sender, bool *white,
                      bool *black, const char **error_r);

/* Release requests: written by opesctl and the portal, carried out by opesd. */
struct store_release {
    int64_t id;
    char item_id[STORE_ID_LEN + 1];
    char requested_by[257];
    char origin[16];         /* cli, portal, token, api */
    char via[STORE_VIA_MAX]; /* the API token that asked ("token 3 laptop"), or "" */
    char whitelist[16];      /* "", "address" or "domain" */
    int attempts;
    char last_error[256];
};

int store_release_request(struct store *st, const struct store_release *r, const char **error_r);
/*
 * store_release_next - claim the oldest due pending request (its next try is
 * pushed into the future so that another worker does not take it too);
 * 0, STORE_NOTFOUND when none is due, or -1.
 */
int store_release_next(struct store *st, struct store_release *r, const char **error_r);
/*
 * store_release_done - the release succeeded: the entry becomes released,
 * the whitelist entry (if asked) is created, and the request is closed, in one
 * transaction.
 */
int store_release_done(struct store *st, const struct store_release *r, const char **error_r);
/* store_release_failed - a try failed: retry after backoff, or give up when permanent. */
int store_release_failed(struct store *st, const struct store_release *r, bool permanent,
                         const char *why, int64_t retry_after_s, const char **error_r);
/*
 * store_release_done / store_release_failed (when permanent) write the audit
 * line of the outcome: "release delivered", or "release failed: <the
 * store's reply>", as the requester with the request's origin and via.
 */
/* store_release_state - "pending", "done" or "failed" for the newest request of an item. */
int store_release_state(struct store *st, const char *item_id, char *state, size_t size,
                        char *last_error, size_t esize, const char **error_r);

/* The newest release request of an entry, as a recipient sees it. */
struct store_release_info {
    char state[16];  /* pending, done, failed */
    char reply[256]; /* the last try's reply (the store's, or why it could not be tried) */
    int64_t at;      /* when the request last changed */
    int attempts;
};
/* store_release_info - of item_id: 0, STORE_NOTFOUND (never asked) or -1. */
int store_release_info(struct store *st, const char *item_id, struct store_release_info *ri,
                       const char **error_r);

/*
 * API tokens (store_apitoken.c): a 256-bit random secret per token, given
 * once as "opes_<id>_<base64url secret>"; the store keeps its BLAKE2b keyed
 * with the installation's MAC key, compared in constant time.
 */
#define STORE_APITOKEN_TEXT 72 /* "opes_" id "_" 43 characters, with its NUL */
struct store_apitoken {
    int64_t id;
    char address[257];
    char name[64];
    int64_t created, expires, last_used, revoked; /* expires, last_used, revoked: 0 none */
};
/*
 * store_apitoken_create - a token for address named name, valid days days
 * (0: no expiry), at now; its text into text (shown once, never stored) and
 * its id into *id_r. 0 or -1.
 */
int store_apitoken_create(struct store *st, const char *address, const char *name, unsigned days,
                          char text[STORE_APITOKEN_TEXT], int64_t *id_r, const char **error_r);
/*
 * store_apitoken_verify - the live token that text is (not revoked, not
 * expired at now): 0 with *t filled and its last use set to now;
 * STORE_NOTFOUND for anything else (malformed, unknown, wrong secret,
 * revoked, expired), or -1.
 */
int store_apitoken_verify(struct store *st, const char *text, int64_t now, struct store_apitoken *t,
                          const char **error_r);
/* store_apitoken_list - the tokens of address, oldest first (revoked and expired ones too). */
int store_apitoken_list(struct store *st, const char *address,
                        void (*fn)(const struct store_apitoken *t, void *ctx), void *ctx,
                        const char **error_r);
/* store_apitoken_revoke - 0, STORE_NOTFOUND (no such live token) or -1. */
int store_apitoken_revoke(struct store *st, int64_t id, const char **error_r);

/* Users of the portal: recipients and administrators. */
enum store_role { STORE_ROLE_USER, STORE_ROLE_ADMIN };

struct store_user {
    char address[257];
    enum store_role role;
    bool has_password;
    char notify_mode[16];
    int64_t created;
};

/* store_user_add - create (role given) or, when the user exists, set the role. */
int store_user_add(struct store *st, const char *address, enum store_role role,
                   const char **error_r);
/* store_user_get - 0, STORE_NOTFOUND or -1. */
int store_user_get(struct store *st, const char *address, struct store_user *u,
                   const char **error_r);
int store_user_list(struct store *st, void (*fn)(const struct store_user *u, void *ctx), void *ctx,
                    const char **error_r);
/*
 * store_user_set_password - store an Argon2id hash (crypto_pwhash_str) of
 * password; the password itself is never stored. 0, STORE_NOTFOUND or -1.
 */
int store_user_set_password(struct store *st, const char *address, const char *password,
                            const char **error_r);
/*
 * store_user_consent - the recipient's choice for an opt-out or opt-in
 * service: 1 on, 0 off, -1 when none was made (or on error, with *error_r).
 */
int store_user_consent(struct store *st, const char *address, const char *service,
                       const char **error_r);
/*
 * A recipient's spam level: level is "lenient", "normal", "strict" or
 * "custom"; tag, junk and quarantine are the custom scores (INFINITY: off),
 * kept to a tenth of a point.
 */
struct store_spam {
    char level[16];
    double tag, junk, quarantine;
    int64_t updated;
};
/*
 * store_spam_parse - a level as a person gives it: "lenient", "normal",
 * "strict", or "custom" with scores[0..3) the tag, junk and quarantine scores
 * (0-1000 or "off", in that order, each at most the next); scores may be NULL
 * for the others. 0 with *s filled, or -1 with *error_r.
 */
int store_spam_parse(const char *level, const char *const *scores, struct store_spam *s,
                     const char **error_r);
/* store_user_spam - the recipient's level into *s: 1, 0 when none was chosen, -1 on error. */
int store_user_spam(struct store *st, const char *address, struct store_spam *s,
                    const char **error_r);
/*
 * store_user_set_spam - record the level (the user is created if needed);
 * s NULL: forget it, the services' own thresholds apply again.
 */
int store_user_set_spam(struct store *st, const char *address, const struct store_spam *s,
                        const char **error_r);
/* store_user_set_consent - record the choice (the user is created if needed). */
int store_user_set_consent(struct store *st, const char *address, const char *service, bool allowed,
                           const char **error_r);

/*
 * store_user_locale - the user's language ("de") and time zone
 * ("Europe/Berlin"), "" each when the defaults apply ([web] default_language,
 * default_timezone); 0, STORE_NOTFOUND (no user row: both "") or -1.
 * store_user_set_locale - set both ("" = the default again; the user is
 * created if needed). Neither checks the values: callers do (i18n).
 */
int store_user_locale(struct store *st, const char *address, char *language, size_t lsize,
                      char *timezone, size_t tsize, const char **error_r);
int store_user_set_locale(struct store *st, const char *address, const char *language,
                          const char *timezone, const char **error_r);

/* store_user_check_password - 1 when it matches, 0 when not (or no such user), -1 error. */
int store_user_check_password(struct store *st, const char *address, const char *password,
                              const char **error_r);

/* Audit log. */
int store_audit(struct store *st, const char *actor, const char *action, const char *object,
                const char *origin, const char **error_r);
/* store_audit_via - the same, naming the API token behind the act ("token 3 laptop"). */
int store_audit_via(struct store *st, const char *actor, const char *action, const char *object,
                    const char *origin, const char *via, const char **error_r);
struct store_audit_entry {
    int64_t at;
    char actor[257], action[320], object[128], origin[16], via[STORE_VIA_MAX];
};
int store_audit_list(struct store *st, size_t limit,
                     void (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx,
                     const char **error_r);
/*
 * store_audit_list_for - the lines a domain administrator may read (NULL:
 * all): about addresses and entries of their domains, or their own acts.
 */
int store_audit_list_for(struct store *st, const char *domain_admin, size_t limit,
                         void (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx,
                         const char **error_r);

/*
 * store_purge - entries held longer than retention_days become expired;
 * entries no longer held, older than retention_days, are removed with their
 * content when nothing else references it; expired list entries go, and
 * learning records not touched for retention_days.
 * *expired_r and *removed_r count what happened (may be NULL).
 */
int store_purge(struct store *st, unsigned retention_days, size_t *expired_r, size_t *removed_r,
                const char **error_r);

/*
 * Link token ledger (store_token.c). store_token_use - record the nonce of a
 * single-use token (kept until expires): 0 on first use, STORE_USED after,
 * -1 on error. store_token_seen - the same question without using it (for a
 * confirmation page). store_token_purge - forget nonces of expired tokens.
 */
int store_token_use(struct store *st, const char *nonce, int64_t expires, const char **error_r);
int store_token_seen(struct store *st, const char *nonce, const char **error_r);
int store_token_purge(struct store *st, const char **error_r);

/*
 * The delivery ledger (store_ledger.c): a recipient the mailbox store or the
 * quarantine took, recorded before opesd answers the MTA, so that the same
 * transaction sent again (opesd died before answering) is answered from here
 * instead of being delivered twice. The key is (ident, hash, recipient):
 * ident names the message ("queue:<MTA queue id>" or "msgid:<Message-ID>"),
 * hash is the hex BLAKE2b-256 of the envelope sender and the exact bytes
 * received, so two different messages never share a row.
 */
#define STORE_LEDGER_HASH_LEN 64 /* hex characters */

struct store_ledger {
    char ident[320];
    char hash[STORE_LEDGER_HASH_LEN + 1];
    char recipient[257];
    char outcome[16];  /* "delivered" or "quarantined" */
    char trace_id[32]; /* of the transaction that delivered it */
    char detail[256];  /* the store's reply then, or the quarantine id */
    int64_t at;        /* unix seconds (0 on add: now) */
};

/*
 * store_ledger_add - record rows[0..n) in one transaction (a row whose key is
 * there already is kept as it is). Committed without a sync (WAL
 * synchronous=NORMAL; PostgreSQL synchronous_commit off): it survives opesd
 * being killed, not the machine losing power. 0 or -1.
 */
int store_ledger_add(struct store *st, const struct store_ledger *rows, size_t n,
                     const char **error_r);
/*
 * store_ledger_find - the row of (ident, hash, recipient; the recipient
 * compared case-blind) into *row; 0, STORE_NOTFOUND or -1.
 */
int store_ledger_find(struct store *st, const char *ident, const char *hash, const char *recipient,
                      struct store_ledger *row, const char **error_r);
/*
 * store_quarantine_add_ledger - store_quarantine_add, and in the same
 * transaction one ledger row per item (ledger[i] for items[i], its detail
 * set to the new entry's id): a retried transaction never holds twice.
 */
int store_quarantine_add_ledger(struct store *st, struct store_qitem *items, size_t n,
                                const struct store_reader *r, struct store_ledger *ledger,
                                const char **error_r);
/* store_ledger_purge - forget rows older than days; *removed_r counts them (may be NULL). */
int store_ledger_purge(struct store *st, unsigned days, size_t *removed_r, const char **error_r);

/*
 * Login-link requests and rate limits (store_request.c).
 * store_login_request_add - the portal records "send me a login link".
 * store_login_request_next - the oldest pending one: 0, STORE_NOTFOUND or -1.
 * store_login_request_done - mark it sent (or refused: unknown address, limit).
 * store_rate_hit - count one event for key in a fixed window of window_s
 * seconds: 0 while at most max events fell in the window, else STORE_LIMITED.
 * store_request_purge - forget old requests and counters (store_purge calls it).
 */
int store_login_request_add(struct store *st, const char *address, const char **error_r);
int store_login_request_next(struct store *st, int64_t *id_r, char *address, size_t size,
                             const char **error_r);
int store_login_request_done(struct store *st, int64_t id, bool sent, const char **error_r);
int store_rate_hit(struct store *st, const char *key, unsigned window_s, unsigned max,
                   const char **error_r);
int store_request_purge(struct store *st, const char **error_r);

/*
 * Notifications, digests and sender DSNs (store_notify.c).
 *
 * opesd's job thread finds new quarantine entries (store_notify_uncaptured)
 * and records one notification row each (store_notify_capture) with the
 * decision (state "pending": an immediate notice; "digest": waits for the
 * recipient's digest; "off"; "skipped" with the reason) and the held
 * message's header section, which outlives the content (loop rules, DSN).
 */
struct store_notice_state {
    char state[16], reason[128], dsn[16], dsn_reason[128];
};

/* store_notify_uncaptured - entries created at or after since without a notification row. */
int store_notify_uncaptured(struct store *st, int64_t since, size_t limit,
                            void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                            const char **error_r);
/* store_notify_capture - headers may be NULL (content gone); a second capture is ignored. */
int store_notify_capture(struct store *st, const char *id, const char *state, const char *reason,
                         const char *headers, size_t headers_len, const char **error_r);
/*
 * store_notify_pending - immediate notices still to send, oldest first (those
 * of entries no longer held become skipped first); fn gets the attempts so far.
 */
int store_notify_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_qitem *it, int attempts, void *ctx),
                         void *ctx, const char **error_r);
/* store_notify_set_state - "sent" (sent_at set), "skipped", "failed" ... with a reason. */
int store_notify_set_state(struct store *st, const char *id, const char *state, const char *reason,
                           const char **error_r);
/* store_notify_attempt - a try failed: count it, keep the state (retried later). */
int store_notify_attempt(struct store *st, const char *id, const char *why, const char **error_r);
/* store_notify_headers - the captured header section, NUL-terminated; 0, STORE_NOTFOUND, -1. */
int store_notify_headers(struct store *st, const char *id, char *buf, size_t size, size_t *len_r,
                         const char **error_r);
/* store_notify_state - the notification and DSN state of an entry; 0, STORE_NOTFOUND, -1. */
int store_notify_state(struct store *st, const char *id, struct store_notice_state *s,
                       const char **error_r);
/* store_notify_known - 1 when address has a user row or quarantine entries, 0 not, -1 error. */
int store_notify_known(struct store *st, const char *address, const char **error_r);
/* store_user_notify_prefs - notify_mode and digest_schedule; 0, STORE_NOTFOUND or -1. */
int store_user_notify_prefs(struct store *st, const char *address, char *mode, size_t msize,
                            char *schedule, size_t ssize, const char **error_r);
/* store_user_set_notify - set both (the user is created if needed). */
int store_user_set_notify(struct store *st, const char *address, const char *mode,
                          const char *schedule, const char **error_r);

/*
 * Digests: recorded with their items before sending, marked sent after the
 * 2xx. A shared mailbox's digest is recorded with a copy for each of its
 * delegates: copy_of names the digest whose items a copy lists, owner that
 * digest's recipient (0 and "" for a recipient's own digest).
 */
struct store_digest {
    int64_t id;
    char recipient[257];
    int64_t created;
    int attempts;
    int64_t copy_of;
    char owner[257];
};
/* store_digest_waiting - recipients with entries waiting for a digest. */
int store_digest_waiting(struct store *st, void (*fn)(const char *recipient, void *ctx), void *ctx,
                         const char **error_r);
/*
 * store_digest_last - when the recipient's last digest was recorded; before
 * the first one, when the oldest entry waiting for it was held (0: none).
 */
int store_digest_last(struct store *st, const char *recipient, int64_t *last_r,
                      const char **error_r);
/*
 * store_digest_create - record a digest of every waiting, still held entry of
 * recipient, and a copy of it for each of recipient's delegates, in one
 * transaction; 0 with *id_r, STORE_NOTFOUND when there is nothing new
 * (nothing recorded), or -1.
 */
int store_digest_create(struct store *st, const char *recipient, int64_t *id_r, size_t *count_r,
                        const char **error_r);
/* store_digest_pending - recorded digests not yet sent, oldest first. */
int store_digest_pending(struct store *st, size_t limit,
                         void (*fn)(const struct store_digest *d, void *ctx), void *ctx,
                         const char **error_r);
int store_digest_items(struct store *st, int64_t digest_id,
                       void (*fn)(const struct store_qitem *it, void *ctx), void *ctx,
                       const char **error_r);
/* store_digest_sent - the digest and its items are sent (one transaction). */
int store_digest_sent(struct store *st, int64_t digest_id, const char **error_r);
/* store_digest_failed - an attempt failed: tried again later, or never when permanent (5xx). */
int store_digest_failed(struct store *st, int64_t digest_id, const char *why, bool permanent,
                        const char **error_r);

/*
 * store_dsn_due - entries that were accepted and will not be delivered and
 * whose DSN is not decided: ones expired at or after since (cause "expired") and held ones
 * whose newest release failed for good (cause "release-failed", detail: the
 * store's answer). store_dsn_done - record "sent", "skipped" or "failed".
 */
int store_dsn_due(struct store *st, int64_t since, size_t limit,
                  void (*fn)(const struct store_qitem *it, const char *cause, const char *detail,
                             void *ctx),
                  void *ctx, const char **error_r);
int store_dsn_done(struct store *st, const char *id, const char *state, const char *reason,
                   const char **error_r);

/* Small persistent facts of the notifier; get: 0, STORE_NOTFOUND or -1. */
int store_notify_meta_get(struct store *st, const char *key, int64_t *value_r,
                          const char **error_r);
int store_notify_meta_set(struct store *st, const char *key, int64_t value, const char **error_r);
/* store_notify_held_since - entries held since a time, counted per recipient. */
int store_notify_held_since(struct store *st, int64_t since,
                            void (*fn)(const char *recipient, int64_t count, void *ctx), void *ctx,
                            const char **error_r);

/*
 * Portal sessions, preferences and figures (store_web.c).
 * A session is kept under a hash of its cookie value (never the value):
 * store_web_session_add / _get (0, STORE_NOTFOUND or -1) / _touch (last
 * seen now) / _delete, and _purge forgets expired ones.
 */
#define STORE_SESSION_HASH 32

struct store_web_session {
    char address[257];
    char csrf[64];
    int64_t created, last_seen, expires;
    bool admin; /* opened with an administrator's password */
};

int store_web_session_add(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          const struct store_web_session *s, const char **error_r);
int store_web_session_get(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                          struct store_web_session *s, const char **error_r);
int store_web_session_touch(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                            int64_t now, const char **error_r);
int store_web_session_delete(struct store *st, const unsigned char hash[STORE_SESSION_HASH],
                             const char **error_r);
int store_web_session_purge(struct store *st, int64_t now, const char **error_r);

/*
 * store_web_prefs_get - the recipient's notification mode ("default",
 * "immediate", "digest", "off") and digest schedule ("" when none); a
 * recipient without a user row gets the defaults. store_web_prefs_set -
 * record them (the user is created if needed); mode must be one of the four.
 */
int store_web_prefs_get(struct store *st, const char *address, char *mode, size_t msize,
                        char *schedule, size_t ssize, const char **error_r);
int store_web_prefs_set(struct store *st, const char *address, const char *mode,
                        const char *schedule, const char **error_r);

/*
 * store_web_quarantine_list - store_quarantine_list in one of the portal's
 * sort orders (ties: newest first).
 */
enum store_web_sort {
    STORE_SORT_NEWEST,
    STORE_SORT_OLDEST,
    STORE_SORT_SENDER,
    STORE_SORT_SUBJECT,
    STORE_SORT_SIZE,  /* largest first */
    STORE_SORT_REASON /* by service and reason */
};
int store_web_quarantine_list(struct store *st, const struct store_qfilter *f,
                              enum store_web_sort sort,
                              void (*fn)(const struct store_qitem *item, void *ctx), void *ctx,
                              const char **error_r);
/* store_web_quarantine_count - how many entries f's filter finds (offset and limit aside). */
int store_web_quarantine_count(struct store *st, const struct store_qfilter *f, int64_t *n_r,
                               const char **error_r);

/*
 * store_web_count - figures for the admin page and /metrics: fn gets one
 * (label, count) per group. what: "status" (quarantine entries by status),
 * "held_service" (held entries by service), "release" (release requests by
 * state), "verdict_day" (service verdicts per day, label "YYYY-MM-DD
 * verdict", oldest first, over the last days calendar days); over the last
 * days * 24 hours: "outcome" (recipients by final decision),
 * "service_verdict" (label "service verdict"), "latency" (replies with at
 * most label ms from start to final reply, cumulative, labels 10 ... 30000,
 * "+Inf", then "sum" of all the times); and "backlog" (days unused: the
 * immediate notices, digests and release requests pending now, labels
 * "digests", "notices", "releases").
 */
int store_web_count(struct store *st, const char *what, unsigned days,
                    void (*fn)(const char *label, int64_t count, void *ctx), void *ctx,
                    const char **error_r);

/*
 * store_claim - take the lease on the job called name for holder (a node's
 * name) until expires (unix seconds): 0 when taken (it was free, expired, or
 * already holder's: taking it again extends it), STORE_USED when another
 * holder has it, -1 on error. One statement: two nodes never both win, and a
 * node that died mid-job loses the lease when it expires.
 */
int store_claim(struct store *st, const char *name, const char *holder, int64_t expires,
                const char **error_r);
/*
 * store_claim_renew - extend holder's lease name to expires only while it is
 * still holder's and has not expired: 0, STORE_USED when it expired or went to
 * another holder (then the work done under it must stop), -1 on error.
 */
int store_claim_renew(struct store *st, const char *name, const char *holder, int64_t expires,
                      const char **error_r);
/* store_claim_drop - give the lease back when the job is done (a lease
 * another holder took since is left alone). */
int store_claim_drop(struct store *st, const char *name, const char *holder, const char **error_r);
/* store_claim_holder - who holds the lease name (copied into buf, truncated to
 * size), expired or not: 0, STORE_NOTFOUND when nobody, -1 on error. */
int store_claim_holder(struct store *st, const char *name, char *buf, size_t size,
                       const char **error_r);

/*
 * Learning from decisions (store_learn.c). A recipient's "not spam" teaches
 * the held message as ham to the scanner that held it; a reported message is
 * taught as spam. One row per message and class is both the request (carried
 * out by opesd's job runner) and the record that makes it happen once.
 */
struct store_learn {
    int64_t id;
    char message[64]; /* a quarantine id, or "report:" and a hash of the message */
    char kind[8];     /* "ham" or "spam" */
    char service[64]; /* the service that gave the verdict; "" every spam scorer */
    char trace_id[32];
    char requested_by[257];
    char origin[16]; /* portal, token, report */
    int attempts;    /* with this one (store_learn_next) */
    char last_error[256];
};

/*
 * store_learn_request - ask for l (message, kind, service, trace_id,
 * requested_by, origin): 0 when recorded (audited as "learn-request"),
 * STORE_USED when this message was learned or asked for as this kind before
 * (a request that failed for good is asked again instead), -1 on error.
 */
int store_learn_request(struct store *st, const struct store_learn *l, const char **error_r);
/*
 * store_learn_next - claim the oldest due pending request whose quarantine
 * entry is no longer held (a release goes first; a report has no entry and
 * is learned by who records it, never claimed here): its
 * next try is pushed 10 minutes into the future so that another worker or node
 * does not take it too. 0, STORE_NOTFOUND when none is due, or -1.
 */
int store_learn_next(struct store *st, struct store_learn *l, const char **error_r);
/*
 * store_learn_done - l was learned: the request is done, and the trace (event
 * "learn", the service, verdict ham or spam, detail) and the audit ("learn-ham"
 * or "learn-spam") record it, in one transaction.
 */
int store_learn_done(struct store *st, const struct store_learn *l, const char *recipient,
                     const char *detail, const char **error_r);
/* store_learn_failed - a try failed: retry after retry_after_s, or give up when permanent.
 * Also for a report that its receiver could not learn (permanent: its content is not kept). */
int store_learn_failed(struct store *st, const struct store_learn *l, bool permanent,
                       const char *why, int64_t retry_after_s, const char **error_r);
/* store_learn_state - "pending", "done" or "failed" and the last error of (message, kind);
 * 0, STORE_NOTFOUND or -1. */
int store_learn_state(struct store *st, const char *message, const char *kind, char *state,
                      size_t size, char *last_error, size_t esize, const char **error_r);

/*
 * Domain administrators, delegates and release approvals (store_approval.c).
 * Addresses and domains are kept lower-case; a domain is given without '@'.
 *
 * store_domain_admin_add - address (created as a user if needed) manages domain.
 * store_domain_admin_remove - no longer domain ("" or NULL: none of them).
 * store_domain_admin_list - (address, domain) pairs of address (NULL: everyone's).
 */
int store_domain_admin_add(struct store *st, const char *address, const char *domain,
                           const char **error_r);
int store_domain_admin_remove(struct store *st, const char *address, const char *domain,
                              const char **error_r);
int store_domain_admin_list(struct store *st, const char *address,
                            void (*fn)(const char *address, const char *domain, void *ctx),
                            void *ctx, const char **error_r);

/*
 * store_delegate_add - address sees and releases owner's entries (a shared
 * mailbox); store_delegate_remove - no longer (0 or STORE_NOTFOUND);
 * store_delegate_list - pairs of owner and address (NULL: any), by owner.
 */
struct store_delegate {
    char owner[257], address[257], created_by[257];
    int64_t created;
};
int store_delegate_add(struct store *st, const char *owner, const char *address,
                       const char *created_by, const char **error_r);
int store_delegate_remove(struct store *st, const char *owner, const char *address,
                          const char **error_r);
int store_delegate_list(struct store *st, const char *owner, const char *address,
                        void (*fn)(const struct store_delegate *d, void *ctx), void *ctx,
                        const char **error_r);

/* A request to release an entry whose service's release policy is request. */
struct store_approval {
    int64_t id;
    struct store_qitem item;
    char requested_by[257], origin[16], reason[256];
    char state[16]; /* pending, approved, denied */
    char decided_by[257], comment[256];
    int64_t created, decided;
};
/*
 * store_approval_request - by (origin cli, portal, token) asks for the
 * release of held entry item_id, with reason ("" none); *id_r (may be NULL)
 * gets the request's id. 0; STORE_USED when one is pending already (its id
 * in *id_r); STORE_NOTFOUND when the entry is unknown or not held; -1.
 */
int store_approval_request(struct store *st, const char *item_id, const char *by,
                           const char *origin, const char *reason, int64_t *id_r,
                           const char **error_r);
/*
 * store_approval_list - requests newest first, at most limit (0: 100), in
 * state (NULL: any), of the domains that domain_admin manages (NULL: all).
 */
int store_approval_list(struct store *st, const char *state, const char *domain_admin, size_t limit,
                        void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                        const char **error_r);
/* store_approval_get - one request by id; 0, STORE_NOTFOUND or -1. */
int store_approval_get(struct store *st, int64_t id, struct store_approval *a,
                       const char **error_r);
/* store_approval_of - the newest request for the entry item_id; 0, STORE_NOTFOUND or -1. */
int store_approval_of(struct store *st, const char *item_id, struct store_approval *a,
                      const char **error_r);
/*
 * store_approval_decide - approve (a release request for the entry follows,
 * in the same transaction, carried out by opesd) or deny a pending request,
 * with comment; audited. 0; STORE_NOTFOUND when it is not pending (decided
 * already) or the entry is no longer held; -1.
 */
int store_approval_decide(struct store *st, int64_t id, bool approve, const char *by,
                          const char *origin, const char *comment, const char **error_r);
/*
 * store_approval_unnotified - pending requests whose approvers were not told;
 * store_approval_untold - decided ones whose requester was not told;
 * store_approval_mark - notified (told false) or told (true).
 */
int store_approval_unnotified(struct store *st, size_t limit,
                              void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                              const char **error_r);
int store_approval_untold(struct store *st, size_t limit,
                          void (*fn)(const struct store_approval *a, void *ctx), void *ctx,
                          const char **error_r);
int store_approval_mark(struct store *st, int64_t id, bool told, const char **error_r);
/* store_approvers - who decides on an entry of domain: global and domain administrators. */
int store_approvers(struct store *st, const char *domain,
                    void (*fn)(const char *address, void *ctx), void *ctx, const char **error_r);

#endif
