/*
 * smtp_client.h - one message over SMTP to a relay (the MTA), for DSNs.
 *
 * A short, unpipelined dialog: greeting, EHLO (HELO when EHLO is refused),
 * MAIL FROM, one RCPT TO, DATA with dot-stuffing, QUIT; every step bounded
 * by a timeout. The LMTP client's pool speaks LHLO and keeps connections;
 * DSNs are rare and go to another peer, so they get their own connection.
 */
#ifndef OPES_SMTP_CLIENT_H
#define OPES_SMTP_CLIENT_H

#include <stddef.h>

#include "opes/lmtp_parse.h"

struct endpoint;

/*
 * smtp_client_send - deliver msg (CRLF lines, not stuffed) from sender ("" for
 * the null reverse-path) to rcpt via ep. reply gets the last answer: 2xx when
 * the relay took it, the relay's 4xx/5xx, or our 451 for a connection or
 * protocol failure (4.4.1 unreachable, 4.4.2 timeout, 4.4.0 protocol).
 */
void smtp_client_send(const struct endpoint *ep, const char *helo, const char *sender,
                      const char *rcpt, const char *msg, size_t len, int timeout_ms,
                      struct lmtp_reply *reply);

#endif
