"""test_daemon - opesd as a process: listeners, connection limit, signals, -t.

Unix-socket listener and its mode, max_connections, SIGTERM (idle and in the
middle of DATA), SIGHUP reloads (good and broken configuration) and the
configuration check `opesd -t`. Mail goes to a Maildir target
(maildir:TMP/mail/%u). Every test also checks that opesd's log holds no
sanitizer report.
"""
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest

from opestest import SANITIZER_MARKS, OPESD, Lmtp, Opesd, TempDirTest, crlf, wait_unix

OLD_URI = "http://opes.example.org/opes"
NEW_URI = "http://policy.example.org/opes-v2"


def wait_for(predicate, timeout=10.0, step=0.05):
    """Poll predicate until it is true or timeout passes; its last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(step)


def message(subject="test", body="hello\n"):
    return crlf("From: sender@example.net\nTo: alice@example.org\nSubject: %s\n\n%s"
                % (subject, body))


class DaemonCase(TempDirTest):
    """opesd delivering into TMP/mail/<user> Maildirs."""

    users = ("alice", "bob")

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for user in self.users:
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.mail, user, sub))
        self.opesd = None
        self.clients = []

    def start_opesd(self, extra=None, listen=None):
        self.opesd = self.start(Opesd(self.tmp, "maildir:%s/%%u" % self.mail, extra, listen))
        return self.opesd

    def connect(self, unix=None, timeout=30):
        c = Lmtp(self.opesd.port, unix=unix, timeout=timeout)
        self.clients.append(c)
        return c

    def session(self, unix=None):
        c = self.connect(unix)
        c.hello()
        return c

    def messages(self, user):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, user, sub)
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
        return out

    def deliver(self, c, rcpt, data):
        """One message to one recipient on an open session; the final reply."""
        code, text = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 250, text)
        code, text = c.cmd("RCPT TO:<%s>" % rcpt)
        self.assertEqual(code, 250, text)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 354, text)
        c.send(data + b".\r\n")
        return c.reply()

    def assertReply(self, reply, code, enh=None):
        self.assertEqual(reply[0], code, reply[1])
        if enh is not None:
            self.assertTrue(reply[1].startswith("%d %s " % (code, enh)), reply[1])

    def log(self):
        return self.opesd.read_log()

    def exit_code(self, timeout=20):
        try:
            return self.opesd.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("opesd still running %ds after SIGTERM; log:\n%s" % (timeout, self.log()))

    def refused(self):
        """True when nothing accepts on opesd's TCP port any more."""
        try:
            with socket.create_connection(("127.0.0.1", self.opesd.port), timeout=2):
                return False
        except OSError:
            return True


class UnixListener(DaemonCase):
    def test_unix_socket_serves_lmtp_with_configured_mode(self):
        path = os.path.join(self.tmp, "lmtp.sock")
        self.start_opesd({"lmtp.socket_mode": "0600"}, listen="unix:" + path)
        wait_unix(path)
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        c = self.connect(unix=path)
        code, text = c.reply()
        self.assertEqual(code, 220, text)
        code, text = c.cmd("LHLO client.test")
        self.assertEqual(code, 250, text)
        self.assertIn("XFORWARD", text)  # "unix" is a trusted peer by default
        final = self.deliver(c, "alice@example.org", message("over unix"))
        self.assertReply(final, 250)
        got = self.messages("alice")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(b"Received: from client.test"), got[0])
        self.assertTrue(got[0].endswith(b"\n\nhello\n"))
        self.assertReply(c.cmd("QUIT"), 221)
        # SIGTERM removes the socket file
        self.opesd.signal(signal.SIGTERM)
        self.assertEqual(self.exit_code(), 0)
        self.assertFalse(os.path.exists(path))

    def test_socket_mode_default_0660(self):
        path = os.path.join(self.tmp, "lmtp.sock")
        self.start_opesd(listen="unix:" + path)
        wait_unix(path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o660)


class ConnectionLimit(DaemonCase):
    def test_third_connection_refused_first_two_keep_working(self):
        self.start_opesd({"lmtp.max_connections": "2"})
        # the start-up probe that waited for the port held a slot until it was seen closed
        self.assertTrue(wait_for(lambda: " disconnect " in self.log(), 10), self.log())
        c1 = self.session()
        c2 = self.session()
        c3 = self.connect()
        self.assertReply(c3.reply(), 421, "4.3.2")
        self.assertTrue(c3.closed())
        self.assertReply(self.deliver(c1, "alice@example.org", message("one")), 250)
        self.assertReply(self.deliver(c2, "bob@example.org", message("two")), 250)
        self.assertEqual(len(self.messages("alice")), 1)
        self.assertEqual(len(self.messages("bob")), 1)
        self.assertIn("max_connections", self.log())
        # once a session ends, its slot is free again
        self.assertReply(c1.cmd("QUIT"), 221)
        self.assertTrue(c1.closed())

        def slot_free():
            c = Lmtp(self.opesd.port, timeout=10)
            try:
                ok = c.reply()[0] == 220
                if ok:
                    c.cmd("QUIT")
                return ok
            except (EOFError, OSError):
                return False
            finally:
                c.close()
        self.assertTrue(wait_for(slot_free, 10, 0.2))
        self.assertReply(c2.cmd("NOOP"), 250)


class Concurrency(DaemonCase):
    def test_parallel_sessions_all_delivered(self):
        self.start_opesd()
        errors = []

        def client(n):
            try:
                c = Lmtp(self.opesd.port, timeout=60)
                try:
                    c.hello()
                    for k in range(5):
                        user = "alice" if (n + k) % 2 else "bob"
                        final = self.deliver(c, "%s@example.org" % user,
                                             message("s%d-m%d" % (n, k), "n=%d k=%d\n" % (n, k)))
                        if final[0] != 250:
                            errors.append(final)
                    c.cmd("QUIT")
                finally:
                    c.close()
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        got = self.messages("alice") + self.messages("bob")
        self.assertEqual(len(got), 150)
        bodies = sorted(m.rsplit(b"\n\n", 1)[1] for m in got)
        self.assertEqual(bodies, sorted(b"n=%d k=%d\n" % (n, k) for n in range(30)
                                        for k in range(5)))


class Stop(DaemonCase):
    def test_sigterm_idle_session_gets_421_and_exit_0(self):
        self.start_opesd()
        c = self.session()
        self.opesd.signal(signal.SIGTERM)
        self.assertReply(c.reply(), 421, "4.3.2")
        self.assertTrue(c.closed())
        self.assertEqual(self.exit_code(), 0)
        self.assertTrue(self.refused())

    def test_sigterm_during_data_finishes_the_message(self):
        self.start_opesd()
        c = self.session()
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(b"From: sender@example.net\r\nSubject: in flight\r\n\r\nfirst half\r\n")
        time.sleep(0.3)
        self.opesd.signal(signal.SIGTERM)
        # no new connections, but the message in flight goes on
        self.assertTrue(wait_for(self.refused, 5, 0.1))
        time.sleep(0.5)
        self.assertIsNone(self.opesd.p.poll(), "opesd exited in the middle of DATA")
        c.send(b"second half\r\n.\r\n")
        self.assertReply(c.reply(), 250)
        got = self.messages("alice")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].endswith(b"Subject: in flight\n\nfirst half\nsecond half\n"), got[0])
        # then the session is closed and the process ends
        code, text = c.reply()
        self.assertEqual(code, 421, text)
        self.assertTrue(c.closed())
        self.assertEqual(self.exit_code(), 0)


class Reload(DaemonCase):
    def rewrite_config(self, old, new):
        with open(self.opesd.config) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.opesd.config, "w") as f:
            f.write(text.replace(old, new))

    def opes_system(self, msg):
        m = re.search(rb"^OPES-System: (\S+);", msg, re.M)
        self.assertIsNotNone(m, msg)
        return m.group(1).decode()

    def test_sighup_applies_new_system_uri(self):
        self.start_opesd()
        early = self.session()  # a session opened before the reload
        self.assertReply(self.deliver(self.session(), "alice@example.org", message("before")), 250)
        self.assertEqual(self.opes_system(self.messages("alice")[0]), OLD_URI)
        pid = self.opesd.pid
        self.rewrite_config("system_uri = " + OLD_URI, "system_uri = " + NEW_URI)
        self.opesd.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in self.log(), 10), self.log())
        self.assertIsNone(self.opesd.p.poll())
        self.assertEqual(self.opesd.pid, pid)
        self.assertReply(self.deliver(self.session(), "bob@example.org", message("after")), 250)
        self.assertEqual(self.opes_system(self.messages("bob")[0]), NEW_URI)
        # the session that was open across the reload keeps working
        self.assertReply(self.deliver(early, "alice@example.org", message("early")), 250)
        self.assertEqual(len(self.messages("alice")), 2)

    def test_sighup_with_broken_config_keeps_old_one(self):
        self.start_opesd()
        self.rewrite_config("system_uri = " + OLD_URI,
                            "system_uri = " + NEW_URI + "\nno_such_key = 1")
        self.rewrite_config("[lmtp]\n", "[lmtp]\nmax_recipients = 5\n")
        self.opesd.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload failed" in self.log(), 10), self.log())
        self.assertIsNone(self.opesd.p.poll())
        self.assertIn("no_such_key", self.log())
        self.assertReply(self.deliver(self.session(), "alice@example.org", message("kept")), 250)
        self.assertEqual(self.opes_system(self.messages("alice")[0]), OLD_URI)


class ConfigCheck(DaemonCase):
    def run_check(self, text, name="opesd.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        out = subprocess.run([OPESD, "-t", "-c", path], capture_output=True, text=True, timeout=60)
        for marker in SANITIZER_MARKS:
            self.assertNotIn(marker, out.stderr)
        return path, out

    @staticmethod
    def parse(stdout):
        """The printed configuration as {section: {key: value}}."""
        sections, current = {}, None
        for line in stdout.splitlines():
            if not line.strip():
                continue
            m = re.match(r"^\[([a-z_]+)\]$", line)
            if m:
                current = sections.setdefault(m.group(1), {})
                continue
            key, sep, value = line.partition(" = ")
            if not sep:
                key, sep, value = line.partition(" =")
            assert sep and current is not None, "unexpected line %r" % line
            current[key] = value
        return sections

    def test_good_config_prints_effective_values(self):
        spool = os.path.join(self.tmp, "spool")
        path, out = self.run_check(
            "[opes]\nsystem_uri = https://opes.example.org/policy\n"
            "[lmtp]\nlisten = 127.0.0.1:2525\nhostname = mx.example.org\n"
            "max_message_size = 10M\ncommand_timeout = 5m\nsocket_mode = 600\n"
            "max_recipients = 250\nbare_line_ends = normalize\nspool_dir = %s\n"
            "[downstream]\ntarget = maildir:%s/%%u\nmaildir_create = yes\n"
            "[log]\nlevel = debug\n" % (spool, self.mail), "good.conf")
        self.assertEqual(out.returncode, 0, out.stderr)
        cfg = self.parse(out.stdout)
        for section in ("opes", "lmtp", "downstream", "log"):
            self.assertIn(section, cfg, out.stdout)
        self.assertEqual(cfg["opes"]["system_uri"], "https://opes.example.org/policy")
        lmtp = cfg["lmtp"]
        self.assertEqual(lmtp["listen"], "127.0.0.1:2525")
        self.assertEqual(lmtp["hostname"], "mx.example.org")
        self.assertEqual(lmtp["max_message_size"], str(10 * 1024 * 1024))
        self.assertEqual(lmtp["command_timeout"], "300s")
        self.assertEqual(lmtp["socket_mode"], "0600")
        self.assertEqual(lmtp["max_recipients"], "250")
        self.assertEqual(lmtp["bare_line_ends"], "normalize")
        self.assertEqual(lmtp["spool_dir"], spool)
        # keys not in the file show their defaults
        for key in ("max_connections", "max_bad_commands", "max_command_line", "data_timeout",
                    "processing_timeout", "spool_memory", "xforward_hosts", "user"):
            self.assertIn(key, lmtp)
        self.assertEqual(lmtp["max_bad_commands"], "20")
        self.assertEqual(lmtp["max_command_line"], "4096")
        self.assertEqual(cfg["downstream"]["target"], "maildir:%s/%%u" % self.mail)
        self.assertEqual(cfg["downstream"]["maildir_create"], "yes")
        for key in ("connect_timeout", "command_timeout", "data_timeout", "data_done_timeout"):
            self.assertRegex(cfg["downstream"][key], r"^\d+s$")
        self.assertEqual(cfg["log"]["level"], "debug")

    def test_loopback_system_uri_is_warned_about(self):
        """A system URI no recipient can open: opesd -t says so (exit 0, still valid)."""
        target = "[downstream]\ntarget = maildir:%s/%%u\n" % self.mail
        for uri in ("http://localhost:8025/opes", "https://127.0.0.1/opes",
                    "http://[::1]:8025/opes", "http://LocalHost/opes", "http://mx.localhost/x"):
            _, out = self.run_check("[opes]\nsystem_uri = %s\n" % uri + target)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("warning: [opes] system_uri names this host's loopback", out.stderr, uri)
        _, out = self.run_check(target)  # the default
        self.assertIn("system_uri names this host's loopback", out.stderr)
        for uri in ("https://opes.example.org/opes", "http://localhost.example.org/opes",
                    "http://127example.org/opes"):
            _, out = self.run_check("[opes]\nsystem_uri = %s\n" % uri + target)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertNotIn("system_uri", out.stderr, uri)

    def test_loopback_system_uri_is_warned_about_at_start(self):
        for uri, warned in (("http://localhost:8025/opes", True),
                            ("http://opes.example.org/opes", False)):
            self.start_opesd({"opes.system_uri": uri})
            deadline = time.monotonic() + 10
            while "opesd started" not in self.opesd.read_log() and time.monotonic() < deadline:
                time.sleep(0.05)
            log = self.opesd.read_log()
            self.assertIn("opesd started", log)
            self.assertEqual("[opes] system_uri names this host's loopback" in log, warned, log)
            self.opesd.stop()

    def test_default_listener_is_not_port_25(self):
        path, out = self.run_check("[downstream]\ntarget = maildir:%s/%%u\n" % self.mail)
        self.assertEqual(out.returncode, 0, out.stderr)
        listen = self.parse(out.stdout)["lmtp"]["listen"]
        for ep in listen.replace(",", " ").split():
            self.assertFalse(ep.endswith(":25"), listen)
            self.assertFalse(ep.endswith(":smtp"), listen)

    def test_bad_config_reports_every_problem_with_file_and_line(self):
        path, out = self.run_check(
            "[opes]\n"                                  # 1
            "system_uri = http://opes.example.org/x\n"  # 2
            "[lmtp]\n"                                  # 3
            "max_message_size = 12Q\n"                  # 4: bad size
            "max_recipients = 5\n"                      # 5: below the minimum of 100
            "colour = blue\n"                           # 6: unknown key
            "command_timeout = soon\n"                  # 7: bad duration
            "max_connections = 0\n"                     # 8: out of range
            "[downstream]\n"                            # 9
            "maildir_create = perhaps\n"                # 10: bad boolean
            "[log]\n"                                   # 11
            "level = loud\n",                           # 12: bad level
            "bad.conf")
        self.assertNotEqual(out.returncode, 0)
        errors = out.stderr
        expected = [(4, "lmtp.max_message_size", None), (5, "lmtp.max_recipients", "range"),
                    (6, "lmtp.colour", "unknown"), (7, "lmtp.command_timeout", None),
                    (8, "lmtp.max_connections", "range"),
                    (10, "downstream.maildir_create", None), (12, "log.level", None)]
        for line, key, word in expected:
            m = re.search(r"^%s:%d: %s: (.+)$" % (re.escape(path), line, re.escape(key)), errors,
                          re.M)
            self.assertIsNotNone(m, "no %s:%d: %s: in\n%s" % (path, line, key, errors))
            if word:
                self.assertIn(word, m.group(1).lower())

    def test_config_syntax_error_reported_with_other_problems(self):
        path, out = self.run_check(
            "[lmtp]\n"                   # 1
            "max_recipients = 5\n"       # 2
            "this line is not a key\n"   # 3
            "[downstream]\n"             # 4
            "target = maildir:%s/%%u\n" % self.mail,
            "syntax.conf")
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stderr, r"(?m)^%s:2: lmtp\.max_recipients: " % re.escape(path))
        self.assertRegex(out.stderr, r"(?m)^%s:3: " % re.escape(path))

    def test_missing_config_file(self):
        missing = os.path.join(self.tmp, "nope.conf")
        out = subprocess.run([OPESD, "-t", "-c", missing], capture_output=True, text=True,
                             timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(missing, out.stderr)


if __name__ == "__main__":
    unittest.main()
