/*
 * config.c - the table-driven INI configuration.
 *
 * One table lists every key with its type, default and bounds; defaults are
 * parsed by the same code as file values. Word-valued keys (CONFIG_ENUM) list
 * their words and land in an enum; keys flagged CONFIG_RESTART are the ones a
 * reload cannot apply. config_key_set is the one reader of a value for a key,
 * also for the [service.NAME] keys (svcdesc.c and the agent's service types).
 * inih does the INI syntax; a counting reader gives each value its line
 * number so that errors read "file:line: key: reason".
 */
#include "opes/config.h"
#include "opes/i18n.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "opes/schedule.h"
#include "opes/vec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int cfg_check_base_url(const char *v, const char **reason);
static int cfg_check_listen(const char *v, const char **reason);
static int cfg_check_web_listen(const char *v, const char **reason);
static int cfg_check_metrics_listen(const char *v, const char **reason);
static int cfg_check_target(const char *v, const char **reason);
/* cfg_check_folder - a folder name that is safe in an address and as a Maildir++ folder */
static int cfg_check_folder(const char *v, const char **reason)
{
    size_t n = strlen(v);

    if (n == 0 || n > 64 || v[0] == '.' ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789-_.") != n) {
        *reason = "expected a folder name of 1-64 letters, digits, '-', '_' or '.' (not first)";
        return -1;
    }
    return 0;
}

/* cfg_check_delimiter - the one character between a local part and its detail */
static int cfg_check_delimiter(const char *v, const char **reason)
{
    if (strlen(v) != 1 || strchr("+-_=#%&", v[0]) == NULL) {
        *reason = "expected one of + - _ = # % &";
        return -1;
    }
    return 0;
}

static int cfg_check_uri(const char *v, const char **reason);
static int cfg_check_from(const char *v, const char **reason);
static int cfg_check_schedule(const char *v, const char **reason);
static int cfg_check_address(const char *v, const char **reason);
static int cfg_check_relay(const char *v, const char **reason);
static int cfg_check_auth_user(const char *v, const char **reason);
static int cfg_check_conninfo(const char *v, const char **reason);
static int cfg_check_addr_list(const char *v, const char **reason);
static int cfg_check_folder(const char *v, const char **reason);
static int cfg_check_delimiter(const char *v, const char **reason);
static int cfg_check_language(const char *v, const char **reason);
static int cfg_check_timezone(const char *v, const char **reason);

#define OFF(f) .offset = offsetof(struct opes_config, f)
#define NOLIM 0, UINT64_MAX

static const struct config_word cfg_bare_words[] = {
    {"reject", CONFIG_BARE_EOL_REJECT}, {"normalize", CONFIG_BARE_EOL_NORMALIZE}, {NULL, 0}};
static const struct config_word cfg_auth_words[] = {{"none", CONFIG_AUTH_NONE},
                                                    {"plain", CONFIG_AUTH_PLAIN},
                                                    {"external", CONFIG_AUTH_EXTERNAL},
                                                    {NULL, 0}};
static const struct config_word cfg_passauth_words[] = {{"none", CONFIG_PASSAUTH_NONE},
                                                        {"dovecot", CONFIG_PASSAUTH_DOVECOT},
                                                        {"imap", CONFIG_PASSAUTH_IMAP},
                                                        {NULL, 0}};
static const struct config_word cfg_authuser_words[] = {
    {"address", CONFIG_AUTHUSER_ADDRESS}, {"localpart", CONFIG_AUTHUSER_LOCALPART}, {NULL, 0}};
static const struct config_word cfg_block_words[] = {
    {"quarantine", CONFIG_BLOCK_QUARANTINE}, {"reject", CONFIG_BLOCK_REJECT}, {NULL, 0}};
static const struct config_word cfg_level_words[] = {{"err", LOG_LEVEL_ERR},
                                                     {"warn", LOG_LEVEL_WARN},
                                                     {"info", LOG_LEVEL_INFO},
                                                     {"debug", LOG_LEVEL_DEBUG},
                                                     {NULL, 0}};
static const struct config_word cfg_notify_words[] = {{"immediate", CONFIG_NOTIFY_IMMEDIATE},
                                                      {"digest", CONFIG_NOTIFY_DIGEST},
                                                      {"off", CONFIG_NOTIFY_OFF},
                                                      {NULL, 0}};

static const struct config_word cfg_dsn_words[] = {{"verified", CONFIG_DSN_VERIFIED},
                                                   {"always", CONFIG_DSN_ALWAYS},
                                                   {"never", CONFIG_DSN_NEVER},
                                                   {NULL, 0}};
static const struct config_word cfg_backend_words[] = {
    {"sqlite", CONFIG_STORE_SQLITE}, {"postgresql", CONFIG_STORE_POSTGRESQL}, {NULL, 0}};

static const struct config_key cfg_table[] = {
    {"opes", "system_uri", CONFIG_STR, "http://localhost:8025/opes", NOLIM, OFF(system_uri),
     .check = cfg_check_uri},
    {"lmtp", "listen", CONFIG_STR, "127.0.0.1:2424", NOLIM, OFF(listen), .check = cfg_check_listen,
     .flags = CONFIG_RESTART},
    {"lmtp", "hostname", CONFIG_STR, "", NOLIM, OFF(hostname)},
    {"lmtp", "user", CONFIG_STR, "", NOLIM, OFF(user), .flags = CONFIG_RESTART},
    {"lmtp", "socket_mode", CONFIG_MODE, "0660", 0, 0777, OFF(socket_mode)},
    {"lmtp", "max_connections", CONFIG_NUM, "100", 1, 10000, OFF(max_connections)},
    {"lmtp", "max_message_size", CONFIG_SIZE, "64M", 1024, (uint64_t)1 << 40,
     OFF(max_message_size)},
    {"lmtp", "max_recipients", CONFIG_NUM, "1000", 100, 100000, OFF(max_recipients)},
    {"lmtp", "max_bad_commands", CONFIG_NUM, "20", 1, 1000, OFF(max_bad_commands)},
    {"lmtp", "max_command_line", CONFIG_SIZE, "4096", 512, 32768, OFF(max_command_line)},
    {"lmtp", "command_timeout", CONFIG_TIME, "300s", 1, 86400, OFF(command_timeout)},
    {"lmtp", "data_timeout", CONFIG_TIME, "300s", 1, 86400, OFF(data_timeout)},
    {"lmtp", "min_data_rate", CONFIG_SIZE, "500", 0, 1 << 20, OFF(min_data_rate)},
    {"lmtp", "processing_timeout", CONFIG_TIME, "300s", 1, 540, OFF(processing_timeout)},
    {"lmtp", "spool_dir", CONFIG_STR, "/var/lib/opesd/spool", NOLIM, OFF(spool_dir)},
    {"lmtp", "spool_memory", CONFIG_SIZE, "256K", 4096, (uint64_t)1 << 30, OFF(spool_memory)},
    {"lmtp", "bare_line_ends", CONFIG_ENUM, "reject", NOLIM, OFF(bare_eol),
     .words = cfg_bare_words},
    {"lmtp", "xforward_hosts", CONFIG_STR, "127.0.0.1 ::1 unix", NOLIM, OFF(xforward_hosts)},
    {"lmtp", "metrics_listen", CONFIG_STR, "", NOLIM, OFF(metrics_listen),
     .check = cfg_check_metrics_listen, .flags = CONFIG_RESTART},
    {"downstream", "target", CONFIG_STR, "lmtp:unix:/run/dovecot/lmtp", NOLIM, OFF(target),
     .check = cfg_check_target},
    {"downstream", "connect_timeout", CONFIG_TIME, "30s", 1, 3600, OFF(down_connect_timeout)},
    {"downstream", "command_timeout", CONFIG_TIME, "300s", 1, 3600, OFF(down_command_timeout)},
    {"downstream", "data_timeout", CONFIG_TIME, "120s", 1, 3600, OFF(down_data_timeout)},
    {"downstream", "data_done_timeout", CONFIG_TIME, "600s", 1, 3600, OFF(down_data_done_timeout)},
    {"downstream", "max_idle", CONFIG_NUM, "32", 0, 1000, OFF(down_max_idle)},
    {"downstream", "idle_timeout", CONFIG_TIME, "30s", 1, 3600, OFF(down_idle_timeout)},
    {"downstream", "maildir_create", CONFIG_BOOL, "no", NOLIM, OFF(maildir_create)},
    {"downstream", "junk_folder", CONFIG_STR, "Junk", NOLIM, OFF(junk_folder),
     .check = cfg_check_folder},
    {"downstream", "recipient_delimiter", CONFIG_STR, "+", NOLIM, OFF(recipient_delimiter),
     .check = cfg_check_delimiter},
    {"downstream", "auth", CONFIG_ENUM, "none", NOLIM, OFF(down_auth), .words = cfg_auth_words},
    {"downstream", "auth_user", CONFIG_STR, "", NOLIM, OFF(down_auth_user),
     .check = cfg_check_auth_user},
    {"downstream", "auth_password_file", CONFIG_STR, "", NOLIM, OFF(down_auth_password_file)},
    {"policy", "blocklist_action", CONFIG_ENUM, "quarantine", NOLIM, OFF(blocklist_action),
     .words = cfg_block_words},
    {"store", "backend", CONFIG_ENUM, "sqlite", NOLIM, OFF(store_backend),
     .words = cfg_backend_words, .flags = CONFIG_RESTART},
    {"store", "path", CONFIG_STR, "/var/lib/opesd/opesd.db", NOLIM, OFF(store_path)},
    {"store", "conninfo", CONFIG_STR, "", NOLIM, OFF(store_conninfo), .check = cfg_check_conninfo,
     .flags = CONFIG_RESTART},
    {"store", "key_file", CONFIG_STR, "/var/lib/opesd/keys", NOLIM, OFF(key_file)},
    {"store", "retention_days", CONFIG_NUM, "30", 1, 3650, OFF(retention_days)},
    {"store", "ledger_days", CONFIG_NUM, "7", 1, 365, OFF(ledger_days)},
    {"store", "job_interval", CONFIG_TIME, "5s", 1, 3600, OFF(job_interval)},
    {"store", "release_max_attempts", CONFIG_NUM, "20", 1, 1000, OFF(release_max_attempts)},
    {"store", "node_name", CONFIG_STR, "", NOLIM, OFF(node_name), .flags = CONFIG_RESTART},
    {"store", "job_lease", CONFIG_TIME, "60s", 2, 3600, OFF(job_lease)},
    {"log", "level", CONFIG_ENUM, "info", NOLIM, OFF(log_level), .words = cfg_level_words},
    {"notify", "from", CONFIG_STR, "", NOLIM, OFF(notify_from), .check = cfg_check_from},
    {"notify", "default_mode", CONFIG_ENUM, "immediate", NOLIM, OFF(notify_default_mode),
     .words = cfg_notify_words},
    {"notify", "digest_schedule", CONFIG_STR, "daily@08", NOLIM, OFF(notify_digest_schedule),
     .check = cfg_check_schedule},
    {"notify", "link_days", CONFIG_NUM, "14", 1, 365, OFF(notify_link_days)},
    {"notify", "link_lifetime", CONFIG_TIME, "0", 0, 365 * 86400, OFF(notify_link_lifetime)},
    {"notify", "login_minutes", CONFIG_NUM, "30", 1, 1440, OFF(notify_login_minutes)},
    {"notify", "login_rate", CONFIG_NUM, "3", 1, 1000, OFF(notify_login_rate)},
    {"notify", "login_rate_global", CONFIG_NUM, "100", 1, 100000, OFF(notify_login_rate_global)},
    {"notify", "batch_window", CONFIG_TIME, "2m", 0, 86400, OFF(notify_batch_window)},
    {"notify", "template_dir", CONFIG_STR, "", NOLIM, OFF(notify_template_dir)},
    {"notify", "skip_lists", CONFIG_BOOL, "yes", NOLIM, OFF(notify_skip_lists)},
    {"notify", "admin_copy", CONFIG_STR, "", NOLIM, OFF(notify_admin_copy),
     .check = cfg_check_address},
    {"notify", "admin_summary", CONFIG_BOOL, "no", NOLIM, OFF(notify_admin_summary)},
    {"notify", "relay", CONFIG_STR, "127.0.0.1:25", NOLIM, OFF(notify_relay),
     .check = cfg_check_relay},
    {"notify", "send_delay", CONFIG_TIME, "0", 0, 60, OFF(notify_send_delay)},
    {"learn", "report_address", CONFIG_STR, "", NOLIM, OFF(learn_report_address),
     .check = cfg_check_address},
    {"dsn", "send", CONFIG_ENUM, "verified", NOLIM, OFF(dsn_send), .words = cfg_dsn_words},
    {"dsn", "trusted_authserv_id", CONFIG_STR, "", NOLIM, OFF(dsn_trusted_authserv_id)},
    {"web", "base_url", CONFIG_STR, "http://127.0.0.1:8025", NOLIM, OFF(web_base_url),
     .check = cfg_check_base_url},
    {"web", "listen", CONFIG_STR, "127.0.0.1:8025", NOLIM, OFF(web_listen),
     .check = cfg_check_web_listen},
    {"web", "threads", CONFIG_NUM, "4", 1, 256, OFF(web_threads)},
    {"web", "max_connections", CONFIG_NUM, "256", 1, 10000, OFF(web_max_connections)},
    {"web", "connection_timeout", CONFIG_TIME, "30s", 1, 3600, OFF(web_connection_timeout)},
    {"web", "max_post", CONFIG_SIZE, "16K", 1024, 1024 * 1024, OFF(web_max_post)},
    {"web", "session_idle", CONFIG_TIME, "30m", 60, 86400, OFF(web_session_idle)},
    {"web", "session_max", CONFIG_TIME, "12h", 60, 30 * 86400, OFF(web_session_max)},
    {"web", "operator", CONFIG_STR, "the operator of this mail system", NOLIM, OFF(web_operator)},
    {"web", "contact", CONFIG_STR, "postmaster", NOLIM, OFF(web_contact)},
    {"web", "privacy_file", CONFIG_STR, "", NOLIM, OFF(web_privacy_file)},
    {"web", "metrics_allow", CONFIG_STR, "127.0.0.1 ::1", NOLIM, OFF(web_metrics_allow)},
    {"web", "login_rate", CONFIG_NUM, "5", 1, 1000, OFF(web_login_rate)},
    {"web", "user", CONFIG_STR, "", NOLIM, OFF(web_user)},
    {"web", "max_client_connections", CONFIG_NUM, "16", 1, 10000, OFF(web_max_client_connections)},
    {"web", "header_timeout", CONFIG_TIME, "10s", 1, 3600, OFF(web_header_timeout)},
    {"web", "trusted_proxies", CONFIG_STR, "", NOLIM, OFF(web_trusted_proxies),
     .check = cfg_check_addr_list},
    {"web", "default_language", CONFIG_STR, "en", NOLIM, OFF(web_default_language),
     .check = cfg_check_language},
    {"web", "default_timezone", CONFIG_STR, "", NOLIM, OFF(web_default_timezone),
     .check = cfg_check_timezone},
    {"web", "catalog_dir", CONFIG_STR, "", NOLIM, OFF(web_catalog_dir)},
    {"web", "password_auth", CONFIG_ENUM, "none", NOLIM, OFF(web_password_auth),
     .words = cfg_passauth_words},
    {"web", "auth_socket", CONFIG_STR, "unix:/run/dovecot/auth-client", NOLIM, OFF(web_auth_socket),
     .check = cfg_check_relay},
    {"web", "imap_server", CONFIG_STR, "127.0.0.1:143", NOLIM, OFF(web_imap_server),
     .check = cfg_check_relay},
    {"web", "imap_tls", CONFIG_BOOL, "no", NOLIM, OFF(web_imap_tls)},
    {"web", "imap_ca_file", CONFIG_STR, "", NOLIM, OFF(web_imap_ca_file)},
    {"web", "auth_username", CONFIG_ENUM, "address", NOLIM, OFF(web_auth_username),
     .words = cfg_authuser_words},
    {"web", "auth_timeout", CONFIG_TIME, "10s", 1, 120, OFF(web_auth_timeout)},
    /* further [web] keys go here */
};
#define CFG_COUNT (sizeof(cfg_table) / sizeof(cfg_table[0]))

struct cfg_load {
    struct opes_config *cfg;
    const char *file;
    FILE *fp;
    int line;
    unsigned char seen[CFG_COUNT];
    int lines[CFG_COUNT]; /* where each key was set */
    char errors[4096];
    size_t errlen;
    unsigned more; /* problems found but not listed */
};

/* cfg_check_base_url - http(s)://host[:port][/path], no trailing slash, no quote or space */
static int cfg_check_base_url(const char *v, const char **reason)
{
    size_t n = strlen(v);

    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        *reason = "must start with http:// or https://";
        return -1;
    }
    if (n > 200 || strcspn(v, " \t\"'<>") != n || v[n - 1] == '/') {
        *reason = "at most 200 characters, no space, quote or angle bracket, no trailing slash";
        return -1;
    }
    return 0;
}

static int cfg_check_listen(const char *v, const char **reason)
{
    struct endpoint eps[16];
    return endpoint_parse_list(v, eps, 16, reason) < 0 ? -1 : 0;
}

/* cfg_check_web_listen - one host:port (the portal listens on TCP only) */
static int cfg_check_web_listen(const char *v, const char **reason)
{
    struct endpoint ep;

    if (endpoint_parse(v, &ep, reason) < 0)
        return -1;
    if (ep.kind != ENDPOINT_INET) {
        *reason = "expected host:port";
        return -1;
    }
    return 0;
}

/* cfg_check_metrics_listen - "" (off) or one loopback address literal with a port */
static int cfg_check_metrics_listen(const char *v, const char **reason)
{
    struct endpoint ep;
    struct in_addr a4;
    struct in6_addr a6;

    if (v[0] == '\0')
        return 0;
    if (cfg_check_web_listen(v, reason) < 0 || endpoint_parse(v, &ep, reason) < 0)
        return -1;
    if ((inet_pton(AF_INET, ep.host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
        (inet_pton(AF_INET6, ep.host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
        return 0;
    *reason = "must be a loopback address (127.0.0.1:PORT or [::1]:PORT)";
    return -1;
}

static int cfg_check_target(const char *v, const char **reason)
{
    struct endpoint ep;

    if (strncmp(v, "lmtp:", 5) == 0)
        return endpoint_parse(v + 5, &ep, reason);
    if (strncmp(v, "maildir:", 8) == 0) {
        if (v[8] == '\0' || (strstr(v, "%u") == NULL && strstr(v, "%a") == NULL)) {
            *reason = "maildir path must contain %u or %a";
            return -1;
        }
        return 0;
    }
    *reason = "expected lmtp:host:port, lmtp:unix:/path or maildir:/dir/%u";
    return -1;
}

/* cfg_check_auth_user - a SASL name: no control characters (it goes into AUTH PLAIN) */
/*
 * cfg_check_conninfo - a libpq connection string without a password, in
 * either form: "keyword=value ..." or a postgresql:// URI (user:password@ or
 * ?password=).
 */
static int cfg_check_conninfo(const char *v, const char **reason)
{
    static const char why[] = "names a password: keep it in a passfile (passfile=... in the "
                              "conninfo, or PGPASSFILE)";
    const char *at = strchr(v, '@');

    if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
        const char *auth = strstr(v, "//") + 2, *query = strchr(v, '?');
        if ((at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL) ||
            (query != NULL &&
             (strstr(query, "?password=") != NULL || strstr(query, "&password=") != NULL))) {
            *reason = why;
            return -1;
        }
        return 0;
    }
    for (const char *p = v; (p = strstr(p, "password")) != NULL; p += 8) {
        const char *e = p + 8;
        if (p != v && p[-1] != ' ' && p[-1] != '\t')
            continue;
        while (*e == ' ' || *e == '\t')
            e++;
        if (*e == '=') {
            *reason = why;
            return -1;
        }
    }
    return cfg_check_auth_user(v, reason);
}

static int cfg_check_auth_user(const char *v, const char **reason)
{
    for (const char *p = v; *p != '\0'; p++) {
        if ((unsigned char)*p < ' ' || *p == 0x7f) {
            *reason = "control characters are not allowed";
            return -1;
        }
    }
    if (strlen(v) > 255) {
        *reason = "longer than 255 characters";
        return -1;
    }
    return 0;
}

static int cfg_check_uri(const char *v, const char **reason)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        *reason = "must be an absolute http:// or https:// URI";
        return -1;
    }
    if (strlen(v) > 256) {
        *reason = "longer than 256 characters (it goes into every message's trace fields)";
        return -1;
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (*p <= ' ' || *p >= 0x7f || strchr("\"<>;,\\", *p) != NULL) {
            *reason = "URI contains a character not allowed in a trace entry";
            return -1;
        }
    }
    return 0;
}

/* cfg_check_address - empty, or local@domain without space, control, quote or bracket */
static int cfg_check_address(const char *v, const char **reason)
{
    const char *at = strchr(v, '@');

    if (*v == '\0')
        return 0;
    for (const char *p = v; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("\"<>(),;\\", *p) != NULL) {
            *reason = "an address must not contain spaces, quotes, brackets or control characters";
            return -1;
        }
    }
    if (at == NULL || at == v || at[1] == '\0' || strlen(v) > 254) {
        *reason = "expected local@domain";
        return -1;
    }
    return 0;
}

/* cfg_check_language - a language code such as "en" or "de" (2 to 8 lower-case letters) */
static int cfg_check_language(const char *v, const char **reason)
{
    size_t n = strlen(v);

    if (n < 2 || n > 8 || strspn(v, "abcdefghijklmnopqrstuvwxyz") != n) {
        *reason = "must be a language code such as en or de";
        return -1;
    }
    return 0;
}

/* cfg_check_timezone - empty (the system's zone) or a zone of the time zone database */
static int cfg_check_timezone(const char *v, const char **reason)
{
    if (v[0] != '\0' && !i18n_tz_valid(v)) {
        *reason = "must name a time zone such as Europe/Berlin (see /usr/share/zoneinfo)";
        return -1;
    }
    return 0;
}

/* cfg_check_addr_list - numeric IPv4 or IPv6 addresses separated by spaces (or nothing) */
static int cfg_check_addr_list(const char *v, const char **reason)
{
    unsigned char bin[16];
    char one[64];

    for (v += strspn(v, " \t,"); *v != '\0'; v += strspn(v, " \t,")) {
        size_t n = strcspn(v, " \t,");
        snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1), v);
        if (n >= sizeof(one) ||
            (inet_pton(AF_INET, one, bin) != 1 && inet_pton(AF_INET6, one, bin) != 1)) {
            *reason = "expected numeric IPv4 or IPv6 addresses separated by spaces";
            return -1;
        }
        v += n;
    }
    return 0;
}

/* cfg_check_from - an address, or "Display Name" <address> */
static int cfg_check_from(const char *v, const char **reason)
{
    const char *lt = strrchr(v, '<');
    char addr[300];
    size_t n;

    for (const char *p = v; *p != '\0'; p++) {
        if ((unsigned char)*p < ' ' || *p == 0x7f) {
            *reason = "control characters are not allowed";
            return -1;
        }
    }
    if (lt == NULL)
        return cfg_check_address(v, reason);
    n = strcspn(lt + 1, ">");
    if (lt[1 + n] != '>' || lt[2 + n] != '\0' || n >= sizeof(addr) || n == 0) {
        *reason = "expected \"Display Name\" <local@domain>";
        return -1;
    }
    memcpy(addr, lt + 1, n);
    addr[n] = '\0';
    return cfg_check_address(addr, reason);
}

/* cfg_check_schedule - "daily@HH" (0-23) or "every Nh" (1-168), as schedule.h reads them */
static int cfg_check_schedule(const char *v, const char **reason)
{
    struct schedule s;

    if (schedule_parse(v, &s) == 0)
        return 0;
    *reason = "expected daily@HH (00-23) or every Nh (1-168)";
    return -1;
}

static int cfg_check_relay(const char *v, const char **reason)
{
    struct endpoint ep;

    if (*v == '\0')
        return 0;
    return endpoint_parse(v, &ep, reason);
}

/* cfg_unit - a multiplier for one suffix letter: "kKmMgG" for sizes, "smhd" for times. */
struct cfg_unit {
    char suffix;
    uint64_t mul;
};

/* cfg_parse_scaled - digits, then at most one suffix of units (NUL-ended
 * table); no suffix means 1. -1 when malformed or over UINT64_MAX. */
static int cfg_parse_scaled(const char *s, const struct cfg_unit *units, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        const struct cfg_unit *u = units;
        while (u->suffix != '\0' && u->suffix != *end)
            u++;
        if (u->suffix == '\0' || end[1] != '\0')
            return -1;
        mul = u->mul;
    }
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
    static const struct cfg_unit units[] = {{'k', 1024},
                                            {'K', 1024},
                                            {'m', 1024 * 1024},
                                            {'M', 1024 * 1024},
                                            {'g', 1024 * 1024 * 1024},
                                            {'G', 1024 * 1024 * 1024},
                                            {'\0', 0}};

    return cfg_parse_scaled(s, units, out);
}

int config_parse_time(const char *s, uint64_t *out)
{
    static const struct cfg_unit units[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'\0', 0}};

    return cfg_parse_scaled(s, units, out);
}

static int cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* cfg_expected - "expected a, b or c" for a word table (thread-local buffer). */
static const char *cfg_expected(const struct config_word *words, const char *head)
{
    static _Thread_local char buf[256];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "%s", head);

    for (size_t i = 0; words[i].word != NULL && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
                              i == 0                      ? ""
                              : words[i + 1].word == NULL ? " or "
                                                          : ", ",
                              words[i].word);
    return buf;
}

/* cfg_word - the value of word in words, or -1. */
static int cfg_word(const struct config_word *words, const char *word, size_t len)
{
    for (size_t i = 0; words[i].word != NULL; i++)
        if (strlen(words[i].word) == len && strncmp(words[i].word, word, len) == 0)
            return words[i].value;
    return -1;
}

/* cfg_flags - "w1, w2 w3" into a mask of the words' values; -1 on an unknown word. */
static int cfg_flags(const struct config_word *words, const char *s, unsigned *mask)
{
    *mask = 0;
    while (*s != '\0') {
        size_t n = strcspn(s, ", \t");
        int v;
        if (n == 0) {
            s++;
            continue;
        }
        if ((v = cfg_word(words, s, n)) < 0)
            return -1;
        *mask |= (unsigned)v;
        s += n;
    }
    return 0;
}

/* cfg_bad - the key's own reason when it has one, else the type's. */
static int cfg_bad(const struct config_key *k, const char *type_reason, const char **reason)
{
    *reason = k->why != NULL ? k->why : type_reason;
    return -1;
}

int config_key_set(void *obj, const struct config_key *k, const char *value, const char **reason)
{
    void *field = (char *)obj + k->offset;
    uint64_t num = 0;
    char *end;
    int v;

    switch (k->type) {
    case CONFIG_STR:
        if (k->check != NULL && k->check(value, reason) < 0)
            return -1;
        free(*(char **)field);
        *(char **)field = strdup(value);
        if (*(char **)field == NULL)
            fatal("strdup");
        return 0;
    case CONFIG_BOOL:
        if (cfg_parse_bool(value, (bool *)field) < 0)
            return cfg_bad(k, "expected yes or no", reason);
        return 0;
    case CONFIG_ENUM:
        if ((v = cfg_word(k->words, value, strlen(value))) < 0)
            return cfg_bad(k, cfg_expected(k->words, "expected "), reason);
        *(int *)field = v;
        return 0;
    case CONFIG_FLAGS:
        if (cfg_flags(k->words, value, (unsigned *)field) < 0)
            return cfg_bad(k, cfg_expected(k->words, "expected any of "), reason);
        return 0;
    case CONFIG_PARSE:
        return k->parse(field, value, reason);
    case CONFIG_NUM:
        if (*value < '0' || *value > '9' || (num = strtoull(value, &end, 10), *end != '\0'))
            return cfg_bad(k, "expected a number", reason);
        break;
    case CONFIG_SIZE:
        if (config_parse_size(value, &num) < 0)
            return cfg_bad(k, "expected a size such as 512K, 10M or 1G", reason);
        break;
    case CONFIG_TIME:
        if (config_parse_time(value, &num) < 0)
            return cfg_bad(k, "expected a duration such as 30s, 5m or 1h", reason);
        break;
    case CONFIG_MODE:
        if (*value < '0' || *value > '7' || (num = strtoull(value, &end, 8), *end != '\0'))
            return cfg_bad(k, "expected an octal mode such as 0660", reason);
        break;
    }
    if (num < k->min || num > k->max)
        return cfg_bad(k, "value out of range", reason);
    *(uint64_t *)field = num;
    return 0;
}

const struct config_key *config_key_find(const struct config_key *t, size_t n, const char *section,
                                         const char *key)
{
    for (size_t i = 0; i < n; i++)
        if ((section == NULL || strcmp(t[i].section, section) == 0) && strcmp(t[i].key, key) == 0)
            return &t[i];
    return NULL;
}

int config_word_value(const struct config_word *words, const char *word)
{
    return cfg_word(words, word, strlen(word));
}

const char *config_word_name(const struct config_word *words, int value)
{
    for (size_t i = 0; words[i].word != NULL; i++)
        if (words[i].value == value)
            return words[i].word;
    return "?";
}

void config_words_format(const struct config_word *words, unsigned mask, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    if (mask == 0) {
        snprintf(buf, size, "%s", config_word_name(words, 0));
        return;
    }
    for (size_t i = 0; words[i].word != NULL && o < size; i++)
        if (words[i].value != 0 && (mask & (unsigned)words[i].value) == (unsigned)words[i].value)
            o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", words[i].word);
}

const char *config_notify_mode_name(enum config_notify_mode mode)
{
    return config_word_name(cfg_notify_words, (int)mode);
}

void config_key_format(const void *obj, const struct config_key *k, char *buf, size_t size)
{
    const void *field = (const char *)obj + k->offset;
    unsigned long long v = 0;

    if (k->type == CONFIG_NUM || k->type == CONFIG_SIZE || k->type == CONFIG_TIME ||
        k->type == CONFIG_MODE)
        v = *(const uint64_t *)field;
    switch (k->type) {
    case CONFIG_STR:
        snprintf(buf, size, "%s", *(char *const *)field);
        break;
    case CONFIG_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "yes" : "no");
        break;
    case CONFIG_ENUM:
        snprintf(buf, size, "%s", config_word_name(k->words, *(const int *)field));
        break;
    case CONFIG_FLAGS:
        config_words_format(k->words, *(const unsigned *)field, buf, size);
        break;
    case CONFIG_TIME:
        snprintf(buf, size, "%llus", v);
        break;
    case CONFIG_MODE:
        snprintf(buf, size, "%04llo", v);
        break;
    case CONFIG_PARSE:
        snprintf(buf, size, "?");
        break;
    default:
        snprintf(buf, size, "%llu", v);
        break;
    }
}

/* cfg_error - add one "file:line: key: reason" line; past the buffer, only count. */
static void cfg_error(struct cfg_load *ld, const char *key, const char *reason)
{
    size_t room = sizeof(ld->errors) - 128 - ld->errlen; /* 128: the "more problems" line */
    int n = snprintf(ld->errors + ld->errlen, room, "%s%s:%d: %s: %s", ld->errlen ? "\n" : "",
                     ld->file, ld->line, key, reason);

    if (ld->errlen >= sizeof(ld->errors) - 128 || n < 0 || (size_t)n >= room) {
        ld->errors[ld->errlen] = '\0';
        ld->more++;
        return;
    }
    ld->errlen += (size_t)n;
}

/* cfg_line_ok - blank, comment, [section], continuation, or key = value. */
static int cfg_line_ok(const char *line)
{
    const char *p = line;

    if (strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, which inih skips too */
    if (*p == ' ' || *p == '\t')
        return 1; /* a continuation line (or indentation) */
    while (*p == '\r' || *p == '\n')
        p++;
    if (*p == '\0' || *p == ';' || *p == '#')
        return 1;
    if (*p == '[')
        return strchr(p, ']') != NULL;
    return strchr(p, '=') != NULL || strchr(p, ':') != NULL;
}

/* cfg_reader - fgets for inih that counts lines and notices overlong ones. */
static char *cfg_reader(char *str, int num, void *stream)
{
    struct cfg_load *ld = stream;
    char *r = fgets(str, num, ld->fp);
    size_t len;

    if (r == NULL)
        return NULL;
    ld->line++;
    len = strlen(str);
    if (len == (size_t)num - 1 && str[len - 1] != '\n') {
        int c;
        cfg_error(ld, "(line)", "line too long");
        while ((c = fgetc(ld->fp)) != EOF && c != '\n')
            ;
        str[0] = '\0';
    } else if (!cfg_line_ok(str)) {
        /* reported here, in line order, rather than by inih at the end */
        cfg_error(ld, "(syntax)", "expected [section] or key = value");
        str[0] = '\0';
    }
    return r;
}

/* cfg_service_kv - keep a [service.NAME] key for the agent to check. */
static int cfg_service_kv(struct cfg_load *ld, const char *service, const char *name,
                          const char *value)
{
    struct opes_config *cfg = ld->cfg;
    struct config_kv *kv;

    if (*service == '\0' || strlen(service) > 48 ||
        strspn(service, "abcdefghijklmnopqrstuvwxyz"
                        "0123456789-_") != strlen(service)) {
        cfg_error(ld, "service", "service names use a-z, 0-9, - and _ (at most 48)");
        return 1;
    }
    cfg->service_kv = vec_reserve(cfg->service_kv, &cfg->cap_service_kv, cfg->n_service_kv + 1,
                                  sizeof(*cfg->service_kv));
    kv = &cfg->service_kv[cfg->n_service_kv++];
    kv->section = strdup(service);
    kv->key = strdup(name);
    kv->value = strdup(value);
    kv->line = ld->line;
    if (kv->section == NULL || kv->key == NULL || kv->value == NULL)
        fatal("strdup");
    return 1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_load *ld = user;
    const char *reason = NULL;
    char key[128];

    snprintf(key, sizeof(key), "%s.%s", section, name);
    if (strncmp(section, "service.", 8) == 0)
        return cfg_service_kv(ld, section + 8, name, value);
    for (size_t i = 0; i < CFG_COUNT; i++) {
        const struct config_key *e = &cfg_table[i];
        if (strcmp(e->section, section) != 0 || strcmp(e->key, name) != 0)
            continue;
        if (ld->seen[i]) {
            cfg_error(ld, key, "set more than once");
            return 1;
        }
        ld->seen[i] = 1;
        ld->lines[i] = ld->line;
        if (config_key_set(ld->cfg, e, value, &reason) < 0)
            cfg_error(ld, key, reason);
        return 1;
    }
    cfg_error(ld, key, "unknown key");
    return 1;
}

/* cfg_line_of - the line that set section.key, or 0 (the default). */
static int cfg_line_of(const struct cfg_load *ld, const char *section, const char *key)
{
    for (size_t i = 0; i < CFG_COUNT; i++)
        if (strcmp(cfg_table[i].section, section) == 0 && strcmp(cfg_table[i].key, key) == 0)
            return ld->lines[i];
    return 0;
}

/* cfg_check_keys - rules that involve more than one key. */
/*
 * cfg_check_catalogs - load the message catalogs with the operator's
 * catalog_dir (once per process: a changed directory needs a restart), and
 * check that default_language has one.
 */
static void cfg_check_catalogs(struct cfg_load *ld)
{
    const struct opes_config *cfg = ld->cfg;
    char error[512], reason[600];

    if (i18n_init(cfg->web_catalog_dir, error, sizeof(error)) < 0) {
        ld->line = cfg_line_of(ld, "web", "catalog_dir");
        cfg_error(ld, "web.catalog_dir", error);
    } else if (!i18n_language_known(cfg->web_default_language)) {
        ld->line = cfg_line_of(ld, "web", "default_language");
        snprintf(reason, sizeof(reason), "no catalog for %s (there are: %s)",
                 cfg->web_default_language, i18n_languages());
        cfg_error(ld, "web.default_language", reason);
    }
}

/*
 * cfg_check_imap - the IMAP server that checks passwords is on this machine
 * (127.0.0.0/8, ::1, localhost or a unix socket) unless imap_tls is on: the
 * password would otherwise cross the network in clear.
 */
static void cfg_check_imap(struct cfg_load *ld)
{
    const struct opes_config *cfg = ld->cfg;
    struct endpoint ep;
    const char *error;

    if (cfg->web_imap_tls || endpoint_parse(cfg->web_imap_server, &ep, &error) < 0 ||
        ep.kind == ENDPOINT_UNIX || strncmp(ep.host, "127.", 4) == 0 ||
        strcmp(ep.host, "::1") == 0 || strcmp(ep.host, "localhost") == 0)
        return;
    ld->line = cfg_line_of(ld, "web", "imap_server");
    cfg_error(ld, "web.imap_server",
              "not on this machine: set imap_tls = yes (the password would cross the network "
              "in clear)");
}

static void cfg_check_keys(struct cfg_load *ld)
{
    const struct opes_config *cfg = ld->cfg;

    if (cfg->down_auth != CONFIG_AUTH_NONE && strncmp(cfg->target, "lmtp:", 5) != 0) {
        ld->line = cfg_line_of(ld, "downstream", "auth");
        cfg_error(ld, "downstream.auth", "only an lmtp: target authenticates");
    }
    if (cfg->down_auth == CONFIG_AUTH_PLAIN) {
        ld->line = cfg_line_of(ld, "downstream", "auth");
        if (cfg->down_auth_user[0] == '\0')
            cfg_error(ld, "downstream.auth_user", "auth = plain needs auth_user");
        if (cfg->down_auth_password_file[0] == '\0')
            cfg_error(ld, "downstream.auth_password_file", "auth = plain needs auth_password_file");
    }
    cfg_check_catalogs(ld);
    cfg_check_imap(ld);
}

static void cfg_free(struct opes_config *cfg)
{
    for (size_t i = 0; i < CFG_COUNT; i++)
        if (cfg_table[i].type == CONFIG_STR)
            free(*(char **)((char *)cfg + cfg_table[i].offset));
    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        free(cfg->service_kv[i].section);
        free(cfg->service_kv[i].key);
        free(cfg->service_kv[i].value);
    }
    free(cfg->service_kv);
    free(cfg->path);
    free(cfg);
}

/* cfg_derive - fill the derived fields once every key is known. */
static void cfg_derive(struct opes_config *cfg)
{
    if (cfg->hostname[0] == '\0') {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        free(cfg->hostname);
        cfg->hostname = strdup(host);
        if (cfg->hostname == NULL)
            fatal("strdup");
    }
}

struct opes_config *config_load(const char *path, const char **error_r)
{
    static _Thread_local char errbuf[4096];
    struct cfg_load *ld = calloc(1, sizeof(*ld));
    struct opes_config *cfg = calloc(1, sizeof(*cfg));
    const char *reason;

    if (ld == NULL || cfg == NULL)
        fatal("calloc");
    ld->cfg = cfg;
    ld->file = path != NULL ? path : "(defaults)";
    for (size_t i = 0; i < CFG_COUNT; i++)
        if (config_key_set(cfg, &cfg_table[i], cfg_table[i].def, &reason) < 0)
            fatalx("built-in default of %s.%s: %s", cfg_table[i].section, cfg_table[i].key, reason);
    if (path != NULL) {
        cfg->path = strdup(path);
        ld->fp = fopen(path, "r");
        if (ld->fp == NULL) {
            snprintf(ld->errors, sizeof(ld->errors), "%s: cannot open: %m", path);
            ld->errlen = strlen(ld->errors);
        } else {
            int rc = ini_parse_stream(cfg_reader, ld, cfg_handler, ld);
            fclose(ld->fp);
            if (rc > 0 && ld->errlen == 0) {
                ld->line = rc;
                cfg_error(ld, "(syntax)", "expected [section] or key = value");
            }
        }
    }
    if (ld->errlen == 0 && ld->more == 0)
        cfg_check_keys(ld);
    if (ld->errlen != 0 || ld->more != 0) {
        snprintf(errbuf, sizeof(errbuf), "%s", ld->errors);
        if (ld->more != 0)
            snprintf(errbuf + strlen(errbuf), sizeof(errbuf) - strlen(errbuf),
                     "\n%s: %u more problems not shown", ld->file, ld->more);
        *error_r = errbuf;
        free(ld);
        cfg_free(cfg);
        return NULL;
    }
    free(ld);
    cfg_derive(cfg);
    cfg->refs = 1;
    return cfg;
}

size_t config_restart_keys(const struct opes_config *old, const struct opes_config *cfg, char *buf,
                           size_t size)
{
    const struct config_key *changed[CFG_COUNT];
    char a[4096], b[4096];
    size_t n = 0, o = 0;

    for (size_t i = 0; i < CFG_COUNT; i++) {
        if ((cfg_table[i].flags & CONFIG_RESTART) == 0)
            continue;
        config_key_format(old, &cfg_table[i], a, sizeof(a));
        config_key_format(cfg, &cfg_table[i], b, sizeof(b));
        if (strcmp(a, b) != 0)
            changed[n++] = &cfg_table[i];
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s.%s",
                              i == 0       ? ""
                              : i + 1 == n ? " and "
                                           : ", ",
                              changed[i]->section, changed[i]->key);
    return n;
}

struct opes_config *config_ref(struct opes_config *cfg)
{
    __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_SEQ_CST);
    return cfg;
}

void config_unref(struct opes_config **cfgp)
{
    struct opes_config *cfg = *cfgp;

    *cfgp = NULL;
    if (cfg != NULL && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_SEQ_CST) == 0)
        cfg_free(cfg);
}

const char *config_dsn_warning(const struct opes_config *cfg)
{
    if (cfg->dsn_send != CONFIG_DSN_NEVER && cfg->notify_relay[0] == '\0')
        return "[notify] relay is empty: held mail that expires or cannot be released gets no "
               "non-delivery report (set relay, or [dsn] send = never)";
    return NULL;
}

const char *config_system_uri_warning(const struct opes_config *cfg)
{
    const char *host = strstr(cfg->system_uri, "://");
    char h[256];
    size_t n;

    if (host == NULL)
        return NULL;
    host += 3;
    if (*host == '[') /* an IPv6 literal */
        n = strcspn(host, "]") + 1;
    else
        n = strcspn(host, ":/?#");
    if (n >= sizeof(h))
        return NULL;
    for (size_t i = 0; i < n; i++)
        h[i] = (char)tolower((unsigned char)host[i]);
    h[n] = '\0';
    n = strlen(h);
    if (strcmp(h, "localhost") == 0 || (n > 10 && strcmp(h + n - 10, ".localhost") == 0) ||
        strcmp(h, "localhost.localdomain") == 0 || strncmp(h, "127.", 4) == 0 ||
        strcmp(h, "[::1]") == 0 || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "[::]") == 0)
        return "[opes] system_uri names this host's loopback, which no recipient can open: "
               "set it to the public address of the portal's /opes page "
               "(it goes into every message's OPES-System and OPES-Via fields)";
    return NULL;
}

void config_print(const struct opes_config *cfg, FILE *out)
{
    const char *section = "";
    char value[4096];

    for (size_t i = 0; i < CFG_COUNT; i++) {
        const struct config_key *e = &cfg_table[i];

        if (strcmp(section, e->section) != 0) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", e->section);
            section = e->section;
        }
        if (e->type == CONFIG_STR) /* may be longer than any buffer */
            fprintf(out, "%s = %s\n", e->key, *(char *const *)((const char *)cfg + e->offset));
        else {
            config_key_format(cfg, e, value, sizeof(value));
            fprintf(out, "%s = %s\n", e->key, value);
        }
    }
    section = "";
    for (size_t i = 0; i < cfg->n_service_kv; i++) {
        const struct config_kv *kv = &cfg->service_kv[i];
        if (strcmp(section, kv->section) != 0) {
            fprintf(out, "\n[service.%s]\n", kv->section);
            section = kv->section;
        }
        fprintf(out, "%s = %s\n", kv->key, kv->value);
    }
}
