"""The delivery ledger: a transaction sent again is not delivered twice.

When opesd dies after the mailbox store said 250 but before its own answer
reached the MTA, the MTA sends the same transaction again. These cases send
it again by hand through opesd to a real Dovecot (alice and bob exist): the
recipients already delivered (or held) are answered 250 from the ledger and
the mailbox holds the message once; the others are still delivered; the
replies come one per recipient in RCPT order. The key is the MTA's queue id
(XFORWARD IDENT) or the Message-ID, with the hash of the exact bytes: a
different message under the same queue id is delivered. When the ledger
cannot be written, the answer is still the truth (250: the store has it).
"""
import json
import os
import re
import sqlite3

import opestest as t

LEDGER_RE = re.compile(r"^250 2\.0\.0 <([^>]+)> already delivered \(trace (\w+)\), "
                       r"not delivered again")
TRACE_RE = re.compile(r"\(trace (\w+)\)$")


def message(subject, body="the body\r\n", message_id=None):
    head = "From: Sender <sender@example.net>\r\nTo: alice@example.org\r\nSubject: %s\r\n" % subject
    if message_id:
        head += "Message-ID: %s\r\n" % message_id
    return (head + "\r\n" + body).encode()


class LedgerTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp))
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
            "notify.default_mode": "off",
        }))

    def transaction(self, rcpts, data, ident=None):
        """One transaction on a new connection; (trace id, final replies in RCPT order)."""
        c = self.client(self.opesd.port)
        c.hello()
        if ident:
            self.assertEqual(c.cmd("XFORWARD IDENT=%s" % ident)[0], 250)
        mail = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(mail[0], 250, mail)
        for r in rcpts:
            self.assertEqual(c.cmd("RCPT TO:<%s>" % r)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(data))
        replies = c.replies(len(rcpts))
        c.cmd("QUIT")
        return TRACE_RE.search(mail[1]).group(1), replies

    def count(self, user, marker):
        return sum(1 for m in self.dovecot.messages(user) if marker in m)

    def test_same_transaction_again_answered_from_ledger(self):
        data = message("ledger once", "ledger-once-1f3a\r\n")
        tid1, first = self.transaction(["alice@example.org", "bob@example.org"], data, "4XyZq1AbC")
        self.assertEqual([code for code, _ in first], [250, 250], first)
        tid2, again = self.transaction(["alice@example.org", "bob@example.org"], data, "4XyZq1AbC")
        # one reply per recipient, in RCPT order, each saying it was delivered already
        self.assertEqual([LEDGER_RE.match(text).groups() for _, text in again],
                         [("alice@example.org", tid1), ("bob@example.org", tid1)], again)
        self.assertEqual((self.count("alice", b"ledger-once-1f3a"),
                          self.count("bob", b"ledger-once-1f3a")), (1, 1))
        log = self.opesd.read_log()
        self.assertRegex(log, r"ledger hit: rcpt=<alice@example\.org> message=queue:4XyZq1AbC "
                              r"was already delivered at \S+ by trace=%s" % tid1)
        self.assertIn("action=duplicate", log)
        # the second transaction's trace says where the answer came from
        records = self.opesd.trace(tid2)
        hits = [r for r in records if r["event"] == "ledger"]
        self.assertEqual(sorted(r["recipient"] for r in hits),
                         ["alice@example.org", "bob@example.org"], records)
        self.assertIn("answered from the delivery ledger", hits[0]["detail"])
        self.assertIn(tid1, hits[0]["detail"])

        # other bytes under the same queue id: another message, delivered
        other = message("ledger once", "ledger-once-1f3a, edited\r\n")
        _, replies = self.transaction(["alice@example.org"], other, "4XyZq1AbC")
        self.assertEqual(replies[0][0], 250)
        self.assertIsNone(LEDGER_RE.match(replies[0][1]), replies)
        self.assertEqual(self.count("alice", b"ledger-once-1f3a"), 2)
        # the same bytes under another queue id: delivered too
        _, replies = self.transaction(["alice@example.org"], data, "4XyZq1AbD")
        self.assertIsNone(LEDGER_RE.match(replies[0][1]), replies)
        self.assertEqual(self.count("alice", b"ledger-once-1f3a"), 3)

    def test_others_still_delivered_in_rcpt_order(self):
        data = message("partial", "ledger-partial-77c2\r\n", "<partial-1@example.net>")
        tid1, first = self.transaction(["alice@example.org"], data)
        self.assertEqual(first[0][0], 250, first)
        # no queue id: the Message-ID and the bytes name the message
        _, again = self.transaction(["bob@example.org", "alice@example.org"], data)
        self.assertEqual(again[0][0], 250, again)
        self.assertIsNone(LEDGER_RE.match(again[0][1]), again)
        self.assertIn("<bob@example.org>", again[0][1])
        self.assertEqual(LEDGER_RE.match(again[1][1]).groups(), ("alice@example.org", tid1))
        self.assertEqual((self.count("alice", b"ledger-partial-77c2"),
                          self.count("bob", b"ledger-partial-77c2")), (1, 1))

    def test_held_once(self):
        data = message("QUARANTINE-ME twice", "ledger-held-9d04\r\n", "<held-1@example.net>")
        _, first = self.transaction(["alice@example.org"], data, "5AbCdE")
        item = re.search(r"held in quarantine as (\w+)", first[0][1]).group(1)
        _, again = self.transaction(["alice@example.org"], data, "5AbCdE")
        self.assertRegex(again[0][1], r"^250 2\.0\.0 <alice@example\.org> already held in "
                                      r"quarantine as %s \(trace \w+\), not held again" % item)
        held = json.loads(self.opesd.ctl("quarantine", "list", "--json")[1])
        self.assertEqual([i["id"] for i in held], [item])

    def test_ledger_write_fails_answer_stays_true(self):
        # the ledger refuses every row; the mailbox store still takes the message
        self.opesd.ctl("check")  # the database, created and migrated
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        db.execute("CREATE TRIGGER ledger_down BEFORE INSERT ON ledger "
                   "BEGIN SELECT RAISE(ABORT, 'ledger down for the test'); END")
        db.commit()
        db.close()
        data = message("unrecorded", "ledger-down-4e61\r\n")
        _, replies = self.transaction(["alice@example.org"], data, "6LdgDown")
        self.assertEqual(replies[0][0], 250, replies)
        self.assertIsNone(LEDGER_RE.match(replies[0][1]), replies)
        self.assertEqual(self.count("alice", b"ledger-down-4e61"), 1)
        self.assertRegex(self.opesd.read_log(),
                         r"ledger: recording rcpt=<alice@example\.org> failed \(.*ledger down "
                         r"for the test.*\); its 250 stands")
