/*
 * reason.h - why a message was held, in its recipient's words.
 *
 * A service that holds a message says why twice: for the administrator (the
 * technical reason, "score 14.3 (tag 5.0, quarantine 10.0)", kept in the
 * trace and under "Technical details") and for the recipient, as a "words"
 * value: a catalog key and its arguments, encoded by reason_encode as
 *   reason.spam;score=14.3;required=10.0
 * (values percent-encoded). The words are stored with the entry and turned
 * into a sentence in the reader's language only when shown, by reason_words:
 * "Likely spam (score 14.3 of 10.0)" / "Wahrscheinlich Spam (Wert 14,3 von 10,0)".
 * The category is the key's second part ("spam", "virus", "attachment",
 * "blocked", "rule", "unscannable", "other").
 *
 * Entries stored before words existed have none; reason_describe then reads
 * the technical reason of the known services and, failing that, names the
 * service that held the message.
 */
#ifndef OPES_REASON_H
#define OPES_REASON_H

#include <stddef.h>

#define REASON_WORDS_MAX 512

/*
 * reason_encode - the words value for key with args, a NULL-terminated list
 * of name, value pairs. Always NUL-terminates; returns the length needed.
 */
size_t reason_encode(char *buf, size_t size, const char *key, const char *const *args);

/*
 * reason_words - the sentence of a words value in lang; 0 and "" when words
 * is empty or names no key of the catalogs. Numbers ("score=14.3") are
 * written with lang's decimal separator, an argument named size (bytes) as
 * i18n_size writes it ("10 MB").
 */
size_t reason_words(char *buf, size_t size, const char *lang, const char *words);

/*
 * reason_describe - the sentence for an entry: its words when it has them,
 * else one read from the technical reason of a service of service_type
 * ("clamd", "spamd", "rspamd", "rules", or "" for opesd's own policy).
 */
size_t reason_describe(char *buf, size_t size, const char *lang, const char *words,
                       const char *service, const char *service_type, const char *reason);

/* reason_category - the category of an entry ("spam", "virus", ... "other"), as reason_describe
 * reads it. */
const char *reason_category(const char *words, const char *service_type, const char *reason);

#endif
