"""opestest - shared harness for opesd's integration tests.

Starts the real neighbours on free loopback ports in a temporary directory
(opesd itself, Dovecot LMTP, Postfix's smtp-sink) and stops exactly the
processes it started, by PID. Also a raw LMTP client that sends bytes as
given and reads replies, for protocol-level assertions.

Environment: OPESD (path of the opesd binary), set by CTest.
"""
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

OPESD = os.environ.get("OPESD", os.path.join(os.path.dirname(__file__), "../../build/bin/opesd"))
OPESCTL = os.environ.get("OPESCTL", os.path.join(os.path.dirname(OPESD), "opesctl"))


def free_port():
    """A loopback TCP port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0, proc=None):
    """Wait until something accepts on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def wait_unix(path, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise RuntimeError("no socket at %s" % path)


class Proc:
    """A started process, stopped by PID."""

    def __init__(self, argv, log_path, **kw):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, **kw)

    @property
    def pid(self):
        return self.p.pid

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)

    def stop(self, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Opesd(Proc):
    """opesd with a generated configuration."""

    def __init__(self, tmp, target, extra=None, listen=None):
        self.port = free_port()
        self.tmp = tmp
        spool = os.path.join(tmp, "spool")
        os.makedirs(spool, exist_ok=True)
        sections = {
            "opes": {"system_uri": "http://opes.example.org/opes"},
            "lmtp": {"listen": listen or "127.0.0.1:%d" % self.port, "hostname": "opes.test",
                     "spool_dir": spool},
            "downstream": {"target": target},
            "store": {"path": os.path.join(tmp, "opesd.db"), "key_file": os.path.join(tmp, "keys")},
            "log": {"level": "info"},
        }
        for key, value in (extra or {}).items():
            section, name = key.rsplit(".", 1)  # "service.rules.type" -> [service.rules] type
            sections.setdefault(section, {})[name] = value
        self.config = os.path.join(tmp, "opesd-%d.conf" % self.port)
        with open(self.config, "w") as f:
            for section, kv in sections.items():
                f.write("[%s]\n" % section)
                for k, v in kv.items():
                    for one in (v if isinstance(v, list) else [v]):  # a list: the key repeated
                        f.write("%s = %s\n" % (k, one))
        super().__init__([OPESD, "-c", self.config], os.path.join(tmp, "opesd-%d.log" % self.port))
        if listen is None:
            wait_port(self.port, proc=self.p)

    def trace(self, trace_id, timeout=10):
        """The trace records of a transaction (as opesctl trace --json gives them), once the
        writer has stored them: the final "reply" records come in the same commit."""
        import json
        deadline = time.time() + timeout
        while True:
            records = json.loads(self.ctl("trace", trace_id, "--json")[1])
            if any(r["event"] == "reply" for r in records) or time.time() > deadline:
                return records
            time.sleep(0.05)

    def ctl(self, *args, stdin=None, check=True):
        """Run opesctl on this instance's configuration; returns (exit code, stdout, stderr)."""
        p = subprocess.run([OPESCTL, "-c", self.config] + list(args), input=stdin,
                           capture_output=True, timeout=180)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise AssertionError("opesctl %s failed (%d): %s" % (" ".join(args), p.returncode, err))
        return p.returncode, out, err


PACKAGING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../packaging")


class Dovecot:
    """A private Dovecot LMTP; only the listed users exist. dedup: with the shipped
    packaging/dovecot/opesd-dedup.sieve as sieve_before, as 99-opesd.conf sets it up;
    quota: a storage quota rule (e.g. "1K") for every user."""

    def __init__(self, tmp, users=("alice", "bob"), dedup=False, quota=None):
        self.dir = os.path.join(tmp, "dovecot")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.mail = os.path.join(self.dir, "mail")
        os.makedirs(self.mail, exist_ok=True)
        os.chown(self.mail, 65534, 65534)
        self.users = users
        if dedup:
            # every mailbox has its home, where the duplicate check keeps what it saw (without
            # one, Pigeonhole cannot lock .dovecot.lda-dupes at a user's first delivery)
            for u in users:
                os.makedirs(os.path.join(self.mail, u), exist_ok=True)
                os.chown(os.path.join(self.mail, u), 65534, 65534)
        self.set_quota(quota)
        self.config = os.path.join(self.dir, "dovecot.conf")
        self.socket = os.path.join(self.dir, "run", "lmtp")
        with open(self.config, "w") as f:
            f.write("""protocols = lmtp
ssl = no
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
default_internal_user = root
default_login_user = root
default_internal_group = root
first_valid_uid = 0
auth_username_format = %Ln
mail_location = maildir:{d}/mail/%n
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = passwd-file
  args = {d}/users
  default_fields = uid=65534 gid=65534 home={d}/mail/%n
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
  unix_listener lmtp {{
    mode = 0666
  }}
}}
""".format(d=self.dir, port=self.port))
            if quota:
                f.write("mail_plugins = quota\nplugin {\n  quota = maildir\n}\n")
            if dedup:
                sieve = os.path.join(self.dir, "opesd-dedup.sieve")
                shutil.copy(os.path.join(PACKAGING, "dovecot", "opesd-dedup.sieve"), sieve)
                f.write("protocol lmtp {\n  mail_plugins = $mail_plugins sieve\n}\n"
                        "plugin {\n  sieve_before = %s\n"
                        "  sieve_duplicate_max_period = 7d\n}\n" % sieve)
        if dedup:  # compiled once by root, as the script's header says
            subprocess.run(["sievec", "-c", self.config, sieve], check=True)
        self.start()

    def set_quota(self, quota):
        """Every user's storage quota (None: none). Dovecot reads the file again when its
        mtime changes, looking at most once a second: each version gets a later mtime, and
        a change waits for Dovecot's next look."""
        self.quota = quota
        path = os.path.join(self.dir, "users")
        with open(path, "w") as f:
            for u in self.users:
                rule = "userdb_quota_rule=*:storage=%s" % quota if quota else ""
                f.write("%s:::::::%s\n" % (u, rule))
        changed = hasattr(self, "stamp")
        self.stamp = max(int(time.time()), getattr(self, "stamp", 0) + 1)
        os.utime(path, (self.stamp, self.stamp))
        if changed:
            time.sleep(1.1)

    def set_users(self, users):
        """Only users exist from now on (set_quota's care that Dovecot sees the change)."""
        self.users = users
        self.set_quota(self.quota)

    def start(self):
        subprocess.run(["dovecot", "-c", self.config], check=True)
        wait_port(self.port)

    def stop(self):
        subprocess.run(["doveadm", "-c", self.config, "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.1)
            except OSError:
                return

    def messages(self, user):
        """Delivered messages of user, as bytes (Dovecot stores LF line ends)."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, user, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out


class SmtpSink(Proc):
    """Postfix's smtp-sink in LMTP mode (or SMTP: lmtp=False), with its fault flags."""

    def __init__(self, tmp, flags=(), backlog=1000, lmtp=True):
        self.port = free_port()
        self.dump = os.path.join(tmp, "sink-%d" % self.port)
        os.makedirs(self.dump, exist_ok=True)
        argv = ["smtp-sink", "-u", "nobody", "-d", self.dump + "/%M."] + (["-L"] if lmtp else [])
        argv += list(flags)
        argv += ["127.0.0.1:%d" % self.port, str(backlog)]
        os.chmod(self.dump, 0o777)
        super().__init__(argv, os.path.join(tmp, "sink-%d.log" % self.port))
        wait_port(self.port, proc=self.p)

    def transactions(self):
        """Each dumped transaction as (X-Mail-Args, [X-Rcpt-Args], the message as received)."""
        out = []
        for root, _, files in os.walk(self.dump):
            for name in sorted(files):
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                head, _, rest = data.partition(b"\nReceived: ")
                fields = [line.split(b": ", 1) for line in head.split(b"\n") if b": " in line]
                rcpts = [v.decode() for k, v in fields if k == b"X-Rcpt-Args"]
                [mail] = [v.decode() for k, v in fields if k == b"X-Mail-Args"]
                out.append((mail, rcpts, b"Received: " + rest))
        return out


class Lmtp:
    """A raw LMTP client: send exact bytes, read exact replies."""

    def __init__(self, port, host="127.0.0.1", timeout=30, unix=None):
        if unix:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.settimeout(timeout)
            self.s.connect(unix)
        else:
            self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def cmd(self, line):
        """Send one command line and return its reply."""
        self.send(line + "\r\n")
        return self.reply()

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One reply: (code, full text of all lines joined with newlines)."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def closed(self, timeout=5):
        """True when the server closes the connection (after any pending data)."""
        old = self.s.gettimeout()
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.s.settimeout(old)

    def close(self):
        self.s.close()

    def hello(self):
        code, text = self.reply()
        assert code == 220, text
        code, text = self.cmd("LHLO client.test")
        assert code == 250, text
        return text

    def transaction(self, sender, rcpts, message):
        """After hello: MAIL, each RCPT (all must get 250), DATA with message (text, CRLF
        added, not dot-stuffed), then QUIT; the final replies, one per recipient."""
        code, text = self.cmd("MAIL FROM:<%s>" % sender)
        assert code == 250, text
        for r in rcpts:
            code, text = self.cmd("RCPT TO:<%s>" % r)
            assert code == 250, text
        code, text = self.cmd("DATA")
        assert code == 354, text
        self.send(crlf(message) + b".\r\n")
        replies = self.replies(len(rcpts))
        self.cmd("QUIT")
        return replies


def stuff(message):
    """A CRLF message as sent after DATA: dot-stuffed, with the final dot."""
    assert message.endswith(b"\r\n")
    return re.sub(rb"(?m)^\.", b"..", message) + b".\r\n"


def lf(data):
    """CRLF to LF, as Maildir files store messages."""
    return data.replace(b"\r\n", b"\n")


def unfold(text):
    """Header text with folded lines joined."""
    return re.sub(r"\r?\n[ \t]+", " ", text)


def crlf(text):
    """Message text with CRLF line ends."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")


class TempDirTest(unittest.TestCase):
    """A test case with its own temporary directory, removed afterwards.

    tearDown closes the test's clients, stops what it started (last first) and
    fails the test when an opesd it started logged a sanitizer report or did
    not exit 0 on SIGTERM (unless that opesd's check_exit was set to False).
    """

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="opesd-test-")
        os.chmod(self.tmp, 0o755)
        self.procs = []
        self.clients = []

    def client(self, port, **kw):
        """An Lmtp client closed by tearDown."""
        c = Lmtp(port, **kw)
        self.clients.append(c)
        return c

    def tearDown(self):
        for c in self.clients:
            c.close()
        problems = []
        for p in reversed(self.procs):
            try:
                rc = p.stop()
            except Exception as e:  # keep stopping the others
                problems.append("stopping %r: %s" % (p, e))
                continue
            if isinstance(p, Opesd):
                log = p.read_log()
                if any(mark in log for mark in SANITIZER_MARKS):
                    problems.append("opesd's log has a sanitizer report:\n" + log[-8000:])
                if getattr(p, "check_exit", True) and rc != 0:
                    problems.append("opesd exited with %s after SIGTERM; log:\n%s"
                                    % (rc, log[-4000:]))
        self.procs = []
        if os.environ.get("OPES_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            self.fail("\n".join(problems))

    def start(self, proc):
        self.procs.append(proc)
        return proc


class Postgres:
    """A private PostgreSQL cluster for one test: initdb and pg_ctl as the user postgres in
    tmp/pg, on a unix socket there and a free loopback port, trust for the role opes, one
    database opes. Stopped by the PID it wrote. No server programs is a failure, not a skip."""

    def __init__(self, tmp):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
        if not bins or not os.access(os.path.join(bins[-1], "initdb"), os.X_OK):
            raise RuntimeError("no PostgreSQL server programs under /usr/lib/postgresql/*/bin: "
                               "install the package postgresql")
        self.bin, self.dir, self.port = bins[-1], os.path.join(tmp, "pg"), free_port()
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as("initdb -D %s/data -A trust -U opes --no-locale -E UTF8" % self.dir)
        self._as("pg_ctl -D {0}/data -l {0}/pg.log -w -t 60 -o '-k {0} -p {1} "
                 "-c listen_addresses=127.0.0.1' start".format(self.dir, self.port))
        self._as("createdb -h %s -p %d -U opes opes" % (self.dir, self.port))
        self.conninfo = "host=%s port=%d dbname=opes user=opes" % (self.dir, self.port)

    def _as(self, cmd):
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", os.path.join(self.bin, cmd)],
                       check=True, capture_output=True, timeout=120)

    def sql(self, query):
        """Rows of a query (psql -At), as lists of strings."""
        out = subprocess.run([os.path.join(self.bin, "psql"), "-At", "-F", "\t", "-v",
                              "ON_ERROR_STOP=1", "-d", self.conninfo, "-c", query],
                             check=True, capture_output=True, timeout=60).stdout.decode()
        return [line.split("\t") for line in out.splitlines()]

    def stop(self, timeout=30):
        pid_file = os.path.join(self.dir, "data", "postmaster.pid")
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                pid = int(f.readline())
            os.kill(pid, signal.SIGINT)  # fast shutdown
            deadline = time.time() + timeout
            while time.time() < deadline and os.path.exists(pid_file):
                time.sleep(0.1)
        return 0


def postgres_crash(pg):
    """Stop a Postgres at once, as a crash or a fail-over would (pg_ctl stop -m immediate)."""
    pg._as("pg_ctl -D %s/data -m immediate -w -t 60 stop" % pg.dir)


def postgres_restart(pg):
    """Start a Postgres stopped by postgres_crash again, on the same socket and port."""
    pg._as("pg_ctl -D {0}/data -l {0}/pg.log -w -t 60 -o '-k {0} -p {1} "
           "-c listen_addresses=127.0.0.1' start".format(pg.dir, pg.port))
