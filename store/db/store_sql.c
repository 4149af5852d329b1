/*
 * store_sql.c - the SQL both backends run as it is: the statements of enum
 * st_stmt that SQLite and PostgreSQL read alike. A backend's own table holds
 * only what its dialect writes differently (upserts that ignore, case-blind
 * comparison, types, locks), and falls back to this one. The text uses
 * SQLite's placeholders (? and ?N); the PostgreSQL backend numbers them as
 * $N when it prepares a statement (st_sql_numbered).
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

const char *const st_sql_common[S_MAX] = {
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_CHUNK_INSERT] = "INSERT INTO content_chunk (content_id, seq, data) VALUES (?, ?, ?)",
    [S_CONTENT_OF] = "SELECT c.id, c.key_id, c.header FROM quarantine q "
                     "JOIN content c ON c.id = q.content_id WHERE q.public_id = ?",
    [S_CHUNKS] = "SELECT data FROM content_chunk WHERE content_id = ? ORDER BY seq",
    [S_Q_INSERT] = "INSERT INTO quarantine (public_id, content_id, trace_id, sender, recipient, "
                   "subject, msg_date, size, service, reason, status, created, updated, words, "
                   "from_name, original_recipient) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'held', "
                   "?, ?, ?, ?, ?)",
    [S_Q_GET] = "SELECT " STORE_QITEM_COLUMNS " FROM quarantine q WHERE public_id = ?",
    [S_Q_SET_STATUS] = "UPDATE quarantine SET status = ?, updated = ? WHERE public_id = ?",
    /* a deleted entry is held again while the purge has not taken its content */
    [S_Q_RESTORE] = "UPDATE quarantine SET status = 'held', updated = ? WHERE public_id = ? "
                    "AND status = 'deleted' AND content_id IS NOT NULL",
    [S_TRACE_INSERT] = "INSERT INTO trace (trace_id, recipient, event, service, verdict, detail, "
                       "duration_ms, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [S_TRACE_LIST] = "SELECT trace_id, recipient, event, service, verdict, detail, duration_ms, "
                     "at FROM trace WHERE trace_id = ? ORDER BY id",
    [S_LIST_UPSERT] = "INSERT INTO list (kind, owner, sender, created_by, origin, expires, created)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, owner, sender) DO UPDATE "
                      "SET created_by = excluded.created_by, origin = excluded.origin, "
                      "expires = excluded.expires, created = excluded.created",
    [S_LIST_DELETE] = "DELETE FROM list WHERE id = ?",
    [S_LIST_MATCH] = "SELECT 1 FROM list WHERE kind = ? AND owner IN (?, ?, '*') "
                     "AND sender IN (?, ?, '*') AND (expires = 0 OR expires > ?) LIMIT 1",
    [S_LIST_LOOKUP] = "SELECT DISTINCT kind FROM list WHERE owner IN (?, ?, '*') "
                      "AND sender IN (?, ?, '*') AND (expires = 0 OR expires > ?)",
    [S_REL_PENDING] = "SELECT r.id FROM release_request r JOIN quarantine q "
                      "ON q.id = r.quarantine_id WHERE q.public_id = ? AND r.state = 'pending'",
    [S_REL_LEASE] = "UPDATE release_request SET next_attempt = ?, attempts = attempts + 1, "
                    "updated = ? WHERE id = ?",
    [S_REL_DONE] = "UPDATE release_request SET state = 'done', last_error = '', updated = ? "
                   "WHERE id = ?",
    [S_REL_FAIL] = "UPDATE release_request SET state = ?, next_attempt = ?, last_error = ?, "
                   "updated = ? WHERE id = ? AND state = 'pending'",
    [S_REL_INFO] = "SELECT r.state, r.last_error, r.updated, r.attempts FROM release_request r "
                   "JOIN quarantine q ON q.id = r.quarantine_id WHERE q.public_id = ? "
                   "ORDER BY r.id DESC LIMIT 1",
    [S_APITOK_INSERT] = "INSERT INTO api_token (address, name, key_id, hash, created, expires) "
                        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    [S_APITOK_GET] = "SELECT address, name, key_id, hash, expires, revoked FROM api_token "
                     "WHERE id = ?",
    [S_APITOK_USED] = "UPDATE api_token SET last_used = ? WHERE id = ?",
    [S_APITOK_LIST] = "SELECT id, address, name, created, expires, last_used, revoked "
                      "FROM api_token WHERE address = ? ORDER BY id",
    [S_APITOK_REVOKE] = "UPDATE api_token SET revoked = ? WHERE id = ? AND revoked = 0",
    [S_REL_STATE] = "SELECT r.state, r.last_error FROM release_request r JOIN quarantine q "
                    "ON q.id = r.quarantine_id WHERE q.public_id = ? ORDER BY r.id DESC LIMIT 1",
    /* "user" quoted: PostgreSQL reserves the word, SQLite reads it as the name alike */
    [S_USER_LOCALE] = "SELECT language, timezone FROM \"user\" WHERE address = ?1",
    [S_USER_SET_LOCALE] = "INSERT INTO \"user\" (address, language, timezone, created) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (address) DO UPDATE SET "
                          "language = excluded.language, timezone = excluded.timezone",
    [S_CONSENT_GET] = "SELECT allowed FROM user_consent WHERE address = ? AND service = ?",
    [S_CONSENT_SET] = "INSERT INTO user_consent (address, service, allowed, updated) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT (address, service) DO UPDATE SET "
                      "allowed = excluded.allowed, updated = excluded.updated",
    [S_SPAM_GET] = "SELECT level, tag, junk, quarantine, updated FROM user_spam WHERE address = ?",
    [S_SPAM_SET] = "INSERT INTO user_spam (address, level, tag, junk, quarantine, updated) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET "
                   "level = excluded.level, tag = excluded.tag, junk = excluded.junk, "
                   "quarantine = excluded.quarantine, updated = excluded.updated",
    [S_SPAM_CLEAR] = "DELETE FROM user_spam WHERE address = ?",
    [S_AUDIT_INSERT] = "INSERT INTO audit (at, actor, action, object, origin, via) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
    /* ?2: a domain administrator ('' none): only lines about their domains' addresses
     * and entries, or by them */
    [S_AUDIT_LIST] =
        "SELECT at, actor, action, object, origin, via FROM audit a WHERE ?2 = '' OR "
        "lower(a.actor) = ?2 OR EXISTS (SELECT 1 FROM user_domain d WHERE d.address = ?2 AND ("
        "lower(a.object) LIKE '%@' || d.domain || '%' OR a.object IN (SELECT public_id FROM "
        "quarantine q WHERE substr(lower(q.recipient), length(q.recipient) - length(d.domain)) "
        "= '@' || d.domain))) ORDER BY id DESC LIMIT ?1",
    [S_DOM_ADD] =
        "INSERT INTO user_domain (address, domain) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    [S_DOM_DEL] = "DELETE FROM user_domain WHERE address = ?1 AND (?2 = '' OR domain = ?2)",
    [S_DOM_LIST] = "SELECT address, domain FROM user_domain WHERE ?1 = '' OR address = ?1 "
                   "ORDER BY address, domain",
    [S_DLG_ADD] = "INSERT INTO delegate (owner, address, created_by, created) "
                  "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [S_DLG_DEL] = "DELETE FROM delegate WHERE owner = ?1 AND address = ?2",
    /* a delegate or a domain administrator sees more than its own entries */
    [S_Q_SEES_OTHERS] = "SELECT (SELECT COUNT(*) FROM delegate WHERE address = lower(?1)) + "
                        "(SELECT COUNT(*) FROM user_domain WHERE address = lower(?1))",
    [S_DLG_LIST] =
        "SELECT owner, address, created_by, created FROM delegate "
        "WHERE (?1 = '' OR owner = ?1) AND (?2 = '' OR address = ?2) ORDER BY owner, address",
    [S_APR_PENDING_OF] = "SELECT a.id FROM approval a JOIN quarantine q ON q.id = a.quarantine_id "
                         "WHERE q.public_id = ?1 AND a.state = 'pending'",
    [S_APR_INSERT] = "INSERT INTO approval (quarantine_id, requested_by, origin, reason, created) "
                     "SELECT id, CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT), "
                     "CAST(?5 AS BIGINT) FROM quarantine WHERE public_id = ?1 AND status = 'held'",
    /* ?1 state ('' any), ?2 limit, ?3 a domain administrator whose domains bound it ('' none),
     * ?4 notified (-1 any), ?5 told (-1 any), ?6 id (0 any), ?7 the entry's public id ('' any) */
    [S_APR_LIST] = "SELECT " STORE_QITEM_COLUMNS ", a.id, a.requested_by, a.origin, a.reason, "
                   "a.state, a.decided_by, a.comment, a.created, a.decided FROM approval a "
                   "JOIN quarantine q ON q.id = a.quarantine_id WHERE (?1 = '' OR a.state = ?1) "
                   "AND (?3 = '' OR EXISTS (SELECT 1 FROM user_domain d WHERE d.address = ?3 AND "
                   "substr(lower(q.recipient), length(q.recipient) - length(d.domain)) = "
                   "'@' || d.domain)) AND (?4 < 0 OR a.notified = ?4) AND (?5 < 0 OR a.told = ?5) "
                   "AND (?6 = 0 OR a.id = ?6) AND (?7 = '' OR q.public_id = ?7) "
                   "ORDER BY a.id DESC LIMIT ?2",
    [S_APR_DECIDE] = "UPDATE approval SET state = ?2, decided_by = ?3, comment = ?4, decided = ?5 "
                     "WHERE id = ?1 AND state = 'pending'",
    [S_APR_NOTIFIED] = "UPDATE approval SET notified = 1 WHERE id = ?1",
    [S_APR_TOLD] = "UPDATE approval SET told = 1 WHERE id = ?1",
    [S_APPROVERS] = "SELECT address FROM \"user\" WHERE role = 'admin' UNION "
                    "SELECT address FROM user_domain WHERE domain = ?1 ORDER BY 1",
    [S_PURGE_EXPIRE] = "UPDATE quarantine SET status = 'expired', updated = ?1 "
                       "WHERE status = 'held' AND created < ?2",
    [S_PURGE_DETACH] = "UPDATE quarantine SET content_id = NULL "
                       "WHERE status IN ('deleted', 'expired') AND content_id IS NOT NULL",
    [S_PURGE_DELETE_Q] = "DELETE FROM quarantine WHERE status <> 'held' AND updated < ?",
    /* a recipient's ORCPT stays while its quarantine entry does, for a late DSN */
    [S_PURGE_TRACE] = "DELETE FROM trace WHERE at < ? AND NOT (event = 'orcpt' AND "
                      "trace_id IN (SELECT trace_id FROM quarantine))",
    [S_PURGE_LIST] = "DELETE FROM list WHERE expires <> 0 AND expires <= ?",
    [S_N_UNCAPTURED] = "SELECT " STORE_QITEM_COLUMNS " FROM quarantine q WHERE q.created >= ?2 "
                       "AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.quarantine_id = q.id) "
                       "ORDER BY q.created, q.id LIMIT ?1",
    [S_N_DROP_STALE] = "UPDATE notification SET state = 'skipped', reason = 'no longer held' "
                       "WHERE state IN ('pending', 'digest') AND digest_id IS NULL AND "
                       "quarantine_id IN (SELECT id FROM quarantine WHERE status <> 'held')",
    [S_N_PENDING] = "SELECT " STORE_QITEM_COLUMNS ", n.attempts FROM notification n "
                    "JOIN quarantine q ON q.id = n.quarantine_id WHERE n.state = 'pending' "
                    "ORDER BY q.id LIMIT ?",
    [S_N_SET_STATE] = "UPDATE notification SET state = ?2, reason = ?3, sent_at = ?4 "
                      "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)",
    [S_N_ATTEMPT] = "UPDATE notification SET attempts = attempts + 1, reason = ?2 "
                    "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)",
    [S_N_HEADERS] = "SELECT n.headers FROM notification n JOIN quarantine q "
                    "ON q.id = n.quarantine_id WHERE q.public_id = ?",
    [S_N_FORGET_HEADERS] = "UPDATE notification SET headers = NULL "
                           "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?)",
    [S_N_STATE_OF] = "SELECT n.state, n.reason, n.dsn, n.dsn_reason FROM notification n "
                     "JOIN quarantine q ON q.id = n.quarantine_id WHERE q.public_id = ?",
    [S_N_META_GET] = "SELECT value FROM notify_meta WHERE key = ?",
    [S_N_META_SET] = "INSERT INTO notify_meta (key, value) VALUES (?1, ?2) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    /* with, for a delegate's copy, the digest it copies and that digest's recipient */
    [S_DIGEST_PENDING] = "SELECT d.id, d.recipient, d.created, d.attempts, COALESCE(d.copy_of, 0), "
                         "COALESCE(o.recipient, '') FROM digest d LEFT JOIN digest o "
                         "ON o.id = d.copy_of WHERE d.state = 'pending' ORDER BY d.id LIMIT ?",
    /* the shared mailbox's delegates each get a copy (delegate.owner is lower case) */
    [S_DIGEST_COPIES] = "INSERT INTO digest (recipient, created, copy_of) "
                        "SELECT address, ?2, ?1 FROM delegate WHERE owner = lower(?3)",
    [S_DIGEST_ITEMS] = "SELECT " STORE_QITEM_COLUMNS " FROM notification n JOIN quarantine q "
                       "ON q.id = n.quarantine_id WHERE n.digest_id = ? ORDER BY q.id",
    [S_DIGEST_SENT] = "UPDATE digest SET state = 'sent', sent_at = ?2 WHERE id = ?1",
    [S_DIGEST_ITEMS_SENT] =
        "UPDATE notification SET state = 'sent', sent_at = ?2 WHERE digest_id = ?1",
    /* ?3: the mailbox store refused it for good (5xx): never tried again */
    [S_DIGEST_FAILED] = "UPDATE digest SET attempts = attempts + 1, last_error = ?2, "
                        "state = CASE WHEN ?3 <> 0 THEN 'failed' ELSE state END WHERE id = ?1",
    [S_DSN_DONE] = "UPDATE notification SET dsn = ?2, dsn_reason = ?3 "
                   "WHERE quarantine_id = (SELECT id FROM quarantine WHERE public_id = ?1)",
    [S_LOGIN_NEXT] =
        "SELECT id, address FROM login_request WHERE state = 'pending' ORDER BY id LIMIT 1",
    [S_LOGIN_DONE] = "UPDATE login_request SET state = ?2, updated = ?3 WHERE id = ?1",
    [S_LOGIN_PURGE] = "DELETE FROM login_request WHERE updated < ?",
    [S_RATE_PURGE] = "DELETE FROM rate_limit WHERE window_start < ?",
    [S_TOKEN_USE] = "INSERT INTO token_used (nonce, used_at, expires) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
    [S_TOKEN_SEEN] = "SELECT 1 FROM token_used WHERE nonce = ?",
    [S_TOKEN_PURGE] = "DELETE FROM token_used WHERE expires < ?",
    [S_SESS_ADD] = "INSERT INTO web_session (id_hash, address, csrf, created, last_seen, expires, "
                   "admin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_SESS_GET] = "SELECT address, csrf, created, last_seen, expires, admin FROM web_session "
                   "WHERE id_hash = ?1",
    [S_SESS_TOUCH] = "UPDATE web_session SET last_seen = ?2 WHERE id_hash = ?1",
    [S_SESS_DELETE] = "DELETE FROM web_session WHERE id_hash = ?1",
    [S_SESS_PURGE] = "DELETE FROM web_session WHERE expires < ?1",
    [S_COUNT_BACKLOG] = "SELECT 'digests', COUNT(*) FROM digest WHERE state = 'pending' "
                        "UNION ALL SELECT 'notices', COUNT(*) FROM notification "
                        "WHERE state = 'pending' UNION ALL SELECT 'releases', COUNT(*) "
                        "FROM release_request WHERE state = 'pending'",
    /* leases on jobs: taken when free, expired, or already this holder's */
    [S_CLAIM_TAKE] = "INSERT INTO claim (name, holder, expires) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                     "expires = excluded.expires WHERE claim.expires <= ?4 OR claim.holder = ?2",
    /* held without a break: a lease that expired meanwhile is not renewed */
    [S_CLAIM_RENEW] = "UPDATE claim SET expires = ?3 WHERE name = ?1 AND holder = ?2 "
                      "AND expires > ?4",
    [S_CLAIM_DROP] = "DELETE FROM claim WHERE name = ?1 AND holder = ?2",
    [S_CLAIM_HOLDER] = "SELECT holder FROM claim WHERE name = ?1",
    /* learning: a request once per message and class; a failed one may be asked again */
    [S_LEARN_INSERT] = "INSERT INTO learned (message, class, service, trace_id, requested_by, "
                       "origin, next_attempt, created, updated) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7) "
                       "ON CONFLICT (message, class) DO UPDATE SET state = 'pending', "
                       "attempts = 0, last_error = '', service = excluded.service, "
                       "requested_by = excluded.requested_by, origin = excluded.origin, "
                       "next_attempt = excluded.next_attempt, updated = excluded.updated "
                       "WHERE learned.state = 'failed'",
    [S_LEARN_LEASE] = "UPDATE learned SET next_attempt = ?1, attempts = attempts + 1, "
                      "updated = ?2 WHERE id = ?3",
    [S_LEARN_DONE] = "UPDATE learned SET state = 'done', last_error = '', updated = ?1 "
                     "WHERE message = ?2 AND class = ?3",
    [S_LEARN_FAIL] = "UPDATE learned SET state = ?1, next_attempt = ?2, last_error = ?3, "
                     "updated = ?4 WHERE message = ?5 AND class = ?6 AND state = 'pending'",
    [S_LEARN_STATE] = "SELECT state, last_error FROM learned WHERE message = ?1 AND class = ?2",
    /* after retention_days the content is gone too: nothing left to learn or to repeat */
    [S_LEARN_PURGE] = "DELETE FROM learned WHERE updated < ?",
    /* the delivery ledger: the first row of a key stays (a retry never rewrites it) */
    [S_LEDGER_INSERT] =
        "INSERT INTO ledger (ident, hash, recipient, outcome, trace_id, detail, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    [S_LEDGER_FIND] = "SELECT outcome, trace_id, detail, at FROM ledger "
                      "WHERE ident = ? AND hash = ? AND recipient = ?",
    [S_LEDGER_PURGE] = "DELETE FROM ledger WHERE at < ?",
};

size_t st_sql_numbered(const char *sql, char *out, size_t size)
{
    size_t o = 0;
    long hi = 0;
    char quote = 0;

    for (const char *p = sql; *p != '\0'; p++) {
        char num[24];
        int n;

        if (quote != 0 || *p == '\'' || *p == '"') {
            quote = quote == 0 ? *p : quote == *p ? 0 : quote;
        } else if (*p == '?') {
            char *end;
            long v = strtol(p + 1, &end, 10);
            if (end == p + 1)
                v = hi + 1; /* a bare ? is one more than the highest so far */
            hi = v > hi ? v : hi;
            n = snprintf(num, sizeof(num), "$%ld", v);
            for (int i = 0; i < n; i++)
                if (o + 1 < size)
                    out[o++] = num[i];
            p = end - 1;
            continue;
        }
        if (o + 1 < size)
            out[o++] = *p;
    }
    if (size > 0)
        out[o] = '\0';
    return o;
}
