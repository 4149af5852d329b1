/*
 * passauth_imap.c - a password check by logging in to an IMAP server
 * (RFC 3501 LOGIN, name and password as synchronizing literals so that no
 * quoting question arises), then LOGOUT. Any IMAP server does: Cyrus, Dovecot.
 *
 * Every login comes from opes-web's own address, so a server that slows down
 * an address after failed logins (Dovecot's auth penalty) would slow down every
 * recipient after one typo. Before LOGIN the client's address is therefore
 * given with ID ("x-originating-ip" ...) (RFC 2971), which Dovecot believes from
 * its login_trusted_networks; servers that do not know ID answer BAD, ignored.
 */
#include <stdio.h>
#include <string.h>

#include "passauth_int.h"

/* tagged - the next line that is not untagged ("* ..."); NULL on timeout or EOF. */
static char *tagged(struct passauth_conn *c)
{
    char *line;
    while ((line = passauth_line(c)) != NULL)
        if (strncmp(line, "* ", 2) != 0)
            return line;
    return NULL;
}

/* literal - send "{n}" ending the command line so far, wait for "+", then the n bytes; 0 or -1 with
 * why. */
static int literal(struct passauth_conn *c, const char *before, const char *data, char *why,
                   size_t why_size)
{
    char head[64];
    char *line;
    snprintf(head, sizeof(head), "%s{%zu}\r\n", before, strlen(data));
    if (passauth_send(c, head, strlen(head)) < 0 || (line = tagged(c)) == NULL) {
        snprintf(why, why_size, "imap: no answer to LOGIN before the timeout");
        return -1;
    }
    if (line[0] != '+') {
        snprintf(why, why_size, "imap: LOGIN refused before the password was sent");
        return -1;
    }
    return passauth_send(c, data, strlen(data));
}

enum web_passauth_result passauth_imap(struct passauth_conn *c, const char *user,
                                       const char *password, const char *client, char *why,
                                       size_t why_size)
{
    char id[128];
    enum web_passauth_result r = WEB_PASSAUTH_TEMP;
    char *line = passauth_line(c);

    if (line == NULL || strncmp(line, "* OK", 4) != 0) {
        snprintf(why, why_size, "imap: no greeting before the timeout");
        return r;
    }
    if (strstr(line, "LOGINDISABLED") != NULL) {
        snprintf(why, why_size,
                 "imap: the server disables LOGIN on this connection (plaintext "
                 "logins must be allowed on loopback)");
        return r;
    }
    if (client != NULL) {
        snprintf(id, sizeof(id), "A0 ID (\"x-originating-ip\" \"%s\")\r\n", client);
        if (passauth_send(c, id, strlen(id)) < 0 || (line = tagged(c)) == NULL) {
            snprintf(why, why_size, "imap: no answer to ID before the timeout");
            return r;
        }
    }
    if (literal(c, "A1 LOGIN ", user, why, why_size) < 0 ||
        literal(c, " ", password, why, why_size) < 0 || passauth_send(c, "\r\n", 2) < 0)
        return r;
    if ((line = tagged(c)) == NULL) {
        snprintf(why, why_size, "imap: no answer to LOGIN before the timeout");
    } else if (strncmp(line, "A1 OK", 5) == 0) {
        r = WEB_PASSAUTH_OK;
    } else if (strncmp(line, "A1 NO", 5) == 0 && strstr(line, "[UNAVAILABLE]") == NULL &&
               strstr(line, "[SERVERBUG]") == NULL) {
        r = WEB_PASSAUTH_BAD;
        snprintf(why, why_size, "imap: wrong password or no such user");
    } else {
        snprintf(why, why_size, "imap: LOGIN failed: %.120s", line);
    }
    if (passauth_send(c, "A2 LOGOUT\r\n", 11) == 0)
        while ((line = tagged(c)) != NULL && strncmp(line, "A2 ", 3) != 0)
            ;
    return r;
}
