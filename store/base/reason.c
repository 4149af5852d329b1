/*
 * reason.c - why a message was held, in its recipient's words: the words
 * value (a catalog key and arguments), and readings of the technical reasons
 * of the known services for entries stored without words (see reason.h).
 */
#include "opes/reason.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/i18n.h"

#define REASON_ARGS 8

/* put_enc - append s percent-encoded (';', '=', '%' and controls) at *off. */
static void put_enc(char *buf, size_t size, size_t *off, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char one[4];
        size_t n;
        if (c == ';' || c == '=' || c == '%' || c < 0x20 || c == 0x7f)
            n = (size_t)snprintf(one, sizeof(one), "%%%02X", c);
        else
            one[0] = (char)c, one[1] = '\0', n = 1;
        if (*off + n < size)
            memcpy(buf + *off, one, n);
        *off += n;
    }
}

size_t reason_encode(char *buf, size_t size, const char *key, const char *const *args)
{
    size_t off = 0;
    if (size == 0)
        return 0;
    put_enc(buf, size, &off, key);
    for (size_t i = 0; args != NULL && args[i] != NULL && args[i + 1] != NULL; i += 2) {
        if (off + 1 < size)
            buf[off] = ';';
        off++;
        put_enc(buf, size, &off, args[i]);
        if (off + 1 < size)
            buf[off] = '=';
        off++;
        put_enc(buf, size, &off, args[i + 1]);
    }
    buf[off < size ? off : size - 1] = '\0';
    /* never a cut inside an escape or an argument: cut values are dropped whole */
    if (off >= size) {
        char *semi = strrchr(buf, ';');
        if (semi != NULL)
            *semi = '\0';
    }
    return off;
}

/* dec - percent-decode s (length n) into out; returns out. */
static char *dec(char *out, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* is_number - whether s is a decimal number such as "14.3" or "-2". */
static int is_number(const char *s)
{
    char *end;
    if (*s == '\0')
        return 0;
    strtod(s, &end);
    return *end == '\0';
}

size_t reason_words(char *buf, size_t size, const char *lang, const char *words)
{
    char key[128], names[REASON_ARGS][32], values[REASON_ARGS][256];
    const char *args[2 * REASON_ARGS + 1];
    const char *p = words, *end;
    size_t n = 0;
    if (size > 0)
        buf[0] = '\0';
    if (words == NULL || *words == '\0')
        return 0;
    end = p + strcspn(p, ";");
    dec(key, sizeof(key), p, (size_t)(end - p));
    if (strncmp(key, "reason.", 7) != 0 || !i18n_has(I18N_BASE, key))
        return 0;
    for (p = end; *p == ';' && n < REASON_ARGS; p = end) {
        const char *eq;
        p++;
        end = p + strcspn(p, ";");
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL)
            continue;
        dec(names[n], sizeof(names[n]), p, (size_t)(eq - p));
        dec(values[n], sizeof(values[n]), eq + 1, (size_t)(end - eq - 1));
        if (strcmp(names[n], "size") == 0 && is_number(values[n]))
            i18n_size(values[n], sizeof(values[n]), lang, strtoull(values[n], NULL, 10));
        else if (is_number(values[n]) && strchr(values[n], '.') != NULL)
            i18n_number(values[n], sizeof(values[n]), lang, strtod(values[n], NULL));
        args[2 * n] = names[n];
        args[2 * n + 1] = values[n];
        n++;
    }
    args[2 * n] = NULL;
    return i18n_format(buf, size, lang, key, args);
}

/* after - the text following prefix in s, or NULL. */
static const char *after(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/*
 * guess - the words for a technical reason of a known service, into out; 0
 * when it reads as none of them.
 */
static int guess(char *out, size_t size, const char *type, const char *reason)
{
    char a[64], b[64], name[128];
    const char *p;
    double x, y;
    if (reason == NULL)
        reason = "";
    if ((p = after(reason, "virus ")) != NULL) {
        size_t n = strcspn(p, " ");
        const char *args[] = {"name", name, NULL};
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        return reason_encode(out, size, "reason.virus", args) > 0;
    }
    if (strstr(reason, "blocklist") != NULL || strstr(reason, "block list") != NULL)
        return reason_encode(out, size, "reason.blocked", NULL) > 0;
    if (strncmp(reason, "unscannable", 11) == 0 || strncmp(reason, "ambiguous", 9) == 0 ||
        strstr(reason, "too big") != NULL)
        return reason_encode(out, size, "reason.unscannable", NULL) > 0;
    /* spamd: "score 14.3 (tag 5.0, quarantine 10.0)"; rspamd: "reject, score 15.00 / 15.00: ..." */
    if ((sscanf(reason, "score %lf (tag %*f, quarantine %lf)", &x, &y) == 2) ||
        ((p = strstr(reason, "score ")) != NULL && sscanf(p, "score %lf / %lf", &x, &y) == 2)) {
        const char *args[] = {"score", a, "required", b, NULL};
        snprintf(a, sizeof(a), "%.1f", x);
        snprintf(b, sizeof(b), "%.1f", y);
        return reason_encode(out, size, "reason.spam", args) > 0;
    }
    if (strcmp(type, "spamd") == 0 || strcmp(type, "rspamd") == 0)
        return reason_encode(out, size, "reason.spam.noscore", NULL) > 0;
    if (strcmp(type, "rules") == 0)
        return reason_encode(out, size, "reason.rule.generic", NULL) > 0;
    return 0;
}

size_t reason_describe(char *buf, size_t size, const char *lang, const char *words,
                       const char *service, const char *service_type, const char *reason)
{
    char guessed[REASON_WORDS_MAX];
    size_t n = reason_words(buf, size, lang, words);
    const char *args[] = {"service", service != NULL ? service : "", NULL};
    if (n > 0)
        return n;
    if (guess(guessed, sizeof(guessed), service_type != NULL ? service_type : "", reason) &&
        (n = reason_words(buf, size, lang, guessed)) > 0)
        return n;
    return i18n_format(buf, size, lang, "reason.other", args);
}

const char *reason_category(const char *words, const char *service_type, const char *reason)
{
    static const char *const cats[] = {"spam",    "virus", "attachment",
                                       "blocked", "rule",  "unscannable"};
    char guessed[REASON_WORDS_MAX];
    const char *w = words;
    if (w == NULL || strncmp(w, "reason.", 7) != 0) {
        if (!guess(guessed, sizeof(guessed), service_type != NULL ? service_type : "", reason))
            return "other";
        w = guessed;
    }
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
        size_t n = strlen(cats[i]);
        if (strncmp(w + 7, cats[i], n) == 0 && (w[7 + n] == '\0' || strchr(".;", w[7 + n])))
            return cats[i];
    }
    return "other";
}
