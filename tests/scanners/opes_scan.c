/*
 * opes_scan.c - opes-scan, a test tool: one message file through the clamd,
 * spamd or rspamd client, the result on one line of key=value pairs.
 *
 *   opes-scan [-t MS] [-n RUNS] [-u USER] clamd|clamd-buffer|spamd|rspamd ENDPOINT FILE
 *
 * "clamd" scans the file through a spool (as opesd does with a message),
 * "clamd-buffer" from memory. The line is
 *   result=clean|infected|ham|spam|error [virus=NAME] [score=S threshold=T
 *   symbols=LIST] [action=ACTION score=S required=R symbols=LIST] ms=M
 *   [runs=N ms_per_message=AVG] [error=TEXT]
 * (rspamd: spam from "add header" up, the action with '_' for ' ', the
 * symbols joined with ','), with M the time of the last run (-n repeats the
 * scan and adds the average); an error's text runs to the end of the line.
 * Exit status: 0 clean or ham, 1 infected or spam, 2 error, 64 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "opes/clamd.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "opes/rspamd.h"
#include "opes/spamd.h"
#include "opes/spool.h"

#define SCAN_SPOOL_MEM (256 * 1024)

struct scan_opts {
    char error[600]; /* of the last run, "" when none */
    int timeout_ms;
    int runs;
    const char *user;
    const char *mode;
    struct endpoint ep;
    char *data;
    size_t len;
    struct spool *spool;
};

static int scan_usage(void)
{
    fprintf(stderr, "usage: opes-scan [-t MS] [-n RUNS] [-u USER] "
                    "clamd|clamd-buffer|spamd|rspamd ENDPOINT FILE\n");
    return 64;
}

static double scan_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* scan_load - the file into memory and into a spool. */
static int scan_load(struct scan_opts *o, const char *path)
{
    const char *tmp = getenv("TMPDIR");
    FILE *fp = fopen(path, "rb");
    long size;

    if (fp == NULL || fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) < 0) {
        perror(path);
        return -1;
    }
    o->len = (size_t)size;
    o->data = malloc(o->len + 1);
    if (o->data == NULL || fread(o->data, 1, o->len, fp) != o->len) {
        perror(path);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    o->spool = spool_new(SCAN_SPOOL_MEM, tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    /* (spool_write of 0 octets on a new spool passes NULL to memcpy: skip it) */
    if (o->len > 0 && spool_write(o->spool, o->data, o->len) < 0) {
        perror("spool");
        return -1;
    }
    return 0;
}

/* scan_set_error - "result=error" now, the text (control characters as '?') at the end. */
static void scan_set_error(struct scan_opts *o, char *line, size_t size, const char *error)
{
    size_t i;

    snprintf(line, size, "result=error");
    snprintf(o->error, sizeof(o->error), "%s", error);
    for (i = 0; o->error[i] != '\0'; i++)
        if ((unsigned char)o->error[i] < 0x20 || o->error[i] == 0x7f)
            o->error[i] = '?';
}

/* scan_clamd - one scan; prints nothing, fills line. Returns the exit status. */
static int scan_clamd(struct scan_opts *o, char *line, size_t size)
{
    char virus[CLAMD_VIRUS_MAX];
    const char *error = NULL;
    int rc;

    if (strcmp(o->mode, "clamd") == 0)
        rc = clamd_scan(&o->ep, o->timeout_ms, o->spool, virus, sizeof(virus), &error);
    else
        rc =
            clamd_scan_buffer(&o->ep, o->timeout_ms, o->data, o->len, virus, sizeof(virus), &error);
    if (rc == 0)
        snprintf(line, size, "result=clean");
    else if (rc == 1)
        snprintf(line, size, "result=infected virus=%s", virus);
    else
        scan_set_error(o, line, size, error);
    return rc < 0 ? 2 : rc;
}

static int scan_spamd(struct scan_opts *o, char *line, size_t size)
{
    struct spamd_result r;
    const char *error = NULL;

    if (spamd_check(&o->ep, o->timeout_ms, o->spool, o->user, &r, &error) < 0) {
        scan_set_error(o, line, size, error);
        return 2;
    }
    snprintf(line, size, "result=%s score=%.1f threshold=%.1f symbols=%s%s",
             r.is_spam ? "spam" : "ham", r.score, r.threshold, r.symbols,
             r.symbols_truncated ? " symbols_truncated=yes" : "");
    return r.is_spam ? 1 : 0;
}

/* scan_rspamd - one scan; -u names the recipient (default "nobody@localhost"). */
static int scan_rspamd(struct scan_opts *o, char *line, size_t size)
{
    const char *rcpt = o->user != NULL ? o->user : "nobody@localhost";
    const struct rspamd_request req = {.from = "", .rcpts = &rcpt, .nrcpts = 1};
    struct rspamd_result r;
    const char *error = NULL;
    char action[32];
    bool spam;

    if (rspamd_check(&o->ep, o->timeout_ms, o->spool, &req, &r, &error) < 0) {
        scan_set_error(o, line, size, error);
        return 2;
    }
    snprintf(action, sizeof(action), "%s", rspamd_action_name(r.action));
    for (char *p = action; *p != '\0'; p++)
        *p = *p == ' ' ? '_' : *p;
    for (char *p = r.symbols; *p != '\0'; p++)
        *p = *p == ' ' ? ',' : *p;
    spam = r.action >= RSPAMD_ADD_HEADER;
    snprintf(line, size, "result=%s action=%s score=%.2f required=%.2f symbols=%s",
             spam ? "spam" : "ham", action, r.score, r.required_score, r.symbols);
    return spam ? 1 : 0;
}

static int scan_parse_args(struct scan_opts *o, int argc, char **argv)
{
    const char *error;
    int c;

    o->timeout_ms = 10000;
    o->runs = 1;
    o->user = NULL;
    while ((c = getopt(argc, argv, "t:n:u:")) != -1) {
        if (c == 't')
            o->timeout_ms = atoi(optarg);
        else if (c == 'n')
            o->runs = atoi(optarg);
        else if (c == 'u')
            o->user = optarg;
        else
            return -1;
    }
    if (argc - optind != 3 || o->timeout_ms <= 0 || o->runs <= 0)
        return -1;
    o->mode = argv[optind];
    if (strcmp(o->mode, "clamd") != 0 && strcmp(o->mode, "clamd-buffer") != 0 &&
        strcmp(o->mode, "spamd") != 0 && strcmp(o->mode, "rspamd") != 0)
        return -1;
    if (endpoint_parse(argv[optind + 1], &o->ep, &error) < 0) {
        fprintf(stderr, "opes-scan: %s: %s\n", argv[optind + 1], error);
        return -1;
    }
    return scan_load(o, argv[optind + 2]);
}

int main(int argc, char **argv)
{
    struct scan_opts o;
    char line[2048];
    double last = 0, total = 0;
    int i, status = 2;

    log_init("opes-scan", 0);
    memset(&o, 0, sizeof(o));
    if (scan_parse_args(&o, argc, argv) < 0)
        return scan_usage();
    for (i = 0; i < o.runs; i++) {
        double start = scan_now_ms();

        o.error[0] = '\0';
        if (strcmp(o.mode, "spamd") == 0)
            status = scan_spamd(&o, line, sizeof(line));
        else if (strcmp(o.mode, "rspamd") == 0)
            status = scan_rspamd(&o, line, sizeof(line));
        else
            status = scan_clamd(&o, line, sizeof(line));
        last = scan_now_ms() - start;
        total += last;
    }
    printf("%s ms=%.0f", line, last);
    if (o.runs > 1)
        printf(" runs=%d ms_per_message=%.2f", o.runs, total / o.runs);
    printf(o.error[0] != '\0' ? " error=%s\n" : "\n", o.error);
    spool_free(&o.spool);
    free(o.data);
    return status;
}
