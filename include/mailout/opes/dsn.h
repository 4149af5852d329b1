/*
 * dsn.h - delivery status notifications to senders (RFC 3464) for mail opesd
 * accepted and then never delivered: a quarantine entry that expired
 * unreleased, or whose release failed for good (RFC 4902 3.1: undeliverable
 * mail gets a non-delivery report), the blocklist's holds included. Not when
 * the service that held it has notify_sender = no, never to a null sender or
 * MAILER-DAEMON, never for auto-submitted, list or report mail (PROTOCOL.md
 * 25-26), and by [dsn] send = verified (the default) only to a sender that a
 * trusted Authentication-Results verified (authres.h), so that forged senders
 * get no backscatter. Each outcome is stored, traced (event dsn) and logged.
 * Sent to [notify] relay over SMTP with MAIL FROM:<>; the original's header
 * section goes along as text/rfc822-headers, its content never does.
 */
#ifndef OPES_DSN_H
#define OPES_DSN_H

#include <stdint.h>

struct mailgen_buf;
struct store;
struct lmtp_env;
struct notify_round;

struct dsn_info {
    const char *hostname;    /* Reporting-MTA and the From domain */
    const char *to;          /* the original sender */
    const char *recipient;   /* the recipient opesd held the message for */
    const char *orcpt;       /* ORCPT "type;address" from RCPT; NULL: no Original-Recipient */
    const char *trace_id;    /* OPES trace id */
    const char *service_uri; /* the service that held the message */
    const char *reason;      /* its reason */
    const char *subject;     /* of the original (for our Subject) */
    const char *headers;     /* the original's header section (LF or CRLF) */
    int64_t arrival;         /* when opesd accepted it */
    const char *human;       /* the human-readable part (filled dsn.txt) */
};

/* dsn_compose - the multipart/report message (CRLF lines) into out. */
void dsn_compose(struct mailgen_buf *out, const struct dsn_info *d);

/*
 * dsn_run - send the DSNs that are due (none when [notify] relay is empty or
 * [dsn] send = never) for entries expired at or after since (0: all) and
 * failed releases; count or -1.
 */
int dsn_run(struct store *st, struct lmtp_env *env, const struct notify_round *round,
            int64_t since);

#endif
