/*
 * lmtp_server.h - the LMTP protocol facing the MTA (RFC 2033), as a library.
 *
 * One call runs one connection to its end: greeting, a command table with
 * per-state checks, LHLO capabilities, PIPELINING, XFORWARD, the MAIL and
 * RCPT parameters, the DATA phase into a spool with its size and rate limits,
 * timeouts, bad command counting, and exactly one reply per accepted
 * recipient after the dot, with the final log line of each. What a message
 * means (policy, verification, delivery) is the caller's, through
 * struct lmtp_server_callbacks, in the manner of Dovecot's lib-smtp server.
 */
#ifndef OPES_LMTP_SERVER_H
#define OPES_LMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/lmtp_client.h"
#include "opes/lmtp_parse.h"

struct spool;

/* What the server needs to know, filled by the daemon from its configuration. */
struct lmtp_server_settings {
    const char *hostname;            /* greeting, LHLO, 221 and 421 texts */
    const char *xforward_hosts;      /* peers allowed XFORWARD: "addr, addr ..." */
    uint64_t max_message_size;       /* SIZE, and the DATA limit */
    uint64_t max_recipients;         /* accepted RCPTs per transaction */
    uint64_t max_bad_commands;       /* then 421 and close */
    uint64_t command_timeout;        /* seconds: idle, and for writing replies */
    uint64_t data_timeout;           /* seconds between DATA reads */
    uint64_t min_data_rate;          /* bytes/s a client must average in DATA; 0: none */
    bool bare_eol_normalize;         /* bare CR or LF in DATA: make it CRLF */
    bool bare_eol_reject;            /* ... or refuse the message (554 5.6.0) */
    size_t spool_memory;             /* spool_new: bytes in memory */
    const char *spool_dir;           /* spool_new: where the file goes */
    struct lmtp_parse_limits limits; /* command line and parameter lengths */
};

/* One recipient of a transaction. */
struct lmtp_server_rcpt {
    char addr[LMTP_ADDR_MAX + 1]; /* as delivered: after rcpt_filter */
    char orig[LMTP_ADDR_MAX + 1]; /* as the client gave it, when rcpt_filter changed it; else "" */
    size_t first;                 /* index of the first RCPT of this address (itself if unique) */
    char *bypass;                 /* XOPES-BYPASS value (decoded) or NULL; owned by the server */
    char *orcpt;                  /* ORCPT as "addr-type;address" (decoded) or NULL; owned */
    struct lmtp_reply reply;      /* the RCPT reply, then the final one */
    char services[256];           /* what the services did, for the log line */
    const char *action;           /* quarantined, rejected ... when a policy decided; else NULL */
};

/* One transaction, from MAIL to the final replies, RSET or disconnect. */
struct lmtp_server_tx {
    char id[32]; /* set by the mail callback; appended to replies as "(trace id)" */
    char sender[LMTP_ADDR_MAX + 1];
    uint64_t size_param; /* SIZE=, 0 when not given */
    char body[16];       /* "7BIT", "8BITMIME" or "" */
    bool smtputf8;
    char *bypass;                   /* XOPES-BYPASS on MAIL (decoded) or NULL */
    struct lmtp_server_rcpt *rcpts; /* accepted ones, in RCPT order */
    size_t nrcpts, cap;
    int64_t start_ms;        /* clock_now_ms() at MAIL */
    const char *helo;        /* XFORWARD HELO, or the LHLO name */
    const char *client_name; /* XFORWARD NAME, or NULL */
    const char *client_addr; /* XFORWARD ADDR, or the peer's address */
    const char *queue_id;    /* XFORWARD IDENT (the MTA's queue id), or NULL */
    void *context;           /* the callbacks' own, for this transaction */
};

/*
 * The daemon's side. Every callback gets the ctx given to lmtp_server_session.
 * Replies filled by callbacks are sent on by the server with a valid enhanced
 * code and the transaction id.
 */
struct lmtp_server_callbacks {
    /* lhlo - what to offer besides the server's own extensions (8BITMIME, SMTPUTF8). */
    void (*lhlo)(void *ctx, struct lmtp_caps *caps);
    /* xforward_value - copy one decoded XFORWARD value into dst as it may be kept. */
    void (*xforward_value)(void *ctx, char *dst, size_t size, const char *value);
    /*
     * mail - MAIL FROM passed the syntax checks: set tx->id and tx->context.
     * Returns 0, or -1 after filling reply to refuse it.
     */
    int (*mail)(void *ctx, struct lmtp_server_tx *tx, struct lmtp_reply *reply);
    /*
     * rcpt_filter - may rewrite rcpt->addr (then it keeps the client's in
     * rcpt->orig); the server then checks the address again (duplicates).
     */
    void (*rcpt_filter)(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *rcpt);
    /* rcpt - the answer for a new (not duplicate) recipient, into rcpt->reply. */
    void (*rcpt)(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *rcpt);
    /* data_begin - the 354 went out; data_chunk then sees the decoded content once. */
    void (*data_begin)(void *ctx, struct lmtp_server_tx *tx);
    void (*data_chunk)(void *ctx, struct lmtp_server_tx *tx, const char *data, size_t len);
    /*
     * data_end - the content, complete and accepted: fill rcpts[i].reply (and
     * services, action) of every recipient. Not called when the server
     * refused the content itself (size, NUL, bare line ends, spool errors).
     */
    void (*data_end)(void *ctx, struct lmtp_server_tx *tx, struct spool *spool);
    /* data_replied - the final replies went out (the server's or data_end's). */
    void (*data_replied)(void *ctx, struct lmtp_server_tx *tx);
    /* tx_free - the transaction ends (after the replies, RSET, LHLO, QUIT, disconnect). */
    void (*tx_free)(void *ctx, struct lmtp_server_tx *tx);
};

/*
 * lmtp_server_session - serve the connection fd (closed on return). When
 * stop_fd becomes readable the session ends at the next command boundary
 * with 421; a DATA phase and its delivery in progress are finished first.
 * Callbacks left NULL are skipped (a NULL rcpt accepts with 250 2.1.5).
 */
void lmtp_server_session(const struct lmtp_server_settings *set,
                         const struct lmtp_server_callbacks *cb, void *ctx, int fd, int stop_fd);

#endif
