"""scanners - a private ClamAV clamd, a private SpamAssassin spamd and a
private rspamd for the integration tests, plus a fake scanner that
misbehaves on purpose.

Nothing is downloaded: clamd loads a signature directory of our own (EICAR as
an MD5 hash and as a body pattern, clamav-testfiles' clam.exe as a SHA-256
hash); spamd runs Debian's rules with local tests only; rspamd runs Debian's
configuration without Redis, its sockets moved to free ports. Each instance lives in
a directory below the test's temporary directory, listens on free loopback
ports, and is stopped by the PID of the process this module started.

    clamd = Clamd(tmp)                 # ready: it answered PING
    clamd.unix, clamd.tcp              # "unix:/path" and "127.0.0.1:PORT"
    spamd = Spamd(tmp)                 # ready: spamc -K answered
    spamd.tcp                          # Spamd(tmp, allow_tell=True): TELL learns, Bayes of its own
    redis = Redis(tmp)                 # for rspamd's statistics: Rspamd(tmp, redis=redis)
    rspamd = Rspamd(tmp)               # ready: /ping answered (loading takes 15-60 s)
    rspamd.tcp, rspamd.unix            # the normal worker: POST /checkv2
    fake = FakeScanner(reply=None)     # accepts, reads, never answers
    fake.tcp
Stop each with .stop() (TempDirTest.start() registers them for tearDown).
"""
import os
import shutil
import socket
import subprocess
import threading
import time

from opestest import Proc, free_port

CLAMD = "/usr/sbin/clamd"
SPAMD = "/usr/sbin/spamd"
SPAMC = "/usr/bin/spamc"
RSPAMD = "/usr/bin/rspamd"
RSPAMD_CONF = "/etc/rspamd/rspamd.conf"
REDIS = "/usr/bin/redis-server"

# The EICAR anti-virus test file: exactly these 68 octets.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# clamd appends ".UNOFFICIAL" to the names of signatures from local databases
EICAR_HASH_NAME = "Eicar-Test-Signature.UNOFFICIAL"  # test.hdb: the whole 68-octet file
EICAR_BODY_NAME = "Eicar-Anywhere.UNOFFICIAL"  # test.ndb: the string anywhere in decoded content
CLAM_EXE = "/usr/share/clamav-testfiles/clam.exe"
CLAM_EXE_NAME = "ClamAV-Test-File.UNOFFICIAL"  # test.hsb: SHA-256 of clam.exe
CLAM_EXE_SHA256 = "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495"

GTUBE_MESSAGE = "/usr/share/doc/spamassassin/examples/sample-spam.txt"
HAM_MESSAGE = "/usr/share/doc/spamassassin/examples/sample-nonspam.txt"


def _wait(what, ready, proc, log, timeout):
    """Poll ready() until true; fail early, with the log, if proc exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.p.poll() is not None:
            raise RuntimeError("%s exited with %s before it was ready:\n%s"
                               % (what, proc.p.returncode, log()))
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError("%s not ready after %d s:\n%s" % (what, timeout, log()))


def clamd_command(address, command, timeout=2.0):
    """Send one NUL-terminated command ("PING", "VERSION") to clamd; the reply or None.

    address is a unix socket path or a (host, port) pair."""
    try:
        if isinstance(address, str):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            try:
                s.connect(address)
            except OSError:
                s.close()
                raise
        else:
            s = socket.create_connection(address, timeout=timeout)
    except OSError:
        return None
    with s:
        try:
            s.sendall(b"z" + command.encode() + b"\0")
            reply = b""
            while not reply.endswith(b"\0"):
                chunk = s.recv(1024)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            return None
    return reply.rstrip(b"\0").decode("utf-8", "replace")


class Clamd(Proc):
    """A private clamd on a unix socket and a loopback TCP port.

    stream_max_length is clamd's StreamMaxLength (INSTREAM refuses longer streams).
    """

    def __init__(self, tmp, stream_max_length="25M", timeout=120):
        self.port = free_port()
        self.dir = os.path.join(tmp, "clamd-%d" % self.port)
        self.db = os.path.join(self.dir, "db")
        os.makedirs(self.db)
        self._write_signatures()
        self.socket = os.path.join(self.dir, "clamd.sock")
        self.logfile = os.path.join(self.dir, "clamd.log")
        self.config = os.path.join(self.dir, "clamd.conf")
        lines = ["Foreground yes",
                 "DatabaseDirectory %s" % self.db,
                 "LocalSocket %s" % self.socket,
                 "TCPSocket %d" % self.port,
                 "TCPAddr 127.0.0.1",
                 "LogFile %s" % self.logfile,
                 "LogTime yes",
                 "StreamMaxLength %s" % stream_max_length,
                 "MaxThreads 4"]
        if os.geteuid() == 0:
            lines.append("User root")  # clamd would switch to "clamav" otherwise
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        super().__init__([CLAMD, "-c", self.config], os.path.join(self.dir, "clamd.out"))
        _wait("clamd", self.ping, self, self.read_all_logs, timeout)

    def restart(self, timeout=120):
        """Start again on the same sockets after stop()."""
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        Proc.__init__(self, [CLAMD, "-c", self.config], os.path.join(self.dir, "clamd.out"))
        _wait("clamd", self.ping, self, self.read_all_logs, timeout)

    def _write_signatures(self):
        with open(os.path.join(self.db, "test.hdb"), "w") as f:
            f.write("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
        with open(os.path.join(self.db, "test.ndb"), "w") as f:
            f.write("Eicar-Anywhere:0:*:%s\n" % EICAR.hex())
        with open(os.path.join(self.db, "test.hsb"), "w") as f:
            f.write("%s:544:ClamAV-Test-File\n" % CLAM_EXE_SHA256)

    @property
    def unix(self):
        return "unix:" + self.socket

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    def ping(self):
        """True when clamd answers PONG on both sockets."""
        return (clamd_command(self.socket, "PING") == "PONG"
                and clamd_command(("127.0.0.1", self.port), "PING") == "PONG")

    def read_all_logs(self):
        text = self.read_log()
        if os.path.exists(self.logfile):
            with open(self.logfile, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        return text


class Spamd(Proc):
    """A private spamd on a loopback TCP port: local tests only, no user configuration."""

    def __init__(self, tmp, timeout=120, children=2, local_cf=None, allow_tell=False):
        self.port = free_port()
        self.dir = os.path.join(tmp, "spamd-%d" % self.port)
        os.makedirs(self.dir)
        argv = [SPAMD, "-L", "-x", "-i", "127.0.0.1:%d" % self.port, "-A", "127.0.0.1",
                "-s", "stderr", "--max-children=%d" % children, "--min-children=1"]
        if local_cf is not None:  # site rules of the test's own (instead of /etc/spamassassin)
            site = os.path.join(self.dir, "site")
            shutil.copytree("/etc/spamassassin", site, ignore=shutil.ignore_patterns("local.cf"))
            with open(os.path.join(site, "local.cf"), "w") as f:
                f.write(local_cf)
            os.chmod(self.dir, 0o755)
            argv.append("--siteconfigpath=" + site)
        if allow_tell:
            # TELL learns into a Bayes database of this instance's own, which
            # the user spamd runs as must be able to write
            bayes = os.path.join(self.dir, "bayes")
            os.makedirs(bayes)
            os.chmod(self.dir, 0o755)
            if os.geteuid() == 0:
                shutil.chown(bayes, "nobody")
            argv += ["--allow-tell", "--cf=bayes_path %s/bayes" % bayes]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # spamd refuses to check mail as root
        super().__init__(argv, os.path.join(self.dir, "spamd.log"), cwd=self.dir)
        _wait("spamd", self.ping, self, self.read_log, timeout)

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    def ping(self):
        """True when spamc -K gets an answer."""
        try:
            p = subprocess.run([SPAMC, "-d", "127.0.0.1", "-p", str(self.port), "-K", "-t", "5"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        except subprocess.TimeoutExpired:
            return False
        return p.returncode == 0


def http_get(port, path, timeout=2.0):
    """GET path from 127.0.0.1:port over HTTP/1.0; (status, body) or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
            reply = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    head, _, body = reply.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), body


class Rspamd(Proc):
    """A private rspamd: normal worker, controller and proxy on free loopback ports.

    Debian's configuration, with the sockets, run, database and log directories
    of its own (files in local.d/ move the sockets: a --var alone does not).
    No DNS answers and no Redis: GTUBE still gives "reject".
    """

    def __init__(self, tmp, timeout=180, redis=None, password=None):
        self.port = free_port()
        self.controller_port = free_port()
        self.proxy_port = free_port()
        self.dir = os.path.join(tmp, "rspamd-%d" % self.port)
        local = os.path.join(self.dir, "local")
        for sub in ("local/local.d", "run", "db"):
            os.makedirs(os.path.join(self.dir, sub))
        self.socket = os.path.join(self.dir, "run", "normal.sock")
        for worker, binds in (("normal", ["127.0.0.1:%d" % self.port, self.socket]),
                              ("controller", ["127.0.0.1:%d" % self.controller_port]),
                              ("proxy", ["127.0.0.1:%d" % self.proxy_port])):
            with open(os.path.join(local, "local.d", "worker-%s.inc" % worker), "w") as f:
                f.write("".join('bind_socket = "%s";\n' % b for b in binds))
                if worker == "controller" and password:
                    f.write('password = "%s";\nenable_password = "%s";\n' % (password, password))
        if redis is not None:
            # Bayes statistics in that Redis, learning from the first message on
            with open(os.path.join(local, "local.d", "classifier-bayes.conf"), "w") as f:
                f.write('backend = "redis";\nservers = "%s";\nmin_learns = 1;\n' % redis.tcp)
        argv = [RSPAMD, "-f", "-c", RSPAMD_CONF,
                "--var", "LOCAL_CONFDIR=" + local,
                "--var", "RUNDIR=" + os.path.join(self.dir, "run"),
                "--var", "DBDIR=" + os.path.join(self.dir, "db"),
                "--var", "LOGDIR=" + self.dir]
        if os.geteuid() == 0:
            argv += ["-u", "root", "-g", "root"]  # stay who we are: the directories are ours
        super().__init__(argv, os.path.join(self.dir, "rspamd.out"), cwd=self.dir)
        _wait("rspamd", self.ping, self, self.read_all_logs, timeout)

    def restart(self, timeout=180):
        """Start again on the same ports after stop()."""
        Proc.__init__(self, self.p.args, os.path.join(self.dir, "rspamd.out"), cwd=self.dir)
        _wait("rspamd", self.ping, self, self.read_all_logs, timeout)

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    @property
    def unix(self):
        return "unix:" + self.socket

    def ping(self):
        """True when the normal worker answers /ping (on its TCP port; the socket is there too)."""
        reply = http_get(self.port, "/ping")
        return reply is not None and reply[0] == 200 and os.path.exists(self.socket)

    def read_all_logs(self):
        text = self.read_log()
        logfile = os.path.join(self.dir, "rspamd.log")
        if os.path.exists(logfile):
            with open(logfile, "rb") as f:
                text += f.read().decode("utf-8", "replace")[-8000:]
        return text


class Redis(Proc):
    """A private redis-server on a loopback port, nothing saved to disk."""

    def __init__(self, tmp, timeout=30):
        self.port = free_port()
        self.dir = os.path.join(tmp, "redis-%d" % self.port)
        os.makedirs(self.dir)
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"]
        super().__init__(argv, os.path.join(self.dir, "redis.log"), cwd=self.dir)
        _wait("redis", self.ping, self, self.read_log, timeout)

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    def ping(self):
        return self.command("PING") == b"+PONG"

    def command(self, line):
        """One inline command ("SCARD key"); the first line of the reply, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(line.encode() + b"\r\n")
                return s.recv(4096).split(b"\r\n", 1)[0]
        except OSError:
            return None


class FakeScanner:
    """A TCP server that plays a broken scanner, one thread per connection.

    read: read what the client sends (False: never read, so its writes stall);
    reply: bytes sent once after_bytes octets were read, or once the client
    shut down its side when after_bytes is None (reply None: never answer);
    close: close after replying; read_after_reply: keep reading afterwards.
    Connections are held open until stop().
    """

    def __init__(self, reply=None, read=True, after_bytes=None, close=True, read_after_reply=True):
        self.reply, self.read, self.after_bytes = reply, read, after_bytes
        self.close, self.read_after_reply = close, read_after_reply
        self.port = free_port()
        self.connections = 0
        self.received = 0
        self._stopping = threading.Event()
        self._conns = []
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _reply_due(self, got, eof):
        if self.after_bytes is None:
            return eof
        return got >= self.after_bytes

    def _serve(self, conn):
        conn.settimeout(0.2)
        got, eof, replied = 0, False, False
        while not self._stopping.is_set():
            if self.reply is not None and not replied and self._reply_due(got, eof):
                try:
                    conn.sendall(self.reply)
                except OSError:
                    return
                replied = True
                if self.close:
                    conn.close()
                    return
            reading = self.read and not eof and not (replied and not self.read_after_reply)
            if not reading:
                time.sleep(0.05)
                continue
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                eof = True
                continue
            got += len(data)
            with self._lock:
                self.received += len(data)

    def stop(self):
        self._stopping.set()
        self.sock.close()
        self._thread.join(5)
        with self._lock:
            for conn in self._conns:
                try:
                    conn.close()
                except OSError:
                    pass
        return 0
