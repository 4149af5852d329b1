/*
 * schedule.h - when a recipient's digest is due.
 *
 * "daily@HH": once a day, after HH:00 local time; "every Nh": N hours
 * (1-168) after the previous digest (or the oldest waiting entry).
 */
#ifndef OPES_SCHEDULE_H
#define OPES_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

struct schedule {
    bool daily;
    unsigned hour;    /* daily: 0-23 */
    unsigned every_h; /* not daily: 1-168 */
};

/* schedule_parse - "daily@HH" or "every Nh"; 0, or -1 when malformed. */
int schedule_parse(const char *s, struct schedule *out);

/*
 * schedule_due - is a digest due at now, the previous one (or the oldest
 * waiting entry) being at last? daily@HH uses local time.
 */
bool schedule_due(const struct schedule *s, int64_t last, int64_t now);

#endif
