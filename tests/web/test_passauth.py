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
import tempfile
import time
import unittest

from opestest import free_port, wait_port

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
            f.write("""protocols = imap
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
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
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


class PassAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="opesd-test-")
        cls.dovecot = PassDovecot(cls.tmp)

    @classmethod
    def tearDownClass(cls):
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
                self.conf("imap", "127.0.0.1:%d" % self.dovecot.port))

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
        dovecot, imap = self.both()
        self.check(dovecot, "alice@example.org", "wrong-one", client="198.51.100.23")
        self.check(imap, "alice@example.org", "wrong-two", client="198.51.100.24")
        with open(os.path.join(self.dovecot.dir, "dovecot.log")) as f:
            log = f.read()
        # Dovecot logs failed attempts with the remote address it was given (its penalty counts it)
        self.assertRegex(log, r"passwd-file\(alice@example.org,198\.51\.100\.23\)")
        self.assertRegex(log, r"rip=198\.51\.100\.24")
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
        conf = self.conf("imap", "127.0.0.1:%d" % self.dovecot.port, "auth_username = localpart\n")
        self.assertEqual(self.check(conf, "carol@example.org", "pw3")[0], "OK")

    def test_imap_over_tls_checks_the_certificate(self):
        where = "localhost:%d" % self.dovecot.tls_port
        conf = self.conf("imap", where, "imap_tls = yes\nimap_ca_file = %s\n" % self.dovecot.cert)
        self.assertEqual(self.check(conf, "alice@example.org", "secret")[0], "OK")
        self.assertEqual(self.check(conf, "alice@example.org", "nope")[0], "BAD")
        conf = self.conf("imap", where, "imap_tls = yes\nimap_ca_file = %s\n" % self.dovecot.other_ca)
        result, out, _ = self.check(conf, "alice@example.org", "secret")
        self.assertEqual(result, "TEMP")
        self.assertIn("tls with localhost", out)

    def test_imap_server_elsewhere_in_clear_is_refused_by_the_configuration(self):
        conf = self.conf("imap", "192.0.2.1:143")
        out = subprocess.run([PROBE, conf, "alice@example.org"], input="x\n", text=True,
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("imap_server", out.stderr)


if __name__ == "__main__":
    unittest.main()
