/*
 * loginmail.h - answering "send me a login link" (recorded by the portal).
 *
 * For an address that has mail here (a user row or quarantine entries) and
 * is under the rate limits ([notify] login_rate per address and hour,
 * login_rate_global for everyone), a short mail with a single-use login link
 * (lifetime [notify] login_minutes) goes through the downstream into its
 * mailbox and the request becomes "sent". Otherwise it becomes "refused",
 * without mail: the portal's answer is the same either way, so it does not
 * tell who has mail here.
 */
#ifndef OPES_LOGINMAIL_H
#define OPES_LOGINMAIL_H

struct store;
struct lmtp_env;
struct notify_round;

/* loginmail_run - answer the pending requests until the round stops; count or -1. */
int loginmail_run(struct store *st, struct lmtp_env *env, const struct notify_round *round);

#endif
