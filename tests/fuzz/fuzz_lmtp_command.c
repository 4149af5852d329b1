/*
 * fuzz_lmtp_command.c - libFuzzer target for what a client sends as commands.
 *
 * The input is one command line. It goes through lmtp_parse_command, then
 * its arguments through lmtp_parse_path (MAIL FROM: and RCPT TO:, with and
 * without the null path and SMTPUTF8) and the parameters after the path
 * through lmtp_parse_params, with xtext values decoded as XFORWARD and
 * XOPES-BYPASS do. Besides memory errors it checks what callers rely on: an
 * accepted verb is upper-case letters, an accepted address fits its buffer and
 * holds no control character, parameter names are unique and upper-case, and
 * xtext round-trips.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/lmtp_parse.h"

#include "fuzz_check.h"

static void fuzz_xtext(const char *s)
{
    size_t len = strlen(s);
    char *dec = malloc(len + 1), *enc = malloc(3 * len + 1), *back = malloc(len + 1);
    int n, m;

    FUZZ_CHECK(dec != NULL && enc != NULL && back != NULL);
    n = lmtp_xtext_decode(s, dec, len + 1);
    if (n >= 0) {
        FUZZ_CHECK((size_t)n == strlen(dec) && (size_t)n <= len);
        /* the canonical encoding of the value decodes to the same value */
        m = lmtp_xtext_encode(dec, enc, 3 * len + 1);
        FUZZ_CHECK(m >= 0);
        FUZZ_CHECK(lmtp_xtext_decode(enc, back, len + 1) == n);
        FUZZ_CHECK(memcmp(back, dec, (size_t)n + 1) == 0);
    }
    /* any text encodes, and decodes back to itself */
    m = lmtp_xtext_encode(s, enc, 3 * len + 1);
    FUZZ_CHECK(m >= 0 && (size_t)m == strlen(enc));
    for (int i = 0; i < m; i++)
        FUZZ_CHECK(enc[i] > 32 && enc[i] < 127 && enc[i] != '=');
    free(back);
    back = malloc((size_t)m + 1);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(lmtp_xtext_decode(enc, back, (size_t)m + 1) == (int)len);
    FUZZ_CHECK(strcmp(back, s) == 0);
    free(dec);
    free(enc);
    free(back);
}

/* any line length: the fuzzer's inputs, not the server's limit, bound it */
static const struct lmtp_parse_limits fuzz_line_limits = {
    .max_command_line = (size_t)1 << 30,
    .max_param_len = LMTP_PARAM_LEN_MAX,
    .max_params = LMTP_PARAMS_MAX,
};

static void fuzz_params(const char *text)
{
    struct lmtp_param out[LMTP_PARAMS_MAX];
    char *copy = strdup(text);
    int n;

    FUZZ_CHECK(copy != NULL);
    n = lmtp_parse_params(copy, out, NULL);
    FUZZ_CHECK(n <= LMTP_PARAMS_MAX);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(out[i].name[0] != '\0');
        FUZZ_CHECK(strlen(out[i].name) + (out[i].value != NULL ? strlen(out[i].value) + 1 : 0) <=
                   LMTP_PARAM_LEN_MAX);
        for (const char *p = out[i].name; *p != '\0'; p++)
            FUZZ_CHECK(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-');
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(out[i].name, out[j].name) != 0);
        if (out[i].value != NULL) {
            for (const char *p = out[i].value; *p != '\0'; p++)
                FUZZ_CHECK((unsigned char)*p > 32 && *p != 127);
            fuzz_xtext(out[i].value);
        }
    }
    free(copy);
}

static void fuzz_path(const char *args, const char *keyword, bool allow_null, bool utf8)
{
    char addr[LMTP_ADDR_MAX + 1];
    const char *params = NULL, *error = NULL;

    if (lmtp_parse_path(args, keyword, allow_null, utf8, addr, &params, &error) < 0) {
        FUZZ_CHECK(error != NULL);
        return;
    }
    FUZZ_CHECK(strlen(addr) <= LMTP_ADDR_MAX - 2);
    FUZZ_CHECK(allow_null || addr[0] != '\0');
    for (const char *p = addr; *p != '\0'; p++) {
        FUZZ_CHECK((unsigned char)*p >= 32 && *p != 127);
        FUZZ_CHECK(utf8 || (unsigned char)*p < 128);
    }
    FUZZ_CHECK(params >= args && params <= args + strlen(args));
    fuzz_params(params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1), *verb, *args;

    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    if (lmtp_parse_command(line, size, &fuzz_line_limits, &verb, &args) == 0) {
        FUZZ_CHECK(verb[0] != '\0');
        for (const char *p = verb; *p != '\0'; p++)
            FUZZ_CHECK(isupper((unsigned char)*p));
        FUZZ_CHECK(args >= line && args <= line + size);
        for (const char *p = args; *p != '\0'; p++)
            FUZZ_CHECK((unsigned char)*p >= 32 || *p == '\t');
        for (int utf8 = 0; utf8 < 2; utf8++) {
            fuzz_path(args, "FROM:", true, utf8);
            fuzz_path(args, "TO:", false, utf8);
        }
        fuzz_params(args);
    }
    free(line);

    /* the raw input as parameter text and as xtext, up to its first NUL */
    line = malloc(size + 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    fuzz_params(line);
    fuzz_xtext(line);
    free(line);
    return 0;
}
