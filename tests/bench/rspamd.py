#!/usr/bin/python3
"""tests/bench/rspamd.py - opesd with its rspamd service against rspamd alone (a benchmark).

A private rspamd (Debian's configuration, no DNS, no Redis) is started, and an opesd with one
[service.rspamd] section relays to an smtp-sink -L. The same messages (ordinary text with an
attachment, none of them spam) go, with the same concurrency, in interleaved rounds:
  - straight to rspamd: POST /checkv2 over HTTP/1.1, one connection per message with the
    envelope as request headers, as opesd sends it, and with rspamc -n (rspamd's own client);
  - through opesd: LMTP sessions of MAIL, RCPT, DATA, each message scanned by rspamd.
Prints messages per second of both per round, the medians and their ratio (goal: opesd with
rspamd at least 0.95 of rspamd's own rate), and opesd's CPU time per message.

Settings from the environment: BENCH_RSPAMD_MESSAGES (per round and path, default 300),
BENCH_RSPAMD_CONCURRENCY (default 8), BENCH_RSPAMD_ROUNDS (default 4), BENCH_MSG_SIZE (default
10240). Everything runs on free loopback ports in a temporary directory; only the processes
started here are stopped, by PID. Standard library only.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import services as b  # the helpers of tests/bench/services.py
from scanners import Rspamd

MESSAGES = b.env_int("BENCH_RSPAMD_MESSAGES", 300)
CONCURRENCY = b.env_int("BENCH_RSPAMD_CONCURRENCY", 8)
ROUNDS = b.env_int("BENCH_RSPAMD_ROUNDS", 4)


def rspamd_check(port, msg, queue_id):
    """One scan as opesd makes it: one connection, Connection: close, the reply read to the
    end of its body (Content-Length)."""
    head = ("POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            "Content-Length: %d\r\nFrom: alice@example.org\r\nIP: 127.0.0.1\r\n"
            "Helo: bench.example.org\r\nQueue-Id: %s\r\nRcpt: bob@example.org\r\n\r\n"
            % (len(msg), queue_id)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(head + msg)
        reply, need = b"", None
        while need is None or len(reply) < need:  # to the end of the body, as opesd reads
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
            end = reply.find(b"\r\n\r\n")
            if need is None and end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", reply[:end])
                need = end + 4 + int(m.group(1)) if m else None
    if not reply.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("rspamd: %r" % reply[:200])


def run_parallel(work):
    """work(i) for i in 0..MESSAGES-1 on CONCURRENCY threads; messages per second."""
    lock, nxt, errors = threading.Lock(), [0], []

    def worker(state):
        while not errors:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= MESSAGES:
                return
            try:
                work(i, state)
            except Exception as e:  # report, stop the round
                errors.append(e)

    states = [{} for _ in range(CONCURRENCY)]
    threads = [threading.Thread(target=worker, args=(s,)) for s in states]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for s in states:
        if "lmtp" in s:
            s["lmtp"].close()
    if errors:
        raise errors[0]
    return MESSAGES / elapsed


def main():
    b.HAS_STORE = b.has_store()
    work = tempfile.mkdtemp(prefix="opesd-bench-rspamd-")
    os.chmod(work, 0o755)
    try:
        b.say("bench: starting rspamd (15-60 s)")
        rspamd = Rspamd(work)
        b.STARTED.append(rspamd)
        sink_port, opesd_port = b.free_ports(2)
        b.start(["smtp-sink", "-u", "nobody", "-L", "127.0.0.1:%d" % sink_port, "1000"],
                os.path.join(work, "sink.log"))
        b.wait_port(sink_port, b.STARTED[-1].pid, "smtp-sink")
        opesd = b.Opesd(work, "opesd-rspamd", opesd_port, "lmtp:127.0.0.1:%d" % sink_port,
                        {"rspamd": [("type", "rspamd"), ("address", rspamd.tcp),
                                    ("timeout", "120s")]})
        b.STARTED.append(opesd.p)
        msgs = [b.scan_message(i, b.MSG_SIZE) for i in range(MESSAGES)]

        mdir = os.path.join(work, "messages")
        os.makedirs(mdir)
        for i, m in enumerate(msgs):
            with open(os.path.join(mdir, "%05d.eml" % i), "wb") as f:
                f.write(m)

        def rspamc():
            """rspamd's own client on the same messages, as many at a time (-n)."""
            t0 = time.perf_counter()
            subprocess.run(["rspamc", "-h", rspamd.tcp, "-n", str(CONCURRENCY), "-t", "120",
                            mdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True, timeout=600)
            return MESSAGES / (time.perf_counter() - t0)

        def direct(i, state):
            rspamd_check(rspamd.port, msgs[i], "bench%d" % i)

        def through(i, state):
            if "lmtp" not in state:
                state["lmtp"] = b.Lmtp(opesd.port)
            _, r = state["lmtp"].send(msgs[i])
            if not r.startswith("250"):
                raise RuntimeError("opesd: %s" % r)

        b.say("bench: %d messages of %d bytes per round and path, %d at a time, %d rounds"
              % (MESSAGES, len(msgs[0]), CONCURRENCY, ROUNDS))
        run_parallel(direct)  # warm-up: rspamd's first scans are slower
        rates = {"rspamd alone": [], "rspamc": [], "opesd + rspamd": []}
        cpu = []
        for rnd in range(ROUNDS):
            order = [("rspamd alone", direct), ("rspamc", None), ("opesd + rspamd", through)]
            if rnd % 2:
                order.reverse()
            for name, fn in order:
                before = b.cpu_seconds(opesd.pid)
                rate = rspamc() if fn is None else run_parallel(fn)
                if fn is through:
                    cpu.append((b.cpu_seconds(opesd.pid) - before) / MESSAGES * 1000)
                rates[name].append(rate)
                b.say("round %d  %-15s %7.1f msg/s" % (rnd + 1, name, rate))
        alone, through_rate = b.median(rates["rspamd alone"]), b.median(rates["opesd + rspamd"])
        b.say("median  rspamd alone    %7.1f msg/s (rspamc: %.1f msg/s)"
              % (alone, b.median(rates["rspamc"])))
        b.say("median  opesd + rspamd  %7.1f msg/s  (opesd CPU %.2f ms/msg)"
              % (through_rate, b.median(cpu)))
        best = max(alone, b.median(rates["rspamc"]))
        b.say("ratio   %.3f of rspamd's own rate, the faster of both clients (goal >= 0.95);"
              " load average %.1f" % (through_rate / best, os.getloadavg()[0]))
        return 0
    finally:
        b.stop_all()
        if not b.KEEP:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
