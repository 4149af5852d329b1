/*
 * test_policy.c - the per-recipient decision table and bypass request parsing.
 *
 * Every combination of consent class x recipient choice x bypass policy x
 * requested channels x malware-scanner flag goes through policy_step, and the
 * result is checked against the rules the system page promises; then verdict
 * combination, per-recipient actions, the choice for a message a service
 * could not read (unscannable, ambiguous), and OPES-Bypass / XOPES-BYPASS
 * values.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "opes/bypass.h"
#include "opes/policy.h"
#include "opes/service.h"

Suite *unit_suite(void);

static const struct svc_type plain_type = {.name = "plain"};
static const struct svc_type scanner_type = {.name = "scanner", .never_bypass = "mandatory"};

START_TEST(step_every_combination)
{
    for (int cls = 0; cls < 3; cls++)
        for (int choice = -1; choice <= 1; choice++)
            for (unsigned policy = 0; policy < 16; policy++)
                for (unsigned req = 0; req < 16; req++)
                    for (int scanner = 0; scanner < 2; scanner++) {
                        struct svc s = {.consent = (enum svc_consent)cls,
                                        .bypass = policy,
                                        .type = scanner ? &scanner_type : &plain_type};
                        struct policy_step st = policy_step(&s, req, choice);
                        bool off = (cls == SVC_OPT_OUT && choice == 0) ||
                                   (cls == SVC_OPT_IN && choice != 1);
                        unsigned allowed = scanner ? 0 : policy;
                        if (off) {
                            ck_assert_int_eq(st.kind, POLICY_NO_CONSENT);
                            continue;
                        }
                        ck_assert_uint_eq(st.granted, req & allowed);
                        ck_assert_uint_eq(st.refused, req & ~allowed);
                        ck_assert_uint_eq(st.granted | st.refused, req);
                        ck_assert_int_eq(st.kind, (req & allowed) ? POLICY_BYPASSED : POLICY_RUN);
                        if (scanner)
                            ck_assert_int_ne(st.kind, POLICY_BYPASSED);
                        if (cls == SVC_MANDATORY)
                            ck_assert_int_ne(st.kind, POLICY_NO_CONSENT);
                    }
}
END_TEST

/* the rows a reader of the system page would check first */
static const struct {
    enum svc_consent cls;
    int choice;
    unsigned policy, req;
    bool scanner;
    enum policy_step_kind kind;
} step_rows[] = {
    {SVC_MANDATORY, -1, 0, SVC_BYPASS_HEADER, true, POLICY_RUN},      /* clamd + header */
    {SVC_MANDATORY, 0, 0, SVC_BYPASS_PORTAL, true, POLICY_RUN},       /* clamd + whitelist */
    {SVC_MANDATORY, 0, 15, 15, true, POLICY_RUN},                     /* misconfigured clamd */
    {SVC_OPT_OUT, -1, 15, SVC_BYPASS_PORTAL, false, POLICY_BYPASSED}, /* spamd + whitelist */
    {SVC_OPT_OUT, 0, 15, 0, false, POLICY_NO_CONSENT},                /* spamd, opted out */
    {SVC_OPT_OUT, 1, 0, SVC_BYPASS_HEADER, false, POLICY_RUN},        /* bypass "never" */
    {SVC_OPT_IN, -1, 15, 0, false, POLICY_NO_CONSENT},                /* opt-in, no choice */
    {SVC_OPT_IN, 1, SVC_BYPASS_DIALOG, SVC_BYPASS_HEADER, false, POLICY_RUN},
    {SVC_OPT_IN, 1, SVC_BYPASS_DIALOG, SVC_BYPASS_DIALOG, false, POLICY_BYPASSED},
};

START_TEST(step_rows_table)
{
    struct svc s = {.consent = step_rows[_i].cls,
                    .bypass = step_rows[_i].policy,
                    .type = step_rows[_i].scanner ? &scanner_type : &plain_type};
    ck_assert_int_eq(policy_step(&s, step_rows[_i].req, step_rows[_i].choice).kind,
                     step_rows[_i].kind);
}
END_TEST

START_TEST(rank_and_outcome)
{
    static const enum svc_verdict order[] = {SVC_PASS,       SVC_TAG,      SVC_MODIFY, SVC_JUNK,
                                             SVC_QUARANTINE, SVC_TEMPFAIL, SVC_REJECT};
    for (int i = 1; i < 7; i++)
        ck_assert_int_lt(policy_rank(order[i - 1]), policy_rank(order[i]));
    ck_assert_int_eq(policy_outcome_of(SVC_PASS), POLICY_DELIVER);
    ck_assert_int_eq(policy_outcome_of(SVC_TAG), POLICY_DELIVER);
    ck_assert_int_eq(policy_outcome_of(SVC_MODIFY), POLICY_DELIVER);
    ck_assert_int_eq(policy_outcome_of(SVC_QUARANTINE), POLICY_QUARANTINE);
    ck_assert_int_eq(policy_outcome_of(SVC_TEMPFAIL), POLICY_TEMPFAIL);
    ck_assert_int_eq(policy_outcome_of(SVC_REJECT), POLICY_REJECT);
    ck_assert_int_eq(policy_outcome_of(SVC_JUNK), POLICY_JUNK);
    ck_assert_str_eq(policy_outcome_name(POLICY_JUNK), "junk");
}
END_TEST

static struct svc_levels test_levels = {
    .on = true, .normal = {5.0, 8.0, 15.0}, .step = 3.0, .min = 2.0, .max = 30.0};

static const struct svc_levels *test_levels_of(const struct svc *svc)
{
    (void)svc;
    return &test_levels;
}

static const struct svc_type scoring_type = {.name = "scoring", .levels = test_levels_of};

/* one scan, a score of 12: each recipient's level decides where the copy goes */
static const struct {
    enum policy_spam_level level;
    struct svc_scores own;
    double score;
    enum svc_verdict want;
} level_rows[] = {
    {POLICY_SPAM_DEFAULT, {0, 0, 0}, 12.0, SVC_JUNK},
    {POLICY_SPAM_NORMAL, {0, 0, 0}, 12.0, SVC_JUNK},
    {POLICY_SPAM_STRICT, {0, 0, 0}, 12.0, SVC_QUARANTINE}, /* 12 >= 15 - 3 */
    {POLICY_SPAM_LENIENT, {0, 0, 0}, 12.0, SVC_JUNK},      /* 12 >= 8 + 3 */
    {POLICY_SPAM_LENIENT, {0, 0, 0}, 10.0, SVC_TAG},       /* 5 + 3 <= 10 < 8 + 3 */
    {POLICY_SPAM_LENIENT, {0, 0, 0}, 7.0, SVC_PASS},
    {POLICY_SPAM_CUSTOM, {1.0, 4.0, 100.0}, 12.0, SVC_JUNK}, /* 100 kept to the max, 30 */
    {POLICY_SPAM_CUSTOM, {1.0, 4.0, 100.0}, 31.0, SVC_QUARANTINE},
    {POLICY_SPAM_CUSTOM, {0.0, INFINITY, 20.0}, 2.5, SVC_TAG},  /* 0 kept to the min, 2 */
    {POLICY_SPAM_CUSTOM, {0.0, INFINITY, 20.0}, 19.0, SVC_TAG}, /* junk off */
};

START_TEST(spam_levels)
{
    struct svc s = {.action = SVC_QUARANTINE, .type = &scoring_type};
    struct svc_result r = {.verdict = SVC_JUNK, .scored = true, .score = level_rows[_i].score};
    struct policy_spam pref = {.level = level_rows[_i].level, .own = level_rows[_i].own};

    ck_assert_int_eq(policy_verdict_for(&s, &r, "alice@example.org", &pref), level_rows[_i].want);
}
END_TEST

START_TEST(spam_levels_edges)
{
    struct svc_rcpt_action ra[] = {{"bob@example.org", SVC_REJECT}};
    struct svc s = {
        .action = SVC_QUARANTINE, .type = &scoring_type, .rcpt_actions = ra, .n_rcpt_actions = 1};
    struct svc_result r = {.verdict = SVC_QUARANTINE, .scored = true, .score = 16.0};
    struct svc_result failed = {.verdict = SVC_TEMPFAIL, .failed = true};

    /* over the quarantine score: the recipient's override of the action still applies */
    ck_assert_int_eq(policy_verdict_for(&s, &r, "bob@example.org", NULL), SVC_REJECT);
    ck_assert_int_eq(policy_verdict_for(&s, &r, "alice@example.org", NULL), SVC_QUARANTINE);
    /* an action milder than junk (tag) above the quarantine score does not undo the junk */
    struct svc tagger = {.action = SVC_TAG, .type = &scoring_type};
    ck_assert_int_eq(policy_verdict_for(&tagger, &r, "alice@example.org", NULL), SVC_JUNK);
    /* no score (failed): the service's verdict, whatever the level */
    struct policy_spam lenient = {.level = POLICY_SPAM_LENIENT};
    ck_assert_int_eq(policy_verdict_for(&s, &failed, "alice@example.org", &lenient), SVC_TEMPFAIL);
    /* levels off (rspamd without thresholds): the service's verdict */
    test_levels.on = false;
    r.verdict = SVC_TAG;
    ck_assert_int_eq(policy_verdict_for(&s, &r, "alice@example.org", &lenient), SVC_TAG);
    test_levels.on = true;
    for (int l = 0; l < 5; l++)
        ck_assert_int_eq(policy_spam_level_parse(policy_spam_level_name(l)), l);
    ck_assert_int_eq(policy_spam_level_parse("paranoid"), -1);
}
END_TEST

START_TEST(recipient_actions)
{
    struct svc_rcpt_action ra[] = {{"bob@example.org", SVC_REJECT},
                                   {"@strict.example", SVC_REJECT},
                                   {"carol@strict.example", SVC_TAG}};
    struct svc s = {.action = SVC_QUARANTINE, .rcpt_actions = ra, .n_rcpt_actions = 3};
    struct svc_result hit = {.verdict = SVC_QUARANTINE};
    struct svc_result failed = {.verdict = SVC_QUARANTINE, .failed = true};
    struct svc_result tag = {.verdict = SVC_TAG};

    ck_assert_int_eq(policy_verdict_for(&s, &hit, "alice@example.org", NULL), SVC_QUARANTINE);
    ck_assert_int_eq(policy_verdict_for(&s, &hit, "BOB@example.org", NULL), SVC_REJECT);
    ck_assert_int_eq(policy_verdict_for(&s, &hit, "dave@STRICT.example", NULL), SVC_REJECT);
    /* the first matching entry wins */
    ck_assert_int_eq(policy_verdict_for(&s, &hit, "carol@strict.example", NULL), SVC_REJECT);
    /* a failure's verdict (on_failure = quarantine) is not a hit: no override */
    ck_assert_int_eq(policy_verdict_for(&s, &failed, "bob@example.org", NULL), SVC_QUARANTINE);
    /* below the action (a spam tag): no override */
    ck_assert_int_eq(policy_verdict_for(&s, &tag, "bob@example.org", NULL), SVC_TAG);
}
END_TEST

#define U_SPAMD "http://opes.example.org/opes/service/spamd"
#define U_CLAMD "http://opes.example.org/opes/service/clamd"

static const struct {
    const char *value;
    bool valid, spamd, clamd;
} bypass_rows[] = {
    {"*", true, true, true},
    {" * ", true, true, true},
    {U_SPAMD, true, true, false},
    {U_SPAMD "; token=abc", true, true, false},
    {U_CLAMD ", " U_SPAMD, true, true, true},
    {"http://other.example/service/x", true, true, true}, /* unknown URI counts as "*" */
    {"spamd", false, false, false},                       /* not an absolute URI */
    {"", false, false, false},
    {",,,", false, false, false},
};

/*
 * svc_unscannable: the choice replaces a pass (and is traced even when it is
 * pass) or a milder verdict; a verdict at least as severe stays, reason and all.
 */
static const struct {
    enum svc_verdict before, choice, after;
    bool replaced;
} unscannable_rows[] = {
    {SVC_PASS, SVC_QUARANTINE, SVC_QUARANTINE, true},
    {SVC_PASS, SVC_TEMPFAIL, SVC_TEMPFAIL, true},
    {SVC_PASS, SVC_REJECT, SVC_REJECT, true},
    {SVC_PASS, SVC_PASS, SVC_PASS, true}, /* a pass by choice says so */
    {SVC_TAG, SVC_QUARANTINE, SVC_QUARANTINE, true},
    {SVC_TAG, SVC_PASS, SVC_TAG, false},
    {SVC_QUARANTINE, SVC_QUARANTINE, SVC_QUARANTINE, false},
    {SVC_REJECT, SVC_QUARANTINE, SVC_REJECT, false},
    {SVC_QUARANTINE, SVC_REJECT, SVC_REJECT, true},
};

START_TEST(unscannable_table)
{
    struct svc s = {.name = "rules", .type = &plain_type};
    struct svc_result r;

    memset(&r, 0, sizeof(r));
    r.verdict = unscannable_rows[_i].before;
    snprintf(r.reason, sizeof(r.reason), "rule 1 matched");
    snprintf(r.headers, sizeof(r.headers), "X-OPES-Rule: rules; rule=1\r\n");
    svc_unscannable(&s, &r, unscannable_rows[_i].choice, "unscannable", "on_unscannable",
                    "parts (max 1000)");
    ck_assert_int_eq(r.verdict, unscannable_rows[_i].after);
    if (unscannable_rows[_i].replaced) {
        char want[200];
        snprintf(want, sizeof(want), "unscannable: parts (max 1000) (on_unscannable=%s)",
                 svc_verdict_name(unscannable_rows[_i].choice));
        ck_assert_str_eq(r.reason, want);
        ck_assert_str_eq(r.headers, "");
    } else {
        ck_assert_str_eq(r.reason, "rule 1 matched");
    }
}
END_TEST

START_TEST(unscannable_words)
{
    static const char *const words[] = {"quarantine", "reject", "tempfail", "pass"};

    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(
            svc_verdict_name((enum svc_verdict)config_word_value(svc_unscannable_words, words[i])),
            words[i]);
    ck_assert_int_lt(config_word_value(svc_unscannable_words, "tag"), 0);
    ck_assert_int_lt(config_word_value(svc_unscannable_words, "modify"), 0);
}
END_TEST

START_TEST(bypass_table)
{
    const char *known[] = {U_SPAMD, U_CLAMD};
    struct bypass_request r;

    bypass_parse(bypass_rows[_i].value, known, 2, &r);
    ck_assert(r.present);
    ck_assert_int_eq(r.valid, bypass_rows[_i].valid);
    ck_assert_int_eq(bypass_covers(&r, U_SPAMD), bypass_rows[_i].spamd);
    ck_assert_int_eq(bypass_covers(&r, U_CLAMD), bypass_rows[_i].clamd);
}
END_TEST

START_TEST(bypass_absent_and_oversized)
{
    const char *known[] = {U_SPAMD};
    static char big[BYPASS_MAX + 10];
    struct bypass_request r;

    bypass_parse(NULL, known, 1, &r);
    ck_assert(!r.present);
    ck_assert(!bypass_covers(&r, U_SPAMD));
    memset(big, ' ', sizeof(big) - 2);
    big[0] = '*';
    big[sizeof(big) - 1] = '\0';
    bypass_parse(big, known, 1, &r);
    ck_assert(r.present);
    ck_assert(!r.valid);
    ck_assert(!bypass_covers(&r, U_SPAMD));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("step");

    tcase_add_test(tc, step_every_combination);
    tcase_add_loop_test(tc, step_rows_table, 0, (int)(sizeof(step_rows) / sizeof(step_rows[0])));
    tcase_add_test(tc, rank_and_outcome);
    tcase_add_test(tc, recipient_actions);
    tcase_add_loop_test(tc, spam_levels, 0, (int)(sizeof(level_rows) / sizeof(level_rows[0])));
    tcase_add_test(tc, spam_levels_edges);
    tcase_add_loop_test(tc, unscannable_table, 0,
                        (int)(sizeof(unscannable_rows) / sizeof(unscannable_rows[0])));
    tcase_add_test(tc, unscannable_words);
    suite_add_tcase(s, tc);
    tc = tcase_create("bypass");
    tcase_add_loop_test(tc, bypass_table, 0, (int)(sizeof(bypass_rows) / sizeof(bypass_rows[0])));
    tcase_add_test(tc, bypass_absent_and_oversized);
    suite_add_tcase(s, tc);
    return s;
}
