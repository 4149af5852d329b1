"""opesd's own metrics: [lmtp] metrics_listen, GET /metrics, and the Grafana dashboard.

A real opesd in front of a real Dovecot (bob's mailbox is full, so the store
answers 452 for him after DATA) with three rules services: hold (quarantine),
block (reject) and mark (tag). Each message moves the counters by exactly
what happened to it; the exposition text is parsed strictly; the histograms
are cumulative and agree with the verdicts. The responder answers while slow,
silent or garbage clients hold connections, and closes those after its
timeout. A metrics address off the loopback is refused by opesd -t. The
dashboard in packaging/grafana queries only metrics opesd serves.
"""
import json
import os
import re
import socket
import subprocess
import time
import unittest
import urllib.request

import opestest as t
from test_dovecot import QuotaDovecot

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DASHBOARD = os.path.join(ROOT, "packaging", "grafana", "opesd-dashboard.json")
NODE = 'mx-1 "east"'  # a label value that needs escaping
TIMEOUT_S = 5  # METRICS_TIMEOUT_MS

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)')
HELP_RE = re.compile(r"^# HELP (%s) \S.*$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(test, text):
    """Exposition format 0.0.4, strictly: every line a HELP, a TYPE or a sample of a
    declared family. Returns ({(name, labels): value}, {family: type})."""
    samples, types = {}, {}
    test.assertTrue(text.endswith("\n"), "the text ends with a line end")
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            m = HELP_RE.match(line) or TYPE_RE.match(line)
            test.assertIsNotNone(m, "not a HELP or TYPE line: %r" % line)
            if line.startswith("# TYPE"):
                test.assertNotIn(m.group(1), types, "two TYPE lines for %s" % m.group(1))
                types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE_RE.match(line)
        test.assertIsNotNone(m, "not name{labels} value: %r" % line)
        name, labels, value = m.groups()
        pairs, pos = [], 0
        while labels and pos < len(labels):
            lm = LABEL_RE.match(labels, pos)
            test.assertIsNotNone(lm, "bad labels in %r" % line)
            pairs.append((lm.group(1), unescape(lm.group(2))))
            pos = lm.end()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        test.assertTrue(name in types or (family in types and types[family] == "histogram"),
                        "%s has no TYPE line before it" % name)
        test.assertEqual(dict(pairs).get("node"), NODE, line)
        key = (name, frozenset(pairs))
        test.assertNotIn(key, samples, "the same series twice: %r" % line)
        samples[key] = float(value)
    return samples, types


def series(samples, name, **labels):
    """The value of one series (node label implied); 0 when absent."""
    want = dict(labels, node=NODE)
    for (n, ls), v in samples.items():
        if n == name and dict(ls) == want:
            return v
    return 0.0


def http(port, request, timeout=3):
    """Send raw bytes, return everything the responder sends before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class MetricsTest(t.TempDirTest):
    maxDiff = None

    def start_opesd(self, target, extra=None):
        self.mport = t.free_port()
        cfg = {
            "lmtp.metrics_listen": "127.0.0.1:%d" % self.mport,
            "store.node_name": NODE,
            "store.job_interval": "1s",
            "notify.default_mode": "off",  # no notices of our own reach the store
            "service.hold.type": "rules",
            "service.hold.order": "10",
            "service.hold.rule": "header Subject /QUARANTINE-ME/ quarantine",
            "service.block.type": "rules",
            "service.block.order": "20",
            "service.block.rule": "header Subject /REJECT-ME/ reject",
            "service.mark.type": "rules",
            "service.mark.order": "30",
            "service.mark.rule": "header Subject /TAG-ME/ tag",
        }
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, target, extra=cfg))
        t.wait_port(self.mport)
        return self.opesd

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            return parse(self, r.read().decode("utf-8"))[0]

    def settled(self, messages):
        """A scrape once `messages` messages were counted in all, the sessions
        (theirs and the start-up probe's) too, and no session is open."""
        deadline = time.time() + 10
        while True:
            s = self.scrape()
            done = sum(v for (n, _), v in s.items() if n == "opes_messages_total")
            if (done >= messages and series(s, "opes_sessions_total") >= messages + 1 and
                    series(s, "opes_sessions") == 0) or time.time() > deadline:
                return s
            time.sleep(0.05)

    def send(self, subject, rcpts=("alice@example.org",)):
        c = self.client(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<carol@remote.example>")[0], 250)
        for r in rcpts:
            self.assertEqual(c.cmd("RCPT TO:<%s>" % r)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.crlf("From: carol@remote.example\nSubject: %s\n\nhello\n" % subject) + b".\r\n")
        codes = [code for code, _ in c.replies(len(rcpts))]
        c.cmd("QUIT")
        return codes

    def assert_moved(self, before, after, expected):
        """Every counter of the mail path moved by exactly expected[(name, labels)]."""
        families = ("opes_messages_total", "opes_recipients_total", "opes_sessions_total",
                    "opes_downstream_replies_total", "opes_service_verdicts_total",
                    "opes_service_duration_seconds_count")
        keys = {k for k in list(before) + list(after) if k[0] in families}
        got = {}
        for name, labels in keys:
            d = after.get((name, labels), 0) - before.get((name, labels), 0)
            if d:
                got[(name, tuple(sorted((k, v) for k, v in labels if k != "node")))] = d
        self.assertEqual(got, {(n, tuple(sorted(ls))): v for (n, ls), v in expected.items()})

    def assert_histograms(self, s):
        """Per service: buckets cumulative in le order, +Inf = _count = the verdicts' sum."""
        for svc in ("hold", "block", "mark"):
            buckets = sorted(((float(dict(ls)["le"]), v) for (n, ls), v in s.items()
                              if n == "opes_service_duration_seconds_bucket" and
                              dict(ls)["service"] == svc))
            self.assertGreater(len(buckets), 5)
            self.assertEqual(buckets[-1][0], float("inf"))
            for (_, lo), (_, hi) in zip(buckets, buckets[1:]):
                self.assertLessEqual(lo, hi, "%s buckets are not cumulative" % svc)
            count = series(s, "opes_service_duration_seconds_count", service=svc)
            self.assertEqual(buckets[-1][1], count)
            verdicts = sum(v for (n, ls), v in s.items()
                           if n == "opes_service_verdicts_total" and dict(ls)["service"] == svc)
            self.assertEqual(count, verdicts)
            self.assertGreaterEqual(series(s, "opes_service_duration_seconds_sum", service=svc), 0)

    def test_counters_move_by_exactly_what_happened(self):
        self.dovecot = self.start(QuotaDovecot(self.tmp))
        self.start_opesd("lmtp:127.0.0.1:%d" % self.dovecot.port)
        before = self.settled(0)
        # every configured service has its series before it first runs
        self.assertEqual(series(before, "opes_service_duration_seconds_count", service="mark"), 0)
        self.assertIn(("opes_service_duration_seconds_count",
                       frozenset({("node", NODE), ("service", "mark")})), before)

        def expect(outcome, rcpts, downstream, verdicts):
            e = {("opes_messages_total", (("outcome", outcome),)): 1,
                 ("opes_sessions_total", ()): 1}
            for o, n in rcpts.items():
                e[("opes_recipients_total", (("outcome", o),))] = n
            for c, n in downstream.items():
                e[("opes_downstream_replies_total", (("class", c),))] = n
            for svc in ("block", "hold", "mark"):
                e[("opes_service_duration_seconds_count", (("service", svc),))] = 1
                e[("opes_service_verdicts_total", (("service", svc),
                                                    ("verdict", verdicts.get(svc, "pass"))))] = 1
            return e

        steps = [
            ("lunch", ["alice@example.org"], [250],
             expect("delivered", {"delivered": 1}, {"2xx": 1}, {})),
            ("QUARANTINE-ME", ["alice@example.org"], [250],
             expect("quarantined", {"quarantined": 1}, {}, {"hold": "quarantine"})),
            ("REJECT-ME", ["alice@example.org"], [550],
             expect("rejected", {"rejected": 1}, {}, {"block": "reject"})),
            ("TAG-ME", ["alice@example.org"], [250],
             expect("junk", {"junk": 1}, {"2xx": 1}, {"mark": "tag"})),
            # bob's mailbox is full: the store's 452 after DATA; the message counts once,
            # as its most severe outcome
            ("lunch again", ["alice@example.org", "bob@example.org"], [250, 452],
             expect("tempfailed", {"delivered": 1, "tempfailed": 1}, {"2xx": 1, "4xx": 1}, {})),
        ]
        done = 0
        for subject, rcpts, codes, expected in steps:
            self.assertEqual(self.send(subject, rcpts), codes, subject)
            done += 1
            after = self.settled(done)
            with self.subTest(subject=subject):
                self.assert_moved(before, after, expected)
            before = after
        self.assert_histograms(after)
        self.assertEqual(series(after, "opes_sessions"), 0)
        # the backlog, read by the job thread once the figures are looked at
        deadline = time.time() + 10
        while series(after, "opes_jobs_backlog_read_timestamp_seconds") == 0 and \
                time.time() < deadline:
            time.sleep(0.2)
            after = self.scrape()
        self.assertGreater(series(after, "opes_jobs_backlog_read_timestamp_seconds"),
                           time.time() - 60)
        for kind in ("notices", "digests", "releases"):
            self.assertIn(("opes_jobs_backlog", frozenset({("node", NODE), ("kind", kind)})),
                          after)
        self.check_dashboard({n for n, _ in after})

    def check_dashboard(self, served):
        """The dashboard is valid JSON with a node variable, and queries only what opesd serves."""
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertIn("node", variables)
        self.assertIn("opes_", variables["node"]["definition"])
        exprs = [tg["expr"] for p in dash["panels"] for tg in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 6)
        queried = set(re.findall(r"\bopes_[a-z0-9_]+", " ".join(exprs) +
                                 variables["node"]["definition"]))
        self.assertEqual(queried - served, set(), "the dashboard queries what opesd does not serve")
        for e in exprs:
            self.assertIn('node=~"$node"', e)
        for family in ("opes_messages_total", "opes_service_duration_seconds_bucket",
                       "opes_service_verdicts_total", "opes_downstream_replies_total",
                       "opes_jobs_backlog"):
            self.assertIn(family, queried)
        self.assertIn("histogram_quantile(0.95", " ".join(exprs))
        self.assertIn("histogram_quantile(0.5", " ".join(exprs))

    def test_slow_and_garbage_clients_do_not_stall_the_responder(self):
        mail = os.path.join(self.tmp, "mail")
        self.start_opesd("maildir:%s/%%u" % mail, {"downstream.maildir_create": "yes"})
        # a half request and a flood
        half = socket.create_connection(("127.0.0.1", self.mport))
        half.sendall(b"GET /met")
        opened = time.time()
        flood = http(self.mport, b"A" * 4096)
        self.assertTrue(flood.startswith(b"HTTP/1.0 431 "), flood[:80])
        # a scrape is answered at once all the same
        start = time.time()
        first = self.scrape()
        self.assertLess(time.time() - start, 1.0)
        self.assertIn(("opes_sessions_total", frozenset({("node", NODE)})), first)
        # the first scrape: the job thread has not read the backlog yet, so it shows none
        # rather than a 0 it does not know
        self.assertEqual(series(first, "opes_jobs_backlog_read_timestamp_seconds"), 0)
        self.assertNotIn("opes_jobs_backlog", {n for n, _ in first})
        self.assertTrue(http(self.mport, b"GET /other HTTP/1.0\r\n\r\n").startswith(
            b"HTTP/1.0 404 "))
        self.assertTrue(http(self.mport, b"POST /metrics HTTP/1.0\r\n\r\n").startswith(
            b"HTTP/1.0 405 "))
        self.assertTrue(http(self.mport, b"\x00\x01garbage\r\n\r\n").startswith(
            b"HTTP/1.0 400 "))
        # the half request is closed after the timeout, not answered and not kept
        half.settimeout(TIMEOUT_S + 3)
        self.assertEqual(half.recv(100), b"")
        self.assertGreater(time.time() - opened, TIMEOUT_S - 1)
        half.close()
        # more silent connections than the responder keeps: the oldest make way
        silent = [socket.create_connection(("127.0.0.1", self.mport)) for _ in range(40)]
        start = time.time()
        self.assertGreaterEqual(series(self.scrape(), "opes_metrics_scrapes_total"), 2)
        self.assertLess(time.time() - start, 1.0)
        for s in silent:
            s.close()

    def test_only_a_loopback_address(self):
        base = "[lmtp]\nspool_dir = %s\nmetrics_listen = %%s\n[store]\npath = %s/o.db\n" \
               "key_file = %s/keys\n[downstream]\ntarget = maildir:%s/m/%%%%u\n" % (
                   self.tmp, self.tmp, self.tmp, self.tmp)
        conf = os.path.join(self.tmp, "check.conf")
        for value, ok in (("0.0.0.0:9425", False), ("192.0.2.1:9425", False),
                          ("[::]:9425", False), ("mx.example.org:9425", False),
                          ("unix:/tmp/metrics", False), ("127.0.0.1:9425", True),
                          ("127.0.0.2:9425", True), ("[::1]:9425", True), ("", True)):
            with open(conf, "w") as f:
                f.write(base % value)
            p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, timeout=30)
            err = p.stderr.decode()
            with self.subTest(value=value):
                self.assertEqual(p.returncode == 0, ok, err)
                if not ok:
                    self.assertIn("lmtp.metrics_listen", err)
                if value == "0.0.0.0:9425":
                    self.assertIn("must be a loopback address", err)


if __name__ == "__main__":
    unittest.main()
