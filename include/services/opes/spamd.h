/*
 * spamd.h - SpamAssassin's spamd as a spam scorer, through SPAMC/1.5 SYMBOLS.
 *
 * One connection per message: "SYMBOLS SPAMC/1.5", Content-length, an
 * optional User, the message as received, then our half of the connection is
 * shut down (spamd reads lines: without it, a message that does not end in LF
 * or an empty one would keep spamd waiting). The response (status line,
 * headers, the comma-separated names of the rules that hit) is read into a
 * fixed buffer of at most SPAMD_RESPONSE_MAX octets.
 */
#ifndef OPES_SPAMD_H
#define OPES_SPAMD_H

#include <stdbool.h>
#include <stddef.h>

#include "opes/endpoint.h"

struct spool;

#define SPAMD_RESPONSE_MAX 16384
#define SPAMD_SYMBOLS_MAX 1024
#define SPAMD_USER_MAX 256

struct spamd_result {
    double score;     /* as spamd printed it, one decimal */
    double threshold; /* the user's required score */
    bool is_spam;     /* spamd's own verdict ("Spam: True") */
    /* rule names joined with ',' ("" when none); cut after the last whole
     * name that fits, with symbols_truncated set */
    char symbols[SPAMD_SYMBOLS_MAX];
    bool symbols_truncated;
};

/*
 * spamd_check - score the message in spool (read from its start) with the
 * spamd at ep, for user (spamd's per-user settings; NULL or "" for spamd's
 * default user). timeout_ms bounds the whole exchange (connect, sending,
 * scoring and the response). Returns 0 with *r filled, or -1 with *error_r
 * set (thread-local text, valid until the next call of this module in the
 * same thread): connection, timeout, a status other than EX_OK, a malformed
 * or overlong response, or a user name that is too long or holds control
 * characters.
 */
int spamd_check(const struct endpoint *ep, int timeout_ms, struct spool *spool, const char *user,
                struct spamd_result *r, const char **error_r);

/*
 * spamd_parse_response - the response in buf[0..len), complete or not.
 * Returns 1 when it is complete and EX_OK (*r filled), 0 when more octets are
 * needed (never when at_eof: the connection is closed), -1 with *error_r for a
 * status other than EX_OK (quoted), a malformed or overlong response.
 */
int spamd_parse_response(const char *buf, size_t len, bool at_eof, struct spamd_result *r,
                         const char **error_r);

/*
 * spamd_tell - teach spamd's Bayes database the message in spool as spam or
 * ham (SPAMC/1.5 "TELL", Message-class, "Set: local"; spamd must run with
 * --allow-tell). *learned_r: spamd said "DidSet" (false: it had already
 * learned the message as that class, nothing changed). 0, or -1 with
 * *error_r as for spamd_check (spamd without --allow-tell answers with a
 * status other than EX_OK).
 */
int spamd_tell(const struct endpoint *ep, int timeout_ms, struct spool *spool, const char *user,
               bool spam, bool *learned_r, const char **error_r);

/*
 * spamd_parse_tell - a TELL response in buf[0..len): 1 when complete and
 * EX_OK (*learned_r: a DidSet header), 0 when more octets are needed, -1
 * with *error_r for another status or a malformed or overlong response.
 */
int spamd_parse_tell(const char *buf, size_t len, bool at_eof, bool *learned_r,
                     const char **error_r);

#endif
