/*
 * test_reason.c - why a message was held, in its recipient's words: words
 * values survive any label, and the technical reasons of the known services
 * read as plain sentences in English and German.
 */
#include <check.h>
#include <string.h>

#include "opes/reason.h"

Suite *unit_suite(void);

START_TEST(words_become_a_sentence_in_the_readers_language)
{
    char w[REASON_WORDS_MAX], b[256];
    const char *args[] = {"score", "14.3", "required", "10.0", NULL};
    reason_encode(w, sizeof(w), "reason.spam", args);
    ck_assert_str_eq(w, "reason.spam;score=14.3;required=10.0");
    reason_words(b, sizeof(b), "en", w);
    ck_assert_str_eq(b, "Likely spam (score 14.3 of 10.0)");
    reason_words(b, sizeof(b), "de", w);
    ck_assert_str_eq(b, "Wahrscheinlich Spam (Wert 14,3 von 10,0)");
    ck_assert_str_eq(reason_category(w, "", ""), "spam");
}
END_TEST

START_TEST(a_label_with_separators_comes_back_unchanged)
{
    char w[REASON_WORDS_MAX], b[256];
    const char *args[] = {"label", "Invoices; from=outside 100%\r\n", NULL};
    reason_encode(w, sizeof(w), "reason.rule", args);
    ck_assert_ptr_null(strchr(w, '\r'));
    reason_words(b, sizeof(b), "en", w);
    ck_assert_str_eq(b, "Invoices; from=outside 100%\r\n");
    ck_assert_str_eq(reason_category(w, "rules", ""), "rule");
}
END_TEST

START_TEST(unknown_or_empty_words_give_nothing)
{
    char b[64];
    ck_assert_uint_eq(reason_words(b, sizeof(b), "en", ""), 0);
    ck_assert_uint_eq(reason_words(b, sizeof(b), "en", "web.title"), 0);
    ck_assert_uint_eq(reason_words(b, sizeof(b), "en", "reason.nosuch;x=1"), 0);
    ck_assert_str_eq(b, "");
}
END_TEST

START_TEST(technical_reasons_of_older_entries_read_as_sentences)
{
    char b[256];
    reason_describe(b, sizeof(b), "en", "", "clamav", "clamd",
                    "virus Eicar-Signature found in part 2");
    ck_assert_str_eq(b, "Virus found: Eicar-Signature");
    reason_describe(b, sizeof(b), "en", NULL, "spam", "spamd",
                    "score 14.3 (tag 5.0, quarantine 10.0)");
    ck_assert_str_eq(b, "Likely spam (score 14.3 of 10.0)");
    reason_describe(b, sizeof(b), "de", NULL, "rs", "rspamd",
                    "reject, score 15.00 / 15.00: GTUBE(0.00)");
    ck_assert_str_eq(b, "Wahrscheinlich Spam (Wert 15,0 von 15,0)");
    reason_describe(b, sizeof(b), "en", NULL, "", "",
                    "sender <a@b> is on the recipient's blocklist");
    ck_assert_str_eq(b, "Sender is on your block list");
    reason_describe(b, sizeof(b), "en", NULL, "filter", "rules",
                    "rule 1 matched: header X-Spam-Flag /^yes/i quarantine");
    ck_assert_str_eq(b, "Matched a filter rule of your mail system");
    reason_describe(b, sizeof(b), "de", NULL, "ext", "banner", "whatever");
    ck_assert_str_eq(b, "Von der Prüfung „ext“ zurückgehalten");
    ck_assert_str_eq(reason_category(NULL, "clamd", "virus X found"), "virus");
    ck_assert_str_eq(reason_category(NULL, "banner", "whatever"), "other");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("reason");
    TCase *tc = tcase_create("reason");
    tcase_add_test(tc, words_become_a_sentence_in_the_readers_language);
    tcase_add_test(tc, a_label_with_separators_comes_back_unchanged);
    tcase_add_test(tc, unknown_or_empty_words_give_nothing);
    tcase_add_test(tc, technical_reasons_of_older_entries_read_as_sentences);
    suite_add_tcase(s, tc);
    return s;
}
