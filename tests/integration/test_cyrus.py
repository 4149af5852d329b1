"""opesd in front of a real Cyrus lmtpd, over a unix socket and over TCP.

A private Cyrus `master` runs in the test's directory with its own imapd.conf
and cyrus.conf (every service gets `-C`, or it would use the system's files).
Only alice and bob may have their INBOX created at the first delivery
(`autocreate_post`, `autocreate_users`), so carol is refused by Cyrus itself at
RCPT time with `550 5.1.1`. Three lmtpd services listen:

- `lmtpunix`, a unix socket (pre-authenticated by the socket);
- `lmtp`, TCP started with `-a` (pre-authenticated);
- `lmtpauth`, TCP without `-a`: it offers AUTH PLAIN (a private sasldb) and
  answers MAIL with `430 Authentication required` until a client authenticates.

Delivered messages are the files `1.`, `2.` ... in the folder that `mbpath`
prints for `user.NAME`; Cyrus keeps them with CRLF line ends, prepends its own
Return-Path, Received, X-Cyrus-Session-Id and X-Sieve fields in front of ours,
and adds Date and Message-ID at the end of a header that lacks them (so the
test messages have both).
"""
import base64
import grp
import json
import os
import pwd
import re
import subprocess
import sys
import unittest

import opestest as t

CYRUS_BIN = "/usr/lib/cyrus/bin"
MISSING = [p for p in (CYRUS_BIN + "/master", CYRUS_BIN + "/lmtpd", CYRUS_BIN + "/mbpath",
                       CYRUS_BIN + "/ctl_cyrusdb", "/usr/sbin/saslpasswd2")
           if not os.access(p, os.X_OK)]
try:
    pwd.getpwnam("cyrus")
except KeyError:
    MISSING.append("user cyrus")
# CI installs Cyrus (packaging/install-deps.sh test): there a missing one fails the tests
SKIP = bool(MISSING) and not os.environ.get("CI")
if MISSING:
    sys.stderr.write("\n*** test_cyrus: %s, Cyrus is not installed (missing: %s); "
                     "run packaging/install-deps.sh test ***\n\n"
                     % ("FAILING under CI" if not SKIP else "SKIPPED", ", ".join(MISSING)))

SYSTEM_URI = "http://opes.example.org/opes"
TRACE_RE = re.compile(r" \(trace ([0-9a-z]+)\)$")
HELD_RE = re.compile(r"held in quarantine as (\w+)")
AUTH_USER = "lmtpadmin"
AUTH_PASSWORD = "Corr3ct-h0rse:battery staple"

# dot lines, 8-bit body bytes, an existing Received field; the header is ASCII
# (Cyrus replaces 8-bit header bytes by default)
ORIGINAL = (
    b"Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n"
    b"\tby mta.example.org (Postfix) with ESMTPS id 4Xy7Zq0abc;\r\n"
    b"\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Sender <sender@example.net>\r\n"
    b"To: alice@example.org, carol@example.org, bob@example.org\r\n"
    b"Subject: into Cyrus\r\n"
    b"Message-ID: <cyrus-1@example.net>\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".\r\n"
    b"..\r\n"
    b".leading dot\r\n"
    b"caf\xc3\xa9 \xe2\x82\xac\r\n"
    + b"".join(b"line %05d of the body, padded to make the message a little longer\r\n" % i
               for i in range(3000))
    + b".last line is a dot line\r\n"
)


class Cyrus:
    """A private Cyrus master with three lmtpd services (see the module text)."""

    def __init__(self, tmp, users=("alice", "bob"), quota_kb=0, extra_conf="", passwords=None,
                 tls=None):
        """passwords: {user: password} in its SASL database, and imapd on self.imap_port;
        tls: (certificate, key) files for imapd -s (IMAPS) on self.imaps_port as well."""
        self.dir = os.path.join(tmp, "cyrus")
        self.imap_port = t.free_port()
        self.imaps_port = t.free_port()
        self.port = t.free_port()       # lmtpd -a
        self.auth_port = t.free_port()  # lmtpd, AUTH required
        self.socket = os.path.join(self.dir, "sock", "lmtp")
        self.conf = os.path.join(self.dir, "imapd.conf")
        uid, gid = pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid
        for sub in ("", "conf", "conf/db", "conf/socket", "conf/log", "conf/msg", "conf/user",
                    "conf/quota", "conf/proc", "conf/lock", "conf/sieve", "spool", "sock", "run"):
            path = os.path.join(self.dir, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, uid, gid)
        d = self.dir
        sasldb = os.path.join(d, "conf", "sasldb2")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "configdirectory: %s/conf" % d, "partition-default: %s/spool" % d,
                "defaultpartition: default", "proc_path: %s/conf/proc" % d,
                "mboxname_lockpath: %s/conf/lock" % d, "lmtpsocket: %s" % self.socket,
                "idlesocket: %s/conf/socket/idle" % d,
                "notifysocket: %s/conf/socket/notify" % d, "sievedir: %s/conf/sieve" % d,
                "servername: cyrus.test", "admins: cyrus %s" % AUTH_USER, "virtdomains: off",
                "altnamespace: no", "unixhierarchysep: no", "lmtp_downcase_rcpt: yes",
                "autocreate_post: yes", "autocreate_quota: %d" % quota_kb,
                "autocreate_users: %s" % " ".join(users),
                "hashimapspool: false", "duplicatesuppression: no",
                "sasl_pwcheck_method: auxprop", "sasl_auxprop_plugin: sasldb",
                "sasl_sasldb_path: %s" % sasldb, "sasl_mech_list: PLAIN", "allowplaintext: yes",
            ]) + "\n" + extra_conf)
        with open(os.path.join(d, "cyrus.conf"), "w") as f:
            f.write("""START {
  recover cmd="%(b)s/ctl_cyrusdb -C %(c)s -r"
}
SERVICES {
  lmtp cmd="%(b)s/lmtpd -C %(c)s -a" listen="127.0.0.1:%(p)d" prefork=0
  lmtpauth cmd="%(b)s/lmtpd -C %(c)s" listen="127.0.0.1:%(ap)d" prefork=0
  lmtpunix cmd="%(b)s/lmtpd -C %(c)s" listen="%(s)s" prefork=0
%(imap)s}
EVENTS {
}
""" % {"b": CYRUS_BIN, "c": self.conf, "p": self.port, "ap": self.auth_port,
       "s": self.socket,
       "imap": ('  imap cmd="%s/imapd -C %s" listen="127.0.0.1:%d" prefork=0\n'
                % (CYRUS_BIN, self.conf, self.imap_port) if passwords else "")
               + ('  imaps cmd="%s/imapd -s -C %s" listen="127.0.0.1:%d" prefork=0\n'
                  % (CYRUS_BIN, self.conf, self.imaps_port) if tls else "")})
        if tls:
            for path in tls:
                os.chown(path, uid, gid)
            with open(self.conf, "a") as f:
                f.write("tls_server_cert: %s\ntls_server_key: %s\n" % tls)
        subprocess.run(["saslpasswd2", "-p", "-c", "-f", sasldb, "-u", "cyrus.test", AUTH_USER],
                       input=AUTH_PASSWORD.encode(), check=True)
        for user, password in (passwords or {}).items():
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", sasldb, "-u", "cyrus.test", user],
                           input=password.encode(), check=True)
        os.chown(sasldb, uid, gid)
        self.passwords = passwords
        self.tls = tls
        self.p = None
        self.start()

    def start(self):
        d = self.dir
        self.log = open(os.path.join(d, "master.log"), "ab")
        self.p = subprocess.Popen(
            [CYRUS_BIN + "/master", "-C", self.conf, "-M", os.path.join(d, "cyrus.conf"),
             "-p", os.path.join(d, "run", "master.pid"), "-L", os.path.join(d, "master.out"),
             "-D"], stdout=self.log, stderr=subprocess.STDOUT)
        t.wait_port(self.port, proc=self.p)
        t.wait_port(self.auth_port, proc=self.p)
        if self.passwords:
            t.wait_port(self.imap_port, proc=self.p)
        if self.tls:
            t.wait_port(self.imaps_port, proc=self.p)
        t.wait_unix(self.socket)

    def stop(self, timeout=20):
        """Stop the master this object started (by PID); it takes its services along."""
        if self.p is not None and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p is not None:
            self.log.close()
        return self.p.returncode if self.p is not None else 0

    def mbpath(self, user):
        p = subprocess.run([CYRUS_BIN + "/mbpath", "-C", self.conf, "user." + user],
                           capture_output=True, timeout=30)
        return p.stdout.decode().strip() if p.returncode == 0 else None

    def messages(self, user):
        """Delivered messages of user, as bytes, in delivery order."""
        path = self.mbpath(user)
        if path is None or not os.path.isdir(path):
            return []
        names = sorted((n for n in os.listdir(path) if re.fullmatch(r"\d+\.", n)),
                       key=lambda n: int(n[:-1]))
        out = []
        for name in names:
            with open(os.path.join(path, name), "rb") as f:
                out.append(f.read())
        return out


def msg(subject, body=b"body\r\n", extra=b""):
    """A small CRLF message with the Date and Message-ID that Cyrus would otherwise add."""
    msg.n = getattr(msg, "n", 0) + 1
    return (b"From: Sender <sender@example.net>\r\nTo: alice@example.org\r\n" + extra +
            b"Subject: " + subject + b"\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            b"Message-ID: <m%d@example.net>\r\n\r\n" % msg.n + body)


def ours(test, stored):
    """The stored message from our Received field on (Cyrus's own fields come first)."""
    i = stored.find(b" (opesd) with ")
    test.assertGreaterEqual(i, 0, stored[:1500])
    j = stored.rfind(b"\r\nReceived: ", 0, i)
    test.assertGreaterEqual(j, 0, stored[:1500])
    return stored[j + 2:]


def trace_id(test, text):
    m = TRACE_RE.search(text)
    test.assertIsNotNone(m, "no trace id in reply %r" % text)
    return m.group(1)


@unittest.skipIf(SKIP, "Cyrus is not installed (missing: %s)" % ", ".join(MISSING))
class CyrusBase(t.TempDirTest):
    quota_kb = 0  # autocreate_quota: every INBOX gets this storage quota (0: none)

    def setUp(self):
        if MISSING:
            self.fail("Cyrus is not installed (missing: %s)" % ", ".join(MISSING))
        super().setUp()
        self.cyrus = self.start(Cyrus(self.tmp, quota_kb=self.quota_kb))

    def send_message(self, c, rcpts, message, mail_params=""):
        """One transaction; returns (MAIL reply, RCPT replies, DATA reply, final replies)."""
        mail = c.cmd("MAIL FROM:<sender@example.net>%s" % mail_params)
        self.assertEqual(mail[0], 250, mail)
        rcpt = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        accepted = sum(1 for code, _ in rcpt if code == 250)
        data = c.cmd("DATA")
        if data[0] != 354:
            return mail, rcpt, data, []
        c.send(t.stuff(message))
        return mail, rcpt, data, c.replies(accepted)

    def assert_trace_block(self, stored, original, tid):
        """stored = Cyrus's fields, our four, original unchanged; ours carry tid."""
        stored = ours(self, stored)
        self.assertTrue(stored.endswith(original),
                        "stored message differs from what was sent; it starts:\n%r"
                        % stored[:1500])
        block = stored[:-len(original)].decode("ascii")
        text = t.unfold(block.replace("\r\n", "\n"))
        self.assertEqual(re.findall(r"(?m)^([^\s:]+):", text),
                         ["Received", "OPES-System", "OPES-Via", "OPES-Delivery-Id"], text)
        self.assertRegex(text, r"(?m)^Received: from client\.test \(.*\) by opes\.test "
                               r"\(opesd\) with LMTP id %s\b" % tid)
        self.assertRegex(text, r"(?m)^OPES-System: %s; trace=%s$" % (re.escape(SYSTEM_URI), tid))
        self.assertRegex(text, r"(?m)^OPES-Via: https?://\S+; .*action=")
        for line in block.split("\r\n"):
            self.assertLessEqual(len(line), 78, line)


class CyrusCases:
    """Delivery, refusal at RCPT, per-recipient replies and a release, on one target form."""

    unix = False

    def target(self):
        if self.unix:
            return "lmtp:unix:%s" % self.cyrus.socket
        return "lmtp:127.0.0.1:%d" % self.cyrus.port

    def test_delivery_with_trace_headers_unknown_refused_at_rcpt(self):
        o = self.start(t.Opesd(self.tmp, self.target()))
        c = self.client(o.port)
        lhlo = c.hello()
        self.assertIn("8BITMIME", lhlo)
        mail, rcpt, data, final = self.send_message(
            c, ["alice@example.org", "carol@example.org", "bob@example.org"], ORIGINAL,
            " BODY=8BITMIME")
        tid = trace_id(self, mail[1])
        self.assertEqual([rcpt[0][0], rcpt[2][0]], [250, 250], rcpt)
        # carol has no mailbox: Cyrus's own refusal, its enhanced code, our trace id
        self.assertRegex(rcpt[1][1], r"^550 5\.1\.1 .*User unknown \(trace \w+\)$")
        self.assertEqual(trace_id(self, rcpt[1][1]), tid)
        self.assertEqual(data[0], 354, data)
        # one reply per accepted recipient, in RCPT order, each Cyrus's own
        self.assertEqual(len(final), 2, final)
        for code, text in final:
            self.assertRegex(text, r"^250 2\.1\.5 Success")
            self.assertEqual(trace_id(self, text), tid)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(self.cyrus.messages("carol"), [])
        for user in ("alice", "bob"):
            stored = self.cyrus.messages(user)
            self.assertEqual(len(stored), 1, user)
            self.assert_trace_block(stored[0], ORIGINAL, tid)
        # a second message on the same session: the cached connection is reused
        second = msg(b"second")
        _, rcpt, _, final = self.send_message(c, ["alice@example.org"], second)
        self.assertEqual([r[0] for r in final], [250], final)
        stored = self.cyrus.messages("alice")
        self.assertEqual(len(stored), 2)
        self.assertTrue(ours(self, stored[1]).endswith(second))

    def test_per_recipient_replies_in_one_transaction(self):
        o = self.start(t.Opesd(self.tmp, self.target()))
        c = self.client(o.port)
        c.hello()
        message = b"Subject: per recipient\r\n\r\nbody\r\n"
        mail, rcpt, data, final = self.send_message(
            c, ["carol@example.org", "bob@example.org", "dave@example.org"], message,
            " SIZE=%d" % len(message))
        tid = trace_id(self, mail[1])
        self.assertEqual([r[0] for r in rcpt], [550, 250, 550], rcpt)
        for code, text in rcpt:
            self.assertEqual(trace_id(self, text), tid)
        self.assertEqual([r[0] for r in final], [250], final)
        self.assertEqual(len(self.cyrus.messages("bob")), 1)
        self.assertEqual(self.cyrus.messages("carol"), [])
        self.assertEqual(self.cyrus.messages("dave"), [])
        # the opesd log names each recipient's outcome
        log = o.read_log()
        self.assertRegex(log, r"rcpt=<carol@example\.org> action=rejected .*reply=\"550 5\.1\.1")
        self.assertRegex(log, r"rcpt=<bob@example\.org> action=delivered")

    def test_held_message_released_into_cyrus(self):
        o = self.start(t.Opesd(self.tmp, self.target(), extra={
            "store.job_interval": "1s",
            "notify.default_mode": "off",  # only the released message in the mailbox
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /HOLD-ME/ quarantine",
        }))
        c = self.client(o.port)
        c.hello()
        message = msg(b"please HOLD-ME for review", b".dot line\r\nheld body\r\n")
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org"], message)
        tid = trace_id(self, mail[1])
        self.assertEqual(len(final), 1)
        self.assertEqual(final[0][0], 250, final)
        m = HELD_RE.search(final[0][1])
        self.assertIsNotNone(m, final)
        qid = m.group(1)
        self.assertEqual(self.cyrus.messages("alice"), [])

        o.ctl("quarantine", "release", qid, "--wait")
        stored = self.cyrus.messages("alice")
        self.assertEqual(len(stored), 1)
        rest = ours(self, stored[0])
        self.assertTrue(rest.endswith(message), stored[0][:1500])
        added = t.unfold(rest[:-len(message)].decode("ascii").replace("\r\n", "\n"))
        self.assertIn("with LMTP id %s" % tid, added)
        self.assertIn("released from quarantine by", added)
        self.assertIn("OPES-System: %s; trace=%s" % (SYSTEM_URI, tid), added)
        self.assertRegex(added, r"OPES-Via: .*service/rules; action=released")
        shown = json.loads(o.ctl("quarantine", "show", qid, "--json")[1])
        self.assertEqual(shown["status"], "released")


class CyrusUnixTest(CyrusCases, CyrusBase):
    unix = True


class CyrusTcpTest(CyrusCases, CyrusBase):
    unix = False


class CyrusQuotaTest(CyrusBase):
    """Every INBOX has 20 KiB; Cyrus refuses a recipient over quota at RCPT (452 4.2.2)."""

    quota_kb = 20

    def test_over_quota_recipient_refused_others_delivered(self):
        o = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.cyrus.port))
        c = self.client(o.port)
        c.hello()
        # usage below the limit: accepted even though it takes bob over it
        big = msg(b"fills the mailbox", b"".join(b"%05d %s\r\n" % (i, b"z" * 92)
                                                 for i in range(250)))
        _, rcpt, _, final = self.send_message(c, ["bob@example.org"], big)
        self.assertEqual([r[0] for r in final], [250], final)
        message = msg(b"one over quota")
        mail, rcpt, data, final = self.send_message(
            c, ["alice@example.org", "bob@example.org"], message)
        tid = trace_id(self, mail[1])
        self.assertEqual(rcpt[0][0], 250, rcpt)
        # bob: Cyrus's own temporary refusal, relayed for bob alone, with our trace id
        self.assertRegex(rcpt[1][1], r"^452 4\.2\.2 Over quota .*\(trace \w+\)$")
        self.assertEqual(trace_id(self, rcpt[1][1]), tid)
        self.assertEqual([r[0] for r in final], [250], final)
        self.assertEqual(trace_id(self, final[0][1]), tid)
        [stored] = self.cyrus.messages("alice")
        self.assert_trace_block(stored, message, tid)
        self.assertEqual(len(self.cyrus.messages("bob")), 1)
        self.assertRegex(o.read_log(), r"rcpt=<bob@example\.org> action=deferred .*"
                                       r"reply=\"452 4\.2\.2 Over quota")


class CyrusAuthTest(CyrusBase):
    """lmtpd without -a on TCP: AUTH PLAIN with [downstream] auth_user and auth_password_file."""

    def password_file(self, secret=AUTH_PASSWORD, mode=0o600, name="lmtp.secret"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(secret + "\n")
        os.chmod(path, mode)
        return path

    def auth_opesd(self, **keys):
        extra = {"downstream." + k: v for k, v in keys.items()}
        return self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.cyrus.auth_port, extra))

    def test_auth_plain_accepted(self):
        o = self.auth_opesd(auth="plain", auth_user=AUTH_USER,
                            auth_password_file=self.password_file())
        c = self.client(o.port)
        c.hello()
        message = msg(b"authenticated")
        mail, rcpt, data, final = self.send_message(
            c, ["alice@example.org", "carol@example.org"], message)
        tid = trace_id(self, mail[1])
        self.assertEqual([r[0] for r in rcpt], [250, 550], rcpt)
        self.assertEqual([r[0] for r in final], [250], final)
        [stored] = self.cyrus.messages("alice")
        self.assert_trace_block(stored, message, tid)
        self.assertNotIn(AUTH_PASSWORD, o.read_log())

    def test_wrong_password_is_a_4xx_and_not_logged(self):
        wrong = "not-the-Password-42"
        o = self.auth_opesd(auth="plain", auth_user=AUTH_USER,
                            auth_password_file=self.password_file(wrong))
        c = self.client(o.port)
        c.hello()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org"],
                                                    b"Subject: x\r\n\r\nbody\r\n")
        self.assertRegex(rcpt[0][1], r"^451 4\.7\.0 Mailbox store authentication failed "
                                     r"\(trace \w+\)$")
        self.assertEqual(data[0], 503, data)
        self.assertEqual(self.cyrus.messages("alice"), [])
        log = o.read_log()
        self.assertIn("refused AUTH PLAIN user=%s" % AUTH_USER, log)
        for secret in (wrong, base64.b64encode(("\0%s\0%s" % (AUTH_USER, wrong)).encode())
                       .decode()):
            self.assertNotIn(secret, log)

    def test_no_auth_configured_is_a_4xx(self):
        # Cyrus answers MAIL with 430 until a client authenticates: our configuration
        o = self.auth_opesd()
        c = self.client(o.port)
        c.hello()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org"],
                                                    b"Subject: x\r\n\r\nbody\r\n")
        self.assertRegex(rcpt[0][1], r"^451 4\.7\.0 Mailbox store requires authentication")
        self.assertIn("set [downstream] auth", o.read_log())

    def test_mechanism_not_offered_is_a_4xx(self):
        # the pre-authenticated unix socket offers EXTERNAL only
        o = self.start(t.Opesd(self.tmp, "lmtp:unix:%s" % self.cyrus.socket, {
            "downstream.auth": "plain", "downstream.auth_user": AUTH_USER,
            "downstream.auth_password_file": self.password_file()}))
        c = self.client(o.port)
        c.hello()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org"],
                                                    b"Subject: x\r\n\r\nbody\r\n")
        self.assertRegex(rcpt[0][1], r"^451 4\.7\.0 Mailbox store authentication not possible")
        self.assertIn("does not offer AUTH PLAIN", o.read_log())

    def test_external_refused_is_a_4xx(self):
        # Cyrus 3.6 offers EXTERNAL on its unix socket but answers AUTH EXTERNAL with a 501
        # (the socket is pre-authenticated: auth = none is the setting there); a 5xx to AUTH
        # must still reach the MTA as a 4xx
        o = self.start(t.Opesd(self.tmp, "lmtp:unix:%s" % self.cyrus.socket,
                               {"downstream.auth": "external"}))
        c = self.client(o.port)
        c.hello()
        mail, rcpt, data, final = self.send_message(c, ["alice@example.org"],
                                                    b"Subject: x\r\n\r\nbody\r\n")
        self.assertRegex(rcpt[0][1], r"^451 4\.7\.0 Mailbox store authentication failed")
        self.assertRegex(o.read_log(), r"refused AUTH EXTERNAL user=-: code=501")
        self.assertEqual(self.cyrus.messages("alice"), [])

    def test_password_file_checks(self):
        def check(**keys):
            extra = {"downstream.target": "lmtp:127.0.0.1:%d" % self.cyrus.auth_port}
            extra.update({"downstream." + k: v for k, v in keys.items()})
            path = os.path.join(self.tmp, "check.conf")
            with open(path, "w") as f:
                f.write("[lmtp]\nspool_dir = %s\n[downstream]\n" % self.tmp)
                for k, v in keys.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("target = %s\n" % extra["downstream.target"])
            p = subprocess.run([t.OPESD, "-t", "-c", path], capture_output=True, timeout=60)
            return p.returncode, p.stdout.decode() + p.stderr.decode()

        good = self.password_file()
        rc, out = check(auth="plain", auth_user=AUTH_USER, auth_password_file=good)
        self.assertEqual(rc, 0, out)
        self.assertNotIn(AUTH_PASSWORD, out)
        self.assertIn("auth_password_file = %s" % good, out)
        readable = self.password_file(mode=0o644, name="readable.secret")
        rc, out = check(auth="plain", auth_user=AUTH_USER, auth_password_file=readable)
        self.assertEqual(rc, 1, out)
        self.assertIn("others can neither read nor write", out)
        self.assertNotIn(AUTH_PASSWORD, out)
        rc, out = check(auth="plain", auth_user=AUTH_USER)
        self.assertEqual(rc, 1, out)
        self.assertIn("auth = plain needs auth_password_file", out)
        rc, out = check(auth="plain", auth_password_file=good)
        self.assertIn("auth = plain needs auth_user", out)
        rc, out = check(auth="kerberos")
        self.assertIn("expected none, plain or external", out)
        rc, out = check(auth="plain", auth_user=AUTH_USER,
                        auth_password_file=os.path.join(self.tmp, "missing"))
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot read", out)


if __name__ == "__main__":
    unittest.main()
