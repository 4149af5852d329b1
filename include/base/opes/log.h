/*
 * log.h - one line per event, key=value, to stderr or syslog.
 *
 * Every program of the project logs through these functions. A thread may set
 * a context string (for opesd: "session=... trace=...") that is put in front
 * of each of its lines, so that every line of a transaction carries the trace
 * id without each caller having to remember it.
 */
#ifndef OPES_LOG_H
#define OPES_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* log_init - set the program name and the destination (syslog when use_syslog). */
void log_init(const char *ident, int use_syslog);
void log_set_level(enum log_level level);
/* log_level_parse - "err", "warn", "info" or "debug"; -1 if none of them. */
int log_level_parse(const char *name);

/* log_set_context - per-thread prefix; the string is copied; NULL clears it. */
void log_set_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn adds ": <strerror(errno)>", log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal - log and exit(1); only at startup or for a broken invariant. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_escape - make peer-supplied text safe for a log line: non-printable
 * bytes, '"' and '\' become \xNN, and the result is cut to fit dst (with
 * "..." when cut). Always NUL-terminates; returns dst.
 */
char *log_escape(char *dst, size_t dstsize, const char *src, size_t srclen);

#endif
