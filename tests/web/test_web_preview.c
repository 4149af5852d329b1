/*
 * test_web_preview.c - the safe look into a held message: text preferred to
 * HTML, HTML reduced to text, transfer encodings, charsets, attachments and
 * their names (RFC 2231 and 2047, as the rules engine reads them), bounds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/web_preview.h"

Suite *unit_suite(void);

static const char multipart[] = "From: Sender <s@remote.example>\r\n"
                                "Subject: a folded\r\n subject\r\n"
                                "MIME-Version: 1.0\r\n"
                                "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                                "\r\n"
                                "preamble\r\n"
                                "--outer\r\n"
                                "Content-Type: multipart/alternative; boundary=inner\r\n"
                                "\r\n"
                                "--inner\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "Content-Transfer-Encoding: quoted-printable\r\n"
                                "\r\n"
                                "Caf=C3=A9 soft=\r\nbreak <not markup>\r\n"
                                "--inner\r\n"
                                "Content-Type: text/html\r\n"
                                "\r\n"
                                "<p>HTML-ONLY-TEXT</p>\r\n"
                                "--inner--\r\n"
                                "--outer\r\n"
                                "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
                                "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
                                "Content-Transfer-Encoding: base64\r\n"
                                "\r\n"
                                "JVBERi0xLjQK\r\n"
                                "--outer--\r\n";

START_TEST(plain_preferred_attachments_listed)
{
    struct web_preview p;

    web_preview_parse(multipart, strlen(multipart), &p);
    ck_assert_str_eq(p.text, "Caf\xc3\xa9 softbreak <not markup>");
    ck_assert(!p.from_html);
    ck_assert_uint_eq(p.natt, 1);
    ck_assert_str_eq(p.att[0].name, "report.pdf");
    ck_assert_str_eq(p.att[0].type, "application/pdf");
    ck_assert_uint_eq(p.nhdr, 4);
    ck_assert_str_eq(p.hdr[1].name, "Subject");
    ck_assert_str_eq(p.hdr[1].value, "a folded subject");
    web_preview_free(&p);
}
END_TEST

START_TEST(html_reduced_to_text)
{
    static const char msg[] =
        "Subject: x\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
        /* <html><script>alert('x')</script><style>p{}</style><p>Hi &amp; bye</p></html> */
        "PGh0bWw+PHNjcmlwdD5hbGVydCgneCcpPC9zY3JpcHQ+PHN0eWxlPnB7fTwvc3R5bGU+PHA+SGkg\n"
        "JmFtcDsgYnllPC9wPjwvaHRtbD4=\n";
    struct web_preview p;

    web_preview_parse(msg, strlen(msg), &p);
    ck_assert(p.from_html);
    ck_assert_ptr_nonnull(strstr(p.text, "Hi & bye"));
    ck_assert_ptr_null(strstr(p.text, "alert"));
    ck_assert_ptr_null(strstr(p.text, "<"));
    ck_assert_ptr_null(strstr(p.text, "p{}"));
    web_preview_free(&p);
}
END_TEST

/* entities read as the browser would, link targets as text, blocks on lines, no image */
START_TEST(html_entities_and_links)
{
    static const char msg[] =
        "Subject: x\nContent-Type: text/html; charset=iso-8859-1\n\n"
        "<html><head><title>T</title></head><body><p>Weiter &raquo; &#8364;5 &#xe4; \xfc&shy;x"
        " &bogus; &amp;amp;</p>\n<p>Click <a class=\"b\" "
        "href=\"https://evil.example/?a=1&amp;b=2\">"
        "here</a> now<br><img src=\"http://tracker.example/x.png\" alt=\"\">"
        "<a href='#top'>top</a></p></body></html>\n";
    struct web_preview p;

    web_preview_parse(msg, strlen(msg), &p);
    ck_assert(p.from_html);
    ck_assert_str_eq(p.text, "Weiter \xc2\xbb \xe2\x82\xac"
                             "5 \xc3\xa4 \xc3\xbcx &bogus; &amp;\n\n"
                             "Click here [https://evil.example/?a=1&b=2] now\ntop");
    ck_assert_ptr_null(strstr(p.text, "tracker"));
    web_preview_free(&p);
}
END_TEST

START_TEST(no_body_and_garbage)
{
    static const char *const inputs[] = {
        "",
        "no header at all",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b--",
        "Content-Type: multipart/mixed; boundary=\"\n\nx",
        "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=\n=4",
        ": no name\n\ttab\nX: y\n",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct web_preview p;
        web_preview_parse(inputs[i], strlen(inputs[i]), &p);
        ck_assert_ptr_nonnull(p.text);
        web_preview_free(&p);
    }
}
END_TEST

START_TEST(text_is_bounded)
{
    size_t n = WEB_PREVIEW_MAX_TEXT * 2;
    char *msg = malloc(n + 20);
    struct web_preview p;

    strcpy(msg, "Subject: big\n\n");
    memset(msg + 14, 'a', n);
    msg[14 + n] = '\0';
    web_preview_parse(msg, strlen(msg), &p);
    ck_assert_uint_eq(strlen(p.text), WEB_PREVIEW_MAX_TEXT);
    ck_assert(p.truncated);
    web_preview_free(&p);
    free(msg);
}
END_TEST

START_TEST(deep_nesting_stops)
{
    char msg[8192] = "";
    struct web_preview p;

    for (int i = 0; i < 40; i++) {
        char part[128];
        snprintf(part, sizeof(part), "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i,
                 i);
        strcat(msg, part);
    }
    strcat(msg, "\nDEEP TEXT\n");
    web_preview_parse(msg, strlen(msg), &p);
    ck_assert_ptr_null(strstr(p.text, "DEEP"));
    web_preview_free(&p);
}
END_TEST

/* File names and header values are decoded as the rules engine decodes them. */
static const struct {
    const char *part_header; /* of the one attachment */
    const char *name;
} name_cases[] = {
    /* RFC 2231 continuations: shown whole */
    {"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
     " filename*0=\"quarterly-\"; filename*1=\"report.pdf\"\r\n",
     "quarterly-report.pdf"},
    /* RFC 2231 extended value with a charset */
    {"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
     " filename*=utf-8''caf%C3%A9.pdf\r\n",
     "caf\xc3\xa9.pdf"},
    /* RFC 2047 in a quoted file name, as mail clients send it */
    {"Content-Type: application/pdf; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.pdf?=\"\r\n",
     "r\xc3\xa9sum\xc3\xa9.pdf"},
    /* the type's name is kept when the disposition has no file name */
    {"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment\r\n",
     "a.pdf"},
    {"Content-Type: application/octet-stream\r\n", "(no name)"},
};

START_TEST(attachment_names_decoded)
{
    char msg[1024];
    struct web_preview p;

    snprintf(msg, sizeof(msg),
             "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
             "--b\r\n\r\nbody\r\n--b\r\n%s\r\nAAAA\r\n--b--\r\n",
             name_cases[_i].part_header);
    web_preview_parse(msg, strlen(msg), &p);
    ck_assert_str_eq(p.text, "body");
    ck_assert_uint_eq(p.natt, 1);
    ck_assert_str_eq(p.att[0].name, name_cases[_i].name);
    ck_assert_uint_eq(p.att[0].size, 4);
    web_preview_free(&p);
}
END_TEST

START_TEST(header_values_and_charset_decoded)
{
    static const char msg[] = "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_menu?=\r\n"
                              "From: =?iso-8859-1?q?J=F6rg?= <j@example.org>\r\n"
                              "Content-Type: text/plain; charset=iso-8859-1\r\n"
                              "\r\n"
                              "Gr\xfc\xdf"
                              "e\r\n";
    struct web_preview p;

    web_preview_parse(msg, strlen(msg), &p);
    ck_assert_uint_eq(p.nhdr, 3);
    ck_assert_str_eq(p.hdr[0].value, "Caf\xc3\xa9 menu");
    ck_assert_str_eq(p.hdr[1].value, "J\xc3\xb6rg <j@example.org>");
    ck_assert_str_eq(p.text, "Gr\xc3\xbc\xc3\x9f"
                             "e\r\n");
    web_preview_free(&p);
}
END_TEST

START_TEST(attached_message_listed_not_shown)
{
    static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: message/rfc822\r\n\r\n"
                              "Subject: inner\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
                              "--c\r\n\r\nINNER TEXT\r\n"
                              "--c\r\nContent-Type: application/zip; name=inner.zip\r\n\r\nUEsD\r\n"
                              "--c--\r\n"
                              "--b\r\nContent-Type: text/html\r\n\r\n<b>outer</b>\r\n--b--\r\n";
    struct web_preview p;

    web_preview_parse(msg, strlen(msg), &p);
    ck_assert(p.from_html);
    ck_assert_str_eq(p.text, "outer");
    ck_assert_uint_eq(p.natt, 1);
    ck_assert_str_eq(p.att[0].name, "(no name)");
    ck_assert_str_eq(p.att[0].type, "message/rfc822");
    web_preview_free(&p);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_preview");
    TCase *tc = tcase_create("preview");

    tcase_add_test(tc, plain_preferred_attachments_listed);
    tcase_add_test(tc, html_reduced_to_text);
    tcase_add_test(tc, html_entities_and_links);
    tcase_add_test(tc, no_body_and_garbage);
    tcase_add_test(tc, text_is_bounded);
    tcase_add_test(tc, deep_nesting_stops);
    tcase_add_loop_test(tc, attachment_names_decoded, 0,
                        sizeof(name_cases) / sizeof(name_cases[0]));
    tcase_add_test(tc, header_values_and_charset_decoded);
    tcase_add_test(tc, attached_message_listed_not_shown);
    suite_add_tcase(s, tc);
    return s;
}
