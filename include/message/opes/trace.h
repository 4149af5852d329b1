/*
 * trace.h - the OPES trace of a message (RFC 4902 3.1, RFC 4236 syntax).
 *
 * A trace id names one transaction in every log line, reply text, header and
 * (later) store record. The header block put on top of each message is:
 *   Received: from ... by <host> (opesd) with LMTP id <trace-id> ...
 *   OPES-System: <system_uri>; trace=<trace-id>
 *   OPES-Via: <system_uri>; action=relay[, <service-uri>; action=<verdict>]...
 *   OPES-Delivery-Id: <hex>   (when given: the same on every retry of the
 *                              message, for the mailbox store's duplicate check)
 * Fields are folded at 78 octets and never exceed 998. When a DKIM signature
 * covers OPES-System or OPES-Via, that field's text is carried in a comment
 * of the Received field instead:
 *   Received: ... id <trace-id>
 *           (OPES-System: <system_uri>; trace=<trace-id>)
 *           (OPES-Via: <system_uri>; action=relay, ...) ...
 */
#ifndef OPES_TRACE_H
#define OPES_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TRACE_ID_LEN 16

/* trace_id_new - 16 random base32 characters (80 bits) into id. */
void trace_id_new(char id[TRACE_ID_LEN + 1]);

struct trace_via {
    const char *uri;    /* service URI */
    const char *action; /* pass, tag, modify, ..., bypassed, skipped, failed, unscannable */
};

/* which OPES fields go into a Received comment instead of a field of their own */
#define TRACE_CARRY_SYSTEM 1u
#define TRACE_CARRY_VIA 2u
#define TRACE_COMMENT_MAX 2048 /* the longest comment text; longer is truncated */

struct trace_info {
    const char *id;
    const char *system_uri;
    const char *by_host;     /* our hostname */
    const char *helo;        /* client's LHLO or XFORWARD HELO (sanitised here) */
    const char *peer_name;   /* XFORWARD NAME or NULL */
    const char *peer_addr;   /* "1.2.3.4", "unix", or XFORWARD ADDR */
    const char *protocol;    /* "LMTP" or "UTF8LMTP" */
    const char *for_rcpt;    /* only when the message has exactly one recipient */
    const char *note;        /* a comment after the id, e.g. who released it, or NULL */
    unsigned carry;          /* TRACE_CARRY_*: fields a DKIM signature covers (PROTOCOL.md 28) */
    const char *delivery_id; /* ledger.h's, or NULL for no OPES-Delivery-Id field */
    time_t when;
    const struct trace_via *via;
    size_t nvia;
};

/*
 * trace_headers - write the header block (CRLF line ends) into buf.
 * Returns its length, or 0 when it does not fit (size 4096 always suffices
 * for up to 32 services) or a URI is too long to stay under 998 octets.
 */
size_t trace_headers(char *buf, size_t size, const struct trace_info *ti);

/*
 * trace_check - is prefix a well-formed block carrying this transaction's
 * trace: a Received field "with ... id <id>", an OPES-System naming the id if
 * present, CRLF line ends, continuation lines folded, no line over 998?
 */
bool trace_check(const char *prefix, size_t len, const char *id);

/* trace_sanitize - copy peer text keeping [A-Za-z0-9.:_-[]], others become '_'. */
void trace_sanitize(char *dst, size_t size, const char *src);

#endif
