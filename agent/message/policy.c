/*
 * policy.c - per-recipient decision: consent, bypass, verdict combination.
 */
#include "opes/policy.h"

#include <math.h>
#include <string.h>

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

static const char *const policy_spam_names[] = {"default", "lenient", "normal", "strict", "custom"};

const char *policy_spam_level_name(enum policy_spam_level l)
{
    return (unsigned)l < 5 ? policy_spam_names[l] : "?";
}

int policy_spam_level_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, policy_spam_names[i]) == 0)
            return i;
    return -1;
}

/* policy_clamp - v within [min, max]; "off" (INFINITY) stays off. */
static double policy_clamp(double v, double min, double max)
{
    return isinf(v) ? v : v < min ? min : v > max ? max : v;
}

struct svc_scores policy_scores(const struct svc_levels *lv, const struct policy_spam *pref)
{
    struct svc_scores s = lv->normal;
    double shift = 0;

    if (pref == NULL)
        return s;
    switch (pref->level) {
    case POLICY_SPAM_CUSTOM:
        s.tag = policy_clamp(pref->own.tag, lv->min, lv->max);
        s.junk = policy_clamp(pref->own.junk, lv->min, lv->max);
        s.quarantine = policy_clamp(pref->own.quarantine, lv->min, lv->max);
        return s;
    case POLICY_SPAM_STRICT:
        shift = -lv->step;
        break;
    case POLICY_SPAM_LENIENT:
        shift = lv->step;
        break;
    default:
        return s;
    }
    s.tag += shift; /* INFINITY (off) stays off */
    s.junk += shift;
    s.quarantine += shift;
    return s;
}

enum svc_verdict policy_verdict_for(const struct svc *svc, const struct svc_result *r,
                                    const char *rcpt, const struct policy_spam *pref)
{
    const struct svc_levels *lv = svc_levels_of(svc);

    if (!r->failed && r->scored && lv != NULL) {
        struct svc_scores s = policy_scores(lv, pref);
        enum svc_verdict hit = svc_action_for(svc, rcpt);
        return svc_scores_verdict(&s, r->score, hit);
    }
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
    case SVC_JUNK:
        return 3;
    case SVC_QUARANTINE:
        return 4;
    case SVC_TEMPFAIL:
        return 5;
    case SVC_REJECT:
        return 6;
    }
    return 0;
}

enum policy_outcome policy_outcome_of(enum svc_verdict worst)
{
    switch (worst) {
    case SVC_JUNK:
        return POLICY_JUNK;
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
    static const char *const names[] = {"delivered", "quarantined", "rejected", "deferred", "junk"};
    return (unsigned)o < 5 ? names[o] : "?";
}
