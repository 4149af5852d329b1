/*
 * test_authres.c - the sender counts as verified only by an
 * Authentication-Results field of a trusted authserv-id that shows SPF or
 * DKIM passing for the envelope sender's domain.
 */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "opes/authres.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define TRUSTED "mx.example.org, mx2.example.org"
#define SENDER "bob@mail.remote.example"

struct authres_case {
    const char *what;
    const char *headers;
    bool verified;
    const char *how; /* a part of what authres_verified says, when verified */
};

static const struct authres_case authres_cases[] = {
    {"spf pass for the sender's domain",
     "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bob@mail.remote.example\r\n",
     true, "spf=pass smtp.mailfrom=bob@mail.remote.example by mx.example.org"},
    {"the second trusted id, any case, folded, with comments and a version",
     "Authentication-Results: MX2.Example.ORG 1 (our MX);\r\n"
     "\tspf = pass (sender SPF authorized) smtp.mailfrom=\"bob@mail.remote.example\"\r\n",
     true, "by MX2.Example.ORG"},
    {"dkim pass, d= the sender's domain",
     "Authentication-Results: mx.example.org; dkim=pass (2048-bit key) "
     "header.d=mail.remote.example header.s=s1\r\n",
     true, "header.d=mail.remote.example"},
    {"dkim pass, d= a parent domain (relaxed)",
     "Authentication-Results: mx.example.org;\r\n dkim=pass header.d=remote.example; "
     "spf=none smtp.mailfrom=mail.remote.example\r\n",
     true, "dkim=pass header.d=remote.example"},
    {"dkim pass by header.i",
     "Authentication-Results: mx.example.org; dkim=pass header.i=@remote.example\r\n", true,
     "header.i=@remote.example"},
    {"the verifying result after others",
     "Authentication-Results: mx.example.org; dmarc=none header.from=x.example; "
     "spf=softfail smtp.mailfrom=mail.remote.example; dkim=pass header.d=remote.example\r\n",
     true, "dkim=pass"},
    {"one of two fields of the trusted id",
     "Authentication-Results: mx.example.org; dkim=none\r\n"
     "Received: from x by y\r\n"
     "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=mail.remote.example\r\n",
     true, "spf=pass"},
    {"spf fail", "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=" SENDER "\r\n",
     false, NULL},
    {"spf pass for another domain",
     "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bob@other.example\r\n", false,
     NULL},
    {"spf pass for a parent domain only (SPF is exact)",
     "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=remote.example\r\n", false,
     NULL},
    {"dkim pass for an unrelated domain",
     "Authentication-Results: mx.example.org; dkim=pass header.d=evil.example\r\n", false, NULL},
    {"dkim pass for a domain that only ends like the sender's",
     "Authentication-Results: mx.example.org; dkim=pass header.d=te.example\r\n", false, NULL},
    {"dkim pass for a top-level domain",
     "Authentication-Results: mx.example.org; dkim=pass header.d=example\r\n", false, NULL},
    {"an untrusted authserv-id",
     "Authentication-Results: mx.evil.example; spf=pass smtp.mailfrom=" SENDER "\r\n", false, NULL},
    {"a trusted id only inside a comment",
     "Authentication-Results: (mx.example.org) mx.evil.example; spf=pass smtp.mailfrom=" SENDER
     "\r\n",
     false, NULL},
    {"a trusted id as a prefix",
     "Authentication-Results: mx.example.org.evil.example; spf=pass smtp.mailfrom=" SENDER "\r\n",
     false, NULL},
    {"a pass hidden in a comment",
     "Authentication-Results: mx.example.org; spf=fail (spf=pass smtp.mailfrom=" SENDER
     ") smtp.mailfrom=" SENDER "\r\n",
     false, NULL},
    {"a pass hidden in a quoted reason",
     "Authentication-Results: mx.example.org; dkim=fail reason=\"x; spf=pass smtp.mailfrom=" SENDER
     "\"\r\n",
     false, NULL},
    {"none", "Authentication-Results: mx.example.org; none\r\n", false, NULL},
    {"no field", "Received-SPF: pass (mx.example.org) " SENDER "\r\n", false, NULL},
};

START_TEST(verified_only_by_a_trusted_pass)
{
    const struct authres_case *t = &authres_cases[_i];
    char how[300];
    bool ok = authres_verified(t->headers, strlen(t->headers), TRUSTED, SENDER, how, sizeof(how));

    ck_assert_msg(ok == t->verified, "%s: %d (%s)", t->what, ok, how);
    if (t->how != NULL)
        ck_assert_msg(strstr(how, t->how) != NULL, "%s: \"%s\"", t->what, how);
}
END_TEST

START_TEST(nothing_verifies_without_a_sender_or_trusted_id)
{
    const char *h = "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=" SENDER "\r\n";
    char how[100];

    ck_assert(authres_verified(h, strlen(h), TRUSTED, SENDER, how, sizeof(how)));
    ck_assert(!authres_verified(h, strlen(h), "", SENDER, how, sizeof(how)));
    ck_assert(!authres_verified(h, strlen(h), TRUSTED, "", how, sizeof(how)));
    ck_assert(!authres_verified(h, strlen(h), TRUSTED, "bob", how, sizeof(how)));
    ck_assert(!authres_verified(NULL, 0, TRUSTED, SENDER, how, sizeof(how)));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("authres");
    TCase *tc = tcase_create("verified");

    tcase_add_loop_test(tc, verified_only_by_a_trusted_pass, 0, N_ELEMENTS(authres_cases));
    tcase_add_test(tc, nothing_verifies_without_a_sender_or_trusted_id);
    suite_add_tcase(s, tc);
    return s;
}
