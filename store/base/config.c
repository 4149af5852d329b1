/*
 * config.c - the table-driven INI configuration.
 *
 * One table lists every key with its type, default and bounds; defaults are
 * parsed by the same code as file values. inih does the INI syntax; a
 * counting reader gives each value its line number so that errors read
 * "file:line: key: reason".
 */
#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "opes/schedule.h"

#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum cfg_type { CFG_STR, CFG_NUM, CFG_SIZE, CFG_TIME, CFG_BOOL, CFG_MODE };

struct cfg_entry {
    const char *section;
    const char *key;
    enum cfg_type type;
    const char *def;
    uint64_t min, max;
    size_t offset;
    int (*check)(const char *value, const char **reason);
};

static int cfg_check_base_url(const char *v, const char **reason);
static int cfg_check_listen(const char *v, const char **reason);
static int cfg_check_web_listen(const char *v, const char **reason);
static int cfg_check_target(const char *v, const char **reason);
static int cfg_check_uri(const char *v, const char **reason);
static int cfg_check_bare(const char *v, const char **reason);
static int cfg_check_level(const char *v, const char **reason);
static int cfg_check_blockaction(const char *v, const char **reason);
static int cfg_check_from(const char *v, const char **reason);
static int cfg_check_mode(const char *v, const char **reason);
static int cfg_check_schedule(const char *v, const char **reason);
static int cfg_check_address(const char *v, const char **reason);
static int cfg_check_relay(const char *v, const char **reason);
static int cfg_check_auth(const char *v, const char **reason);
static int cfg_check_auth_user(const char *v, const char **reason);

#define OFF(f) offsetof(struct opes_config, f)
#define NOLIM 0, UINT64_MAX

static const struct cfg_entry cfg_table[] = {
    {"opes", "system_uri", CFG_STR, "http://localhost:8025/opes", NOLIM, OFF(system_uri),
     cfg_check_uri},
    {"lmtp", "listen", CFG_STR, "127.0.0.1:2424", NOLIM, OFF(listen), cfg_check_listen},
    {"lmtp", "hostname", CFG_STR, "", NOLIM, OFF(hostname), NULL},
    {"lmtp", "user", CFG_STR, "", NOLIM, OFF(user), NULL},
    {"lmtp", "socket_mode", CFG_MODE, "0660", 0, 0777, OFF(socket_mode), NULL},
    {"lmtp", "max_connections", CFG_NUM, "100", 1, 10000, OFF(max_connections), NULL},
    {"lmtp", "max_message_size", CFG_SIZE, "64M", 1024, (uint64_t)1 << 40, OFF(max_message_size),
     NULL},
    {"lmtp", "max_recipients", CFG_NUM, "1000", 100, 100000, OFF(max_recipients), NULL},
    {"lmtp", "max_bad_commands", CFG_NUM, "20", 1, 1000, OFF(max_bad_commands), NULL},
    {"lmtp", "max_command_line", CFG_SIZE, "4096", 512, 32768, OFF(max_command_line), NULL},
    {"lmtp", "command_timeout", CFG_TIME, "300s", 1, 86400, OFF(command_timeout), NULL},
    {"lmtp", "data_timeout", CFG_TIME, "300s", 1, 86400, OFF(data_timeout), NULL},
    {"lmtp", "min_data_rate", CFG_SIZE, "500", 0, 1 << 20, OFF(min_data_rate), NULL},
    {"lmtp", "processing_timeout", CFG_TIME, "300s", 1, 540, OFF(processing_timeout), NULL},
    {"lmtp", "spool_dir", CFG_STR, "/var/lib/opesd/spool", NOLIM, OFF(spool_dir), NULL},
    {"lmtp", "spool_memory", CFG_SIZE, "256K", 4096, (uint64_t)1 << 30, OFF(spool_memory), NULL},
    {"lmtp", "bare_line_ends", CFG_STR, "reject", NOLIM, OFF(bare_line_ends), cfg_check_bare},
    {"lmtp", "xforward_hosts", CFG_STR, "127.0.0.1 ::1 unix", NOLIM, OFF(xforward_hosts), NULL},
    {"downstream", "target", CFG_STR, "lmtp:unix:/run/dovecot/lmtp", NOLIM, OFF(target),
     cfg_check_target},
    {"downstream", "connect_timeout", CFG_TIME, "30s", 1, 3600, OFF(down_connect_timeout), NULL},
    {"downstream", "command_timeout", CFG_TIME, "300s", 1, 3600, OFF(down_command_timeout), NULL},
    {"downstream", "data_timeout", CFG_TIME, "120s", 1, 3600, OFF(down_data_timeout), NULL},
    {"downstream", "data_done_timeout", CFG_TIME, "600s", 1, 3600, OFF(down_data_done_timeout),
     NULL},
    {"downstream", "max_idle", CFG_NUM, "32", 0, 1000, OFF(down_max_idle), NULL},
    {"downstream", "idle_timeout", CFG_TIME, "30s", 1, 3600, OFF(down_idle_timeout), NULL},
    {"downstream", "maildir_create", CFG_BOOL, "no", NOLIM, OFF(maildir_create), NULL},
    {"downstream", "auth", CFG_STR, "none", NOLIM, OFF(down_auth), cfg_check_auth},
    {"downstream", "auth_user", CFG_STR, "", NOLIM, OFF(down_auth_user), cfg_check_auth_user},
    {"downstream", "auth_password_file", CFG_STR, "", NOLIM, OFF(down_auth_password_file), NULL},
    {"policy", "blocklist_action", CFG_STR, "quarantine", NOLIM, OFF(blocklist_action),
     cfg_check_blockaction},
    {"store", "path", CFG_STR, "/var/lib/opesd/opesd.db", NOLIM, OFF(store_path), NULL},
    {"store", "key_file", CFG_STR, "/var/lib/opesd/keys", NOLIM, OFF(key_file), NULL},
    {"store", "retention_days", CFG_NUM, "30", 1, 3650, OFF(retention_days), NULL},
    {"store", "job_interval", CFG_TIME, "5s", 1, 3600, OFF(job_interval), NULL},
    {"store", "release_max_attempts", CFG_NUM, "20", 1, 1000, OFF(release_max_attempts), NULL},
    {"log", "level", CFG_STR, "info", NOLIM, OFF(log_level), cfg_check_level},
    {"notify", "from", CFG_STR, "", NOLIM, OFF(notify_from), cfg_check_from},
    {"notify", "default_mode", CFG_STR, "immediate", NOLIM, OFF(notify_default_mode),
     cfg_check_mode},
    {"notify", "digest_schedule", CFG_STR, "daily@08", NOLIM, OFF(notify_digest_schedule),
     cfg_check_schedule},
    {"notify", "link_days", CFG_NUM, "14", 1, 365, OFF(notify_link_days), NULL},
    {"notify", "link_lifetime", CFG_TIME, "0", 0, 365 * 86400, OFF(notify_link_lifetime), NULL},
    {"notify", "login_minutes", CFG_NUM, "30", 1, 1440, OFF(notify_login_minutes), NULL},
    {"notify", "login_rate", CFG_NUM, "3", 1, 1000, OFF(notify_login_rate), NULL},
    {"notify", "login_rate_global", CFG_NUM, "100", 1, 100000, OFF(notify_login_rate_global), NULL},
    {"notify", "template_dir", CFG_STR, "", NOLIM, OFF(notify_template_dir), NULL},
    {"notify", "skip_lists", CFG_BOOL, "yes", NOLIM, OFF(notify_skip_lists), NULL},
    {"notify", "admin_copy", CFG_STR, "", NOLIM, OFF(notify_admin_copy), cfg_check_address},
    {"notify", "admin_summary", CFG_BOOL, "no", NOLIM, OFF(notify_admin_summary), NULL},
    {"notify", "relay", CFG_STR, "", NOLIM, OFF(notify_relay), cfg_check_relay},
    {"notify", "send_delay", CFG_TIME, "0", 0, 60, OFF(notify_send_delay), NULL},
    {"web", "base_url", CFG_STR, "http://127.0.0.1:8025", NOLIM, OFF(web_base_url),
     cfg_check_base_url},
    {"web", "listen", CFG_STR, "127.0.0.1:8025", NOLIM, OFF(web_listen), cfg_check_web_listen},
    {"web", "threads", CFG_NUM, "4", 1, 256, OFF(web_threads), NULL},
    {"web", "max_connections", CFG_NUM, "256", 1, 10000, OFF(web_max_connections), NULL},
    {"web", "connection_timeout", CFG_TIME, "30s", 1, 3600, OFF(web_connection_timeout), NULL},
    {"web", "max_post", CFG_SIZE, "16K", 1024, 1024 * 1024, OFF(web_max_post), NULL},
    {"web", "session_idle", CFG_TIME, "30m", 60, 86400, OFF(web_session_idle), NULL},
    {"web", "session_max", CFG_TIME, "12h", 60, 30 * 86400, OFF(web_session_max), NULL},
    {"web", "operator", CFG_STR, "the operator of this mail system", NOLIM, OFF(web_operator),
     NULL},
    {"web", "contact", CFG_STR, "postmaster", NOLIM, OFF(web_contact), NULL},
    {"web", "privacy_file", CFG_STR, "", NOLIM, OFF(web_privacy_file), NULL},
    {"web", "metrics_allow", CFG_STR, "127.0.0.1 ::1", NOLIM, OFF(web_metrics_allow), NULL},
    {"web", "login_rate", CFG_NUM, "5", 1, 1000, OFF(web_login_rate), NULL},
    {"web", "user", CFG_STR, "", NOLIM, OFF(web_user), NULL},
    /* further [web] keys go here */
};
#define CFG_COUNT (sizeof(cfg_table) / sizeof(cfg_table[0]))

struct cfg_load {
    struct opes_config *cfg;
    const char *file;
    FILE *fp;
    int line;
    int overlong;
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

static int cfg_check_auth(const char *v, const char **reason)
{
    if (strcmp(v, "none") == 0 || strcmp(v, "plain") == 0 || strcmp(v, "external") == 0)
        return 0;
    *reason = "expected none, plain or external";
    return -1;
}

/* cfg_check_auth_user - a SASL name: no control characters (it goes into AUTH PLAIN) */
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

static int cfg_check_bare(const char *v, const char **reason)
{
    if (strcmp(v, "reject") == 0 || strcmp(v, "normalize") == 0)
        return 0;
    *reason = "expected reject or normalize";
    return -1;
}

static int cfg_check_blockaction(const char *v, const char **reason)
{
    if (strcmp(v, "quarantine") == 0 || strcmp(v, "reject") == 0)
        return 0;
    *reason = "expected quarantine or reject";
    return -1;
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

static int cfg_check_mode(const char *v, const char **reason)
{
    if (strcmp(v, "immediate") == 0 || strcmp(v, "digest") == 0 || strcmp(v, "off") == 0)
        return 0;
    *reason = "expected immediate, digest or off";
    return -1;
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

static int cfg_check_level(const char *v, const char **reason)
{
    if (log_level_parse(v) >= 0)
        return 0;
    *reason = "expected err, warn, info or debug";
    return -1;
}

int config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1024;
            break;
        case 'm':
        case 'M':
            mul = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mul = 1024 * 1024 * 1024;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int config_parse_time(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        switch (*end) {
        case 's':
            mul = 1;
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        case 'd':
            mul = 86400;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
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

/* cfg_set - parse value for entry e into cfg; 0 or -1 with *reason. */
static int cfg_set(struct opes_config *cfg, const struct cfg_entry *e, const char *value,
                   const char **reason)
{
    void *field = (char *)cfg + e->offset;
    uint64_t num = 0;
    char *end;

    switch (e->type) {
    case CFG_STR:
        if (e->check != NULL && e->check(value, reason) < 0)
            return -1;
        free(*(char **)field);
        *(char **)field = strdup(value);
        if (*(char **)field == NULL)
            fatal("strdup");
        return 0;
    case CFG_BOOL:
        if (cfg_parse_bool(value, (bool *)field) < 0) {
            *reason = "expected yes or no";
            return -1;
        }
        return 0;
    case CFG_NUM:
        if (*value < '0' || *value > '9' || (num = strtoull(value, &end, 10), *end != '\0')) {
            *reason = "expected a number";
            return -1;
        }
        break;
    case CFG_SIZE:
        if (config_parse_size(value, &num) < 0) {
            *reason = "expected a size such as 512K, 10M or 1G";
            return -1;
        }
        break;
    case CFG_TIME:
        if (config_parse_time(value, &num) < 0) {
            *reason = "expected a duration such as 30s, 5m or 1h";
            return -1;
        }
        break;
    case CFG_MODE:
        if (*value < '0' || *value > '7' || (num = strtoull(value, &end, 8), *end != '\0')) {
            *reason = "expected an octal mode such as 0660";
            return -1;
        }
        break;
    }
    if (num < e->min || num > e->max) {
        *reason = "value out of range";
        return -1;
    }
    *(uint64_t *)field = num;
    return 0;
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
    if (cfg->n_service_kv % 16 == 0) {
        kv = realloc(cfg->service_kv, (cfg->n_service_kv + 16) * sizeof(*kv));
        if (kv == NULL)
            fatal("realloc");
        cfg->service_kv = kv;
    }
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
        const struct cfg_entry *e = &cfg_table[i];
        if (strcmp(e->section, section) != 0 || strcmp(e->key, name) != 0)
            continue;
        if (ld->seen[i]) {
            cfg_error(ld, key, "set more than once");
            return 1;
        }
        ld->seen[i] = 1;
        ld->lines[i] = ld->line;
        if (cfg_set(ld->cfg, e, value, &reason) < 0)
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
static void cfg_check_keys(struct cfg_load *ld)
{
    const struct opes_config *cfg = ld->cfg;

    if (strcmp(cfg->down_auth, "none") != 0 && strncmp(cfg->target, "lmtp:", 5) != 0) {
        ld->line = cfg_line_of(ld, "downstream", "auth");
        cfg_error(ld, "downstream.auth", "only an lmtp: target authenticates");
    }
    if (strcmp(cfg->down_auth, "plain") == 0) {
        ld->line = cfg_line_of(ld, "downstream", "auth");
        if (cfg->down_auth_user[0] == '\0')
            cfg_error(ld, "downstream.auth_user", "auth = plain needs auth_user");
        if (cfg->down_auth_password_file[0] == '\0')
            cfg_error(ld, "downstream.auth_password_file", "auth = plain needs auth_password_file");
    }
}

static void cfg_free(struct opes_config *cfg)
{
    for (size_t i = 0; i < CFG_COUNT; i++)
        if (cfg_table[i].type == CFG_STR)
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
    cfg->bare_eol = strcmp(cfg->bare_line_ends, "normalize") == 0 ? CONFIG_BARE_EOL_NORMALIZE
                                                                  : CONFIG_BARE_EOL_REJECT;
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
        if (cfg_set(cfg, &cfg_table[i], cfg_table[i].def, &reason) < 0)
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

void config_print(const struct opes_config *cfg, FILE *out)
{
    const char *section = "";

    for (size_t i = 0; i < CFG_COUNT; i++) {
        const struct cfg_entry *e = &cfg_table[i];
        const void *field = (const char *)cfg + e->offset;
        unsigned long long v = 0;

        if (strcmp(section, e->section) != 0) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", e->section);
            section = e->section;
        }
        fprintf(out, "%s = ", e->key);
        if (e->type != CFG_STR && e->type != CFG_BOOL)
            v = *(const uint64_t *)field;
        switch (e->type) {
        case CFG_STR:
            fprintf(out, "%s\n", *(char *const *)field);
            break;
        case CFG_BOOL:
            fprintf(out, "%s\n", *(const bool *)field ? "yes" : "no");
            break;
        case CFG_TIME:
            fprintf(out, "%llus\n", v);
            break;
        case CFG_MODE:
            fprintf(out, "%04llo\n", v);
            break;
        default:
            fprintf(out, "%llu\n", v);
            break;
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
