/*
 * test_config.c - the table-driven INI configuration (store/base/config.c).
 *
 * What an operator sees: defaults without a file, every mistake in a file
 * reported as "file:line: section.key: reason" with the right line, sizes and
 * durations with suffixes, and `opesd -t` output that can be loaded again.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char *tmpdir;

static void setup(void)
{
    tmpdir = unit_tmpdir();
}

static void teardown(void)
{
    unit_rmtree(tmpdir);
    free(tmpdir);
    tmpdir = NULL;
}

static char *write_conf(const char *name, const char *text)
{
    return unit_write_file(tmpdir, name, text, strlen(text));
}

/* error_lines - split an error text into lines; returns the count. */
static int error_lines(const char *error, char lines[][512], int max)
{
    int n = 0;

    while (*error != '\0' && n < max) {
        size_t len = strcspn(error, "\n");
        ck_assert_uint_lt(len, 512);
        memcpy(lines[n], error, len);
        lines[n][len] = '\0';
        n++;
        error += len;
        if (*error == '\n')
            error++;
    }
    return n;
}

START_TEST(defaults)
{
    const char *error = NULL;
    struct opes_config *cfg = config_load(NULL, &error);

    ck_assert_msg(cfg != NULL, "defaults rejected: %s", error != NULL ? error : "");
    ck_assert_str_eq(cfg->listen, "127.0.0.1:2424");
    ck_assert_str_eq(cfg->system_uri, "http://localhost:8025/opes");
    ck_assert_str_eq(cfg->target, "lmtp:unix:/run/dovecot/lmtp");
    /* the protocol's own numbers (RFC 5321 4.5.3, PROTOCOL items 7, 8, 11, 16) */
    ck_assert_uint_eq(cfg->max_command_line, 4096);
    ck_assert_uint_ge(cfg->max_recipients, 100);
    ck_assert_uint_ge(cfg->command_timeout, 300);
    ck_assert_uint_lt(cfg->processing_timeout, 600);
    ck_assert_uint_le(cfg->down_data_done_timeout, 600);
    ck_assert_int_eq(cfg->bare_eol, CONFIG_BARE_EOL_REJECT);
    ck_assert(!cfg->maildir_create);
    ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
    /* an empty hostname means "ask the system" */
    ck_assert_ptr_nonnull(cfg->hostname);
    ck_assert_str_ne(cfg->hostname, "");
    /* non-delivery reports on, to verified senders, through the MTA on loopback */
    ck_assert_int_eq(cfg->dsn_send, CONFIG_DSN_VERIFIED);
    ck_assert_str_eq(cfg->notify_relay, "127.0.0.1:25");
    ck_assert_ptr_null(config_dsn_warning(cfg));
    config_unref(&cfg);
    ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(values_with_suffixes)
{
    const char *error = NULL;
    char *path =
        write_conf("opesd.conf", "; a comment\n"
                                 "[opes]\n"
                                 "system_uri = https://opes.example.org/system\n"
                                 "[lmtp]\n"
                                 "listen = 127.0.0.1:2424, [::1]:2424 unix:/run/opesd/lmtp\n"
                                 "max_message_size = 10M\n"
                                 "spool_memory = 512K\n"
                                 "max_command_line = 1k\n"
                                 "command_timeout = 5m\n"
                                 "data_timeout = 90\n"
                                 "processing_timeout = 4m\n"
                                 "socket_mode = 0600\n"
                                 "bare_line_ends = normalize\n"
                                 "hostname = mx.example.org\n"
                                 "\n"
                                 "[downstream]\n"
                                 "target = maildir:/srv/mail/%d/%u\n"
                                 "connect_timeout = 1h\n"
                                 "data_timeout = 2m\n"
                                 "data_done_timeout = 10m\n"
                                 "max_idle = 0\n"
                                 "maildir_create = yes\n"
                                 "[log]\n"
                                 "level = debug\n");
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_msg(cfg != NULL, "rejected: %s", error != NULL ? error : "");
    ck_assert_str_eq(cfg->system_uri, "https://opes.example.org/system");
    ck_assert_str_eq(cfg->listen, "127.0.0.1:2424, [::1]:2424 unix:/run/opesd/lmtp");
    ck_assert_uint_eq(cfg->max_message_size, 10u * 1024 * 1024);
    ck_assert_uint_eq(cfg->spool_memory, 512u * 1024);
    ck_assert_uint_eq(cfg->max_command_line, 1024);
    ck_assert_uint_eq(cfg->command_timeout, 300);
    ck_assert_uint_eq(cfg->data_timeout, 90);
    ck_assert_uint_eq(cfg->processing_timeout, 240);
    ck_assert_uint_eq(cfg->down_connect_timeout, 3600);
    ck_assert_uint_eq(cfg->socket_mode, 0600);
    ck_assert_int_eq(cfg->bare_eol, CONFIG_BARE_EOL_NORMALIZE);
    ck_assert_str_eq(cfg->hostname, "mx.example.org");
    ck_assert_str_eq(cfg->target, "maildir:/srv/mail/%d/%u");
    ck_assert_uint_eq(cfg->down_data_timeout, 120);
    ck_assert_uint_eq(cfg->down_data_done_timeout, 600);
    ck_assert_uint_eq(cfg->down_max_idle, 0);
    ck_assert(cfg->maildir_create);
    ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);
    /* keys not in the file keep their defaults */
    ck_assert_uint_eq(cfg->max_connections, 100);
    config_unref(&cfg);
    free(path);
}
END_TEST

/*
 * One key per file: accepted values and rejected ones
 */

struct key_test {
    const char *section;
    const char *key;
    const char *value;
};

static const struct key_test key_valid_tests[] = {
    {"lmtp", "max_recipients", "100"},
    {"lmtp", "max_recipients", "100000"},
    {"lmtp", "max_message_size", "1024"},
    {"lmtp", "max_message_size", "1G"},
    {"lmtp", "max_message_size", "1g"},
    {"lmtp", "socket_mode", "0777"},
    {"lmtp", "socket_mode", "0"},
    {"lmtp", "bare_line_ends", "reject"},
    {"lmtp", "command_timeout", "1d"},
    {"lmtp", "command_timeout", "1s"},
    {"lmtp", "listen", "[::1]:24"},
    {"lmtp", "listen", "unix:/run/opesd/lmtp"},
    {"lmtp", "listen", "0.0.0.0:2424 [::]:2424"},
    {"downstream", "target", "lmtp:127.0.0.1:24"},
    {"downstream", "target", "lmtp:[::1]:24"},
    {"downstream", "target", "lmtp:mail.example.org:24"},
    {"downstream", "target", "lmtp:unix:/run/dovecot/lmtp"},
    {"downstream", "target", "maildir:/srv/mail/%a"},
    {"downstream", "maildir_create", "true"},
    {"downstream", "maildir_create", "Off"},
    {"downstream", "max_idle", "1000"},
    {"downstream", "auth", "none"},
    {"downstream", "auth", "external"},
    {"downstream", "auth_user", "lmtp-opes@example.org"},
    {"opes", "system_uri", "http://opes.example.org:8025/opes"},
    {"log", "level", "err"},
};

static char *key_file(const struct key_test *t)
{
    char text[1024];

    snprintf(text, sizeof(text), "# one setting\n[%s]\n%s = %s\n", t->section, t->key, t->value);
    return write_conf("one.conf", text);
}

START_TEST(key_valid)
{
    const struct key_test *t = &key_valid_tests[_i];
    const char *error = NULL;
    char *path = key_file(t);
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_msg(cfg != NULL, "%s.%s = %s rejected: %s", t->section, t->key, t->value,
                  error != NULL ? error : "");
    config_unref(&cfg);
    free(path);
}
END_TEST

static const struct key_test key_invalid_tests[] = {
    {"lmtp", "max_recipients", "99"},
    {"lmtp", "max_recipients", "100001"},
    {"lmtp", "max_recipients", "abc"},
    {"lmtp", "max_recipients", "-1"},
    {"lmtp", "max_recipients", "1K"},
    {"lmtp", "max_recipients", "18446744073709551616"},
    {"lmtp", "max_connections", "0"},
    {"lmtp", "max_message_size", "1023"},
    {"lmtp", "max_message_size", "10Q"},
    {"lmtp", "max_message_size", "1.5M"},
    {"lmtp", "max_message_size", "10MB"},
    {"lmtp", "max_message_size", "M"},
    {"lmtp", "max_message_size", "99999999999999999999G"},
    {"lmtp", "spool_memory", "2G"},
    {"lmtp", "command_timeout", "0"},
    {"lmtp", "command_timeout", "5x"},
    {"lmtp", "command_timeout", "86401"},
    {"lmtp", "command_timeout", "2d"},
    /* filtering plus delivery must end before Postfix's 600 s lmtp_data_done_timeout */
    {"lmtp", "processing_timeout", "10m"},
    {"lmtp", "socket_mode", "0888"},
    {"lmtp", "socket_mode", "1000"},
    {"lmtp", "socket_mode", "rw"},
    {"lmtp", "bare_line_ends", "maybe"},
    {"lmtp", "listen", "127.0.0.1:99999"},
    {"lmtp", "listen", "127.0.0.1"},
    {"lmtp", "listen", "127.0.0.1:0"},
    {"lmtp", "listen", "unix:run/opesd/lmtp"},
    {"lmtp", "listen", "::1:24"},
    {"lmtp", "listen", "127.0.0.1:2424, 127.0.0.1:http"},
    {"downstream", "target", "smtp:mx.example.org:25"},
    {"downstream", "target", "mx.example.org:24"},
    {"downstream", "target", "lmtp:mx.example.org"},
    {"downstream", "target", "lmtp:unix:run/dovecot/lmtp"},
    {"downstream", "target", "maildir:/srv/mail"},
    {"downstream", "target", "maildir:"},
    {"downstream", "maildir_create", "perhaps"},
    {"downstream", "max_idle", "1001"},
    {"downstream", "auth", "kerberos"},
    {"downstream", "auth", "PLAIN"},
    {"downstream", "auth_user", "a\x01b"},
    {"opes", "system_uri", "ftp://opes.example.org/"},
    {"opes", "system_uri", "opes.example.org"},
    {"opes", "system_uri", "http://opes.example.org/a<b>"},
    {"opes", "system_uri", "http://opes.example.org/a,b"},
    {"log", "level", "verbose"},
    {"lmtp", "no_such_key", "1"},
    {"no_such_section", "listen", "127.0.0.1:2424"},
};

START_TEST(key_invalid)
{
    const struct key_test *t = &key_invalid_tests[_i];
    const char *error = NULL;
    char *path = key_file(t), expect[512], lines[4][512];
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_msg(cfg == NULL, "%s.%s = %s accepted", t->section, t->key, t->value);
    config_unref(&cfg);
    ck_assert_ptr_nonnull(error);
    ck_assert_int_eq(error_lines(error, lines, 4), 1);
    snprintf(expect, sizeof(expect), "%s:3: %s.%s: ", path, t->section, t->key);
    ck_assert_msg(strncmp(lines[0], expect, strlen(expect)) == 0,
                  "\"%s\" does not start with \"%s\"", lines[0], expect);
    ck_assert_msg(strlen(lines[0]) > strlen(expect), "no reason in \"%s\"", lines[0]);
    free(path);
}
END_TEST

/*
 * Several problems in one file: one line each, in file order
 */

START_TEST(every_problem_reported)
{
    static const char text[] = "# opesd test configuration\n"      /* 1 */
                               "[lmtp]\n"                          /* 2 */
                               "listen = 127.0.0.1:99999\n"        /* 3 */
                               "max_message_size = 10Q\n"          /* 4 */
                               "max_connections = 0\n"             /* 5 */
                               "frobnicate = yes\n"                /* 6 */
                               "max_recipients = 200\n"            /* 7 */
                               "max_recipients = 300\n"            /* 8 */
                               "\n"                                /* 9 */
                               "[downstream]\n"                    /* 10 */
                               "; the store\n"                     /* 11 */
                               "target = smtp:mx.example.org:25\n" /* 12 */
                               "connect_timeout = 30s\n";          /* 13 */
    static const struct {
        int line;
        const char *key;
    } expect[] = {
        {3, "lmtp.listen"},     {4, "lmtp.max_message_size"}, {5, "lmtp.max_connections"},
        {6, "lmtp.frobnicate"}, {8, "lmtp.max_recipients"},   {12, "downstream.target"},
    };
    const char *error = NULL;
    char *path = write_conf("bad.conf", text), lines[16][512], prefix[512];
    struct opes_config *cfg = config_load(path, &error);
    int n;

    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(error);
    n = error_lines(error, lines, 16);
    ck_assert_msg(n == (int)N_ELEMENTS(expect), "%d error lines, expected %d:\n%s", n,
                  (int)N_ELEMENTS(expect), error);
    for (int i = 0; i < n; i++) {
        snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", path, expect[i].line, expect[i].key);
        ck_assert_msg(strncmp(lines[i], prefix, strlen(prefix)) == 0,
                      "line %d of the error is \"%s\", expected it to start with \"%s\"", i + 1,
                      lines[i], prefix);
        ck_assert_uint_gt(strlen(lines[i]), strlen(prefix));
    }
    free(path);
}
END_TEST

/* auth = plain needs a user and a password file; only an LMTP target authenticates */
START_TEST(downstream_auth_keys)
{
    const char *error = NULL;
    char *path, lines[4][512], expect[512];
    struct opes_config *cfg;

    path = write_conf("auth.conf", "[downstream]\n"
                                   "target = lmtp:127.0.0.1:2003\n"
                                   "auth = plain\n");
    cfg = config_load(path, &error);
    ck_assert_ptr_null(cfg);
    ck_assert_int_eq(error_lines(error, lines, 4), 2);
    snprintf(expect, sizeof(expect), "%s:3: downstream.auth_user: auth = plain needs auth_user",
             path);
    ck_assert_str_eq(lines[0], expect);
    snprintf(expect, sizeof(expect),
             "%s:3: downstream.auth_password_file: auth = plain needs auth_password_file", path);
    ck_assert_str_eq(lines[1], expect);
    free(path);

    path = write_conf("auth2.conf", "[downstream]\n"
                                    "target = maildir:/srv/mail/%u\n"
                                    "auth = external\n");
    cfg = config_load(path, &error);
    ck_assert_ptr_null(cfg);
    ck_assert_int_eq(error_lines(error, lines, 4), 1);
    ck_assert_ptr_nonnull(strstr(lines[0], ":3: downstream.auth: only an lmtp: target"));
    free(path);

    path = write_conf("auth3.conf", "[downstream]\n"
                                    "target = lmtp:127.0.0.1:2003\n"
                                    "auth = plain\n"
                                    "auth_user = lmtpopes\n"
                                    "auth_password_file = /etc/opesd/cyrus.secret\n");
    cfg = config_load(path, &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    ck_assert_int_eq(cfg->down_auth, CONFIG_AUTH_PLAIN);
    ck_assert_str_eq(cfg->down_auth_user, "lmtpopes");
    ck_assert_str_eq(cfg->down_auth_password_file, "/etc/opesd/cyrus.secret");
    config_unref(&cfg);
    free(path);
}
END_TEST

/* a line that is not "key = value" is a problem like any other */
START_TEST(syntax_error_reported)
{
    const char *error = NULL;
    char *path = write_conf("syntax.conf", "[lmtp]\n"
                                           "max_recipients = 200\n"
                                           "this line is not a setting\n");
    char prefix[512];
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_ptr_null(cfg);
    snprintf(prefix, sizeof(prefix), "%s:3: ", path);
    ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0, "\"%s\"", error);
    ck_assert_ptr_null(strchr(error, '\n'));
    free(path);
}
END_TEST

START_TEST(syntax_error_with_other_problems)
{
    const char *error = NULL;
    char *path = write_conf("mixed.conf", "[lmtp]\n"
                                          "frobnicate = 1\n"
                                          "this line is not a setting\n"
                                          "max_recipients = 5\n");
    char lines[8][512], prefix[512];
    struct opes_config *cfg = config_load(path, &error);
    int n;

    ck_assert_ptr_null(cfg);
    n = error_lines(error, lines, 8);
    ck_assert_msg(n == 3, "%d error lines, expected 3 (lines 2, 3 and 4):\n%s", n, error);
    for (int i = 0; i < n; i++) {
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, i + 2);
        ck_assert_msg(strncmp(lines[i], prefix, strlen(prefix)) == 0, "\"%s\"", lines[i]);
    }
    free(path);
}
END_TEST

/* an overlong line is reported with its number and does not shift the others */
START_TEST(overlong_line)
{
    const char *error = NULL;
    char text[2048], lines[8][512], prefix[512], *path;
    struct opes_config *cfg;
    int n;

    snprintf(text, sizeof(text),
             "[opes]\nsystem_uri = http://opes.example.org/%01000d\n[lmtp]\n"
             "frobnicate = 1\n",
             0);
    path = write_conf("long.conf", text);
    cfg = config_load(path, &error);
    ck_assert_ptr_null(cfg);
    n = error_lines(error, lines, 8);
    ck_assert_msg(n == 2, "%d error lines, expected 2:\n%s", n, error);
    snprintf(prefix, sizeof(prefix), "%s:2: ", path);
    ck_assert_msg(strncmp(lines[0], prefix, strlen(prefix)) == 0, "\"%s\"", lines[0]);
    snprintf(prefix, sizeof(prefix), "%s:4: lmtp.frobnicate: ", path);
    ck_assert_msg(strncmp(lines[1], prefix, strlen(prefix)) == 0, "\"%s\"", lines[1]);
    free(path);
}
END_TEST

/*
 * a file with more problems than the report can hold (a wrong file given to
 * opesd -t, say) still gives whole lines that each name the file
 */
START_TEST(many_problems)
{
    const char *error = NULL;
    char *text = malloc(300 * 32 + 16), *path, lines[400][512];
    size_t o = 0, plen;
    struct opes_config *cfg;
    int n;

    o += (size_t)sprintf(text, "[lmtp]\n");
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(text + o, "unknown_key_%03d = %d\n", i, i);
    path = write_conf("many-problems.conf", text);
    plen = strlen(path);
    cfg = config_load(path, &error);
    ck_assert_ptr_null(cfg);
    n = error_lines(error, lines, 400);
    ck_assert_int_gt(n, 10);
    for (int i = 0; i < n; i++) {
        char expect[128];
        const char *rest = lines[i] + plen + 1;

        ck_assert_msg(strncmp(lines[i], path, plen) == 0 && lines[i][plen] == ':',
                      "line %d of the report does not name the file: \"%s\"", i + 1, lines[i]);
        if (i == n - 1 && (*rest < '0' || *rest > '9'))
            break; /* a closing summary such as "file: N more problems" */
        /* problem i is on line i + 2 of the file; none skipped, none cut */
        snprintf(expect, sizeof(expect), "%d: lmtp.unknown_key_%03d: ", i + 2, i);
        ck_assert_msg(strncmp(rest, expect, strlen(expect)) == 0 && rest[strlen(expect)] != '\0',
                      "line %d of %d of the report is \"%s\", expected \"%s:%s<reason>\"", i + 1, n,
                      lines[i], path, expect);
    }
    free(text);
    free(path);
}
END_TEST

START_TEST(missing_file)
{
    const char *error = NULL;
    char *path;
    struct opes_config *cfg;

    ck_assert_int_ge(asprintf(&path, "%s/absent.conf", tmpdir), 0);
    cfg = config_load(path, &error);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, path));
    free(path);
}
END_TEST

/*
 * Sizes and durations
 */

struct unit_test {
    const char *text;
    int ok;
    uint64_t value;
};

static const struct unit_test size_tests[] = {
    {"0", 1, 0},
    {"4096", 1, 4096},
    {"1k", 1, 1024},
    {"512K", 1, 512 * 1024},
    {"10M", 1, 10 * 1024 * 1024},
    {"10m", 1, 10 * 1024 * 1024},
    {"2G", 1, 2ull * 1024 * 1024 * 1024},
    {"18446744073709551615", 1, UINT64_MAX},
    {"", 0, 0},
    {"K", 0, 0},
    {"-1", 0, 0},
    {" 10", 0, 0},
    {"+10", 0, 0},
    {"10KB", 0, 0},
    {"10 K", 0, 0},
    {"1.5M", 0, 0},
    {"10T", 0, 0},
    {"17179869184G", 0, 0},
};

START_TEST(parse_size)
{
    const struct unit_test *t = &size_tests[_i];
    uint64_t v = 12345;
    int ret = config_parse_size(t->text, &v);

    if (t->ok) {
        ck_assert_msg(ret == 0, "\"%s\" rejected", t->text);
        ck_assert_uint_eq(v, t->value);
    } else {
        ck_assert_msg(ret < 0, "\"%s\" accepted as %llu", t->text, (unsigned long long)v);
    }
}
END_TEST

static const struct unit_test time_tests[] = {
    {"0", 1, 0},     {"300", 1, 300},
    {"30s", 1, 30},  {"5m", 1, 300},
    {"2h", 1, 7200}, {"1d", 1, 86400},
    {"", 0, 0},      {"s", 0, 0},
    {"-5s", 0, 0},   {"5 m", 0, 0},
    {"5min", 0, 0},  {"1w", 0, 0},
    {"1.5h", 0, 0},  {"18446744073709551615d", 0, 0},
};

START_TEST(parse_time)
{
    const struct unit_test *t = &time_tests[_i];
    uint64_t v = 12345;
    int ret = config_parse_time(t->text, &v);

    if (t->ok) {
        ck_assert_msg(ret == 0, "\"%s\" rejected", t->text);
        ck_assert_uint_eq(v, t->value);
    } else {
        ck_assert_msg(ret < 0, "\"%s\" accepted as %llu", t->text, (unsigned long long)v);
    }
}
END_TEST

/*
 * config_print: what `opesd -t` shows loads again and shows the same
 */

static char *print_to_file(const struct opes_config *cfg, const char *name, char **text_r)
{
    char *path;
    FILE *fp;
    long len;

    ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
    fp = fopen(path, "w+");
    ck_assert_ptr_nonnull(fp);
    config_print(cfg, fp);
    ck_assert_int_eq(fflush(fp), 0);
    len = ftell(fp);
    ck_assert_int_gt(len, 0);
    *text_r = calloc(1, (size_t)len + 1);
    rewind(fp);
    ck_assert_uint_eq(fread(*text_r, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    return path;
}

static void print_round_trip(struct opes_config *cfg)
{
    const char *error = NULL;
    char *text1, *text2, *path1, *path2;
    struct opes_config *again;

    path1 = print_to_file(cfg, "printed1.conf", &text1);
    again = config_load(path1, &error);
    ck_assert_msg(again != NULL, "printed configuration does not load: %s\n%s",
                  error != NULL ? error : "", text1);
    path2 = print_to_file(again, "printed2.conf", &text2);
    ck_assert_str_eq(text2, text1);
    ck_assert_uint_eq(again->max_message_size, cfg->max_message_size);
    ck_assert_uint_eq(again->command_timeout, cfg->command_timeout);
    ck_assert_uint_eq(again->socket_mode, cfg->socket_mode);
    ck_assert_str_eq(again->listen, cfg->listen);
    ck_assert_str_eq(again->target, cfg->target);
    ck_assert_int_eq(again->maildir_create, cfg->maildir_create);
    ck_assert_int_eq(again->bare_eol, cfg->bare_eol);
    config_unref(&again);
    free(text1);
    free(text2);
    free(path1);
    free(path2);
}

START_TEST(print_defaults_round_trip)
{
    const char *error = NULL;
    struct opes_config *cfg = config_load(NULL, &error);

    ck_assert_ptr_nonnull(cfg);
    print_round_trip(cfg);
    config_unref(&cfg);
}
END_TEST

START_TEST(print_custom_round_trip)
{
    const char *error = NULL;
    char *path = write_conf("custom.conf", "[lmtp]\n"
                                           "listen = 127.0.0.1:2525 [::1]:2525\n"
                                           "hostname = relay.example.org\n"
                                           "user = opesd\n"
                                           "max_message_size = 25M\n"
                                           "command_timeout = 10m\n"
                                           "socket_mode = 0640\n"
                                           "bare_line_ends = normalize\n"
                                           "xforward_hosts = 192.0.2.1 unix\n"
                                           "[downstream]\n"
                                           "target = lmtp:[2001:db8::25]:24\n"
                                           "maildir_create = on\n");
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_msg(cfg != NULL, "%s", error != NULL ? error : "");
    print_round_trip(cfg);
    config_unref(&cfg);
    free(path);
}
END_TEST

/* a shared configuration lives until its last user lets go */
START_TEST(ref_counting)
{
    const char *error = NULL;
    struct opes_config *cfg = config_load(NULL, &error), *other;

    ck_assert_ptr_nonnull(cfg);
    other = config_ref(cfg);
    ck_assert_ptr_eq(other, cfg);
    config_unref(&cfg);
    ck_assert_ptr_null(cfg);
    /* still usable through the second reference */
    ck_assert_str_eq(other->listen, "127.0.0.1:2424");
    config_unref(&other);
    ck_assert_ptr_null(other);
}
END_TEST

/* word-valued keys land in enums, and their reasons list the words */
START_TEST(enum_keys)
{
    const char *error = NULL;
    char *path = write_conf("enum.conf", "[lmtp]\nbare_line_ends = normalize\n"
                                         "[policy]\nblocklist_action = reject\n"
                                         "[notify]\ndefault_mode = digest\n"
                                         "[log]\nlevel = warn\n");
    struct opes_config *cfg = config_load(path, &error);

    ck_assert_msg(cfg != NULL, "%s", error);
    ck_assert_int_eq(cfg->bare_eol, CONFIG_BARE_EOL_NORMALIZE);
    ck_assert_int_eq(cfg->blocklist_action, CONFIG_BLOCK_REJECT);
    ck_assert_int_eq(cfg->notify_default_mode, CONFIG_NOTIFY_DIGEST);
    ck_assert_str_eq(config_notify_mode_name(cfg->notify_default_mode), "digest");
    ck_assert_int_eq(cfg->log_level, LOG_LEVEL_WARN);
    ck_assert_int_eq(cfg->down_auth, CONFIG_AUTH_NONE);
    config_unref(&cfg);
    free(path);

    path = write_conf("dsn.conf", "[notify]\nrelay =\n[dsn]\nsend = always\n"
                                  "trusted_authserv_id = mx.example.org, mx2.example.org\n");
    cfg = config_load(path, &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    ck_assert_int_eq(cfg->dsn_send, CONFIG_DSN_ALWAYS);
    ck_assert_str_eq(cfg->dsn_trusted_authserv_id, "mx.example.org, mx2.example.org");
    /* reports asked for, but no relay to send them through */
    ck_assert_ptr_nonnull(strstr(config_dsn_warning(cfg), "relay is empty"));
    config_unref(&cfg);
    free(path);
    path = write_conf("dsn-never.conf", "[notify]\nrelay =\n[dsn]\nsend = never\n");
    cfg = config_load(path, &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    ck_assert_ptr_null(config_dsn_warning(cfg));
    config_unref(&cfg);
    free(path);
    path = write_conf("dsn-bad.conf", "[dsn]\nsend = sometimes\n");
    ck_assert_ptr_null(config_load(path, &error));
    ck_assert_str_eq(strstr(error, ":2: "), ":2: dsn.send: expected verified, always or never");
    free(path);

    path = write_conf("enum-bad.conf", "[notify]\ndefault_mode = Digest\n");
    ck_assert_ptr_null(config_load(path, &error));
    ck_assert_str_eq(strstr(error, ":2: "),
                     ":2: notify.default_mode: expected immediate, digest or off");
    free(path);
}
END_TEST

/* the keys flagged CONFIG_RESTART, named when a reload changes them */
START_TEST(restart_keys)
{
    const char *error = NULL;
    char *a = write_conf("a.conf", "[lmtp]\nlisten = 127.0.0.1:2424\nmax_connections = 5\n");
    char *b = write_conf("b.conf", "[lmtp]\nlisten = 127.0.0.1:2525\nuser = mail\n");
    struct opes_config *ca = config_load(a, &error), *cb = config_load(b, &error);
    char keys[256];

    ck_assert_ptr_nonnull(ca);
    ck_assert_ptr_nonnull(cb);
    ck_assert_uint_eq(config_restart_keys(ca, ca, keys, sizeof(keys)), 0);
    ck_assert_str_eq(keys, "");
    ck_assert_uint_eq(config_restart_keys(ca, cb, keys, sizeof(keys)), 2);
    ck_assert_str_eq(keys, "lmtp.listen and lmtp.user");
    config_unref(&ca);
    config_unref(&cb);
    free(a);
    free(b);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, values_with_suffixes);
    tcase_add_loop_test(tc, key_valid, 0, (int)N_ELEMENTS(key_valid_tests));
    tcase_add_loop_test(tc, key_invalid, 0, (int)N_ELEMENTS(key_invalid_tests));
    tcase_add_test(tc, every_problem_reported);
    tcase_add_test(tc, downstream_auth_keys);
    tcase_add_test(tc, syntax_error_reported);
    tcase_add_test(tc, syntax_error_with_other_problems);
    tcase_add_test(tc, overlong_line);
    tcase_add_test(tc, many_problems);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, ref_counting);
    tcase_add_test(tc, enum_keys);
    tcase_add_test(tc, restart_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("units");
    tcase_add_loop_test(tc, parse_size, 0, (int)N_ELEMENTS(size_tests));
    tcase_add_loop_test(tc, parse_time, 0, (int)N_ELEMENTS(time_tests));
    suite_add_tcase(s, tc);

    tc = tcase_create("print");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, print_defaults_round_trip);
    tcase_add_test(tc, print_custom_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
