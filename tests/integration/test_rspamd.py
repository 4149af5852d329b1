"""The rspamd service against a real rspamd (Debian's 3.4, started privately).

One rspamd serves the whole module (it takes 15-60 s to load); each test
starts its own opesd (Maildir target) with an rspamd service, sends over raw
LMTP and looks at what each recipient got: the reply, the maildir, the
quarantine, the trace records, opesctl trace, and rspamd's own log, which
shows the envelope opesd passed on.
"""
import email.utils
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import opestest as t
from scanners import GTUBE_MESSAGE, FakeScanner, Rspamd

URI = "http://opes.example.org/opes/service/"
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(t.OPESD)))
OPES_SCAN = os.environ.get("OPES_SCAN", os.path.join(BUILD, "tests", "scanners", "opes-scan"))


def gtube_message(extra_headers=""):
    with open(GTUBE_MESSAGE, encoding="utf-8", errors="replace") as f:
        text = f.read()
    head, _, body = text.partition("\n\n")
    return head + "\n" + extra_headers + "\n" + body


def clean_message():
    """A plain message rspamd has nothing against (a date of now: no DATE_IN_FUTURE/PAST)."""
    return ("From: Carol <carol@example.org>\nTo: Alice <alice@example.org>\n"
            "Subject: lunch on Thursday\nDate: %s\nMessage-ID: <lunch-%d@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            "Hello Alice,\n\nsee you at noon at the usual place.\n\nCarol\n"
            % (email.utils.formatdate(), os.getpid()))


class RspamdTest(t.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="opesd-rspamd-")
        os.chmod(cls.shared, 0o755)
        cls.rspamd = Rspamd(cls.shared)

    @classmethod
    def tearDownClass(cls):
        cls.rspamd.stop()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for user in ("alice", "bob"):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.mail, user, sub))

    def start_opesd(self, extra=None):
        cfg = {
            "service.rspamd.type": "rspamd",
            "service.rspamd.address": self.rspamd.tcp,
            "service.rspamd.timeout": "60s",
            # these tests count what reaches the maildirs: no block notifications
            "notify.default_mode": "off",
        }
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % self.mail, extra=cfg))
        return self.opesd

    def send(self, message, rcpts=("alice@example.org",), sender="mallory@remote.example"):
        c = self.client(self.opesd.port, timeout=90)
        c.hello()
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertEqual(code, 250, text)
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>" % r)
            self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.crlf(message) + b".\r\n")
        replies = c.replies(len(rcpts))
        c.cmd("QUIT")
        return replies

    def delivered(self, user):
        d = os.path.join(self.mail, user, "new")
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
        return out

    @staticmethod
    def trace_id(reply_text):
        return reply_text.rsplit("(trace ", 1)[1].rstrip(")")

    def service_record(self, reply_text, rcpt="alice@example.org"):
        """The rspamd service's trace record for rcpt."""
        records = self.opesd.trace(self.trace_id(reply_text))
        found = [r for r in records if r["event"] == "service" and r["service"] == "rspamd"
                 and r["recipient"] == rcpt]
        self.assertEqual(len(found), 1, records)
        return found[0]

    def rspamd_log_line(self, trace_id):
        """rspamd's result line for the scan that opesd made with this queue id."""
        with open(os.path.join(self.rspamd.dir, "rspamd.log"), encoding="utf-8",
                  errors="replace") as f:
            lines = [l for l in f if "rspamd_task_write_log" in l
                     and "qid: <%s>" % trace_id in l]
        self.assertEqual(len(lines), 1, "rspamd logged no scan with qid <%s>" % trace_id)
        return lines[0]

    def test_gtube_held_with_its_symbol_in_the_trace(self):
        self.start_opesd()
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine as", text)
        self.assertIn("by %srspamd" % URI, text)
        self.assertEqual(self.delivered("alice"), [])
        rec = self.service_record(text)
        self.assertEqual(rec["verdict"], "quarantine")
        self.assertIn("reject, score 15.00 / 15.00: GTUBE(0.00)", rec["detail"])
        # the operator's view: opesctl trace ID, and the quarantine entry
        tid = self.trace_id(text)
        out = self.opesd.ctl("trace", tid)[1]
        self.assertIn("GTUBE(0.00)", out)
        qid = text.split("held in quarantine as ")[1].split()[0]
        item = json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
        self.assertEqual((item["service"], item["status"]), ("rspamd", "held"))
        self.assertIn("GTUBE", item["reason"])
        # what the recipient reads: rspamd's score against its own required score
        self.assertEqual(item["words"], "reason.spam;score=15.0;required=15.0")
        # what rspamd was told: the envelope, the client and our trace id
        line = self.rspamd_log_line(tid)
        self.assertIn("from: <mallory@remote.example>", line)
        self.assertIn("rcpts: <alice@example.org>", line)
        self.assertIn("ip: 127.0.0.1", line)
        self.assertIn("GTUBE", line)
        # and the log line names the action, the score and the symbols
        self.assertRegex(self.opesd.read_log(),
                         r'trace=%s service=rspamd action="reject" score=15.00 '
                         r'required=15.00 symbols="GTUBE\(0.00\)"\n' % re.escape(tid))

    def scan(self, message, *args):
        """opes-scan rspamd on message: (exit status, key=value fields)."""
        path = os.path.join(self.tmp, "msg.eml")
        with open(path, "wb") as f:
            f.write(t.crlf(message))
        p = subprocess.run([OPES_SCAN, "-t", "60000"] + list(args) +
                           ["rspamd", self.rspamd.tcp, path], capture_output=True, timeout=300)
        out = p.stdout.decode()
        self.assertEqual(p.stderr, b"")
        return p.returncode, dict(kv.split("=", 1) for kv in out.split())

    def test_client_alone(self):
        """The client without opesd (opes-scan): GTUBE, a clean message, repeated scans."""
        status, f = self.scan(gtube_message())
        self.assertEqual((status, f["result"], f["action"], f["score"], f["required"],
                          f["symbols"]), (1, "spam", "reject", "15.00", "15.00", "GTUBE(0.00)"))
        status, f = self.scan(clean_message(), "-n", "5", "-u", "alice@example.org")
        self.assertEqual((status, f["result"], f["runs"]), (0, "ham", "5"), f)
        self.assertGreater(float(f["ms_per_message"]), 0)

    def test_unix_socket(self):
        self.start_opesd({"service.rspamd.address": self.rspamd.unix})
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine as", text)
        self.assertIn("GTUBE(0.00)", self.service_record(text)["detail"])

    def test_clean_message_delivered(self):
        self.start_opesd()
        (ca, ta), (cb, tb) = self.send(clean_message(), ("alice@example.org", "bob@example.org"),
                                       sender="carol@example.org")
        self.assertEqual((ca, cb), (250, 250), (ta, tb))
        [msg] = self.delivered("alice")
        self.assertEqual(len(self.delivered("bob")), 1)
        self.assertIn(URI + "rspamd; action=pass", t.unfold(msg))
        self.assertNotIn("X-Spam", msg)
        self.assertNotIn("X-Spamd-Result", msg)
        rec = self.service_record(ta)
        self.assertEqual(rec["verdict"], "pass")
        self.assertRegex(rec["detail"], r"^no action, score -?\d+\.\d\d / 15\.00")
        line = self.rspamd_log_line(self.trace_id(ta))
        self.assertIn("rcpts: <alice@example.org,bob@example.org>", line)

    def test_rspamd_down_follows_on_failure(self):
        port = t.free_port()
        self.start_opesd({"service.rspamd.address": "127.0.0.1:%d" % port})
        [(code, text)] = self.send(clean_message())
        self.assertEqual(code, 451, text)
        self.assertIn("rspamd", text)
        self.assertEqual(self.delivered("alice"), [])
        self.assertIn("service=rspamd failed: rspamd 127.0.0.1:%d: " % port,
                      self.opesd.read_log())
        self.opesd.stop()
        self.start_opesd({"service.rspamd.address": "127.0.0.1:%d" % port,
                          "service.rspamd.on_failure": "pass"})
        [(code, text)] = self.send(clean_message())
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered("alice")), 1)
        self.assertIn("rspamd 127.0.0.1:%d" % port, self.service_record(text)["detail"])
        self.opesd.stop()
        self.start_opesd({"service.rspamd.address": "127.0.0.1:%d" % port,
                          "service.rspamd.on_failure": "quarantine"})
        [(code, text)] = self.send(clean_message())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine as", text)

    def test_silent_or_garbled_rspamd_is_a_failure(self):
        """No answer within the timeout, or one that is not rspamd's: never a verdict."""
        for reply, error in ((None, "timed out waiting for the response"),
                             (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
                              "reply is not a JSON object"),
                             (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"action\"",
                              "response cut short"),
                             (b"SPAMD/1.1 0 EX_OK\r\n\r\n", "malformed status line")):
            fake = FakeScanner(reply=reply, after_bytes=1)
            try:
                self.start_opesd({"service.rspamd.address": fake.tcp,
                                  "service.rspamd.timeout": "2s"})
                [(code, text)] = self.send(clean_message())
                self.assertEqual(code, 451, text)
                self.assertIn("service=rspamd failed: rspamd %s: %s" % (fake.tcp, error),
                              self.opesd.read_log())
                self.opesd.stop()
            finally:
                fake.stop()
        self.assertEqual(self.delivered("alice"), [])

    def test_many_symbols_cut_at_whole_ones(self):
        """A long list: the trace record, the header field and the log stay bounded."""
        symbols = ",".join('"SYMBOL_%03d":{"name":"SYMBOL_%03d","score":%d.25}' % (i, i, 300 - i)
                           for i in range(300))
        body = ('{"is_skipped":false,"score":44.5,"required_score":15.0,"action":"add header",'
                '"symbols":{%s}}' % symbols).encode()
        fake = FakeScanner(reply=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body), after_bytes=1)
        try:
            self.start_opesd({"service.rspamd.address": fake.tcp,
                              "service.rspamd.add_headers": "yes"})
            [(code, text)] = self.send(clean_message())
        finally:
            fake.stop()
        self.assertEqual(code, 250, text)
        detail = self.service_record(text)["detail"]
        self.assertLess(len(detail), 256)
        self.assertTrue(detail.startswith("add header, score 44.50 / 15.00: SYMBOL_000(300.25) "
                                          "SYMBOL_001(299.25) "), detail)
        self.assertRegex(detail, r"\) \(\+\d+ more\)$")
        [msg] = self.delivered("alice")
        head = msg.split("\n\n", 1)[0]
        field = re.search(r"^X-Spamd-Result: .*\n(?:\t.*\n)*", head + "\n", re.M).group(0)
        lines = field.rstrip("\n").split("\n")
        self.assertGreater(len(lines), 5)
        self.assertTrue(all(len(l) <= 78 for l in lines), lines)
        self.assertTrue(lines[0].startswith(
            "X-Spamd-Result: default: True [44.50 / 15.00]; SYMBOL_000(300.25)"), lines[0])
        self.assertTrue(lines[-1].endswith(")"), lines[-1])
        self.assertIn("\nX-Spam: Yes\n", head)
        log = self.opesd.read_log()
        self.assertRegex(log, r'service=rspamd action="add header" score=44.50 required=15.00 '
                              r'symbols="SYMBOL_000\(300.25\) [^"]*\)" more=\d+\n')

    def test_add_headers_only_when_asked(self):
        # GTUBE tagged instead of held, so that the fields reach the mailbox
        self.start_opesd({"service.rspamd.on_reject": "tag"})
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        [msg] = self.delivered("alice")
        head = t.unfold(msg.split("\n\n", 1)[0])
        self.assertIn("\nX-Spam: Yes\n", head)
        self.assertNotIn("X-Spamd-Result", head)
        self.assertIn(URI + "rspamd; action=tag", head)
        self.opesd.stop()
        self.start_opesd({"service.rspamd.on_reject": "tag",
                          "service.rspamd.add_headers": "yes"})
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        msg = self.delivered("alice")[1]
        head = msg.split("\n\n", 1)[0]
        self.assertIn("\nX-Spamd-Result: default: True [15.00 / 15.00]; GTUBE(0.00)\n", head)
        # nothing for a message that rspamd lets pass
        [(code, text)] = self.send(clean_message(), sender="carol@example.org")
        self.assertEqual(code, 250, text)
        self.assertNotIn("X-Spam", self.delivered("alice")[2])

    def test_action_mapping_and_recipient_action(self):
        self.start_opesd({"service.rspamd.recipient_action": "bob@example.org=reject"})
        (ca, ta), (cb, tb) = self.send(gtube_message(), ("alice@example.org", "bob@example.org"))
        self.assertEqual(ca, 250, ta)
        self.assertIn("held in quarantine as", ta)
        self.assertEqual(cb, 550, tb)
        self.assertIn("blocked by %srspamd" % URI, tb)
        self.opesd.stop()
        # rspamd's reject mapped to tempfail
        self.start_opesd({"service.rspamd.on_reject": "tempfail"})
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 451, text)
        self.assertEqual(self.delivered("alice") + self.delivered("bob"), [])

    def test_over_max_size_passes_unscanned_and_traced(self):
        self.start_opesd({"service.rspamd.max_size": "512"})
        message = gtube_message()
        self.assertGreater(len(message), 512)
        [(code, text)] = self.send(message)
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered("alice")), 1)
        rec = self.service_record(text)
        self.assertEqual(rec["verdict"], "unscannable")
        self.assertIn("not scanned: larger than max_size (512) (on_unscannable=pass)",
                      rec["detail"])
        self.opesd.stop()
        # the operator may hold what rspamd never saw
        self.start_opesd({"service.rspamd.max_size": "512",
                          "service.rspamd.on_unscannable": "quarantine"})
        [(code, text)] = self.send(message)
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)
        self.assertEqual(len(self.delivered("alice")), 1)

    def test_bad_configuration_is_reported(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[service.r1]\ntype = rspamd\non_reject = junk\n"
                    "[service.r2]\ntype = rspamd\naddress = 127.0.0.1:11333\nadd_header = yes\n")
        p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:3: service.r1.on_reject: expected pass, tag, quarantine, reject or "
                      "tempfail" % conf, p.stderr)
        self.assertIn("service.r1.type: rspamd needs address", p.stderr)
        self.assertIn("%s:7: service.r2.add_header: unknown key (rspamd takes address" % conf,
                      p.stderr)


if __name__ == "__main__":
    unittest.main()
