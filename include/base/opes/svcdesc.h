/*
 * svcdesc.h - the [service.NAME] sections described once, for opesd and
 * opes-web alike: the service types with their defaults, the keys every
 * service has (one key table, read by config_key_set), and the configured
 * services in the order opesd runs them.
 *
 * opesd builds its running services on top of these descriptions (service.c
 * adds each type's own keys); the portal shows them. Both therefore agree on
 * names, order, action, consent and bypass policy by construction.
 */
#ifndef OPES_SVCDESC_H
#define OPES_SVCDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opes/config.h"

/* SVC_JUNK: delivered, tagged, into the recipient's Junk folder ([downstream] junk_folder) */
enum svc_verdict {
    SVC_PASS,
    SVC_TAG,
    SVC_MODIFY,
    SVC_QUARANTINE,
    SVC_REJECT,
    SVC_TEMPFAIL,
    SVC_JUNK
};
#define SVC_VERDICT_LAST SVC_JUNK /* for tables indexed by enum svc_verdict */
enum svc_consent { SVC_MANDATORY, SVC_OPT_OUT, SVC_OPT_IN };
enum svc_failure { SVC_FAIL_TEMPFAIL, SVC_FAIL_PASS, SVC_FAIL_QUARANTINE };
/* who releases what the service held: the recipient, an approver on request, or only an admin */
enum svc_release { SVC_RELEASE_SELF, SVC_RELEASE_REQUEST, SVC_RELEASE_ADMIN };
/* what a content-modifying service does with signed or encrypted mail (PROTOCOL.md 27-28) */
enum svc_protected { SVC_PROT_SKIP, SVC_PROT_QUARANTINE, SVC_PROT_REJECT };

/* bypass policy: which requests a service honours (0: never) */
#define SVC_BYPASS_HEADER 0x1u /* OPES-Bypass header in the message */
#define SVC_BYPASS_DIALOG 0x2u /* XOPES-BYPASS in the LMTP dialog */
#define SVC_BYPASS_TOKEN 0x4u  /* a signed token in OPES-Bypass */
#define SVC_BYPASS_PORTAL 0x8u /* out of band: release and the whitelist */
#define SVC_BYPASS_ALL 0xfu

/* The words of the enums above, as the configuration and the trace spell them. */
extern const struct config_word svcdesc_verdict_words[]; /* pass, tag, modify, ... */
extern const struct config_word svcdesc_consent_words[]; /* mandatory, opt-out, opt-in */
extern const struct config_word svcdesc_bypass_words[];  /* never, header, dialog, ... */
extern const struct config_word svcdesc_release_words[]; /* self, request, admin */

/* A per-recipient override of the action on hit: "addr" or "@domain". */
struct svc_rcpt_action {
    char pattern[257];
    enum svc_verdict action;
};

/* A service type and what a section of that type gets unless it says otherwise. */
struct svcdesc_type {
    const char *name;
    enum svc_consent consent;
    unsigned bypass;
    enum svc_verdict action;  /* on hit */
    const char *what;         /* one sentence for the portal */
    bool junk;                /* may its action be junk? (the types that judge spam) */
    enum svc_release release; /* the default of the release key */
};

/*
 * What every configured service has: its name, URI and the common keys. The
 * members are listed once and appear twice in a union, as a named struct
 * (common, to copy them as a whole) and as plain members (d->action), like
 * the Linux kernel's struct_group(); struct svc (service.h) embeds them too.
 */
#define SVCDESC_COMMON_MEMBERS                                                                     \
    char name[49];                                                                                 \
    char uri[320]; /* <system_uri>/service/<name> */                                               \
    uint64_t order;                                                                                \
    enum svc_verdict action;                                                                       \
    unsigned bypass;                                                                               \
    enum svc_consent consent;                                                                      \
    uint64_t timeout_s;                                                                            \
    enum svc_failure on_failure;                                                                   \
    bool notify_sender;                                                                            \
    enum svc_protected on_protected;                                                               \
    enum svc_release release;                                                                      \
    struct svc_rcpt_action *rcpt_actions; /* owned */                                              \
    size_t n_rcpt_actions, cap_rcpt_actions;

struct svcdesc_common {
    SVCDESC_COMMON_MEMBERS
};

/* SVCDESC_COMMON - the common members, by name and as .common */
#define SVCDESC_COMMON                                                                             \
    union {                                                                                        \
        struct svcdesc_common common;                                                              \
        struct {                                                                                   \
            SVCDESC_COMMON_MEMBERS                                                                 \
        };                                                                                         \
    }

/* One configured service as described: its type and the common keys. */
struct svcdesc {
    SVCDESC_COMMON;
    const struct svcdesc_type *type;
    size_t first;  /* index of the section's first key in cfg->service_kv */
    int last_line; /* the line of the section's last key */
};

struct svcdesc_set {
    struct svcdesc *svc; /* in run order: by order, then by position in the file */
    size_t n, cap;
};

/* svcdesc_type_find - the type called name, or NULL. */
const struct svcdesc_type *svcdesc_type_find(const char *name);

/* svcdesc_is_common - is key one of the keys every service has? */
bool svcdesc_is_common(const char *key);

/*
 * svcdesc_load - describe every [service.NAME] section of cfg: its type, the
 * common keys (the type's defaults for those it leaves out; order defaults to
 * 10, 20, ... in file order), sorted in run order. Keys that are not common
 * are left to the caller. A section without a valid type is left out. Problems
 * are listed in *error_r ("file:line: service.NAME.key: reason", one per line;
 * thread-local until the next call), or *error_r is NULL. Never returns NULL.
 */
struct svcdesc_set *svcdesc_load(const struct opes_config *cfg, const char **error_r);
void svcdesc_set_free(struct svcdesc_set **setp);

/* svcdesc_error - append one "file:line: service.NAME.key: reason" to the thread's list. */
void svcdesc_error(const struct opes_config *cfg, int line, const char *name, const char *key,
                   const char *reason);
/* svcdesc_errors - the thread's list since the last svcdesc_load, in line order, or NULL. */
const char *svcdesc_errors(void);

/* svcdesc_parse_action - tag, junk, quarantine or reject; -1 when none of them. */
int svcdesc_parse_action(const char *s);

#endif
