/*
 * test_dsn.c - the sender DSN: an RFC 3464 multipart/report with the fields
 * a reporting MTA must give, the OPES trace, and the original's header
 * fields but never its content.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/dsn.h"
#include "opes/mailgen.h"

Suite *unit_suite(void);

static const struct dsn_info info = {
    .hostname = "mx.example.org",
    .to = "sender@remote.example",
    .recipient = "alice@example.org",
    .trace_id = "abc123trace",
    .service_uri = "http://opes.example.org/opes/service/spamd",
    .reason = "score 25.0\r\nX-Evil: injected",
    .subject = "invoice",
    .headers = "From: sender@remote.example\nSubject: invoice\nTo: alice@example.org\n",
    .arrival = 1795000000,
    .human = "Your message was not delivered (trace abc123trace).\n",
};

START_TEST(report_has_the_required_parts_and_fields)
{
    struct mailgen_buf b = {0};
    const char *status, *headers, *human;
    char boundary[100], *p;

    dsn_compose(&b, &info);
    p = strstr(b.data, "boundary=\"");
    ck_assert_ptr_nonnull(p);
    snprintf(boundary, sizeof(boundary), "--%.*s", (int)strcspn(p + 10, "\""), p + 10);
    ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: multipart/report; "
                                         "report-type=delivery-status;"));
    ck_assert_ptr_nonnull(strstr(b.data, "From: \"Mail Delivery System\" "
                                         "<MAILER-DAEMON@mx.example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "To: <sender@remote.example>\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Auto-Submitted: auto-replied\r\n"));
    human = strstr(b.data, "Content-Type: text/plain");
    status = strstr(b.data, "Content-Type: message/delivery-status\r\n\r\n");
    headers = strstr(b.data, "Content-Type: text/rfc822-headers\r\n\r\n");
    ck_assert(human != NULL && status != NULL && headers != NULL);
    ck_assert(human < status && status < headers);
    ck_assert_ptr_nonnull(strstr(human, "trace abc123trace"));
    ck_assert_ptr_nonnull(strstr(status, "\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"));
    ck_assert_ptr_nonnull(strstr(status, "Arrival-Date: "));
    ck_assert_ptr_nonnull(strstr(status,
                                 "\r\n\r\nFinal-Recipient: rfc822; alice@example.org\r\n"
                                 "Action: failed\r\nStatus: 5.7.1\r\n"
                                 "Diagnostic-Code: smtp; 550 5.7.1 <alice@example.org> held "
                                 "by http://opes.example.org/opes/service/spamd"));
    ck_assert_ptr_nonnull(strstr(status, "(trace abc123trace)\r\n"));
    /* the reason's line break did not end the field */
    ck_assert_ptr_null(strstr(b.data, "\r\nX-Evil"));
    ck_assert_ptr_nonnull(strstr(headers, "\r\n\r\nFrom: sender@remote.example\r\n"
                                          "Subject: invoice\r\nTo: alice@example.org\r\n"));
    /* three parts and the closing delimiter */
    p = b.data;
    int parts = 0;
    while ((p = strstr(p, boundary)) != NULL) {
        parts++;
        p += strlen(boundary);
    }
    ck_assert_int_eq(parts, 4);
    ck_assert_ptr_nonnull(strstr(b.data, boundary));
    ck_assert(strstr(b.data + b.len - strlen(boundary) - 4, "--\r\n") != NULL);
    mailgen_free(&b);
}
END_TEST

/* Original-Recipient only from an ORCPT (RFC 3464 2.3.1), never made up */
START_TEST(original_recipient_only_from_orcpt)
{
    struct mailgen_buf b = {0};
    struct dsn_info d = info;

    dsn_compose(&b, &d);
    ck_assert_ptr_null(strstr(b.data, "Original-Recipient"));
    mailgen_free(&b);

    d.orcpt = "rfc822;Alice.Smith@old.example.org";
    dsn_compose(&b, &d);
    ck_assert_ptr_nonnull(strstr(b.data, "\r\n\r\nOriginal-Recipient: rfc822; "
                                         "Alice.Smith@old.example.org\r\n"
                                         "Final-Recipient: rfc822; alice@example.org\r\n"));
    mailgen_free(&b);

    /* a control character cannot start a field of its own */
    d.orcpt = "rfc822;a@example.org\r\nX-Evil: 1";
    dsn_compose(&b, &d);
    ck_assert_ptr_null(strstr(b.data, "\r\nX-Evil"));
    mailgen_free(&b);
}
END_TEST

START_TEST(headers_without_final_newline_still_end_their_line)
{
    struct mailgen_buf b = {0};
    struct dsn_info d = info;

    d.headers = "Subject: x";
    dsn_compose(&b, &d);
    ck_assert_ptr_nonnull(strstr(b.data, "\r\n\r\nSubject: x\r\n--"));
    mailgen_free(&b);
    /* bare CR and LF in the stored header fields never reach the wire as such */
    d.headers = "Subject: x\rX-A: y\nX-B: z\r\n";
    dsn_compose(&b, &d);
    ck_assert_ptr_nonnull(strstr(b.data, "\r\n\r\nSubject: x\r\nX-A: y\r\nX-B: z\r\n--"));
    for (size_t k = 0; k < b.len; k++) {
        if (b.data[k] == '\r')
            ck_assert_int_eq(b.data[k + 1], '\n');
        if (b.data[k] == '\n')
            ck_assert_int_eq(b.data[k - 1], '\r');
    }
    mailgen_free(&b);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("dsn");
    TCase *tc = tcase_create("compose");

    tcase_add_test(tc, report_has_the_required_parts_and_fields);
    tcase_add_test(tc, original_recipient_only_from_orcpt);
    tcase_add_test(tc, headers_without_final_newline_still_end_their_line);
    suite_add_tcase(s, tc);
    return s;
}
