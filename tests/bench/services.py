#!/usr/bin/python3
"""tests/bench/services.py - what opesd's adaptation services cost (a benchmark, not a test).

Run it through tests/bench/services.sh. Two parts, one run:

1. Throughput, rules service against pass-through. Two opesd instances, one without services
   and one with a [service.rules] section whose rules do not match ordinary mail, each relaying
   to its own smtp-sink -L. smtp-source -L sends the same load to each, in interleaved rounds
   (the order alternates from round to round). Prints msg/s and opesd's CPU time per message of
   both, and the cost of the rules in percent.
2. Latency with real scanners. A private clamd (local EICAR signatures only) and a private
   spamd (local tests only) are started; an opesd with [service.clamd] and [service.spamd]
   relays to a sink. The same messages are sent one at a time through that opesd (LMTP, one
   session), through the pass-through opesd, and straight to the scanners (clamd INSTREAM on
   its unix socket, spamd SYMBOLS over TCP, one connection each, as opesd does). Prints the
   time per message of each and opesd's share of the time through it:
   (through opesd - direct scanner time) / through opesd.

Everything runs on free loopback ports in a temporary directory; only the processes started
here are stopped, by PID. Standard library only. Settings come from the environment (see
tests/bench/README.md).
"""
import base64
import email.utils
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def env_int(name, default):
    value = os.environ.get(name, "")
    if value == "":
        return default
    if not value.isdigit():
        sys.exit("bench: %s must be a non-negative integer (got %r)" % (name, value))
    return int(value)


OPESD = os.environ.get("OPESD") or os.path.join(ROOT, "build", "bin", "opesd")
MESSAGES = env_int("BENCH_MESSAGES", 5000)        # messages per round and path (part 1)
SESSIONS = env_int("BENCH_SESSIONS", 20)          # smtp-source -s
MSG_SIZE = env_int("BENCH_MSG_SIZE", 10240)       # payload bytes per message
ROUNDS = env_int("BENCH_ROUNDS", 10)              # rounds of (pass-through, rules)
SCAN_MESSAGES = env_int("BENCH_SCAN_MESSAGES", 60)  # part 2 messages (0: skip part 2)
SCAN_WARMUP = env_int("BENCH_SCAN_WARMUP", 3)     # part 2 messages sent first, not counted
SPAMD_CHILDREN = env_int("BENCH_SPAMD_CHILDREN", 2)
PERF = env_int("BENCH_PERF", 0)                   # 1: perf record both opesd in part 1
PERF_FREQ = env_int("BENCH_PERF_FREQ", 499)       # samples per second (perf record -F)
KEEP = env_int("BENCH_KEEP", 0)                   # 1: keep the temporary directory
LOG_LEVEL = os.environ.get("BENCH_LOG_LEVEL") or "info"
RULES_FILE = os.environ.get("BENCH_RULES") or ""  # a file of "rule = ..." values, one a line

# Rules that ordinary mail (and smtp-source's) does not match; every one is evaluated on
# every message: the header rules run a regex over the raw and the RFC 2047-decoded value.
DEFAULT_RULES = [
    r"header Subject /VIAGRA|CIALIS|lottery winner/i quarantine",
    r"header From /@(spam|phish)\.example$/i reject",
    r"filename /\.(exe|scr|pif|bat|cmd|js|vbs)$/i reject",
    r"mimetype /^application\/(x-msdownload|x-dosexec)$/ reject",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # objects with .pid/.stop() or Popen objects, in start order
FAILED = []   # reasons the figures are not comparable


def say(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------- processes

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def stop_popen(p, sig=signal.SIGTERM, timeout=5.0):
    """Stop one process this script started, by its PID: sig, wait, then SIGKILL."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode


def stop(obj):
    if obj in STARTED:
        STARTED.remove(obj)
    if isinstance(obj, subprocess.Popen):
        return stop_popen(obj)
    if hasattr(obj, "p"):  # scanners.Clamd / Spamd: Proc.stop() signals its own PID
        return obj.stop(timeout=10)
    return None


def stop_all():
    for obj in reversed(list(STARTED)):
        try:
            stop(obj)
        except Exception as e:  # keep stopping the others
            print("bench: stopping %r: %s" % (obj, e), file=sys.stderr)


def start(argv, log, **kw):
    with open(log, "ab") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    STARTED.append(p)
    return p


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, pid, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if not alive(pid):
                raise RuntimeError("%s exited before listening on port %d" % (what, port))
            if time.monotonic() > deadline:
                raise RuntimeError("%s not listening on port %d after %d s" % (what, port, timeout))
            time.sleep(0.05)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def sys_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK  # all but idle and iowait


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def has_store():
    p = subprocess.run([OPESD, "-t", "-c", "/dev/null"], capture_output=True, text=True)
    return any(line.startswith("[store]") for line in p.stdout.splitlines())


class Opesd:
    """One opesd with a generated configuration; services: {name: [(key, value), ...]}."""

    def __init__(self, work, name, port, target, services=None):
        self.name, self.port = name, port
        self.log = os.path.join(work, name + ".log")
        spool = os.path.join(work, name + ".spool")
        os.makedirs(spool)
        lines = ["[opes]", "system_uri = http://opes.example.org/opes",
                 "[lmtp]", "listen = 127.0.0.1:%d" % port, "hostname = opes.bench",
                 "spool_dir = %s" % spool,
                 "[downstream]", "target = %s" % target]
        if HAS_STORE:
            lines += ["[store]", "path = %s" % os.path.join(work, name + ".db"),
                      "key_file = %s" % os.path.join(work, name + ".keys")]
        lines += ["[log]", "level = %s" % LOG_LEVEL]
        for sname, kv in (services or {}).items():
            lines.append("[service.%s]" % sname)
            lines += ["%s = %s" % (k, v) for k, v in kv]
        self.config = os.path.join(work, name + ".conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.p = start([OPESD, "-c", self.config], self.log)
        self.pid = self.p.pid
        try:
            wait_port(port, self.pid, "opesd " + name)
        except RuntimeError:
            with open(self.log, errors="replace") as f:
                raise RuntimeError("opesd %s did not start:\n%s" % (name, f.read())) from None

    def count(self, pattern):
        with open(self.log, "rb") as f:
            return len(re.findall(pattern.encode(), f.read()))


def sink_count(path):
    with open(path, "rb") as f:
        counts = re.findall(rb"mesg=(\d+)", f.read())
    return int(counts[-1]) if counts else 0


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(x, n):
    """The value at percentile x of the sorted list n (nearest rank)."""
    s = sorted(n)
    return s[min(len(s) - 1, max(0, int(round(x / 100 * len(s) + 0.5)) - 1))]


# ---------------------------------------------------------------- part 1: throughput

def read_rules():
    if not RULES_FILE:
        return DEFAULT_RULES
    rules = []
    with open(RULES_FILE) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rules.append(re.sub(r"^rule\s*=\s*", "", line))
    if not rules:
        sys.exit("bench: %s has no rules" % RULES_FILE)
    return rules


def throughput(work):
    rules = read_rules()
    p_sink_pass, p_sink_rules, p_pass, p_rules = free_ports(4)
    sinks = {}
    for name, port in (("pass", p_sink_pass), ("rules", p_sink_rules)):
        out = os.path.join(work, "sink-%s.out" % name)
        p = start(["smtp-sink", "-u", "nobody", "-c", "-L", "127.0.0.1:%d" % port, "1000"], out)
        wait_port(port, p.pid, "smtp-sink")
        sinks[name] = (p, out, port)
    opesds = {
        "pass": Opesd(work, "opesd-pass", p_pass, "lmtp:127.0.0.1:%d" % p_sink_pass),
        "rules": Opesd(work, "opesd-rules", p_rules, "lmtp:127.0.0.1:%d" % p_sink_rules,
                       {"rules": [("type", "rules")] + [("rule", r) for r in rules]}),
    }
    say("part 1: throughput, rules service against pass-through")
    say("  rules (%d): %s" % (len(rules), "; ".join(rules)))
    say("  load: %d rounds x %d messages per path, %d sessions, %d-byte payload, "
        "connection reuse on" % (ROUNDS, MESSAGES, SESSIONS, MSG_SIZE))
    perf = []
    if PERF:  # both instances, so that the sampling slows them alike
        for name in ("pass", "rules"):
            perf.append(start(["perf", "record", "-F", str(PERF_FREQ), "--call-graph",
                               "dwarf,16384", "-o", os.path.join(work, "perf-%s.data" % name),
                               "-p", str(opesds[name].pid)],
                              os.path.join(work, "perf-%s.out" % name)))
        time.sleep(1)
    src = ["smtp-source", "-L", "-d", "-s", str(SESSIONS), "-m", str(MESSAGES), "-l",
           str(MSG_SIZE), "-S", "opesd benchmark", "-f", "bench@example.org",
           "-t", "rcpt@example.org"]
    res = {"pass": [], "rules": []}
    say()
    say("  %-5s %-6s %8s %9s %11s %10s %9s %10s %10s" % (
        "round", "path", "seconds", "msg/s", "opesd CPU", "us/msg", "sink CPU", "source CPU",
        "other CPU"))
    for rnd in range(1, ROUNDS + 1):
        order = ("pass", "rules") if rnd % 2 else ("rules", "pass")
        for path in order:
            o, (sink, _, _) = opesds[path], sinks[path]
            c_o, c_s, c_sys, c_ch = cpu_seconds(o.pid), cpu_seconds(sink.pid), sys_busy(), \
                children_cpu()
            with open(os.path.join(work, "source-%s.out" % path), "ab") as out:
                t0 = time.monotonic()
                rc = subprocess.run(src + ["127.0.0.1:%d" % o.port], stdout=out,
                                    stderr=subprocess.STDOUT).returncode
                wall = time.monotonic() - t0
            d_o = cpu_seconds(o.pid) - c_o
            d_s = cpu_seconds(sink.pid) - c_s
            d_src = children_cpu() - c_ch
            other = sys_busy() - c_sys - d_o - d_s - d_src
            if rc != 0:
                FAILED.append("smtp-source to opesd-%s exited with status %d" % (path, rc))
            r = {"wall": wall, "rate": MESSAGES / wall, "us": d_o * 1e6 / MESSAGES,
                 "other": other / wall}
            res[path].append(r)
            say("  %-5d %-6s %8.3f %9.1f %10.2fs %10.1f %8.2fs %9.2fs %9.2fs" % (
                rnd, path, wall, r["rate"], d_o, r["us"], d_s, d_src, other))
    for p in perf:
        stop_popen(p, signal.SIGINT, timeout=60)
        STARTED.remove(p)
    # accounting: every message reached its sink, and the rules ran on every one
    expect = ROUNDS * MESSAGES
    for name in ("pass", "rules"):
        stop(opesds[name].p)
    for name in ("pass", "rules"):
        stop(sinks[name][0])
    got = {name: sink_count(sinks[name][1]) for name in sinks}
    say()
    line = "  messages received: pass-through sink %d/%d, rules sink %d/%d" % (
        got["pass"], expect, got["rules"], expect)
    if LOG_LEVEL in ("info", "debug"):
        with open(opesds["rules"].log, "rb") as f:
            verdicts = re.findall(rb"service=rules verdict=(\w+)", f.read())
        ran = {v.decode(): verdicts.count(v) for v in sorted(set(verdicts))}
        line += "; rules verdicts: %s" % (", ".join("%s %d" % kv for kv in ran.items()) or "none")
        if len(verdicts) != expect:
            FAILED.append("the rules ran on %d of %d messages; see %s"
                          % (len(verdicts), expect, opesds["rules"].log))
    say(line)
    if got["pass"] != expect or got["rules"] != expect:
        FAILED.append("messages were lost in part 1")

    rate_p = median([r["rate"] for r in res["pass"]])
    rate_r = median([r["rate"] for r in res["rules"]])
    paired = [100 * (1 - b["rate"] / a["rate"]) for a, b in zip(res["pass"], res["rules"])]
    us_p = median([r["us"] for r in res["pass"]])
    us_r = median([r["us"] for r in res["rules"]])
    cost = 100 * (1 - rate_r / rate_p)
    say("  throughput pass-through:  %8.1f msg/s (median of %d rounds)" % (rate_p, ROUNDS))
    say("  throughput rules:         %8.1f msg/s (median of %d rounds)" % (rate_r, ROUNDS))
    say("  cost of the rules:        %8.1f %% of pass-through throughput (target < 10 %%: %s);"
        " per round %.1f %% median, %.1f .. %.1f %%" % (
            cost, "met" if cost < 10 else "NOT met", median(paired), min(paired), max(paired)))
    say("  opesd CPU per message:    pass-through %.1f us, rules %.1f us (median); "
        "the rules add %.1f us (%.1f %%)" % (us_p, us_r, us_r - us_p, 100 * (us_r / us_p - 1)))
    other = median([r["other"] for r in res["pass"] + res["rules"]])
    if other > 0.15:
        say("  note: other processes kept %.2f CPU(s) busy during the rounds (median); "
            "the figures are disturbed" % other)
    if perf:
        perf_report(work)


def perf_report(work):
    """The hottest functions of each opesd (self time), then opesd's own functions with what
    they call (children included): where the time per message goes."""
    def report(name, argv):
        rep = subprocess.run(["perf", "report", "-i", os.path.join(work, "perf-%s.data" % name),
                              "--stdio", "-g", "none", "--sort", "dso,symbol"] + argv,
                             capture_output=True, text=True)
        return [line.rstrip() for line in rep.stdout.splitlines()
                if line.strip() and not line.startswith("#")]

    for name in ("pass", "rules"):
        say()
        say("  perf, opesd %s: self time by function (above 1 %%; the sampling slows both "
            "instances alike):" % name)
        for line in report(name, ["--no-children", "--percent-limit", "1"]):
            say("   " + line)
    me = os.path.basename(OPESD)
    for name in ("pass", "rules"):
        say()
        say("  perf, opesd %s: opesd's functions, time including what they call:" % name)
        lines = [line for line in report(name, ["--children", "--percent-limit", "0.2"])
                 if len(line.split()) > 2 and line.split()[2] == me]
        shown = lines[:30] + [line for line in lines[30:]
                              if re.search(r"\] (svc_run|rules_run|rule_\w+)\b", line)]
        for line in shown:
            say("   " + line)


# ---------------------------------------------------------------- part 2: scanners

WORDS = ("the quarterly report budget forecast team project schedule update customer feedback "
         "release notes office travel plans meeting thursday afternoon review numbers before "
         "agenda minutes draft final version attached please find below regards thanks "
         "question answer deadline next week monday friday invoice order delivery address").split()


def text_lines(rnd, size):
    out, n = [], 0
    while n < size:
        words, line = [], 0
        while line < 68:
            w = rnd.choice(WORDS)
            words.append(w)
            line += len(w) + 1
        s = " ".join(words).capitalize() + ".\r\n"
        out.append(s)
        n += len(s)
    return "".join(out)


def scan_message(i, size):
    """An ordinary business message of about size bytes: a text part and a base64 attachment."""
    rnd = random.Random(i)
    boundary = "=_bench_%d_%d" % (os.getpid(), i)
    attach = base64.encodebytes(text_lines(rnd, size // 4).encode()).decode().replace("\n", "\r\n")
    text = text_lines(rnd, max(0, size - len(attach) - 600))
    msg = ("From: Alice Example <alice@example.org>\r\n"
           "To: Bob Example <bob@example.org>\r\n"
           "Subject: project update %d\r\n"
           "Date: %s\r\n"
           "Message-ID: <bench-scan-%d.%d@example.org>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"%s\"\r\n"
           "\r\n"
           "--%s\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\n"
           "\r\n"
           "%s\r\n"
           "--%s\r\n"
           "Content-Type: text/plain; name=\"notes-%d.txt\"\r\n"
           "Content-Disposition: attachment; filename=\"notes-%d.txt\"\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "\r\n"
           "%s"
           "--%s--\r\n") % (i, email.utils.formatdate(localtime=True), i, os.getpid(), boundary,
                            boundary, text, boundary, i, i, attach, boundary)
    return msg.encode()


def clamd_instream(path, msg):
    """clamd INSTREAM over a unix socket, 64 KiB chunks (as opesd): the reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    with s:
        s.connect(path)
        s.sendall(b"zINSTREAM\0")
        for off in range(0, len(msg), 65536):
            chunk = msg[off:off + 65536]
            s.sendall(struct.pack(">I", len(chunk)) + chunk)
        s.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            data = s.recv(4096)
            if not data:
                break
            reply += data
    return reply.rstrip(b"\0").decode("utf-8", "replace")


def spamd_symbols(port, msg):
    """spamd SYMBOLS SPAMC/1.5 over TCP (as opesd): the score."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    with s:
        s.sendall(b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(msg) + msg)
        reply = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            reply += data
    m = re.search(rb"^Spam: \w+ ; (-?[\d.]+) /", reply, re.M)
    if not reply.startswith(b"SPAMD/") or b" 0 EX_OK" not in reply.split(b"\r\n", 1)[0] or not m:
        raise RuntimeError("unexpected spamd reply: %r" % reply[:200])
    return float(m.group(1))


class Lmtp:
    """One LMTP session to opesd; send() times one transaction, MAIL to the final reply."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.f = self.s.makefile("rb")
        self.reply()
        self.cmd(b"LHLO bench.example.org")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("opesd closed the connection")
            lines.append(line.decode("utf-8", "replace").rstrip())
            if len(line) < 4 or line[3:4] != b"-":
                return lines[-1]

    def cmd(self, line, expect="2"):
        self.s.sendall(line + b"\r\n")
        r = self.reply()
        if not r.startswith(expect):
            raise RuntimeError("%s: %s" % (line.decode(), r))
        return r

    def send(self, msg):
        data = re.sub(rb"(?m)^\.", b"..", msg)
        t0 = time.perf_counter()
        self.cmd(b"MAIL FROM:<alice@example.org>")
        self.cmd(b"RCPT TO:<bob@example.org>")
        self.cmd(b"DATA", "354")
        self.s.sendall(data + b".\r\n")
        r = self.reply()
        return time.perf_counter() - t0, r

    def close(self):
        try:
            self.s.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.f.close()
        self.s.close()


def service_ms(log, name):
    with open(log, "rb") as f:
        return [int(x) for x in re.findall(rb"service=%s verdict=\w+(?: failed=yes)? ms=(\d+)"
                                           % name.encode(), f.read())]


def scanners(work):
    import scanners as sc  # tests/integration/scanners.py: private clamd and spamd, no downloads

    class Clamd(sc.Clamd):  # registered before it starts, so a failed start is stopped too
        def __init__(self, tmp):
            STARTED.append(self)
            super().__init__(tmp)

    class Spamd(sc.Spamd):
        def __init__(self, tmp, children):
            STARTED.append(self)
            super().__init__(tmp, children=children)

    say()
    say("part 2: time per message with clamd and spamd, through opesd and direct")
    t0 = time.monotonic()
    clamd = Clamd(work)
    t1 = time.monotonic()
    spamd = Spamd(work, SPAMD_CHILDREN)
    t2 = time.monotonic()
    say("  private clamd ready in %.1f s (local signatures only), spamd in %.1f s "
        "(local tests only, %d children)" % (t1 - t0, t2 - t1, SPAMD_CHILDREN))
    p_sink, p_scan, p_pass = free_ports(3)
    sink_out = os.path.join(work, "sink-scan.out")
    sink = start(["smtp-sink", "-u", "nobody", "-c", "-L", "127.0.0.1:%d" % p_sink, "1000"],
                 sink_out)
    wait_port(p_sink, sink.pid, "smtp-sink")
    target = "lmtp:127.0.0.1:%d" % p_sink
    scan = Opesd(work, "opesd-scan", p_scan, target, {
        "clamd": [("type", "clamd"), ("socket", clamd.unix)],
        "spamd": [("type", "spamd"), ("address", spamd.tcp)]})
    plain = Opesd(work, "opesd-plain", p_pass, target)
    msgs = [scan_message(i, MSG_SIZE) for i in range(SCAN_WARMUP + SCAN_MESSAGES)]
    say("  %d messages of %d-%d bytes (text and a base64 attachment), sent one at a time, "
        "after %d not counted" % (SCAN_MESSAGES, min(len(m) for m in msgs),
                                  max(len(m) for m in msgs), SCAN_WARMUP))
    via_scan, via_plain = Lmtp(p_scan), Lmtp(p_pass)
    t = {"scan": [], "plain": [], "clamd": [], "spamd": []}
    scores, bad = [], []
    cpu0 = None
    for i, msg in enumerate(msgs):
        if i == SCAN_WARMUP:
            cpu0 = cpu_seconds(scan.pid)
        got = {}

        def direct():
            a = time.perf_counter()
            r = clamd_instream(clamd.socket, msg)
            b = time.perf_counter()
            scores.append(spamd_symbols(spamd.port, msg))
            c = time.perf_counter()
            got["clamd"], got["spamd"] = b - a, c - b
            if r != "stream: OK":
                bad.append("clamd: %s" % r)

        def through(name, session):
            secs, r = session.send(msg)
            got[name] = secs
            if not r.startswith("250"):
                bad.append("opesd-%s: %s" % (name, r))

        steps = [direct, lambda: through("scan", via_scan), lambda: through("plain", via_plain)]
        for k in range(3):  # rotate the order from message to message
            steps[(i + k) % 3]()
        if i >= SCAN_WARMUP:
            for k in t:
                t[k].append(got[k])
    cpu_scan = cpu_seconds(scan.pid) - cpu0
    via_scan.close()
    via_plain.close()
    logged = {name: service_ms(scan.log, name)[SCAN_WARMUP:] for name in ("clamd", "spamd")}
    stop(scan.p)
    stop(plain.p)
    stop(sink)
    stop(spamd)
    stop(clamd)
    got_sink = sink_count(sink_out)
    if bad:
        FAILED.append("part 2: %d unexpected replies, first: %s" % (len(bad), bad[0]))
    if got_sink != 2 * len(msgs):
        FAILED.append("part 2: the sink received %d of %d messages" % (got_sink, 2 * len(msgs)))

    n = SCAN_MESSAGES
    direct = [a + b for a, b in zip(t["clamd"], t["spamd"])]
    own = [a - b for a, b in zip(t["scan"], direct)]
    say()
    say("  %-48s %8s %8s %8s %8s" % ("ms per message", "mean", "median", "p90", "min"))

    def row(label, xs):
        ms = [x * 1000 for x in xs]
        say("  %-48s %8.2f %8.2f %8.2f %8.2f" % (label, statistics.fmean(ms), median(ms),
                                                 pct(90, ms), min(ms)))

    row("clamd INSTREAM, direct (unix socket)", t["clamd"])
    row("spamd SYMBOLS, direct (TCP)", t["spamd"])
    row("clamd + spamd, direct", direct)
    row("through opesd with clamd and spamd (LMTP)", t["scan"])
    row("through opesd without services (LMTP)", t["plain"])
    row("opesd's own time: through opesd - direct", own)
    if all(len(logged[k]) == n for k in logged):  # whole ms, rounded down, in opesd's log
        inside = [(a + b) / 1000 for a, b in zip(logged["clamd"], logged["spamd"])]
        row("clamd + spamd as timed inside opesd (log, 1 ms)", inside)
        row("through opesd - that (opesd outside the calls)", [a - b for a, b in
                                                                zip(t["scan"], inside)])
    share_mean = 100 * sum(own) / sum(t["scan"])
    share_med = 100 * median([o / x for o, x in zip(own, t["scan"])])
    # the scanners' own spread (spamd's above all) makes the difference noisy: its 95 % interval
    ci = 1.96 * statistics.stdev(own) / len(own) ** 0.5 if len(own) > 1 else float("nan")
    say()
    say("  opesd's share of the time through it = (through opesd - direct) / through opesd:")
    say("    %.1f %% from the sums, %.1f %% median per message; opesd's own time %.2f ms per "
        "message (mean, 95 %% interval +-%.2f ms)"
        % (share_mean, share_med, 1000 * statistics.fmean(own), 1000 * ci))
    if all(len(logged[k]) == n for k in logged):
        outside = sum(a - b for a, b in zip(t["scan"], inside))
        say("    %.1f %% when the scanners' time is the one opesd measured around its calls "
            "(not disturbed by their spread)" % (100 * outside / sum(t["scan"])))
    say("  relaying without services takes %.2f ms per message (median); opesd CPU with clamd and "
        "spamd: %.2f ms per message" % (1000 * median(t["plain"]), 1000 * cpu_scan / n))
    say("  spamd scores: %.1f .. %.1f (all below the tag threshold 5.0: %s)" % (
        min(scores), max(scores), "yes" if max(scores) < 5.0 else "no"))


# ---------------------------------------------------------------- main

def on_signal(signum, _frame):
    print("bench: stopped by signal %d" % signum, file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def main():
    global HAS_STORE
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if not os.access(OPESD, os.X_OK):
        sys.exit("bench: %s not found; build with: cmake -B build -S . && cmake --build build -j2"
                 % OPESD)
    if MESSAGES < 1 or SESSIONS < 1 or ROUNDS < 1:
        sys.exit("bench: BENCH_MESSAGES, BENCH_SESSIONS and BENCH_ROUNDS must be at least 1")
    if PERF and shutil.which("perf") is None:
        sys.exit("bench: BENCH_PERF=1 needs perf (apt-get install linux-perf)")
    HAS_STORE = has_store()
    work = tempfile.mkdtemp(prefix="opesd-services.", dir=os.environ.get("TMPDIR") or "/tmp")
    os.chmod(work, 0o755)  # smtp-sink and spamd run as nobody
    keep = KEEP
    t0 = time.monotonic()
    say("opesd services benchmark: %s, %d CPU(s)" % (OPESD, os.cpu_count()))
    say()
    try:
        throughput(work)
        if SCAN_MESSAGES > 0:
            scanners(work)
        say()
        say("total time %.0f s" % (time.monotonic() - t0))
    except (RuntimeError, OSError) as e:  # a setup failure: keep the logs
        keep = 1
        print("bench: %s" % e, file=sys.stderr)
        return 1
    except Exception:
        keep = 1
        raise
    finally:
        stop_all()
        if FAILED:
            keep = 1
        if keep:
            say("bench: files kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if FAILED:
        for f in FAILED:
            print("bench: " + f, file=sys.stderr)
        print("bench: the figures above are not comparable", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
