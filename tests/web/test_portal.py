"""The portal end to end: opesd with a real Dovecot, opes-web, headless Chromium.

opesd holds mail by a rules service; opes-web runs on a free loopback port on
the same configuration and store. tests/web/portal.mjs then drives Debian's
Chromium (through npm playwright-core): login link, quarantine, escaped
preview, trace, CSRF, another recipient's item, release with whitelisting,
one-time action links. Afterwards the released message must be in the Dovecot
maildir and the whitelist entry in the store.

Needs /usr/bin/chromium and tests/web/node_modules (packaging/install-deps.sh
test installs both); without them the test is skipped, and says so loudly.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import opestest as t

HERE = os.path.dirname(os.path.abspath(__file__))
OPES_WEB = os.environ.get("OPES_WEB", os.path.join(os.path.dirname(t.OPESD), "opes-web"))
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node")
ARTIFACTS = os.environ.get("OPES_WEB_ARTIFACTS", os.path.join(HERE, "artifacts"))
SENDER = "mallory@remote.example"

HELD = (
    "From: Mallory <mallory@remote.example>\n"
    "To: alice@example.org\n"
    "Subject: HOLD-ME <script>alert(1)</script>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"m1\"\n"
    "\n"
    "--m1\n"
    "Content-Type: multipart/alternative; boundary=\"a1\"\n"
    "\n"
    "--a1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "PLAIN-PART-MARKER <script>alert('plain')</script> <b>not bold</b>\n"
    "--a1\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<html><body><script>alert('html')</script><p>HTML-PART-MARKER</p>"
    "<img src=\"http://tracker.example/x.png\"></body></html>\n"
    "--a1--\n"
    "--m1\n"
    "Content-Type: text/plain; name=\"notes.txt\"\n"
    "Content-Disposition: attachment; filename=\"notes.txt\"\n"
    "\n"
    "attached notes\n"
    "--m1--\n"
)


def simple(rcpt, subject):
    return ("From: mallory@remote.example\nTo: %s\nSubject: %s\n\nbody of %s\n"
            % (rcpt, subject, subject))


def missing_browser():
    if not os.path.exists(CHROMIUM):
        return "%s is missing (apt-get install chromium)" % CHROMIUM
    if NODE is None:
        return "node is missing (apt-get install nodejs npm)"
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return "tests/web/node_modules is missing (npm ci in tests/web)"
    return None


class OpesWeb(t.Proc):
    """opes-web on an opesd configuration (its [web] listen is a free port)."""

    def __init__(self, tmp, config, port):
        self.port = port
        super().__init__([OPES_WEB, "-c", config], os.path.join(tmp, "opes-web.log"))
        try:
            t.wait_port(port, proc=self.p)
        except Exception:
            self.stop()
            raise


class WebTest(t.TempDirTest):
    """Stops opes-web first and fails on its sanitizer reports or a bad exit."""

    web = None

    def tearDown(self):
        problems = []
        if self.web is not None:
            rc = self.web.stop()
            log = self.web.read_log()
            if any(mark in log for mark in t.SANITIZER_MARKS):
                problems.append("opes-web's log has a sanitizer report:\n" + log[-8000:])
            if rc != 0:
                problems.append("opes-web exited with %s after SIGTERM:\n%s" % (rc, log[-4000:]))
        super().tearDown()
        if problems:
            self.fail("\n".join(problems))

    def send_held(self, sender, rcpt, message):
        """message from sender to rcpt over LMTP into opesd, which must hold it."""
        c = self.client(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(t.crlf(message)))
        code, text = c.reply()
        c.cmd("QUIT")
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)


class PortalBrowserTest(WebTest):
    def setUp(self):
        why = missing_browser()
        if why is not None:
            sys.stderr.write("\n*** SKIPPING the portal browser test: %s ***\n"
                             "*** packaging/install-deps.sh test installs what it needs ***\n"
                             % why)
            self.skipTest(why)
        super().setUp()
        self.web = None
        self.dovecot = self.start(t.Dovecot(self.tmp))
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "store.job_interval": "1s",
            "notify.batch_window": "0",
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /HOLD-ME/ quarantine",
            "web.listen": "127.0.0.1:%d" % port,
            "web.base_url": self.base,
            "web.operator": "Example Mail Operations",
            "web.contact": "postmaster@example.org",
        }))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def send(self, message, rcpt):
        self.send_held(SENDER, rcpt, message)

    def released(self, user):
        """What reached the mailbox besides opesd's own mail (notices, login links)."""
        return [m for m in self.dovecot.messages(user)
                if b"\nAuto-Submitted: auto-replied" not in b"\n" + m.split(b"\n\n", 1)[0]]

    def notice_link(self, user, item, timeout=30):
        """The portal link of the block notification for item in user's mailbox."""
        import email
        import email.policy
        deadline = time.time() + timeout
        while time.time() < deadline:
            for data in self.dovecot.messages(user):
                msg = email.message_from_bytes(data, policy=email.policy.default)
                if msg["Auto-Submitted"] != "auto-replied" or "login link" in msg["Subject"]:
                    continue
                text = msg.get_body(preferencelist=("plain",)).get_content()
                if item in text:
                    m = re.search(re.escape(self.base) + r"/login/[A-Za-z0-9._-]+", text)
                    self.assertIsNotNone(m, text)
                    return m.group(0)
            time.sleep(0.2)
        self.fail("no notification for %s in %s's mailbox" % (item, user))

    def held(self, rcpt):
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", rcpt, "--json")
        return json.loads(out)

    def test_recipient_releases_with_whitelist_in_browser(self):
        self.send(HELD, "alice@example.org")
        self.send(simple("bob@example.org", "HOLD-ME for bob"), "bob@example.org")
        [item] = self.held("alice@example.org")
        self.send(simple("alice@example.org", "HOLD-ME second"), "alice@example.org")
        second = [i for i in self.held("alice@example.org") if i["id"] != item["id"]][0]
        [other] = self.held("bob@example.org")
        self.assertEqual(self.released("alice"), [])

        self.opesd.ctl("user", "add", "root@example.org", "--admin")
        self.opesd.ctl("user", "passwd", "root@example.org", stdin=b"a long admin password\n")
        # the recipient comes in through the link to the item in her block notification
        login = self.notice_link("alice", item["id"])
        self.assertTrue(login.startswith(self.base + "/login/"), login)
        action = self.opesd.ctl("link", "alice@example.org", "--item", second["id"],
                                "--action", "delete")[1].strip()
        env = dict(os.environ, BASE=self.base, LOGIN_LINK=login, ACTION_LINK=action,
                   ITEM=item["id"], OTHER_ITEM=other["id"], SENDER=SENDER, ARTIFACTS=ARTIFACTS,
                   ADMIN="root@example.org", ADMIN_PASSWORD="a long admin password")
        p = subprocess.run([NODE, os.path.join(HERE, "portal.mjs")], cwd=HERE, env=env,
                           capture_output=True, timeout=300)
        out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "browser checks failed:\n%s\nopes-web log:\n%s"
                         % (out, self.web.read_log()[-3000:]))
        self.assertIn("all browser checks passed", out)

        # the release went through opesd into the mailbox store, once
        deadline = time.time() + 20
        while not self.released("alice") and time.time() < deadline:
            time.sleep(0.2)
        [delivered] = self.released("alice")
        # the login form's request for alice was answered by mail
        deadline = time.time() + 20
        while (b"Subject: Your login link" not in b"".join(self.dovecot.messages("alice"))
               and time.time() < deadline):
            time.sleep(0.2)
        self.assertIn(b"Subject: Your login link", b"".join(self.dovecot.messages("alice")))
        self.assertIn(b"PLAIN-PART-MARKER", delivered)
        self.assertIn(b"action=released", delivered)
        entries = json.loads(self.opesd.ctl("list", "show", "alice@example.org", "--json")[1])
        self.assertIn(("white", SENDER, "portal"),
                      [(e["kind"], e["sender"], e["origin"]) for e in entries])
        states = {i["id"]: i["status"] for i in self.held("alice@example.org")}
        self.assertEqual(states, {item["id"]: "released", second["id"]: "deleted"})
        self.assertEqual(self.held("bob@example.org")[0]["status"], "held")
        self.assertEqual(self.released("bob"), [])
        actions = [a["action"] for a in json.loads(self.opesd.ctl("audit", "--json")[1])]
        self.assertIn("login", actions)
        self.assertIn("release-request", actions)
        self.assertIn("delete", actions)

        # the figures on /metrics, read from a listed address
        with urllib.request.urlopen(self.base + "/metrics", timeout=30) as r:
            metrics = r.read().decode()
        self.assertIn('opes_quarantine_entries{status="released"} 1', metrics)
        self.assertIn('opes_quarantine_entries{status="deleted"} 1', metrics)
        self.assertIn('opes_recipients_24h{outcome="quarantined"} 3', metrics)
        self.assertIn('opes_service_verdicts_24h{service="rules",verdict="quarantine"} 3', metrics)
        self.assertIn('opes_reply_ms_24h{le="+Inf"} 3', metrics)


def held_message(name, addr, subject, body, extra=""):
    """A message the rule holds (X-Test-Hold), From a display name."""
    return ("From: %s <%s>\nTo: Alice <alice@example.org>\nSubject: %s\nX-Test-Hold: yes\n%s"
            "\n%s\n" % (name, addr, subject, extra, body))


# what the recipient acts on: (display name as written, address, subject)
RULE_HELD = [
    ("=?utf-8?q?J=C3=BCrgen_M=C3=BCller?=", "juergen@lieferant.example", "Rechnung 2026-118"),
    ("Anna Schmidt", "anna@schmidt.example", "Fotos vom Wochenende"),
    ("Parcel Service", "noreply@parcel.example", "Your parcel is waiting"),
    ("Bank Security", "security@bank-secure.example", "Verify your account"),
    ("Conference Team", "team@conf.example", "Your ticket for Friday"),
    ("\"Lee, Sam\"", "sam@lee.example", "Minutes of the meeting"),
    ("Prize Desk", "win@prize.example", "You have won"),
    ("Newsletter", "news@shop.example", "Winter sale starts today"),
    ("IT Helpdesk", "helpdesk@it-support.example", "Password expires"),
    ("Delivery", "track@courier.example", "Missed delivery attempt"),
]
HTML_ITEM = (
    "From: Shop Team <shop@store.example>\nTo: alice@example.org\nSubject: Your order\n"
    "X-Test-Hold: yes\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
    "<html><body><p>Weiter &raquo; to your order &#8364;42.</p><p><a href=\"https://phish"
    ".example/login\">Sign in</a> to see it.</p><img src=\"http://tracker.example/p.png\">"
    "</body></html>\n")


class PortalRecipientTest(WebTest):
    """20 held messages (rules, spamd, clamd, block list) as a recipient sees them."""

    def setUp(self):
        why = missing_browser()
        if why is None and not os.path.isdir(os.path.join(HERE, "node_modules", "@axe-core",
                                                          "playwright")):
            why = "tests/web/node_modules has no @axe-core/playwright (npm ci in tests/web)"
        if why is not None:
            sys.stderr.write("\n*** SKIPPING the recipient's browser test: %s ***\n" % why)
            self.skipTest(why)
        from scanners import Clamd, Spamd
        super().setUp()
        self.web = None
        self.dovecot = self.start(t.Dovecot(self.tmp))
        self.clamd = self.start(Clamd(self.tmp))
        self.spamd = self.start(Spamd(self.tmp))
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "store.job_interval": "1s",
            "notify.default_mode": "off",
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header X-Test-Hold /yes/ quarantine",
            "service.clamd.type": "clamd",
            "service.clamd.order": "20",
            "service.clamd.socket": self.clamd.unix,
            "service.clamd.timeout": "10s",
            "service.spamd.type": "spamd",
            "service.spamd.order": "30",
            "service.spamd.address": self.spamd.tcp,
            "service.spamd.timeout": "60s",
            "web.listen": "127.0.0.1:%d" % port,
            "web.base_url": self.base,
            "web.operator": "Example Mail Operations",
            "web.contact": "postmaster@example.org",
        }))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def send(self, sender, message):
        self.send_held(sender, "alice@example.org", message)

    def held(self):
        """alice's entries by subject (the scanners' test messages share theirs: a list each)."""
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", "alice@example.org",
                                   "--json")
        by = {}
        for i in json.loads(out):
            by.setdefault(i["subject"], []).append(i)
        return {s: v[0] if len(v) == 1 else v for s, v in by.items()}

    def test_recipient_acts_on_many_at_once(self):
        from test_services import eicar_message, gtube_message
        self.opesd.ctl("list", "add", "block", "alice@example.org", "@offers.example")
        for name, addr, subject in RULE_HELD:
            self.send(addr, held_message(name, addr, subject, "Hello,\n\nsee %s.\n" % subject))
        self.send("shop@store.example", HTML_ITEM)
        for i in range(3):
            self.send("spam%d@bulk.example" % i, gtube_message())
            self.send("billing%d@invoices.example" % i, eicar_message())
            self.send("deal%d@offers.example" % i,
                      "From: Offers <deal%d@offers.example>\nTo: alice@example.org\n"
                      "Subject: Only today: %d0%% off\n\nBuy now.\n" % (i, i + 5))
        held = self.held()
        every = [i for v in held.values() for i in (v if isinstance(v, list) else [v])]
        self.assertEqual(len(every), 20, sorted(held))
        # spread over three days, as a mailbox fills
        import sqlite3
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        for k, item in enumerate(sorted(every, key=lambda i: i["id"])):
            db.execute("UPDATE quarantine SET created = created - ? WHERE public_id = ?",
                       ((k % 3) * 86400 + k * 600, item["id"]))
        db.commit()
        db.close()
        subj = [s for _, _, s in RULE_HELD]
        pick = lambda names: ",".join(held[s]["id"] for s in names)
        login = self.opesd.ctl("link", "alice@example.org")[1].strip()
        env = dict(os.environ, BASE=self.base, LOGIN_LINK=login, ARTIFACTS=ARTIFACTS,
                   CATALOGS=os.path.join(HERE, "..", "..", "store", "base", "i18n"),
                   ITEM=held["Your order"]["id"], TRACE=held["Your order"]["trace"],
                   DELETE_ID=held[subj[9]]["id"], RELEASE_IDS=pick(subj[0:3]),
                   ALLOW_IDS=pick(subj[3:6]), BLOCK_IDS=pick(subj[6:9]))
        p = subprocess.run([NODE, os.path.join(HERE, "recipient.mjs")], cwd=HERE, env=env,
                           capture_output=True, timeout=600)
        out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        with open(os.path.join(ARTIFACTS, "recipient.log"), "w", encoding="utf-8") as f:
            f.write(out)
        self.assertEqual(p.returncode, 0, "browser checks failed:\n%s\nopes-web log:\n%s"
                         % (out, self.web.read_log()[-3000:]))
        self.assertIn("all browser checks passed", out)

        # the mailbox has exactly the six released, each once
        deadline = time.time() + 20
        while len(self.dovecot.messages("alice")) < 6 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        delivered = [m.split(b"\n\n", 1)[0] for m in self.dovecot.messages("alice")]
        got = sorted(next(line[9:].decode() for line in h.split(b"\n")
                          if line.startswith(b"Subject: ")) for h in delivered)
        self.assertEqual(got, sorted(subj[0:6]))
        entries = json.loads(self.opesd.ctl("list", "show", "alice@example.org", "--json")[1])
        kinds = sorted((e["kind"], e["sender"]) for e in entries)
        self.assertEqual(kinds, sorted(
            [("white", a) for _, a, _ in RULE_HELD[3:6]] +
            [("block", a) for _, a, _ in RULE_HELD[6:9]] + [("block", "@offers.example")]))
        states = {s: i["status"] for s, i in self.held().items() if not isinstance(i, list)}
        self.assertEqual(sorted(s for s, v in states.items() if v == "released"),
                         sorted(subj[0:6]))
        self.assertEqual(sorted(s for s, v in states.items() if v == "deleted"),
                         sorted(subj[6:9]))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def http(base, path, data=None, headers=None):
    """(status, headers, body text) of one request, errors and redirects included."""
    req = urllib.request.Request(base + path, data=data, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


class MailedLinksTest(WebTest):
    """The links opesd mails (a block notification, a login link) work in the portal."""

    def setUp(self):
        super().setUp()
        self.web = None
        self.dovecot = self.start(t.Dovecot(self.tmp))
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "store.job_interval": "1s",
            "notify.batch_window": "0",
            "service.rules.type": "rules",
            "service.rules.rule": "header Subject /HOLD-ME/ quarantine",
            "web.listen": "127.0.0.1:%d" % port,
            "web.base_url": self.base,
        }))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def wait_mail(self, user, count, timeout=30):
        deadline = time.time() + timeout
        while len(self.dovecot.messages(user)) < count and time.time() < deadline:
            time.sleep(0.2)
        msgs = self.dovecot.messages(user)
        self.assertEqual(len(msgs), count, "mail for %s" % user)
        return msgs

    def links(self, data, kind):
        import email
        import email.policy
        msg = email.message_from_bytes(data, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content()
        return re.findall(re.escape(self.base) + "(/" + kind + r"/[A-Za-z0-9._-]+)", text)

    def test_notification_release_link(self):
        notice, actions = self.hold(SENDER, simple("alice@example.org", "HOLD-ME please"))
        self.assertIn(b"Auto-Submitted: auto-replied", notice)
        self.assertEqual(len(actions), 4, actions)  # release, release and allow, block, delete
        release = actions[0]
        # a link scanner's GET changes nothing
        status, _, body = http(self.base, release)
        self.assertEqual(status, 200)
        self.assertIn('method="post"', body)
        time.sleep(2)
        self.assertEqual(len(self.dovecot.messages("alice")), 1)
        # the recipient's POST releases, once
        status, _, _ = http(self.base, release, data=b"")
        self.assertIn(status, (200, 303))
        [_, released] = self.wait_mail("alice", 2)
        self.assertIn(b"body of HOLD-ME please", released)
        self.assertIn(b"action=released", released)
        self.assertEqual(http(self.base, release, data=b"")[0], 410)

    def test_notification_block_link(self):
        notice, actions = self.hold(SENDER, simple("alice@example.org", "HOLD-ME junk offer"))
        self.assertIn(b"Block sender", notice)
        block = actions[2]
        # a link scanner's GET changes nothing: it asks, in words
        status, _, body = http(self.base, block)
        self.assertEqual(status, 200)
        self.assertIn("put the sender on your block list and delete this message", body)
        self.assertIn('method="post"', body)
        _, out, _ = self.opesd.ctl("list", "show", "alice@example.org", "--json")
        self.assertEqual(json.loads(out), [])
        # the recipient's POST blocks the sender and deletes the message, once
        status, _, body = http(self.base, block, data=b"")
        self.assertEqual(status, 200, body)
        self.assertIn("on your block list now", body)
        _, out, _ = self.opesd.ctl("list", "show", "alice@example.org", "--json")
        self.assertEqual([(e["kind"], e["sender"]) for e in json.loads(out)],
                         [("block", SENDER)])
        [item] = self.held_items()
        self.assertEqual(item["status"], "deleted")
        self.assertEqual(http(self.base, block, data=b"")[0], 410)
        # the next message from that sender is held by the block list
        self.hold(SENDER, simple("alice@example.org", "just hello"), notice=False)
        self.assertIn("blocklist", [i["service"] for i in self.held_items()])

    def hold(self, sender, message, notice=True):
        """Send message from sender to alice (held by the rule); the notice's action links."""
        self.send_held(sender, "alice@example.org", message)
        if not notice:
            return None, None
        [notice] = self.wait_mail("alice", 1)
        return notice, self.links(notice, "action")

    def held_items(self):
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", "alice@example.org",
                                   "--json")
        return json.loads(out)

    def item_page(self, item_id):
        """The item's page in a session alice opened with a login link."""
        link = self.opesd.ctl("link", "alice@example.org")[1].strip()
        _, headers, _ = http(self.base, link[len(self.base):], data=b"")
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, body = http(self.base, "/quarantine/" + item_id, headers={"Cookie": cookie})
        self.assertEqual(status, 200)
        return body

    def test_null_sender_cannot_be_whitelisted(self):
        self.hold("", simple("alice@example.org", "HOLD-ME bounce"), notice=False)
        [item] = self.held_items()
        release, whitelist = (
            self.opesd.ctl("link", "alice@example.org", "--item", item["id"], "--action",
                           action)[1].strip()[len(self.base):]
            for action in ("release", "release-whitelist"))
        # the item's page offers no whitelist form for it
        body = self.item_page(item["id"])
        self.assertIn("nobody to allow", body)
        self.assertNotIn('value="release-whitelist"', body)
        # nor does a link
        status, _, body = http(self.base, whitelist, data=b"")
        self.assertEqual(status, 409, body)
        self.assertIn("nobody to allow", body)
        _, out, _ = self.opesd.ctl("list", "show", "alice@example.org", "--json")
        self.assertEqual(json.loads(out), [])
        # the plain release still works
        self.assertIn(http(self.base, release, data=b"")[0], (200, 303))
        self.wait_mail("alice", 1)

    def test_deleted_entry_forgets_its_header_section(self):
        _, actions = self.hold(SENDER, simple("alice@example.org", "HOLD-ME and delete me"))
        import sqlite3

        def headers():
            db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
            try:
                return db.execute("SELECT headers FROM notification").fetchall()
            finally:
                db.close()
        [(kept,)] = headers()
        self.assertIn(b"HOLD-ME and delete me", kept)
        self.assertIn(http(self.base, actions[3], data=b"")[0], (200, 303))  # delete
        self.assertEqual(headers(), [(None,)])

    def test_values_cannot_write_lines_into_a_notice(self):
        subject = ("=?utf-8?q?Invoice=0D=0A=0D=0AURGENT:_release_here:_http://evil.example/?="
                   " HOLD-ME")
        notice, _ = self.hold(SENDER, simple("alice@example.org", subject))
        import email
        import email.policy
        msg = email.message_from_bytes(notice, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content()
        self.assertIn("Invoice", text)
        for line in text.splitlines():
            self.assertFalse(line.startswith("URGENT"), text)
        self.assertNotIn("\r", text.replace("\r\n", "\n"))
        self.assertNotIn("\n", msg["Subject"])

    def test_split_and_encoded_attachment_names_shown_whole(self):
        message = (
            "From: mallory@remote.example\nTo: alice@example.org\nSubject: HOLD-ME files\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
            "--b\nContent-Type: text/plain\n\nsee attached\n"
            "--b\nContent-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename*0=\"invoice.pdf\"; filename*1=\".exe\"\n"
            "\nMZ\n"
            "--b\nContent-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename=\"=?utf-8?q?r=C3=A9sum=C3=A9.exe?=\"\n"
            "\nMZ\n--b--\n")
        self.hold(SENDER, message)
        [item] = self.held_items()
        body = self.item_page(item["id"])
        self.assertIn("invoice.pdf.exe", body)
        self.assertIn("r\u00e9sum\u00e9.exe", body)

    def test_login_link_by_mail(self):
        self.opesd.ctl("user", "add", "alice@example.org")
        status, _, body = http(self.base, "/login", data=b"address=alice%40example.org")
        self.assertEqual(status, 200)
        [mail] = self.wait_mail("alice", 1)
        [login] = self.links(mail, "login")
        self.assertEqual(http(self.base, login)[0], 200)
        status, headers, _ = http(self.base, login, data=b"")
        self.assertEqual(status, 303)
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        status, _, body = http(self.base, "/quarantine", headers={"Cookie": cookie})
        self.assertEqual(status, 200)
        self.assertIn("alice@example.org", body)


class PortalHttpTest(WebTest):
    """HTTP-level checks against a running opes-web (no browser, no mailbox store)."""

    def setUp(self):
        super().setUp()
        self.web = None
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/mail/%%u" % self.tmp, extra={
            "web.listen": "127.0.0.1:%d" % port, "web.base_url": self.base,
            "web.max_post": "4K", "web.login_rate": "3",
            "web.metrics_allow": "192.0.2.1", "store.retention_days": "17"}))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def request(self, path, data=None, headers=None):
        """(status, headers, body text) of one request, errors and redirects included."""
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode("utf-8", "replace")

    def test_errors_are_html_pages_with_security_headers(self):
        for path, code in (("/no-such-page", 404), ("/quarantine/x", 303), ("/metrics", 403),
                           ("/static/../opes", 404)):
            status, headers, body = self.request(path)
            self.assertEqual(status, code, path)
            self.assertEqual(headers["X-Frame-Options"], "DENY")
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
            self.assertEqual(headers["Referrer-Policy"], "no-referrer")
            self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
            if code != 303:
                self.assertIn("<!DOCTYPE html>", body)
        status, headers, _ = self.request("/quarantine")
        self.assertEqual((status, headers["Location"]), (303, "/login"))
        self.assertEqual(headers["Cache-Control"], "no-store")

    def test_privacy_page_says_what_the_trace_reveals_and_how_long_data_is_kept(self):
        """RFC 4902 3.1 and PROTOCOL.md 19: the privacy policy covers the trace and retention."""
        status, _, body = self.request("/privacy")
        self.assertEqual(status, 200)
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body))
        # Received: the client's HELO, name and address, and the single recipient
        self.assertIn("Received: the name the sending mail server gave for itself (HELO), its "
                      "host name and network address", text)
        self.assertIn("that recipient&#39;s address (for &lt;address&gt;)", text)
        # OPES-Via: the recipient's bypass and consent choices
        self.assertIn("It therefore shows your choices", text)
        self.assertIn("appears as bypassed", text)
        self.assertIn("a check you turned off (or did not turn on) is missing", text)
        # retention, from the configuration, for held mail and for trace records
        self.assertIn("Held messages are kept for 17 days", text)
        self.assertIn("Trace records are removed 17 days after they were written", text)
        self.assertIn("except the original recipient address (ORCPT) of a held message, which "
                      "stays with its entry", text)
        self.assertIn("http://opes.example.org/opes", text)

    def test_oversized_body_gets_413(self):
        status, _, body = self.request("/login", data=b"address=" + b"a" * 8000)
        self.assertEqual(status, 413)
        self.assertIn("too large", body)
        status, _, _ = self.request("/login", data=b"address=a%40b.example")
        self.assertEqual(status, 200)

    def test_forged_expired_and_reused_tokens_are_refused(self):
        link = self.opesd.ctl("link", "alice@example.org")[1].strip()
        path = link[len(self.base):]
        forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
        self.assertEqual(self.request(forged)[0], 400)
        self.assertEqual(self.request(forged, data=b"")[0], 400)
        other = path.replace("YWxpY2VAZXhhbXBsZS5vcmc", "Ym9iQGV4YW1wbGUub3Jn")  # bob's address
        self.assertEqual(self.request(other, data=b"")[0], 400)
        status, headers, _ = self.request(path, data=b"")
        self.assertEqual((status, headers["Location"]), (303, "/quarantine"))
        self.assertIn("HttpOnly; SameSite=Strict", headers["Set-Cookie"])
        status, _, body = self.request(path, data=b"")
        self.assertEqual(status, 410)
        self.assertIn("already used", body)
        short = self.opesd.ctl("link", "alice@example.org", "--seconds", "1")[1].strip()
        time.sleep(2.1)
        status, _, body = self.request(short[len(self.base):])
        self.assertEqual(status, 410)
        self.assertIn("expired", body)

    def test_token_purpose_is_checked_before_it_is_spent(self):
        item = "A" * 20
        action = self.opesd.ctl("link", "alice@example.org", "--item", item,
                                "--action", "release")[1].strip()[len(self.base):]
        login = self.opesd.ctl("link", "alice@example.org")[1].strip()[len(self.base):]
        # an action link posted to the login page logs nobody in and stays unspent
        status, headers, body = self.request(action.replace("/action/", "/login/"), data=b"")
        self.assertEqual(status, 400, body)
        self.assertNotIn("Set-Cookie", headers)
        self.assertEqual(self.request(action.replace("/action/", "/login/"))[0], 400)
        status, _, body = self.request(action, data=b"")
        self.assertNotIn("already used", body)
        # a login link posted to the action page does nothing and still logs in after
        self.assertEqual(self.request(login.replace("/login/", "/action/"), data=b"")[0], 400)
        self.assertEqual(self.request(login, data=b"")[0], 303)

    def test_origin_null_is_refused_on_token_posts(self):
        login = self.opesd.ctl("link", "alice@example.org")[1].strip()[len(self.base):]
        status, headers, _ = self.request(login)
        self.assertEqual(status, 200)
        # its confirmation form's POST then names our origin
        self.assertEqual(headers["Referrer-Policy"], "strict-origin")
        status, headers, _ = self.request(login, data=b"", headers={"Origin": "null"})
        self.assertEqual(status, 403)
        self.assertNotIn("Set-Cookie", headers)
        status, _, _ = self.request(login, data=b"", headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        status, _, _ = self.request(login, data=b"", headers={"Origin": self.base})
        self.assertEqual(status, 303)

    def test_login_rate_limit_is_silent_and_recorded(self):
        first = self.request("/login", data=b"address=carol%40example.org")
        for _ in range(5):
            again = self.request("/login", data=b"address=carol%40example.org")
            self.assertEqual(again[0], 200)
            self.assertEqual(again[2], first[2])
        import sqlite3
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        n = db.execute("SELECT COUNT(*) FROM login_request WHERE address = 'carol@example.org'"
                       ).fetchone()[0]
        db.close()
        self.assertEqual(n, 3)  # [web] login_rate = 3 per hour

    def test_admin_login_with_password_only(self):
        self.opesd.ctl("user", "add", "root@example.org", "--admin")
        self.opesd.ctl("user", "passwd", "root@example.org", stdin=b"a long admin password\n")
        status, _, body = self.request("/admin/login",
                                       data=b"address=root%40example.org&password=wrong+one")
        self.assertEqual(status, 403)
        self.assertIn("Wrong address or password", body)
        status, headers, _ = self.request(
            "/admin/login", data=b"address=root%40example.org&password=a+long+admin+password")
        self.assertEqual((status, headers["Location"]), (303, "/admin"))
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, body = self.request("/admin", headers={"Cookie": cookie})
        self.assertEqual(status, 200)
        self.assertIn("Audit log", body)
        self.assertIn("login-admin", body)
        # a link-opened session of the same address is not an admin session
        link = self.opesd.ctl("link", "root@example.org")[1].strip()
        _, headers, _ = self.request(link[len(self.base):], data=b"")
        status, _, _ = self.request("/admin", headers={"Cookie": headers["Set-Cookie"].split(";")[0]})
        self.assertEqual(status, 403)


if __name__ == "__main__":
    unittest.main()
