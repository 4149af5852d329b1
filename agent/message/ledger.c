/*
 * ledger.c - one message's key in the delivery ledger, its lookups and its
 * records (ledger.h).
 *
 * What this guards against: the mailbox store said 250, opesd died before
 * passing it on, and the MTA sends the transaction again. Two different
 * messages must never be taken for one: the key holds the hash of every byte
 * received (and the envelope sender), not only the queue id, which an MTA
 * reuses and another MTA may share.
 */
#include "opes/ledger.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opes/lmtp_client.h"
#include "opes/log.h"

void ledger_begin(struct ledger *lg, const char *sender)
{
    memset(lg, 0, sizeof(*lg));
    crypto_generichash_init(&lg->h, NULL, 0, 32);
    /* the sender and its end, so that no sender can run into the content */
    crypto_generichash_update(&lg->h, (const unsigned char *)sender, strlen(sender) + 1);
}

void ledger_feed(struct ledger *lg, const char *data, size_t len)
{
    crypto_generichash_update(&lg->h, (const unsigned char *)data, len);
}

/* ledger_name - value without its surrounding blanks; false when nothing is left. */
static bool ledger_name(char *dst, size_t size, const char *prefix, const char *value)
{
    size_t len;

    if (value == NULL)
        return false;
    while (*value == ' ' || *value == '\t' || *value == '\r' || *value == '\n')
        value++;
    len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r' ||
                       value[len - 1] == '\n'))
        len--;
    /* Postfix's XFORWARD says so when it has no value */
    if (len == 0 || (len == 13 && strncmp(value, "[UNAVAILABLE]", 13) == 0) ||
        (len == 9 && strncmp(value, "[UNKNOWN]", 9) == 0))
        return false;
    /* a name too long to keep whole is not used: a cut one could match another */
    return snprintf(dst, size, "%s%.*s", prefix, (int)len, value) < (int)size;
}

/* ledger_delivery_id - the id every copy of this message carries: the same key, another hash. */
static void ledger_delivery_id(struct ledger *lg)
{
    crypto_generichash_state h;
    unsigned char bin[LEDGER_DELIVERY_ID_LEN / 2];

    crypto_generichash_init(&h, NULL, 0, sizeof(bin));
    /* the name and its end, so that no name can run into the hash */
    crypto_generichash_update(&h, (const unsigned char *)lg->ident, strlen(lg->ident) + 1);
    crypto_generichash_update(&h, (const unsigned char *)lg->hash, strlen(lg->hash));
    crypto_generichash_final(&h, bin, sizeof(bin));
    sodium_bin2hex(lg->delivery_id, sizeof(lg->delivery_id), bin, sizeof(bin));
}

bool ledger_finish(struct ledger *lg, const char *queue_id, const char *message_id)
{
    unsigned char bin[32];

    crypto_generichash_final(&lg->h, bin, sizeof(bin));
    sodium_bin2hex(lg->hash, sizeof(lg->hash), bin, sizeof(bin));
    lg->usable = ledger_name(lg->ident, sizeof(lg->ident), "queue:", queue_id) ||
                 ledger_name(lg->ident, sizeof(lg->ident), "msgid:", message_id);
    if (!lg->usable)
        lg->ident[0] = '\0'; /* a name cut short by ledger_name is no name */
    ledger_delivery_id(lg);
    if (!lg->usable)
        log_debug("ledger: no queue id and no Message-ID, so no duplicate check");
    return lg->usable;
}

int ledger_answer(struct ledger *lg, struct store *st, const char *addr, struct lmtp_reply *reply,
                  struct store_ledger *row)
{
    char esc[300], ident[400], when[32];
    const char *error = "store unavailable";
    struct tm tm;
    time_t at;
    int rc;

    if (!lg->usable)
        return -1;
    if (st == NULL || (rc = store_ledger_find(st, lg->ident, lg->hash, addr, row, &error)) < 0) {
        /* said once: the rest of the message goes on without the ledger */
        log_warnx("ledger: lookup failed (%s); this message is delivered without the duplicate "
                  "check",
                  error);
        lg->usable = false;
        return -1;
    }
    if (rc == STORE_NOTFOUND)
        return 0;
    if (strcmp(row->outcome, "quarantined") == 0)
        lmtp_reply_set(reply, 250, "2.0.0",
                       "<%s> already held in quarantine as %s (trace %s), not held again", addr,
                       row->detail, row->trace_id);
    else
        lmtp_reply_set(reply, 250, "2.0.0",
                       "<%s> already delivered (trace %s), not delivered again", addr,
                       row->trace_id);
    at = (time_t)row->at;
    gmtime_r(&at, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    log_escape(esc, sizeof(esc), addr, strlen(addr));
    log_escape(ident, sizeof(ident), lg->ident, strlen(lg->ident));
    log_info("ledger hit: rcpt=<%s> message=%s was already %s at %s by trace=%s; the MTA sent it "
             "again (it never got opesd's answer), so it gets 250 without a second delivery",
             esc, ident, row->outcome, when, row->trace_id);
    return 1;
}

void ledger_row(const struct ledger *lg, const char *addr, const char *outcome,
                const char *trace_id, const char *detail, struct store_ledger *row)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->ident, sizeof(row->ident), "%s", lg->ident);
    snprintf(row->hash, sizeof(row->hash), "%s", lg->hash);
    snprintf(row->recipient, sizeof(row->recipient), "%s", addr);
    snprintf(row->outcome, sizeof(row->outcome), "%s", outcome);
    snprintf(row->trace_id, sizeof(row->trace_id), "%s", trace_id);
    snprintf(row->detail, sizeof(row->detail), "%s", detail);
}

void ledger_record(struct ledger *lg, struct store *st, const char *trace_id, const char *addr,
                   const struct lmtp_reply *reply)
{
    struct store_ledger row;
    const char *error = "store unavailable";
    char said[300], esc[300];

    if (!lg->usable)
        return;
    snprintf(said, sizeof(said), "%d %s %s", reply->code, reply->enh, reply->text);
    ledger_row(lg, addr, "delivered", trace_id, said, &row);
    if (st == NULL || store_ledger_add(st, &row, 1, &error) < 0) {
        /* said once: the rest of the message goes on without the ledger */
        log_escape(esc, sizeof(esc), addr, strlen(addr));
        log_warnx("ledger: recording rcpt=<%s> failed (%s); its 250 stands, but a retry after a "
                  "crash could deliver it again",
                  esc, error);
        lg->usable = false;
    }
}
