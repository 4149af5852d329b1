"""Quarantine store, opesctl and the release worker, end to end with Dovecot.

A message is put into the quarantine through opesctl (the services that hold
mail by themselves come later), then released with
`opesctl quarantine release ID --whitelist --wait`: opesd delivers it straight
into the mailbox store, and the whitelist entry exists with origin cli.
"""
import json
import os
import re
import sqlite3
import subprocess
import time

import opestest as t

MESSAGE = (
    "From: Sender <sender@remote.example>\n"
    "To: alice@example.org\n"
    "Subject: held for review\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0000\n"
    "Message-ID: <held-1@remote.example>\n"
    "\n"
    "First line of the held message.\n"
    ".leading dot line\n"
    "MARKER-7f3a9c-plaintext-should-not-be-on-disk\n"
)


def header_block_and_rest(data):
    """Split a delivered message into our prepended fields and the original."""
    text = data.decode("utf-8", "replace")
    i = text.index("From: Sender")
    return text[:i].replace("\n\t", " "), text[i:]


class StoreReleaseTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp))
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
                                        extra={"store.job_interval": "1s",
                                               # only released mail in the mailboxes
                                               "notify.default_mode": "off"}))

    def hold(self, *rcpts, message=MESSAGE):
        args = ["quarantine", "add", "--from", "sender@remote.example", "--service", "rules",
                "--reason", "demo rule"]
        for r in rcpts:
            args += ["--to", r]
        _, out, _ = self.opesd.ctl(*args, stdin=message.encode())
        ids = [line.split()[0] for line in out.strip().splitlines()]
        self.assertEqual(len(ids), len(rcpts))
        return ids

    def test_release_with_whitelist_delivers_identical_message(self):
        [qid] = self.hold("alice@example.org")
        self.assertEqual(self.dovecot.messages("alice"), [])
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", "alice@example.org",
                                   "--json")
        [item] = json.loads(out)
        self.assertEqual(item["id"], qid)
        self.assertEqual(item["status"], "held")
        self.assertEqual(item["subject"], "held for review")

        self.opesd.ctl("quarantine", "release", qid, "--whitelist", "--wait")
        [delivered] = self.dovecot.messages("alice")
        added, original = header_block_and_rest(delivered)
        self.assertEqual(original, MESSAGE)
        self.assertIn("with LMTP id %s" % item["trace"], added)
        self.assertIn("released from quarantine by", added)
        self.assertIn("OPES-System: http://opes.example.org/opes; trace=%s" % item["trace"], added)
        self.assertRegex(added, r"OPES-Via: .*service/rules; action=released")

        _, out, _ = self.opesd.ctl("quarantine", "show", qid, "--json")
        shown = json.loads(out)
        self.assertEqual(shown["status"], "released")
        self.assertEqual(shown["release"]["state"], "delivered")
        self.assertTrue(any(r["event"] == "release" and "via cli" in r["detail"]
                            for r in shown["trace_records"]))
        _, out, _ = self.opesd.ctl("list", "show", "alice@example.org", "--json")
        [entry] = json.loads(out)
        self.assertEqual((entry["kind"], entry["sender"], entry["origin"]),
                         ("white", "sender@remote.example", "cli"))
        _, out, _ = self.opesd.ctl("audit", "--json")
        actions = [a["action"] for a in json.loads(out)]
        self.assertIn("release delivered", actions)
        self.assertIn("release-request", actions)

    def test_one_content_for_many_recipients_and_at_rest_encryption(self):
        ids = self.hold("alice@example.org", "bob@example.org")
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        self.assertEqual(db.execute("SELECT COUNT(*) FROM content").fetchone()[0], 1)
        self.assertEqual(db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0], 2)
        db.close()
        for name in os.listdir(self.tmp):
            if name.startswith("opesd.db"):
                with open(os.path.join(self.tmp, name), "rb") as f:
                    self.assertNotIn(b"MARKER-7f3a9c", f.read(), name)
        _, out, _ = self.opesd.ctl("quarantine", "content", ids[1])
        self.assertEqual(out, MESSAGE)

    def test_release_deferred_while_store_down_then_delivered(self):
        [qid] = self.hold("bob@example.org")
        self.dovecot.stop()
        code, _, err = self.opesd.ctl("quarantine", "release", qid, check=False)
        self.assertEqual(code, 0, err)
        deadline = time.time() + 20
        while time.time() < deadline:
            _, out, _ = self.opesd.ctl("quarantine", "show", qid)
            if "release:   pending - 451 4.4.1" in out:
                break
            time.sleep(0.3)
        self.assertIn("release:   pending - 451 4.4.1", out)
        self.assertEqual(json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
                         ["status"], "held")
        self.dovecot.start()
        # the retry comes after the backoff; make it due now instead of waiting a minute
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        db.execute("UPDATE release_request SET next_attempt = 0")
        db.commit()
        db.close()
        code, out, err = self.opesd.ctl("quarantine", "release", qid, "--wait", check=False)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(self.dovecot.messages("bob")), 1)

    def test_unknown_recipient_release_fails_permanently_and_stays_held(self):
        [qid] = self.hold("carol@example.org")
        code, _, err = self.opesd.ctl("quarantine", "release", qid, "--wait", check=False)
        self.assertEqual(code, 1)
        self.assertIn("550 5.1.1", err)
        shown = json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
        self.assertEqual(shown["status"], "held")
        self.assertEqual(shown["release"]["state"], "failed")

    def test_delete_and_purge(self):
        [qid] = self.hold("alice@example.org")
        self.opesd.ctl("quarantine", "delete", qid)
        code, _, err = self.opesd.ctl("quarantine", "release", qid, check=False)
        self.assertEqual(code, 1)
        self.assertIn("not held", err)
        # age the entry beyond the retention period, then purge
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        db.execute("UPDATE quarantine SET created = created - 40*86400, updated = updated - 40*86400")
        db.commit()
        db.close()
        _, out, _ = self.opesd.ctl("purge")
        self.assertIn("removed 1", out)
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        self.assertEqual(db.execute("SELECT COUNT(*) FROM content").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT COUNT(*) FROM content_chunk").fetchone()[0], 0)
        db.close()
        _, out, _ = self.opesd.ctl("check")
        self.assertIn("ok", out)


class UsersTest(t.TempDirTest):
    """opesctl user add / passwd / list on the store (no daemon needed)."""

    def setUp(self):
        super().setUp()
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/mail/%%u" % self.tmp))

    def test_admin_password_is_stored_as_argon2id_only(self):
        self.opesd.ctl("user", "add", "Admin@Example.org", "--admin")
        secret = "correct horse battery staple"
        self.opesd.ctl("user", "passwd", "admin@example.org", stdin=(secret + "\n").encode())
        code, _, err = self.opesd.ctl("user", "passwd", "admin@example.org", stdin=b"short\n",
                                      check=False)
        self.assertEqual(code, 1)
        self.assertIn("at least 10 characters", err)
        code, _, err = self.opesd.ctl("user", "passwd", "nobody@example.org",
                                      stdin=(secret + "\n").encode(), check=False)
        self.assertIn("no such user", err)
        [user] = json.loads(self.opesd.ctl("user", "list", "--json")[1])
        self.assertEqual(user, {"address": "admin@example.org", "role": "admin", "password": True})
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        [(stored,)] = db.execute("SELECT password_hash FROM user").fetchall()
        db.close()
        self.assertTrue(stored.startswith("$argon2id$"), stored)
        for name in os.listdir(self.tmp):
            if name.startswith("opesd.db"):
                with open(os.path.join(self.tmp, name), "rb") as f:
                    self.assertNotIn(secret.encode(), f.read())
        actions = [a["action"] for a in json.loads(self.opesd.ctl("audit", "--json")[1])]
        self.assertEqual(actions[:2], ["user-passwd", "user-add-admin"])
