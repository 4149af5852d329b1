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

#include "opes/reason.h"
#include "opes/svcdesc.h"
#include "opes/variant.h"

struct opes_config;
struct spool;
struct mime_message;

const char *svc_verdict_name(enum svc_verdict v);
const char *svc_consent_name(enum svc_consent c);

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
    const char *client_name; /* the client's host name, as the trace fields give it */
};

struct svc_result {
    enum svc_verdict verdict;
    bool scored; /* score holds the scanner's spam score (svc_levels) */
    double score;
    bool failed;                  /* the service could not give an answer */
    bool skipped;                 /* it did not look at the message (e.g. protected content) */
    bool unscannable;             /* it could not read all of the message, or not one way */
    char reason[256];             /* for the trace, the reply and the quarantine entry */
    char words[REASON_WORDS_MAX]; /* the same for the recipient (reason.h), "" = none */
    char headers[1024];           /* fields to add on TAG (CRLF-terminated), e.g. X-Spam-Status */
    struct variant_edits edits;   /* on MODIFY: the changes to the message (owned) */
    int64_t ms;
};

/* Spam score thresholds: tag, junk, quarantine at or above each (INFINITY: never). */
struct svc_scores {
    double tag, junk, quarantine;
};

/*
 * What a scoring service (spamd, rspamd) lets its recipients choose: the
 * normal thresholds are the service's own; strict lowers each by step,
 * lenient raises it; a recipient's own scores are kept within [min, max].
 * The keys (SVC_LEVEL_KEYS) fill a struct svc_levels at offset 0 of the
 * type's configuration.
 */
struct svc_levels {
    bool on; /* false: the service's verdict holds for every recipient */
    struct svc_scores normal;
    double step, min, max;
};

/* svc_score_parse - a score such as 5.0, or "off" (INFINITY); a config_key parse function. */
int svc_score_parse(void *field, const char *value, const char **reason);
/*
 * svc_scores_verdict - what score means under thresholds s: action (the
 * service's, or a recipient's override) at or above quarantine, else junk,
 * tag or pass; an action milder than junk (tag) never undoes the junk.
 */
enum svc_verdict svc_scores_verdict(const struct svc_scores *s, double score,
                                    enum svc_verdict action);
/* svc_levels_of - the recipients' choices svc offers, or NULL when its verdict holds for all. */
const struct svc_levels *svc_levels_of(const struct svc *svc);
/* svc_levels_check - tag <= junk <= quarantine and min <= max; 0, or -1 with *reason. */
int svc_levels_check(const struct svc_levels *lv, const char **reason);

#define SVC_LEVEL_KEY(type, key, def, member)                                                      \
    {                                                                                              \
        type, key, CONFIG_PARSE, def, 0, 0, .offset = offsetof(struct svc_levels, member),         \
                                            .parse = svc_score_parse                               \
    }
/* the keys of struct svc_levels for a type whose configuration starts with one */
#define SVC_LEVEL_KEYS(type, def_tag, def_junk, def_quarantine)                                    \
    SVC_LEVEL_KEY(type, "tag_threshold", def_tag, normal.tag),                                     \
        SVC_LEVEL_KEY(type, "junk_threshold", def_junk, normal.junk),                              \
        SVC_LEVEL_KEY(type, "quarantine_threshold", def_quarantine, normal.quarantine),            \
        SVC_LEVEL_KEY(type, "level_step", "3.0", step),                                            \
        SVC_LEVEL_KEY(type, "user_score_min", "1.0", min),                                         \
        SVC_LEVEL_KEY(type, "user_score_max", "50.0", max)

/*
 * What each service type provides (svc_rules.c, svc_clamd.c, ...). Its
 * defaults (consent, bypass, action) are those of the svcdesc type of the
 * same name. Its own keys are a config_key table (section: the type's name)
 * whose offsets are in priv, a zeroed block of priv_size bytes that gets the
 * rows' defaults before the section's keys are read.
 */
struct svc_type {
    const char *name;
    const char *never_bypass; /* non-NULL: mandatory, bypass "never"; the reason why */
    const struct config_key *keys;
    size_t n_keys;
    size_t priv_size;
    /* check - after all keys; 0, or -1 with *reason */
    int (*check)(struct svc *svc, const char **reason);
    /* run - look at the message; fill r (verdict PASS, TAG, MODIFY or the action) */
    void (*run)(const struct svc *svc, const struct svc_msg *m, struct svc_result *r);
    /* levels - the recipients' choices (scoring types only; NULL or off: none) */
    const struct svc_levels *(*levels)(const struct svc *svc);
    /*
     * learn - teach the scanner the message in spool (read from its start)
     * as spam or ham; NULL for a type that does not learn. 0 with what the
     * scanner said in detail, or -1 with why not in detail.
     */
    int (*learn)(const struct svc *svc, struct spool *spool, bool spam, char *detail, size_t size);
    /* free - what priv points to (priv itself is freed by services_free) */
    void (*free)(struct svc *svc);
};

/* A running service: the description it was built from, its type, the type's configuration. */
struct svc {
    SVCDESC_COMMON; /* name, uri, order, action, bypass, consent, ... (svcdesc.h) */
    const struct svc_type *type;
    void *priv; /* the type's own configuration (priv_size bytes) */
};

struct svc_set {
    struct svc *svc; /* in run order */
    size_t n;
};

/*
 * services_load - check every [service.NAME] section of cfg and build the
 * set: the services of svcdesc_load, in its run order, each with its type's
 * own keys. Problems are reported like the rest of the configuration:
 * "file:line: service.NAME.key: reason", one per line.
 */
struct svc_set *services_load(const struct opes_config *cfg, const char **error_r);
void services_free(struct svc_set **setp);
/* services_learns - is there a service called name in set (may be NULL) that learns? */
bool services_learns(const struct svc_set *set, const char *name);

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
/*
 * svc_part_decode - the body of part index of m->mime (not a multipart),
 * transfer-decoded from the spool, as a new NUL-terminated buffer the caller
 * frees (*len_r its length), or NULL with *error_r set.
 */
char *svc_part_decode(const struct svc_msg *m, size_t index, size_t *len_r, const char **error_r);
/* svc_spool_range - len bytes of the spool from off into a new NUL-terminated buffer, or NULL. */
char *svc_spool_range(struct spool *spool, uint64_t off, size_t len);

/*
 * The choices for a message a service could not read in full (a limit of the
 * MIME reader or of the scanner) or could read in more than one way:
 * quarantine, reject, tempfail or pass. Service types that read the message
 * take them as on_unscannable and on_ambiguous (CONFIG_ENUM, enum svc_verdict).
 */
extern const struct config_word svc_unscannable_words[];

/*
 * svc_unscannable - the verdict for such a message: choice (from
 * svc_unscannable_words), with a reason "KIND: why (KEY=choice)" where kind
 * is "unscannable" or "ambiguous", logged, and r->unscannable set; it
 * replaces what r held when choice ranks higher than r->verdict, or when
 * r->verdict is PASS (a pass by choice is traced, never silent).
 */
void svc_unscannable(const struct svc *svc, struct svc_result *r, enum svc_verdict choice,
                     const char *kind, const char *key, const char *why);

/*
 * svc_words_spam - r's words for a spam score: reason.spam with score and
 * required (the score that holds or rejects), one digit after the point.
 */
void svc_words_spam(struct svc_result *r, double score, double required);
/*
 * svc_too_big - a scanner's size limit: when m is larger than max_size the
 * message is not scanned and gets choice as svc_unscannable says ("not
 * scanned: larger than max_size (N)"); true then, and the caller returns.
 */
bool svc_too_big(const struct svc *svc, const struct svc_msg *m, struct svc_result *r,
                 uint64_t max_size, enum svc_verdict choice);

/* svc_action_for - the action on hit for one recipient (overrides, else the service's). */
enum svc_verdict svc_action_for(const struct svc *svc, const char *rcpt);

#endif
