/*
 * web_passauth.h - recipients log in with the password of their mailbox.
 *
 * opes-web never stores or logs that password: it asks the mail system.
 * [web] password_auth chooses how: "dovecot" speaks Dovecot's auth-client
 * protocol on [web] auth_socket (mechanism PLAIN, service=opes-web, the
 * client's address as rip, so that every passdb Dovecot has and its own
 * penalties apply); "imap" logs in to [web] imap_server with LOGIN and logs
 * out. Every wait has the [web] auth_timeout deadline. Rate limits are the
 * caller's (pages_auth.c), as for login links.
 */
#ifndef OPES_WEB_PASSAUTH_H
#define OPES_WEB_PASSAUTH_H

#include <stddef.h>

#include "opes/config.h"

enum web_passauth_result {
    WEB_PASSAUTH_OK,   /* the mail system accepted the password */
    WEB_PASSAUTH_BAD,  /* it refused them: wrong password or no such user */
    WEB_PASSAUTH_TEMP, /* it could not answer: down, timeout, protocol error */
};

/*
 * web_passauth_check - ask the mail system whether password is address's. The
 * login name sent is the address, or its local part with [web] auth_username =
 * localpart. client is the browser's numeric address (for Dovecot's rip), or
 * NULL. On BAD and TEMP, why (never holding the password) says what happened,
 * for the log.
 */
enum web_passauth_result web_passauth_check(const struct opes_config *cfg, const char *address,
                                            const char *password, const char *client, char *why,
                                            size_t why_size);

#endif
