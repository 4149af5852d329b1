"""opesd delivering into Maildirs itself: target maildir:DIR/%u.

A user exists when DIR/<user>/new exists (unless [downstream] maildir_create
is on). Files land in new/ with LF line ends, nothing stays in tmp/, and the
content is the trace fields followed by the message exactly as sent.
"""
import email.utils
import os
import re
import time
import unittest

from opestest import Lmtp, Opesd, TempDirTest, lf, stuff, unfold

SYSTEM_URI = "http://opes.example.org/opes"
TRACE_RE = re.compile(r" \(trace ([0-9a-z]+)\)$")

ORIGINAL = (
    b"Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n"
    b"\tby mta.example.org (Postfix) with ESMTPS id 4Xy7Zq0abc;\r\n"
    b"\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Sender <sender@example.net>\r\n"
    b"To: alice@example.org, carol@example.org, bob@example.org\r\n"
    b"Subject: dots and 8-bit\r\n"
    b"X-Raw-8bit: caf\xe9 \xff\xfe\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".\r\n"
    b"..\r\n"
    b".leading dot\r\n"
    b"...three dots\r\n"
    b"na\xefve caf\xe9 \x80\x81\xfe\xff\r\n"
    b"utf-8: \xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7\r\n"
    b"trailing spaces   \r\n"
    b"\ttab first\r\n"
    b"\r\n"
    b"From the start of a line\r\n"
    + b"L" * 990 + b"\r\n"
    + b".last line is a dot line\r\n"
)


def big_message(size):
    """A message of about size bytes whose line ends fall on every offset modulo 64K,
    with dot lines and 8-bit bytes throughout."""
    lines = [b"Subject: a big one\r\n", b"\r\n"]
    total, i = 0, 0
    while total < size:
        line = (b"." if i % 5 == 0 else b"") + b"\xe9" * (i % 3) + b"%06d " % i + \
            b"abcdefghij" * (i % 13) + b"\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


CheckedTest = TempDirTest  # sanitizer and exit checks live in opestest

class MaildirTest(CheckedTest):

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "mail")
        for user in ("alice", "bob"):
            self.make_maildir(user)

    def make_maildir(self, user, subs=("tmp", "new", "cur")):
        for sub in subs:
            os.makedirs(os.path.join(self.root, user, sub), exist_ok=True)

    def opesd(self, extra=None):
        return self.start(Opesd(self.tmp, "maildir:%s/%%u" % self.root, extra))

    # ---------------------------------------------------------------- helpers

    def trace_id(self, text):
        m = TRACE_RE.search(text)
        self.assertIsNotNone(m, "no trace id in reply %r" % text)
        return m.group(1)

    def files(self, user, sub="new"):
        d = os.path.join(self.root, user, sub)
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def delivered(self, user):
        """The one file in user's new/, checked for a clean Maildir delivery."""
        self.assertEqual(os.listdir(os.path.join(self.root, user, "tmp")), [],
                         "files left in %s/tmp" % user)
        self.assertEqual(os.listdir(os.path.join(self.root, user, "cur")), [])
        files = self.files(user)
        self.assertEqual(len(files), 1, "%s has %d files" % (user, len(files)))
        self.assertFalse(b"\r" in files[0], "CR in %s's Maildir file" % user)
        return files[0]

    def split_stored(self, stored, original):
        """Our trace fields: everything before the original message, which must be intact."""
        want = lf(original)
        self.assertTrue(stored.endswith(want),
                        "stored message differs from what was sent; it starts:\n%r"
                        % stored[:1500])
        return stored[:-len(want)]

    def assert_trace_block(self, block, tid, rcpt=None):
        text = unfold(block.decode("ascii"))
        self.assertTrue(text.startswith("Received: "), text)
        m = re.match(r"^Received: from client\.test \(unknown \[127\.0\.0\.1\]\) by opes\.test "
                     r"\(opesd\) with LMTP id ([0-9a-z]+)(?: for <([^>]*)>)?; (.+)\n"
                     r"OPES-System: (.+)\nOPES-Via: (.+)\nOPES-Delivery-Id: [0-9a-f]{32}\n$", text)
        self.assertIsNotNone(m, "unexpected trace fields:\n%s" % text)
        self.assertEqual(m.group(1), tid)
        if rcpt is not None:
            self.assertEqual(m.group(2), rcpt)
        when = email.utils.parsedate_to_datetime(m.group(3))
        self.assertLess(abs(time.time() - when.timestamp()), 600, m.group(3))
        self.assertEqual(m.group(4), "%s; trace=%s" % (SYSTEM_URI, tid))
        for entry in m.group(5).split(","):
            self.assertRegex(entry.strip(), r"^https?://[^\s;,]+(; [a-z-]+=[^\s;,]+)*$")
            self.assertIn("action=", entry)

    def transaction(self, c, rcpts, message):
        """One transaction; returns (trace id, RCPT replies, replies after the dot)."""
        mail = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(mail[0], 250, mail)
        tid = self.trace_id(mail[1])
        rcpt = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        accepted = sum(1 for code, _ in rcpt if code == 250)
        data = c.cmd("DATA")
        if accepted == 0:
            self.assertEqual(data[0], 503, data)
            return tid, rcpt, []
        self.assertEqual(data[0], 354, data)
        c.send(stuff(message))
        return tid, rcpt, c.replies(accepted)

    def tree(self):
        """Every path under the test directory, except opesd's own files."""
        out = set()
        for d, dirs, files in os.walk(self.tmp):
            rel = os.path.relpath(d, self.tmp)
            if rel.split(os.sep)[0] == "spool":
                continue
            for name in dirs + files:
                path = os.path.normpath(os.path.join(rel, name))
                if not re.match(r"opesd-\d+\.(conf|log)$|opesd\.db|keys", path):
                    out.add(path)
        return out

    # ---------------------------------------------------------------- cases

    def test_unknown_user_refused_at_rcpt_and_content_intact(self):
        o = self.opesd()
        c = self.client(o.port)
        c.hello()
        tid, rcpt, final = self.transaction(
            c, ["alice@example.org", "carol@example.org", "bob@example.org"], ORIGINAL)
        self.assertEqual(rcpt[0][0], 250, rcpt)
        self.assertEqual(rcpt[2][0], 250, rcpt)
        self.assertEqual(rcpt[1][1], "550 5.1.1 <carol@example.org> User unknown (trace %s)" % tid)
        self.assertEqual(len(final), 2)
        self.assertRegex(final[0][1], r"^250 2\.0\.0 <alice@example\.org> .*\(trace %s\)$" % tid)
        self.assertRegex(final[1][1], r"^250 2\.0\.0 <bob@example\.org> .*\(trace %s\)$" % tid)
        self.assertEqual(c.cmd("NOOP"), (250, "250 2.0.0 Ok"), "an extra reply after the dot")
        for user in ("alice", "bob"):
            stored = self.delivered(user)
            self.assert_trace_block(self.split_stored(stored, ORIGINAL), tid)
        self.assertFalse(os.path.exists(os.path.join(self.root, "carol")))

    def test_big_message_intact(self):
        o = self.opesd()
        c = self.client(o.port)
        c.hello()
        message = big_message(3 * 1024 * 1024)
        tid, rcpt, final = self.transaction(c, ["alice@example.org"], message)
        self.assertEqual([r[0] for r in final], [250], final)
        stored = self.delivered("alice")
        self.assert_trace_block(self.split_stored(stored, message), tid, "alice@example.org")
        self.assertIn("spooled=file", o.read_log(), "the message was meant to be spooled to disk")

    def test_maildir_create(self):
        o = self.opesd({"downstream.maildir_create": "yes"})
        c = self.client(o.port)
        c.hello()
        tid, rcpt, final = self.transaction(c, ["dave@example.org", "alice@example.org"],
                                            ORIGINAL)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual([r[0] for r in final], [250, 250], final)
        for sub in ("tmp", "new", "cur"):
            self.assertTrue(os.path.isdir(os.path.join(self.root, "dave", sub)), sub)
        for user in ("dave", "alice"):
            self.assert_trace_block(self.split_stored(self.delivered(user), ORIGINAL), tid)

    def test_no_maildir_create_by_default(self):
        o = self.opesd()
        c = self.client(o.port)
        c.hello()
        before = self.tree()
        tid, rcpt, final = self.transaction(c, ["dave@example.org"], ORIGINAL)
        self.assertEqual(rcpt[0][1], "550 5.1.1 <dave@example.org> User unknown (trace %s)" % tid)
        self.assertEqual(self.tree(), before)

    def test_local_part_cannot_escape_the_maildir_root(self):
        o = self.opesd({"downstream.maildir_create": "yes"})
        c = self.client(o.port)
        c.hello()
        before = self.tree()
        # a '/' or a leading dot in the local part: refused outright
        refused = ['"../x"@example.org', '"../../escaped"@example.org', '"a/b"@example.org',
                   'a/b@example.org', '"/tmp/abs"@example.org', '..@example.org',
                   '.hidden@example.org', '"x/../../../escaped"@example.org']
        # quoted dot names: refused, or kept to a mailbox strictly below the root
        confined = ['".."@example.org', '"."@example.org']
        # where each local part would lead if it were taken as a path below the root
        outside = {}
        for addr in refused + confined:
            local = addr.rsplit("@", 1)[0]
            for form in (local, local.strip('"')):
                target = os.path.normpath(os.path.join(self.root, form))
                if not target.startswith(self.root + os.sep):
                    outside[target] = os.path.lexists(target)
        self.assertIn(os.path.join(os.path.dirname(self.tmp), "escaped"), outside)
        self.assertIn(self.root, outside)
        self.assertIn(self.tmp, outside)
        mail = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(mail[0], 250)
        for addr in refused:
            with self.subTest(rcpt=addr):
                reply = c.cmd("RCPT TO:<%s>" % addr)
                self.assertEqual(reply[0] // 100, 5, reply)
        accepted = 1
        for addr in confined:
            reply = c.cmd("RCPT TO:<%s>" % addr)
            self.assertIn(reply[0] // 100, (2, 5), reply)
            accepted += reply[0] == 250
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(stuff(ORIGINAL))
        final = c.replies(accepted)
        self.assertEqual([r[0] for r in final], [250] * accepted, final)
        after = self.tree()
        self.assertTrue(before <= after)
        new_files = [p for p in after - before
                     if os.path.isfile(os.path.join(self.tmp, p))]
        self.assertEqual(len(new_files), accepted, new_files)
        for path in after - before:
            parts = path.split(os.sep)
            self.assertEqual(parts[0], "mail", path)
            self.assertGreaterEqual(len(parts), 2, path)
            self.assertNotIn(parts[1], (".", ".."), path)
        self.assertIn("alice", [p.split(os.sep)[1] for p in new_files])
        # the root itself never becomes a Maildir, and nothing appears outside it
        for sub in ("tmp", "new", "cur"):
            self.assertFalse(os.path.lexists(os.path.join(self.root, sub)), sub)
        for target, existed in outside.items():
            self.assertEqual(os.path.lexists(target), existed, target)

    def test_duplicate_recipient_one_file(self):
        o = self.opesd()
        c = self.client(o.port)
        c.hello()
        tid, rcpt, final = self.transaction(
            c, ["alice@example.org", "bob@example.org", "alice@example.org"], ORIGINAL)
        self.assertEqual([r[0] for r in rcpt], [250, 250, 250], rcpt)
        self.assertEqual([r[0] for r in final], [250, 250, 250], final)
        self.assertIn("<alice@example.org>", final[0][1])
        self.assertIn("<bob@example.org>", final[1][1])
        self.assertIn("<alice@example.org>", final[2][1])
        self.delivered("alice")
        self.delivered("bob")
        self.assertEqual(c.cmd("NOOP"), (250, "250 2.0.0 Ok"), "an extra reply after the dot")

    def test_broken_mailbox_fails_only_its_recipient(self):
        # bob's Maildir has new/ (so bob exists) but no tmp/: his delivery fails after the dot
        os.rmdir(os.path.join(self.root, "bob", "tmp"))
        o = self.opesd()
        c = self.client(o.port)
        c.hello()
        tid, rcpt, final = self.transaction(c, ["bob@example.org", "alice@example.org"], ORIGINAL)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual(len(final), 2)
        self.assertRegex(final[0][1], r"^4\d\d 4\.\d\.\d <bob@example\.org> .*\(trace %s\)$" % tid)
        self.assertRegex(final[1][1], r"^250 2\.0\.0 <alice@example\.org> ")
        self.assertEqual(self.files("bob"), [])
        self.assert_trace_block(self.split_stored(self.delivered("alice"), ORIGINAL), tid)


if __name__ == "__main__":
    unittest.main()
