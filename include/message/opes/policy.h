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

enum policy_outcome { POLICY_DELIVER, POLICY_QUARANTINE, POLICY_REJECT, POLICY_TEMPFAIL };

struct policy_decision {
    enum policy_outcome outcome;
    const struct svc *culprit; /* the service behind a non-deliver outcome, or NULL */
    bool blocklisted;          /* the outcome comes from the recipient's blocklist */
    bool tagged;               /* some applied service tagged the message */
};

/*
 * policy_verdict_for - a service's verdict as it applies to one recipient:
 * a hit (the service's own action) becomes the recipient's override, if any.
 */
enum svc_verdict policy_verdict_for(const struct svc *svc, const struct svc_result *r,
                                    const char *rcpt);

/* policy_rank - reject > tempfail > quarantine > modify > tag > pass. */
int policy_rank(enum svc_verdict v);

/* policy_outcome_of - the outcome for the worst verdict. */
enum policy_outcome policy_outcome_of(enum svc_verdict worst);

const char *policy_outcome_name(enum policy_outcome o);

#endif
