"""opesd in front of a faulty store: Postfix's smtp-sink with its fault flags,
and, for malformed replies only, a small scripted LMTP server.

What the MTA must see: a store's per-recipient answer relayed to that
recipient with its code; a store that disconnects, says 421 or hangs gives
451 4.4.x to every recipient (never a 2xx, never a 421 in the middle of a
session); a reply that is not "ddd[ -]text" becomes 451 4.4.0. opesd keeps
serving afterwards.
"""
import os
import re
import socket
import threading
import time
import unittest

from opestest import Lmtp, Opesd, SmtpSink, TempDirTest, lf, stuff

SYSTEM_URI = "http://opes.example.org/opes"
TRACE_RE = re.compile(r" \(trace ([0-9a-z]+)\)$")
RCPTS = ["alice@example.org", "bob@example.org"]
MESSAGE = (b"From: Sender <sender@example.net>\r\n"
           b"To: alice@example.org, bob@example.org\r\n"
           b"Subject: to a faulty store\r\n"
           b"\r\n"
           b".leading dot\r\n"
           b"8-bit: caf\xe9\r\n"
           b"last line\r\n")


CheckedTest = TempDirTest  # sanitizer and exit checks live in opestest

class FakeLmtp:
    """A scripted LMTP store that answers one recipient, at one stage, with a bad line.

    stage: "greeting" (the 220 is bad), "rcpt" (bad_rcpt's RCPT reply is bad) or
    "dot" (bad_rcpt's reply after the final dot is bad). Records the recipients
    it confirmed with 250 after the dot.
    """

    def __init__(self, stage, bad_line, bad_rcpt="bob@example.org"):
        self.stage, self.bad_line, self.bad_rcpt = stage, bad_line, bad_rcpt
        self.delivered = []
        self.lock = threading.Lock()
        self.conns = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        f = conn.makefile("rb")
        try:
            self.session(conn, f)
        except OSError:
            pass
        finally:
            f.close()
            conn.close()

    def bad(self):
        return self.bad_line.encode("latin-1") + b"\r\n"

    def session(self, conn, f):
        conn.sendall(self.bad() if self.stage == "greeting" else b"220 fake.test LMTP\r\n")
        rcpts = []
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"LHLO":
                conn.sendall(b"250-fake.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
                             b"250 8BITMIME\r\n")
            elif verb == b"MAIL":
                rcpts = []
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                addr = re.search(rb"<([^>]*)>", line).group(1).decode()
                if self.stage == "rcpt" and addr == self.bad_rcpt:
                    conn.sendall(self.bad())
                else:
                    rcpts.append(addr)
                    conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    conn.sendall(b"503 5.5.1 No valid recipients\r\n")
                    continue
                conn.sendall(b"354 Go ahead\r\n")
                while True:
                    data = f.readline()
                    if not data or data == b".\r\n":
                        break
                if not data:
                    return
                out = b""
                for r in rcpts:
                    if self.stage == "dot" and r == self.bad_rcpt:
                        out += self.bad()
                    else:
                        out += b"250 2.0.0 <%s> Saved\r\n" % r.encode()
                        with self.lock:
                            self.delivered.append(r)
                conn.sendall(out)
                rcpts = []
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:  # RSET, NOOP
                conn.sendall(b"250 2.0.0 Ok\r\n")

    def stop(self):
        self.listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return 0


class SinkTest(CheckedTest):

    # ---------------------------------------------------------------- helpers

    def opesd_for(self, port, extra=None):
        return self.start(Opesd(self.tmp, "lmtp:127.0.0.1:%d" % port, extra))

    def sink(self, *flags):
        return self.start(SmtpSink(self.tmp, list(flags)))

    def trace_id(self, text):
        m = TRACE_RE.search(text)
        self.assertIsNotNone(m, "no trace id in reply %r" % text)
        return m.group(1)

    def begin(self, c, rcpts=RCPTS, mail_params=""):
        """MAIL and RCPTs; returns (trace id, RCPT replies)."""
        mail = c.cmd("MAIL FROM:<sender@example.net>%s" % mail_params)
        self.assertEqual(mail[0], 250, mail)
        return self.trace_id(mail[1]), [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]

    def finish(self, c, naccepted, message=MESSAGE):
        """DATA, the message and the replies after the dot."""
        data = c.cmd("DATA")
        self.assertEqual(data[0], 354, data)
        c.send(stuff(message))
        return c.replies(naccepted)

    def assert_tempfail(self, replies, tid, enh=r"4\.4\.\d"):
        for code, text in replies:
            self.assertRegex(text, r"^451 %s " % enh)
            self.assertEqual(self.trace_id(text), tid)

    def assert_still_serving(self, c, o):
        """The session and opesd itself go on after the failure."""
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        other = self.client(o.port)
        other.hello()
        self.assertEqual(other.cmd("QUIT")[0], 221)

    def fault(self, flags, stage):
        """Two recipients through a sink with flags; every one must get 451 4.4.x."""
        sink = self.sink(*flags)
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        if stage == "rcpt":
            self.assert_tempfail(rcpt, tid)
            data = c.cmd("DATA")
            self.assertEqual(data[0], 503, data)
        else:
            self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
            self.assert_tempfail(self.finish(c, 2), tid)
        self.assert_still_serving(c, o)

    def dumps(self, sink, ending, timeout=10):
        """The transactions smtp-sink dumped, once one of them ends with ending."""
        deadline = time.time() + timeout
        while True:
            out = []
            for n in sorted(os.listdir(sink.dump)):
                with open(os.path.join(sink.dump, n), "rb") as f:
                    out.append(f.read())
            if any(d.endswith(ending) for d in out) or time.time() > deadline:
                return out
            time.sleep(0.05)

    # ---------------------------------------------------------------- cases

    def test_forwarded_as_sent(self):
        sink = self.sink()
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c, mail_params=" BODY=8BITMIME XOPES-BYPASS=*")
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        final = self.finish(c, 2)
        self.assertEqual([r[0] for r in final], [250, 250], final)
        for _, text in final:
            self.assertEqual(self.trace_id(text), tid)
        dumps = [d for d in self.dumps(sink, lf(MESSAGE) + b"\n") if b"X-Rcpt-Args" in d]
        self.assertEqual(len(dumps), 1)
        dump = dumps[0]
        mail_args = re.search(rb"^X-Mail-Args: (.*)$", dump, re.M).group(1)
        self.assertTrue(mail_args.startswith(b"<sender@example.net>"), mail_args)
        self.assertIn(b"BODY=8BITMIME", mail_args)
        self.assertNotIn(b"XOPES", dump.split(b"\nReceived: ")[0], "bypass request forwarded")
        self.assertEqual(re.findall(rb"^X-Rcpt-Args: (.*)$", dump, re.M),
                         [b"<alice@example.org>", b"<bob@example.org>"])
        self.assertTrue(dump.endswith(lf(MESSAGE) + b"\n"), dump)
        self.assertIn(b"\nOPES-System: %s; trace=%s\n" % (SYSTEM_URI.encode(), tid.encode()),
                      dump)

    def test_rcpt_hard_failure_relayed(self):
        sink = self.sink("-f", "rcpt", "-B", "550 5.1.1 No such user here")
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        for code, text in rcpt:
            self.assertEqual(text, "550 5.1.1 No such user here (trace %s)" % tid)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assert_still_serving(c, o)

    def test_rcpt_soft_failure_relayed(self):
        sink = self.sink("-r", "rcpt", "-b", "452 4.2.2 Mailbox full")
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        for code, text in rcpt:
            self.assertEqual(text, "452 4.2.2 Mailbox full (trace %s)" % tid)
        self.assertEqual(c.cmd("DATA")[0], 503)

    def test_soft_failure_after_dot_relayed_per_recipient(self):
        sink = self.sink("-r", ".", "-b", "452 4.2.2 Mailbox full, try again later")
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        final = self.finish(c, 2)
        self.assertEqual([t for _, t in final],
                         ["452 4.2.2 Mailbox full, try again later (trace %s)" % tid] * 2)
        self.assert_still_serving(c, o)

    def test_hard_failure_after_dot_relayed_per_recipient(self):
        sink = self.sink("-f", ".", "-B", "554 5.6.0 Content refused by the store")
        o = self.opesd_for(sink.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        final = self.finish(c, 2)
        self.assertEqual([t for _, t in final],
                         ["554 5.6.0 Content refused by the store (trace %s)" % tid] * 2)

    def test_disconnect_gives_451_to_every_recipient(self):
        for command, stage in (("connect", "rcpt"), ("lhlo", "rcpt"), ("mail", "rcpt"),
                               ("rcpt", "rcpt"), ("data", "dot"), (".", "dot")):
            with self.subTest(disconnect_after=command):
                self.fault(["-q", command], stage)

    def test_421_gives_451_to_every_recipient(self):
        for command, stage in (("connect", "rcpt"), ("lhlo", "rcpt"), ("mail", "rcpt"),
                               ("rcpt", "rcpt"), ("data", "dot"), (".", "dot")):
            with self.subTest(reply_421_after=command):
                self.fault(["-Q", command], stage)

    def hang(self, flags, extra):
        sink = self.sink(*flags)
        o = self.opesd_for(sink.port, extra)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(stuff(MESSAGE))
        started = time.time()
        # while this message waits for the store, another session is served
        other = self.client(o.port)
        other.hello()
        other_tid, other_rcpt = self.begin(other, ["alice@example.org"])
        self.assertEqual(other_rcpt[0][0], 250, other_rcpt)
        self.assertLess(time.time() - started, 2.5, "a hanging store blocks other sessions")
        c.s.settimeout(20)
        try:
            final = c.replies(2)
        except socket.timeout:
            self.fail("no reply within 20 s of the dot; opesd log:\n" + o.read_log()[-4000:])
        elapsed = time.time() - started
        self.assert_tempfail(final, tid, r"4\.4\.2")
        self.assertGreater(elapsed, 2.0)
        self.assertLess(elapsed, 10.0, "the processing budget was not enforced")
        self.assertEqual(other.cmd("RSET")[0], 250)
        # the same session goes on
        tid2, rcpt = self.begin(c)
        self.assertNotEqual(tid2, tid)
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_store_hangs_after_the_dot(self):
        self.hang(["-W", ".:30"], {"downstream.data_done_timeout": "3s",
                                   "lmtp.processing_timeout": "3s"})

    def test_store_hangs_after_the_dot_processing_budget(self):
        # the store's own end-of-data timeout is long: the processing budget cuts it
        self.hang(["-W", ".:30"], {"downstream.data_done_timeout": "600s",
                                   "lmtp.processing_timeout": "3s"})

    def test_store_hangs_after_data(self):
        self.hang(["-w", "30"], {"lmtp.processing_timeout": "3s"})

    def test_malformed_reply_gives_451_4_4_0(self):
        bad_lines = ["250Saved", "25 ok", "2.0.0 Saved", "", "Saved", "2500 2.0.0 Saved",
                     "650 6.0.0 no such class", "250-first line\r\n251 2.0.0 other code"]
        for stage in ("dot", "rcpt"):
            fake = self.start(FakeLmtp(stage, ""))
            o = self.opesd_for(fake.port)
            c = self.client(o.port)
            c.hello()
            for bad in bad_lines:
                with self.subTest(stage=stage, reply=bad):
                    fake.bad_line = bad
                    before = len(fake.delivered)
                    tid, rcpt = self.begin(c)
                    self.assertEqual(rcpt[0][0], 250, rcpt)
                    if stage == "rcpt":
                        # bob's bad RCPT reply: 451 4.4.0 for bob, alice still delivered
                        self.assert_tempfail(rcpt[1:], tid, r"4\.4\.0")
                        final = self.finish(c, 1)
                        self.assertRegex(final[0][1], r"^250 2\.0\.0 <alice@example\.org> Saved")
                    else:
                        self.assertEqual(rcpt[1][0], 250, rcpt)
                        final = self.finish(c, 2)
                        self.assertRegex(final[0][1], r"^250 2\.0\.0 <alice@example\.org> Saved")
                        self.assert_tempfail(final[1:], tid, r"4\.4\.0")
                    self.assertEqual(fake.delivered[before:], ["alice@example.org"])
                    self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_malformed_greeting_gives_451_4_4_0(self):
        fake = self.start(FakeLmtp("greeting", "220fake.test"))
        o = self.opesd_for(fake.port)
        c = self.client(o.port)
        c.hello()
        tid, rcpt = self.begin(c)
        self.assert_tempfail(rcpt, tid, r"4\.4\.0")
        self.assertEqual(fake.delivered, [])


if __name__ == "__main__":
    unittest.main()
