/*
 * test_mboxlock.c - one final dot at a time per mailbox (mboxlock.h).
 *
 * A second transaction for the same mailbox (however the address is written)
 * waits until the first one released it; one for other mailboxes does not
 * wait; a transaction waits for all its mailboxes at once; a wait that runs
 * out goes on without the lock rather than failing the delivery.
 */
#include <check.h>
#include <pthread.h>
#include <unistd.h>

#include "opes/clock.h"
#include "opes/mboxlock.h"

Suite *unit_suite(void);

START_TEST(same_mailbox_same_key)
{
    ck_assert_uint_eq(mboxlock_key("alice@example.org", '+'),
                      mboxlock_key("Alice+Junk@EXAMPLE.org", '+'));
    ck_assert_uint_eq(mboxlock_key("alice-news@example.org", '-'),
                      mboxlock_key("alice@example.org", '-'));
    ck_assert_uint_ne(mboxlock_key("alice@example.org", '+'), mboxlock_key("bob@example.org", '+'));
    ck_assert_uint_ne(mboxlock_key("alice@example.org", '+'),
                      mboxlock_key("alice@example.net", '+'));
    /* without a delimiter the detail is part of the mailbox's name */
    ck_assert_uint_ne(mboxlock_key("alice+x@example.org", '\0'),
                      mboxlock_key("alice@example.org", '\0'));
}
END_TEST

struct waiter {
    const char *addrs[2];
    size_t n;
    int64_t got_at; /* when the lock was granted */
};

/* waiter_run - take the lock for w's mailboxes (waiting up to 10 s), note when, let go. */
static void *waiter_run(void *arg)
{
    struct waiter *w = arg;
    struct mboxlock *l = mboxlock_acquire(w->addrs, w->n, '+', clock_now_ms() + 10000);

    w->got_at = l != NULL ? clock_now_ms() : -1;
    mboxlock_release(&l);
    return NULL;
}

START_TEST(second_waits_for_first)
{
    const char *first[] = {"alice@example.org"};
    struct waiter same = {{"bob@example.org", "alice+Junk@example.org"}, 2, 0};
    struct waiter other = {{"carol@example.org"}, 1, 0};
    pthread_t t1, t2;
    struct mboxlock *l = mboxlock_acquire(first, 1, '+', clock_now_ms() + 1000);
    int64_t released;

    ck_assert_ptr_nonnull(l);
    pthread_create(&t1, NULL, waiter_run, &same);
    pthread_create(&t2, NULL, waiter_run, &other);
    pthread_join(t2, NULL);
    usleep(300 * 1000);
    released = clock_now_ms();
    mboxlock_release(&l);
    pthread_join(t1, NULL);
    /* carol's mailbox was free: no wait for alice's */
    ck_assert_int_gt(other.got_at, 0);
    ck_assert_int_lt(other.got_at, released);
    /* bob and alice at once: only after alice's mailbox was released */
    ck_assert_int_ge(same.got_at, released);
}
END_TEST

START_TEST(wait_runs_out)
{
    const char *addr[] = {"dave@example.org"};
    struct mboxlock *l = mboxlock_acquire(addr, 1, '+', clock_now_ms() + 1000);
    struct mboxlock *again;
    int64_t t0 = clock_now_ms();

    ck_assert_ptr_nonnull(l);
    again = mboxlock_acquire(addr, 1, '+', t0 + 200);
    ck_assert_ptr_null(again);
    ck_assert_int_ge(clock_now_ms() - t0, 190);
    mboxlock_release(&l);
    /* free again: granted at once */
    again = mboxlock_acquire(addr, 1, '+', clock_now_ms());
    ck_assert_ptr_nonnull(again);
    mboxlock_release(&again);
    ck_assert_ptr_null(mboxlock_acquire(addr, 0, '+', clock_now_ms()));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("mboxlock");
    TCase *tc = tcase_create("mboxlock");

    tcase_add_test(tc, same_mailbox_same_key);
    tcase_add_test(tc, second_waits_for_first);
    tcase_add_test(tc, wait_runs_out);
    suite_add_tcase(s, tc);
    return s;
}
