/*
 * config.h - the INI configuration shared by opesd, opes-web and opesctl.
 *
 * The file is read in one pass against a table of {section, key, type,
 * default, min, max}; every problem is reported as "file:line: key: reason".
 * A word-valued key has a table of {word, value} and is kept as an enum, so
 * that uses compare enums; a key flagged CONFIG_RESTART takes effect only when
 * opesd starts. The same key mechanism (config_key_set) reads the keys of the
 * [service.NAME] sections (svcdesc.h and the agent's service types).
 * A loaded configuration is immutable and reference counted, so that a reload
 * (SIGHUP) can swap it while sessions still use the old one.
 */
#ifndef OPES_CONFIG_H
#define OPES_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "opes/log.h"

enum config_bare_eol { CONFIG_BARE_EOL_REJECT, CONFIG_BARE_EOL_NORMALIZE };
enum config_auth { CONFIG_AUTH_NONE, CONFIG_AUTH_PLAIN, CONFIG_AUTH_EXTERNAL };
enum config_passauth { CONFIG_PASSAUTH_NONE, CONFIG_PASSAUTH_DOVECOT, CONFIG_PASSAUTH_IMAP };
enum config_authuser { CONFIG_AUTHUSER_ADDRESS, CONFIG_AUTHUSER_LOCALPART };
enum config_block_action { CONFIG_BLOCK_QUARANTINE, CONFIG_BLOCK_REJECT };
enum config_notify_mode { CONFIG_NOTIFY_IMMEDIATE, CONFIG_NOTIFY_DIGEST, CONFIG_NOTIFY_OFF };
enum config_store_backend { CONFIG_STORE_SQLITE, CONFIG_STORE_POSTGRESQL };
enum config_dsn_send { CONFIG_DSN_VERIFIED, CONFIG_DSN_ALWAYS, CONFIG_DSN_NEVER };

/* One word of a word-valued key; tables end with {NULL, 0}. */
struct config_word {
    const char *word;
    int value;
};

enum config_type {
    CONFIG_STR,   /* char *, strdup'ed; check may refuse it */
    CONFIG_NUM,   /* uint64_t, decimal, min..max */
    CONFIG_SIZE,  /* uint64_t, "512K", "10M", min..max */
    CONFIG_TIME,  /* uint64_t seconds, "30s", "5m", min..max */
    CONFIG_BOOL,  /* bool, yes/no */
    CONFIG_MODE,  /* uint64_t, octal, min..max */
    CONFIG_ENUM,  /* int-sized enum, one of words */
    CONFIG_FLAGS, /* unsigned, any of words (OR'ed), separated by commas or spaces */
    CONFIG_PARSE, /* parse(field, value, reason) does it all */
};

#define CONFIG_RESTART 0x1u /* a reload does not apply it: opesd must restart */

/* One key of a table: where its value goes in obj and how it is read. */
struct config_key {
    const char *section; /* [section]; for service keys "service" or the type name */
    const char *key;
    enum config_type type;
    const char *def; /* the built-in default (NULL: the object's own initial value) */
    uint64_t min, max;
    size_t offset;                                        /* of the field in obj */
    const struct config_word *words;                      /* CONFIG_ENUM, CONFIG_FLAGS */
    int (*check)(const char *value, const char **reason); /* CONFIG_STR, optional */
    /* CONFIG_PARSE: field is obj + offset (offset 0: the whole object) */
    int (*parse)(void *field, const char *value, const char **reason);
    const char *why; /* NULL, or the reason given for any bad value */
    unsigned flags;  /* CONFIG_RESTART */
};

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
    enum config_bare_eol bare_eol; /* bare_line_ends */
    char *xforward_hosts;
    char *metrics_listen; /* this node's /metrics (loopback host:port), "" = off */
    /* [downstream] */
    char *target;
    uint64_t down_connect_timeout;
    uint64_t down_command_timeout;
    uint64_t down_data_timeout;
    uint64_t down_data_done_timeout;
    uint64_t down_max_idle;
    uint64_t down_idle_timeout;
    bool maildir_create;
    char *junk_folder;         /* the folder of the action junk: local+Junk@domain, .Junk/ */
    char *recipient_delimiter; /* the store's, between local part and folder: "+" */
    enum config_auth down_auth;
    char *down_auth_user;          /* the SASL user for plain */
    char *down_auth_password_file; /* a file holding the password; never the password */
    /* [policy] */
    enum config_block_action blocklist_action;
    /* [store] */
    enum config_store_backend store_backend;
    char *store_path;     /* the SQLite file */
    char *store_conninfo; /* the PostgreSQL connection string; never a password */
    char *key_file;
    uint64_t retention_days;
    uint64_t ledger_days; /* delivery ledger rows are kept this long */
    uint64_t job_interval;
    uint64_t release_max_attempts;
    char *node_name;    /* this node's name in job leases ("" = hostname) */
    uint64_t job_lease; /* seconds a node holds a job kind without renewing */
    /* [learn]: a recipient's decisions teach the spam scorers */
    char *learn_report_address; /* reports of missed spam go here ("" = none) */
    /* [log] */
    enum log_level log_level;
    /* [notify] */
    char *notify_from; /* From of notices ("" = "Mail filter" <postmaster@hostname>) */
    enum config_notify_mode notify_default_mode; /* for users in mode "default" */
    char *notify_digest_schedule;                /* daily@HH or every Nh */
    uint64_t notify_link_days;                   /* lifetime of action links */
    uint64_t notify_link_lifetime; /* seconds; 0: link_days (short values for tests) */
    uint64_t notify_login_minutes;
    uint64_t notify_login_rate;        /* login mails per address and hour */
    uint64_t notify_login_rate_global; /* login mails per hour, all addresses */
    uint64_t notify_batch_window;      /* seconds: notices held this long are sent as one mail */
    char *notify_template_dir;         /* "" = built-in templates only */
    bool notify_skip_lists;            /* no notice for List-Id / Precedence mail */
    char *notify_admin_copy;           /* "" = none */
    bool notify_admin_summary;         /* a daily summary instead of copies */
    char *notify_relay;                /* host:port for sender DSNs, "" = none */
    uint64_t notify_send_delay;        /* tests only: pause before each digest is sent */
    /* [dsn] */
    enum config_dsn_send dsn_send; /* to which senders of undeliverable held mail */
    char *dsn_trusted_authserv_id; /* Authentication-Results ids to believe ("" = hostname) */
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
    char *web_privacy_file;              /* the operator's policy text, or "" */
    char *web_metrics_allow;             /* client addresses that may read /metrics */
    uint64_t web_login_rate;             /* login attempts per address per hour */
    char *web_user;                      /* drop privileges to this user, or "" */
    uint64_t web_max_client_connections; /* open connections per client address */
    uint64_t web_header_timeout;         /* idle seconds allowed while a request header comes */
    char *web_trusted_proxies;  /* proxies whose X-Forwarded-For / Forwarded names the client */
    char *web_default_language; /* when neither the preference nor the browser names a known one */
    char *web_default_timezone; /* dates in portal and mail, "" = the system's zone */
    char *web_catalog_dir;      /* the operator's DOMAIN.LANG catalog files, "" = none */
    enum config_passauth
        web_password_auth;  /* enum config_passauth: how recipients' passwords are checked */
    char *web_auth_socket;  /* Dovecot's auth-client socket */
    char *web_imap_server;  /* the IMAP server: on this machine, or elsewhere with TLS */
    bool web_imap_tls;      /* TLS from the first byte (port 993) */
    char *web_imap_ca_file; /* trusted CAs for it, "" = the system's */
    enum config_authuser web_auth_username; /* enum config_authuser: the login name sent */
    uint64_t web_auth_timeout;              /* seconds for a whole password check */

    /* [service.NAME] sections, kept raw in file order: their keys depend on the
     * service type, so the agent checks them (services_load), with line numbers */
    struct config_kv *service_kv;
    size_t n_service_kv, cap_service_kv;

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

/*
 * config_system_uri_warning - why [opes] system_uri cannot serve the
 * recipients who read the trace (it names localhost or a loopback address),
 * or NULL. A warning only: a test installation may mean it.
 */
const char *config_system_uri_warning(const struct opes_config *cfg);
/*
 * config_dsn_warning - why held mail that cannot be delivered gets no
 * non-delivery report although [dsn] send asks for them ([notify] relay is
 * empty), or NULL.
 */
const char *config_dsn_warning(const struct opes_config *cfg);

/* config_print - write the effective settings as INI (like postconf -n). */
void config_print(const struct opes_config *cfg, FILE *out);

/*
 * config_restart_keys - write into buf the "section.key" names of the keys
 * flagged CONFIG_RESTART whose values differ between old and cfg, joined by
 * ", " and " and "; returns how many.
 */
size_t config_restart_keys(const struct opes_config *old, const struct opes_config *cfg, char *buf,
                           size_t size);

/*
 * config_key_set - read value for key k into obj (the struct its offsets are
 * of); 0, or -1 with *reason (static text, or k->why).
 */
int config_key_set(void *obj, const struct config_key *k, const char *value, const char **reason);
/* config_key_find - the key of table t[0..n) named section.key (section NULL: any), or NULL. */
const struct config_key *config_key_find(const struct config_key *t, size_t n, const char *section,
                                         const char *key);
/* config_key_format - the value of k in obj as the configuration file would give it. */
void config_key_format(const void *obj, const struct config_key *k, char *buf, size_t size);

/* config_word_value - the value of word in words, or -1. */
int config_word_value(const struct config_word *words, const char *word);
/* config_word_name - the word of value in words, or "?". */
const char *config_word_name(const struct config_word *words, int value);
/* config_words_format - a mask as "w1, w2" (or the word of 0, e.g. "never"). */
void config_words_format(const struct config_word *words, unsigned mask, char *buf, size_t size);
/* config_notify_mode_name - "immediate", "digest" or "off". */
const char *config_notify_mode_name(enum config_notify_mode mode);

/* config_parse_size / config_parse_time - "10M", "300s", "5m"; -1 on error. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_time(const char *s, uint64_t *out);

#endif
