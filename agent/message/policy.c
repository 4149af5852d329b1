/*
 * policy.c - per-recipient decision: consent, bypass, verdict combination.
 */
#include "opes/policy.h"

struct policy_step policy_step(const struct svc *svc, unsigned requested, int consent)
{
    struct policy_step st = {.kind = POLICY_RUN};

    if ((svc->consent == SVC_OPT_OUT && consent == 0) ||
        (svc->consent == SVC_OPT_IN && consent != 1)) {
        st.kind = POLICY_NO_CONSENT;
        return st;
    }
    st.granted = requested & svc->bypass;
    st.refused = requested & ~svc->bypass;
    if (svc->type != NULL && svc->type->never_bypass != NULL) {
        st.granted = 0; /* whatever the configuration says: never */
        st.refused = requested;
    }
    if (st.granted != 0)
        st.kind = POLICY_BYPASSED;
    return st;
}

enum svc_verdict policy_verdict_for(const struct svc *svc, const struct svc_result *r,
                                    const char *rcpt)
{
    if (!r->failed && r->verdict == svc->action)
        return svc_action_for(svc, rcpt);
    return r->verdict;
}

int policy_rank(enum svc_verdict v)
{
    switch (v) {
    case SVC_PASS:
        return 0;
    case SVC_TAG:
        return 1;
    case SVC_MODIFY:
        return 2;
    case SVC_QUARANTINE:
        return 3;
    case SVC_TEMPFAIL:
        return 4;
    case SVC_REJECT:
        return 5;
    }
    return 0;
}

enum policy_outcome policy_outcome_of(enum svc_verdict worst)
{
    switch (worst) {
    case SVC_QUARANTINE:
        return POLICY_QUARANTINE;
    case SVC_REJECT:
        return POLICY_REJECT;
    case SVC_TEMPFAIL:
        return POLICY_TEMPFAIL;
    default:
        return POLICY_DELIVER;
    }
}

const char *policy_outcome_name(enum policy_outcome o)
{
    static const char *const names[] = {"delivered", "quarantined", "rejected", "deferred"};
    return (unsigned)o < 4 ? names[o] : "?";
}
