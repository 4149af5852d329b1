/*
 * fuzz_i18n.c - libFuzzer target for what reads text from outside in the
 * message catalogs: an operator's catalog file, an Accept-Language header, a
 * stored reason's words and a text with {arguments}. The language chosen
 * must always be one there is a catalog for, and every result must be a
 * bounded, NUL-terminated string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "opes/i18n.h"
#include "opes/reason.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), error[256], out[256];
    const char *args[] = {"n", "3", "score", "14.3", NULL};
    const char *lang;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (i18n_check_catalog(text, error, sizeof(error)) < 0)
        FUZZ_CHECK(memchr(error, '\0', sizeof(error)) != NULL);
    lang = i18n_negotiate(NULL, text, "de");
    FUZZ_CHECK(i18n_language_known(lang));
    reason_words(out, sizeof(out), lang, text);
    FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    reason_describe(out, sizeof(out), "de", NULL, text, "spamd", text);
    FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL && out[0] != '\0');
    i18n_fill(out, sizeof(out), text, args);
    FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    free(text);
    return 0;
}
