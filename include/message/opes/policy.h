/*
 * policy.h - the per-recipient decision (DESIGN: "Decide per recipient").
 *
 * Pure functions, no I/O: for each (recipient, service) whether the service
 * applies (consent, bypass requests against the service's bypass policy,
 * whitelist as an out-of-band bypass), and how the verdicts of the services
 * that applied combine into one outcome. Every grant and refusal is
 * reported back so that the caller can trace it.
 */
#ifndef OPES_POLICY_H
#define OPES_POLICY_H

#include <stdbool.h>

#include "opes/service.h"

enum policy_step_kind {
    POLICY_RUN,        /* the service applies to this recipient */
    POLICY_BYPASSED,   /* a bypass request was granted */
    POLICY_NO_CONSENT, /* opt-out service switched off, or opt-in not switched on */
};

struct policy_step {
    enum policy_step_kind kind;
    unsigned granted; /* SVC_BYPASS_* channels whose request was honoured */
    unsigned refused; /* channels whose request the service's policy refused */
};

/*
 * policy_step - does svc apply? requested: the SVC_BYPASS_* channels that
 * asked for a bypass of this service for this recipient (a whitelisted sender
 * counts as SVC_BYPASS_PORTAL). consent: the recipient's choice for this
 * service: -1 none made, 0 off, 1 on.
 */
struct policy_step policy_step(const struct svc *svc, unsigned requested, int consent);

/* POLICY_JUNK: delivered, with the tag fields, into the recipient's Junk folder */
enum policy_outcome {
    POLICY_DELIVER,
    POLICY_QUARANTINE,
    POLICY_REJECT,
    POLICY_TEMPFAIL,
    POLICY_JUNK
};

/* A recipient's spam level (the store's user_spam; opesctl user spam, the portal). */
enum policy_spam_level {
    POLICY_SPAM_DEFAULT, /* no choice made: the service's thresholds */
    POLICY_SPAM_LENIENT,
    POLICY_SPAM_NORMAL,
    POLICY_SPAM_STRICT,
    POLICY_SPAM_CUSTOM /* own scores, kept within each service's bounds */
};

struct policy_spam {
    enum policy_spam_level level;
    struct svc_scores own; /* CUSTOM */
};

/* policy_spam_level_name / policy_spam_level_parse - "lenient" ... "custom"; parse: -1 if none. */
const char *policy_spam_level_name(enum policy_spam_level l);
int policy_spam_level_parse(const char *s);

/*
 * policy_scores - the thresholds that apply to a recipient with choice pref
 * (NULL: none) under a scoring service's levels lv.
 */
struct svc_scores policy_scores(const struct svc_levels *lv, const struct policy_spam *pref);

struct policy_decision {
    enum policy_outcome outcome;
    const struct svc *culprit; /* the service behind a non-deliver outcome, or NULL */
    bool blocklisted;          /* the outcome comes from the recipient's blocklist */
    bool tagged;               /* some applied service tagged the message */
};

/*
 * policy_verdict_for - a service's verdict as it applies to one recipient:
 * a hit (the service's own action) becomes the recipient's override, if any;
 * a scoring service's score is compared with the recipient's thresholds
 * (policy_scores; pref may be NULL).
 */
enum svc_verdict policy_verdict_for(const struct svc *svc, const struct svc_result *r,
                                    const char *rcpt, const struct policy_spam *pref);

/* policy_rank - reject > tempfail > quarantine > junk > modify > tag > pass. */
int policy_rank(enum svc_verdict v);

/* policy_outcome_of - the outcome for the worst verdict. */
enum policy_outcome policy_outcome_of(enum svc_verdict worst);

const char *policy_outcome_name(enum policy_outcome o);

#endif
