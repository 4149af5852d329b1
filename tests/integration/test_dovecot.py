"""opesd in front of a real Dovecot LMTP, over TCP and over a unix socket.

Every case runs against both target forms, lmtp:127.0.0.1:PORT and
lmtp:unix:PATH. Dovecot knows the users alice and bob only, so carol is
refused by the store itself at RCPT time.
"""
import email.utils
import os
import re
import subprocess
import time
import unittest

from opestest import Dovecot, Lmtp, Opesd, TempDirTest, lf, stuff, unfold

SYSTEM_URI = "http://opes.example.org/opes"
TRACE_RE = re.compile(r" \(trace ([0-9a-z]+)\)$")

# A message whose header and body must reach the mailbox byte for byte: an
# existing trace field, a raw 8-bit header, lines that start with dots
# (including one that is a lone dot once unstuffed), 8-bit bytes that are not
# UTF-8, a long line, and enough text to be spooled to a file.
BODY_BULK = b"".join(b"%s line %05d of the bulk part, with some padding text to make it longer\r\n"
                     % (b"." if i % 7 == 0 else b"x", i) for i in range(4500))
ORIGINAL = (
    b"Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n"
    b"\tby mta.example.org (Postfix) with ESMTPS id 4Xy7Zq0abc;\r\n"
    b"\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Sender <sender@example.net>\r\n"
    b"To: alice@example.org, carol@example.org, bob@example.org\r\n"
    b"Subject: dots and 8-bit\r\n"
    b"X-Raw-8bit: caf\xe9 \xff\xfe\r\n"
    b"Message-ID: <dots-8bit@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".\r\n"
    b"..\r\n"
    b".leading dot\r\n"
    b"...three dots\r\n"
    b" .space then dot\r\n"
    b"na\xefve caf\xe9 \x80\x81\xfe\xff\r\n"
    b"utf-8: \xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7\r\n"
    b"trailing spaces   \r\n"
    b"\ttab first\r\n"
    b"\r\n"
    b"From the start of a line\r\n"
    + b"L" * 990 + b"\r\n"
    + BODY_BULK
    + b".last line is a dot line\r\n"
)


def trace_id(test, text):
    m = TRACE_RE.search(text)
    test.assertIsNotNone(m, "no trace id in reply %r" % text)
    return m.group(1)


CheckedTest = TempDirTest  # sanitizer and exit checks live in opestest

class QuotaDovecot(Dovecot):
    """Dovecot with the quota plugin; bob's mailbox is full (tempfail on quota)."""

    def start(self):
        if not getattr(self, "quota_set", False):
            self.quota_set = True
            with open(os.path.join(self.dir, "users"), "w") as f:
                f.write("alice:::::::\nbob:::::::userdb_quota_rule=*:storage=10B\n")
            with open(self.config, "a") as f:
                f.write("mail_plugins = $mail_plugins quota\n"
                        "quota_full_tempfail = yes\n"
                        "plugin {\n  quota = maildir:User quota\n}\n")
        super().start()


class DovecotCases:
    """The cases; subclasses pick the target form."""

    unix = False

    def start_pair(self, dovecot_class=Dovecot, extra=None):
        self.dovecot = self.start(dovecot_class(self.tmp))
        if self.unix:
            target = "lmtp:unix:%s" % self.dovecot.socket
        else:
            target = "lmtp:127.0.0.1:%d" % self.dovecot.port
        self.opesd = self.start(Opesd(self.tmp, target, extra))
        return self.opesd

    # ---------------------------------------------------------------- helpers

    def dovecot_log(self):
        with open(os.path.join(self.dovecot.dir, "dovecot.log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()

    def settled_log_offset(self):
        """The log length once the start-up probe's connection is logged and over."""
        deadline = time.time() + 10
        while True:
            log = self.dovecot_log()
            connects = log.count("Connect from")
            if (connects >= 1 and connects == log.count("Disconnect from")) or \
                    time.time() > deadline:
                return len(log)
            time.sleep(0.05)

    def wait_log(self, offset, needle, count, timeout=10):
        deadline = time.time() + timeout
        while True:
            part = self.dovecot_log()[offset:]
            if part.count(needle) >= count or time.time() > deadline:
                return part
            time.sleep(0.05)

    def assert_no_pending_reply(self, c):
        self.assertEqual(c.buf, b"", "unexpected extra reply data")
        c.s.settimeout(0.5)
        try:
            data = c.s.recv(4096)
        except OSError:
            data = None
        finally:
            c.s.settimeout(30)
        self.assertIsNone(data, "unexpected extra reply or close: %r" % data)

    def assert_trace_block(self, block, tid, helo="client.test", peer="unknown [127.0.0.1]"):
        """Our four trace fields, in order, for trace id tid."""
        text = unfold(block.decode("ascii"))
        self.assertEqual(re.findall(r"(?m)^([^\s:]+):", text),
                         ["Received", "OPES-System", "OPES-Via", "OPES-Delivery-Id"], text)
        self.assertRegex(text, r"(?m)^OPES-Delivery-Id: [0-9a-f]{32}$")
        m = re.search(r"^Received: from (\S+) \((.*?)\) by opes\.test \(opesd\) "
                      r"with LMTP id ([0-9a-z]+)(?: for <[^>]*>)?; (.+)$", text, re.M)
        self.assertIsNotNone(m, "no opesd Received field in:\n%s" % text)
        self.assertEqual((m.group(1), m.group(2), m.group(3)), (helo, peer, tid))
        when = email.utils.parsedate_to_datetime(m.group(4))
        self.assertLess(abs(time.time() - when.timestamp()), 600, m.group(4))
        sysm = re.search(r"^OPES-System: (.+)$", text, re.M)
        self.assertIsNotNone(sysm, text)
        self.assertEqual(sysm.group(1), "%s; trace=%s" % (SYSTEM_URI, tid))
        via = re.search(r"^OPES-Via: (.+)$", text, re.M)
        self.assertIsNotNone(via, text)
        for entry in via.group(1).split(","):
            self.assertRegex(entry.strip(), r"^https?://[^\s;,]+(; [a-z-]+=[^\s;,]+)*$")
            self.assertIn("action=", entry)
        self.assertLess(m.start(), sysm.start())
        self.assertLess(sysm.start(), via.start())
        for line in block.split(b"\n"):
            self.assertLessEqual(len(line.rstrip(b"\r")), 78, line)

    def split_stored(self, stored, original):
        """The fields in front of the original message, which must end the stored one intact."""
        want = lf(original)
        self.assertTrue(stored.endswith(want),
                        "stored message differs from what was sent; stored starts:\n%r"
                        % stored[:1500])
        return stored[:-len(want)]

    def our_block(self, prefix):
        """Our fields out of the prefix: from our Received field to the end."""
        i = prefix.find(b" (opesd) with ")
        self.assertGreaterEqual(i, 0, prefix)
        j = prefix.rfind(b"\nReceived: ", 0, i)
        self.assertGreaterEqual(j, 0, prefix)
        return prefix[j + 1:]

    def store_id(self, text):
        """Dovecot's transaction id in a "Saved" reply (without the recipient number)."""
        m = re.search(r"^250 2\.0\.0 <[^>]+> (\S+) Saved", text)
        self.assertIsNotNone(m, text)
        return re.sub(r":R\d+$", "", m.group(1))

    def send_message(self, c, rcpts, message, mail_params=""):
        """One transaction; returns (MAIL reply, RCPT replies, DATA reply, final replies)."""
        mail = c.cmd("MAIL FROM:<sender@example.net>%s" % mail_params)
        self.assertEqual(mail[0], 250, mail)
        rcpt = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        accepted = sum(1 for code, _ in rcpt if code == 250)
        data = c.cmd("DATA")
        if data[0] != 354:
            return mail, rcpt, data, []
        c.send(stuff(message))
        return mail, rcpt, data, c.replies(accepted)

    # ---------------------------------------------------------------- cases

    def test_unknown_user_refused_at_rcpt_and_content_intact(self):
        o = self.start_pair()
        c = self.client(o.port)
        lhlo = c.hello()
        self.assertIn("8BITMIME", lhlo)
        mail, rcpt, data, final = self.send_message(
            c, ["alice@example.org", "carol@example.org", "bob@example.org"], ORIGINAL,
            " BODY=8BITMIME")
        tid = trace_id(self, mail[1])
        self.assertEqual(rcpt[0][0], 250, rcpt)
        self.assertEqual(rcpt[2][0], 250, rcpt)
        # carol: the store's own refusal, with its text, and our trace id
        self.assertRegex(rcpt[1][1], r"^550 5\.1\.1 <carol@example\.org> User doesn't exist")
        self.assertEqual(trace_id(self, rcpt[1][1]), tid)
        self.assertEqual(data[0], 354, data)
        # exactly two replies after the dot, in RCPT order, each the store's own
        self.assertEqual(len(final), 2)
        self.assertRegex(final[0][1], r"^250 2\.0\.0 <alice@example\.org> \S+ Saved")
        self.assertRegex(final[1][1], r"^250 2\.0\.0 <bob@example\.org> \S+ Saved")
        for _, text in final:
            self.assertEqual(trace_id(self, text), tid)
        self.assert_no_pending_reply(c)
        self.assertEqual(c.cmd("NOOP")[0], 250)

        self.assertEqual(self.dovecot.messages("carol"), [])
        for user in ("alice", "bob"):
            stored = self.dovecot.messages(user)
            self.assertEqual(len(stored), 1, user)
            prefix = self.split_stored(stored[0], ORIGINAL)
            block = self.our_block(prefix)
            self.assert_trace_block(block, tid)
            self.assertEqual(stored[0].count(b"\nOPES-System:"), 1)

    def test_per_recipient_failure_after_dot(self):
        self.start_pair(QuotaDovecot)
        c = self.client(self.opesd.port)
        c.hello()
        message = b"Subject: quota\r\n\r\nbody\r\n"
        mail, rcpt, data, final = self.send_message(
            c, ["bob@example.org", "alice@example.org"], message)
        tid = trace_id(self, mail[1])
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual(len(final), 2)
        # bob's mailbox is full: the store's 452 reaches bob only, alice is delivered
        self.assertRegex(final[0][1], r"^452 4\.2\.2 <bob@example\.org> Quota exceeded")
        self.assertRegex(final[1][1], r"^250 2\.0\.0 <alice@example\.org> \S+ Saved")
        self.assertEqual({trace_id(self, t) for _, t in final}, {tid})
        self.assert_no_pending_reply(c)
        self.assertEqual(self.dovecot.messages("bob"), [])
        self.assertEqual(len(self.dovecot.messages("alice")), 1)

    def test_store_down_from_the_start(self):
        o = self.start_pair()
        self.dovecot.stop()
        c = self.client(o.port)
        c.hello()
        message = b"Subject: while the store is down\r\n\r\nplease keep me\r\n"
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org", "bob@example.org"],
                                                    message)
        tid = trace_id(self, mail[1])
        for code, text in rcpt:
            self.assertEqual(code, 451, text)
            self.assertRegex(text, r"^451 4\.4\.\d ")
            self.assertEqual(trace_id(self, text), tid)
        self.assertEqual(data[0], 503, data)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(self.dovecot.messages("alice"), [])
        self.assertEqual(self.dovecot.messages("bob"), [])

        # the store is back: the same message, sent again on the same session, is delivered
        self.dovecot.start()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org", "bob@example.org"],
                                                    message)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual([r[0] for r in final], [250, 250], final)
        for user in ("alice", "bob"):
            stored = self.dovecot.messages(user)
            self.assertEqual(len(stored), 1, user)
            self.split_stored(stored[0], message)

    def test_store_goes_down_during_the_transaction(self):
        o = self.start_pair()
        c = self.client(o.port)
        c.hello()
        message = (b"Subject: store stops during DATA\r\n\r\n" +
                   b"".join(b"line %d\r\n" % i for i in range(200)))
        mail = c.cmd("MAIL FROM:<sender@example.net>")
        tid = trace_id(self, mail[1])
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        wire = stuff(message)
        c.send(wire[:100])
        self.dovecot.stop()
        c.send(wire[100:])
        final = c.replies(2)
        for code, text in final:
            self.assertRegex(text, r"^451 4\.4\.\d ", "every recipient gets 451 4.4.x")
            self.assertEqual(trace_id(self, text), tid)
        self.assert_no_pending_reply(c)
        self.assertEqual(self.dovecot.messages("alice"), [])
        self.assertEqual(self.dovecot.messages("bob"), [])

        self.dovecot.start()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org", "bob@example.org"],
                                                    message)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual([r[0] for r in final], [250, 250], final)
        for user in ("alice", "bob"):
            stored = self.dovecot.messages(user)
            self.assertEqual(len(stored), 1, user)
            self.split_stored(stored[0], message)

    def test_store_restarted_between_messages(self):
        o = self.start_pair()
        message = b"Subject: restart\r\n\r\nbody\r\n"
        c = self.client(o.port)
        c.hello()
        _, _, _, final = self.send_message(c, ["alice@example.org"], message)
        self.assertEqual([r[0] for r in final], [250])
        self.assertEqual(c.cmd("QUIT")[0], 221)
        # the connection opesd keeps for reuse dies with the store
        self.dovecot.stop()
        self.dovecot.start()
        c = self.client(o.port)
        c.hello()
        _, rcpt, _, final = self.send_message(c, ["alice@example.org", "bob@example.org"], message)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual([r[0] for r in final], [250, 250], final)
        self.assertEqual(len(self.dovecot.messages("alice")), 2)
        self.assertEqual(len(self.dovecot.messages("bob")), 1)

    def test_one_connection_and_one_transaction(self):
        o = self.start_pair()
        offset = self.settled_log_offset()
        c = self.client(o.port)
        c.hello()
        m1 = b"Subject: first\r\n\r\none\r\n"
        m2 = b"Subject: second\r\n\r\ntwo\r\n"
        _, _, _, first = self.send_message(c, ["alice@example.org", "bob@example.org"], m1)
        _, _, _, second = self.send_message(c, ["alice@example.org"], m2)
        self.assertEqual([r[0] for r in first], [250, 250], first)
        self.assertEqual([r[0] for r in second], [250], second)
        # Dovecot's ids read SESSION[:Tn][:Rn]: one transaction for alice and bob, the
        # second message in a transaction of its own on the same session
        ids = [self.store_id(t) for _, t in first + second]
        self.assertEqual(ids[0], ids[1], ids)
        self.assertNotEqual(ids[2], ids[0], ids)
        self.assertEqual(len({i.split(":")[0] for i in ids}), 1, ids)
        part = self.wait_log(offset, "saved mail to INBOX", 3)
        self.assertEqual(part.count("saved mail to INBOX"), 3, part)
        self.assertEqual(part.count("Connect from"), 1,
                         "two messages on one session must share one store connection:\n" + part)
        alice = self.dovecot.messages("alice")
        self.assertEqual(len(alice), 2)
        self.assertEqual(sorted(s.endswith(lf(m1)) for s in alice), [False, True])
        self.assertEqual(sorted(s.endswith(lf(m2)) for s in alice), [False, True])
        bob = self.dovecot.messages("bob")
        self.assertEqual(len(bob), 1)
        self.split_stored(bob[0], m1)

    def test_xforward_in_received_field(self):
        o = self.start_pair()
        c = self.client(o.port)
        lhlo = c.hello()
        self.assertIn("XFORWARD", lhlo)
        self.assertEqual(c.cmd("XFORWARD NAME=mail.example.net ADDR=192.0.2.7 PORT=4711")[0], 250)
        self.assertEqual(c.cmd("XFORWARD HELO=helo+2Eexample.net PROTO=ESMTP")[0], 250)
        message = b"Subject: xforward\r\n\r\nbody\r\n"
        mail, _, _, final = self.send_message(c, ["alice@example.org"], message)
        tid1 = trace_id(self, mail[1])
        self.assertEqual([r[0] for r in final], [250], final)
        # XFORWARD applies to one transaction only
        mail, _, _, final = self.send_message(c, ["alice@example.org"], message)
        tid2 = trace_id(self, mail[1])
        self.assertEqual([r[0] for r in final], [250], final)
        stored = {}
        for s in self.dovecot.messages("alice"):
            block = self.our_block(self.split_stored(s, message))
            stored[re.search(rb"with LMTP id (\w+)", block).group(1).decode()] = block
        self.assertEqual(set(stored), {tid1, tid2})
        self.assert_trace_block(stored[tid1], tid1, helo="helo.example.net",
                                peer="mail.example.net [192.0.2.7]")
        self.assert_trace_block(stored[tid2], tid2)

    def test_rset_recipient_gets_nothing(self):
        o = self.start_pair()
        offset = self.settled_log_offset()
        c = self.client(o.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        message = b"Subject: for bob only\r\n\r\nbody\r\n"
        _, rcpt, _, final = self.send_message(c, ["bob@example.org"], message)
        self.assertEqual([r[0] for r in final], [250], final)
        self.assertRegex(final[0][1], r"^250 2\.0\.0 <bob@example\.org> ")
        self.assertEqual(len(self.dovecot.messages("bob")), 1)
        self.assertEqual(self.dovecot.messages("alice"), [], "a recipient dropped by RSET got mail")
        part = self.wait_log(offset, "saved mail to INBOX", 1)
        self.assertEqual(part.count("Connect from"), 1, part)

    def test_client_gone_during_data_delivers_nothing(self):
        o = self.start_pair()
        c = self.client(o.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: cut off\r\n\r\nthe client goes away before the dot\r\n")
        c.close()
        # the next session, whatever connection to the store it gets, delivers to bob only
        c = self.client(o.port)
        c.hello()
        message = b"Subject: for bob only\r\n\r\nbody\r\n"
        _, _, _, final = self.send_message(c, ["bob@example.org"], message)
        self.assertEqual([r[0] for r in final], [250], final)
        self.assertEqual(len(self.dovecot.messages("bob")), 1)
        self.split_stored(self.dovecot.messages("bob")[0], message)
        self.assertEqual(self.dovecot.messages("alice"), [],
                         "a message without its final dot was delivered")

    def test_xforward_cannot_inject_header_fields(self):
        o = self.start_pair()
        c = self.client(o.port)
        c.hello()
        # xtext-encoded CR LF in every attribute that reaches the Received field
        reply = c.cmd("XFORWARD NAME=evil+0D+0AX-Injected:+20name ADDR=192.0.2.9 "
                      "HELO=h+0D+0AX-Injected:+20helo")
        self.assertIn(reply[0], (250, 501), reply)
        message = b"Subject: injection\r\n\r\nbody\r\n"
        mail, _, _, final = self.send_message(c, ["alice@example.org"], message)
        self.assertEqual([r[0] for r in final], [250], final)
        stored = self.dovecot.messages("alice")
        self.assertEqual(len(stored), 1)
        self.assertNotRegex(stored[0], rb"(?m)^X-Injected:")
        block = self.our_block(self.split_stored(stored[0], message))
        self.assertNotIn(b"\r", block)
        self.assertEqual(len(re.findall(rb"(?m)^[^\s:]+:", block)), 4, block)

    def test_xforward_refused_from_untrusted_peer(self):
        o = self.start_pair(extra={"lmtp.xforward_hosts": "192.0.2.99"})
        c = self.client(o.port)
        lhlo = c.hello()
        self.assertNotIn("XFORWARD", lhlo)
        reply = c.cmd("XFORWARD NAME=mail.example.net ADDR=192.0.2.7 HELO=forged.example.net")
        self.assertEqual(reply[0] // 100, 5, reply)
        message = b"Subject: xforward\r\n\r\nbody\r\n"
        mail, _, _, final = self.send_message(c, ["alice@example.org"], message)
        self.assertEqual([r[0] for r in final], [250], final)
        stored = self.dovecot.messages("alice")
        self.assertEqual(len(stored), 1)
        block = self.our_block(self.split_stored(stored[0], message))
        self.assert_trace_block(block, trace_id(self, mail[1]))
        self.assertNotIn(b"192.0.2.7", stored[0])
        self.assertNotIn(b"forged", stored[0])

    def test_swaks(self):
        o = self.start_pair()
        path = os.path.join(self.tmp, "swaks.eml")
        message = (b"From: Sender <sender@example.net>\r\nTo: alice@example.org\r\n"
                   b"Subject: sent with swaks\r\n\r\n.leading dot\r\nbody \xc3\xa9\r\n")
        with open(path, "wb") as f:
            f.write(message)
        p = subprocess.run(["swaks", "--protocol", "LMTP", "--server", "127.0.0.1:%d" % o.port,
                            "--to", "alice@example.org,bob@example.org", "--data", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r"<-  250 2\.0\.0 <alice@example\.org> \S+ Saved \(trace \w+\)")
        self.assertRegex(out, r"<-  250 2\.0\.0 <bob@example\.org> \S+ Saved \(trace \w+\)")
        for user in ("alice", "bob"):
            stored = self.dovecot.messages(user)
            self.assertEqual(len(stored), 1, user)
            self.assertIn(b"\n" + lf(message), stored[0])
            self.assertIn(b"\nOPES-System: " + SYSTEM_URI.encode() + b"; trace=", stored[0])


class DovecotTcpTest(DovecotCases, CheckedTest):
    unix = False


class DovecotUnixTest(DovecotCases, CheckedTest):
    unix = True


if __name__ == "__main__":
    unittest.main()
