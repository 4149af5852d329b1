/*
 * test_digest.c - digest schedules: what parses, and when a digest is due.
 */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "opes/digest.h"
#include "opes/schedule.h"

Suite *unit_suite(void);

/* at - a UTC time (the tests run with TZ=UTC) */
static int64_t at(int year, int mon, int day, int hour, int min)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_isdst = 0};
    return (int64_t)timegm(&tm);
}

static void utc(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
}

START_TEST(schedules_parse)
{
    struct schedule s;

    ck_assert_int_eq(schedule_parse("daily@08", &s), 0);
    ck_assert(s.daily);
    ck_assert_uint_eq(s.hour, 8);
    ck_assert_int_eq(schedule_parse("daily@23", &s), 0);
    ck_assert_uint_eq(s.hour, 23);
    ck_assert_int_eq(schedule_parse("daily@0", &s), 0);
    ck_assert_int_eq(schedule_parse("every 6h", &s), 0);
    ck_assert(!s.daily);
    ck_assert_uint_eq(s.every_h, 6);
    ck_assert_int_eq(schedule_parse("every 168h", &s), 0);
    static const char *const bad[] = {
        "",           "daily",   "daily@24", "daily@-1", "daily@8x",  "daily@008", "every 0h",
        "every 169h", "every h", "every 6",  "every 6m", "weekly@08", " daily@08", "every -1h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(schedule_parse(bad[i], &s) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(daily_is_due_once_after_the_hour)
{
    struct schedule s;

    utc();
    schedule_parse("daily@08", &s);
    /* previous digest yesterday 08:00: due from today 08:00 on, not before */
    ck_assert(!schedule_due(&s, at(2026, 11, 27, 8, 0), at(2026, 11, 28, 7, 59)));
    ck_assert(schedule_due(&s, at(2026, 11, 27, 8, 0), at(2026, 11, 28, 8, 0)));
    ck_assert(schedule_due(&s, at(2026, 11, 27, 8, 0), at(2026, 11, 28, 23, 0)));
    /* sent today at 08:01: not again today */
    ck_assert(!schedule_due(&s, at(2026, 11, 28, 8, 1), at(2026, 11, 28, 23, 59)));
    ck_assert(schedule_due(&s, at(2026, 11, 28, 8, 1), at(2026, 11, 29, 8, 0)));
    /* first item held at 10:00, no digest before: tomorrow 08:00 */
    ck_assert(!schedule_due(&s, at(2026, 11, 28, 10, 0), at(2026, 11, 28, 22, 0)));
    ck_assert(schedule_due(&s, at(2026, 11, 28, 10, 0), at(2026, 11, 29, 8, 0)));
    /* across a month end */
    ck_assert(schedule_due(&s, at(2026, 11, 30, 9, 0), at(2026, 12, 1, 8, 30)));
    ck_assert(!schedule_due(&s, at(2026, 11, 30, 9, 0), at(2026, 12, 1, 7, 30)));
}
END_TEST

START_TEST(every_n_hours)
{
    struct schedule s;

    schedule_parse("every 6h", &s);
    ck_assert(!schedule_due(&s, 1000000, 1000000 + 6 * 3600 - 1));
    ck_assert(schedule_due(&s, 1000000, 1000000 + 6 * 3600));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("schedule");

    tcase_add_test(tc, schedules_parse);
    tcase_add_test(tc, daily_is_due_once_after_the_hour);
    tcase_add_test(tc, every_n_hours);
    suite_add_tcase(s, tc);
    return s;
}
