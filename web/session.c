/*
 * session.c - portal sessions: random ids that the store keeps only hashed,
 * idle and absolute expiry, and the per-session CSRF token.
 */
#include "opes/web_session.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "opes/store.h"
#include "opes/web_access.h"

void web_session_hash(const char *id, unsigned char out[STORE_SESSION_HASH])
{
    static const unsigned char ctx[] = "opes-web-session";
    crypto_generichash(out, STORE_SESSION_HASH, (const unsigned char *)id, strlen(id), ctx,
                       sizeof(ctx) - 1);
}

bool web_session_alive(int64_t now, int64_t last_seen, int64_t expires, int64_t idle)
{
    return now < expires && now - last_seen < idle && last_seen <= now + 60;
}

static void session_random(char *out, size_t size)
{
    unsigned char raw[32];

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, size, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

int web_session_create(struct store *st, const char *address, bool admin, int64_t now,
                       int64_t max_s, char id[WEB_SESSION_TEXT], struct web_session *s,
                       const char **error_r)
{
    struct store_web_session row;
    size_t i;

    memset(s, 0, sizeof(*s));
    memset(&row, 0, sizeof(row));
    for (i = 0; address[i] != '\0' && i + 1 < sizeof(row.address); i++)
        row.address[i] = (char)tolower((unsigned char)address[i]);
    session_random(id, WEB_SESSION_TEXT);
    session_random(row.csrf, sizeof(row.csrf));
    row.created = row.last_seen = now;
    row.expires = now + max_s;
    row.admin = admin;
    web_session_hash(id, s->hash);
    if (store_web_session_add(st, s->hash, &row, error_r) < 0)
        return -1;
    s->valid = true;
    s->admin = admin;
    memcpy(s->address, row.address, sizeof(s->address));
    memcpy(s->csrf, row.csrf, sizeof(s->csrf));
    return web_access_load(st, s, error_r);
}

int web_session_lookup(struct store *st, const char *id, int64_t now, int64_t idle,
                       struct web_session *s, const char **error_r)
{
    struct store_web_session row;
    struct store_user u;
    int rc;

    memset(s, 0, sizeof(*s));
    if (strlen(id) != WEB_SESSION_TEXT - 1)
        return 1;
    web_session_hash(id, s->hash);
    rc = store_web_session_get(st, s->hash, &row, error_r);
    if (rc != 0)
        return rc < 0 ? -1 : 1;
    if (!web_session_alive(now, row.last_seen, row.expires, idle)) {
        store_web_session_delete(st, s->hash, error_r);
        return 1;
    }
    if (now > row.last_seen && store_web_session_touch(st, s->hash, now, error_r) < 0)
        return -1;
    rc = store_user_get(st, row.address, &u, error_r);
    if (rc < 0)
        return -1;
    s->admin = row.admin && rc == 0 && u.role == STORE_ROLE_ADMIN;
    s->valid = true;
    memcpy(s->address, row.address, sizeof(s->address));
    memcpy(s->csrf, row.csrf, sizeof(s->csrf));
    return web_access_load(st, s, error_r);
}

int web_session_end(struct store *st, const struct web_session *s, const char **error_r)
{
    return store_web_session_delete(st, s->hash, error_r);
}

bool web_session_csrf_ok(const char *expected, const char *given)
{
    size_t n = strlen(expected);

    if (given == NULL || n == 0 || strlen(given) != n)
        return false;
    return sodium_memcmp(expected, given, n) == 0;
}

void web_session_cookie(char *buf, size_t size, const char *id, bool secure, int64_t max_age)
{
    snprintf(buf, size, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
             WEB_SESSION_COOKIE, id != NULL ? id : "", id != NULL ? (long long)max_age : 0LL,
             secure ? "; Secure" : "");
}
