/*
 * clamd.h - ClamAV's clamd as a virus scanner, through its INSTREAM command.
 *
 * The whole message is streamed as it was received (ClamAV parses MIME and
 * decodes attachments itself), in chunks of CLAMD_CHUNK_SIZE octets, over a
 * unix socket or TCP. The reply is read up to its NUL into a fixed buffer of
 * CLAMD_REPLY_MAX octets. A scan never says "clean" unless clamd answered
 * "stream: OK" after the end of the whole stream: a message larger than
 * clamd's StreamMaxLength is an error, not a clean message.
 */
#ifndef OPES_CLAMD_H
#define OPES_CLAMD_H

#include <stddef.h>

#include "opes/endpoint.h"

struct spool;

#define CLAMD_CHUNK_SIZE 65536
#define CLAMD_REPLY_MAX 1024
/* a useful size for the caller's signature name buffer */
#define CLAMD_VIRUS_MAX 256
/* clamd_scan: clamd refused the content for a limit of its own; never "clean" */
#define CLAMD_LIMIT (-2)
/* the signature clamd reports for content past its scan limits (AlertExceedsMax) */
#define CLAMD_LIMITS_SIGNATURE "Heuristics.Limits.Exceeded"

/*
 * clamd_scan - scan the message in spool (read from its start) with the
 * clamd at ep. timeout_ms bounds the whole exchange (connect, streaming and
 * the wait for the verdict). Returns 0 when clean, 1 when infected (virus gets
 * the signature name without " FOUND", cut to vsize - 1 octets, unprintable
 * octets as '?'), -1 on any failure with *error_r set (thread-local text,
 * valid until the next call of this module in the same thread), CLAMD_LIMIT
 * (also below 0) when clamd refused the content for one of its limits
 * (StreamMaxLength), *error_r set likewise. virus may be NULL when vsize is 0.
 */
int clamd_scan(const struct endpoint *ep, int timeout_ms, struct spool *spool, char *virus,
               size_t vsize, const char **error_r);

/* clamd_scan_buffer - the same for data[0..len) in memory (a decoded attachment). */
int clamd_scan_buffer(const struct endpoint *ep, int timeout_ms, const void *data, size_t len,
                      char *virus, size_t vsize, const char **error_r);

/*
 * clamd_parse_reply - one INSTREAM reply, reply[0..len) without its NUL.
 * Returns 0 for "stream: OK", 1 for "stream: NAME FOUND" (NAME as above),
 * -1 for an error reply ("... ERROR", "INSTREAM size limit exceeded. ERROR")
 * or anything else, with *error_r quoting the reply.
 */
int clamd_parse_reply(const char *reply, size_t len, char *virus, size_t vsize,
                      const char **error_r);

#endif
