"""The mailbox store drops a second copy: OPES-Delivery-Id and Dovecot's Sieve.

The ledger cannot cover a kill while Dovecot is saving (it has the final dot,
its 250 has not reached opesd): the MTA sends the message again and opesd has
no record of it. Every copy carries OPES-Delivery-Id, the same on every retry,
and the shipped packaging/dovecot/opesd-dedup.sieve (sieve_before) discards a
second copy with an id the mailbox already took. Here the retry goes through a
second opesd with its own empty store, so no ledger can answer it. Another
message (other bytes, same Message-ID) has another id and arrives; a copy
whose save failed (quota) did not mark its id and arrives on the retry.
"""
import os
import re

import opestest as t
from test_ledger import message

ID_RE = re.compile(rb"^OPES-Delivery-Id: ([0-9a-f]{32})$", re.M)


class DedupTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp, dedup=True, quota="100M"))
        target = "lmtp:127.0.0.1:%d" % self.dovecot.port
        self.a = self.start(t.Opesd(self.tmp, target))
        other = os.path.join(self.tmp, "b")  # its own store: its ledger knows nothing
        os.makedirs(other)
        self.b = self.start(t.Opesd(other, target))

    def transaction(self, opesd, rcpts, data, ident=None):
        """One transaction through opesd; the final reply codes in RCPT order."""
        c = self.client(opesd.port)
        c.hello()
        if ident:
            self.assertEqual(c.cmd("XFORWARD IDENT=%s" % ident)[0], 250)
        return [code for code, _ in c.transaction("sender@example.net", rcpts, data.decode())]

    def copies(self, user, marker):
        """The delivery ids of user's copies that hold marker."""
        return [ID_RE.search(m).group(1) for m in self.dovecot.messages(user) if marker in m]

    def test_retry_the_ledger_cannot_answer_is_dropped_by_the_store(self):
        data = message("crash window", "dedup-once-5b21\r\n", "<once-1@example.net>")
        self.assertEqual(self.transaction(self.a, ["alice@example.org"], data, "7DedupA1"), [250])
        # the MTA sends it again to an opesd that never saw it: 250, and no second copy
        self.assertEqual(self.transaction(self.b, ["alice@example.org", "bob@example.org"], data,
                                          "7DedupA1"), [250, 250])
        alice = self.copies("alice", b"dedup-once-5b21")
        bob = self.copies("bob", b"dedup-once-5b21")
        self.assertEqual(len(alice), 1, alice)
        self.assertEqual(bob, alice)  # each mailbox once, the same id on every copy
        # neither queue id nor Message-ID: the sender and the bytes still name it
        bare = "From: sender@example.net\r\nSubject: bare\r\n\r\ndedup-bare-0c9e\r\n".encode()
        self.assertEqual(self.transaction(self.a, ["alice@example.org"], bare), [250])
        self.assertEqual(self.transaction(self.b, ["alice@example.org"], bare), [250])
        self.assertEqual(len(self.copies("alice", b"dedup-bare-0c9e")), 1)

    def test_other_bytes_same_message_id_arrive_twice(self):
        for body in ("dedup-edit-3f70 first\r\n", "dedup-edit-3f70 second\r\n"):
            data = message("edited", body, "<edited-1@example.net>")
            self.assertEqual(self.transaction(self.a, ["alice@example.org"], data), [250])
        ids = self.copies("alice", b"dedup-edit-3f70")
        self.assertEqual(len(set(ids)), 2, ids)

    def test_failed_save_does_not_mark_the_id(self):
        body = "dedup-quota-a412\r\n" + ("x" * 76 + "\r\n") * 60  # 4.6 KB
        data = message("big", body, "<big@example.net>")
        self.dovecot.set_quota("1K")
        first = self.transaction(self.a, ["alice@example.org"], data, "8Quota01")
        self.assertIn(first[0] // 100, (4, 5), first)
        self.assertEqual(self.copies("alice", b"dedup-quota-a412"), [])
        self.dovecot.set_quota("100M")
        self.assertEqual(self.transaction(self.b, ["alice@example.org"], data, "8Quota01"), [250])
        self.assertEqual(len(self.copies("alice", b"dedup-quota-a412")), 1)
