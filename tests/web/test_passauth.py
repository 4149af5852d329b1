"""test_passauth.py - recipients' mail passwords checked by the mail system.

A private Dovecot with a passwd-file passdb answers on its auth-client socket
and on IMAP; passauth_probe runs the portal's check (web_passauth_check)
against each: the right password is accepted, a wrong one or an unknown user
refused, a mail system that is down or silent gives a temporary failure
within auth_timeout, and the password never appears in what opes-web says.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import opestest as t
from opestest import free_port, wait_port
from test_cyrus import Cyrus
from test_portal import ARTIFACTS, HERE, NODE, NoRedirect, OpesWeb, WebTest, missing_browser

PROBE = os.environ["PASSAUTH_PROBE"]
# a password that needs quoting in IMAP and has spaces, TAB-free UTF-8 and a backslash
ODD = 'p"w \\ {3}\r ö*'.replace("\r", "")


class PassDovecot:
    """Dovecot with LMTP off: IMAP on loopback and the auth-client socket, users from a passwd-file."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "dovecot")
        os.makedirs(os.path.join(self.dir, "mail"))
        os.chown(os.path.join(self.dir, "mail"), 65534, 65534)
        self.port = free_port()
        self.tls_port = free_port()
        # a certificate for "localhost", and another CA that did not sign it
        self.cert = os.path.join(self.dir, "cert.pem")
        self.other_ca = os.path.join(self.dir, "other.pem")
        for cert, key in ((self.cert, "key.pem"), (self.other_ca, "other-key.pem")):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                            "-keyout", os.path.join(self.dir, key), "-out", cert],
                           check=True, capture_output=True)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("alice@example.org:{PLAIN}secret::::::\n")
            f.write("bob@example.org:{PLAIN}%s::::::\n" % ODD)
        self.config = os.path.join(self.dir, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write("""protocols = lmtp
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
default_internal_user = root
default_login_user = dovenull
default_internal_group = root
first_valid_uid = 0
disable_plaintext_auth = no
auth_verbose = yes
login_trusted_networks = 127.0.0.1
mail_location = maildir:{d}/mail/%n
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/mail/%n
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
""".format(d=self.dir, port=self.port, tls_port=self.tls_port))
        os.chmod(tmp, 0o755)
        subprocess.run(["dovecot", "-c", self.config], check=True)
        wait_port(self.port)
        self.socket = os.path.join(self.dir, "run", "auth-client")
        deadline = time.time() + 10
        while not os.path.exists(self.socket) and time.time() < deadline:
            time.sleep(0.1)

    def stop(self):
        subprocess.run(["doveadm", "-c", self.config, "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:  # until its listener is gone
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.1)
            except OSError:
                return


class PassAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="opesd-test-")
        cls.dovecot = PassDovecot(cls.tmp)
        # IMAP: Cyrus imapd (Debian's cyrus-imapd and dovecot-imapd exclude each other),
        # with its own SASL users, in clear on loopback and with TLS on the dovecot's cert
        cls.cyrus = Cyrus(cls.tmp, users=("alice", "bob", "carol"), extra_conf="failedloginpause: 0\n",
                          passwords={"alice": "secret", "bob": ODD, "carol": "pw3"},
                          tls=(cls.dovecot.cert, os.path.join(cls.dovecot.dir, "key.pem")))

    @classmethod
    def tearDownClass(cls):
        cls.cyrus.stop()
        cls.dovecot.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def conf(self, mode, where, extra=""):
        path = os.path.join(self.tmp, "opesd-%s.conf" % mode)
        key = "auth_socket" if mode == "dovecot" else "imap_server"
        with open(path, "w") as f:
            f.write("[web]\npassword_auth = %s\n%s = %s\nauth_timeout = 3s\n%s" % (mode, key, where, extra))
        return path

    clients = iter(range(1, 250))

    def check(self, conf, address, password, client=None):
        # each check from its own client: Dovecot slows down an address after a failure
        client = client or "192.0.2.%d" % next(self.clients)
        started = time.time()
        out = subprocess.run([PROBE, conf, address, client], input=password + "\n", text=True,
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(password, out.stdout + out.stderr)
        return out.stdout.split(" ", 1)[0], out.stdout, time.time() - started

    def both(self):
        return (self.conf("dovecot", "unix:" + self.dovecot.socket),
                self.conf("imap", "127.0.0.1:%d" % self.cyrus.imap_port,
                          "auth_username = localpart\n"))

    def test_right_password_is_accepted(self):
        for conf in self.both():
            result = self.check(conf, "alice@example.org", "secret")
            self.assertEqual(result[0], "OK", result[1])

    def test_a_password_that_needs_quoting_is_passed_unchanged(self):
        for conf in self.both():
            self.assertEqual(self.check(conf, "bob@example.org", ODD)[0], "OK", conf)
            self.assertEqual(self.check(conf, "bob@example.org", ODD[:-1])[0], "BAD", conf)

    def test_wrong_password_and_unknown_user_are_refused(self):
        for conf in self.both():
            self.assertEqual(self.check(conf, "alice@example.org", "Secret")[0], "BAD", conf)
            self.assertEqual(self.check(conf, "nobody@example.org", "secret")[0], "BAD", conf)

    def test_dovecot_sees_the_client_address(self):
        dovecot = self.both()[0]
        self.check(dovecot, "alice@example.org", "wrong-one", client="198.51.100.23")
        with open(os.path.join(self.dovecot.dir, "dovecot.log")) as f:
            log = f.read()
        # Dovecot logs failed attempts with the remote address it was given (its penalty counts it)
        self.assertRegex(log, r"passwd-file\(alice@example.org,198\.51\.100\.23\)")
        self.assertNotIn("wrong-one", log)

    def test_a_mail_system_that_is_down_is_a_temporary_failure(self):
        conf = self.conf("dovecot", "unix:" + os.path.join(self.tmp, "no-such-socket"))
        self.assertEqual(self.check(conf, "alice@example.org", "secret")[0], "TEMP")
        conf = self.conf("imap", "127.0.0.1:%d" % free_port())
        self.assertEqual(self.check(conf, "alice@example.org", "secret")[0], "TEMP")

    def test_a_silent_server_times_out(self):
        quiet = socket.socket()
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(5)
        try:
            conf = self.conf("imap", "127.0.0.1:%d" % quiet.getsockname()[1])
            result, out, took = self.check(conf, "alice@example.org", "secret")
            self.assertEqual(result, "TEMP", out)
            self.assertIn("timeout", out)
            self.assertLess(took, 8)
        finally:
            quiet.close()

    def test_localpart_login_names(self):
        with open(os.path.join(self.dovecot.dir, "passwd"), "a") as f:
            f.write("carol:{PLAIN}pw3::::::\n")
        conf = self.conf("dovecot", "unix:" + self.dovecot.socket, "auth_username = localpart\n")
        self.assertEqual(self.check(conf, "carol@example.org", "pw3")[0], "OK")

    def test_imap_over_tls_checks_the_certificate(self):
        where = "localhost:%d" % self.cyrus.imaps_port
        tls = "auth_username = localpart\nimap_tls = yes\nimap_ca_file = %s\n"
        conf = self.conf("imap", where, tls % self.dovecot.cert)
        self.assertEqual(self.check(conf, "alice@example.org", "secret")[0], "OK")
        self.assertEqual(self.check(conf, "alice@example.org", "nope")[0], "BAD")
        conf = self.conf("imap", where, tls % self.dovecot.other_ca)
        result, out, _ = self.check(conf, "alice@example.org", "secret")
        self.assertEqual(result, "TEMP")
        self.assertIn("tls with localhost", out)

    def test_imap_server_elsewhere_in_clear_is_refused_by_the_configuration(self):
        conf = self.conf("imap", "192.0.2.1:143")
        out = subprocess.run([PROBE, conf, "alice@example.org"], input="x\n", text=True,
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("imap_server", out.stderr)


class PortalPasswordTest(WebTest):
    """The portal's login with the mail password, checked by a real Dovecot's auth service."""

    def setUp(self):
        super().setUp()
        self.dovecot = PassDovecot(self.tmp)
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/mail/%%u" % self.tmp, extra={
            "web.listen": "127.0.0.1:%d" % port, "web.base_url": self.base,
            "web.password_auth": "dovecot", "web.auth_socket": "unix:" + self.dovecot.socket,
            "web.login_rate": "3", "web.trusted_proxies": "127.0.0.1"}))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def tearDown(self):
        self.dovecot.stop()  # while its configuration is still there
        super().tearDown()

    def login(self, password, client="192.0.2.10", address="alice@example.org"):
        """(status, Location, Set-Cookie, body) of one password login from client."""
        data = urllib.parse.urlencode({"address": address, "password": password}).encode()
        req = urllib.request.Request(self.base + "/login/password", data=data, headers={
            "Origin": self.base, "X-Forwarded-For": client})
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
                return r.status, r.headers.get("Location"), r.headers.get("Set-Cookie"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Location"), e.headers.get("Set-Cookie"), e.read().decode()

    def test_the_mail_password_opens_a_session_and_stays_out_of_logs(self):
        status, _, cookie, body = self.login("wrong-password")
        self.assertEqual(status, 403)
        self.assertIsNone(cookie)
        self.assertIn("The address or the password is not right.", body)
        status, location, cookie, _ = self.login("secret")
        self.assertEqual(status, 303)
        self.assertTrue(location.endswith("/quarantine"), location)
        req = urllib.request.Request(self.base + "/quarantine",
                                     headers={"Cookie": cookie.split(";")[0]})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("alice@example.org", r.read().decode())
        for log in (self.web.read_log(), self.opesd.read_log()):
            self.assertNotIn("secret", log)
            self.assertNotIn("wrong-password", log)
        self.assertIn("login-failed", self.opesd.ctl("audit")[1])

    def test_failures_from_one_client_lock_out_no_one_else(self):
        for _ in range(3):
            self.assertEqual(self.login("guess", client="198.51.100.66")[0], 403)
        self.assertEqual(self.login("secret", client="198.51.100.66")[0], 429)
        # the address itself is not locked: alice, elsewhere, still logs in
        self.assertEqual(self.login("secret", client="203.0.113.5")[0], 303)

    def test_a_mail_system_that_is_away_is_said_so(self):
        self.dovecot.stop()
        status, _, cookie, body = self.login("secret")
        self.assertEqual(status, 503)
        self.assertIsNone(cookie)
        self.assertIn("cannot be checked right now", body)

    def test_in_chromium(self):
        why = missing_browser()
        if why is not None:
            sys.stderr.write("\n*** SKIPPING the password login browser test: %s ***\n" % why)
            self.skipTest(why)
        env = dict(os.environ, BASE=self.base, ADDRESS="alice@example.org", PASSWORD="secret",
                   ARTIFACTS=ARTIFACTS)
        p = subprocess.run([NODE, os.path.join(HERE, "password.mjs")], env=env, cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
