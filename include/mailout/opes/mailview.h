/*
 * mailview.h - held mail as its recipient reads it in a notice or a digest.
 *
 * Each recipient reads in their own language and time zone (their preference
 * in the store, else [web] default_language and default_timezone). An item
 * shows the sender's display name (from the header section the notification
 * row keeps) beside the address, the subject, when it was held, its size in
 * KB or MB, why it was held in words (reason.h), and signed links to release
 * it, release it and allow the sender, block the sender, delete it, view it
 * in the portal, and, for what a service that learns held, "not spam".
 *
 * A notice and a digest share one look: the templates mail.html / mail.txt
 * around item.html / item.txt, every sentence from the catalogs ({{t:KEY}},
 * mail.LANG). An operator's template_dir may replace any of them, per
 * language (LANG/name) or for all; the older names notify.*, digest.*,
 * notify-item.* and digest-item.* are still read first when they exist there.
 * The Subject is neutral ("3 messages held for you"): it never carries a held
 * message's own subject.
 */
#ifndef OPES_MAILVIEW_H
#define OPES_MAILVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "opes/i18n.h"

struct store;
struct store_qitem;
struct svc_set;
struct opes_config;
struct mailgen_buf;
struct mailgen_var;

/* Whom a mail is written for. */
struct mailview_reader {
    char lang[I18N_LANG_MAX]; /* a language with a catalog */
    char tz[64];              /* an IANA zone, "" = the system's */
    char shared[257];         /* the shared mailbox the items are for, "" = the reader's own */
};

/* mailview_reader_of - the language and time zone of address (defaults when it has none). */
void mailview_reader_of(struct store *st, const struct opes_config *cfg, const char *address,
                        struct mailview_reader *r);

/* The strings behind one item's template variables. */
struct mailview_item {
    char sender_name[200], sender_address[300], sender_line[520];
    char held[96], size[32], why[512], service_uri[400];
    char item_url[1024], release_url[1024], whitelist_url[1024], block_url[1024], delete_url[1024];
    char not_spam_url[1024];
};

/*
 * mailview_item_vars - the template variables of item it for r, with fresh
 * signed links valid until expires, into vars[0..MAILVIEW_ITEM_VARS)
 * (pointing into it and s); returns the count. A "not spam" link only for an
 * item held by a service of svcs that learns (svcs may be NULL: none).
 */
#define MAILVIEW_ITEM_VARS 28
size_t mailview_item_vars(struct store *st, const struct opes_config *cfg,
                          const struct svc_set *svcs, const struct mailview_reader *r,
                          const struct store_qitem *it, int64_t expires, struct mailview_item *s,
                          struct mailgen_var *vars);

/*
 * mailview_compose - the whole mail of kind ("notify": held messages at once,
 * "digest": the recipient's report) listing items[0..n) to the recipient of
 * the first, for r; 0, or -1 when a template is missing (logged).
 */
int mailview_compose(struct store *st, const struct opes_config *cfg, const struct svc_set *svcs,
                     const char *kind, const struct mailview_reader *r,
                     const struct store_qitem *items, size_t n, struct mailgen_buf *out);

#endif
