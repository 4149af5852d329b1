#!/usr/bin/python3
"""portal_bench.py - figures for the portal's quarantine page (a benchmark, not a test).

With BENCH_ENTRIES quarantine entries in the store (default 100 000; one recipient of
interest has 1 % of them, the rest are spread over 500 others), opes-web serves
/quarantine to a logged-in recipient: the script prints the median and p99 time of
BENCH_QUERIES sequential requests (target: median < 10 ms) for the default page, a search
and a sort by sender, then the requests/s that `wrk` (Debian package wrk) reaches on the
default page when it is installed.

Environment: BUILD (build directory, default ./build), BENCH_ENTRIES, BENCH_QUERIES (500),
BENCH_WRK_SECONDS (10). Runs on a free loopback port in a temporary directory and stops only
the process it started.
"""
import http.client
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "500"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WHO = "alice@example.org"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(db_path):
    """ENTRIES rows straight into the quarantine table (no content: the list never reads it)."""
    db = sqlite3.connect(db_path)
    now = int(time.time())
    rnd = random.Random(7)
    rows = []
    for i in range(ENTRIES):
        rcpt = WHO if i % 100 == 0 else "user%d@example.org" % rnd.randrange(500)
        rows.append(("b%019d" % i, "t%015d" % i, "sender%d@remote%d.example" % (i % 997, i % 31),
                     rcpt, "subject number %d" % i, "", 1000 + i % 5000, "rules", "bench rule",
                     "held" if i % 10 else "released", now - ENTRIES + i, now - ENTRIES + i))
    db.executemany("INSERT INTO quarantine (public_id, content_id, trace_id, sender, recipient, "
                   "subject, msg_date, size, service, reason, status, created, updated) "
                   "VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def timed(port, path, cookie, n):
    """Milliseconds of n sequential GETs on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t0) * 1000)
        if r.status != 200 or b"<table" not in body:
            raise SystemExit("portal_bench: %s answered %d" % (path, r.status))
    conn.close()
    return out


def report(name, ms):
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print("%-32s median %6.2f ms   p99 %6.2f ms   (%d requests)"
          % (name, statistics.median(ms), p99, len(ms)))


def main():
    web, ctl = os.path.join(BUILD, "bin", "opes-web"), os.path.join(BUILD, "bin", "opesctl")
    for p in (web, ctl):
        if not os.access(p, os.X_OK):
            raise SystemExit("portal_bench: %s missing (cmake --build %s)" % (p, BUILD))
    tmp = tempfile.mkdtemp(prefix="opes-portal-bench-")
    proc = None
    try:
        port = free_port()
        conf = os.path.join(tmp, "opesd.conf")
        with open(conf, "w") as f:
            f.write("[store]\npath = %s/opesd.db\nkey_file = %s/keys\n[log]\nlevel = warn\n"
                    "[web]\nlisten = 127.0.0.1:%d\nbase_url = http://127.0.0.1:%d\nthreads = 4\n"
                    % (tmp, tmp, port, port))
        subprocess.run([ctl, "-c", conf, "check"], check=True, stdout=subprocess.DEVNULL)
        t0 = time.time()
        fill(os.path.join(tmp, "opesd.db"))
        print("store: %d entries (%d for %s) in %.1f s" % (ENTRIES, (ENTRIES + 99) // 100, WHO,
                                                           time.time() - t0))
        proc = subprocess.Popen([web, "-c", conf], stderr=open(os.path.join(tmp, "web.log"), "w"))
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("portal_bench: opes-web did not start")
                time.sleep(0.05)
        link = subprocess.run([ctl, "-c", conf, "link", WHO], check=True, capture_output=True,
                              text=True).stdout.strip()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", link.split(str(port), 1)[1], body=b"")
        r = conn.getresponse()
        r.read()
        cookie = r.getheader("Set-Cookie", "").split(";")[0]
        conn.close()
        if not cookie.startswith("opes_session="):
            raise SystemExit("portal_bench: no session (%d)" % r.status)
        timed(port, "/quarantine", cookie, 20)  # warm the page cache and the statements
        report("/quarantine", timed(port, "/quarantine", cookie, QUERIES))
        report("/quarantine?q=remote7", timed(port, "/quarantine?q=remote7&status=any", cookie,
                                              QUERIES))
        report("/quarantine?sort=sender", timed(port, "/quarantine?sort=sender", cookie, QUERIES))
        wrk = shutil.which("wrk")
        if wrk is None:
            print("wrk: not installed (apt-get install wrk), no requests/s figure")
        else:
            out = subprocess.run([wrk, "-t2", "-c8", "-d%ds" % WRK_SECONDS, "-H",
                                  "Cookie: " + cookie, "http://127.0.0.1:%d/quarantine" % port],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                if "Requests/sec" in line or "Latency" in line or "Non-2xx" in line:
                    print("wrk -t2 -c8 /quarantine: " + line.strip())
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
