/*
 * i18n.c - message catalogs, language negotiation, and sizes, numbers and
 * dates written for the reader (see i18n.h for the catalog format).
 */
#include "opes/i18n.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the catalogs built into the programs (store/embed_files.cmake) */
struct i18n_builtin {
    const char *name; /* DOMAIN.LANG */
    const char *text;
};
extern const struct i18n_builtin i18n_builtins[];

#define I18N_MAX_LANGS 16
#define I18N_FILE_MAX (1024 * 1024)
#define I18N_ZONEINFO "/usr/share/zoneinfo/"

struct i18n_entry {
    char *key;
    char *text;
};

struct i18n_lang {
    char code[I18N_LANG_MAX];
    struct i18n_entry *v;
    size_t n, cap;
};

static struct i18n_lang langs[I18N_MAX_LANGS];
static size_t nlangs;
static char lang_list[I18N_MAX_LANGS * (I18N_LANG_MAX + 1)];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static char builtin_error[256];
static int overrides_loaded;
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* err - put a message in an error buffer; returns -1. */
static int err(char *buf, size_t size, const char *fmt, ...)
{
    if (buf != NULL && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* lang_find - the catalog of code, or NULL. */
static struct i18n_lang *lang_find(const char *code)
{
    for (size_t i = 0; i < nlangs; i++)
        if (strcmp(langs[i].code, code) == 0)
            return &langs[i];
    return NULL;
}

/* lang_get - the catalog of code, created when new; NULL when full or code is bad. */
static struct i18n_lang *lang_get(const char *code)
{
    struct i18n_lang *l = lang_find(code);
    size_t len = strlen(code);
    if (l != NULL)
        return l;
    if (nlangs == I18N_MAX_LANGS || len < 2 || len >= I18N_LANG_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (!islower((unsigned char)code[i]) && code[i] != '-')
            return NULL;
    l = &langs[nlangs++];
    memcpy(l->code, code, len + 1);
    return l;
}

/* entry_cmp - order of entries by key, for qsort and bsearch. */
static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct i18n_entry *)a)->key, ((const struct i18n_entry *)b)->key);
}

/* lang_lookup - the entry of key in l (sorted), or NULL. */
static struct i18n_entry *lang_lookup(const struct i18n_lang *l, const char *key)
{
    struct i18n_entry probe = {(char *)key, NULL};
    if (l == NULL || l->n == 0)
        return NULL;
    return bsearch(&probe, l->v, l->n, sizeof(*l->v), entry_cmp);
}

/* unescape - the text of a catalog line, "\n" and "\\" turned into their bytes. */
static char *unescape(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == 'n' || s[i + 1] == '\\')) {
            *o++ = s[i + 1] == 'n' ? '\n' : '\\';
            i++;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/*
 * catalog_parse - add the lines of one catalog file to l. A key already there
 * is an error for a built-in file (dup_ok 0) and replaced for an operator's.
 */
static int catalog_parse(struct i18n_lang *l, const char *name, const char *text, int dup_ok,
                         char *error_r, size_t error_size)
{
    size_t lineno = 0, sorted = l->n;
    const char *p = text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n'), *eq, *k_end, *v;
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        lineno++;
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || p[0] == '#')
            goto next;
        eq = memchr(p, '=', len);
        if (eq == NULL)
            return err(error_r, error_size, "%s line %zu: no '='", name, lineno);
        for (k_end = eq; k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'); k_end--)
            ;
        if (k_end == p)
            return err(error_r, error_size, "%s line %zu: no key", name, lineno);
        for (const char *c = p; c < k_end; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
                return err(error_r, error_size, "%s line %zu: bad key", name, lineno);
        for (v = eq + 1; v < p + len && (*v == ' ' || *v == '\t'); v++)
            ;
        {
            char *key = strndup(p, (size_t)(k_end - p));
            char *val = unescape(v, (size_t)(p + len - v));
            struct i18n_entry *old = NULL;
            if (key == NULL || val == NULL) {
                free(key);
                free(val);
                return err(error_r, error_size, "out of memory");
            }
            /* the sorted part is searched; the new part of this file linearly */
            if (sorted > 0) {
                struct i18n_lang head = *l;
                head.n = sorted;
                old = lang_lookup(&head, key);
            }
            for (size_t i = sorted; old == NULL && i < l->n; i++)
                if (strcmp(l->v[i].key, key) == 0)
                    old = &l->v[i];
            if (old != NULL && !dup_ok) {
                free(val);
                err(error_r, error_size, "%s line %zu: key %s defined twice", name, lineno, key);
                free(key);
                return -1;
            }
            if (old != NULL) {
                free(key);
                free(old->text);
                old->text = val;
                goto next;
            }
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 256;
                struct i18n_entry *nv = realloc(l->v, cap * sizeof(*nv));
                if (nv == NULL) {
                    free(key);
                    free(val);
                    return err(error_r, error_size, "out of memory");
                }
                l->v = nv;
                l->cap = cap;
            }
            l->v[l->n++] = (struct i18n_entry){key, val};
        }
    next:
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    if (l->n > 0)
        qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
    return 0;
}

/* catalog_add - parse the catalog called DOMAIN.LANG into its language. */
static int catalog_add(const char *name, const char *text, int dup_ok, char *error_r,
                       size_t error_size)
{
    const char *dot = strrchr(name, '.');
    struct i18n_lang *l;
    if (dot == NULL || dot == name)
        return err(error_r, error_size, "%s: not named DOMAIN.LANG", name);
    if ((l = lang_get(dot + 1)) == NULL)
        return err(error_r, error_size, "%s: bad or too many languages", name);
    return catalog_parse(l, name, text, dup_ok, error_r, error_size);
}

/* lang_list_build - the space-separated list of languages, English first. */
static void lang_list_build(void)
{
    size_t off = 0;
    struct i18n_lang *base = lang_find(I18N_BASE);
    lang_list[0] = '\0';
    if (base != NULL)
        off += (size_t)snprintf(lang_list, sizeof(lang_list), "%s", base->code);
    for (size_t i = 0; i < nlangs; i++) {
        if (&langs[i] == base)
            continue;
        off += (size_t)snprintf(lang_list + off, sizeof(lang_list) - off, "%s%s",
                                off > 0 ? " " : "", langs[i].code);
    }
}

/* builtin_load - parse the built-in catalogs (once). */
static void builtin_load(void)
{
    for (const struct i18n_builtin *b = i18n_builtins; b->name != NULL; b++)
        if (catalog_add(b->name, b->text, 0, builtin_error, sizeof(builtin_error)) < 0)
            break;
    lang_list_build();
}

/* ensure - the built-in catalogs are loaded. */
static void ensure(void)
{
    pthread_once(&builtin_once, builtin_load);
}

/* override_load - read one operator file DOMAIN.LANG from dir. */
static int override_load(const char *dir, const char *name, char *error_r, size_t error_size)
{
    char path[4096], *text;
    FILE *f;
    size_t n;
    int rc;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return err(error_r, error_size, "%s/%s: path too long", dir, name);
    if ((f = fopen(path, "r")) == NULL)
        return err(error_r, error_size, "%s: %s", path, strerror(errno));
    text = malloc(I18N_FILE_MAX + 1);
    if (text == NULL) {
        fclose(f);
        return err(error_r, error_size, "out of memory");
    }
    n = fread(text, 1, I18N_FILE_MAX + 1, f);
    fclose(f);
    if (n > I18N_FILE_MAX) {
        free(text);
        return err(error_r, error_size, "%s: larger than 1 MB", path);
    }
    text[n] = '\0';
    rc = catalog_add(name, text, 1, error_r, error_size);
    free(text);
    return rc;
}

int i18n_init(const char *override_dir, char *error_r, size_t error_size)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;
    ensure();
    if (builtin_error[0] != '\0')
        return err(error_r, error_size, "built-in catalog: %s", builtin_error);
    if (override_dir == NULL || override_dir[0] == '\0' || overrides_loaded)
        return 0;
    overrides_loaded = 1;
    if ((d = opendir(override_dir)) == NULL)
        return err(error_r, error_size, "%s: %s", override_dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        if (de->d_name[0] == '.' || dot == NULL || strlen(dot + 1) < 2)
            continue;
        rc = override_load(override_dir, de->d_name, error_r, error_size);
    }
    closedir(d);
    lang_list_build();
    return rc;
}

int i18n_check_catalog(const char *text, char *error_r, size_t error_size)
{
    struct i18n_lang scratch = {.code = "check"};
    int rc = catalog_parse(&scratch, "catalog", text, 0, error_r, error_size);

    for (size_t i = 0; i < scratch.n; i++) {
        free(scratch.v[i].key);
        free(scratch.v[i].text);
    }
    free(scratch.v);
    return rc;
}

int i18n_language_known(const char *lang)
{
    ensure();
    return lang != NULL && lang_find(lang) != NULL;
}

const char *i18n_languages(void)
{
    ensure();
    return lang_list;
}

/* primary - the known language of a tag such as "de-CH" or "DE", or NULL. */
static struct i18n_lang *primary(const char *tag, size_t len)
{
    char code[I18N_LANG_MAX];
    size_t n = 0;
    while (n < len && n + 1 < sizeof(code) && isalpha((unsigned char)tag[n])) {
        code[n] = (char)tolower((unsigned char)tag[n]);
        n++;
    }
    code[n] = '\0';
    if (n < 2 || (n < len && tag[n] != '-' && tag[n] != '_'))
        return NULL;
    return lang_find(code);
}

const char *i18n_negotiate(const char *preference, const char *accept_language,
                           const char *fallback)
{
    struct i18n_lang *best = NULL, *l;
    double best_q = 0;
    ensure();
    if (preference != NULL && (l = lang_find(preference)) != NULL)
        return l->code;
    for (const char *p = accept_language; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ','), *semi;
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        double q = 1.0;
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        semi = memchr(p, ';', len);
        if (semi != NULL) {
            const char *qs = semi + 1;
            while (qs < p + len && *qs == ' ')
                qs++;
            if (qs + 2 <= p + len && qs[0] == 'q' && qs[1] == '=')
                q = strtod(qs + 2, NULL);
        }
        l = primary(p, semi != NULL ? (size_t)(semi - p) : len);
        if (l != NULL && q > best_q) {
            best = l;
            best_q = q;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    if (best != NULL)
        return best->code;
    if (fallback != NULL && (l = lang_find(fallback)) != NULL)
        return l->code;
    return I18N_BASE;
}

const char *i18n_text(const char *lang, const char *key)
{
    struct i18n_entry *e;
    ensure();
    if (lang != NULL && (e = lang_lookup(lang_find(lang), key)) != NULL)
        return e->text;
    if ((e = lang_lookup(lang_find(I18N_BASE), key)) != NULL)
        return e->text;
    return key;
}

int i18n_has(const char *lang, const char *key)
{
    ensure();
    return lang != NULL && lang_lookup(lang_find(lang), key) != NULL;
}

const char *i18n_key_at(const char *lang, size_t i, const char **text_r)
{
    const struct i18n_lang *l;
    ensure();
    l = lang != NULL ? lang_find(lang) : NULL;
    if (l == NULL || i >= l->n)
        return NULL;
    if (text_r != NULL)
        *text_r = l->v[i].text;
    return l->v[i].key;
}

const char *i18n_plural(const char *lang, const char *key, unsigned long n)
{
    char k[256];
    snprintf(k, sizeof(k), "%s.%s", key, n == 1 ? "one" : "other");
    return i18n_text(lang, k);
}

/* put - append len bytes of s to buf at *off, cutting at size; *off counts all. */
static void put(char *buf, size_t size, size_t *off, const char *s, size_t len)
{
    if (*off < size) {
        size_t room = size - 1 - *off;
        memcpy(buf + *off, s, len < room ? len : room);
    }
    *off += len;
}

size_t i18n_fill(char *buf, size_t size, const char *text, const char *const *args)
{
    size_t off = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        const char *value = NULL;
        if (close != NULL && close - p <= 32 && args != NULL) {
            size_t nlen = (size_t)(close - p - 1);
            for (size_t i = 0; args[i] != NULL && args[i + 1] != NULL; i += 2)
                if (strlen(args[i]) == nlen && memcmp(args[i], p + 1, nlen) == 0) {
                    value = args[i + 1];
                    break;
                }
        }
        if (value != NULL) {
            put(buf, size, &off, value, strlen(value));
            p = close + 1;
        } else {
            put(buf, size, &off, p, 1);
            p++;
        }
    }
    if (size > 0)
        buf[off < size ? off : size - 1] = '\0';
    return off;
}

size_t i18n_format(char *buf, size_t size, const char *lang, const char *key,
                   const char *const *args)
{
    return i18n_fill(buf, size, i18n_text(lang, key), args);
}

size_t i18n_number(char *buf, size_t size, const char *lang, double value)
{
    char num[64], *dot;
    snprintf(num, sizeof(num), "%.1f", value);
    dot = strchr(num, '.');
    if (dot != NULL) {
        const char *sep = i18n_text(lang, "number.decimal");
        if (strlen(sep) == 1)
            *dot = sep[0];
    }
    return (size_t)snprintf(buf, size, "%s", num);
}

size_t i18n_size(char *buf, size_t size, const char *lang, uint64_t bytes)
{
    char num[64];
    const char *args[] = {"n", num, NULL};
    if (bytes < 1024) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)bytes);
        return i18n_fill(buf, size, i18n_plural(lang, "size.bytes", (unsigned long)bytes), args);
    }
    if (bytes < 1024 * 1024) {
        /* whole kilobytes, rounded up: a 1025-byte message is "2 KB", never "1 KB" */
        snprintf(num, sizeof(num), "%llu", (unsigned long long)((bytes + 1023) / 1024));
        return i18n_format(buf, size, lang, "size.kb", args);
    }
    if (bytes < 1024ull * 1024 * 1024) {
        i18n_number(num, sizeof(num), lang, (double)bytes / (1024.0 * 1024.0));
        return i18n_format(buf, size, lang, "size.mb", args);
    }
    i18n_number(num, sizeof(num), lang, (double)bytes / (1024.0 * 1024.0 * 1024.0));
    return i18n_format(buf, size, lang, "size.gb", args);
}

int i18n_tz_valid(const char *tz)
{
    char path[256];
    struct stat sb;
    size_t len = tz != NULL ? strlen(tz) : 0;
    if (len == 0 || len > 64 || tz[0] == '/' || strstr(tz, "..") != NULL)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)tz[i]) && strchr("/_+-", tz[i]) == NULL)
            return 0;
    snprintf(path, sizeof(path), "%s%s", I18N_ZONEINFO, tz);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * local_tm - t broken down in zone tz (the process's zone when tz is NULL,
 * empty or unknown). TZ is switched and put back under tz_lock.
 */
static void local_tm(const char *tz, time_t t, struct tm *tm)
{
    char *saved = NULL;
    const char *old;
    if (tz == NULL || !i18n_tz_valid(tz)) {
        localtime_r(&t, tm);
        return;
    }
    pthread_mutex_lock(&tz_lock);
    old = getenv("TZ");
    if (old != NULL)
        saved = strdup(old);
    setenv("TZ", tz, 1);
    tzset();
    localtime_r(&t, tm);
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    pthread_mutex_unlock(&tz_lock);
    free(saved);
}

long i18n_day_number(const char *tz, time_t t)
{
    struct tm tm;
    local_tm(tz, t, &tm);
    return (tm.tm_year + 1900L) * 10000L + (tm.tm_mon + 1L) * 100L + tm.tm_mday;
}

size_t i18n_date(char *buf, size_t size, const char *lang, const char *tz, time_t t,
                 enum i18n_datefmt fmt)
{
    struct tm tm;
    char wkey[32], mkey[32], d[8], y[8], h[8], m[8], day[128], time[32];
    local_tm(tz, t, &tm);
    snprintf(wkey, sizeof(wkey), "date.wday.%d", tm.tm_wday);
    snprintf(mkey, sizeof(mkey), "date.mon.%d", tm.tm_mon + 1);
    snprintf(d, sizeof(d), "%d", tm.tm_mday);
    snprintf(y, sizeof(y), "%d", tm.tm_year + 1900);
    snprintf(h, sizeof(h), "%02d", tm.tm_hour);
    snprintf(m, sizeof(m), "%02d", tm.tm_min);
    {
        const char *dargs[] = {
            "wday", i18n_text(lang, wkey), "d", d, "mon", i18n_text(lang, mkey), "y", y, NULL};
        const char *targs[] = {"H", h, "M", m, NULL};
        const char *args[] = {"day", day, "time", time, NULL};
        i18n_format(day, sizeof(day), lang, "date.day", dargs);
        i18n_format(time, sizeof(time), lang, "date.time", targs);
        if (fmt == I18N_DAY)
            return (size_t)snprintf(buf, size, "%s", day);
        if (fmt == I18N_TIME)
            return (size_t)snprintf(buf, size, "%s", time);
        return i18n_format(buf, size, lang, "date.datetime", args);
    }
}
