/*
 * fuzz_rspamd_reply.c - libFuzzer target for what rspamd answers a scan.
 *
 * The input is an HTTP response as read from rspamd's socket. It goes to
 * rspamd_parse_response as it would arrive, complete and then at end of
 * stream, and its body (after the first empty line, or all of it) goes to
 * rspamd_parse_reply. A reply that is accepted must be one the service can
 * act on: a known action, finite scores within bounds, and a symbol list that
 * is NUL-terminated, within its buffer and never claims more than it holds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/rspamd.h"

#include "fuzz_check.h"

static void fuzz_check_result(const struct rspamd_result *r)
{
    FUZZ_CHECK((unsigned)r->action < RSPAMD_N_ACTIONS);
    FUZZ_CHECK(strcmp(rspamd_action_name(r->action), "?") != 0);
    FUZZ_CHECK(isfinite(r->score) && fabs(r->score) <= 1e9);
    FUZZ_CHECK(isfinite(r->required_score) && fabs(r->required_score) <= 1e9);
    FUZZ_CHECK(memchr(r->symbols, '\0', sizeof(r->symbols)) != NULL);
    FUZZ_CHECK(r->n_listed <= r->n_symbols);
    FUZZ_CHECK((r->n_listed == 0) == (r->symbols[0] == '\0'));
    for (const char *p = r->symbols; *p != '\0'; p++)
        FUZZ_CHECK(*p > 0x1f && *p < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size octets, so that reading past them is caught */
    char *buf = malloc(size ? size : 1);
    const char *error = NULL, *body;
    struct rspamd_result r;
    int rc;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    rc = rspamd_parse_response(buf, size, false, &r, &error);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    FUZZ_CHECK(rc != -1 || (error != NULL && strlen(error) < 512));
    if (rc == 1)
        fuzz_check_result(&r);
    rc = rspamd_parse_response(buf, size, true, &r, &error);
    FUZZ_CHECK(rc == -1 || rc == 1);
    if (rc == 1)
        fuzz_check_result(&r);
    body = size >= 4 ? memmem(buf, size, "\r\n\r\n", 4) : NULL;
    body = body != NULL ? body + 4 : buf;
    if (rspamd_parse_reply(body, size - (size_t)(body - buf), &r, &error) == 0)
        fuzz_check_result(&r);
    free(buf);
    return 0;
}
