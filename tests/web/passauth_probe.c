/*
 * passauth_probe.c - ask the configured mail system about one password, as
 * the portal's login does: "passauth_probe CONFIG ADDRESS [CLIENT]" with the
 * password on standard input; prints OK, BAD or TEMP and the reason. For
 * test_passauth.py, which runs it against a real Dovecot.
 */
#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/web_passauth.h"

int main(int argc, char **argv)
{
    static const char *const names[] = {"OK", "BAD", "TEMP"};
    char password[1024], why[512];
    const char *error;
    struct opes_config *cfg;
    enum web_passauth_result r;

    if (argc < 3 || fgets(password, sizeof(password), stdin) == NULL)
        return 2;
    password[strcspn(password, "\n")] = '\0';
    if ((cfg = config_load(argv[1], &error)) == NULL) {
        fprintf(stderr, "%s\n", error);
        return 2;
    }
    r = web_passauth_check(cfg, argv[2], password, argc > 3 ? argv[3] : NULL, why, sizeof(why));
    printf("%s %s\n", names[r], why);
    config_unref(&cfg);
    return 0;
}
