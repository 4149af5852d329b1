"""Learning from decisions against a real spamd and a real rspamd.

"Not spam" on a one-click action link, or on the item's page in a portal
session, releases the held message into Dovecot and teaches it as ham to the scanner that held it: spamd through
TELL (its reply says DidSet), rspamd through its controller (its /stat counts
the learn in Redis). A message forwarded to [learn] report_address by a local
recipient is learned as spam and delivered nowhere. A scanner that is away
while learning does not hold up the release.

One spamd (with --allow-tell), one Redis and one rspamd serve the module;
each test starts its own Dovecot, opesd and opes-web.
"""
import email
import email.policy
import email.utils
import json
import os
import re
import shutil
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import opestest as t
import test_rspamd
from scanners import GTUBE_MESSAGE, Redis, Rspamd, Spamd
from test_notify import wait_for

OPES_WEB = os.environ.get("OPES_WEB", os.path.join(os.path.dirname(t.OPESD), "opes-web"))
HELD_RE = re.compile(r"held in quarantine as ([a-z0-9]{20})")
PASSWORD = "learn-secret-4711"


def gtube(subject):
    with open(GTUBE_MESSAGE, encoding="utf-8", errors="replace") as f:
        text = f.read()
    head, _, body = text.partition("\n\n")
    head = re.sub(r"(?m)^Subject:.*$", "Subject: %s" % subject, head)
    head = re.sub(r"(?m)^Message-Id:.*$", "Message-Id: <%s@learn.test>" % subject.replace(" ", "-"),
                  head, flags=re.I)
    return head + "\n\n" + body


def report(reported, sender="alice@example.org"):
    """A report of missed spam: the reported message attached as message/rfc822."""
    return ("From: %s\nTo: spam@example.org\nSubject: Fwd: missed spam\nDate: %s\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"
            "--b1\nContent-Type: text/plain\n\nThis one got through.\n"
            "--b1\nContent-Type: message/rfc822\n\n%s\n--b1--\n"
            % (sender, email.utils.formatdate(), reported))


def missed_spam(n):
    return ("From: Winner Desk <desk@lottery.example>\nTo: alice@example.org\n"
            "Subject: You have won %d million\nDate: %s\nMessage-ID: <won-%d@lottery.example>\n\n"
            "Dear winner, claim your prize of %d million dollars now: send your bank account,\n"
            "your password and a processing fee to our agent today, offer ends tonight.\n"
            % (n, email.utils.formatdate(), n, n))


class LearnTest(t.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="opesd-learn-")
        os.chmod(cls.shared, 0o755)
        cls.spamd = Spamd(cls.shared, allow_tell=True)
        cls.redis = Redis(cls.shared)
        cls.rspamd = Rspamd(cls.shared, redis=cls.redis, password=PASSWORD)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.rspamd, cls.redis, cls.spamd):
            p.stop()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp, users=("alice", "bob", "spam")))
        self.password_file = os.path.join(self.tmp, "rspamd.password")
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)

    def start_opesd(self, scanner="spamd", spamd=None, extra=None):
        self.web_port = t.free_port()
        self.base = "http://127.0.0.1:%d" % self.web_port
        if scanner == "spamd":
            cfg = {"service.spamd.type": "spamd", "service.spamd.address": spamd or self.spamd.tcp,
                   "service.spamd.timeout": "30s"}
        else:
            cfg = {"service.rspamd.type": "rspamd", "service.rspamd.address": self.rspamd.tcp,
                   "service.rspamd.controller": "127.0.0.1:%d" % self.rspamd.controller_port,
                   "service.rspamd.controller_password_file": self.password_file,
                   "service.rspamd.timeout": "60s"}
        cfg.update({
            "learn.report_address": "spam@example.org",
            "notify.default_mode": "off",
            "store.job_interval": "1s",
            "web.listen": "127.0.0.1:%d" % self.web_port,
            "web.base_url": self.base,
        })
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
                                        extra=cfg))
        self.web = self.start(t.Proc([OPES_WEB, "-c", self.opesd.config],
                                     os.path.join(self.tmp, "opes-web.log")))
        t.wait_port(self.web_port, proc=self.web.p)

    send = test_rspamd.RspamdTest.send  # raw LMTP, one reply per recipient

    def hold(self, subject):
        [(code, text)] = self.send(gtube(subject))
        self.assertEqual(code, 250, text)
        m = HELD_RE.search(text)
        self.assertIsNotNone(m, text)
        return m.group(1)

    def not_spam(self, qid, recipient="alice@example.org", link=None):
        """Follow a one-click "not spam" link (by default a new one): the confirmation page,
        then its POST."""
        if link is None:
            link = self.opesd.ctl("link", recipient, "--item", qid, "--action",
                                  "not-spam")[1].strip()
        path = link[link.index("/action/"):]
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            self.assertIn("teach the spam filter", r.read().decode())
        req = urllib.request.Request(self.base + path, data=b"", method="POST",
                                     headers={"Origin": self.base})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)

    def not_spam_in_portal(self, qid, recipient="alice@example.org"):
        """Log in with a login link, then press "Not spam" on the item's page."""
        link = self.opesd.ctl("link", recipient)[1].strip()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        path = link[link.index("/login/"):]
        opener.open(urllib.request.Request(self.base + path, data=b"", method="POST",
                                           headers={"Origin": self.base}), timeout=30).read()
        with opener.open(self.base + "/quarantine/" + qid, timeout=30) as r:
            page = r.read().decode()
        self.assertIn('value="not-spam"', page)
        self.assertIn(">Not spam</button>", page)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf": csrf, "action": "not-spam"}).encode()
        with opener.open(urllib.request.Request(self.base + "/quarantine/" + qid, data=form,
                                                headers={"Origin": self.base}),
                         timeout=30) as r:
            self.assertIn("the spam filter learns that such mail is wanted", r.read().decode())

    def learn_records(self, trace_id):
        return [r for r in json.loads(self.opesd.ctl("trace", trace_id, "--json")[1])
                if r["event"] == "learn"]

    def trace_of(self, qid):
        return json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])["trace"]

    def audit_actions(self):
        return [a["action"] for a in json.loads(self.opesd.ctl("audit", "--json")[1])]

    def test_not_spam_from_spamd_delivers_and_spamd_learns_ham(self):
        # GTUBE says "Precedence: junk", which gets no notice by default
        self.start_opesd(extra={"notify.default_mode": "immediate", "notify.batch_window": "0",
                                "notify.skip_lists": "no"})
        qid = self.hold("spamd not spam")
        self.assertEqual(json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
                         ["service"], "spamd")
        # the notice offers "Not spam" for what spamd held; its link is the one followed
        [notice] = wait_for(lambda: self.dovecot.messages("alice"))
        msg = email.message_from_bytes(notice, policy=email.policy.default)
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        link = re.search(r"(?m)^  Not spam: (\S+)$", text)
        self.assertIsNotNone(link, text)
        self.assertIn(">Not spam</a>", html)
        self.not_spam(qid, link=link.group(1))
        self.assertTrue(wait_for(lambda: [m for m in self.dovecot.messages("alice")
                                          if b"spamd not spam" in m and
                                          b"Auto-Submitted:" not in m]), self.opesd.read_log())
        trace = self.trace_of(qid)
        records = wait_for(lambda: self.learn_records(trace))
        self.assertEqual(len(records), 1, self.opesd.read_log()[-3000:])
        self.assertEqual((records[0]["service"], records[0]["verdict"]), ("spamd", "ham"))
        self.assertIn("learned it (DidSet: local)", records[0]["detail"])
        self.assertIn("Tell: Setting local", self.spamd.read_log())
        self.assertIn("learn-ham", self.audit_actions())
        # the same link again changes nothing: released once, learned once
        self.assertEqual(len(self.learn_records(trace)), 1)

    def hold_added(self, service, subject, body):
        """An entry held by service (as if it had scored it), without a scan."""
        out = self.opesd.ctl("quarantine", "add", "--from", "carol@partner.example", "--to",
                             "alice@example.org", "--service", service, "--reason", "score 16.0",
                             stdin=("Subject: %s\r\nFrom: carol@partner.example\r\n"
                                    "Message-ID: <%s@partner.example>\r\n\r\n%s"
                                    % (subject, subject.replace(" ", "-"), body)).encode())[1]
        return re.search(r"[a-z0-9]{20}", out).group(0)

    def test_not_spam_from_rspamd_delivers_and_rspamd_counts_the_ham(self):
        self.start_opesd("rspamd")
        # rspamd never learns GTUBE: a false positive of ordinary text instead
        qid = self.hold_added("rspamd", "project review on Thursday",
                              "Hello Alice, see you at noon at the usual place near the river,\r\n"
                              "bring the documents for the project review and the notes from\r\n"
                              "last week's meeting with the architects. Carol\r\n")
        self.assertEqual(self.redis.command("SCARD BAYES_HAM_keys"), b":0")
        self.not_spam_in_portal(qid)
        self.assertTrue(wait_for(lambda: [m for m in self.dovecot.messages("alice")
                                          if b"project review on Thursday" in m]),
                        self.opesd.read_log())
        records = wait_for(lambda: self.learn_records(self.trace_of(qid)), timeout=90)
        self.assertEqual(len(records), 1, self.opesd.read_log()[-3000:])
        self.assertEqual((records[0]["service"], records[0]["verdict"]), ("rspamd", "ham"))
        self.assertIn("rspamd learned it as ham", records[0]["detail"])
        # rspamd's statistics in Redis now hold ham tokens
        self.assertNotEqual(self.redis.command("SCARD BAYES_HAM_keys"), b":0")

    def test_forwarded_report_is_learned_as_spam_and_delivered_nowhere(self):
        self.start_opesd()
        spam = missed_spam(7)
        [(code, text)] = self.send(report(spam), rcpts=("spam@example.org",),
                                   sender="alice@example.org")
        self.assertEqual(code, 250, text)
        self.assertIn("report learned as spam", text)
        # a second report of the same message: learned before, nothing new
        [(code, text)] = self.send(report(spam), rcpts=("spam@example.org",),
                                   sender="alice@example.org")
        self.assertEqual(code, 250, text)
        self.assertIn("learned before", text)
        # reports from outside count for nothing
        [(code, text)] = self.send(report(missed_spam(8)), rcpts=("spam@example.org",),
                                   sender="mallory@remote.example")
        self.assertEqual(code, 250, text)
        self.assertNotIn("learned", text)
        time.sleep(1)
        for user in ("alice", "bob", "spam"):
            self.assertEqual(self.dovecot.messages(user), [], user)
        log = self.opesd.read_log()
        self.assertIn("learned as spam: spamd: spamd learned it (DidSet: local) as spam", log)
        self.assertIn("report from <mallory@remote.example> ignored", log)
        self.assertIn("learn-spam", self.audit_actions())

    def test_scanner_down_while_learning_does_not_block_the_release(self):
        down = "127.0.0.1:%d" % t.free_port()  # nothing listens there
        self.start_opesd(spamd=down)
        qid = self.hold_added("spamd", "held while spamd was up", "hello\r\n")
        self.not_spam(qid)
        self.assertTrue(wait_for(lambda: [m for m in self.dovecot.messages("alice")
                                          if b"held while spamd was up" in m]),
                        self.opesd.read_log())
        self.assertTrue(wait_for(lambda: "action=learn-deferred" in self.opesd.read_log()))
        self.assertIn("will retry", self.opesd.read_log())
        self.assertEqual(json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
                         ["status"], "released")


if __name__ == "__main__":
    unittest.main()
