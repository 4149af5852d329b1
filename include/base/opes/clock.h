/*
 * clock.h - the one monotonic clock: deadlines and durations in
 * milliseconds, never disturbed by a change of the wall clock.
 */
#ifndef OPES_CLOCK_H
#define OPES_CLOCK_H

#include <stdint.h>

/* clock_now_ms - milliseconds on CLOCK_MONOTONIC (an arbitrary origin). */
int64_t clock_now_ms(void);

/* clock_ms_left - milliseconds from now until deadline (a clock_now_ms
 * value), at least 0 and at most INT32_MAX, ready for poll(2). */
int clock_ms_left(int64_t deadline);

#endif
