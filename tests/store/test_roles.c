/*
 * test_roles.c - who may see and release what (store_approval.c): domain
 * administrators and their domains, delegates of shared mailboxes, release
 * requests decided by an approver (a release follows an approval, a denial
 * leaves the entry held), and the original recipient of a mapped alias.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/store.h"

#include "store_util.h"

static char *dir, *db_path;
static struct store *st;
static unsigned seq;

static void setup(void)
{
    st = tu_fixture_open(&dir, &db_path);
    seq = 0;
}

static void teardown(void)
{
    tu_fixture_close(&st, &dir, &db_path);
}

/* hold - one entry held by service for rcpt (original: the alias it came for, or ""). */
static void hold(const char *rcpt, const char *service, const char *original, char *id)
{
    struct store_qitem it = {.size = 10};
    char body[64];
    const char *err;

    snprintf(it.trace_id, sizeof(it.trace_id), "trace%u", seq);
    snprintf(it.sender, sizeof(it.sender), "sender@example.net");
    snprintf(it.recipient, sizeof(it.recipient), "%s", rcpt);
    snprintf(it.original, sizeof(it.original), "%s", original);
    snprintf(it.subject, sizeof(it.subject), "item %u", seq);
    snprintf(it.service, sizeof(it.service), "%s", service);
    snprintf(it.reason, sizeof(it.reason), "test");
    snprintf(body, sizeof(body), "Subject: item %u\r\n\r\nbody %u\r\n", seq, seq);
    seq++;
    ck_assert_int_eq(tu_add(st, &it, 1, body, strlen(body), 7, &err), 0);
    strcpy(id, it.id);
}

/* collect_text - "address domain;" pairs appended to a string */
static void collect_pair(const char *a, const char *b, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s %s;", a, b);
}

static void collect_one(const char *a, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s;", a);
}

static void collect_delegate(const struct store_delegate *d, void *ctx)
{
    collect_pair(d->owner, d->address, ctx);
}

static void collect_approval(const struct store_approval *a, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s %s %s;", a->item.recipient, a->state, a->requested_by);
}

START_TEST(test_domain_admins)
{
    char out[512] = "";
    const char *err;

    ck_assert_int_eq(store_domain_admin_add(st, "Boss@Example.org", "@Example.ORG", &err), 0);
    ck_assert_int_eq(store_domain_admin_add(st, "boss@example.org", "example.com", &err), 0);
    ck_assert_int_eq(store_domain_admin_add(st, "boss@example.org", "example.com", &err), 0);
    ck_assert_int_eq(store_domain_admin_add(st, "x@example.net", "a@b", &err), -1);
    ck_assert_int_eq(store_domain_admin_list(st, "BOSS@example.org", collect_pair, out, &err), 0);
    ck_assert_str_eq(out, "boss@example.org example.com;boss@example.org example.org;");
    /* the user row exists and is no global administrator */
    struct store_user u;
    ck_assert_int_eq(store_user_get(st, "boss@example.org", &u, &err), 0);
    ck_assert_int_eq(u.role, STORE_ROLE_USER);
    /* approvers of a domain: the global administrators and that domain's */
    ck_assert_int_eq(store_user_add(st, "root@example.net", STORE_ROLE_ADMIN, &err), 0);
    out[0] = '\0';
    ck_assert_int_eq(store_approvers(st, "example.org", collect_one, out, &err), 0);
    ck_assert_str_eq(out, "boss@example.org;root@example.net;");
    out[0] = '\0';
    ck_assert_int_eq(store_approvers(st, "example.edu", collect_one, out, &err), 0);
    ck_assert_str_eq(out, "root@example.net;");
    ck_assert_int_eq(store_domain_admin_remove(st, "boss@example.org", "example.com", &err), 0);
    ck_assert_int_eq(store_domain_admin_remove(st, "boss@example.org", "example.com", &err),
                     STORE_NOTFOUND);
    out[0] = '\0';
    ck_assert_int_eq(store_domain_admin_list(st, NULL, collect_pair, out, &err), 0);
    ck_assert_str_eq(out, "boss@example.org example.org;");
}
END_TEST

START_TEST(test_delegates)
{
    char out[512] = "";
    const char *err;

    ck_assert_int_eq(store_delegate_add(st, "Sales@example.org", "Ann@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_delegate_add(st, "sales@example.org", "bob@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_delegate_add(st, "sales@example.org", "ann@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_delegate_add(st, "sales@example.org", "SALES@example.org", "cli", &err),
                     -1);
    ck_assert_int_eq(
        store_delegate_list(st, "sales@example.org", NULL, collect_delegate, out, &err), 0);
    ck_assert_str_eq(out, "sales@example.org ann@example.org;sales@example.org bob@example.org;");
    out[0] = '\0';
    ck_assert_int_eq(store_delegate_list(st, NULL, "ANN@example.org", collect_delegate, out, &err),
                     0);
    ck_assert_str_eq(out, "sales@example.org ann@example.org;");
    ck_assert_int_eq(store_delegate_remove(st, "sales@example.org", "ann@example.org", &err), 0);
    ck_assert_int_eq(store_delegate_remove(st, "sales@example.org", "ann@example.org", &err),
                     STORE_NOTFOUND);
    out[0] = '\0';
    ck_assert_int_eq(store_delegate_list(st, NULL, "ann@example.org", collect_delegate, out, &err),
                     0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_approval_approved_releases)
{
    char id[STORE_ID_LEN + 1], out[512] = "";
    struct store_approval a;
    struct store_release r;
    int64_t aid = 0, again = 0;
    const char *err;

    hold("ann@example.org", "clamd", "", id);
    ck_assert_int_eq(
        store_approval_request(st, id, "ann@example.org", "portal", "my invoice", &aid, &err), 0);
    ck_assert_int_gt(aid, 0);
    /* one pending request per entry */
    ck_assert_int_eq(store_approval_request(st, id, "ann@example.org", "portal", "", &again, &err),
                     STORE_USED);
    ck_assert_int_eq(again, aid);
    ck_assert_int_eq(store_approval_get(st, aid, &a, &err), 0);
    ck_assert_str_eq(a.item.id, id);
    ck_assert_str_eq(a.state, "pending");
    ck_assert_str_eq(a.reason, "my invoice");
    /* no release until it is approved */
    ck_assert_int_eq(store_release_next(st, &r, &err), STORE_NOTFOUND);
    /* approvers are told once */
    ck_assert_int_eq(store_approval_unnotified(st, 10, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "ann@example.org pending ann@example.org;");
    ck_assert_int_eq(store_approval_mark(st, aid, false, &err), 0);
    out[0] = '\0';
    ck_assert_int_eq(store_approval_unnotified(st, 10, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(store_approval_decide(st, aid, true, "root@example.net", "portal", "ok", &err),
                     0);
    /* decided once only */
    ck_assert_int_eq(store_approval_decide(st, aid, false, "root@example.net", "cli", "", &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(store_approval_get(st, aid, &a, &err), 0);
    ck_assert_str_eq(a.state, "approved");
    ck_assert_str_eq(a.decided_by, "root@example.net");
    ck_assert_str_eq(a.comment, "ok");
    ck_assert_int_eq(store_release_next(st, &r, &err), 0);
    ck_assert_str_eq(r.item_id, id);
    ck_assert_str_eq(r.requested_by, "root@example.net");
    /* the requester is told the outcome once */
    out[0] = '\0';
    ck_assert_int_eq(store_approval_untold(st, 10, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "ann@example.org approved ann@example.org;");
    ck_assert_int_eq(store_approval_mark(st, aid, true, &err), 0);
    out[0] = '\0';
    ck_assert_int_eq(store_approval_untold(st, 10, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "");
    /* every step is in the audit log */
    ck_assert_int_eq(tu_db_int(db_path,
                               "SELECT COUNT(*) FROM audit WHERE object = %Q AND "
                               "action IN ('release-ask', 'release-approve')",
                               id),
                     2);
}
END_TEST

START_TEST(test_approval_denied_stays_held)
{
    char id[STORE_ID_LEN + 1], other[STORE_ID_LEN + 1], out[512] = "";
    struct store_qitem it;
    struct store_release r;
    int64_t aid = 0, bid = 0;
    const char *err;

    hold("ann@example.org", "clamd", "", id);
    hold("eve@example.com", "clamd", "", other);
    ck_assert_int_eq(store_approval_request(st, id, "ann@example.org", "token", "", &aid, &err), 0);
    ck_assert_int_eq(store_approval_request(st, other, "eve@example.com", "cli", "", &bid, &err),
                     0);
    ck_assert_int_eq(store_approval_request(st, "nosuchid", "x@example.org", "cli", "", NULL, &err),
                     STORE_NOTFOUND);
    /* a domain administrator's queue holds their domains' requests only */
    ck_assert_int_eq(store_domain_admin_add(st, "boss@example.org", "example.org", &err), 0);
    ck_assert_int_eq(
        store_approval_list(st, "pending", "boss@example.org", 0, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "ann@example.org pending ann@example.org;");
    out[0] = '\0';
    ck_assert_int_eq(store_approval_list(st, NULL, NULL, 0, collect_approval, out, &err), 0);
    ck_assert_str_eq(out, "eve@example.com pending eve@example.com;"
                          "ann@example.org pending ann@example.org;");
    ck_assert_int_eq(
        store_approval_decide(st, aid, false, "boss@example.org", "portal", "a virus", &err), 0);
    ck_assert_int_eq(store_release_next(st, &r, &err), STORE_NOTFOUND);
    /* the entry's newest request says what became of it */
    struct store_approval a;
    ck_assert_int_eq(store_approval_of(st, id, &a, &err), 0);
    ck_assert_str_eq(a.state, "denied");
    ck_assert_str_eq(a.comment, "a virus");
    ck_assert_int_eq(store_approval_of(st, "nosuchid", &a, &err), STORE_NOTFOUND);
    ck_assert_int_eq(store_quarantine_get(st, id, &it, &err), 0);
    ck_assert_int_eq(it.status, STORE_HELD);
    /* a new request may follow a denial */
    ck_assert_int_eq(store_approval_request(st, id, "ann@example.org", "portal", "", NULL, &err),
                     0);
    /* an entry that is no longer held cannot be approved */
    ck_assert_int_eq(store_quarantine_set_status(st, other, STORE_DELETED, &err), 0);
    ck_assert_int_eq(store_approval_decide(st, bid, true, "root@example.net", "cli", "", &err),
                     STORE_NOTFOUND);
    ck_assert_int_eq(tu_db_int(db_path, "SELECT COUNT(*) FROM audit WHERE action = 'release-deny'"),
                     1);
}
END_TEST

START_TEST(test_original_recipient_kept)
{
    char id[STORE_ID_LEN + 1], plain[STORE_ID_LEN + 1];
    struct store_qitem it;
    const char *err;

    hold("mailbox@example.org", "spamd", "sales@example.org", id);
    hold("mailbox@example.org", "spamd", "", plain);
    ck_assert_int_eq(store_quarantine_get(st, id, &it, &err), 0);
    ck_assert_str_eq(it.recipient, "mailbox@example.org");
    ck_assert_str_eq(it.original, "sales@example.org");
    ck_assert_int_eq(store_quarantine_get(st, plain, &it, &err), 0);
    ck_assert_str_eq(it.original, "");
}
END_TEST

static void collect_rcpt(const struct store_qitem *it, void *ctx)
{
    collect_one(it->recipient, ctx);
}

START_TEST(test_list_what_each_sees)
{
    char id[STORE_ID_LEN + 1], out[512] = "";
    struct store_qfilter f = {.status = -1};
    const char *err;

    hold("ann@example.org", "spamd", "", id);
    hold("sales@example.org", "spamd", "", id);
    hold("Bob@Example.ORG", "spamd", "", id);
    hold("eve@example.com", "spamd", "", id);
    hold("eve@notexample.org", "spamd", "", id);
    ck_assert_int_eq(store_delegate_add(st, "sales@example.org", "ann@example.org", "cli", &err),
                     0);
    ck_assert_int_eq(store_domain_admin_add(st, "boss@example.org", "example.org", &err), 0);
    /* a recipient: their own; a delegate: the shared mailbox's too */
    f.recipient = "ANN@example.org";
    ck_assert_int_eq(store_quarantine_list(st, &f, collect_rcpt, out, &err), 0);
    ck_assert_str_eq(out, "sales@example.org;ann@example.org;");
    /* a domain administrator: every address of the domain, no other domain */
    out[0] = '\0';
    f.recipient = "boss@example.org";
    ck_assert_int_eq(store_quarantine_list(st, &f, collect_rcpt, out, &err), 0);
    ck_assert_str_eq(out, "Bob@Example.ORG;sales@example.org;ann@example.org;");
    out[0] = '\0';
    ck_assert_int_eq(store_web_quarantine_list(st, &f, STORE_SORT_OLDEST, collect_rcpt, out, &err),
                     0);
    ck_assert_str_eq(out, "ann@example.org;sales@example.org;Bob@Example.ORG;");
    /* someone else: only their own */
    out[0] = '\0';
    f.recipient = "eve@example.com";
    ck_assert_int_eq(store_quarantine_list(st, &f, collect_rcpt, out, &err), 0);
    ck_assert_str_eq(out, "eve@example.com;");
}
END_TEST

static void collect_audit(const struct store_audit_entry *e, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s %s;", e->action, e->object);
}

START_TEST(test_audit_of_a_domain)
{
    char mine[STORE_ID_LEN + 1], other[STORE_ID_LEN + 1], out[512] = "", want[512];
    const char *err;

    hold("ann@example.org", "clamd", "", mine);
    hold("eve@example.com", "clamd", "", other);
    ck_assert_int_eq(store_domain_admin_add(st, "boss@example.org", "example.org", &err), 0);
    ck_assert_int_eq(store_audit(st, "root", "delete", mine, "cli", &err), 0);
    ck_assert_int_eq(store_audit(st, "root", "delete", other, "cli", &err), 0);
    ck_assert_int_eq(store_audit(st, "root", "list-add", "ann@example.org:x@y", "cli", &err), 0);
    ck_assert_int_eq(store_audit(st, "root", "list-add", "eve@example.com:x@y", "cli", &err), 0);
    ck_assert_int_eq(store_audit(st, "Boss@example.org", "login", "portal", "portal", &err), 0);
    ck_assert_int_eq(store_audit_list_for(st, "boss@example.org", 0, collect_audit, out, &err), 0);
    snprintf(want, sizeof(want), "login portal;list-add ann@example.org:x@y;delete %s;", mine);
    ck_assert_str_eq(out, want);
    out[0] = '\0';
    ck_assert_int_eq(store_audit_list_for(st, NULL, 3, collect_audit, out, &err), 0);
    ck_assert_str_eq(out,
                     "login portal;list-add eve@example.com:x@y;list-add ann@example.org:x@y;");
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("roles");
    TCase *tc = tcase_create("roles");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_domain_admins);
    tcase_add_test(tc, test_delegates);
    tcase_add_test(tc, test_approval_approved_releases);
    tcase_add_test(tc, test_approval_denied_stays_held);
    tcase_add_test(tc, test_original_recipient_kept);
    tcase_add_test(tc, test_list_what_each_sees);
    tcase_add_test(tc, test_audit_of_a_domain);
    suite_add_tcase(s, tc);
    return s;
}
