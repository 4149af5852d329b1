"""The junk action and per-recipient spam levels against a real spamd.

One spamd serves the module, with one site rule of the test's own that gives
a marked message a known score (about 12). The spamd service junks from 8
and quarantines from 20, with a level step of 10: alice (no choice) gets the
message in her Junk folder with the X-Spam fields, bob (strict: quarantine
from 10) gets it held, from the same transaction and the one scan. Checked
through Dovecot LMTP (plus-addressing into an autocreated Junk), through
Cyrus lmtpd (+Junk into a folder that anyone may post to), in the Maildir
target (.Junk/), and with a store that refuses the folder address (no
plus-addressing): then the copy lands in the inbox, tagged, and the log says
why.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import opestest as t
from scanners import Spamd
from test_cyrus import Cyrus

MARK = "opes-junk-test-marker"
LOCAL_CF = """body OPES_JUNK_TEST /%s/
score OPES_JUNK_TEST 12.0
describe OPES_JUNK_TEST a message of the junk tests
""" % MARK

SPAMD_CFG = {
    "service.spamd.type": "spamd",
    "service.spamd.tag_threshold": "5.0",
    "service.spamd.junk_threshold": "8.0",
    "service.spamd.quarantine_threshold": "20.0",
    "service.spamd.level_step": "10.0",
    "service.spamd.timeout": "60s",
    "notify.default_mode": "off",
}

MESSAGE = """From: Mallory <mallory@remote.example>
To: Alice <alice@example.org>, Bob <bob@example.org>
Subject: a fine offer
Date: Tue, 02 Jan 2024 10:00:00 +0000
Message-ID: <offer-1@remote.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello,

this message carries the %s, nothing else.

Mallory
""" % MARK

DOVECOT_JUNK = """recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
lda_mailbox_autocreate = yes
namespace inbox {
  inbox = yes
  separator = .
  mailbox Junk {
    special_use = \\Junk
  }
}
"""


class JunkDovecot(t.Dovecot):
    """The harness's Dovecot with lines of the test's own added to its configuration."""

    def __init__(self, tmp, extra, users=("alice", "bob")):
        self.extra = extra
        super().__init__(tmp, users=users)

    def start(self):
        if self.extra is not None:
            with open(self.config, "a") as f:
                f.write(self.extra)
            self.extra = None
        super().start()

    def folder(self, user, folder):
        """Messages in one of user's Maildir++ folders."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, user, "." + folder, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out


class JunkTest(t.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="opesd-junk-")
        os.chmod(cls.shared, 0o755)
        cls.spamd = Spamd(cls.shared, local_cf=LOCAL_CF)

    @classmethod
    def tearDownClass(cls):
        cls.spamd.stop()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def start_opesd(self, target, extra=None):
        cfg = dict(SPAMD_CFG)
        cfg["service.spamd.address"] = self.spamd.tcp
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, target, extra=cfg))
        self.opesd.ctl("user", "spam", "bob@example.org", "strict")
        return self.opesd

    def send(self, rcpts=("alice@example.org", "bob@example.org")):
        c = self.client(self.opesd.port, timeout=90)
        c.hello()
        return c.transaction("mallory@remote.example", rcpts, MESSAGE)

    def held_for(self, rcpt):
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", rcpt, "--json")
        return json.loads(out)

    def wait_log(self, needle, timeout=10):
        deadline = time.time() + timeout
        while needle not in self.opesd.read_log() and time.time() < deadline:
            time.sleep(0.1)
        return self.opesd.read_log()

    def assert_junked_and_held(self, replies, junk_copies, inbox_copies):
        """alice: 250 from the store, one tagged copy in Junk, none in the inbox nor held;
        bob: held from the same transaction."""
        (a_code, a_text), (b_code, b_text) = replies
        self.assertEqual(a_code, 250, a_text)
        self.assertNotIn("held in quarantine", a_text)
        self.assertEqual(b_code, 250, b_text)
        self.assertIn("held in quarantine as", b_text)
        copies = junk_copies()
        self.assertEqual(len(copies), 1, "alice's Junk folder")
        self.assertIn(b"X-Spam-Flag: YES", copies[0])
        self.assertIn(MARK.encode(), copies[0])
        self.assertRegex(copies[0], rb"OPES-Via:[^\n]*\n\s+http://opes\.example\.org/opes/service/spamd; action=junk")
        self.assertEqual(inbox_copies(), [], "alice's inbox")
        tid = re.search(rb"OPES-System: [^;]+; trace=(\w+)", copies[0]).group(1).decode()
        decisions = {r["recipient"]: r["verdict"] for r in self.opesd.trace(tid)
                     if r["event"] == "decision"}
        self.assertEqual(decisions, {"alice@example.org": "junk",
                                     "bob@example.org": "quarantined"})
        self.assertEqual(self.held_for("alice@example.org"), [])
        self.assertEqual(len(self.held_for("bob@example.org")), 1)
        log = self.wait_log("rcpt=<bob@example.org>")
        self.assertRegex(log, r"rcpt=<alice@example\.org> action=junk ")
        self.assertRegex(log, r"rcpt=<bob@example\.org> action=quarantined ")
        self.assertEqual(log.count("service=spamd verdict="), 1, "one scan for both")

    def test_dovecot_junk_folder_and_strict_quarantine(self):
        dovecot = JunkDovecot(self.tmp, DOVECOT_JUNK)
        self.procs.insert(0, dovecot)
        self.start_opesd("lmtp:127.0.0.1:%d" % dovecot.port)
        replies = self.send()
        self.assert_junked_and_held(replies, lambda: dovecot.folder("alice", "Junk"),
                                    lambda: dovecot.messages("alice"))
        self.assertEqual(dovecot.messages("bob") + dovecot.folder("bob", "Junk"), [])

    def test_dovecot_without_plus_addressing_falls_back_to_the_inbox(self):
        # no recipient delimiter: alice+Junk is nobody, 550 5.1.1 at RCPT
        dovecot = JunkDovecot(self.tmp, 'recipient_delimiter =\n')
        self.procs.insert(0, dovecot)
        self.start_opesd("lmtp:127.0.0.1:%d" % dovecot.port)
        self.opesd.ctl("user", "spam", "bob@example.org", "default")
        replies = self.send()
        for code, text in replies:
            self.assertEqual(code, 250, text)
        for user in ("alice", "bob"):
            inbox = dovecot.messages(user)
            self.assertEqual(len(inbox), 1, user)
            self.assertIn(b"X-Spam-Flag: YES", inbox[0])
        log = self.wait_log("rcpt=<bob@example.org>")
        self.assertRegex(log, r"rcpt=<alice@example\.org> junk folder refused \(550 ")
        self.assertRegex(log, r"rcpt=<alice@example\.org> action=delivered ")
        self.assertEqual(self.held_for("alice@example.org"), [])

    def test_maildir_junk_folder(self):
        mail = os.path.join(self.tmp, "mail")
        for user in ("alice", "bob"):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(mail, user, sub))

        def files(*parts):
            d = os.path.join(mail, *parts)
            out = []
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
            return out

        self.start_opesd("maildir:%s/%%u" % mail)
        replies = self.send()
        self.assert_junked_and_held(replies, lambda: files("alice", ".Junk", "new"),
                                    lambda: files("alice", "new"))
        self.assertEqual(files("bob", "new") + files("bob", ".Junk", "new"), [])

    def test_rules_junk_and_bad_configurations(self):
        """A rule's junk action puts the copy into .Junk/ with its X-OPES-Rule field; junk
        is refused where it makes no sense, and bad folder keys are named."""
        mail = os.path.join(self.tmp, "mail")
        os.makedirs(os.path.join(mail, "alice", "new"))
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % mail, extra={
            "service.rules.type": "rules",
            "service.rules.rule": "header Subject /fine offer/ junk",
            "downstream.junk_folder": "Spam",
            "notify.default_mode": "off"}))
        [(code, text)] = self.send(("alice@example.org",))
        self.assertEqual(code, 250, text)
        [name] = os.listdir(os.path.join(mail, "alice", ".Spam", "new"))
        with open(os.path.join(mail, "alice", ".Spam", "new", name), "rb") as f:
            self.assertIn(b"X-OPES-Rule: rules; rule=1", f.read())
        self.assertEqual(os.listdir(os.path.join(mail, "alice", "new")), [])
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[downstream]\njunk_folder = ../Junk\nrecipient_delimiter = ++\n"
                    "[service.c]\ntype = clamd\naddress = 127.0.0.1:3310\naction = junk\n"
                    "[service.s]\ntype = spamd\naddress = 127.0.0.1:783\n"
                    "junk_threshold = 12\nquarantine_threshold = 10\n")
        p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:2: downstream.junk_folder: expected a folder name" % conf, p.stderr)
        self.assertIn("%s:3: downstream.recipient_delimiter: expected one of" % conf, p.stderr)
        with open(conf, "w") as f:
            f.write("[service.c]\ntype = clamd\naddress = 127.0.0.1:3310\naction = junk\n"
                    "[service.s]\ntype = spamd\naddress = 127.0.0.1:783\n"
                    "junk_threshold = 12\nquarantine_threshold = 10\n")
        p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:4: service.c.action: junk is an action for spam: rules, spamd and "
                      "rspamd only" % conf, p.stderr)
        self.assertIn("service.s.type: junk_threshold is above quarantine_threshold", p.stderr)

    def test_cyrus_junk_folder_and_strict_quarantine(self):
        cyrus = Cyrus(self.tmp, extra_conf="autocreate_inbox_folders: Junk\n"
                                           "autocreate_acl: Junk anyone p\n")
        self.procs.insert(0, cyrus)
        self.start_opesd("lmtp:127.0.0.1:%d" % cyrus.port)
        replies = self.send()
        self.assert_junked_and_held(replies, lambda: cyrus.messages("alice.Junk"),
                                    lambda: cyrus.messages("alice"))
        self.assertEqual(cyrus.messages("bob"), [])


if __name__ == "__main__":
    unittest.main()
