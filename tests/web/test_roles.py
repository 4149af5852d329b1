"""Who may see and release what, end to end: opesd with a real clamd and Dovecot, opes-web.

A virus clamd held (release = request by default) can only be requested by
its recipient; a domain administrator approves it in the portal, the message
arrives in Dovecot, and approver and recipient get their mail; another
domain's request and item are "not found" for that administrator and not in
their lists; opesctl request denies from the shell. A delegate of a shared
mailbox sees and releases its items, delivered to the shared mailbox, and an
alias mapped by the rewrite service shows the address it was sent to.
"""
import json
import os
import quopri
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import opestest as t
import test_api
import test_portal
from scanners import EICAR, Clamd
from test_portal import OpesWeb, WebTest, http, simple


def virus(rcpt, subject):
    return ("From: mallory@remote.example\nTo: %s\nSubject: %s\n\n%s\n"
            % (rcpt, subject, EICAR.decode()))


class RolesBase(WebTest):
    extra = {}

    def start_all(self, extra):
        self.dovecot = self.start(t.Dovecot(self.tmp, users=("alice", "bob", "carol", "sales")))
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        cfg = {"store.job_interval": "1s",
               "notify.batch_window": "0",
               "web.listen": "127.0.0.1:%d" % port,
               "web.base_url": self.base}
        cfg.update(extra)
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
                                        extra=cfg))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def hold(self, rcpt, message, subject):
        test_portal.PortalBrowserTest.send(self, message, rcpt)
        _, out, _ = self.opesd.ctl("quarantine", "list", "--json")
        return [i["id"] for i in json.loads(out) if i["subject"] == subject][0]

    def session(self, address):
        """A portal session of address (through a login link): (cookie, its CSRF token)."""
        return test_api.ApiTest.session(self, address)

    def get(self, sess, path):
        return http(self.base, path, headers={"Cookie": sess[0]})

    def post(self, sess, path, **fields):
        fields["csrf"] = sess[1]
        return http(self.base, path, data=urllib.parse.urlencode(fields).encode(),
                    headers={"Cookie": sess[0]})

    def wait_mail(self, user, needle, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [m for m in self.dovecot.messages(user) if needle in m]
            if found:
                return found[0]
            time.sleep(0.2)
        self.fail("no mail with %r for %s" % (needle, user))

    def token(self, address):
        return self.opesd.ctl("token", "api", address)[1].strip()

    def api(self, method, path, token):
        """(status, parsed JSON body) of one API request with a bearer token."""
        req = urllib.request.Request(self.base + path, data=b"" if method == "POST" else None,
                                     headers={"Authorization": "Bearer " + token}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def requests(self, *args):
        return json.loads(self.opesd.ctl("request", "list", "--json", *args)[1])


class ReleaseRequestTest(RolesBase):
    @classmethod
    def setUpClass(cls):
        cls.clamd_tmp = tempfile.mkdtemp(prefix="opes-clamd-")
        cls.clamd = Clamd(cls.clamd_tmp)

    @classmethod
    def tearDownClass(cls):
        cls.clamd.stop()
        shutil.rmtree(cls.clamd_tmp, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.start_all({"service.clamd.type": "clamd",
                        "service.clamd.socket": self.clamd.unix,
                        "service.clamd.timeout": "10s"})
        self.opesd.ctl("user", "add", "carol@example.org", "--domain-admin", "example.org")

    def test_virus_requested_approved_by_domain_admin_and_delivered(self):
        mine = self.hold("alice@example.org", virus("alice@example.org", "invoice"), "invoice")
        other = self.hold("bob@example.com", virus("bob@example.com", "elsewhere"), "elsewhere")
        alice = self.session("alice@example.org")

        # the recipient's Release is a request, with a reason; nothing is delivered
        _, _, page = self.get(alice, "/quarantine/" + mine)
        self.assertIn("Ask for release", page)
        status, headers, _ = self.post(alice, "/quarantine/" + mine, action="release",
                                       reason="my supplier's invoice")
        self.assertEqual(status, 303)
        self.assertIn("done=asked", headers["Location"])
        pending = self.requests()
        self.assertEqual([(r["item"]["id"], r["reason"]) for r in pending],
                         [(mine, "my supplier's invoice")])
        # asking again makes no second request; a recipient has no queue
        self.post(alice, "/quarantine/" + mine, action="release")
        self.assertEqual(len(self.requests()), 1)
        self.assertEqual(self.get(alice, "/admin/requests")[0], 404)

        # a one-click release link makes a request too
        third = self.hold("alice@example.org", virus("alice@example.org", "third"), "third")
        link = self.opesd.ctl("link", "alice@example.org", "--item", third, "--action",
                              "release")[1].strip()
        status, _, page = http(self.base, link[len(self.base):], data=b"")
        self.assertEqual(status, 200, page)
        self.assertIn("sent to your administrator", page)
        self.assertEqual(sorted(r["item"]["id"] for r in self.requests()), sorted([mine, third]))
        # and so does the list's bulk release, counted as asked, not as released
        status, headers, _ = self.post(alice, "/quarantine/bulk", action="release", id=third)
        self.assertEqual(status, 303)
        self.assertIn("n=0&failed=0&asked=1", headers["Location"])

        # the domain administrator is told, sees their domain only, 404 beyond it
        self.wait_mail("carol", b"alice@example.org asks for the release")
        carol = self.session("carol@example.org")
        _, _, queue = self.get(carol, "/admin/requests")
        self.assertIn("invoice", queue)
        self.assertIn("my supplier&#39;s invoice", queue)
        self.assertEqual(self.get(carol, "/quarantine/" + other)[0], 404)
        _, _, listing = self.get(carol, "/quarantine")
        self.assertIn(mine, listing)
        self.assertNotIn(other, listing)

        status, _, _ = self.post(carol, "/admin/requests", id=str(pending[0]["id"]),
                                 decision="approve", comment="checked with the sender")
        self.assertEqual(status, 303)
        self.wait_mail("alice", EICAR)
        outcome = self.wait_mail("alice", b"was approved")
        self.assertIn(b"checked with the sender", outcome)
        _, _, page = self.get(alice, "/quarantine/" + mine)
        self.assertIn("Release request: approved", page)

        # another domain's request: not found for carol, denied from the shell
        # through the API the same: bob's token asks, carol's token does not find it
        status, body = self.api("POST", "/api/v1/quarantine/%s/release" % other,
                                self.token("bob@example.com"))
        self.assertEqual(status, 202, body)
        self.assertEqual(body["request"]["state"], "pending")
        self.assertNotIn("release", body)
        status, _ = self.api("GET", "/api/v1/quarantine/" + other, self.token("carol@example.org"))
        self.assertEqual(status, 404)
        req = self.requests()[0]
        self.assertEqual((req["id"], req["item"]["id"]), (body["request"]["id"], other))
        self.assertEqual(req["item"]["id"], other)
        status, _, _ = self.post(carol, "/admin/requests", id=str(req["id"]), decision="approve")
        self.assertEqual(status, 404)
        self.opesd.ctl("request", "deny", str(req["id"]), "--comment", "a real virus")
        self.assertEqual([r["item"]["id"] for r in self.requests()], [third])
        states = {r["item"]["id"]: r["state"] for r in self.requests("--all")}
        self.assertEqual(states, {mine: "approved", other: "denied", third: "pending"})
        self.wait_mail("bob", b"was denied")
        shown = json.loads(self.opesd.ctl("quarantine", "show", other, "--json")[1])
        self.assertEqual(shown["status"], "held")
        code, _, err = self.opesd.ctl("request", "approve", str(req["id"]), check=False)
        self.assertEqual(code, 1, err)
        # carol's audit: her domain's steps, nothing of the other domain's item
        _, _, queue = self.get(carol, "/admin/requests")
        audit = queue[queue.index('id="audit"'):]
        self.assertIn("release-approve", audit)
        self.assertIn(mine, audit)
        self.assertNotIn(other, audit)
        # carol's lists: her domain's owners only, to read and to change
        self.opesd.ctl("list", "add", "block", "bob@example.com", "@other.example")
        self.assertEqual(self.post(carol, "/admin/lists", owner="alice@example.org",
                                   sender="@spam.example", kind="block")[0], 303)
        self.assertEqual(self.post(carol, "/admin/lists", owner="bob@example.com",
                                   sender="@spam.example", kind="block")[0], 404)
        _, _, lists = self.get(carol, "/admin/lists")
        self.assertIn("@spam.example", lists)
        self.assertNotIn("@other.example", lists)
        entries = json.loads(self.opesd.ctl("list", "show", "--json")[1])
        self.assertIn(("alice@example.org", "block", "@spam.example", "carol@example.org"),
                      [(e["owner"], e["kind"], e["sender"], e["created_by"]) for e in entries])
        self.assertEqual(self.get(alice, "/admin/lists")[0], 404)
        actions = [e["action"] for e in json.loads(self.opesd.ctl("audit", "--json")[1])]
        for a in ("release-ask", "release-approve", "release-deny"):
            self.assertIn(a, actions)


    def test_in_the_browser(self):
        why = test_portal.missing_browser()
        if why is not None:
            self.skipTest(why)
        item = self.hold("alice@example.org", virus("alice@example.org", "browser"), "browser")
        env = dict(os.environ, BASE=self.base, ITEM=item, ARTIFACTS=test_portal.ARTIFACTS,
                   RECIPIENT_LINK=self.opesd.ctl("link", "alice@example.org")[1].strip(),
                   APPROVER_LINK=self.opesd.ctl("link", "carol@example.org")[1].strip())
        p = subprocess.run([test_portal.NODE, os.path.join(test_portal.HERE, "roles.mjs")],
                           cwd=test_portal.HERE, env=env, capture_output=True, timeout=120)
        out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "browser checks failed:\n%s" % out)
        self.assertIn("all browser checks passed", out)
        self.wait_mail("alice", EICAR)
        self.assertIn(b"checked by phone", self.wait_mail("alice", b"was approved"))


class DelegateTest(RolesBase):
    def setUp(self):
        super().setUp()
        self.start_all({"service.rules.type": "rules",
                        "service.rules.rule": "header Subject /HOLD-ME/ quarantine",
                        "service.rewrite.type": "rewrite",
                        "service.rewrite.map": "info@example.org=sales@example.org"})

    def test_delegate_releases_to_the_shared_mailbox(self):
        self.opesd.ctl("user", "notify", "sales@example.org", "digest")
        shared = self.hold("sales@example.org", simple("sales@example.org", "HOLD-ME order"),
                           "HOLD-ME order")
        alias = self.hold("info@example.org", simple("info@example.org", "HOLD-ME info"),
                          "HOLD-ME info")
        self.opesd.ctl("delegate", "add", "sales@example.org", "alice@example.org")
        self.assertIn("sales@example.org alice@example.org",
                      self.opesd.ctl("delegate", "list")[1])
        alice = self.session("alice@example.org")
        _, _, listing = self.get(alice, "/quarantine")
        self.assertIn(shared, listing)
        self.assertIn(alias, listing)
        # each labelled with the mailbox it is for, and the alias it was sent to
        self.assertIn("<td class=\"c-to\">sales@example.org (info@example.org)</td>", listing)
        # the alias's entry is the mapped mailbox's, and shows where it was sent
        _, _, page = self.get(alice, "/quarantine/" + alias)
        self.assertIn("sent to info@example.org", page)
        shown = json.loads(self.opesd.ctl("quarantine", "show", alias, "--json")[1])
        self.assertEqual((shown["recipient"], shown["original"]),
                         ("sales@example.org", "info@example.org"))
        # the shared mailbox's digest reaches its delegate too, labelled with the mailbox
        deadline = time.time() + 30
        while time.time() < deadline and not any(
                b"[sales@example.org] HOLD-ME order" in m for m in self.dovecot.messages("alice")):
            self.opesd.ctl("digest", "run", "sales@example.org")
            time.sleep(1)
        digest = self.wait_mail("alice", b"[sales@example.org] HOLD-ME order", timeout=1)
        # its one-click links are alice's, and open the mailbox's item for her
        text = quopri.decodestring(digest).decode("utf-8", "replace")
        # it says whose mail it is, not as if it had been sent to alice
        self.assertIn("2 messages to sales@example.org, a mailbox you share, were held back",
                      re.sub(r"\s+", " ", text))
        self.assertNotIn("to alice@example.org were held", re.sub(r"\s+", " ", text))
        links = re.findall(re.escape(self.base) + r"(/action/[A-Za-z0-9._~-]+)", text)
        self.assertTrue(links, text[-2000:])
        status, _, page = http(self.base, links[0])
        self.assertEqual(status, 200, page)
        self.assertIn("sales@example.org", page)
        # someone else: not found
        bob = self.session("bob@example.org")
        self.assertEqual(self.get(bob, "/quarantine/" + shared)[0], 404)

        status, _, _ = self.post(alice, "/quarantine/" + shared, action="release")
        self.assertEqual(status, 303)
        self.wait_mail("sales", b"Subject: HOLD-ME order")
        self.assertEqual(
            [m for m in self.dovecot.messages("alice") if b"\nSubject: HOLD-ME order" in m], [])

        self.opesd.ctl("delegate", "remove", "sales@example.org", "alice@example.org")
        self.assertEqual(self.get(alice, "/quarantine/" + alias)[0], 404)

    def test_delegate_copies_retried_and_a_refused_one_holds_up_nothing(self):
        """A delegate's copy of a shared mailbox's digest is a digest of its own: a mailbox
        that refuses for now (4xx) gets it later, one that refuses for good (5xx) is given
        up, and neither holds up the digests recorded after them."""
        self.opesd.ctl("user", "notify", "sales@example.org", "digest")
        self.opesd.ctl("delegate", "add", "sales@example.org", "alice@example.org")
        self.opesd.ctl("delegate", "add", "sales@example.org", "bob@example.org")
        # alice's mailbox cannot be written for now (Dovecot: 451 4.3.0); bob has none (550)
        home = os.path.join(self.dovecot.mail, "alice")
        os.makedirs(home)
        os.chmod(home, 0o700)
        self.dovecot.set_users(("alice", "carol", "sales"))
        for subject in ("HOLD-ME first", "HOLD-ME second"):
            self.hold("sales@example.org", simple("sales@example.org", subject), subject)
            deadline = time.time() + 30
            while time.time() < deadline and not any(
                    subject.encode() in m for m in self.dovecot.messages("sales")):
                self.opesd.ctl("digest", "run", "sales@example.org")
                time.sleep(1)
            # the mailbox's own digest went out although the copies before it were refused
            self.wait_mail("sales", subject.encode(), timeout=1)
        log = self.opesd.read_log()
        self.assertRegex(log, r"rcpt=<bob@example\.org> action=failed attempts=1 reply=\"550 ")
        self.assertRegex(log, r"rcpt=<alice@example\.org> action=deferred attempts=\d+ "
                              r"reply=\"4\d\d ")
        self.assertEqual(self.dovecot.messages("alice"), [])
        os.chown(home, 65534, 65534)
        for subject in (b"[sales@example.org] HOLD-ME first", b"[sales@example.org] HOLD-ME second"):
            self.wait_mail("alice", subject)
        time.sleep(2)  # two more job rounds: nothing is sent twice, bob is not tried again
        copies = [m for m in self.dovecot.messages("alice") if b"[sales@example.org]" in m]
        self.assertEqual(len(copies), 2)
        self.assertEqual(len(re.findall(r"rcpt=<bob@example\.org> action=failed",
                                        self.opesd.read_log())), 2)


if __name__ == "__main__":
    unittest.main()
