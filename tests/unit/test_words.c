/*
 * test_words.c - what the services say to the recipient: the words each
 * verdict carries next to its technical reason (rules with and without a
 * label, spam scores, an unreadable message, a scanner that could not
 * answer), read as sentences in English and German.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/mime.h"
#include "opes/reason.h"
#include "opes/service.h"
#include "opes/spool.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

static const char message[] = "From: Someone <x@remote.example>\r\n"
                              "To: alice@example.org\r\n"
                              "Subject: Invoice\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: multipart/mixed; boundary=b\r\n"
                              "\r\n"
                              "--b\r\n"
                              "Content-Type: text/plain\r\n"
                              "\r\n"
                              "see attached\r\n"
                              "--b\r\n"
                              "Content-Type: application/x-msdownload\r\n"
                              "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\n"
                              "\r\n"
                              "MZ\r\n"
                              "--b--\r\n";

/*
 * run_rule - run a rules service with one rule (and a clamd on a closed port
 * as service "scan") on the message; the words of the service named name into w.
 */
static void run_rule(const char *rule, const char *name, char *w, size_t size)
{
    char *dir = unit_tmpdir(), conf[2048], *path;
    const char *error = NULL;
    const char *rcpts[] = {"alice@example.org"};
    struct opes_config *cfg;
    struct svc_set *set;
    struct mime_limits lim;
    struct svc_result r;
    struct spool *spool = spool_new(1 << 20, dir);
    struct svc_msg m = {.spool = spool,
                        .sender = "x@remote.example",
                        .rcpts = rcpts,
                        .nrcpts = 1,
                        .size = sizeof(message) - 1,
                        .trace_id = "t1"};

    snprintf(conf, sizeof(conf),
             "[service.filter]\ntype = rules\norder = 10\nrule = %s\n"
             "[service.scan]\ntype = clamd\norder = 20\nsocket = 127.0.0.1:1\n"
             "on_failure = quarantine\ntimeout = 2s\n",
             rule);
    path = unit_write_file(dir, "opesd.conf", conf, strlen(conf));
    cfg = config_load(path, &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    set = services_load(cfg, &error);
    ck_assert_msg(set != NULL, "%s", error);
    mime_limits_default(&lim);
    ck_assert_int_eq(spool_write(spool, message, sizeof(message) - 1), 0);
    m.mime = mime_parse(message, sizeof(message) - 1, &lim);
    w[0] = '\0';
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->svc[i].name, name) != 0)
            continue;
        svc_run(&set->svc[i], &m, &r);
        ck_assert_int_eq(r.verdict, SVC_QUARANTINE);
        snprintf(w, size, "%s", r.words);
        svc_result_clear(&r);
    }
    {
        struct mime_message *mm = (struct mime_message *)m.mime;
        mime_message_free(&mm);
    }
    spool_free(&spool);
    services_free(&set);
    config_unref(&cfg);
    unit_rmtree(dir);
    free(path);
    free(dir);
}

/* said - the sentence of words w in lang */
static const char *said(const char *w, const char *lang)
{
    static char b[512];
    reason_words(b, sizeof(b), lang, w);
    return b;
}

START_TEST(rule_label_is_what_the_recipient_reads)
{
    char w[REASON_WORDS_MAX];

    run_rule("filename /\\.exe$/i quarantine label=\"Executable attachment\"", "filter", w,
             sizeof(w));
    ck_assert_str_eq(w, "reason.rule;label=Executable attachment");
    ck_assert_str_eq(said(w, "en"), "Executable attachment");
    ck_assert_str_eq(said(w, "de"), "Executable attachment"); /* the operator's own words */
}
END_TEST

START_TEST(rules_without_label_read_as_sentences)
{
    char w[REASON_WORDS_MAX];

    run_rule("filename /\\.exe$/i quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "Attachment type not allowed (.exe)");
    ck_assert_str_eq(said(w, "de"), "Anhangstyp nicht erlaubt (.exe)");
    run_rule("mimetype /msdownload/ quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "Attachment type not allowed (application/x-msdownload)");
    run_rule("sender /remote/ quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "Sender address matched a filter rule");
    ck_assert_str_eq(said(w, "de"), "Die Absenderadresse hat eine Filterregel ausgelöst");
    run_rule("recipient /alice/ quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "Recipient address matched a filter rule");
    run_rule("header Subject /invoice/i quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "The message's Subject field matched a filter rule");
    run_rule("size > 100 quarantine", "filter", w, sizeof(w));
    ck_assert_str_eq(said(w, "en"), "Larger than 100 bytes");
    ck_assert_str_eq(said(w, "de"), "Größer als 100 Byte");
    ck_assert_str_eq(reason_category(w, "rules", ""), "rule");
}
END_TEST

START_TEST(bad_label_is_a_configuration_error)
{
    char *dir = unit_tmpdir(), *path;
    const char *conf = "[service.filter]\ntype = rules\norder = 10\n"
                       "rule = sender /x/ quarantine label=\"unterminated\n";
    const char *error = NULL;
    struct opes_config *cfg;

    path = unit_write_file(dir, "opesd.conf", conf, strlen(conf));
    cfg = config_load(path, &error);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(services_load(cfg, &error));
    ck_assert_ptr_nonnull(strstr(error, "label"));
    config_unref(&cfg);
    unit_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(scanner_that_cannot_answer_reads_as_not_checked)
{
    char w[REASON_WORDS_MAX];

    run_rule("sender /nomatch/ quarantine", "scan", w, sizeof(w));
    ck_assert_str_eq(w, "reason.unscannable");
    ck_assert_str_eq(said(w, "en"),
                     "It could not be checked completely, so it was held to be safe");
}
END_TEST

START_TEST(spam_score_and_unreadable_message)
{
    struct svc_result r = {0};
    struct svc s = {.name = "spam"};

    svc_words_spam(&r, 14.26, 10);
    ck_assert_str_eq(r.words, "reason.spam;score=14.3;required=10.0");
    ck_assert_str_eq(said(r.words, "en"), "Likely spam (score 14.3 of 10.0)");
    ck_assert_str_eq(said(r.words, "de"), "Wahrscheinlich Spam (Wert 14,3 von 10,0)");
    svc_unscannable(&s, &r, SVC_QUARANTINE, "unscannable", "on_unscannable", "too deep");
    ck_assert_str_eq(r.words, "reason.unscannable");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("words");
    TCase *tc = tcase_create("words");

    tcase_add_test(tc, rule_label_is_what_the_recipient_reads);
    tcase_add_test(tc, rules_without_label_read_as_sentences);
    tcase_add_test(tc, bad_label_is_a_configuration_error);
    tcase_add_test(tc, scanner_that_cannot_answer_reads_as_not_checked);
    tcase_add_test(tc, spam_score_and_unreadable_message);
    suite_add_tcase(s, tc);
    return s;
}
