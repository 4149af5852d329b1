/*
 * test_web_svcdesc.c - the portal and opesd see the same services.
 *
 * For the shipped example configuration, an empty one and one with every
 * service type (default and explicit orders, ties, overridden consent, action
 * and bypass), the services opesd builds (services_load) and those the portal
 * shows (web_svcinfo_load) must have the same names, order, URIs, types,
 * actions, consent classes and bypass policies. A bad configuration is
 * refused by opesd with every problem, in line order.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/config.h"
#include "opes/service.h"
#include "opes/web_svcinfo.h"

Suite *unit_suite(void);
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
char *unit_write_file(const char *dir, const char *name, const char *data, size_t len);

static const char every_type[] =
    "[service.banner]\ntype = banner\n"
    "[service.spam]\ntype = spamd\naddress = 127.0.0.1:783\nconsent = opt-in\n"
    "bypass = token portal\n"
    "[service.av]\ntype = clamd\nsocket = unix:/run/clamd.sock\norder = 15\n"
    "[service.map]\ntype = rewrite\nmap = a@example.org=b@example.org\norder = 15\n"
    "[service.policy]\ntype = rules\nrule = size > 10M reject\naction = reject\norder = 1\n"
    "[service.late]\ntype = rules\nrule = sender /x/ tag\norder = 10000\n";

/* same_view - load text (or the file path, or nothing) both ways and compare. */
static void same_view(const char *path, size_t want_n)
{
    const char *error = NULL;
    struct opes_config *cfg = config_load(path, &error);
    struct svc_set *set;
    struct web_svcinfo *v;
    size_t n = 0;

    ck_assert_msg(cfg != NULL, "%s", error);
    set = services_load(cfg, &error);
    ck_assert_msg(set != NULL, "%s", error);
    v = web_svcinfo_load(cfg, &n);
    ck_assert_uint_eq(set->n, want_n);
    ck_assert_uint_eq(n, set->n);
    for (size_t i = 0; i < n; i++) {
        const struct svc *s = &set->svc[i];
        ck_assert_str_eq(v[i].name, s->name);
        ck_assert_str_eq(v[i].uri, s->uri);
        ck_assert_str_eq(v[i].type, s->type->name);
        ck_assert_int_eq(v[i].action, s->action);
        ck_assert_int_eq(v[i].consent, s->consent);
        ck_assert_uint_eq(v[i].bypass, s->bypass);
        ck_assert_str_eq(web_svcinfo_consent(&v[i]), svc_consent_name(s->consent));
        ck_assert_str_eq(web_svcinfo_action(&v[i]), svc_verdict_name(s->action));
        if (i > 0)
            ck_assert_int_le(set->svc[i - 1].order, s->order);
    }
    free(v);
    services_free(&set);
    config_unref(&cfg);
}

START_TEST(empty_config)
{
    same_view(NULL, 0);
}
END_TEST

START_TEST(shipped_config)
{
    char path[4096];
    const char *self = __FILE__, *tail = strstr(self, "tests/web/test_web_svcdesc.c");

    ck_assert_ptr_nonnull(tail);
    snprintf(path, sizeof(path), "%.*spackaging/debian/opesd.conf", (int)(tail - self), self);
    same_view(path, 0);
}
END_TEST

START_TEST(every_type_config)
{
    char *dir = unit_tmpdir();
    char *path = unit_write_file(dir, "opesd.conf", every_type, strlen(every_type));
    const char *error = NULL;
    struct opes_config *cfg;
    struct web_svcinfo *v;
    size_t n = 0;
    static const char *const order[] = {"policy", "banner", "av", "map", "spam", "late"};
    char bypass[64];

    same_view(path, 6);
    cfg = config_load(path, &error);
    v = web_svcinfo_load(cfg, &n);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(v[i].name, order[i]);
    /* the defaults of the types, as the portal says them */
    ck_assert_str_eq(web_svcinfo_consent(&v[1]), "opt-out");
    ck_assert_str_eq(web_svcinfo_action(&v[1]), "modify");
    web_svcinfo_bypass(&v[1], bypass, sizeof(bypass));
    ck_assert_str_eq(bypass, "header, dialog, token, portal");
    web_svcinfo_bypass(&v[2], bypass, sizeof(bypass));
    ck_assert_str_eq(bypass, "never");
    web_svcinfo_bypass(&v[4], bypass, sizeof(bypass));
    ck_assert_str_eq(bypass, "token, portal");
    ck_assert_str_eq(web_svcinfo_consent(&v[4]), "opt-in");
    ck_assert_str_eq(web_svcinfo_action(&v[0]), "reject");
    free(v);
    config_unref(&cfg);
    free(path);
    unit_rmtree(dir);
    free(dir);
}
END_TEST

/* opesd refuses a bad section with every problem, in line order; the portal shows what it can */
START_TEST(problems_in_line_order)
{
    static const char text[] = "[service.b]\ntype = spamd\naddress = 127.0.0.1:783\n"
                               "consent = maybe\n"
                               "[service.a]\ntype = nonsense\n"
                               "[service.b]\nsize = 1\norder = -1\n";
    char *dir = unit_tmpdir();
    char *path = unit_write_file(dir, "bad.conf", text, strlen(text));
    const char *error = NULL;
    struct opes_config *cfg = config_load(path, &error);
    struct web_svcinfo *v;
    char want[4096];
    size_t n = 0;

    ck_assert_msg(cfg != NULL, "%s", error);
    ck_assert_ptr_null(services_load(cfg, &error));
    snprintf(want, sizeof(want),
             "%s:4: service.b.consent: expected mandatory, opt-out or opt-in\n"
             "%s:6: service.a.type: unknown type (rules, clamd, spamd, rewrite, banner or rspamd)\n"
             "%s:8: service.b.size: unknown key (spamd takes address, tag_threshold, "
             "junk_threshold, quarantine_threshold, level_step, user_score_min, "
             "user_score_max, user, max_size, on_unscannable)\n"
             "%s:9: service.b.order: expected a number 0-10000",
             path, path, path, path);
    ck_assert_str_eq(error, want);
    v = web_svcinfo_load(cfg, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].name, "b");
    ck_assert_str_eq(web_svcinfo_consent(&v[0]), "opt-out");
    free(v);
    config_unref(&cfg);
    free(path);
    unit_rmtree(dir);
    free(dir);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("web_svcdesc");
    TCase *tc = tcase_create("same view");

    tcase_add_test(tc, empty_config);
    tcase_add_test(tc, shipped_config);
    tcase_add_test(tc, every_type_config);
    tcase_add_test(tc, problems_in_line_order);
    suite_add_tcase(s, tc);
    return s;
}
