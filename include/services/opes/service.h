/*
 * service.h - OPES callout services: configuration, the type table, running.
 *
 * A service is one [service.NAME] section: a type (rules, clamd, spamd, ...),
 * an order, an action on hit, a bypass policy, a consent class, a timeout and
 * a failure mode, plus the keys of its type. Its URI is
 * <system_uri>/service/<name>. The pipeline runs each service at most once
 * per message; the verdict is then applied per recipient by policy.h.
 */
#ifndef OPES_SERVICE_H
#define OPES_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/variant.h"

struct opes_config;
struct spool;
struct mime_message;

enum svc_verdict { SVC_PASS, SVC_TAG, SVC_MODIFY, SVC_QUARANTINE, SVC_REJECT, SVC_TEMPFAIL };
enum svc_consent { SVC_MANDATORY, SVC_OPT_OUT, SVC_OPT_IN };
enum svc_failure { SVC_FAIL_TEMPFAIL, SVC_FAIL_PASS, SVC_FAIL_QUARANTINE };
/* what a content-modifying service does with signed or encrypted mail (PROTOCOL.md 27-28) */
enum svc_protected { SVC_PROT_SKIP, SVC_PROT_QUARANTINE, SVC_PROT_REJECT };

/* bypass policy: which requests a service honours (0: never) */
#define SVC_BYPASS_HEADER 0x1u /* OPES-Bypass header in the message */
#define SVC_BYPASS_DIALOG 0x2u /* XOPES-BYPASS in the LMTP dialog */
#define SVC_BYPASS_TOKEN 0x4u  /* a signed token in OPES-Bypass */
#define SVC_BYPASS_PORTAL 0x8u /* out of band: release and the whitelist */

const char *svc_verdict_name(enum svc_verdict v);
const char *svc_consent_name(enum svc_consent c);

/* A per-recipient override of the action on hit: "addr" or "@domain". */
struct svc_rcpt_action {
    char pattern[257];
    enum svc_verdict action;
};

struct svc;

/* What a service sees of the message (read-only, shared by all services). */
struct svc_msg {
    struct spool *spool;
    const struct mime_message *mime; /* NULL until the MIME parser runs */
    const char *sender;
    const char *const *rcpts;      /* as delivered (after address rewriting) */
    const char *const *orig_rcpts; /* as the client gave them; NULL: the same */
    size_t nrcpts;
    uint64_t size;
    const char *trace_id;
    const char *client_addr;
    const char *helo;
};

struct svc_result {
    enum svc_verdict verdict;
    bool failed;                /* the service could not give an answer */
    char reason[256];           /* for the trace, the reply and the quarantine entry */
    char headers[1024];         /* fields to add on TAG (CRLF-terminated), e.g. X-Spam-Status */
    struct variant_edits edits; /* on MODIFY: the changes to the message (owned) */
    int64_t ms;
};

/* What each service type provides (svc_rules.c, svc_clamd.c, ...). */
struct svc_type {
    const char *name;
    enum svc_consent consent; /* default */
    unsigned bypass;          /* default policy */
    enum svc_verdict action;  /* default action on hit */
    const char *never_bypass; /* non-NULL: mandatory, bypass "never"; the reason why */
    /* configure - one type-specific key; 0, or -1 with *reason */
    int (*configure)(struct svc *svc, const char *key, const char *value, const char **reason);
    /* check - after all keys; 0, or -1 with *reason */
    int (*check)(struct svc *svc, const char **reason);
    /* run - look at the message; fill r (verdict PASS, TAG, MODIFY or the action) */
    void (*run)(const struct svc *svc, const struct svc_msg *m, struct svc_result *r);
    void (*free)(struct svc *svc);
};

struct svc {
    char name[49];
    char uri[320];
    const struct svc_type *type;
    int order;
    enum svc_verdict action;
    unsigned bypass;
    enum svc_consent consent;
    uint64_t timeout_s;
    enum svc_failure on_failure;
    bool notify_sender;
    enum svc_protected on_protected;
    struct svc_rcpt_action *rcpt_actions;
    size_t n_rcpt_actions;
    void *priv; /* the type's own configuration */
};

struct svc_set {
    struct svc *svc; /* in run order */
    size_t n;
};

/*
 * services_load - check every [service.NAME] section of cfg and build the
 * set, sorted by order. Problems are reported like the rest of the
 * configuration: "file:line: service.NAME.key: reason", one per line.
 */
struct svc_set *services_load(const struct opes_config *cfg, const char **error_r);
void services_free(struct svc_set **setp);

/*
 * svc_run - run one service with its failure mode applied: a service that
 * failed gives TEMPFAIL, PASS or QUARANTINE as configured, with failed set.
 */
void svc_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r);

/* svc_result_clear - free what a run left in r (its edits). */
void svc_result_clear(struct svc_result *r);

/*
 * svc_protected_why - why m must not be modified (PROTOCOL.md 27-28): "signed
 * or encrypted (S/MIME, PGP)", "DKIM-signed", or NULL when it may be.
 */
const char *svc_protected_why(const struct mime_message *m);
/*
 * svc_protected_verdict - apply svc->on_protected to r for a message that must
 * not be modified (why from svc_protected_why): PASS with the reason
 * recorded, or the configured quarantine or reject.
 */
void svc_protected_verdict(const struct svc *svc, const char *why, struct svc_result *r);
/* svc_spool_range - len bytes of the spool from off into a new NUL-terminated buffer, or NULL. */
char *svc_spool_range(struct spool *spool, uint64_t off, size_t len);

/* svc_action_for - the action on hit for one recipient (overrides, else the service's). */
enum svc_verdict svc_action_for(const struct svc *svc, const char *rcpt);

/* svc_parse_verdict / svc_parse_bypass - config words; -1 when unknown. */
int svc_parse_action(const char *s);
int svc_parse_bypass(const char *s, unsigned *mask);

#endif
