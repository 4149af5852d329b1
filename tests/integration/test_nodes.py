"""Several opesd nodes on one store: each job done once, and the database away.

Two opesd processes share one store (a private PostgreSQL, or one SQLite
file), both with their job threads on and a short job lease. A burst of held
messages gives immediate notices, digests and, once the entries expire,
sender DSNs: Dovecot and a small relay count every one exactly once. With the
node that holds the lease killed in the middle of a digest run, the other
takes the work over when the lease expires. Then the database goes away
(pg_ctl stop -m immediate): held mail gets 451 4.3.0, never a 5xx, and
everything works again once it is back, without restarting opesd; clean mail
is delivered meanwhile, its trace records lost with a log line.
"""
import collections
import os
import re
import signal
import sqlite3
import time
import urllib.error
import urllib.request

import opestest as t
from test_notify import RelaySink, message, parse, wait_for

HELD_RE = re.compile(r"held in quarantine as (\w+)")
OPES_WEB = os.environ.get("OPES_WEB", os.path.join(os.path.dirname(t.OPESD), "opes-web"))
USERS = ("alice", "bob") + tuple("user%d" % i for i in range(8))


class Nodes:
    """Two nodes on one store; the subclass names the backend."""

    backend = None

    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp, users=USERS))
        self.relay = self.start(RelaySink())
        self.store = {"store.path": os.path.join(self.tmp, "opesd.db")}
        if self.backend == "postgresql":
            self.pg = self.start(t.Postgres(self.tmp))
            self.store = {"store.backend": "postgresql", "store.conninfo": self.pg.conninfo}
        self.nodes = []

    def start_nodes(self, extra=None, n=2):
        cfg = dict(self.store)
        cfg.update({
            "store.job_interval": "1s",
            "store.job_lease": "3s",
            "web.base_url": "http://portal.test",
            "notify.batch_window": "0",  # one notice per message: each counted once
            "notify.relay": "127.0.0.1:%d" % self.relay.port,
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
            "dsn.send": "always",
        })
        cfg.update(extra or {})
        for i in range(n):
            node = dict(cfg, **{"store.node_name": "node%d" % i})
            self.nodes.append(self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d"
                                                 % self.dovecot.port, extra=node)))

    def count(self, sql):
        if self.backend == "postgresql":
            return int(self.pg.sql(sql)[0][0])
        con = sqlite3.connect(os.path.join(self.tmp, "opesd.db"), timeout=30)
        try:
            return con.execute(sql).fetchall()[0][0]
        finally:
            con.close()

    def execute(self, sql):
        if self.backend == "postgresql":
            self.pg.sql(sql)
            return
        con = sqlite3.connect(os.path.join(self.tmp, "opesd.db"), timeout=30)
        try:
            con.execute(sql)
            con.commit()
        finally:
            con.close()

    def send(self, node, data, rcpt, expect=250):
        """One message to one recipient through node; the reply (code, text)."""
        c = self.client(node.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<sender@remote.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(data))
        code, text = c.reply()
        c.cmd("QUIT")
        self.assertEqual(code, expect, text)
        return code, text

    def holder(self, name):
        """Who holds the lease name ("node:pid"), once somebody does; None if nobody."""
        if not wait_for(lambda: self.count("SELECT COUNT(*) FROM claim WHERE name = '%s'" % name)):
            return None
        if self.backend == "postgresql":
            return self.pg.sql("SELECT holder FROM claim WHERE name = '%s'" % name)[0][0]
        con = sqlite3.connect(os.path.join(self.tmp, "opesd.db"), timeout=30)
        try:
            return con.execute("SELECT holder FROM claim WHERE name = ?", (name,)).fetchone()[0]
        finally:
            con.close()

    def mails(self, user, kind):
        return [m for m in map(parse, self.dovecot.messages(user)) if m["Auto-Submitted"] == kind]

    def digest_items(self, users):
        listed = []
        for u in users:
            for d in self.mails(u, "auto-generated"):
                listed += re.findall(r"QUARANTINE-ME item \S+",
                                     d.get_body(("plain",)).get_content())
        return listed

    def test_burst_each_notice_digest_and_dsn_once(self):
        self.start_nodes({"notify.default_mode": "immediate"})
        self.nodes[0].ctl("user", "notify", "bob@example.org", "digest", "every 168h")
        alice, bob = [], []
        for i in range(6):
            s = "QUARANTINE-ME item alice-%d" % i
            alice.append(s)
            self.send(self.nodes[i % 2], message(s), "alice@example.org")
        for i in range(4):
            s = "QUARANTINE-ME item bob-%d" % i
            bob.append(s)
            self.send(self.nodes[i % 2], message(s, to="bob@example.org"), "bob@example.org")
        wait_for(lambda: len(self.mails("alice", "auto-replied")) >= 6, timeout=60)
        self.assertTrue(wait_for(lambda: self.count("SELECT COUNT(*) FROM notification") >= 10))
        self.assertIn("recorded 1 digest", self.nodes[1].ctl("digest", "run")[1])
        wait_for(lambda: self.mails("bob", "auto-generated"), timeout=60)
        time.sleep(4)  # both nodes had several rounds
        notices = self.mails("alice", "auto-replied")
        self.assertEqual(sorted(i for n in notices
                                for i in re.findall(r"item alice-\d",
                                                    n.get_body(("plain",)).get_content())),
                         sorted(s[len("QUARANTINE-ME "):] for s in alice))
        self.assertEqual(self.mails("bob", "auto-replied"), [])
        self.assertEqual(sorted(self.digest_items(["bob"])), sorted(bob))

        self.execute("UPDATE quarantine SET created = created - 40 * 86400")
        self.assertIn("expired 10", self.nodes[0].ctl("purge")[1])
        wait_for(lambda: len(self.relay.messages) >= 10, timeout=60)
        time.sleep(4)
        self.assertEqual(len(self.relay.messages), 10)
        subjects = sorted(re.search(rb"Subject: (QUARANTINE-ME item \S+)", d).group(1).decode()
                          for _, _, d in self.relay.messages)
        self.assertEqual(subjects, sorted(alice + bob))

    def digest_round_holder(self):
        """Eight digests recorded and a round sending them, one a second, under way: the
        node holding the lease, and (users, subjects)."""
        self.start_nodes({"notify.default_mode": "digest", "notify.digest_schedule": "every 168h",
                          "notify.send_delay": "1s"})
        users = ["user%d" % i for i in range(8)]
        subjects = ["QUARANTINE-ME item %s" % u for u in users]
        for i, (u, s) in enumerate(zip(users, subjects)):
            self.send(self.nodes[i % 2], message(s, to="%s@example.org" % u), "%s@example.org" % u)
        self.assertTrue(wait_for(lambda: self.count("SELECT COUNT(*) FROM notification") >= 8))
        self.assertIn("recorded 8 digests", self.nodes[0].ctl("digest", "run")[1])
        wait_for(lambda: self.count("SELECT COUNT(*) FROM digest WHERE state = 'sent'") >= 2,
                 step=0.05)
        who = self.holder("notify")
        self.assertTrue(who, "nobody holds the lease in the middle of a run")
        return {str(n.pid): n for n in self.nodes}[who.rsplit(":", 1)[1]], users, subjects

    def test_node_killed_mid_run_the_other_finishes(self):
        victim, users, subjects = self.digest_round_holder()
        victim.signal(signal.SIGKILL)
        victim.p.wait()
        victim.check_exit = False
        self.assertLess(self.count("SELECT COUNT(*) FROM digest WHERE state = 'sent'"), 8,
                        "the kill came too late to test anything")
        wait_for(lambda: all(self.mails(u, "auto-generated") for u in users), timeout=90)
        time.sleep(2)
        self.assertEqual(sorted(self.digest_items(users)), sorted(subjects))
        self.assertEqual(self.count("SELECT COUNT(*) FROM digest WHERE state = 'sent'"), 8)

    def test_node_stalled_past_its_lease_sends_nothing_twice(self):
        """The node running a digest round stops (SIGSTOP) for longer than its lease; the
        other node takes the round over. When the first one runs again, it must not go on
        with the digests it had read before the stall."""
        stalled, users, subjects = self.digest_round_holder()
        stalled.signal(signal.SIGSTOP)
        try:
            self.assertLess(self.count("SELECT COUNT(*) FROM digest WHERE state = 'sent'"), 7,
                            "the stall came too late to test anything")
            time.sleep(6)  # twice the lease: the other node takes the round over
        finally:
            stalled.signal(signal.SIGCONT)
        wait_for(lambda: all(self.mails(u, "auto-generated") for u in users), timeout=90)
        time.sleep(3)  # the stalled node had rounds again
        self.assertEqual(sorted(self.digest_items(users)), sorted(subjects))
        self.assertIn("this node stops before its next mail", stalled.read_log())


class NodesOnPostgres(Nodes, t.TempDirTest):
    backend = "postgresql"

    def test_database_away_gives_4xx_and_comes_back(self):
        web_port = t.free_port()
        self.start_nodes({"notify.default_mode": "immediate",
                          "web.listen": "127.0.0.1:%d" % web_port}, n=1)
        node = self.nodes[0]
        web = self.start(t.Proc([OPES_WEB, "-c", node.config],
                                os.path.join(self.tmp, "opes-web.log")))
        t.wait_port(web_port, proc=web.p)
        url = "http://127.0.0.1:%d/metrics" % web_port
        self.send(node, message("QUARANTINE-ME item before"), "alice@example.org")

        t.postgres_crash(self.pg)
        code, text = self.send(node, message("QUARANTINE-ME item away"), "alice@example.org",
                               expect=451)
        self.assertIn("4.3.0", text)
        self.send(node, message("clean while away"), "bob@example.org")
        wait_for(lambda: [m for m in self.dovecot.messages("bob") if b"clean while away" in m])
        # its trace records are lost, and said so; the mail did not wait for them
        self.assertTrue(wait_for(lambda: "trace records not stored" in node.read_log()))
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url, timeout=30)
        self.assertEqual(cm.exception.code, 503)
        self.assertIsNone(node.p.poll())
        self.assertIsNone(web.p.poll())

        t.postgres_restart(self.pg)
        _, text = self.send(node, message("QUARANTINE-ME item back"), "alice@example.org")
        self.assertIsNotNone(HELD_RE.search(text))
        with urllib.request.urlopen(url, timeout=30) as r:
            self.assertEqual(r.status, 200)
        notices = wait_for(lambda: len(self.mails("alice", "auto-replied")) >= 2, timeout=60)
        self.assertTrue(notices, node.read_log()[-3000:])

    def database_away_mid_round(self, sent):
        """Crash the database once two of eight mails are out; sent() counts each mail's key.
        A mail delivered while the database is away cannot be marked sent, so it goes out
        again later: the round must stop there rather than send the rest unrecorded."""
        self.assertTrue(wait_for(lambda: sum(sent().values()) >= 2, timeout=60, step=0.05))
        t.postgres_crash(self.pg)
        self.assertLess(sum(sent().values()), 7, "the crash came too late to test anything")
        time.sleep(4)  # the rest of the round meets the database away
        t.postgres_restart(self.pg)
        self.assertTrue(wait_for(lambda: len(sent()) == 8, timeout=60),
                        (sent(), self.nodes[0].read_log()[-3000:]))
        time.sleep(3)  # more rounds: nothing else goes out twice
        self.assertLessEqual(sum(sent().values()) - 8, 1, sent())

    def test_database_away_mid_round_repeats_at_most_one_notice_or_dsn(self):
        self.start_nodes({"notify.default_mode": "immediate", "notify.send_delay": "1s"}, n=1)
        node = self.nodes[0]
        for i in range(8):
            self.send(node, message("QUARANTINE-ME item away-%d" % i), "alice@example.org")
        self.database_away_mid_round(lambda: collections.Counter(
            i for n in self.mails("alice", "auto-replied")
            for i in re.findall(r"item away-\d", n.get_body(("plain",)).get_content())))
        # the held entries expire: a DSN each to their sender
        self.execute("UPDATE quarantine SET created = created - 40 * 86400")
        self.assertIn("expired 8", node.ctl("purge")[1])
        self.database_away_mid_round(lambda: collections.Counter(
            re.search(rb"Subject: QUARANTINE-ME (item away-\d)", d).group(1)
            for _, _, d in self.relay.messages))


class NodesOnSqlite(Nodes, t.TempDirTest):
    backend = "sqlite"
