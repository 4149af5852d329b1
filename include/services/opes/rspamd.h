/*
 * rspamd.h - rspamd as a spam scorer, through its HTTP scan protocol.
 *
 * One connection per message to rspamd's normal worker: "POST /checkv2" over
 * HTTP/1.1 with Content-Length, the envelope and the client as request
 * headers (From, one Rcpt per recipient, IP, Helo, Hostname, Queue-Id), then
 * the message as received. The reply is an HTTP response whose body is a JSON
 * object (action, score, required_score, symbols); it is read into a buffer
 * of at most RSPAMD_RESPONSE_MAX octets and read with jansson. The parsers
 * work on bytes only, so tables of replies and a fuzzer can test them.
 */
#ifndef OPES_RSPAMD_H
#define OPES_RSPAMD_H

#include <stdbool.h>
#include <stddef.h>

#include "opes/endpoint.h"

struct spool;

#define RSPAMD_RESPONSE_MAX (1024 * 1024) /* status line, header fields and body */
#define RSPAMD_HEADER_MAX 16384           /* status line and header fields */
#define RSPAMD_SYMBOLS_MAX 1536           /* so that a log line holds them */
#define RSPAMD_SYMBOL_NAME_MAX 128

/* rspamd's actions, from the mildest; RSPAMD_N_ACTIONS counts them. */
enum rspamd_action {
    RSPAMD_NO_ACTION,
    RSPAMD_GREYLIST,
    RSPAMD_ADD_HEADER,
    RSPAMD_REWRITE_SUBJECT,
    RSPAMD_SOFT_REJECT,
    RSPAMD_REJECT,
};
#define RSPAMD_N_ACTIONS 6

/* rspamd_action_name - "no action", "greylist", ... as rspamd spells them. */
const char *rspamd_action_name(enum rspamd_action a);
/* rspamd_action_parse - the action spelled s (as in a reply), or -1. */
int rspamd_action_parse(const char *s);

struct rspamd_result {
    enum rspamd_action action;
    double score;          /* the message's score */
    double required_score; /* the score of rspamd's reject action */
    /*
     * the symbols that fired as "NAME(score)" joined with ' ', highest score
     * first (then by name); cut after the last whole symbol that fits, with
     * n_listed < n_symbols
     */
    char symbols[RSPAMD_SYMBOLS_MAX];
    size_t n_symbols; /* in the reply */
    size_t n_listed;  /* in symbols */
};

/* What rspamd is told about the message besides its content (NULL or "": not sent). */
struct rspamd_request {
    const char *from; /* the envelope sender ("" for the null sender: sent as <>) */
    const char *const *rcpts;
    size_t nrcpts;
    const char *ip;       /* the client's address (sent only when it is an IP address) */
    const char *helo;     /* the client's HELO/LHLO name */
    const char *hostname; /* the client's host name */
    const char *queue_id; /* our trace id */
};

/*
 * rspamd_check - score the message in spool (read from its start) with the
 * rspamd normal worker at ep. timeout_ms bounds the whole exchange (connect,
 * sending, scoring and the reply). Request header values with control
 * characters are left out. Returns 0 with *r filled, or -1 with *error_r set
 * (thread-local text, valid until the next call of this module in the same
 * thread): connection, timeout, a status other than 200 (with rspamd's error
 * text), a malformed, overlong or incomplete reply.
 */
int rspamd_check(const struct endpoint *ep, int timeout_ms, struct spool *spool,
                 const struct rspamd_request *req, struct rspamd_result *r, const char **error_r);

/*
 * rspamd_parse_response - the HTTP response in buf[0..len), complete or not.
 * Returns 1 when it is complete with status 200 and a valid reply (*r filled),
 * 0 when more octets are needed (never when at_eof: the connection is
 * closed), -1 with *error_r for another status (quoted, with the reply's
 * "error" text), a chunked or compressed body, a malformed or overlong
 * response.
 */
int rspamd_parse_response(const char *buf, size_t len, bool at_eof, struct rspamd_result *r,
                          const char **error_r);

/*
 * rspamd_parse_reply - the JSON body of a scan reply: an object with "action"
 * (one of rspamd's actions), "score" and "required_score" (numbers) and
 * optionally "symbols" (an object of objects, each with a numeric "score").
 * Other members are ignored. 0 with *r filled, or -1 with *error_r.
 */
int rspamd_parse_reply(const char *body, size_t len, struct rspamd_result *r, const char **error_r);

/*
 * rspamd_learn - teach rspamd's statistics the message in spool as spam or
 * ham through its controller worker at controller ("POST /learnspam" or
 * "/learnham" with the controller's password, NULL or "" for none).
 * *learned_r: rspamd learned it (false: it had learned the message as that
 * class before, HTTP 208). 0, or -1 with *error_r as for rspamd_check
 * (a wrong password, no statistics backend: rspamd's error text).
 */
int rspamd_learn(const struct endpoint *controller, int timeout_ms, struct spool *spool,
                 const char *password, bool spam, bool *learned_r, const char **error_r);

/*
 * rspamd_parse_learn - a learn response in buf[0..len): 1 when complete and
 * 200 with "success": true (*learned_r true) or 208 (already learned,
 * *learned_r false); 0 when more octets are needed; -1 with *error_r for
 * another status (with rspamd's "error" text) or a malformed response.
 */
int rspamd_parse_learn(const char *buf, size_t len, bool at_eof, bool *learned_r,
                       const char **error_r);

#endif
