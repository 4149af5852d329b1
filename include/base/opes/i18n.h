/*
 * i18n.h - the words of the portal and of the mails, in the reader's language.
 *
 * Every sentence a recipient reads comes from a message catalog: files named
 * DOMAIN.LANG in store/base/i18n/ (built into the programs), one "key = text"
 * per line, '#' starts a comment line, "\n" in a text is a line break. Keys are
 * global; by convention they start with their domain ("web.", "mail.",
 * "reason.", "date."). A text may name arguments in braces, "{count}", filled
 * by i18n_format. Plurals are two keys, KEY.one and KEY.other (the languages
 * shipped, English and German, need no more), chosen by i18n_plural.
 *
 * English is complete by definition; every other shipped language must have
 * exactly the same keys with the same arguments (the unit test i18n checks
 * it). An operator may add or change texts: files DOMAIN.LANG in the directory
 * given to i18n_init replace single keys, and may add a language of their own
 * (missing keys then fall back to English).
 *
 * Dates are written in a time zone of the reader's choice. The C library knows
 * one zone per process (TZ), so i18n_date switches it under a lock and puts it
 * back; a concurrent localtime_r elsewhere still gets a consistent time and
 * offset pair.
 */
#ifndef OPES_I18N_H
#define OPES_I18N_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* the language every text exists in, and the fallback of all fallbacks */
#define I18N_BASE "en"
#define I18N_LANG_MAX 16

/*
 * i18n_init - load the built-in catalogs and then, when override_dir is not
 * NULL or empty, the operator's DOMAIN.LANG files in it. Call once at start-up
 * before threads; later calls are ignored. 0, or -1 with a message in
 * error_r (a malformed or unreadable override file).
 */
int i18n_init(const char *override_dir, char *error_r, size_t error_size);

/*
 * i18n_check_catalog - whether text reads as a catalog file (the same rules as
 * loading one, keys given twice refused); 0, or -1 with the line in error_r.
 * Nothing is loaded.
 */
int i18n_check_catalog(const char *text, char *error_r, size_t error_size);

/* i18n_language_known - whether lang (an exact code such as "de") has a catalog. */
int i18n_language_known(const char *lang);

/* i18n_languages - the codes that have a catalog, space-separated, "en" first. */
const char *i18n_languages(void);

/*
 * i18n_negotiate - the language to write in: preference when it has a
 * catalog, else the best match of an Accept-Language header (q-values and
 * region subtags "de-CH" -> "de" understood), else fallback when known, else
 * English. Any argument may be NULL. Returns a string owned by the catalogs.
 */
const char *i18n_negotiate(const char *preference, const char *accept_language,
                           const char *fallback);

/* i18n_text - the text of key in lang, else in English, else the key itself. */
const char *i18n_text(const char *lang, const char *key);

/* i18n_has - whether key exists in lang itself (no fallback). */
int i18n_has(const char *lang, const char *key);

/*
 * i18n_key_at - the i-th key of lang in key order and its text in *text_r;
 * NULL past the end. For checks that walk a whole catalog.
 */
const char *i18n_key_at(const char *lang, size_t i, const char **text_r);

/* i18n_plural - the text of KEY.one when n is 1, else of KEY.other. */
const char *i18n_plural(const char *lang, const char *key, unsigned long n);

/*
 * i18n_fill - copy text into buf with each "{name}" replaced by its value
 * from args, a NULL-terminated list of name, value pairs; an unknown name is
 * kept as written. The values are inserted as they are: escaping for HTML is
 * the caller's (see web_html) . Always NUL-terminates; returns the length the
 * whole result needs (as snprintf), so a result >= size was cut.
 */
size_t i18n_fill(char *buf, size_t size, const char *text, const char *const *args);

/* i18n_format - i18n_fill on i18n_text(lang, key). */
size_t i18n_format(char *buf, size_t size, const char *lang, const char *key,
                   const char *const *args);

/* i18n_size - a size for people: "812 bytes", "12 KB", "1.4 MB" ("1,4 MB" in German). */
size_t i18n_size(char *buf, size_t size, const char *lang, uint64_t bytes);

/* i18n_number - a decimal with one digit after the separator of lang ("14.3" / "14,3"). */
size_t i18n_number(char *buf, size_t size, const char *lang, double value);

enum i18n_datefmt {
    I18N_DAY,      /* "Wed 2 Dec 2026" / "Mi., 2. Dez. 2026" */
    I18N_TIME,     /* "14:05" */
    I18N_DATETIME, /* "Wed 2 Dec 2026, 14:05" */
};

/*
 * i18n_date - t written in lang for a reader in time zone tz (an IANA name such
 * as "Europe/Berlin"; NULL or "" for the process's own zone).
 */
size_t i18n_date(char *buf, size_t size, const char *lang, const char *tz, time_t t,
                 enum i18n_datefmt fmt);

/* i18n_day_number - the calendar day of t in tz as YYYYMMDD, for grouping by day. */
long i18n_day_number(const char *tz, time_t t);

/* i18n_tz_valid - whether tz names a zone of the system's time zone database. */
int i18n_tz_valid(const char *tz);

#endif
