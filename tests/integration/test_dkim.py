"""DKIM survives opesd (PROTOCOL.md 28).

A message signed with python3-dkim's test key passes through opesd (with the
rules service, so OPES-Via lists a service, and the content-modifying banner
and rewrite services, which must leave a signed message alone) and still
verifies in the mailbox.
A signature that oversigns OPES-Via or OPES-System (lists it in h= more
often than the field occurs) would break if opesd added one: opesd carries
that field's text in a comment of its Received field instead, traces why, and
the signature still verifies. The trace is never dropped, whether or not the
signature is valid. OPES-Delivery-Id is left out when h= names it. Verification uses Debian's python3
with the dkim module and the key record shipped with it (no DNS).
"""
import os
import subprocess
import sys

import opestest as t

DKIM_DATA = "/usr/lib/python3/dist-packages/dkim/tests/data"
VERIFY = r'''
import sys, dkim
data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
rec = open(sys.argv[2], "rb").read()
print("VALID" if dkim.verify(data, dnsfunc=lambda name, timeout=5: rec) else "INVALID")
'''
SIGN = r'''
import sys, dkim
msg = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
heads = [h.encode() for h in sys.argv[3].split(":")]
sig = dkim.sign(msg, b"test", b"example.com", key, include_headers=heads)
sys.stdout.buffer.write(sig + msg)
'''
MESSAGE = ("From: Sender <sender@example.com>\r\nTo: alice@example.org\r\n"
           "Subject: signed\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
           "Message-ID: <dkim-1@example.com>\r\n\r\n"
           "This body is signed.\r\n.leading dot\r\n")


def run_python(script, *args):
    p = subprocess.run(["/usr/bin/python3", "-c", script] + list(args), capture_output=True)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())
    return p.stdout


class DkimTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        if not os.path.exists(os.path.join(DKIM_DATA, "test.private")):
            self.fail("python3-dkim is not installed (packaging/install-deps.sh test installs it)")
        self.mail = os.path.join(self.tmp, "mail")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.mail, "alice", sub))
        self.opesd = self.start(t.Opesd(
            self.tmp, "maildir:%s/%%u" % self.mail,
            extra={"service.rules.type": "rules",
                   "service.rules.rule": "header Subject /never-matches-this/ quarantine",
                   "service.banner.type": "banner",
                   "service.rewrite.type": "rewrite",
                   "service.rewrite.map": "alice@example.org=alice@example.net"}))

    def sign(self, headers):
        path = os.path.join(self.tmp, "unsigned.eml")
        with open(path, "w", newline="") as f:
            f.write(MESSAGE)
        return run_python(SIGN, path, os.path.join(DKIM_DATA, "test.private"), headers)

    def verify(self, data):
        path = os.path.join(self.tmp, "check.eml")
        with open(path, "wb") as f:
            f.write(data)
        return run_python(VERIFY, path, os.path.join(DKIM_DATA, "test.txt")).decode().strip()

    def deliver(self, signed):
        c = t.Lmtp(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.com>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        stuffed = signed.replace(b"\r\n.", b"\r\n..")
        c.send(stuffed + b".\r\n")
        code, text = c.reply()
        c.close()
        self.assertEqual(code, 250, text)
        new = os.path.join(self.mail, "alice", "new")
        [name] = os.listdir(new)
        with open(os.path.join(new, name), "rb") as f:
            data = f.read()
        os.unlink(os.path.join(new, name))
        return data, text

    def test_signature_still_verifies_after_opesd(self):
        signed = self.sign("from:to:subject:date:message-id")
        self.assertEqual(self.verify(signed), "VALID")
        data, _ = self.deliver(signed)
        self.assertIn(b"OPES-Via:", data)
        self.assertIn(b"service/rules; action=pass", data.replace(b"\n\t", b" "))
        self.assertIn(b"service/banner; action=skipped", data.replace(b"\n\t", b" "))
        self.assertNotIn(b"CAUTION", data)
        self.assertIn(b"\nTo: alice@example.org\n", data, "a signed To is not rewritten")
        self.assertRegex(data, rb"\nOPES-Delivery-Id: [0-9a-f]{32}\n")
        self.assertEqual(self.verify(data), "VALID")

    def test_oversigned_delivery_id_is_left_out(self):
        """h= naming OPES-Delivery-Id: the id is not added (the store cannot drop a second
        copy of this message), the trace says why, and the signature still verifies."""
        data, text = self.deliver(self.sign("from:to:subject:date:message-id:opes-delivery-id"))
        trace = text.rsplit("(trace ", 1)[1].rstrip(")")
        self.assertNotIn(b"OPES-Delivery-Id", data)
        self.assertIn(b"\nOPES-Via:", data)
        self.assertEqual(self.verify(data), "VALID")
        self.assertIn("OPES-Delivery-Id not added: a DKIM signature covers that field name",
                      [r["detail"] for r in self.opesd.trace(trace)])

    def received(self, data):
        """The first Received field, unfolded."""
        head = data.split(b"\n\n", 1)[0].decode().replace("\n\t", " ").replace("\n ", " ")
        return [l for l in head.split("\n") if l.startswith("Received:")][0]

    def test_oversigned_opes_via_is_carried_in_received(self):
        signed = self.sign("from:to:subject:date:message-id:opes-via")
        data, text = self.deliver(signed)
        trace = text.rsplit("(trace ", 1)[1].rstrip(")")
        self.assertNotIn(b"OPES-Via:", data.split(b"\n\n", 1)[0].replace(b"(OPES-Via:", b""))
        self.assertIn(b"\nOPES-System:", data)
        received = self.received(data)
        self.assertIn("id %s (OPES-Via: http://opes.example.org/opes; action=relay, " % trace,
                      received)
        self.assertIn("service/rules; action=pass", received)
        self.assertEqual(self.verify(data), "VALID")
        records = self.opesd.trace(trace)
        self.assertIn("OPES-Via carried in the Received field: a DKIM signature covers that"
                      " field name", [r["detail"] for r in records])

    def test_unverified_signature_over_opes_fields_keeps_the_trace(self):
        """h= naming both OPES fields, signature not valid: the trace is still all there."""
        signed = self.sign("from:to:subject:date:message-id:opes-system:opes-via")
        forged = signed.replace(b"This body is signed.", b"This body was changed.")
        self.assertEqual(self.verify(forged), "INVALID")
        data, text = self.deliver(forged)
        trace = text.rsplit("(trace ", 1)[1].rstrip(")")
        head = data.split(b"\n\n", 1)[0].decode()
        self.assertNotRegex(head, r"(?m)^OPES-(System|Via):")
        received = self.received(data)
        self.assertIn("(OPES-System: http://opes.example.org/opes; trace=%s)" % trace, received)
        self.assertRegex(received, r"\(OPES-Via: http://opes.example.org/opes; action=relay, "
                                   r"[^)]*service/rules; action=pass[^)]*\)")
        self.assertIn("service/banner; action=skipped", received)
        # a valid signature over the same fields still verifies
        data, _ = self.deliver(signed)
        self.assertIn("(OPES-System: ", self.received(data))
        self.assertEqual(self.verify(data), "VALID")
