/*
 * approvalmail.h - the mail of release requests: when a recipient asks for
 * the release of an entry whose service's release policy is request, its
 * approvers (the global administrators and the domain administrators of the
 * recipient's domain) get a notice pointing at the portal's queue; when an
 * approver decided, whoever asked is told the outcome and the approver's
 * comment. Each request is mailed about once: a notice that cannot be
 * delivered now (4xx) is tried again on the next job interval.
 */
#ifndef OPES_APPROVALMAIL_H
#define OPES_APPROVALMAIL_H

struct store;
struct lmtp_env;
struct notify_round;

/* approvalmail_run - notices and outcomes due now, until the round stops; count or -1. */
int approvalmail_run(struct store *st, struct lmtp_env *env, const struct notify_round *round);

#endif
