"""The whole chain under load and faults: Postfix -> opesd -> Dovecot loses nothing.

A private Postfix (its own configuration, queue and log; example.org goes to
opesd over LMTP), opesd with clamd, spamd and a rules service, and a real
Dovecot LMTP as the mailbox store, all started here on loopback ports. Mail
is injected over SMTP into Postfix by 20 parallel clients: mixed sizes
(2 KB - 2 MB), some with several recipients, some carrying EICAR (held for
alice and bob, refused for carol), some GTUBE (held). Every recipient of
every message must end in exactly one place: a mailbox, the quarantine, or a
rejection in Postfix's log, the one its content calls for. None may be lost;
duplicates are counted. In the crash scenario opesd's delivery ledger answers
the transactions Postfix sends again after a kill, and every copy carries an
OPES-Delivery-Id that Dovecot, set up as packaging/dovecot/ ships it, uses to
drop a second copy (a kill while it was saving). The scenario fails on any
duplicate (and says whether the ledger or the store's check let it through),
and when Dovecot's duplicate database did not keep the id of every copy
(dovecot_marks: Dovecot 2.3 loses ids of deliveries to one user that end
together, which opesd's one final dot at a time per mailbox prevents).

Scenarios (each prints its figures):
  load      N messages (1000; 5000 with --long)
  crash     the same while opesd is killed with SIGKILL three times and restarted:
            no duplicates (at_risk: recipients Postfix sent again after the dot;
            ledger_hits: those answered from opesd's delivery ledger; store_dropped:
            copies Dovecot's Sieve discarded by their OPES-Delivery-Id)
  store     Dovecot stopped for 30 s during load: Postfix defers, then delivers all
  scanner   clamd stopped: mail waits (451), nothing is delivered unscanned
  limits    200 idle connections, a slow-loris client, a full spool, peak RSS
  nodes     two opesd nodes on one PostgreSQL store, one killed (tests/chain/nodes.py)

Usage: chain.py [--long] [--messages N] [--only NAME,...]   (OPESD and OPESCTL name the binaries)
"""
import argparse
import base64
import collections
import json
import os
import pwd
import queue
import random
import re
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import opestest as t  # noqa: E402
from scanners import EICAR, GTUBE_MESSAGE, Clamd, Spamd  # noqa: E402

USERS = ("alice", "bob", "carol")
CLIENTS = 20


class Postfix:
    """A private Postfix instance whose smtpd listens on a loopback port; extra overrides
    main.cf, services are more master.cf lines."""

    def __init__(self, tmp, lmtp_port, extra=None, services=()):
        self.dir = os.path.join(tmp, "postfix")
        self.conf = os.path.join(self.dir, "conf")
        self.port = t.free_port()
        self.log = os.path.join(self.dir, "maillog")
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.dir, "queue"), mode=0o755)
        os.makedirs(os.path.join(self.dir, "data"), mode=0o700)
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.chain.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "virtual_mailbox_domains": "example.org",
            "virtual_transport": "lmtp:inet:127.0.0.1:%d" % lmtp_port,
            "lmtp_send_xforward_command": "yes",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.dir,
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "message_size_limit": "52428800",
            "smtputf8_enable": "no",
            "biff": "no",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "lmtp_destination_concurrency_limit": "20",
            "default_process_limit": "100",
            "bounce_queue_lifetime": "0",
            "notify_classes": "",
        }
        main.update(extra or {})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open("/etc/postfix/master.cf.proto") as f:
            proto = f.read().split("\n")
        out = []
        for line in proto:
            fields = line.split()
            if line[:1].isalpha() and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = "127.0.0.1:%d" % self.port
                fields[4] = "n"  # no chroot: the queue is not under /var/spool
                line = " ".join(fields)
            out.append(line)
        out += list(services)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(out))
        self.postfix("start")
        t.wait_port(self.port)

    def postfix(self, *args):
        p = subprocess.run(["postfix", "-c", self.conf] + list(args), capture_output=True)
        if p.returncode != 0:
            raise AssertionError("postfix %s: %s" % (" ".join(args), p.stderr.decode()[-2000:]))

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return 0

    def flush(self):
        subprocess.run(["postqueue", "-c", self.conf, "-f"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def queue_size(self):
        p = subprocess.run(["postqueue", "-c", self.conf, "-j"], capture_output=True)
        return len([l for l in p.stdout.split(b"\n") if l.strip()])

    def read_log(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def make_message(i, rng):
    """One test message: (id, kind, recipients, bytes)."""
    mid = "c%05d" % i
    kind = "eicar" if i % 20 == 7 else "gtube" if i % 20 == 13 else "clean"
    if i % 4 == 0:
        rcpts = ["%s@example.org" % u for u in USERS]
    else:
        rcpts = ["%s@example.org" % USERS[i % 3]]
    head = ("From: sender@remote.example\r\nTo: %s\r\nSubject: chain %s\r\n"
            "Message-ID: <%s@chain.test>\r\nX-Chain-Id: %s\r\nX-Chain-Sent: %.3f\r\n"
            % (", ".join(rcpts), mid, mid, mid, time.time()))
    if kind == "gtube":
        with open(GTUBE_MESSAGE, encoding="utf-8", errors="replace") as f:
            text = f.read()
        body = text.partition("\n\n")[2].replace("\n", "\r\n")
        return mid, kind, rcpts, (head + "\r\n" + body).encode()
    size = rng.randint(500_000, 2_000_000) if i % 50 == 0 else rng.randint(2_000, 30_000)
    filler = base64.encodebytes(rng.randbytes(size * 3 // 4)).decode().replace("\n", "\r\n")
    parts = ["--b\r\nContent-Type: text/plain\r\n\r\nmessage %s\r\n" % mid,
             "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
             "\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n" + filler]
    if kind == "eicar":
        parts.append("--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding:"
                     " base64\r\nContent-Disposition: attachment; filename=\"x.com\"\r\n\r\n"
                     + base64.encodebytes(EICAR).decode().replace("\n", "\r\n"))
    body = "".join(parts) + "--b--\r\n"
    return mid, kind, rcpts, (head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
                              "boundary=\"b\"\r\n\r\n" + body).encode()


def expected(kind, rcpt):
    if kind == "clean":
        return "delivered"
    if kind == "eicar" and rcpt.startswith("carol@"):
        return "rejected"
    return "quarantined"


class Chain:
    def __init__(self, tmp, shared, extra=None):
        self.tmp = tmp
        self.shared = shared
        self.dovecot = t.Dovecot(tmp, users=USERS + ("sender",), dedup=True)
        cfg = {
            "lmtp.max_connections": "250",
            "lmtp.command_timeout": "20s",
            "lmtp.spool_memory": "64K",
            "service.rules.type": "rules",
            "service.rules.rule": "header Subject /chain-never-matches/ quarantine",
            "service.clamd.type": "clamd",
            "service.clamd.socket": shared.clamd.unix,
            "service.clamd.timeout": "60s",
            "service.clamd.recipient_action": "carol@example.org=reject",
            "service.spamd.type": "spamd",
            "service.spamd.address": shared.spamd.tcp,
            "service.spamd.timeout": "120s",
            "service.spamd.quarantine_threshold": "20",
            "notify.default_mode": "off",
        }
        cfg.update(extra or {})
        try:
            self.opesd = t.Opesd(tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra=cfg)
        except BaseException:
            self.dovecot.stop()
            raise
        try:
            self.postfix = Postfix(tmp, self.opesd.port)
        except BaseException:
            self.opesd.stop()
            self.dovecot.stop()
            raise
        self.sent = {}  # id -> (kind, rcpts)
        self.peak_rss_kb = 0

    def stop(self):
        problems = []
        self.sample_rss()
        self.postfix.stop()
        rc = self.opesd.stop()
        log = self.opesd.read_log()
        if any(mark in log for mark in t.SANITIZER_MARKS):
            problems.append("opesd's log has a sanitizer report:\n" + log[-6000:])
        if rc not in (0, -signal.SIGKILL):
            problems.append("opesd exited with %s" % rc)
        self.dovecot.stop()
        return problems

    # ------------------------------------------------------------ opesd

    def restart_opesd(self):
        self.sample_rss()
        t.Proc.__init__(self.opesd, [t.OPESD, "-c", self.opesd.config], self.opesd.log_path)
        t.wait_port(self.opesd.port, proc=self.opesd.p)

    def sample_rss(self):
        """opesd's peak RSS so far (VmHWM), kept across restarts."""
        try:
            with open("/proc/%d/status" % self.opesd.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass

    # ------------------------------------------------------------ injection

    def inject(self, first, count, seed=1):
        """Send messages first..first+count-1 through Postfix with CLIENTS clients."""
        work = queue.Queue()
        rng = random.Random(seed)
        for i in range(first, first + count):
            work.put(make_message(i, rng))
        errors = []

        def client():
            s = None
            while True:
                try:
                    mid, kind, rcpts, data = work.get_nowait()
                except queue.Empty:
                    break
                for attempt in range(30):
                    try:
                        if s is None:
                            s = smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=60)
                            s.ehlo("client.chain.test")
                        s.sendmail("sender@remote.example", rcpts, data)
                        self.sent[mid] = (kind, rcpts)
                        break
                    except (smtplib.SMTPException, OSError) as e:
                        s = None
                        if attempt == 29:
                            errors.append("%s: %s" % (mid, e))
                        time.sleep(1)
            if s is not None:
                try:
                    s.quit()
                except (smtplib.SMTPException, OSError):
                    pass

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise AssertionError("Postfix did not take %d messages: %s" % (len(errors), errors[:3]))

    # ------------------------------------------------------------ accounting

    def delivered(self):
        """(id, user) -> count, and the delivery latencies in seconds."""
        counts, latency = collections.Counter(), []
        for user in USERS:
            for sub in ("new", "cur"):
                d = os.path.join(self.dovecot.mail, user, sub)
                if not os.path.isdir(d):
                    continue
                for name in os.listdir(d):
                    path = os.path.join(d, name)
                    with open(path, "rb") as f:
                        head = f.read(8192).split(b"\n\n", 1)[0].decode("utf-8", "replace")
                    m = re.search(r"(?m)^X-Chain-Id: (c\d+)", head)
                    if m is None:
                        continue
                    counts[(m.group(1), user + "@example.org")] += 1
                    sent = re.search(r"(?m)^X-Chain-Sent: ([\d.]+)", head)
                    latency.append(os.stat(path).st_mtime - float(sent.group(1)))
        return counts, latency

    def delivery_ids(self):
        """(id, user) -> the OPES-Delivery-Id of each copy in the mailbox."""
        ids = collections.defaultdict(list)
        for user in USERS:
            for data in self.dovecot.messages(user):
                head = t.unfold(data.split(b"\n\n", 1)[0].decode("utf-8", "replace"))
                m = re.search(r"(?m)^X-Chain-Id: (c\d+)", head)
                d = re.search(r"(?mi)^OPES-Delivery-Id: *(\S+)", head)
                if m:
                    ids[(m.group(1), user + "@example.org")].append(d.group(1) if d else None)
        return ids

    def kill_window(self):
        """Ids of the messages whose answer Postfix lost after the end of the data (only a
        kill of opesd loses a connection here): the mailbox store may have them already."""
        log = self.postfix.read_log()
        ids = dict(re.findall(r"postfix/cleanup\[\d+\]: (\w+): message-id=<(c\d+)@chain\.test>",
                              log))
        return {ids[q] for q in re.findall(r"\]: (\w+): lost connection with .* while sending end "
                                           r"of data -- message may be sent more than once", log)
                if q in ids}

    def duplicates_explained(self, delivered):
        """Of the extra copies in the mailboxes, those a kill explains: the message was in the
        kill window and every copy carries the same OPES-Delivery-Id (so the mailbox store's
        duplicate check had what it needed); the rest, (id, recipient, delivery ids), are
        opesd's fault."""
        window, ids = self.kill_window(), None
        explained, faults = 0, []
        for key, count in delivered.items():
            if count < 2:
                continue
            ids = ids if ids is not None else self.delivery_ids()
            if key[0] in window and None not in ids[key] and len(set(ids[key])) == 1:
                explained += count - 1
            else:
                faults.append((key[0], key[1], ids[key]))
        return explained, faults

    def dedup_marks(self):
        """Delivery ids recorded in the users' Dovecot duplicate databases, and the copies
        delivered: Dovecot 2.3 rewrites the whole file from what one delivery read, so marks
        of deliveries to the same user that end at the same time get lost."""
        marks = 0
        for user in USERS:
            try:
                with open(os.path.join(self.dovecot.mail, user, ".dovecot.lda-dupes"), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            off = 4  # the file header: a version
            while off + 12 <= len(data):  # stamp, id size, user size, then id and user
                _, id_size, user_size = struct.unpack_from("=III", data, off)
                off += 12 + id_size + user_size
                marks += 1
        return marks

    def quarantined(self):
        _, out, _ = self.opesd.ctl("quarantine", "list", "--limit", "100000", "--json")
        counts = collections.Counter()
        for item in json.loads(out):
            m = re.match(r"chain (c\d+)$", item["subject"])
            if m:
                counts[(m.group(1), item["recipient"].lower())] += 1
        return counts

    def rejected(self):
        log = self.postfix.read_log()
        ids = dict(re.findall(r"postfix/cleanup\[\d+\]: (\w+): message-id=<(c\d+)@chain\.test>",
                              log))
        counts = collections.Counter()
        for qid, rcpt in re.findall(r"postfix/lmtp\[\d+\]: (\w+): to=<([^>]+)>.*status=bounced",
                                    log):
            if qid in ids:
                counts[(ids[qid], rcpt.lower())] += 1
        return counts

    def account(self):
        delivered, latency = self.delivered()
        places = {"delivered": delivered, "quarantined": self.quarantined(),
                  "rejected": self.rejected()}
        lost, dups, wrong = [], 0, []
        for mid, (kind, rcpts) in self.sent.items():
            for r in rcpts:
                seen = {p: c[(mid, r)] for p, c in places.items() if c[(mid, r)]}
                if not seen:
                    lost.append((mid, r))
                    continue
                dups += sum(seen.values()) - 1
                want = expected(kind, r)
                if want not in seen or len(seen) > 1:
                    wrong.append((mid, r, kind, seen))
        return {"lost": lost, "duplicates": dups, "wrong": wrong, "latency": latency,
                "pairs": sum(len(r) for _, r in self.sent.values())}

    def settle(self, timeout):
        """Wait until Postfix's queue is empty and every recipient is accounted for."""
        deadline = time.time() + timeout
        last_flush = 0
        while time.time() < deadline:
            if self.postfix.queue_size() == 0:
                result = self.account()
                if not result["lost"]:
                    return result
            if time.time() - last_flush > 10:
                self.postfix.flush()
                last_flush = time.time()
            time.sleep(1)
        return self.account()


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def say(line):
    """Print a figure, and keep it in $OPES_CHAIN_FIGURES when set (tests/run.sh shows it)."""
    print(line, flush=True)
    path = os.environ.get("OPES_CHAIN_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def report(name, chain, result, started, extra=""):
    took = time.time() - started
    lat = result["latency"]
    say("chain %-8s messages=%d recipients=%d lost=%d duplicates=%d wrong=%d "
        "msgs/s=%.1f latency_p50=%.2fs latency_p99=%.2fs peak_rss=%.1fMB %s"
        % (name, len(chain.sent), result["pairs"], len(result["lost"]), result["duplicates"],
           len(result["wrong"]), len(chain.sent) / took if took else 0,
           percentile(lat, 50), percentile(lat, 99), chain.peak_rss_kb / 1024.0, extra))
    problems = []
    if result["lost"]:
        problems.append("%s: %d recipients lost, e.g. %s" % (name, len(result["lost"]),
                                                             result["lost"][:5]))
    if result["wrong"]:
        problems.append("%s: %d recipients in the wrong place, e.g. %s"
                        % (name, len(result["wrong"]), result["wrong"][:5]))
    return problems


# ---------------------------------------------------------------- scenarios

def scenario_load(tmp, shared, n):
    chain = Chain(tmp, shared)
    try:
        started = time.time()
        chain.inject(0, n)
        result = chain.settle(900)
        chain.sample_rss()
        problems = report("load", chain, result, started)
        if result["duplicates"]:
            problems.append("load: %d duplicates without any fault" % result["duplicates"])
        return problems
    finally:
        problems_stop = chain.stop()
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))


def scenario_crash(tmp, shared, n):
    chain = Chain(tmp, shared)
    kills = []
    try:
        started = time.time()
        injector = threading.Thread(target=chain.inject, args=(0, n, 2))
        injector.start()
        rng = random.Random(3)
        for _ in range(3):
            time.sleep(rng.uniform(2, 8))
            chain.sample_rss()
            chain.opesd.signal(signal.SIGKILL)
            chain.opesd.p.wait()
            kills.append(round(time.time() - started, 1))
            time.sleep(rng.uniform(0.5, 2))
            chain.restart_opesd()
        injector.join()
        result = chain.settle(900)
        chain.sample_rss()
        hits = chain.opesd.read_log().count("ledger hit: ")
        # recipients whose dot opesd had when it was killed: the ones a retry could duplicate
        at_risk = len(re.findall(r"postfix/lmtp\[\d+\]: .*message may be sent more than once",
                                 chain.postfix.read_log()))
        with open(os.path.join(chain.dovecot.dir, "dovecot.log"), errors="replace") as f:
            dropped = f.read().count("(discard action)")
        delivered, _ = chain.delivered()
        explained, faults = chain.duplicates_explained(delivered)
        marks, copies = chain.dedup_marks(), sum(delivered.values())
        problems = report("crash", chain, result, started,
                          "kills_at=%s at_risk=%d ledger_hits=%d store_dropped=%d "
                          "kill_window_duplicates=%d dovecot_marks=%d/%d"
                          % (kills, at_risk, hits, dropped, explained, marks, copies))
        # Dovecot 2.3's duplicate database loses the ids of deliveries to one user that end
        # together; opesd sends one final dot at a time per mailbox, so it keeps every one
        if marks < copies:
            problems.append("crash: Dovecot's duplicate database kept %d ids of %d copies "
                            "(deliveries to one mailbox ended together)" % (marks, copies))
        # no duplicate at all; what kind it is says where to look: a copy in the kill window
        # with one delivery id got past the store's duplicate check, any other (another id,
        # outside the window, held or refused twice) got past opesd's ledger
        if explained:
            problems.append("crash: %d copies of messages in the kill window delivered twice "
                            "with one delivery id (the store's duplicate check)" % explained)
        if faults:
            problems.append("crash: %d copies delivered twice that the kill does not explain, "
                            "e.g. %s" % (len(faults), faults[:3]))
        in_mailboxes = sum(c - 1 for c in delivered.values() if c > 1)
        if result["duplicates"] > in_mailboxes:
            problems.append("crash: %d duplicates outside the mailboxes (held or refused twice)"
                            % (result["duplicates"] - in_mailboxes))
        return problems
    finally:
        problems_stop = chain.stop()
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))


def scenario_store(tmp, shared, n, outage):
    chain = Chain(tmp, shared)
    try:
        started = time.time()
        injector = threading.Thread(target=chain.inject, args=(0, n, 4))
        injector.start()
        time.sleep(3)
        chain.dovecot.stop()
        down_at = time.time()
        time.sleep(outage)
        deferred = len(re.findall(r"status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 4",
                                  chain.postfix.read_log()))
        chain.dovecot.start()
        injector.join()
        result = chain.settle(900)
        chain.sample_rss()
        problems = report("store", chain, result, started,
                          "outage=%ds deferred_4xx=%d" % (time.time() - down_at, deferred))
        if deferred == 0:
            problems.append("store: no delivery was deferred with a 4xx while Dovecot was down")
        if re.search(r"said: 5\d\d [^)]*(store|Mailbox)", chain.postfix.read_log()):
            problems.append("store: a 5xx was given for the store outage")
        return problems
    finally:
        problems_stop = chain.stop()
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))


def scenario_scanner(tmp, shared):
    chain = Chain(tmp, shared)
    try:
        started = time.time()
        shared.clamd.stop()
        chain.inject(0, 40, 5)
        time.sleep(8)
        delivered, _ = chain.delivered()
        log = chain.postfix.read_log()
        deferred = len(re.findall(r"status=deferred .*said: 451 4\.3\.0", log))
        shared.clamd.restart()
        result = chain.settle(600)
        chain.sample_rss()
        problems = report("scanner", chain, result, started,
                          "deferred_451=%d delivered_while_down=%d"
                          % (deferred, sum(delivered.values())))
        if sum(delivered.values()):
            problems.append("scanner: %d copies delivered while clamd was down"
                            % sum(delivered.values()))
        if deferred == 0:
            problems.append("scanner: nothing was deferred with 451 4.3.0 while clamd was down")
        return problems
    finally:
        if shared.clamd.p.poll() is not None:
            shared.clamd.restart()
        problems_stop = chain.stop()
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))


def open_idle(port, n):
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        out.append((s, s.recv(512)))
    return out


def slow_loris(port, limit):
    """Seconds until opesd cuts a client that sends one byte a second, or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.recv(512)
    t0 = time.time()
    try:
        for ch in b"NOOP " + b"x" * 200 + b"\r\n":
            if time.time() - t0 > limit:
                return None
            s.send(bytes([ch]))
            time.sleep(1)
            s.settimeout(0.01)
            try:
                data = s.recv(512)
                if data == b"" or data.startswith(b"421"):
                    return time.time() - t0
            except socket.timeout:
                pass
            s.settimeout(30)
    except OSError:
        return time.time() - t0
    finally:
        s.close()
    return None


def full_spool(port):
    """The reply to a 12 MB message when the spool holds 8 MB."""
    c = t.Lmtp(port, timeout=60)
    c.hello()
    c.cmd("MAIL FROM:<sender@remote.example>")
    c.cmd("RCPT TO:<alice@example.org>")
    c.cmd("DATA")
    c.send(t.stuff(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 12000))
    code, text = c.reply()
    c.close()
    return code, text


def scenario_limits(tmp, shared):
    """Idle connections, a slow-loris client, a full spool, bounded RSS."""
    problems = []
    spool = os.path.join(tmp, "small-spool")
    os.makedirs(spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", spool], check=True)
    chain = Chain(tmp, shared, extra={"lmtp.spool_dir": spool, "lmtp.command_timeout": "30s",
                                      "lmtp.max_connections": "230"})
    idle = []
    try:
        started = time.time()
        # 200 idle clients, then 40 more: those beyond max_connections get a clean 421
        idle = open_idle(chain.opesd.port, 200)
        extra = open_idle(chain.opesd.port, 40)
        refused = sum(1 for _, greeting in extra if greeting.startswith(b"421 4.3.2"))
        for s, _ in extra:
            s.close()
        say("chain limits: 240 connections with max_connections=230: %d got 421 4.3.2"
            % refused)
        if not 5 <= refused <= 15:
            problems.append("limits: %d of the connections beyond max_connections got 421"
                            % refused)
        # while 200 clients sit idle, mail still flows
        chain.inject(0, 60, 6)
        result = chain.settle(300)
        chain.sample_rss()
        problems += report("limits", chain, result, started, "idle_connections=200")
        for s, _ in idle:
            s.close()
        idle = []
        cut = slow_loris(chain.opesd.port, 60)
        say("chain limits: slow-loris client cut off after %s s (command_timeout 30s)"
            % ("%.1f" % cut if cut else "never"))
        if cut is None or cut > 40:
            problems.append("limits: the slow-loris client was not cut off")
        code, text = full_spool(chain.opesd.port)
        say("chain limits: 12 MB message, 8 MB spool: %s" % text)
        if code != 452 or "4.3.1" not in text:
            problems.append("limits: full spool answered %d %s, not 452 4.3.1" % (code, text))
        c = t.Lmtp(chain.opesd.port)
        c.hello()
        if c.cmd("NOOP")[0] != 250:
            problems.append("limits: opesd does not answer after the full spool")
        c.close()
        chain.sample_rss()
        say("chain limits: peak RSS %.1f MB" % (chain.peak_rss_kb / 1024.0))
        return problems
    finally:
        for s, _ in idle:
            s.close()
        problems_stop = chain.stop()
        subprocess.run(["umount", spool])
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))


class Shared:
    """clamd and spamd, shared by every scenario."""

    def __init__(self, tmp):
        self.clamd = Clamd(tmp)
        self.spamd = Spamd(tmp, children=4)

    def stop(self):
        self.clamd.stop()
        self.spamd.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", action="store_true", help="5000 messages instead of 1000")
    ap.add_argument("--only", default="load,crash,store,scanner,limits,nodes")
    ap.add_argument("--messages", type=int, help="messages per load (default 1000)")
    args = ap.parse_args()
    n = args.messages or (5000 if args.long else 1000)
    if os.geteuid() != 0:
        print("chain: needs root (a private Postfix, a tmpfs spool)", file=sys.stderr)
        return 1
    sys.modules.setdefault("chain", sys.modules[__name__])  # nodes.py builds on this module
    import nodes  # noqa: E402
    base = tempfile.mkdtemp(prefix="opesd-chain-")
    os.chmod(base, 0o755)
    shared = Shared(base)
    problems = []
    try:
        for name in args.only.split(","):
            tmp = os.path.join(base, name)
            os.makedirs(tmp)
            os.chmod(tmp, 0o755)
            try:
                if name == "load":
                    problems += scenario_load(tmp, shared, n)
                elif name == "crash":
                    problems += scenario_crash(tmp, shared, n)
                elif name == "store":
                    problems += scenario_store(tmp, shared, max(200, n // 4), 30)
                elif name == "scanner":
                    problems += scenario_scanner(tmp, shared)
                elif name == "limits":
                    problems += scenario_limits(tmp, shared)
                elif name == "nodes":
                    problems += nodes.scenario_nodes(tmp, shared, max(200, n // 4))
                else:
                    problems.append("unknown scenario %s" % name)
            except AssertionError as e:
                problems.append("%s: %s" % (name, e))
    finally:
        shared.stop()
        if os.environ.get("OPES_KEEP_TMP"):
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    for p in problems:
        say("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
