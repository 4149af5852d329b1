/*
 * fuzz_authres.c - libFuzzer target for the Authentication-Results reader.
 *
 * The input is a header section as a held message's would be stored. It is
 * read for a sender of a fixed domain and a fixed trusted authserv-id; a
 * verified answer must say what verified it, by the trusted id, and a field
 * of another authserv-id alone must never verify.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/authres.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char how[200];
    bool ok;

    ok = authres_verified((const char *)data, size, "mx.example.org", "bob@remote.example", how,
                          sizeof(how));
    FUZZ_CHECK(memchr(how, '\0', sizeof(how)) != NULL);
    if (ok) {
        size_t n = strlen(how);
        FUZZ_CHECK(strncasecmp(how, "spf=pass ", 9) == 0 || strncasecmp(how, "dkim", 4) == 0);
        /* unless cut short, it ends in the trusted id */
        FUZZ_CHECK(n + 1 == sizeof(how) ||
                   (n >= 18 && strcasecmp(how + n - 18, " by mx.example.org") == 0));
    }
    /* nobody is trusted: nothing verifies */
    FUZZ_CHECK(
        !authres_verified((const char *)data, size, "", "bob@remote.example", how, sizeof(how)));
    return 0;
}
