/*
 * test_ledger.c - the delivery id every copy of a message carries (ledger.h).
 *
 * The mailbox store drops a second copy by this id: it must be the same when
 * the MTA sends the same message again, and differ for any other message
 * (other bytes, sender or queue id), with or without a name for the message.
 */
#include <check.h>
#include <string.h>

#include "opes/ledger.h"

Suite *unit_suite(void);

/* delivery_id - the id of a message from sender with content, named by queue_id / message_id. */
static void delivery_id(char out[LEDGER_DELIVERY_ID_LEN + 1], const char *sender,
                        const char *content, const char *queue_id, const char *message_id)
{
    struct ledger lg;

    ledger_begin(&lg, sender);
    /* in two pieces, as the content arrives */
    ledger_feed(&lg, content, strlen(content) / 2);
    ledger_feed(&lg, content + strlen(content) / 2, strlen(content) - strlen(content) / 2);
    ledger_finish(&lg, queue_id, message_id);
    memcpy(out, lg.delivery_id, LEDGER_DELIVERY_ID_LEN + 1);
}

START_TEST(same_message_same_id)
{
    char a[LEDGER_DELIVERY_ID_LEN + 1], b[LEDGER_DELIVERY_ID_LEN + 1];

    delivery_id(a, "s@example.net", "Subject: x\r\n\r\nbody\r\n", "4XyZq1AbC", "<m@x>");
    ck_assert_uint_eq(strlen(a), LEDGER_DELIVERY_ID_LEN);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), LEDGER_DELIVERY_ID_LEN);
    delivery_id(b, "s@example.net", "Subject: x\r\n\r\nbody\r\n", "4XyZq1AbC", "<m@x>");
    ck_assert_str_eq(a, b);
    /* without any name: the sender and the bytes alone, still the same on a retry */
    delivery_id(a, "s@example.net", "Subject: x\r\n\r\nbody\r\n", NULL, NULL);
    delivery_id(b, "s@example.net", "Subject: x\r\n\r\nbody\r\n", "[UNAVAILABLE]", " ");
    ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(other_message_other_id)
{
    static const struct {
        const char *sender, *content, *queue_id, *message_id;
    } m[] = {
        {"s@example.net", "Subject: x\r\n\r\nbody\r\n", "4XyZq1AbC", "<m@x>"},
        {"s@example.net", "Subject: x\r\n\r\nbody, edited\r\n", "4XyZq1AbC", "<m@x>"},
        {"t@example.net", "Subject: x\r\n\r\nbody\r\n", "4XyZq1AbC", "<m@x>"},
        {"s@example.net", "Subject: x\r\n\r\nbody\r\n", "4XyZq1AbD", "<m@x>"},
        {"s@example.net", "Subject: x\r\n\r\nbody\r\n", NULL, "<m@x>"},
        {"s@example.net", "Subject: x\r\n\r\nbody\r\n", NULL, NULL},
        {"s@example.net", "Subject: x\r\n\r\nbody, edited\r\n", NULL, NULL},
    };
    char ids[sizeof(m) / sizeof(m[0])][LEDGER_DELIVERY_ID_LEN + 1];

    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        delivery_id(ids[i], m[i].sender, m[i].content, m[i].queue_id, m[i].message_id);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(ids[i], ids[j]);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("delivery_id");

    tcase_add_test(tc, same_message_same_id);
    tcase_add_test(tc, other_message_other_id);
    suite_add_tcase(s, tc);
    return s;
}
