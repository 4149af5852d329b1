/*
 * passauth_int.h - what the password checks share inside opes_web: a
 * connection with a deadline that reads lines, and the two protocols.
 */
#ifndef OPES_PASSAUTH_INT_H
#define OPES_PASSAUTH_INT_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/web_passauth.h"

#define PASSAUTH_LINE_MAX 16384

struct passauth_conn {
    int fd;
    gnutls_session_t tls; /* NULL: in clear */
    gnutls_certificate_credentials_t cred;
    int64_t deadline; /* clock_now_ms() time when every wait ends */
    char buf[PASSAUTH_LINE_MAX];
    size_t len; /* bytes read but not yet returned as a line */
    char line[PASSAUTH_LINE_MAX];
};

/* passauth_connect - connect to "unix:/path" or "host:port" before the deadline; 0 or -1 with why.
 */
int passauth_connect(struct passauth_conn *c, const char *where, int64_t deadline, char *why,
                     size_t why_size);

/*
 * passauth_tls - TLS over the connection before the deadline, the server's
 * certificate checked against ca_file (or the system's trusted CAs when
 * empty) and host; 0 or -1 with why.
 */
int passauth_tls(struct passauth_conn *c, const char *host, const char *ca_file, char *why,
                 size_t why_size);

/* passauth_send - write all of data before the deadline; 0 or -1. */
int passauth_send(struct passauth_conn *c, const char *data, size_t len);

/*
 * passauth_line - the next line without its CR LF or LF, NUL-terminated in
 * c->line until the next call; NULL on timeout, EOF, or a line longer
 * than PASSAUTH_LINE_MAX.
 */
char *passauth_line(struct passauth_conn *c);

/* passauth_close - close the connection (and forget what it read). */
void passauth_close(struct passauth_conn *c);

enum web_passauth_result passauth_dovecot(struct passauth_conn *c, const char *user,
                                          const char *password, const char *client, char *why,
                                          size_t why_size);
/* passauth_numeric - client when it is a numeric IP address, else NULL: nothing else goes on a
 * line. */
const char *passauth_numeric(const char *client);

enum web_passauth_result passauth_imap(struct passauth_conn *c, const char *user,
                                       const char *password, const char *client, char *why,
                                       size_t why_size);

#endif
