/*
 * web_session.h - portal sessions and CSRF tokens.
 *
 * A session id is 256 random bits, sent as a base64url cookie and stored
 * only as its BLAKE2b hash, so that a copy of the store does not hold live
 * sessions. A session ends at its absolute expiry, after idle seconds without
 * a request, or at logout. Each session has its own CSRF token, compared in
 * constant time on every POST.
 */
#ifndef OPES_WEB_SESSION_H
#define OPES_WEB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/store.h"

#define WEB_SESSION_COOKIE "opes_session"
#define WEB_SESSION_TEXT 44 /* base64url of 32 bytes, no padding, plus NUL */

struct store;

/* how many domains a domain administrator's session knows, and shared mailboxes a delegate's */
#define WEB_SCOPE_MAX 16

struct web_session {
    bool valid;
    bool admin;
    char address[257];
    char csrf[64];
    unsigned char hash[STORE_SESSION_HASH];
    /* read with the session (web_access_load): what else the person may see */
    char domains[WEB_SCOPE_MAX][256]; /* administered as a domain administrator */
    size_t n_domains;
    char owners[WEB_SCOPE_MAX][257]; /* shared mailboxes they are a delegate of */
    size_t n_owners;
};

/* web_session_hash - BLAKE2b-256 of the cookie value. */
void web_session_hash(const char *id, unsigned char out[STORE_SESSION_HASH]);
/* web_session_alive - is a session of these times usable at now with idle seconds allowed? */
bool web_session_alive(int64_t now, int64_t last_seen, int64_t expires, int64_t idle);
/*
 * web_session_create - a new session for address, valid max_s seconds;
 * admin when opened with an administrator's password (the role is checked
 * again on every request). Writes the cookie value into id
 * (WEB_SESSION_TEXT) and fills *s. 0 or -1.
 */
int web_session_create(struct store *st, const char *address, bool admin, int64_t now,
                       int64_t max_s, char id[WEB_SESSION_TEXT], struct web_session *s,
                       const char **error_r);
/*
 * web_session_lookup - the live session of cookie value id at now (its last
 * use is updated): 0 with *s filled, 1 when there is none (unknown, expired,
 * idle too long: then it is removed), -1 on store error.
 */
int web_session_lookup(struct store *st, const char *id, int64_t now, int64_t idle,
                       struct web_session *s, const char **error_r);
/* web_session_end - logout: forget the session of s. */
int web_session_end(struct store *st, const struct web_session *s, const char **error_r);
/* web_session_csrf_ok - given (may be NULL) equals expected, in constant time. */
bool web_session_csrf_ok(const char *expected, const char *given);
/*
 * web_session_cookie - the Set-Cookie value for id (NULL: a cookie that
 * clears it): HttpOnly, SameSite=Strict, Path=/, Secure when secure.
 */
void web_session_cookie(char *buf, size_t size, const char *id, bool secure, int64_t max_age);

#endif
