/*
 * passauth.c - the password check of recipients: which mail system to ask,
 * the login name, and the connection with a deadline that both protocols
 * (passauth_dovecot.c, passauth_imap.c) read lines from, in clear or
 * through TLS (GnuTLS, the certificate checked against the host name).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "opes/clock.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "passauth_int.h"

/* wait_fd - poll fd for events until the deadline; 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do {
        int left = clock_ms_left(deadline);
        if (left <= 0)
            return 0;
        rc = poll(&p, 1, left);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

/* connect_one - a non-blocking connect to addr, finished before the deadline; fd or -1. */
static int connect_one(int family, const struct sockaddr *addr, socklen_t alen, int64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;
    socklen_t elen = sizeof(err);
    if (fd < 0)
        return -1;
    if (connect(fd, addr, alen) == 0)
        return fd;
    if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
        if (err != 0)
            errno = err;
        else if (errno == EINPROGRESS)
            errno = ETIMEDOUT;
        close(fd);
        return -1;
    }
    return fd;
}

int passauth_connect(struct passauth_conn *c, const char *where, int64_t deadline, char *why,
                     size_t why_size)
{
    struct endpoint ep;
    const char *error;
    c->fd = -1;
    c->len = 0;
    c->deadline = deadline;
    if (endpoint_parse(where, &ep, &error) < 0) {
        snprintf(why, why_size, "%s: %s", where, error);
        return -1;
    }
    if (ep.kind == ENDPOINT_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ep.path);
        c->fd = connect_one(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), deadline);
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(ep.host, ep.port, &hints, &res);
        if (rc != 0) {
            snprintf(why, why_size, "%s: %s", where, gai_strerror(rc));
            return -1;
        }
        for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next)
            c->fd = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline);
        freeaddrinfo(res);
    }
    if (c->fd < 0) {
        snprintf(why, why_size, "connect %s: %s", where, strerror(errno));
        return -1;
    }
    return 0;
}

/* tls_wait - wait for what the TLS session needs next after GNUTLS_E_AGAIN; 1 ready. */
static int tls_wait(struct passauth_conn *c)
{
    return wait_fd(c->fd, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN, c->deadline);
}

int passauth_tls(struct passauth_conn *c, const char *host, const char *ca_file, char *why,
                 size_t why_size)
{
    int rc;
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0 ||
        gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
        snprintf(why, why_size, "tls: cannot start");
        return -1;
    }
    rc = ca_file[0] != '\0'
             ? gnutls_certificate_set_x509_trust_file(c->cred, ca_file, GNUTLS_X509_FMT_PEM)
             : gnutls_certificate_set_x509_system_trust(c->cred);
    if (rc <= 0) {
        snprintf(why, why_size, "tls: no trusted certificate in %s",
                 ca_file[0] != '\0' ? ca_file : "the system's store");
        return -1;
    }
    if (gnutls_set_default_priority(c->tls) < 0 ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) < 0 ||
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, host, strlen(host)) < 0) {
        snprintf(why, why_size, "tls: cannot set up the session");
        return -1;
    }
    gnutls_session_set_verify_cert(c->tls, host, 0);
    gnutls_transport_set_int(c->tls, c->fd);
    do {
        rc = gnutls_handshake(c->tls);
    } while ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) && tls_wait(c) == 1);
    if (rc < 0) {
        snprintf(why, why_size, "tls with %s: %s", host,
                 rc == GNUTLS_E_AGAIN ? "no handshake before the timeout" : gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

/* io - one send or receive in clear or through TLS; bytes, 0 at EOF, -1 (errno EAGAIN to wait). */
static ssize_t io(struct passauth_conn *c, void *p, size_t len, int out)
{
    ssize_t n;
    if (c->tls == NULL)
        return out ? send(c->fd, p, len, MSG_NOSIGNAL) : recv(c->fd, p, len, 0);
    n = out ? gnutls_record_send(c->tls, p, len) : gnutls_record_recv(c->tls, p, len);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
        errno = EAGAIN;
        return -1;
    }
    if (n < 0) {
        errno = EPROTO;
        return -1;
    }
    return n;
}

/* io_wait - wait until the connection can go on in direction out; 1 ready. */
static int io_wait(struct passauth_conn *c, int out)
{
    return c->tls != NULL ? tls_wait(c) : wait_fd(c->fd, out ? POLLOUT : POLLIN, c->deadline);
}

int passauth_send(struct passauth_conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = io(c, (void *)data, len, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (io_wait(c, 1) != 1)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

char *passauth_line(struct passauth_conn *c)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        ssize_t n;
        if (nl != NULL) {
            size_t ll = (size_t)(nl - c->buf);
            memcpy(c->line, c->buf, ll);
            c->line[ll] = '\0';
            if (ll > 0 && c->line[ll - 1] == '\r')
                c->line[ll - 1] = '\0';
            c->len -= ll + 1;
            memmove(c->buf, nl + 1, c->len);
            return c->line;
        }
        if (c->len == sizeof(c->buf))
            return NULL;
        n = io(c, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (io_wait(c, 0) != 1)
                return NULL;
            continue;
        }
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

void passauth_close(struct passauth_conn *c)
{
    if (c->tls != NULL)
        gnutls_deinit(c->tls);
    if (c->cred != NULL)
        gnutls_certificate_free_credentials(c->cred);
    c->tls = NULL;
    c->cred = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    /* what was read may hold a reply naming the user; nothing of the password */
    c->len = 0;
}

const char *passauth_numeric(const char *client)
{
    unsigned char bin[16];
    if (client == NULL ||
        (inet_pton(AF_INET, client, bin) != 1 && inet_pton(AF_INET6, client, bin) != 1))
        return NULL;
    return client;
}

enum web_passauth_result web_passauth_check(const struct opes_config *cfg, const char *address,
                                            const char *password, const char *client, char *why,
                                            size_t why_size)
{
    char user[257];
    struct passauth_conn *c;
    enum web_passauth_result r;
    const char *where = cfg->web_password_auth == CONFIG_PASSAUTH_DOVECOT ? cfg->web_auth_socket
                                                                          : cfg->web_imap_server;
    why[0] = '\0';
    if (cfg->web_password_auth == CONFIG_PASSAUTH_NONE) {
        snprintf(why, why_size, "password logins are off (web.password_auth = none)");
        return WEB_PASSAUTH_BAD;
    }
    snprintf(user, sizeof(user), "%s", address);
    if (cfg->web_auth_username == CONFIG_AUTHUSER_LOCALPART && strrchr(user, '@') != NULL)
        *strrchr(user, '@') = '\0';
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        snprintf(why, why_size, "out of memory");
        return WEB_PASSAUTH_TEMP;
    }
    if (passauth_connect(c, where, clock_now_ms() + (int64_t)cfg->web_auth_timeout * 1000, why,
                         why_size) < 0) {
        free(c);
        return WEB_PASSAUTH_TEMP;
    }
    client = passauth_numeric(client);
    if (cfg->web_password_auth == CONFIG_PASSAUTH_IMAP && cfg->web_imap_tls) {
        struct endpoint ep;
        const char *error;
        if (endpoint_parse(where, &ep, &error) < 0 || ep.kind != ENDPOINT_INET ||
            passauth_tls(c, ep.host, cfg->web_imap_ca_file, why, why_size) < 0) {
            if (why[0] == '\0')
                snprintf(why, why_size, "tls needs imap_server = host:port");
            passauth_close(c);
            free(c);
            return WEB_PASSAUTH_TEMP;
        }
    }
    if (cfg->web_password_auth == CONFIG_PASSAUTH_DOVECOT)
        r = passauth_dovecot(c, user, password, client, why, why_size);
    else
        r = passauth_imap(c, user, password, client, why, why_size);
    passauth_close(c);
    free(c);
    return r;
}
