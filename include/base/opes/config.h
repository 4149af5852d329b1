/*
 * config.h - the INI configuration shared by opesd, opes-web and opesctl.
 *
 * The file is read in one pass against a table of {section, key, type,
 * default, min, max}; every problem is reported as "file:line: key: reason".
 * A loaded configuration is immutable and reference counted, so that a reload
 * (SIGHUP) can swap it while sessions still use the old one.
 */
#ifndef OPES_CONFIG_H
#define OPES_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum config_bare_eol { CONFIG_BARE_EOL_REJECT, CONFIG_BARE_EOL_NORMALIZE };

struct config_kv {
    char *section; /* the NAME of [service.NAME] */
    char *key;
    char *value;
    int line;
};

struct opes_config {
    char *path;
    /* [opes] */
    char *system_uri;
    /* [lmtp] */
    char *listen;
    char *hostname;
    char *user;
    uint64_t socket_mode;
    uint64_t max_connections;
    uint64_t max_message_size;
    uint64_t max_recipients;
    uint64_t max_bad_commands;
    uint64_t max_command_line;
    uint64_t command_timeout;
    uint64_t data_timeout;
    uint64_t min_data_rate; /* bytes/s a client must average during DATA; 0: no such limit */
    uint64_t processing_timeout;
    char *spool_dir;
    uint64_t spool_memory;
    char *bare_line_ends;
    char *xforward_hosts;
    /* [downstream] */
    char *target;
    uint64_t down_connect_timeout;
    uint64_t down_command_timeout;
    uint64_t down_data_timeout;
    uint64_t down_data_done_timeout;
    uint64_t down_max_idle;
    uint64_t down_idle_timeout;
    bool maildir_create;
    char *down_auth;               /* none, plain or external */
    char *down_auth_user;          /* the SASL user for plain */
    char *down_auth_password_file; /* a file holding the password; never the password */
    /* [policy] */
    char *blocklist_action;
    /* [store] */
    char *store_path;
    char *key_file;
    uint64_t retention_days;
    uint64_t job_interval;
    uint64_t release_max_attempts;
    /* [log] */
    char *log_level;
    /* [notify] */
    char *notify_from;             /* From of notices ("" = "Mail filter" <postmaster@hostname>) */
    char *notify_default_mode;     /* immediate, digest or off: for users in mode "default" */
    char *notify_digest_schedule;  /* daily@HH or every Nh */
    uint64_t notify_link_days;     /* lifetime of action links */
    uint64_t notify_link_lifetime; /* seconds; 0: link_days (short values for tests) */
    uint64_t notify_login_minutes;
    uint64_t notify_login_rate;        /* login mails per address and hour */
    uint64_t notify_login_rate_global; /* login mails per hour, all addresses */
    char *notify_template_dir;         /* "" = built-in templates only */
    bool notify_skip_lists;            /* no notice for List-Id / Precedence mail */
    char *notify_admin_copy;           /* "" = none */
    bool notify_admin_summary;         /* a daily summary instead of copies */
    char *notify_relay;                /* host:port for sender DSNs, "" = none */
    uint64_t notify_send_delay;        /* tests only: pause before each digest is sent */
    /* [web] */
    char *web_base_url; /* links in mail and the portal's own address */
    char *web_listen;   /* host:port of opes-web */
    uint64_t web_threads;
    uint64_t web_max_connections;
    uint64_t web_connection_timeout;
    uint64_t web_max_post;
    uint64_t web_session_idle;
    uint64_t web_session_max;
    char *web_operator; /* who runs this OPES system (shown on /opes) */
    char *web_contact;
    char *web_privacy_file;  /* the operator's policy text, or "" */
    char *web_metrics_allow; /* client addresses that may read /metrics */
    uint64_t web_login_rate; /* login attempts per address per hour */
    char *web_user;          /* drop privileges to this user, or "" */

    /* [service.NAME] sections, kept raw in file order: their keys depend on the
     * service type, so the agent checks them (services_load), with line numbers */
    struct config_kv *service_kv;
    size_t n_service_kv;

    /* derived at load time */
    enum config_bare_eol bare_eol;
    int refs;
};

/*
 * config_load - read path into a new configuration with one reference.
 * path may be NULL: built-in defaults only. On failure returns NULL and sets
 * *error_r to a static-lifetime-until-next-call message listing every problem
 * ("file:line: key: reason", one per line).
 */
struct opes_config *config_load(const char *path, const char **error_r);

/* config_ref / config_unref - share a configuration between threads. */
struct opes_config *config_ref(struct opes_config *cfg);
void config_unref(struct opes_config **cfgp);

/* config_print - write the effective settings as INI (like postconf -n). */
void config_print(const struct opes_config *cfg, FILE *out);

/* config_parse_size / config_parse_time - "10M", "300s", "5m"; -1 on error. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_time(const char *s, uint64_t *out);

#endif
