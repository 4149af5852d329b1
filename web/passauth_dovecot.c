/*
 * passauth_dovecot.c - a password check through Dovecot's auth-client
 * socket (the Dovecot authentication protocol 1.x): handshake, one AUTH with
 * mechanism PLAIN and service=opes-web, then OK or FAIL. The password travels
 * only inside the base64 of the PLAIN response. The request says no-penalty:
 * Dovecot's growing delay after failures (keyed by rip) would hold a portal
 * thread for seconds per attempt; the portal's own per-address and
 * per-client limits count failures instead.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "passauth_int.h"

/* field - the value of name=value among the TAB-separated fields of line, into out; 0 when absent.
 */
static int field(const char *line, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = strchr(line, '\t'); p != NULL; p = strchr(p + 1, '\t'))
        if (strncmp(p + 1, name, n) == 0 &&
            (p[1 + n] == '=' || p[1 + n] == '\t' || p[1 + n] == '\0')) {
            const char *v = p[1 + n] == '=' ? p + 2 + n : p + 1 + n;
            snprintf(out, size, "%.*s", (int)strcspn(v, "\t"), v);
            return 1;
        }
    return 0;
}

/* printable - cut s at its first byte that is not printable ASCII (for the log). */
static char *printable(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            *p = '\0';
            break;
        }
    return s;
}

enum web_passauth_result passauth_dovecot(struct passauth_conn *c, const char *user,
                                          const char *password, const char *client, char *why,
                                          size_t why_size)
{
    char hello[64], *line, reason[256];
    size_t ulen = strlen(user), plen = strlen(password), rlen = 2 + ulen * 2 + plen;
    size_t b64len = sodium_base64_ENCODED_LEN(rlen, sodium_base64_VARIANT_ORIGINAL);
    char *resp = malloc(rlen), *b64 = malloc(b64len), *cmd = malloc(b64len + 512);
    int has_plain = 0, done = 0;
    enum web_passauth_result r = WEB_PASSAUTH_TEMP;

    if (resp == NULL || b64 == NULL || cmd == NULL) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%ld\n", (long)getpid());
    if (passauth_send(c, hello, strlen(hello)) < 0) {
        snprintf(why, why_size, "dovecot auth: cannot send the handshake");
        goto out;
    }
    while (!done && (line = passauth_line(c)) != NULL) {
        if (strncmp(line, "VERSION\t", 8) == 0 && strncmp(line, "VERSION\t1\t", 10) != 0) {
            snprintf(why, why_size, "dovecot auth: protocol %s, not 1.x", printable(line + 8));
            goto out;
        }
        if (strncmp(line, "MECH\tPLAIN", 10) == 0 && (line[10] == '\0' || line[10] == '\t'))
            has_plain = 1;
        done = strcmp(line, "DONE") == 0;
    }
    if (!done) {
        snprintf(why, why_size, "dovecot auth: no complete handshake before the timeout");
        goto out;
    }
    if (!has_plain) {
        snprintf(why, why_size,
                 "dovecot auth: mechanism PLAIN not offered "
                 "(disable_plaintext_auth = no, or a secured connection)");
        goto out;
    }
    /* PLAIN: authzid NUL authcid NUL password (RFC 4616), authzid = authcid */
    memcpy(resp, user, ulen);
    resp[ulen] = '\0';
    memcpy(resp + ulen + 1, user, ulen);
    resp[2 * ulen + 1] = '\0';
    memcpy(resp + 2 * ulen + 2, password, plen);
    sodium_bin2base64(b64, b64len, (const unsigned char *)resp, rlen,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(cmd, b64len + 512,
             "AUTH\t1\tPLAIN\tservice=opes-web\tnologin\tno-penalty%s%s\tresp=%s\n",
             client != NULL ? "\trip=" : "", client != NULL ? client : "", b64);
    if (passauth_send(c, cmd, strlen(cmd)) < 0) {
        snprintf(why, why_size, "dovecot auth: cannot send AUTH");
        goto out;
    }
    while ((line = passauth_line(c)) != NULL) {
        if (strncmp(line, "OK\t1", 4) == 0 && (line[4] == '\0' || line[4] == '\t')) {
            r = WEB_PASSAUTH_OK;
            goto out;
        }
        if (strncmp(line, "FAIL\t1", 6) == 0 && (line[6] == '\0' || line[6] == '\t')) {
            if (!field(line, "reason", reason, sizeof(reason)))
                snprintf(reason, sizeof(reason), "wrong password or no such user");
            r = field(line, "temp", hello, sizeof(hello)) ? WEB_PASSAUTH_TEMP : WEB_PASSAUTH_BAD;
            snprintf(why, why_size, "dovecot auth: %s", printable(reason));
            goto out;
        }
        if (strncmp(line, "CONT\t1", 6) == 0) {
            snprintf(why, why_size, "dovecot auth: PLAIN asked for more (CONT)");
            goto out;
        }
    }
    snprintf(why, why_size, "dovecot auth: no answer before the timeout");
out:
    if (resp != NULL)
        sodium_memzero(resp, rlen);
    if (b64 != NULL)
        sodium_memzero(b64, b64len);
    if (cmd != NULL)
        sodium_memzero(cmd, b64len + 512);
    free(resp);
    free(b64);
    free(cmd);
    return r;
}
