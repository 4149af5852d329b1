/*
 * fuzz_config.c - libFuzzer target for the configuration file reader.
 *
 * The input is written to a temporary file and loaded with config_load, the
 * way opesd -t and a SIGHUP reload read an operator's file. Whatever the
 * bytes, loading must not crash or leak (LeakSanitizer runs at the end); an
 * accepted file must print, and a refused one must explain itself in lines
 * of the form "file:line: key: reason". An accepted file's [service.NAME]
 * sections then go through svcdesc_load (the common service keys, as both
 * opesd and the portal read them; not the types' own keys, which may open
 * files). The raw input also goes through the size, duration and
 * endpoint-list parsers that the values use.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/svcdesc.h"

#include "fuzz_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char conf_path[4096];
static FILE *devnull;

static void fuzz_cleanup(void)
{
    if (conf_path[0] != '\0')
        unlink(conf_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    int fd;

    (void)argc;
    (void)argv;
    snprintf(conf_path, sizeof(conf_path), "%s/opes-fuzz-config.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    fd = mkstemp(conf_path);
    if (fd < 0) {
        perror(conf_path);
        abort();
    }
    close(fd);
    atexit(fuzz_cleanup);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    return 0;
}

/* fuzz_error_lines - every line of an error text names our file and a line. */
static void fuzz_error_lines(const char *error)
{
    size_t plen = strlen(conf_path);

    FUZZ_CHECK(error != NULL && *error != '\0');
    for (const char *line = error; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        FUZZ_CHECK(strncmp(line, conf_path, plen) == 0 && line[plen] == ':');
        line = nl != NULL ? nl + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *fp = fopen(conf_path, "wb");
    struct opes_config *cfg;
    const char *error = NULL;
    char *text;

    FUZZ_CHECK(fp != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, fp) == size);
    FUZZ_CHECK(fclose(fp) == 0);

    cfg = config_load(conf_path, &error);
    if (cfg != NULL) {
        struct opes_config *ref = config_ref(cfg);
        struct svcdesc_set *set = svcdesc_load(cfg, &error);
        if (error != NULL)
            fuzz_error_lines(error);
        for (size_t i = 0; i + 1 < set->n; i++)
            FUZZ_CHECK(set->svc[i].order <= set->svc[i + 1].order);
        svcdesc_set_free(&set);
        config_print(cfg, devnull);
        config_unref(&ref);
        config_unref(&cfg);
        FUZZ_CHECK(cfg == NULL);
    } else {
        fuzz_error_lines(error);
    }

    /* the value parsers on their own */
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    {
        uint64_t v;
        struct endpoint eps[8];
        char buf[512];
        int n;

        (void)config_parse_size(text, &v);
        (void)config_parse_time(text, &v);
        n = endpoint_parse_list(text, eps, 8, &error);
        FUZZ_CHECK(n <= 8);
        for (int i = 0; i < n; i++)
            endpoint_format(&eps[i], buf, sizeof(buf));
    }
    free(text);
    return 0;
}
