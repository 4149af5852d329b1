/*
 * log.c - the project's logger: one line per event, key=value, stderr or syslog.
 *
 * Owns the per-thread context prefix (session and trace id) so that every line
 * of a transaction can be found with one grep.
 */
#include "opes/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "opes";
static int log_syslog;
static enum log_level log_max = LOG_LEVEL_INFO;
static _Thread_local char log_ctx[160];

void log_init(const char *ident, int use_syslog)
{
    log_ident = ident;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
    log_max = level;
}

int log_level_parse(const char *name)
{
    static const char *const names[] = {"err", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void log_set_context(const char *fmt, ...)
{
    va_list ap;
    if (fmt == NULL) {
        log_ctx[0] = '\0';
        return;
    }
    va_start(ap, fmt);
    vsnprintf(log_ctx, sizeof(log_ctx), fmt, ap);
    va_end(ap);
}

/* log_emit - format one line with the thread context and send it out. */
static void log_emit(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    char msg[2048];
    int n = 0;

    if (level > log_max)
        return;
    if (log_ctx[0] != '\0')
        n = snprintf(msg, sizeof(msg), "%s ", log_ctx);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    if (errstr != NULL) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, ": %s", errstr);
    }
    if (log_syslog) {
        syslog(prio[level], "%s: %s", tag[level], msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    /* one write(2) per line: no stdio lock shared by every session thread */
    char line[2200];
    int len = snprintf(line, sizeof(line), "%s.%03ldZ %s: %s: %s\n", when, ts.tv_nsec / 1000000,
                       log_ident, tag[level], msg);
    if (len > 0 && (size_t)len >= sizeof(line)) {
        len = sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
        /* nowhere left to report it */
    }
}

#define LOG_BODY(level, errstr)                                                                    \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_emit(level, errstr, fmt, ap);                                                          \
        va_end(ap);                                                                                \
    } while (0)

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void log_warn(const char *fmt, ...)
{
    const char *err = strerror(errno);
    LOG_BODY(LOG_LEVEL_WARN, err);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void fatal(const char *fmt, ...)
{
    const char *err = strerror(errno);
    LOG_BODY(LOG_LEVEL_ERR, err);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERR, NULL);
    exit(1);
}

char *log_escape(char *dst, size_t dstsize, const char *src, size_t srclen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (dstsize == 0)
        return dst;
    for (size_t i = 0; i < srclen; i++) {
        unsigned char c = (unsigned char)src[i];
        size_t need = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? 4 : 1;
        if (o + need + 4 > dstsize) {
            if (o + 4 <= dstsize) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
    return dst;
}
