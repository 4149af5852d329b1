/*
 * test_digest.c - digest schedules (what parses, and when a digest is due),
 * and how a notice or digest reads (mailview.c): neutral subject, display
 * names, sizes, dates in the reader's zone, reasons in words, escaping, the
 * reader's language and the operator's templates per language.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "opes/config.h"
#include "opes/digest.h"
#include "opes/i18n.h"
#include "opes/mailgen.h"
#include "opes/mailview.h"
#include "opes/schedule.h"
#include "opes/store.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

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

/* ------------------------------------------------------------ how a mail reads */

struct mem {
    const char *p;
    size_t len, off;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    struct mem *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

static int mem_rewind(void *ctx)
{
    ((struct mem *)ctx)->off = 0;
    return 0;
}

/* hold - a held entry for rcpt with this From, Subject, body size and words; captured. */
static void hold(struct store *st, struct store_qitem *it, const char *rcpt, const char *from,
                 const char *subject, size_t body, const char *words)
{
    char hdr[512], *msg;
    struct mem m = {0};
    struct store_reader r = {mem_read, mem_rewind, &m};
    const char *err;
    int n = snprintf(hdr, sizeof(hdr), "From: %s\r\nSubject: %s\r\n\r\n", from, subject);

    memset(it, 0, sizeof(*it));
    msg = calloc(1, (size_t)n + body + 1);
    memcpy(msg, hdr, (size_t)n);
    memset(msg + n, 'x', body);
    m.p = msg;
    m.len = (size_t)n + body;
    snprintf(it->trace_id, sizeof(it->trace_id), "tr%zu", body);
    snprintf(it->sender, sizeof(it->sender), "m@remote.example");
    snprintf(it->recipient, sizeof(it->recipient), "%s", rcpt);
    snprintf(it->subject, sizeof(it->subject), "%s", subject);
    snprintf(it->service, sizeof(it->service), "clamav");
    snprintf(it->reason, sizeof(it->reason), "virus Eicar-Test found");
    snprintf(it->words, sizeof(it->words), "%s", words);
    ck_assert_int_eq(store_quarantine_add(st, it, 1, &r, &err), 0);
    ck_assert_int_eq(store_notify_capture(st, it->id, "pending", "", hdr, (size_t)n - 2, &err), 0);
    free(msg);
}

/* qp_decoded - a whole composed message with its quoted-printable undone (malloc'ed). */
static char *qp_decoded(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;

    for (; *s != '\0'; s++) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 2;
        } else if (s[0] == '=' && s[1] != '\0' && s[2] != '\0' &&
                   strchr("0123456789ABCDEF", s[1]) && strchr("0123456789ABCDEF", s[2])) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

struct render {
    char *dir;
    struct store *st;
    struct opes_config *cfg;
    struct store_qitem items[2];
};

static void render_open(struct render *r)
{
    const char *err = NULL;
    char *db, *keys;

    utc();
    r->dir = unit_tmpdir();
    if (asprintf(&db, "%s/store.db", r->dir) < 0 || asprintf(&keys, "%s/keys", r->dir) < 0)
        ck_abort();
    r->st = store_open(db, keys, &err);
    ck_assert_msg(r->st != NULL, "%s", err);
    r->cfg = config_load(NULL, &err);
    ck_assert_ptr_nonnull(r->cfg);
    hold(r->st, &r->items[0], "alice@example.org", "\"Mallory =?UTF-8?Q?M=C3=BCller?=\" <m@x>",
         "<script>alert(1)</script> offer", 12000, "reason.virus;name=Eicar-Test");
    hold(r->st, &r->items[1], "alice@example.org", "m@remote.example", "second", 10, "");
    free(db);
    free(keys);
}

static void render_close(struct render *r)
{
    store_close(&r->st);
    config_unref(&r->cfg);
    unit_rmtree(r->dir);
    free(r->dir);
}

/* compose - kind for alice as reader rd; the decoded message (malloc'ed) */
static char *compose(struct render *r, const char *kind, const struct mailview_reader *rd)
{
    struct mailgen_buf out = {0};
    char *d;

    ck_assert_int_eq(mailview_compose(r->st, r->cfg, NULL, kind, rd, r->items, 2, &out), 0);
    d = qp_decoded(out.data);
    mailgen_free(&out);
    return d;
}

START_TEST(notice_reads_for_people)
{
    struct render r;
    struct mailview_reader rd;
    char *m, when[96], tokyo[96];

    render_open(&r);
    ck_assert_int_eq(store_user_set_locale(r.st, "alice@example.org", "", "America/New_York",
                                           &(const char *){NULL}),
                     0);
    mailview_reader_of(r.st, r.cfg, "alice@example.org", &rd);
    ck_assert_str_eq(rd.lang, "en");
    ck_assert_str_eq(rd.tz, "America/New_York");
    m = compose(&r, "notify", &rd);
    /* neutral subject, never the held one's */
    ck_assert_ptr_nonnull(strstr(m, "\r\nSubject: 2 messages held for you\r\n"));
    ck_assert_ptr_nonnull(strstr(m, "Content-Type: multipart/alternative"));
    ck_assert_ptr_nonnull(strstr(m, "Content-Type: text/plain"));
    ck_assert_ptr_nonnull(strstr(m, "Content-Type: text/html"));
    /* display name decoded, size for people, why in words, old entry read from its reason */
    ck_assert_ptr_nonnull(strstr(m, "Mallory Müller <m@remote.example>"));
    ck_assert_ptr_nonnull(strstr(m, "<strong style=\"color:#1f2933;\">Mallory Müller</strong>"));
    ck_assert_ptr_nonnull(strstr(m, "12 KB"));
    ck_assert_ptr_nonnull(strstr(m, "Virus found: Eicar-Test"));
    ck_assert_ptr_null(strstr(m, "Eicar-Test found"));
    /* dates in the reader's zone */
    i18n_date(when, sizeof(when), "en", "America/New_York", (time_t)r.items[0].created,
              I18N_DATETIME);
    i18n_date(tokyo, sizeof(tokyo), "en", "Asia/Tokyo", (time_t)r.items[0].created, I18N_DATETIME);
    ck_assert_ptr_nonnull(strstr(m, when));
    ck_assert_ptr_null(strstr(m, tokyo));
    ck_assert_ptr_nonnull(strstr(m, "time zone America/New_York"));
    /* the held subject is text in both parts: never markup */
    ck_assert_ptr_nonnull(strstr(m, "&lt;script&gt;alert(1)&lt;/script&gt; offer"));
    ck_assert_ptr_nonnull(strstr(m, "* <script>alert(1)</script> offer"));
    ck_assert_ptr_null(strstr(strstr(m, "Content-Type: text/html"), "<script>"));
    free(m);
    render_close(&r);
}
END_TEST

/* count - occurrences of needle in s */
static size_t count(const char *s, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(buttons_only_where_they_apply)
{
    struct render r;
    struct mailview_reader rd;
    char *m;

    render_open(&r);
    mailview_reader_of(r.st, r.cfg, "alice@example.org", &rd);
    /* the second message has no sender (a delivery report): nobody to allow or block */
    r.items[1].sender[0] = '\0';
    m = compose(&r, "digest", &rd);
    /* in the text part and the HTML part of the first item only */
    ck_assert_uint_eq(count(m, "Block sender"), 2);
    ck_assert_uint_eq(count(m, "Release and allow sender"), 2);
    ck_assert_uint_eq(count(m, ">Release</a>"), 2);
    ck_assert_uint_eq(count(m, "  Release: "), 2);
    /* no service here learns: no "Not spam" */
    ck_assert_ptr_null(strstr(m, "Not spam"));
    ck_assert_ptr_null(strstr(m, "{{"));
    free(m);
    render_close(&r);
}
END_TEST

START_TEST(digest_in_german_with_the_operators_german_item)
{
    struct render r;
    struct mailview_reader rd;
    const char *err;
    char *m, *sub, *orig;

    render_open(&r);
    ck_assert_int_eq(store_user_set_locale(r.st, "alice@example.org", "de", "", &err), 0);
    mailview_reader_of(r.st, r.cfg, "alice@example.org", &rd);
    ck_assert_str_eq(rd.lang, "de");
    m = compose(&r, "digest", &rd);
    ck_assert_ptr_nonnull(strstr(m, "Ihr Quarantänebericht"));
    ck_assert_ptr_nonnull(strstr(m, "Virus gefunden: Eicar-Test"));
    ck_assert_ptr_nonnull(strstr(m, "Freigeben und Absender erlauben"));
    ck_assert_ptr_nonnull(strstr(m, "lang=\"de\""));
    ck_assert_ptr_null(strstr(m, "Release"));
    ck_assert_ptr_null(strstr(m, " held "));
    ck_assert_ptr_null(strstr(m, "Subject: Quarantine"));
    free(m);
    /* the operator's de/item.txt for German readers only */
    if (asprintf(&sub, "%s/de", r.dir) < 0 || mkdir(sub, 0700) < 0)
        ck_abort();
    free(unit_write_file(sub, "item.txt", "DE-ITEM {{subject}}\n", 20));
    orig = r.cfg->notify_template_dir;
    r.cfg->notify_template_dir = r.dir;
    m = compose(&r, "digest", &rd);
    ck_assert_ptr_nonnull(strstr(m, "DE-ITEM second"));
    free(m);
    snprintf(rd.lang, sizeof(rd.lang), "en");
    m = compose(&r, "digest", &rd);
    ck_assert_ptr_null(strstr(m, "DE-ITEM"));
    ck_assert_ptr_nonnull(strstr(m, "Subject: Quarantine report: 2 messages held for you"));
    free(m);
    r.cfg->notify_template_dir = orig;
    free(sub);
    render_close(&r);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("schedule");
    TCase *mail = tcase_create("mail");

    tcase_add_test(tc, schedules_parse);
    tcase_add_test(tc, daily_is_due_once_after_the_hour);
    tcase_add_test(tc, every_n_hours);
    suite_add_tcase(s, tc);
    tcase_add_test(mail, notice_reads_for_people);
    tcase_add_test(mail, buttons_only_where_they_apply);
    tcase_add_test(mail, digest_in_german_with_the_operators_german_item);
    suite_add_tcase(s, mail);
    return s;
}
