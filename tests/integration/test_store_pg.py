"""opesd, opesctl and the release worker on a PostgreSQL store, end to end.

[store] backend = postgresql: opesd holds a message that a rule quarantines
(one content row for two recipients, encrypted: the plain text is nowhere in
the database), its trace records land in PostgreSQL, opesctl lists and
releases from the same database, and opesd's release worker delivers into
Dovecot. No SQLite file is made. A conninfo with a password stops opesd at
startup with a message that says where the password belongs.

Moving up: a message held on SQLite is copied with opesctl store copy into an
empty PostgreSQL database, opesd starts again on PostgreSQL, and a release of
the copied entry is delivered once; a second copy into it is refused.
"""
import json
import os
import re
import subprocess
import urllib.request

import opestest as t

OPES_WEB = os.environ.get("OPES_WEB", os.path.join(os.path.dirname(t.OPESD), "opes-web"))
HELD_RE = re.compile(r"held in quarantine as (\w+)")
MESSAGE = (
    "From: Sender <sender@remote.example>\n"
    "To: alice@example.org, bob@example.org\n"
    "Subject: QUARANTINE-ME on a shared store\n"
    "Date: Wed, 02 Dec 2026 10:00:00 +0000\n"
    "Message-ID: <pg-1@remote.example>\n"
    "\n"
    "MARKER-5c1e-plaintext-should-not-be-in-the-database\n"
)


def send(test, port, rcpts, message=MESSAGE):
    """message to rcpts through opesd at port, every recipient held; their ids."""
    c = test.client(port)
    c.hello()
    test.assertEqual(c.cmd("MAIL FROM:<sender@remote.example>")[0], 250)
    for r in rcpts:
        test.assertEqual(c.cmd("RCPT TO:<%s>" % r)[0], 250)
    test.assertEqual(c.cmd("DATA")[0], 354)
    c.send(t.stuff(t.crlf(message)))
    ids = []
    for _ in rcpts:
        code, text = c.reply()
        test.assertEqual(code, 250, text)
        ids.append(HELD_RE.search(text).group(1))
    c.cmd("QUIT")
    return ids


class PostgresStoreTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.pg = self.start(t.Postgres(self.tmp))
        self.dovecot = self.start(t.Dovecot(self.tmp))
        self.web_port = t.free_port()
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "web.listen": "127.0.0.1:%d" % self.web_port,
            "web.base_url": "http://127.0.0.1:%d" % self.web_port,
            "store.backend": "postgresql",
            "store.conninfo": self.pg.conninfo,
            "store.job_interval": "1s",
            "notify.default_mode": "off",
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
        }))

    def send(self, rcpts):
        return send(self, self.opesd.port, rcpts)

    def test_held_on_postgresql_released_and_delivered(self):
        alice, bob = self.send(["alice@example.org", "bob@example.org"])
        self.assertEqual(self.pg.sql("SELECT count(*) FROM content"), [["1"]])
        self.assertEqual(self.pg.sql("SELECT count(*) FROM quarantine WHERE status = 'held'"),
                         [["2"]])
        self.assertEqual(self.pg.sql("SELECT count(*) FROM content_chunk WHERE "
                                     "position('MARKER-5c1e'::bytea in data) > 0"), [["0"]])
        steps = os.listdir(os.path.join(os.path.dirname(__file__), "../../store/db/schema/pg"))
        self.assertEqual(self.pg.sql("SELECT version FROM store_schema"), [[str(len(steps))]])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "opesd.db")))

        [item] = json.loads(self.opesd.ctl("quarantine", "list", "--recipient",
                                           "alice@example.org", "--json")[1])
        self.assertEqual((item["id"], item["status"]), (alice, "held"))
        records = self.opesd.trace(item["trace"])
        self.assertTrue(any(r["event"] == "reply" for r in records), records)
        self.assertGreater(int(self.pg.sql("SELECT count(*) FROM trace WHERE trace_id = '%s'"
                                           % item["trace"])[0][0]), 0)

        self.opesd.ctl("quarantine", "release", alice, "--whitelist", "--wait")
        [delivered] = self.dovecot.messages("alice")
        self.assertIn(b"MARKER-5c1e", delivered)
        self.assertEqual(self.dovecot.messages("bob"), [])
        self.assertEqual(self.pg.sql("SELECT status FROM quarantine WHERE public_id = '%s'"
                                     % alice), [["released"]])
        self.assertEqual(self.pg.sql("SELECT state FROM release_request"), [["done"]])
        self.assertEqual(self.pg.sql("SELECT kind, owner, sender, origin FROM list"),
                         [["white", "alice@example.org", "sender@remote.example", "cli"]])
        # released twice is still delivered once
        code, _, err = self.opesd.ctl("quarantine", "release", alice, check=False)
        self.assertEqual(code, 1)
        self.assertIn("not held", err)
        self.assertEqual(len(self.dovecot.messages("alice")), 1)
        _, out, _ = self.opesd.ctl("check")
        self.assertIn("store postgresql: ok", out)

        # the portal reads the same database: its figures count both entries and the reply
        web = self.start(t.Proc([OPES_WEB, "-c", self.opesd.config],
                                os.path.join(self.tmp, "opes-web.log")))
        t.wait_port(self.web_port, proc=web.p)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.web_port,
                                    timeout=30) as r:
            metrics = r.read().decode()
        self.assertIn('opes_quarantine_entries{status="held"} 1', metrics)
        self.assertIn('opes_quarantine_entries{status="released"} 1', metrics)
        self.assertIn('opes_reply_ms_24h{le="+Inf"} 2', metrics)

    def test_password_in_conninfo_refused_at_startup(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(self.opesd.config) as f, open(conf, "w") as g:
            g.write(f.read().replace("store.conninfo", "").replace(
                "conninfo = " + self.pg.conninfo,
                "conninfo = " + self.pg.conninfo + " password=secret"))
        p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"passfile", p.stdout + p.stderr)


class StoreCopyTest(t.TempDirTest):
    """One node on SQLite grows to PostgreSQL without losing its quarantine."""

    def setUp(self):
        super().setUp()
        self.pg = self.start(t.Postgres(self.tmp))
        self.dovecot = self.start(t.Dovecot(self.tmp))
        self.extra = {
            "store.job_interval": "1s",
            "notify.default_mode": "off",
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
        }
        self.target = "lmtp:127.0.0.1:%d" % self.dovecot.port
        self.opesd = self.start(t.Opesd(self.tmp, self.target, extra=self.extra))

    def test_copied_store_serves_opesd_on_postgresql(self):
        alice, bob = send(self, self.opesd.port, ["alice@example.org", "bob@example.org"])
        self.opesd.ctl("user", "add", "alice@example.org")
        self.opesd.ctl("list", "add", "block", "bob@example.org", "@spam.example")
        self.opesd.stop()

        _, out, _ = self.opesd.ctl("store", "copy", "--to", self.pg.conninfo)
        self.assertIn("counts match", out)
        self.assertRegex(out, r"quarantine\s+2\s+2\n")
        self.assertRegex(out, r"content\s+1\s+1\n")
        self.assertEqual(self.pg.sql("SELECT count(*) FROM quarantine WHERE status = 'held'"),
                         [["2"]])
        self.assertEqual(self.pg.sql("SELECT count(*) FROM content_chunk WHERE "
                                     "position('MARKER-5c1e'::bytea in data) > 0"), [["0"]])
        # the target is no longer empty: a second copy changes nothing
        code, _, err = self.opesd.ctl("store", "copy", "--to", self.pg.conninfo, check=False)
        self.assertEqual(code, 1)
        self.assertIn("not empty", err)
        self.assertEqual(self.pg.sql("SELECT count(*) FROM quarantine"), [["2"]])

        # the same key file, the store switched: the copied entry is released from PostgreSQL
        extra = dict(self.extra, **{"store.backend": "postgresql",
                                    "store.conninfo": self.pg.conninfo})
        node = self.start(t.Opesd(self.tmp, self.target, extra=extra))
        listed = json.loads(node.ctl("quarantine", "list", "--json")[1])
        self.assertEqual(sorted(i["id"] for i in listed), sorted([alice, bob]))
        _, out, _ = node.ctl("list", "show")
        self.assertIn("@spam.example", out)
        node.ctl("quarantine", "release", alice, "--wait")
        [delivered] = self.dovecot.messages("alice")
        self.assertIn(b"MARKER-5c1e", delivered)
        self.assertEqual(self.dovecot.messages("bob"), [])
        self.assertEqual(self.pg.sql("SELECT status FROM quarantine WHERE public_id = '%s'"
                                     % alice), [["released"]])
        # new entries on PostgreSQL take ids past the copied ones (another message: the
        # same one again would be answered from the delivery ledger, copied along)
        [carol] = send(self, node.port, ["alice@example.org"],
                       MESSAGE.replace("<pg-1@", "<pg-2@"))
        self.assertNotIn(carol, (alice, bob))
        self.assertEqual(self.pg.sql("SELECT count(*) FROM quarantine"), [["3"]])
        self.assertEqual(len(self.dovecot.messages("alice")), 1)
