/*
 * schedule.c - digest schedules: "daily@HH" and "every Nh", for the
 * configuration, opesd's digests, opesctl and the portal's preferences.
 */
#include "opes/schedule.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int schedule_parse(const char *s, struct schedule *out)
{
    char *end;
    unsigned long v;

    memset(out, 0, sizeof(*out));
    if (strncmp(s, "daily@", 6) == 0) {
        if (s[6] < '0' || s[6] > '9')
            return -1;
        v = strtoul(s + 6, &end, 10);
        if (*end != '\0' || end - (s + 6) > 2 || v > 23)
            return -1;
        out->daily = true;
        out->hour = (unsigned)v;
        return 0;
    }
    if (strncmp(s, "every ", 6) == 0) {
        if (s[6] < '0' || s[6] > '9')
            return -1;
        v = strtoul(s + 6, &end, 10);
        if (strcmp(end, "h") != 0 || v < 1 || v > 168)
            return -1;
        out->every_h = (unsigned)v;
        return 0;
    }
    return -1;
}

bool schedule_due(const struct schedule *s, int64_t last, int64_t now)
{
    if (!s->daily)
        return now - last >= (int64_t)s->every_h * 3600;
    {
        /* the latest HH:00 local time at or before now */
        time_t t = (time_t)now;
        struct tm tm;
        time_t boundary;

        localtime_r(&t, &tm);
        tm.tm_min = 0;
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        if ((unsigned)tm.tm_hour < s->hour)
            tm.tm_mday--;
        tm.tm_hour = (int)s->hour;
        boundary = mktime(&tm);
        return last < (int64_t)boundary;
    }
}
