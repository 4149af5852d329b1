/*
 * test_lmtp_server.c - the LMTP protocol library on its own.
 *
 * The server runs on one end of a socketpair with callbacks that record what
 * they are asked and answer from a script: no store, no services, no
 * delivery target (this suite links opes_lmtp only). Each test sends a
 * transcript at once, as a pipelining client does, and compares every reply
 * the server wrote, then what the callbacks saw.
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opes/lmtp_server.h"
#include "opes/log.h"
#include "opes/spool.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);

/* What the callbacks saw, in order, and how they answer. */
struct rec {
    char events[4096];
    char data[4096];         /* the spooled content at data_end */
    char chunks[4096];       /* the content as data_chunk saw it */
    bool refuse_mail;        /* mail answers 451 */
    const char *refuse_rcpt; /* rcpt answers 550 for this address */
    const char *rewrite_from, *rewrite_to;
    int tx_frees;
};

static char *spool_dir;

static void setup(void)
{
    spool_dir = unit_tmpdir();
}

static void teardown(void)
{
    unit_rmtree(spool_dir);
    free(spool_dir);
    spool_dir = NULL;
}

static void rec_event(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_event(struct rec *r, const char *fmt, ...)
{
    size_t len = strlen(r->events);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->events + len, sizeof(r->events) - len, fmt, ap);
    va_end(ap);
}

static void cb_lhlo(void *ctx, struct lmtp_caps *caps)
{
    rec_event(ctx, "lhlo;");
    caps->eightbitmime = true;
}

static int cb_mail(void *ctx, struct lmtp_server_tx *tx, struct lmtp_reply *reply)
{
    struct rec *r = ctx;

    rec_event(r, "mail <%s>;", tx->sender);
    snprintf(tx->id, sizeof(tx->id), "T1");
    if (r->refuse_mail) {
        lmtp_reply_set(reply, 451, "4.3.0", "Try later");
        return -1;
    }
    return 0;
}

static void cb_rcpt_filter(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *rc)
{
    struct rec *r = ctx;

    (void)tx;
    if (r->rewrite_from != NULL && strcmp(rc->addr, r->rewrite_from) == 0) {
        snprintf(rc->orig, sizeof(rc->orig), "%s", rc->addr);
        snprintf(rc->addr, sizeof(rc->addr), "%s", r->rewrite_to);
    }
}

static void cb_rcpt(void *ctx, struct lmtp_server_tx *tx, struct lmtp_server_rcpt *rc)
{
    struct rec *r = ctx;

    (void)tx;
    rec_event(r, "rcpt <%s>%s;", rc->addr, rc->bypass != NULL ? " bypass" : "");
    if (r->refuse_rcpt != NULL && strcmp(rc->addr, r->refuse_rcpt) == 0)
        lmtp_reply_set(&rc->reply, 550, "5.1.1", "<%s> No such user", rc->addr);
    else
        lmtp_reply_set(&rc->reply, 250, "2.1.5", "<%s> OK", rc->addr);
}

static void cb_data_begin(void *ctx, struct lmtp_server_tx *tx)
{
    (void)tx;
    rec_event(ctx, "data_begin;");
}

static void cb_data_chunk(void *ctx, struct lmtp_server_tx *tx, const char *data, size_t len)
{
    struct rec *r = ctx;
    size_t have = strlen(r->chunks);

    (void)tx;
    ck_assert_uint_lt(have + len, sizeof(r->chunks));
    memcpy(r->chunks + have, data, len);
    r->chunks[have + len] = '\0';
}

/* cb_data_end - read the spool back; recipient i gets 250, or 452 when its address starts "full".
 */
static void cb_data_end(void *ctx, struct lmtp_server_tx *tx, struct spool *spool)
{
    struct rec *r = ctx;
    ssize_t n;

    ck_assert_int_eq(spool_rewind(spool), 0);
    n = spool_read(spool, r->data, sizeof(r->data) - 1);
    ck_assert_int_ge(n, 0);
    r->data[n] = '\0';
    rec_event(r, "data_end %zu;", tx->nrcpts);
    for (size_t i = 0; i < tx->nrcpts; i++) {
        struct lmtp_server_rcpt *rc = &tx->rcpts[i];
        if (strncmp(rc->addr, "full", 4) == 0)
            lmtp_reply_set(&rc->reply, 452, "4.2.2", "<%s> Mailbox full", rc->addr);
        else
            lmtp_reply_set(&rc->reply, 250, "2.0.0", "<%s> delivered", rc->addr);
    }
}

static void cb_data_replied(void *ctx, struct lmtp_server_tx *tx)
{
    (void)tx;
    rec_event(ctx, "replied;");
}

static void cb_tx_free(void *ctx, struct lmtp_server_tx *tx)
{
    struct rec *r = ctx;

    (void)tx;
    r->tx_frees++;
}

static const struct lmtp_server_callbacks callbacks = {
    .lhlo = cb_lhlo,
    .mail = cb_mail,
    .rcpt_filter = cb_rcpt_filter,
    .rcpt = cb_rcpt,
    .data_begin = cb_data_begin,
    .data_chunk = cb_data_chunk,
    .data_end = cb_data_end,
    .data_replied = cb_data_replied,
    .tx_free = cb_tx_free,
};

struct server_run {
    struct lmtp_server_settings set;
    struct rec *rec;
    int fd;
};

static void *server_thread(void *arg)
{
    struct server_run *run = arg;

    lmtp_server_session(&run->set, &callbacks, run->rec, run->fd, -1);
    return NULL;
}

static struct lmtp_server_settings settings(void)
{
    return (struct lmtp_server_settings){.hostname = "mx.test",
                                         .xforward_hosts = "",
                                         .max_message_size = 1000,
                                         .max_recipients = 3,
                                         .max_bad_commands = 5,
                                         .limits = {.max_command_line = 4096,
                                                    .max_param_len = LMTP_PARAM_LEN_MAX,
                                                    .max_params = LMTP_PARAMS_MAX},
                                         .command_timeout = 10,
                                         .data_timeout = 10,
                                         .bare_eol_reject = true,
                                         .spool_memory = 65536,
                                         .spool_dir = spool_dir};
}

/*
 * transcript - send input at once, close our sending side, and return all
 * the server wrote until it closed the connection (caller frees).
 */
static char *transcript(const struct lmtp_server_settings *set, struct rec *r, const char *input)
{
    struct server_run run = {.set = *set, .rec = r};
    size_t size = 65536, len = 0;
    char *out = malloc(size);
    pthread_t th;
    int sv[2];
    ssize_t n;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    run.fd = sv[0];
    ck_assert_int_eq(pthread_create(&th, NULL, server_thread, &run), 0);
    ck_assert_int_eq(write(sv[1], input, strlen(input)), (ssize_t)strlen(input));
    shutdown(sv[1], SHUT_WR);
    while ((n = read(sv[1], out + len, size - len - 1)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    pthread_join(th, NULL);
    close(sv[1]);
    return out;
}

#define GREETING "220 mx.test LMTP opesd ready\r\n"
#define LHLO_REPLY                                                                                 \
    "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"                 \
    "250-XOPES-BYPASS\r\n250 SIZE 1000\r\n"

START_TEST(greeting_and_lhlo)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    char *out = transcript(&set, &r, "LHLO client.test\r\nQUIT\r\n");

    ck_assert_str_eq(out, GREETING LHLO_REPLY "221 2.0.0 mx.test Bye\r\n");
    ck_assert_str_eq(r.events, "lhlo;");
    ck_assert_int_eq(r.tx_frees, 0);
    free(out);
}
END_TEST

START_TEST(xforward_offered_to_trusted_peer)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    char *out;

    set.xforward_hosts = "10.0.0.1, unix";
    out = transcript(&set, &r, "LHLO c\r\nXFORWARD ADDR=192.0.2.1 HELO=h.test\r\nQUIT\r\n");
    ck_assert_ptr_nonnull(strstr(out, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "250 SIZE 1000\r\n250 2.0.0 Ok\r\n221 "));
    free(out);
}
END_TEST

/* a pipelined transaction: one reply per command, then one per accepted recipient, in order */
START_TEST(pipelined_transaction)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {.refuse_rcpt = "nobody@b.test"};
    char *out = transcript(&set, &r,
                           "LHLO c\r\n"
                           "MAIL FROM:<s@a.test> SIZE=20\r\n"
                           "RCPT TO:<one@b.test>\r\n"
                           "RCPT TO:<nobody@b.test>\r\n"
                           "RCPT TO:<full@b.test> XOPES-BYPASS=spamd\r\n"
                           "RCPT TO:<ONE@b.test>\r\n"
                           "DATA\r\n"
                           "Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\n"
                           "QUIT\r\n");

    ck_assert_str_eq(out, GREETING LHLO_REPLY
                     "250 2.1.0 Sender <s@a.test> OK (trace T1)\r\n"
                     "250 2.1.5 <one@b.test> OK (trace T1)\r\n"
                     "550 5.1.1 <nobody@b.test> No such user (trace T1)\r\n"
                     "250 2.1.5 <full@b.test> OK (trace T1)\r\n"
                     "250 2.1.5 <one@b.test> OK (trace T1)\r\n"
                     "354 Start mail input; end with <CRLF>.<CRLF> (trace T1)\r\n"
                     "250 2.0.0 <one@b.test> delivered (trace T1)\r\n"
                     "452 4.2.2 <full@b.test> Mailbox full (trace T1)\r\n"
                     "250 2.0.0 <ONE@b.test> delivered (trace T1)\r\n"
                     "221 2.0.0 mx.test Bye\r\n");
    /* the duplicate (ONE@) shares its first's RCPT answer: rcpt is not asked again */
    ck_assert_str_eq(r.events, "lhlo;mail <s@a.test>;rcpt <one@b.test>;rcpt <nobody@b.test>;"
                               "rcpt <full@b.test> bypass;data_begin;data_end 3;replied;");
    ck_assert_str_eq(r.data, "Subject: x\r\n\r\n.dot\r\nbody\r\n");
    ck_assert_str_eq(r.chunks, r.data);
    ck_assert_int_eq(r.tx_frees, 1);
    free(out);
}
END_TEST

START_TEST(rcpt_rewritten_then_checked_again)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {.rewrite_from = "alias@b.test", .rewrite_to = "one@b.test"};
    char *out = transcript(&set, &r,
                           "LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<one@b.test>\r\n"
                           "RCPT TO:<alias@b.test>\r\nRSET\r\nQUIT\r\n");

    ck_assert_str_eq(out, GREETING LHLO_REPLY "250 2.1.0 Sender <> OK (trace T1)\r\n"
                                              "250 2.1.5 <one@b.test> OK (trace T1)\r\n"
                                              "250 2.1.5 <one@b.test> OK (trace T1)\r\n"
                                              "250 2.0.0 Ok\r\n"
                                              "221 2.0.0 mx.test Bye\r\n");
    ck_assert_str_eq(r.events, "lhlo;mail <>;rcpt <one@b.test>;");
    ck_assert_int_eq(r.tx_frees, 1);
    free(out);
}
END_TEST

START_TEST(rset_and_bad_sequence)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    char *out;

    set.max_bad_commands = 20;
    out = transcript(&set, &r,
                     "MAIL FROM:<s@a.test>\r\n"
                     "LHLO c\r\n"
                     "RCPT TO:<one@b.test>\r\n"
                     "DATA\r\n"
                     "MAIL FROM:<s@a.test>\r\n"
                     "MAIL FROM:<s@a.test>\r\n"
                     "DATA\r\n"
                     "RCPT TO:<one@b.test>\r\n"
                     "RSET\r\n"
                     "DATA\r\n"
                     "QUIT\r\n");

    ck_assert_str_eq(out, GREETING "503 5.5.1 Error: send LHLO first\r\n" LHLO_REPLY
                                   "503 5.5.1 Error: need MAIL command\r\n"
                                   "503 5.5.1 Error: need RCPT command\r\n"
                                   "250 2.1.0 Sender <s@a.test> OK (trace T1)\r\n"
                                   "503 5.5.1 Error: nested MAIL command (trace T1)\r\n"
                                   "503 5.5.1 Error: no valid recipients (trace T1)\r\n"
                                   "250 2.1.5 <one@b.test> OK (trace T1)\r\n"
                                   "250 2.0.0 Ok\r\n"
                                   "503 5.5.1 Error: need RCPT command\r\n"
                                   "221 2.0.0 mx.test Bye\r\n");
    ck_assert_str_eq(r.events, "lhlo;mail <s@a.test>;rcpt <one@b.test>;");
    ck_assert_int_eq(r.tx_frees, 1);
    free(out);
}
END_TEST

START_TEST(mail_refused_by_callback)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {.refuse_mail = true};
    char *out = transcript(&set, &r, "LHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<x@b.test>\r\n");

    ck_assert_str_eq(out, GREETING LHLO_REPLY "451 4.3.0 Try later (trace T1)\r\n"
                                              "503 5.5.1 Error: need MAIL command\r\n");
    ck_assert_int_eq(r.tx_frees, 1);
    free(out);
}
END_TEST

/* content the server refuses itself never reaches data_end; the replies still go out */
START_TEST(data_over_size_refused)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    char input[4096];
    char *out;

    set.max_message_size = 10;
    snprintf(input, sizeof(input),
             "LHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<a@b.test>\r\n"
             "RCPT TO:<c@b.test>\r\nDATA\r\n"
             "0123456789abcdef\r\n.\r\nQUIT\r\n");
    out = transcript(&set, &r, input);
    ck_assert_ptr_nonnull(strstr(out, "(trace T1)\r\n"
                                      "552 5.3.4 Message size exceeds fixed limit (trace T1)\r\n"
                                      "552 5.3.4 Message size exceeds fixed limit (trace T1)\r\n"
                                      "221 2.0.0 mx.test Bye\r\n"));
    ck_assert_str_eq(r.events, "lhlo;mail <s@a.test>;rcpt <a@b.test>;rcpt <c@b.test>;"
                               "data_begin;replied;");
    free(out);
}
END_TEST

START_TEST(too_many_recipients)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    char *out;

    set.max_recipients = 1;
    out = transcript(&set, &r,
                     "LHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<a@b.test>\r\n"
                     "RCPT TO:<c@b.test>\r\nQUIT\r\n");
    ck_assert_ptr_nonnull(strstr(out, "452 4.5.3 Too many recipients (trace T1)\r\n221 "));
    free(out);
}
END_TEST

/* a parameter over the limit is refused with 501 5.5.4, never cut to fit */
START_TEST(parameter_over_limit)
{
    struct lmtp_server_settings set = settings();
    struct rec r = {0};
    size_t len;
    char input[8192], *out;

    set.limits.max_param_len = 64;
    len = (size_t)snprintf(input, sizeof(input),
                           "LHLO c\r\nMAIL FROM:<s@a.test> XOPES-BYPASS=%051d\r\n"
                           "RCPT TO:<a@b.test> XOPES-BYPASS=%052d\r\n"
                           "RCPT TO:<a@b.test> XOPES-BYPASS=",
                           0, 0);
    memset(input + len, 'x', 2000); /* far beyond the old 1 KB parameter copy */
    snprintf(input + len + 2000, sizeof(input) - len - 2000, "\r\nQUIT\r\n");
    out = transcript(&set, &r, input);
    ck_assert_str_eq(out, GREETING LHLO_REPLY
                     "250 2.1.0 Sender <s@a.test> OK (trace T1)\r\n"
                     "501 5.5.4 Syntax: parameter longer than 64 octets (trace T1)\r\n"
                     "501 5.5.4 Syntax: parameter longer than 64 octets (trace T1)\r\n"
                     "221 2.0.0 mx.test Bye\r\n");
    ck_assert_str_eq(r.events, "lhlo;mail <s@a.test>;");
    free(out);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("lmtp_server");
    TCase *tc = tcase_create("lmtp_server");

    log_set_level(LOG_LEVEL_WARN);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, greeting_and_lhlo);
    tcase_add_test(tc, xforward_offered_to_trusted_peer);
    tcase_add_test(tc, pipelined_transaction);
    tcase_add_test(tc, rcpt_rewritten_then_checked_again);
    tcase_add_test(tc, rset_and_bad_sequence);
    tcase_add_test(tc, mail_refused_by_callback);
    tcase_add_test(tc, data_over_size_refused);
    tcase_add_test(tc, too_many_recipients);
    tcase_add_test(tc, parameter_over_limit);
    suite_add_tcase(s, tc);
    return s;
}
