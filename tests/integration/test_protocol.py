"""test_protocol - opesd's LMTP server side, as scripted raw-socket sessions.

One or more tests per item 1-13 of the protocol checklist (RFC 2033, RFC 5321,
RFC 2920, SMTP smuggling). Mail goes to a Maildir target (maildir:TMP/mail/%u;
a user exists when TMP/mail/<user>/new exists), so no external store is needed;
the items about the downstream (5, 11) also use a small scripted LMTP store
written below. Every test also checks that opesd's log holds no sanitizer
report and that opesd exits 0 on SIGTERM.
"""
import hashlib
import os
import re
import socket
import subprocess
import threading
import time
import unittest

from opestest import OPESD, Lmtp, Opesd, TempDirTest, crlf, free_port

TRACE_RE = re.compile(r" \(trace ([0-9a-z]+)\)$")


def wait_for(predicate, timeout=10.0, step=0.05):
    """Poll predicate until it is true or timeout passes; its last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(step)


class OpesdCase(TempDirTest):
    """A test with opesd delivering into TMP/mail/<user> Maildirs."""

    users = ("alice", "bob", "carol")

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for user in self.users:
            self.add_user(user)
        self.opesd = None
        self.clients = []

    # ------------------------------------------------------------ helpers

    def add_user(self, user):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.mail, user, sub), exist_ok=True)

    def start_opesd(self, extra=None, target=None):
        self.opesd = self.start(Opesd(self.tmp, target or "maildir:%s/%%u" % self.mail, extra))
        return self.opesd

    def connect(self, timeout=30):
        c = Lmtp(self.opesd.port, timeout=timeout)
        self.clients.append(c)
        return c

    def session(self, timeout=30):
        """A connection past the greeting and LHLO."""
        c = self.connect(timeout)
        c.hello()
        return c

    def message_files(self, user):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, user, sub)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return out

    def messages(self, user):
        """Delivered messages of user (Maildir files hold LF line ends)."""
        out = []
        for path in self.message_files(user):
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def log(self):
        return self.opesd.read_log()

    def assertReply(self, reply, code, enh=None):
        got, text = reply
        self.assertEqual(got, code, text)
        if enh is not None:
            for line in text.split("\n"):
                self.assertTrue(line.startswith("%d%s%s " % (code, line[3:4], enh)),
                                "expected %d %s, got %r" % (code, enh, text))

    def trace_of(self, reply):
        m = TRACE_RE.search(reply[1])
        self.assertIsNotNone(m, "no (trace <id>) at the end of %r" % reply[1])
        return m.group(1)

    def send_mail(self, c, rcpts, data, sender="sender@example.net", params=""):
        """MAIL, RCPT..., DATA and the content; returns (rcpt replies, final replies)."""
        self.assertReply(c.cmd("MAIL FROM:<%s>%s" % (sender, params)), 250, "2.1.0")
        rreplies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        ok = sum(1 for r in rreplies if r[0] // 100 == 2)
        self.assertGreater(ok, 0, rreplies)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(data + b".\r\n")
        return rreplies, c.replies(ok)


def simple_message(subject="test", body="hello\n"):
    return crlf("From: sender@example.net\nTo: alice@example.org\nSubject: %s\n\n%s"
                % (subject, body))


# ==================================================================== 1


class Greeting(OpesdCase):
    """Item 1: greeting 220, LHLO only, MAIL before LHLO is 503."""

    def test_greeting_is_220_with_hostname(self):
        self.start_opesd()
        c = self.connect()
        code, text = c.reply()
        self.assertEqual(code, 220, text)
        self.assertIn("opes.test", text)
        self.assertIn("LMTP", text)

    def test_helo_and_ehlo_get_500_5_5_1(self):
        self.start_opesd()
        c = self.connect()
        c.reply()
        self.assertReply(c.cmd("HELO client.test"), 500, "5.5.1")
        self.assertReply(c.cmd("EHLO client.test"), 500, "5.5.1")
        self.assertReply(c.cmd("helo client.test"), 500, "5.5.1")
        # neither opened a session: MAIL is still out of order, LHLO still works
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 503, "5.5.1")
        self.assertReply(c.cmd("LHLO client.test"), 250)
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250, "2.1.0")

    def test_mail_before_lhlo_is_503_5_5_1(self):
        self.start_opesd()
        c = self.connect()
        c.reply()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 503, "5.5.1")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        # NOOP is fine before LHLO, and nothing was delivered
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(self.messages("alice"), [])


# ==================================================================== 2


class Capabilities(OpesdCase):
    """Item 2: the LHLO keyword list."""

    def lhlo(self, extra=None):
        self.start_opesd(extra)
        c = self.connect()
        c.reply()
        code, text = c.cmd("LHLO client.test")
        self.assertEqual(code, 250, text)
        lines = text.split("\n")
        for line in lines[:-1]:
            self.assertTrue(line.startswith("250-"), text)
        self.assertTrue(lines[-1].startswith("250 "), text)
        self.assertEqual(lines[0][4:].split()[0], "opes.test")
        return c, [l[4:].strip() for l in lines[1:]]

    def test_lhlo_lists_required_keywords(self):
        c, kw = self.lhlo({"lmtp.max_message_size": "64K"})
        words = [k.split()[0].upper() for k in kw]
        for required in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE", "XOPES-BYPASS",
                         "XFORWARD"):
            self.assertIn(required, words, kw)
        self.assertIn("SIZE 65536", kw)
        xforward = [k for k in kw if k.upper().startswith("XFORWARD")][0].split()[1:]
        for attr in ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"):
            self.assertIn(attr, xforward)

    def test_lhlo_never_lists_dsn_or_binarymime(self):
        c, kw = self.lhlo()
        words = [k.split()[0].upper() for k in kw]
        self.assertNotIn("DSN", words)
        self.assertNotIn("BINARYMIME", words)

    def test_chunking_only_when_bdat_works(self):
        c, kw = self.lhlo()
        words = [k.split()[0].upper() for k in kw]
        if "CHUNKING" in words:
            # RFC 3030: BDAT with LAST ends the message
            self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
            data = simple_message("bdat")
            c.send(b"BDAT %d LAST\r\n" % len(data) + data)
            self.assertReply(c.reply(), 250)
            self.assertEqual(len(self.messages("alice")), 1)
        else:
            self.assertReply(c.cmd("BDAT 10 LAST"), 500, "5.5.2")
            self.assertReply(c.cmd("NOOP"), 250)

    def test_8bitmime_only_when_store_has_it(self):
        for eightbit in (True, False):
            with self.subTest(store_8bitmime=eightbit):
                store = FakeStore(eightbit=eightbit)
                self.addCleanup(store.stop)
                self.start_opesd(target="lmtp:127.0.0.1:%d" % store.port)
                c = self.connect()
                c.reply()
                code, text = c.cmd("LHLO client.test")
                self.assertEqual(code, 250, text)
                words = [l[4:].split()[0].upper() for l in text.split("\n")[1:]]
                if eightbit:
                    self.assertIn("8BITMIME", words)
                    self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME"), 250)
                else:
                    self.assertNotIn("8BITMIME", words)
                    self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME"), 555, "5.5.4")
                    self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=7BIT"), 250)

    def test_binarymime_refused(self):
        c, kw = self.lhlo()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=BINARYMIME"), 555, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503)

    def test_size_keyword_follows_config(self):
        c, kw = self.lhlo({"lmtp.max_message_size": "10M"})
        self.assertIn("SIZE 10485760", kw)


# ==================================================================== 3


class CommandErrors(OpesdCase):
    """Item 3: sequence, limit, parameter and syntax errors."""

    def test_rcpt_before_mail_is_503(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250, "2.1.5")

    def test_data_without_accepted_rcpt_is_503(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("RCPT TO:<nobody@example.org>"), 550, "5.1.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        # the 503 DATA did not start a message: the next line is a command again
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)

    def test_more_than_max_recipients_is_452_and_first_100_delivered(self):
        users = ["u%03d" % i for i in range(101)]
        for u in users:
            self.add_user(u)
        self.start_opesd({"lmtp.max_recipients": "100"})
        c = self.session()
        batch = "MAIL FROM:<a@example.net>\r\n" + "".join(
            "RCPT TO:<%s@example.org>\r\n" % u for u in users)
        c.send(batch)
        self.assertReply(c.reply(), 250)
        rcpt = c.replies(101)
        for r in rcpt[:100]:
            self.assertReply(r, 250, "2.1.5")
        self.assertReply(rcpt[100], 452, "4.5.3")
        self.assertReply(c.cmd("DATA"), 354)
        c.send(simple_message("many") + b".\r\n")
        final = c.replies(100)
        for u, r in zip(users, final):
            self.assertReply(r, 250)
            self.assertIn("<%s@example.org>" % u, r[1])
        self.assertReply(c.cmd("NOOP"), 250)
        for u in users[:100]:
            self.assertEqual(len(self.messages(u)), 1, u)
        self.assertEqual(self.messages(users[100]), [])

    def test_unknown_mail_parameter_is_555(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> FOO=BAR"), 555, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> RET=FULL"), 555, "5.5.4")
        # no transaction was opened by the refused MAIL
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME SIZE=100"), 250)

    def test_bad_size_value_is_501(self):
        """SIZE is a known parameter: a malformed value is a syntax error (RFC 1870)."""
        self.start_opesd()
        c = self.session()
        for bad in ("SIZE=12x", "SIZE=abc", "SIZE=", "SIZE", "SIZE=-1"):
            with self.subTest(param=bad):
                self.assertReply(c.cmd("MAIL FROM:<a@example.net> %s" % bad), 501, "5.5.4")
                self.assertReply(c.cmd("RSET"), 250)

    def test_unknown_rcpt_parameter_is_555(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org> NOTIFY=SUCCESS"), 555, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<bob@example.org> FOO"), 555, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<carol@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(simple_message() + b".\r\n")
        # one final reply: only carol was accepted
        self.assertReply(c.reply(), 250)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(self.messages("alice"), [])
        self.assertEqual(self.messages("bob"), [])
        self.assertEqual(len(self.messages("carol")), 1)

    def test_orcpt_accepted_and_kept_though_dsn_is_not_advertised(self):
        """RFC 3461 4.2: ORCPT is kept with its recipient for a DSN's Original-Recipient."""
        self.start_opesd()
        c = self.connect()
        c.reply()
        code, text = c.cmd("LHLO client.test")
        self.assertNotIn("DSN", [l[4:].split()[0].upper() for l in text.split("\n")[1:]])
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        for bad in ("ORCPT", "ORCPT=alice@example.org", "ORCPT=rfc822;a+0Db@example.org",
                    "ORCPT=rfc822;a+2", "ORCPT=rfc822;" + "a" * 494):
            self.assertReply(c.cmd("RCPT TO:<alice@example.org> %s" % bad), 501, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org> ORCPT=rfc822;Old+2BAlice@example.org"),
                         250)
        self.assertReply(c.cmd("RCPT TO:<bob@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(simple_message() + b".\r\n")
        alice, bob = c.reply(), c.reply()
        self.assertReply(alice, 250)
        self.assertReply(bob, 250)
        records = self.opesd.trace(self.trace_of(alice))
        orcpt = [(r["recipient"], r["detail"]) for r in records if r["event"] == "orcpt"]
        self.assertEqual(orcpt, [("alice@example.org", "rfc822;Old+Alice@example.org")])

    def test_bad_syntax_is_501_5_5_4(self):
        self.start_opesd()
        c = self.connect()
        c.reply()
        self.assertReply(c.cmd("LHLO"), 501, "5.5.4")
        self.assertReply(c.cmd("LHLO client.test"), 250)
        for bad in ("MAIL FROM:a@example.net", "MAIL FROM:<a@example.net", "MAIL TO:<a@example.net>",
                    "MAIL FROM:<a@@example.net>", "MAIL"):
            self.assertReply(c.cmd(bad), 501, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        for bad in ("RCPT TO:<>", "RCPT TO:alice@example.org", "RCPT FROM:<alice@example.org>",
                    "RCPT TO:<alice@example.org>junk"):
            self.assertReply(c.cmd(bad), 501, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA now"), 501, "5.5.4")
        self.assertReply(c.cmd("DATA"), 354)

    def test_unknown_command_is_500_5_5_2(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("FOO bar"), 500, "5.5.2")
        self.assertReply(c.cmd("STARTTLS"), 500, "5.5.2")
        self.assertReply(c.cmd("EXPN staff"), 500, "5.5.2")
        self.assertReply(c.cmd("NOOP"), 250)


# ==================================================================== 4


class FinalReplies(OpesdCase):
    """Item 4: one reply per accepted RCPT after the dot, in RCPT order."""

    def test_one_reply_per_rcpt_in_order_with_duplicates(self):
        self.start_opesd()
        c = self.session()
        rcpts = ["alice@example.org", "bob@example.org", "nobody@example.org",
                 "alice@example.org", "carol@example.org", "bob@example.org"]
        rr, final = self.send_mail(c, rcpts, simple_message("order"))
        self.assertEqual([r[0] for r in rr], [250, 250, 550, 250, 250, 250])
        self.assertEqual(len(final), 5)
        accepted = [r for r, rep in zip(rcpts, rr) if rep[0] == 250]
        for addr, reply in zip(accepted, final):
            self.assertReply(reply, 250)
            self.assertIn("<%s>" % addr, reply[1])
        # no sixth reply is pending: the next reply is NOOP's
        self.assertEqual(c.cmd("NOOP")[1], "250 2.0.0 Ok")
        # a duplicate recipient is one mailbox: one copy each
        for user in ("alice", "bob", "carol"):
            self.assertEqual(len(self.messages(user)), 1, user)

    def test_mixed_outcomes_keep_rcpt_order(self):
        """Item 5 too: a recipient whose store fails gets a 4xx, the others 250."""
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        for r in ("alice", "bob", "carol"):
            self.assertReply(c.cmd("RCPT TO:<%s@example.org>" % r), 250)
        # bob's mailbox goes away between RCPT and the end of data
        os.rename(os.path.join(self.mail, "bob"), os.path.join(self.mail, "bob.gone"))
        self.assertReply(c.cmd("DATA"), 354)
        c.send(simple_message("mixed") + b".\r\n")
        final = c.replies(3)
        self.assertReply(final[0], 250)
        self.assertIn("<alice@example.org>", final[0][1])
        self.assertEqual(final[1][0] // 100, 4, final[1])
        self.assertIn("<bob@example.org>", final[1][1])
        self.assertReply(final[2], 250)
        self.assertIn("<carol@example.org>", final[2][1])
        self.assertEqual(len(self.messages("alice")), 1)
        self.assertEqual(len(self.messages("carol")), 1)
        self.assertEqual(os.listdir(os.path.join(self.mail, "bob.gone", "new")), [])


# ==================================================================== 5


class FakeStore:
    """A scripted LMTP mailbox store on a loopback port.

    on_dot: "ok" (250 per recipient), "quota-bob" (bob gets 452 4.2.2),
    "close" (the connection is dropped after the content), "hang" (no answer
    after the content until the store is stopped).
    """

    def __init__(self, on_dot="ok", eightbit=True):
        self.on_dot = on_dot
        self.eightbit = eightbit
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.messages = []
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            f = conn.makefile("rb")
            conn.sendall(b"220 fake.store LMTP ready\r\n")
            rcpts = []
            while not self.stopped.is_set():
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"LHLO":
                    conn.sendall(b"250-fake.store\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
                                 + (b"250-8BITMIME\r\n" if self.eightbit else b"")
                                 + b"250 SIZE 100000000\r\n")
                elif verb == b"MAIL":
                    rcpts = []
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line[line.index(b"<") + 1:line.index(b">")].decode())
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 Go ahead\r\n")
                    body = []
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        body.append(l)
                    self.messages.append((list(rcpts), b"".join(body)))
                    if self.on_dot == "close":
                        conn.close()
                        return
                    if self.on_dot == "hang":
                        self.stopped.wait(60)
                        return
                    for r in rcpts:
                        if self.on_dot == "quota-bob" and r.startswith("bob@"):
                            conn.sendall(b"452 4.2.2 <%s> Mailbox is full\r\n" % r.encode())
                        else:
                            conn.sendall(b"250 2.0.0 <%s> Saved\r\n" % r.encode())
                    rcpts = []
                elif verb == b"RSET":
                    rcpts = []
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def stop(self):
        self.stopped.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)
        return 0


class DownstreamOutcomes(OpesdCase):
    """Item 5: 2xx only after the store said 2xx; our own trouble is a per-recipient 4xx."""

    def store(self, on_dot):
        s = FakeStore(on_dot)
        self.addCleanup(s.stop)
        return s

    def test_store_unreachable_is_451_4_4_1(self):
        self.start_opesd(target="lmtp:127.0.0.1:%d" % free_port())
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 451, "4.4.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")

    def test_store_answers_relayed_per_recipient(self):
        s = self.store("quota-bob")
        self.start_opesd(target="lmtp:127.0.0.1:%d" % s.port)
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"], simple_message())
        self.assertReply(final[0], 250)
        self.assertReply(final[1], 452, "4.2.2")
        self.assertIn("full", final[1][1])
        self.assertEqual(len(s.messages), 1)

    def test_store_breaks_after_content_is_4xx_for_all(self):
        s = self.store("close")
        self.start_opesd(target="lmtp:127.0.0.1:%d" % s.port)
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"], simple_message())
        for r in final:
            self.assertReply(r, 451, "4.4.2")
        self.assertReply(c.cmd("NOOP"), 250)


# ==================================================================== 6 and 7

SMUGGLE_VARIANTS = ["\n.\n", "\r.\r", "\r.\n", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\n.\r", "\r.\r\n",
                    "\n\r.\r\n", "\r\n.\n\r\n"]
HIDDEN = ("MAIL FROM:<evil@x>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
          "From: evil@x\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")


def smuggling_message(variant):
    return (b"From: sender@example.net\r\nSubject: innocent\r\n\r\nhello" + variant.encode()
            + HIDDEN.encode())


class Smuggling(OpesdCase):
    """Item 6: only CRLF.CRLF ends the data; item 7: bare CR/LF rejected or normalised."""

    def test_fake_terminators_rejected_by_default(self):
        self.start_opesd()
        for variant in SMUGGLE_VARIANTS:
            with self.subTest(variant=variant):
                c = self.session()
                rr, final = self.send_mail(c, ["alice@example.org", "carol@example.org"],
                                           smuggling_message(variant))
                self.assertEqual(len(final), 2)
                for r in final:
                    self.assertReply(r, 554, "5.6.0")
                # nothing else was answered: no hidden MAIL/RCPT/DATA ran
                self.assertEqual(c.cmd("NOOP")[1], "250 2.0.0 Ok")
                self.assertReply(c.cmd("QUIT"), 221)
                c.close()
        for user in ("alice", "bob", "carol"):
            self.assertEqual(self.messages(user), [], user)
        self.assertNotIn("evil@x", self.log())

    def test_fake_terminators_are_content_when_normalising(self):
        self.start_opesd({"lmtp.bare_line_ends": "normalize"})
        for variant in SMUGGLE_VARIANTS:
            with self.subTest(variant=variant):
                before = len(self.messages("alice"))
                c = self.session()
                rr, final = self.send_mail(c, ["alice@example.org"], smuggling_message(variant))
                self.assertEqual(len(final), 1)
                self.assertReply(final[0], 250)
                self.assertEqual(c.cmd("NOOP")[1], "250 2.0.0 Ok")
                c.close()
                msgs = self.messages("alice")
                self.assertEqual(len(msgs), before + 1)
                got = msgs[-1]
                self.assertIn(b"MAIL FROM:<evil@x>\n", got)
                self.assertIn(b"RCPT TO:<bob@example.org>\n", got)
                self.assertIn(b"smuggled body\n", got)
                # the bare line ends were normalised: no CR survives into the store
                self.assertNotIn(b"\r", got)
        self.assertEqual(self.messages("bob"), [])
        self.assertNotIn("from=<evil@x>", self.log())

    def test_restuffed_towards_lmtp_store(self):
        """Dot lines are stuffed again on the way to the store, so it sees one message each."""
        store = FakeStore("ok")
        self.addCleanup(store.stop)
        self.start_opesd({"lmtp.bare_line_ends": "normalize"},
                         target="lmtp:127.0.0.1:%d" % store.port)
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org"],
                                   crlf("Subject: dots\n\n..\n..x\nend\n"))
        self.assertReply(final[0], 250)
        for variant in SMUGGLE_VARIANTS:
            with self.subTest(variant=variant):
                rr, final = self.send_mail(c, ["alice@example.org"], smuggling_message(variant))
                self.assertReply(final[0], 250)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(len(store.messages), 1 + len(SMUGGLE_VARIANTS))
        rcpts, raw = store.messages[0]
        self.assertTrue(raw.endswith(b"Subject: dots\r\n\r\n..\r\n..x\r\nend\r\n"), raw)
        for rcpts, raw in store.messages:
            self.assertEqual(rcpts, ["alice@example.org"])
        for rcpts, raw in store.messages[1:]:
            self.assertIn(b"\r\nMAIL FROM:<evil@x>\r\n", raw)
            self.assertTrue(raw.endswith(b"smuggled body\r\n"), raw)
            self.assertNotIn(b"\r\n.\r\n", raw)

    def test_bare_lf_and_cr_rejected_per_recipient(self):
        self.start_opesd()
        c = self.session()
        for data in (b"Subject: lf\r\n\r\nline one\nline two\r\n",
                     b"Subject: cr\r\n\r\nline one\rline two\r\n",
                     b"Subject: lf in header\nX: y\r\n\r\nbody\r\n"):
            rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"], data)
            for r in final:
                self.assertReply(r, 554, "5.6.0")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(self.messages("alice"), [])
        self.assertEqual(self.messages("bob"), [])

    def test_bare_lf_normalised_when_configured(self):
        self.start_opesd({"lmtp.bare_line_ends": "normalize"})
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org"],
                                   b"Subject: lf\r\n\r\none\ntwo\rthree\r\n")
        self.assertReply(final[0], 250)
        got = self.messages("alice")[0]
        self.assertTrue(got.endswith(b"Subject: lf\n\none\ntwo\nthree\n"), got)

    def test_nul_in_data_is_554_5_6_0(self):
        self.start_opesd()
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"],
                                   b"Subject: nul\r\n\r\nbefore\x00after\r\n")
        for r in final:
            self.assertReply(r, 554, "5.6.0")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(self.messages("alice"), [])
        self.assertEqual(self.messages("bob"), [])

    def test_nul_rejected_even_when_normalising(self):
        self.start_opesd({"lmtp.bare_line_ends": "normalize"})
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org"], b"Subject: nul\r\n\r\na\x00b\r\n")
        self.assertReply(final[0], 554, "5.6.0")
        self.assertEqual(self.messages("alice"), [])

    def test_dot_unstuffing(self):
        self.start_opesd()
        c = self.session()
        data = crlf("Subject: dots\n\n..x\n..\n...\n.. leading\nx.y\n.\tz\nend\n")
        rr, final = self.send_mail(c, ["alice@example.org"], data)
        self.assertReply(final[0], 250)
        got = self.messages("alice")[0]
        self.assertTrue(got.endswith(b"Subject: dots\n\n.x\n.\n..\n. leading\nx.y\n\tz\nend\n"),
                        got)

    def test_terminator_split_across_writes(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        for piece in (b"Subject: split\r\n\r\nbody\r", b"\n", b".", b"\r", b"\n"):
            c.send(piece)
            time.sleep(0.1)
        self.assertReply(c.reply(), 250)
        self.assertTrue(self.messages("alice")[0].endswith(b"\n\nbody\n"))


# ==================================================================== 8


class Limits(OpesdCase):
    """Item 8: command line, text line, size and bad-command limits."""

    def test_command_line_limit_4096(self):
        self.start_opesd()
        c = self.session()
        ok = "NOOP " + "x" * (4096 - 7)  # 4096 octets with CRLF
        self.assertReply(c.cmd(ok), 250)
        self.assertReply(c.cmd("NOOP " + "x" * 5000), 500, "5.5.2")
        self.assertReply(c.cmd("NOOP"), 250)

    def test_overlong_line_beyond_read_buffer_resynchronises(self):
        self.start_opesd()
        c = self.session()
        c.send(b"MAIL FROM:<" + b"a" * 300000 + b"@example.net>\r\nNOOP\r\n")
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.reply(), 250)
        # the long MAIL did not open a transaction
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503)
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)

    def test_long_body_lines_pass_intact(self):
        self.start_opesd()
        c = self.session()
        lines = [b"y" * 1001, bytes(range(33, 127)) * 60, b"z" * 200000]
        data = b"Subject: long\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
        rr, final = self.send_mail(c, ["alice@example.org"], data)
        self.assertReply(final[0], 250)
        got = self.messages("alice")[0]
        self.assertTrue(got.endswith(b"Subject: long\n\n" + b"\n".join(lines) + b"\n"))

    def test_mail_size_over_limit_is_552(self):
        self.start_opesd({"lmtp.max_message_size": "64K"})
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> SIZE=65537"), 552, "5.3.4")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503)
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> SIZE=65536"), 250)

    def test_data_over_limit_is_552_per_recipient_after_the_dot(self):
        self.start_opesd({"lmtp.max_message_size": "64K"})
        c = self.session()
        big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 1000
        self.assertGreater(len(big), 65536)
        rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"], big,
                                   params=" SIZE=1000")
        for r in final:
            self.assertReply(r, 552, "5.3.4")
        self.assertEqual(self.messages("alice"), [])
        self.assertEqual(self.messages("bob"), [])
        # the session is still usable and in sync
        self.assertReply(c.cmd("NOOP"), 250)
        rr, final = self.send_mail(c, ["alice@example.org"], simple_message("small"))
        self.assertReply(final[0], 250)
        self.assertEqual(len(self.messages("alice")), 1)

    def test_size_limit_boundary(self):
        """RFC 1870: the size is the message octets with CRLFs, without stuffing and the dot."""
        self.start_opesd({"lmtp.max_message_size": "64K"})
        c = self.session()
        head = b"Subject: edge\r\n\r\n"
        line = b".x" + b"y" * 76 + b"\r\n"  # 80 octets, sent stuffed as 81
        fill = 65536 - len(head)
        exact = head + line * (fill // len(line)) + b"z" * (fill % len(line) - 2) + b"\r\n"
        self.assertEqual(len(exact), 65536)
        wire = exact.replace(b"\r\n.", b"\r\n..")
        rr, final = self.send_mail(c, ["alice@example.org"], wire)
        self.assertReply(final[0], 250)
        over = exact[:-2] + b"z\r\n"
        rr, final = self.send_mail(c, ["bob@example.org"], over.replace(b"\r\n.", b"\r\n.."))
        self.assertReply(final[0], 552, "5.3.4")
        self.assertEqual(len(self.messages("alice")), 1)
        self.assertEqual(self.messages("bob"), [])

    def test_too_many_bad_commands_is_421_and_close(self):
        self.start_opesd()
        c = self.session()
        for _ in range(19):
            self.assertReply(c.cmd("BOGUS"), 500, "5.5.2")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("BOGUS"), 500, "5.5.2")
        self.assertReply(c.reply(), 421, "4.7.0")
        self.assertTrue(c.closed())


# ==================================================================== 9


class SessionCommands(OpesdCase):
    """Item 9: RSET, NOOP, VRFY, QUIT."""

    def test_rset_drops_transaction_keeps_connection(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("RSET"), 250, "2.0.0")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        rr, final = self.send_mail(c, ["bob@example.org"], simple_message("after rset"))
        self.assertEqual(len(final), 1)
        self.assertReply(final[0], 250)
        self.assertEqual(self.messages("alice"), [])
        self.assertEqual(len(self.messages("bob")), 1)

    def test_lhlo_inside_transaction_resets_it(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("LHLO client.test"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)

    def test_noop_and_vrfy(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("NOOP"), 250, "2.0.0")
        self.assertReply(c.cmd("VRFY alice"), 252, "2.5.2")
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("VRFY bob"), 252, "2.5.2")
        # neither disturbed the transaction
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)

    def test_quit_is_221_then_close(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("QUIT"), 221, "2.0.0")
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")


# ==================================================================== 10


class Pipelining(OpesdCase):
    """Item 10 (RFC 2920): replies in order, nothing lost."""

    def test_whole_session_in_one_write(self):
        self.start_opesd()
        c = self.connect()
        m1 = simple_message("first", "one\n")
        m2 = simple_message("second", "two\n")
        c.send(b"LHLO client.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" + m1 +
               b".\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + m2 +
               b".\r\nQUIT\r\n")
        expected = [(220, None), (250, None), (250, "2.1.0"), (250, "2.1.5"), (550, "5.1.1"),
                    (250, "2.1.5"), (354, None), (250, None), (250, None), (250, "2.1.0"),
                    (250, "2.1.5"), (354, None), (250, None), (221, "2.0.0")]
        got = c.replies(len(expected))
        for (code, enh), reply in zip(expected, got):
            self.assertReply(reply, code, enh)
        self.assertIn("<alice@example.org>", got[7][1])
        self.assertIn("<bob@example.org>", got[8][1])
        self.assertTrue(c.closed())
        alice = self.messages("alice")
        self.assertEqual(len(alice), 2)
        self.assertTrue(any(m.endswith(b"\n\none\n") for m in alice))
        self.assertTrue(any(m.endswith(b"\n\ntwo\n") for m in alice))
        self.assertEqual(len(self.messages("bob")), 1)

    def test_many_pipelined_commands_all_answered_in_order(self):
        self.start_opesd()
        c = self.session()
        n = 3000
        c.send("".join("NOOP\r\n" if i % 2 else "VRFY x%d\r\n" % i for i in range(n)) + "QUIT\r\n")
        for i in range(n):
            self.assertReply(c.reply(), 250 if i % 2 else 252)
        self.assertReply(c.reply(), 221)

    def test_replies_flushed_when_input_runs_dry(self):
        self.start_opesd()
        c = self.session(timeout=5)
        c.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n")
        for _ in range(3):
            self.assertReply(c.reply(), 250)


# ==================================================================== 11


class Timeouts(OpesdCase):
    """Item 11: idle, data and processing time limits."""

    def test_default_idle_timeout_at_least_5_minutes(self):
        cfg = os.path.join(self.tmp, "t.conf")
        with open(cfg, "w") as f:
            f.write("[downstream]\ntarget = maildir:%s/%%u\n" % self.mail)
        out = subprocess.run([OPESD, "-t", "-c", cfg], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.search(r"^command_timeout = (\d+)s$", out.stdout, re.M)
        self.assertIsNotNone(m, out.stdout)
        self.assertGreaterEqual(int(m.group(1)), 300)
        m = re.search(r"^processing_timeout = (\d+)s$", out.stdout, re.M)
        self.assertLess(int(m.group(1)), 600)

    def test_idle_client_gets_421_and_close(self):
        self.start_opesd({"lmtp.command_timeout": "2s"})
        c = self.session()
        start = time.time()
        code, text = c.reply()
        elapsed = time.time() - start
        self.assertEqual(code, 421, text)
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 10)
        self.assertTrue(c.closed())

    def test_slow_loris_command_is_cut_off(self):
        """command_timeout bounds a whole command line, not each wait for a byte."""
        self.start_opesd({"lmtp.command_timeout": "2s"})
        c = self.session()
        start = time.time()
        for ch in b"NOOP and some more text to send slowly\r\n":
            try:
                c.send(bytes([ch]))
            except OSError:
                break
            if c.closed(timeout=0.5):
                break
        elapsed = time.time() - start
        self.assertTrue(c.closed(timeout=5))
        self.assertLess(elapsed, 6, "a client sending a byte every half second held its slot")
        self.assertTrue(c.buf.startswith(b"421 4.4.2"), c.buf)

    def test_trickled_data_is_cut_off_and_not_delivered(self):
        """min_data_rate: a body sent a byte now and then does not hold a session forever."""
        self.start_opesd({"lmtp.data_timeout": "2s", "lmtp.min_data_rate": "100"})
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        start = time.time()
        for ch in b"Subject: trickle\r\n\r\n" + b"x" * 60:
            try:
                c.send(bytes([ch]))
            except OSError:
                break
            if c.closed(timeout=0.3):
                break
        self.assertTrue(c.closed(timeout=5))
        self.assertLess(time.time() - start, 10, "a trickling client held its session")
        self.assertTrue(c.buf.startswith(b"421 4.4.2"), c.buf)
        self.assertEqual(self.messages("alice"), [])
        self.assertTrue(wait_for(lambda: "rcpt=<alice@example.org> action=deferred stage=data "
                                 "reply=\"421 4.4.2 Timeout during DATA" in self.log(), 10),
                        self.log())

    def test_stalled_data_is_closed_and_not_delivered(self):
        self.start_opesd({"lmtp.data_timeout": "2s"})
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\npartial body\r\n")
        start = time.time()
        self.assertTrue(c.closed(timeout=15))
        self.assertGreaterEqual(time.time() - start, 1.5)
        if c.buf:
            self.assertTrue(c.buf.startswith(b"421 "), c.buf)
        self.assertEqual(self.messages("alice"), [])
        # later clients are served
        c2 = self.session()
        rr, final = self.send_mail(c2, ["alice@example.org"], simple_message("next"))
        self.assertReply(final[0], 250)
        self.assertEqual(len(self.messages("alice")), 1)

    def test_client_gone_during_data_delivers_nothing(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(b"Subject: cut\r\n\r\nthe first part\r\n")
        c.close()
        self.assertTrue(wait_for(lambda: "during DATA" in self.log(), 10), self.log())
        self.assertEqual(self.messages("alice"), [])
        # one final line for the recipient, even so
        self.assertTrue(wait_for(lambda: "rcpt=<alice@example.org> action=deferred stage=data "
                                 "reply=\"421 4.4.2 Connection lost during DATA" in self.log(),
                                 10), self.log())
        c2 = self.session()
        rr, final = self.send_mail(c2, ["alice@example.org"], simple_message("next"))
        self.assertReply(final[0], 250)
        self.assertEqual(len(self.messages("alice")), 1)

    def test_slow_store_hits_processing_budget(self):
        store = FakeStore("hang")
        self.addCleanup(store.stop)
        self.start_opesd({"lmtp.processing_timeout": "2s"},
                         target="lmtp:127.0.0.1:%d" % store.port)
        c = self.session()
        start = time.time()
        rr, final = self.send_mail(c, ["alice@example.org", "bob@example.org"], simple_message())
        self.assertLess(time.time() - start, 15)
        for r in final:
            self.assertReply(r, 451, "4.4.2")


# ==================================================================== 12


class TraceFields(OpesdCase):
    """Item 12: Received prepended, existing trace fields untouched."""

    def test_received_prepended_with_trace_id(self):
        self.start_opesd()
        c = self.session()
        original = ("Received: from mx.example.net by relay.example.net;\n"
                    "\tMon, 1 Jan 2024 00:00:01 +0000\n"
                    "Return-Path: <x@example.net>\n"
                    "Received: from a (b [192.0.2.1]) by c; Sun, 31 Dec 2023 23:59:59 +0000\n"
                    "Subject: trace\nFrom: x@example.net\n\nbody\n")
        r = c.cmd("MAIL FROM:<a@example.net>")
        self.assertReply(r, 250)
        mail_trace = self.trace_of(r)
        r = c.cmd("RCPT TO:<alice@example.org>")
        self.assertReply(r, 250)
        self.assertEqual(self.trace_of(r), mail_trace)
        r = c.cmd("DATA")
        self.assertReply(r, 354)
        self.assertEqual(self.trace_of(r), mail_trace)
        c.send(crlf(original) + b".\r\n")
        final = c.reply()
        self.assertReply(final, 250)
        self.assertEqual(self.trace_of(final), mail_trace)
        got = self.messages("alice")[0]
        self.assertTrue(got.endswith(original.encode()), got)
        added = got[:-len(original)].decode()
        self.assertTrue(added.startswith("Received: from client.test "), added)
        self.assertEqual(added.count("Received:"), 1)
        self.assertRegex(added, r"with LMTP id %s\b" % mail_trace)
        self.assertRegex(added, r"\(\S* ?\[127\.0\.0\.1\]\)")
        self.assertIn("OPES-System: ", added)
        # replies outside a transaction carry no trace id
        self.assertIsNone(TRACE_RE.search(c.cmd("NOOP")[1]))

    def test_invalid_utf8_address_is_553_5_6_7(self):
        self.start_opesd()
        c = self.session()

        def raw(line):
            c.send(line + b"\r\n")
            return c.reply()
        self.assertReply(raw(b"MAIL FROM:<j\xc3rg@example.net> SMTPUTF8"), 553, "5.6.7")
        self.assertReply(raw(b"MAIL FROM:<j\xc3\xb6rg@example.net> SMTPUTF8"), 250)
        self.assertReply(raw(b"RCPT TO:<al\xffice@example.org>"), 553, "5.6.7")
        self.assertReply(raw(b"RCPT TO:<\xe0\x80\xafx@example.org>"), 553, "5.6.7")
        self.assertReply(raw(b"RCPT TO:<alice@example.org>"), 250)

    def test_utf8lmtp_under_smtputf8(self):
        self.start_opesd()
        c = self.session()
        rr, final = self.send_mail(c, ["alice@example.org"], simple_message("utf8"),
                                   params=" SMTPUTF8")
        self.assertReply(final[0], 250)
        got = self.messages("alice")[0].decode()
        self.assertRegex(got.split("\n\n")[0], r"with UTF8LMTP id [0-9a-z]+")


# ==================================================================== 13


class Xforward(OpesdCase):
    """Item 13: XFORWARD from trusted peers, outside a transaction."""

    def test_xforward_used_in_received_and_log(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("XFORWARD NAME=mx+2Eexample.net ADDR=192.0.2.7 PORT=41234"), 250)
        self.assertReply(c.cmd("XFORWARD PROTO=ESMTP HELO=sender.example.net IDENT=abc SOURCE=REMOTE"),
                         250)
        rr, final = self.send_mail(c, ["alice@example.org"], simple_message("xf"))
        self.assertReply(final[0], 250)
        got = self.messages("alice")[0].decode()
        received = got.split("\nOPES-System:")[0]
        self.assertRegex(received, r"^Received: from sender\.example\.net "
                                   r"\(mx\.example\.net \[192\.0\.2\.7\]\)")
        self.assertIn("client=192.0.2.7", self.log())
        self.assertIn("helo=sender.example.net", self.log())

    def test_xforward_unavailable_values_fall_back(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.8 HELO=[UNAVAILABLE]"), 250)
        rr, final = self.send_mail(c, ["alice@example.org"], simple_message("xf"))
        got = self.messages("alice")[0].decode()
        self.assertRegex(got, r"^Received: from client\.test \(\S+ \[192\.0\.2\.8\]\)")
        self.assertNotIn("UNAVAILABLE", got)

    def test_xforward_not_from_untrusted_peer(self):
        self.start_opesd({"lmtp.xforward_hosts": "10.9.9.9"})
        c = self.connect()
        c.reply()
        code, text = c.cmd("LHLO client.test")
        self.assertEqual(code, 250)
        self.assertNotIn("XFORWARD", text)
        self.assertReply(c.cmd("XFORWARD ADDR=192.0.2.7"), 550, "5.7.0")
        rr, final = self.send_mail(c, ["alice@example.org"], simple_message("xf"))
        got = self.messages("alice")[0].decode()
        self.assertNotIn("192.0.2.7", got)
        self.assertRegex(got, r"^Received: from client\.test \(\S+ \[127\.0\.0\.1\]\)")

    def test_xforward_inside_transaction_is_503(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<a@example.net>"), 250)
        self.assertReply(c.cmd("XFORWARD ADDR=192.0.2.7"), 503, "5.5.1")
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("XFORWARD ADDR=192.0.2.7"), 503, "5.5.1")
        self.assertReply(c.cmd("DATA"), 354)
        c.send(simple_message("xf") + b".\r\n")
        self.assertReply(c.reply(), 250)
        self.assertNotIn(b"192.0.2.7", self.messages("alice")[0])

    def test_xforward_bad_attribute_is_501(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("XFORWARD COLOUR=blue"), 501, "5.5.4")
        self.assertReply(c.cmd("XFORWARD"), 501, "5.5.4")
        self.assertReply(c.cmd("XFORWARD NAME=a+zz"), 501, "5.5.4")

    def test_xforward_lasts_one_transaction(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("XFORWARD ADDR=192.0.2.7 HELO=first.example.net"), 250)
        self.send_mail(c, ["alice@example.org"], simple_message("one"))
        self.send_mail(c, ["bob@example.org"], simple_message("two"))
        self.assertIn(b"[192.0.2.7]", self.messages("alice")[0])
        bob = self.messages("bob")[0]
        self.assertNotIn(b"192.0.2.7", bob)
        self.assertTrue(bob.startswith(b"Received: from client.test "), bob)


# ==================================================================== big message


class BigMessage(OpesdCase):
    """A 50 MB message arrives byte for byte (after CRLF -> LF)."""

    SIZE = 50 * 1024 * 1024

    def chunks(self):
        """(wire bytes, expected stored bytes) chunks, generated as they go."""
        head = b"X-Test-Start: big\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        yield head, head.replace(b"\r\n", b"\n")
        pad = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\t\xc3\xa9\xe2\x82\xac"
        sent, i = len(head), 0
        while sent < self.SIZE:
            wire, stored = [], []
            for _ in range(8192):
                k = i % len(pad)
                line = b"%09d " % i + pad[k:] + pad[:k]
                if i % 997 == 0:
                    line = b"." + line  # stored as .NNN, sent stuffed as ..NNN
                    wire.append(b"." + line + b"\r\n")
                else:
                    wire.append(line + b"\r\n")
                stored.append(line + b"\n")
                i += 1
            w = b"".join(wire)
            sent += len(w)
            yield w, b"".join(stored)

    def test_50mb_message_intact(self):
        self.start_opesd()
        c = self.session(timeout=300)
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME SIZE=%d" % self.SIZE), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        want = hashlib.sha256()
        total = 0
        for wire, stored in self.chunks():
            c.send(wire)
            want.update(stored)
            total += len(stored)
        c.send(b".\r\n")
        self.assertReply(c.reply(), 250)
        files = self.message_files("alice")
        self.assertEqual(len(files), 1)
        got = hashlib.sha256()
        with open(files[0], "rb") as f:
            head = f.read(65536)
            start = head.find(b"X-Test-Start: big\n")
            self.assertGreater(start, 0, head[:500])
            self.assertTrue(head.startswith(b"Received: "))
            got.update(head[start:])
            n = len(head) - start
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                got.update(block)
                n += len(block)
        self.assertGreaterEqual(total, 49 * 1024 * 1024)
        self.assertEqual(n, total)
        self.assertEqual(got.hexdigest(), want.hexdigest())


if __name__ == "__main__":
    unittest.main()
