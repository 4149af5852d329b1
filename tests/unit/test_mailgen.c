/*
 * test_mailgen.c - templates, escaping, header fields and bodies of the mail
 * opesd writes itself, and the loop rules that decide whether it writes any.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "opes/mailgen.h"
#include "opes/notify.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);
void unit_rmtree(const char *dir);

START_TEST(fill_replaces_names_and_escapes_html_only)
{
    struct mailgen_buf t = {0}, h = {0};
    struct mailgen_var vars[] = {{"subject", "<b>Tom & \"Jerry\"</b> 'x'", false},
                                 {"items", "<li>ready</li>", true},
                                 {"empty", NULL, false}};
    const char *tmpl = "S={{subject}} I={{items}} U={{unknown}} E={{empty}} {{ open";

    mailgen_fill(&t, tmpl, vars, 3, false);
    mailgen_fill(&h, tmpl, vars, 3, true);
    ck_assert_str_eq(t.data, "S=<b>Tom & \"Jerry\"</b> 'x' I=<li>ready</li> U= E= {{ open");
    ck_assert_str_eq(h.data, "S=&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; &#39;x&#39; "
                             "I=<li>ready</li> U= E= {{ open");
    mailgen_free(&t);
    mailgen_free(&h);
}
END_TEST

START_TEST(fill_does_not_expand_placeholders_inside_values)
{
    struct mailgen_buf b = {0};
    struct mailgen_var vars[] = {{"a", "{{b}}", false}, {"b", "SECRET", false}};

    mailgen_fill(&b, "{{a}}", vars, 2, false);
    ck_assert_str_eq(b.data, "{{b}}");
    mailgen_free(&b);
}
END_TEST

START_TEST(sections_only_for_values)
{
    struct mailgen_buf b = {0};
    struct mailgen_var vars[] = {
        {"yes", "1", false}, {"no", "", false}, {"null", NULL, false}, {"x", "X", false}};

    /* written for a value; left out for an empty, missing or unknown one, nested or not */
    mailgen_fill(&b,
                 "a{{#yes}}[{{x}}]{{/yes}}b{{#no}}[{{x}}]{{/no}}c{{#null}}N{{/null}}"
                 "d{{#unknown}}U{{/unknown}}e{{#yes}}{{#no}}in{{/no}}out{{/yes}}f",
                 vars, 4, false);
    ck_assert_str_eq(b.data, "a[X]bcdeoutf");
    mailgen_free(&b);
    /* a section without its end: only the tag is dropped */
    mailgen_fill(&b, "a{{#no}}b", vars, 4, false);
    ck_assert_str_eq(b.data, "ab");
    mailgen_free(&b);
    /* a value cannot open a section */
    struct mailgen_var v2[] = {{"a", "{{#b}}", false}, {"b", "", false}};
    mailgen_fill(&b, "{{a}}z", v2, 2, false);
    ck_assert_str_eq(b.data, "{{#b}}z");
    mailgen_free(&b);
}
END_TEST

START_TEST(header_never_carries_cr_or_lf_from_input)
{
    static const char *const evil[] = {
        "hello\r\nBcc: victim@example.org",
        "hello\nBcc: victim@example.org",
        "hello\rBcc: victim@example.org",
        "gr\xc3\xbc\xc3\x9f\r\nBcc: victim@example.org",
    };
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        struct mailgen_buf b = {0};
        mailgen_header(&b, "Subject", evil[i]);
        /* every line break is CRLF followed by folding white space, or the final CRLF */
        for (size_t k = 0; k < b.len; k++) {
            if (b.data[k] == '\r') {
                ck_assert_int_eq(b.data[k + 1], '\n');
                ck_assert(k + 2 == b.len || b.data[k + 2] == ' ' || b.data[k + 2] == '\t');
            } else if (b.data[k] == '\n') {
                ck_assert_int_eq(b.data[k - 1], '\r');
            }
        }
        ck_assert_ptr_null(strstr(b.data, "\r\nBcc"));
        ck_assert_ptr_null(strstr(b.data, "\nBcc"));
        mailgen_free(&b);
    }
}
END_TEST

START_TEST(header_encodes_non_ascii_as_rfc2047_words)
{
    struct mailgen_buf b = {0};
    char plain[600] = "";
    const char *subject = "Gr\xc3\xbc\xc3\x9f"
                          "e aus K\xc3\xb6ln, a long subject with many words \xe2\x82\xac that "
                          "must be split into several encoded words";
    const char *p;

    mailgen_header(&b, "Subject", subject);
    ck_assert(strncmp(b.data, "Subject: ", 9) == 0);
    for (size_t k = 0; k < b.len; k++)
        ck_assert_msg((unsigned char)b.data[k] < 0x80, "raw 8-bit octet in %s", b.data);
    /* each line at most 78, each word at most 75 */
    for (p = b.data; *p != '\0';) {
        size_t n = strcspn(p, "\r");
        ck_assert_uint_le(n, 78);
        p += n;
        if (*p == '\r')
            p += 2;
    }
    /* decode the words and compare: no character was split */
    for (p = strstr(b.data, "=?UTF-8?B?"); p != NULL; p = strstr(p, "=?UTF-8?B?")) {
        const char *end = strstr(p + 10, "?=");
        unsigned char bin[100];
        size_t binlen;
        ck_assert_ptr_nonnull(end);
        ck_assert_uint_le((size_t)(end + 2 - p), 75);
        ck_assert_int_eq(sodium_base642bin(bin, sizeof(bin), p + 10, (size_t)(end - p - 10), NULL,
                                           &binlen, NULL, sodium_base64_VARIANT_ORIGINAL),
                         0);
        /* a word never ends inside a UTF-8 sequence */
        ck_assert((bin[binlen - 1] & 0x80) == 0 || (bin[binlen - 1] & 0xC0) == 0x80);
        strncat(plain, (const char *)bin, binlen);
        p = end + 2;
    }
    ck_assert_str_eq(plain, subject);
    mailgen_free(&b);
}
END_TEST

START_TEST(ascii_header_is_folded_not_cut)
{
    struct mailgen_buf b = {0};
    char value[400];

    memset(value, 0, sizeof(value));
    for (int i = 0; i < 30; i++)
        strcat(value, "word123 ");
    strcat(value, "end");
    mailgen_header(&b, "Subject", value);
    ck_assert_ptr_nonnull(strstr(b.data, "\r\n "));
    for (const char *p = b.data; *p != '\0';) {
        size_t n = strcspn(p, "\r");
        ck_assert_uint_le(n, 78);
        p += n;
        if (*p == '\r')
            p += 2;
    }
    mailgen_free(&b);
}
END_TEST

START_TEST(address_header_quotes_display_names)
{
    struct mailgen_buf b = {0};
    char display[100], addr[100];

    mailgen_header_address(&b, "From", "Mail \"filter\" \\ desk", "postmaster@example.org");
    ck_assert_str_eq(b.data,
                     "From: \"Mail \\\"filter\\\" \\\\ desk\" <postmaster@example.org>\r\n");
    mailgen_free(&b);
    mailgen_header_address(&b, "To", NULL, "a@b.example>\r\nBcc: <x@y");
    ck_assert_str_eq(b.data, "To: <a@b.exampleBcc:x@y>\r\n");
    mailgen_free(&b);
    mailgen_parse_from("", "mx.example.org", display, sizeof(display), addr, sizeof(addr));
    ck_assert_str_eq(display, "Mail filter");
    ck_assert_str_eq(addr, "postmaster@mx.example.org");
    mailgen_parse_from("\"Quarantine Desk\" <q@example.org>", "h", display, sizeof(display), addr,
                       sizeof(addr));
    ck_assert_str_eq(display, "Quarantine Desk");
    ck_assert_str_eq(addr, "q@example.org");
}
END_TEST

START_TEST(quoted_printable_lines_and_trailing_space)
{
    struct mailgen_buf b = {0};
    char longline[200];

    mailgen_qp(&b, "a=b \nline two\t\n\xc3\xbc\n");
    ck_assert_str_eq(b.data, "a=3Db=20\r\nline two=09\r\n=C3=BC\r\n");
    mailgen_free(&b);
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    mailgen_qp(&b, longline);
    for (const char *p = b.data; *p != '\0';) {
        size_t n = strcspn(p, "\r");
        ck_assert_uint_le(n, 76);
        p += n;
        if (*p == '\r')
            p += 2;
    }
    mailgen_free(&b);
}
END_TEST

START_TEST(template_override_from_directory)
{
    char *dir = unit_tmpdir(), *sub;
    char *t;

    t = mailgen_template(dir, "item.txt");
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(strstr(t, "{{release_url}}"));
    free(t);
    free(unit_write_file(dir, "item.txt", "mine {{subject}}\n", 17));
    t = mailgen_template(dir, "item.txt");
    ck_assert_str_eq(t, "mine {{subject}}\n");
    free(t);
    t = mailgen_template(dir, "item.html"); /* not overridden: the built-in one */
    ck_assert_ptr_nonnull(strstr(t, "{{delete_url}}"));
    free(t);
    ck_assert_ptr_null(mailgen_template(dir, "no-such.txt"));

    /* per language: the operator's LANG/name, then their name for all, then ours */
    if (asprintf(&sub, "%s/de", dir) < 0 || mkdir(sub, 0700) < 0)
        ck_abort_msg("mkdir");
    free(unit_write_file(sub, "item.txt", "meins\n", 6));
    t = mailgen_template_lang(dir, "de", "item.txt");
    ck_assert_str_eq(t, "meins\n");
    free(t);
    t = mailgen_template_lang(dir, "en", "item.txt");
    ck_assert_str_eq(t, "mine {{subject}}\n");
    free(t);
    t = mailgen_template_lang(dir, "de", "mail.html");
    ck_assert_ptr_nonnull(strstr(t, "{{items}}"));
    free(t);
    t = mailgen_template_lang(NULL, "de", "item.txt");
    ck_assert_ptr_nonnull(strstr(t, "{{release_url}}"));
    free(t);
    unit_rmtree(dir);
    free(sub);
    free(dir);
}
END_TEST

START_TEST(catalog_sentences_in_the_readers_language)
{
    struct mailgen_buf b = {0};
    struct mailgen_var vars[] = {{"count", "3", false}, {"recipient", "a<b>@x", false}};
    const char *tmpl = "<p>{{t:mail.notice.intro}}</p>";

    mailgen_fill_lang(&b, tmpl, vars, 2, true, "en");
    ck_assert_str_eq(b.data, "<p>3 messages to a&lt;b&gt;@x looked unsafe or unwanted, so they "
                             "were held back and not delivered. If you expected one of them, "
                             "release it below.</p>");
    mailgen_free(&b);
    vars[0].value = "1";
    mailgen_fill_lang(&b, "{{t:mail.notice.subject}}", vars, 2, false, "de");
    ck_assert_str_eq(b.data, "1 Nachricht für Sie zurückgehalten");
    mailgen_free(&b);
    /* a value with a line break cannot start a line of its own */
    vars[1].value = "x\nFake: line";
    mailgen_fill_lang(&b, "{{t:mail.login.body}}", vars, 2, false, "en");
    ck_assert_ptr_null(strchr(b.data, '\n'));
    mailgen_free(&b);
}
END_TEST

START_TEST(compose_multipart_alternative)
{
    struct mailgen_buf b = {0};
    struct mailgen_msg m = {.from = "",
                            .host = "mx.example.org",
                            .to = "alice@example.org",
                            .subject = "Held\r\nX-Injected: yes",
                            .auto_submitted = "auto-replied",
                            .text = "plain\n",
                            .html = "<p>html</p>\n"};
    const char *body;

    mailgen_compose(&b, &m);
    body = strstr(b.data, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_ptr_nonnull(strstr(b.data, "From: \"Mail filter\" <postmaster@mx.example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "To: <alice@example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Subject: Held  X-Injected: yes\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\r\nAuto-Submitted: auto-replied\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\r\nMIME-Version: 1.0\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\r\nMessage-ID: <"));
    ck_assert_ptr_nonnull(strstr(b.data, "\r\nDate: "));
    ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: multipart/alternative; boundary="));
    ck_assert_ptr_nonnull(strstr(body, "Content-Type: text/plain; charset=utf-8"));
    ck_assert_ptr_nonnull(strstr(body, "Content-Type: text/html; charset=utf-8"));
    ck_assert_ptr_null(strstr(b.data, "\r\nX-Injected"));
    for (size_t k = 0; k < b.len; k++)
        if (b.data[k] == '\n')
            ck_assert_int_eq(b.data[k - 1], '\r');
    mailgen_free(&b);
}
END_TEST

START_TEST(header_lookup_unfolds_and_ignores_body)
{
    const char *hdr = "From: a@b\r\nSubject: one\r\n\ttwo\r\nLIST-ID:  <x.y>  \r\n\r\n";
    char v[100];

    ck_assert(notify_header_get(hdr, "subject", v, sizeof(v)));
    ck_assert_str_eq(v, "one two");
    ck_assert(notify_header_get(hdr, "List-Id", v, sizeof(v)));
    ck_assert_str_eq(v, "<x.y>");
    ck_assert(!notify_header_get(hdr, "Precedence", v, sizeof(v)));
    ck_assert(!notify_header_get("From: a@b\n\nPrecedence: bulk\n", "Precedence", v, sizeof(v)));
}
END_TEST

START_TEST(loop_rules)
{
    const char *plain = "From: a@b\nSubject: s\n\n";

    ck_assert_ptr_null(notify_loop_rule("a@b", plain, true, false));
    ck_assert_ptr_null(notify_loop_rule("a@b", "Auto-Submitted: no\n\n", true, true));
    ck_assert_str_eq(notify_loop_rule("", plain, true, false), "null sender");
    ck_assert_str_eq(notify_loop_rule("MAILER-DAEMON@b", plain, true, true),
                     "mailer-daemon sender");
    ck_assert_str_eq(notify_loop_rule("a@b", "Auto-Submitted: auto-generated\n\n", true, false),
                     "auto-submitted");
    ck_assert_str_eq(
        notify_loop_rule("a@b", "Auto-Submitted: auto-replied (vacation)\n\n", true, true),
        "auto-submitted");
    ck_assert_str_eq(notify_loop_rule("a@b", "List-Id: <l.b>\n\n", true, false),
                     "list mail (List-Id)");
    ck_assert_ptr_null(notify_loop_rule("a@b", "List-Id: <l.b>\n\n", false, false));
    ck_assert_str_eq(notify_loop_rule("a@b", "List-Id: <l.b>\n\n", false, true),
                     "list mail (List-Id)");
    ck_assert_str_eq(notify_loop_rule("a@b", "Precedence: junk\n\n", true, false),
                     "bulk or list mail (Precedence)");
    ck_assert_ptr_null(notify_loop_rule("a@b", "Precedence: first-class\n\n", true, false));
    ck_assert_str_eq(notify_loop_rule("a@b",
                                      "Content-Type: multipart/report; "
                                      "report-type=delivery-status\n\n",
                                      true, true),
                     "a report (DSN or MDN) itself");
    ck_assert_str_eq(notify_loop_rule("a@b", NULL, true, true), "header fields unknown");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("mailgen");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, fill_replaces_names_and_escapes_html_only);
    tcase_add_test(tc, fill_does_not_expand_placeholders_inside_values);
    tcase_add_test(tc, sections_only_for_values);
    tcase_add_test(tc, header_never_carries_cr_or_lf_from_input);
    tcase_add_test(tc, header_encodes_non_ascii_as_rfc2047_words);
    tcase_add_test(tc, ascii_header_is_folded_not_cut);
    tcase_add_test(tc, address_header_quotes_display_names);
    tcase_add_test(tc, quoted_printable_lines_and_trailing_space);
    tcase_add_test(tc, template_override_from_directory);
    tcase_add_test(tc, catalog_sentences_in_the_readers_language);
    tcase_add_test(tc, compose_multipart_alternative);
    tcase_add_test(tc, header_lookup_unfolds_and_ignores_body);
    tcase_add_test(tc, loop_rules);
    suite_add_tcase(s, tc);
    return s;
}
