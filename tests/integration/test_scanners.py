"""The clamd and spamd clients against a real clamd and spamd, through the
opes-scan test tool (tests/scanners/opes_scan.c).

What the service relies on: a virus is found with its signature name in the
message body and in a base64 attachment, over a unix socket and over TCP; a
clean message is clean; GTUBE is spam with its score and a normal message is
not; and every failure (scanner down, scanner silent, message over clamd's
StreamMaxLength, a verdict that arrives too early) is an error within the
timeout, never "clean" or "not spam".
"""
import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from opestest import OPESD, TempDirTest, crlf
from scanners import (CLAM_EXE, CLAM_EXE_NAME, EICAR, EICAR_BODY_NAME, GTUBE_MESSAGE,
                      HAM_MESSAGE, Clamd, FakeScanner, Spamd)

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(OPESD)))
OPES_SCAN = os.environ.get("OPES_SCAN", os.path.join(BUILD, "tests", "scanners", "opes-scan"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
LINE_RE = re.compile(r"^result=(\w+)((?: [a-z_]+=\S*)*?) ms=(\d+)(?: runs=\d+ ms_per_message=\S+)?"
                     r"(?: error=(.*))?$")

CLEAN = crlf("""From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: minutes of Tuesday's meeting
Date: Tue, 02 Jan 2024 10:00:00 +0000
Message-ID: <minutes-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello Bob,

the minutes are below. Next meeting on Thursday.

Alice
""")


def message_with_attachment(payload, filename, subject="the file you asked for"):
    """A multipart message carrying payload as a base64 attachment (CRLF line ends)."""
    b64 = base64.encodebytes(payload).decode()
    return crlf("""From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: %s
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See the attachment.

--b1
Content-Type: application/octet-stream; name="%s"
Content-Disposition: attachment; filename="%s"
Content-Transfer-Encoding: base64

%s
--b1--
""" % (subject, filename, filename, b64))


def message_with_body(body, subject="text"):
    return crlf("From: a@example.org\nTo: b@example.org\nSubject: %s\n\n" % subject) + body


def filler(size):
    """size octets of plain text lines (CRLF), for big messages."""
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return (line * (size // len(line) + 1))[:size]


class Result:
    """One opes-scan run: exit status, result, fields, error text, ms, wall time."""

    def __init__(self, proc, wall):
        self.status = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")
        self.wall = wall
        lines = self.out.splitlines()
        m = LINE_RE.match(lines[-1]) if len(lines) == 1 else None
        if m is None:
            raise AssertionError("opes-scan printed %r (stderr %r)" % (self.out, self.err))
        self.result = m.group(1)
        self.fields = dict(kv.split("=", 1) for kv in m.group(2).split())
        self.ms = int(m.group(3))
        self.error = m.group(4) or ""

    def __repr__(self):
        return "status=%d %s" % (self.status, self.out.strip())


class ScanTestCase(unittest.TestCase):
    tmp = None

    @classmethod
    def make_tmp(cls):
        cls.tmp = tempfile.mkdtemp(prefix="opesd-test-")
        os.chmod(cls.tmp, 0o755)

    @classmethod
    def remove_tmp(cls):
        if os.environ.get("OPES_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def scan(self, mode, endpoint, message, timeout_ms=20000, user=None, name="msg.eml"):
        """Write message to a file and run opes-scan on it."""
        if not os.path.exists(OPES_SCAN):
            self.fail("%s is missing: build the project (tests/scanners) first" % OPES_SCAN)
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(message)
        argv = [OPES_SCAN, "-t", str(timeout_ms)]
        if user is not None:
            argv += ["-u", user]
        start = time.monotonic()
        proc = subprocess.run(argv + [mode, endpoint, path], capture_output=True, timeout=300)
        r = Result(proc, time.monotonic() - start)
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, r.err)
        return r

    def assert_infected(self, r, virus):
        self.assertEqual((r.status, r.result, r.fields.get("virus")), (1, "infected", virus), r)

    def assert_clean(self, r):
        self.assertEqual((r.status, r.result), (0, "clean"), r)

    def assert_error(self, r, pattern):
        self.assertEqual((r.status, r.result), (2, "error"), r)
        self.assertRegex(r.error, pattern)


class ClamdTest(ScanTestCase):
    """One clamd for all: StreamMaxLength 1M (1048576 octets)."""

    @classmethod
    def setUpClass(cls):
        cls.make_tmp()
        try:
            cls.clamd = Clamd(cls.tmp, stream_max_length="1M")
        except Exception:
            cls.remove_tmp()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.clamd.stop()
        cls.remove_tmp()

    def endpoints(self):
        return (("unix", self.clamd.unix), ("tcp", self.clamd.tcp))

    def test_eicar_in_body(self):
        msg = message_with_body(b"Please run this:\r\n" + EICAR + b"\r\nThanks\r\n")
        for kind, ep in self.endpoints():
            with self.subTest(kind):
                self.assert_infected(self.scan("clamd", ep, msg), EICAR_BODY_NAME)

    def test_eicar_as_base64_attachment(self):
        msg = message_with_attachment(EICAR, "eicar.com")
        self.assertNotIn(EICAR, msg)  # only clamd's MIME decoding can find it
        for kind, ep in self.endpoints():
            with self.subTest(kind):
                self.assert_infected(self.scan("clamd", ep, msg), EICAR_BODY_NAME)

    def test_hash_signature_name_of_attachment(self):
        """clam.exe matches only by its SHA-256: the name is that signature's."""
        with open(CLAM_EXE, "rb") as f:
            msg = message_with_attachment(f.read(), "clam.exe")
        for kind, ep in self.endpoints():
            with self.subTest(kind):
                self.assert_infected(self.scan("clamd", ep, msg), CLAM_EXE_NAME)

    def test_clean_mail(self):
        attachment = message_with_attachment(b"just a text file\r\n" * 100, "notes.txt")
        for kind, ep in self.endpoints():
            for name, msg in (("plain", CLEAN), ("attachment", attachment)):
                with self.subTest(kind + " " + name):
                    self.assert_clean(self.scan("clamd", ep, msg))

    def test_empty_message_is_clean(self):
        self.assert_clean(self.scan("clamd", self.clamd.unix, b""))

    def test_virus_after_many_chunks(self):
        """The whole message is streamed: EICAR after 900 KB (14 chunks) is found."""
        msg = message_with_body(filler(900 * 1024) + EICAR + b"\r\n")
        for kind, ep in self.endpoints():
            with self.subTest(kind):
                self.assert_infected(self.scan("clamd", ep, msg), EICAR_BODY_NAME)

    def test_just_under_stream_max_length_is_scanned(self):
        msg = message_with_body(filler(1048576 - 200))
        self.assertLessEqual(len(msg), 1048576)
        for kind, ep in self.endpoints():
            with self.subTest(kind):
                self.assert_clean(self.scan("clamd", ep, msg))

    def test_over_stream_max_length_is_an_error(self):
        """Over StreamMaxLength clamd refuses; never "clean", even with a virus up front."""
        for size in (1048576 + 1, 3 * 1048576):
            msg = message_with_body(EICAR + b"\r\n" + filler(size))
            for kind, ep in self.endpoints():
                with self.subTest("%s %d" % (kind, size)):
                    r = self.scan("clamd", ep, msg)
                    self.assert_error(r, r'error reply "INSTREAM size limit exceeded\. ERROR"')
                    self.assertLess(r.wall, 10)

    def test_buffer_variant(self):
        ep = self.clamd.tcp
        self.assert_infected(self.scan("clamd-buffer", ep, EICAR), EICAR_BODY_NAME)
        with open(CLAM_EXE, "rb") as f:
            self.assert_infected(self.scan("clamd-buffer", ep, f.read()), CLAM_EXE_NAME)
        self.assert_clean(self.scan("clamd-buffer", ep, b"a harmless attachment\r\n"))
        self.assert_error(self.scan("clamd-buffer", ep, filler(1048577)), r"size limit exceeded")

    def test_missing_socket(self):
        r = self.scan("clamd", "unix:" + os.path.join(self.tmp, "no-such.sock"), CLEAN)
        self.assert_error(r, r"^clamd unix:/\S+/no-such\.sock: connect: No such file or directory$")


class ClamdDownTest(ScanTestCase, TempDirTest):
    """clamd that was running and stopped: a clear error, at once."""

    def setUp(self):
        TempDirTest.setUp(self)

    def test_clamd_stopped(self):
        clamd = self.start(Clamd(self.tmp))
        msg = message_with_body(EICAR + b"\r\n")
        self.assert_infected(self.scan("clamd", clamd.unix, msg), EICAR_BODY_NAME)
        clamd.stop()
        r = self.scan("clamd", clamd.unix, msg, timeout_ms=5000)
        self.assert_error(r, r"^clamd unix:\S+: connect: (No such file or directory|Connection refused)$")
        self.assertLess(r.wall, 2)
        r = self.scan("clamd", clamd.tcp, msg, timeout_ms=5000)
        self.assert_error(r, r"^clamd 127\.0\.0\.1:\d+: connect: Connection refused$")
        self.assertLess(r.wall, 2)


class FakeScannerTest(ScanTestCase, TempDirTest):
    """Scanners that misbehave: silence, early verdicts, garbage, hang-ups."""

    def setUp(self):
        TempDirTest.setUp(self)

    def fake(self, **kw):
        return self.start(FakeScanner(**kw))

    def assert_timed_out(self, r, timeout_ms, pattern):
        self.assert_error(r, pattern)
        # the whole exchange is bounded by the timeout, and not cut short before it
        self.assertGreaterEqual(r.ms, timeout_ms - 50, r)
        self.assertLess(r.ms, timeout_ms + 500, r)

    def test_silent_clamd_times_out(self):
        fake = self.fake(reply=None)
        r = self.scan("clamd", fake.tcp, CLEAN, timeout_ms=1500)
        self.assert_timed_out(r, 1500, r"^clamd 127\.0\.0\.1:\d+: timed out waiting for the reply$")
        self.assertGreater(fake.received, len(CLEAN))  # the message did get there

    def test_clamd_that_stops_reading_times_out(self):
        fake = self.fake(reply=None, read=False)
        r = self.scan("clamd", fake.tcp, message_with_body(filler(8 * 1048576)), timeout_ms=1500)
        self.assert_timed_out(r, 1500, r"timed out sending the message$")

    def test_silent_spamd_times_out(self):
        fake = self.fake(reply=None)
        r = self.scan("spamd", fake.tcp, CLEAN, timeout_ms=1500)
        self.assert_timed_out(r, 1500, r"^spamd 127\.0\.0\.1:\d+: timed out waiting for the response$")

    def test_spamd_that_stops_reading_times_out(self):
        fake = self.fake(reply=None, read=False)
        r = self.scan("spamd", fake.tcp, message_with_body(filler(8 * 1048576)), timeout_ms=1500)
        self.assert_timed_out(r, 1500, r"timed out sending the message$")

    def test_clamd_ok_before_the_end_of_the_stream(self):
        """A verdict on part of the message is not a verdict on the message."""
        # the fake stops reading once it has answered: the stream cannot get through
        fake = self.fake(reply=b"stream: OK\0", after_bytes=70000, close=False,
                         read_after_reply=False)
        r = self.scan("clamd", fake.tcp, message_with_body(filler(16 * 1048576)), timeout_ms=3000)
        self.assert_error(r, r"^clamd 127\.0\.0\.1:\d+: verdict before the end of the stream$")

    def test_clamd_malformed_replies(self):
        request = len(CLEAN) + 18  # "zINSTREAM\0", one chunk, the end chunk
        cases = ((b"stream: OK", r"reply cut short \"stream: OK\"$"),  # no NUL, then closed
                 (b"", r"connection closed without a reply$"),
                 (b"stream: ok\0", r"malformed reply \"stream: ok\"$"),
                 (b"UNKNOWN COMMAND\0", r"malformed reply \"UNKNOWN COMMAND\"$"),
                 (b"x" * 2000, r"reply longer than 1024 octets$"))
        for reply, pattern in cases:
            with self.subTest(reply[:20]):
                fake = self.fake(reply=reply, after_bytes=request)
                self.assert_error(self.scan("clamd", fake.tcp, CLEAN), pattern)

    def test_spamd_error_status(self):
        fake = self.fake(reply=b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n")
        r = self.scan("spamd", fake.tcp, CLEAN)
        self.assert_error(r, r'not EX_OK: "76 Bad header line: \(Content-Length mismatch\)"$')

    def test_spamd_hangs_up(self):
        fake = self.fake(reply=b"")
        r = self.scan("spamd", fake.tcp, CLEAN)
        self.assert_error(r, r"connection closed without a response$")


class SpamdTest(ScanTestCase):
    """One spamd for all."""

    @classmethod
    def setUpClass(cls):
        cls.make_tmp()
        try:
            cls.spamd = Spamd(cls.tmp)
        except Exception:
            cls.remove_tmp()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.spamd.stop()
        cls.remove_tmp()

    def read_crlf(self, path):
        with open(path, "rb") as f:
            return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def test_gtube_is_spam(self):
        for user in (None, "alice"):
            with self.subTest(user=user):
                r = self.scan("spamd", self.spamd.tcp, self.read_crlf(GTUBE_MESSAGE), user=user)
                self.assertEqual((r.status, r.result), (1, "spam"), r)
                self.assertGreaterEqual(float(r.fields["score"]), 1000.0)
                self.assertEqual(float(r.fields["threshold"]), 5.0)
                self.assertIn("GTUBE", r.fields["symbols"].split(","))

    def test_normal_message_is_not_spam(self):
        for name, msg in (("sample-nonspam", self.read_crlf(HAM_MESSAGE)), ("minutes", CLEAN)):
            with self.subTest(name):
                r = self.scan("spamd", self.spamd.tcp, msg, user="alice")
                self.assertEqual((r.status, r.result), (0, "ham"), r)
                self.assertLess(float(r.fields["score"]), float(r.fields["threshold"]))
                self.assertNotIn("GTUBE", r.fields["symbols"].split(","))

    def test_empty_and_unterminated_messages_get_an_answer(self):
        """spamd reads lines: these would keep it waiting without our half-close."""
        cases = ((b"", "EMPTY_MESSAGE"),
                 (crlf("Subject: no final line end\n\nlast line") , "MISSING_FROM"))
        for msg, symbol in cases:
            with self.subTest(msg[:20]):
                r = self.scan("spamd", self.spamd.tcp, msg, timeout_ms=10000)
                self.assertIn(r.result, ("spam", "ham"), r)
                self.assertIn(symbol, r.fields["symbols"].split(","))
                self.assertLess(r.wall, 10)

    def test_user_with_control_characters_is_refused(self):
        r = self.scan("spamd", self.spamd.tcp, CLEAN, user="alice\r\nContent-length: 1")
        self.assert_error(r, r"user name too long or with control characters$")



class SpamdDownTest(ScanTestCase, TempDirTest):
    """spamd that was running and stopped: a clear error, at once."""

    def setUp(self):
        TempDirTest.setUp(self)

    def test_spamd_stopped(self):
        spamd = self.start(Spamd(self.tmp))
        self.assertEqual(self.scan("spamd", spamd.tcp, CLEAN).result, "ham")
        spamd.stop()
        r = self.scan("spamd", spamd.tcp, CLEAN, timeout_ms=5000)
        self.assert_error(r, r"^spamd 127\.0\.0\.1:\d+: connect: Connection refused$")
        self.assertLess(r.wall, 2)


if __name__ == "__main__":
    unittest.main()
