"""The chain with two opesd nodes on one PostgreSQL store (scenario "nodes" of chain.py).

One private PostgreSQL, one Dovecot behind both nodes, opes-web on each node,
and a private Postfix spreading the load: transport_maps = randmap: picks one
of two lmtp services per recipient, and each service names the other node as
its lmtp_fallback_relay, so a refused connection to one node is delivered
through the other in the same attempt (what Postfix really does with a list
of LMTP destinations: tries them in order; randmap: does the spreading).
The load scenario's mixed mail (EICAR, GTUBE) is injected; meanwhile digests
are recorded, three held items are released by clicking their digest links in
the portal, and the first node is killed with SIGKILL and restarted. Then:
every recipient is in exactly one place, each release is delivered once, each
held item is listed in exactly one digest, no digest is sent twice, and a
login link opens a session (valid on the other node's portal) once.
"""
import collections
import email
import email.policy
import os
import random
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import chain
import opestest as t
from test_notify import wait_for

OPES_WEB = os.environ.get("OPES_WEB", os.path.join(os.path.dirname(t.OPESD), "opes-web"))
ITEM_RE = re.compile(r"^\* chain (c\d+)$(?:\n  .*)*?\n  Release: +\S+?(/action/[\w.-]+)$", re.M)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def http(port, path, data=None, cookie=None):
    """(status, headers, body) of one request to the opes-web on port, redirects not followed."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


class NodesChain(chain.Chain):
    """Postfix -> two opesd nodes (PostgreSQL store) -> one Dovecot, and two opes-web."""

    def __init__(self, tmp, shared):  # pylint: disable=super-init-not-called
        self.tmp, self.shared = tmp, shared
        self.sent, self.peak_rss_kb = {}, 0
        self.nodes, self.webs, self.postfix = [], [], None
        self.dovecot = t.Dovecot(tmp, users=chain.USERS + ("sender",), dedup=True)
        try:
            self.pg = t.Postgres(tmp)
            self.start_nodes()
            ports = [n.port for n in self.nodes]
            services = ["lmtp%d unix - - n - - lmtp -o lmtp_fallback_relay=[127.0.0.1]:%d"
                        % (i, ports[1 - i]) for i in range(2)]
            self.postfix = chain.Postfix(tmp, ports[0], services=services, extra={
                "transport_maps": "randmap:{lmtp0:inet:127.0.0.1:%d, lmtp1:inet:127.0.0.1:%d}"
                                  % tuple(ports)})
        except BaseException:
            self.stop()
            raise
        self.opesd = self.nodes[1]  # opesctl runs there (the node never killed)

    def start_nodes(self):
        keys = os.path.join(self.tmp, "keys")
        for i in range(2):
            home = os.path.join(self.tmp, "node%d" % i)
            os.makedirs(home)
            web_port = t.free_port()
            cfg = {
                "lmtp.max_connections": "250",
                "lmtp.command_timeout": "20s",
                "lmtp.spool_memory": "64K",
                "store.backend": "postgresql",
                "store.conninfo": self.pg.conninfo,
                "store.key_file": keys,
                "store.node_name": "node%d" % i,
                "store.job_interval": "1s",
                "store.job_lease": "3s",
                "web.listen": "127.0.0.1:%d" % web_port,
                "web.base_url": "http://portal.chain.test",
                "service.clamd.type": "clamd",
                "service.clamd.socket": self.shared.clamd.unix,
                "service.clamd.timeout": "60s",
                "service.clamd.recipient_action": "carol@example.org=reject",
                "service.spamd.type": "spamd",
                "service.spamd.address": self.shared.spamd.tcp,
                "service.spamd.timeout": "120s",
                "service.spamd.quarantine_threshold": "20",
                "notify.default_mode": "digest",
                "notify.digest_schedule": "every 168h",
            }
            self.nodes.append(t.Opesd(home, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra=cfg))
            web = t.Proc([OPES_WEB, "-c", self.nodes[i].config], os.path.join(home, "web.log"))
            web.port = web_port
            self.webs.append(web)
            t.wait_port(web_port, proc=web.p)

    def stop(self):
        problems = []
        self.sample_rss()
        if self.postfix is not None:
            self.postfix.stop()
        for name, proc in [("opes-web", w) for w in self.webs] + [("opesd", n) for n in self.nodes]:
            rc = proc.stop()
            log = proc.read_log()
            if any(mark in log for mark in t.SANITIZER_MARKS):
                problems.append("%s's log has a sanitizer report:\n%s" % (name, log[-6000:]))
            if rc not in (0, -signal.SIGKILL):
                problems.append("%s exited with %s" % (name, rc))
        if hasattr(self, "pg"):
            self.pg.stop()
        self.dovecot.stop()
        return problems

    def restart(self, node):
        t.Proc.__init__(node, [t.OPESD, "-c", node.config], node.log_path)
        t.wait_port(node.port, proc=node.p)

    def sample_rss(self):
        """The larger peak RSS (VmHWM) of the two nodes, kept across restarts."""
        for node in self.nodes:
            self.opesd = node
            chain.Chain.sample_rss(self)
        self.opesd = self.nodes[1] if self.nodes else None

    # ------------------------------------------------------------ accounting

    def mailbox(self):
        """(user, head, message bytes) of every message in the mailboxes."""
        for user in chain.USERS:
            for data in self.dovecot.messages(user):
                yield user, data.split(b"\n\n", 1)[0].decode("utf-8", "replace"), data

    def delivered(self):
        """Chain.delivered without the copies a release delivered (see released)."""
        counts, latency = chain.Chain.delivered(self)
        for key, n in self.released().items():
            counts[key] -= n
        return counts, latency

    def released(self):
        """(id, recipient) -> copies in the mailbox delivered by a release."""
        out = collections.Counter()
        for user, head, _ in self.mailbox():
            m = re.search(r"(?m)^X-Chain-Id: (c\d+)", head)
            if m and "action=released" in t.unfold(head):
                out[(m.group(1), user + "@example.org")] += 1
        return out

    def digests(self):
        """(recipient -> digest mails, (id, recipient) -> times listed, release links by key)."""
        mails, listed, links = collections.Counter(), collections.Counter(), {}
        for user, head, data in self.mailbox():
            if not re.search(r"(?m)^Auto-Submitted: auto-generated", head):
                continue
            rcpt = user + "@example.org"
            mails[rcpt] += 1
            msg = email.message_from_bytes(data, policy=email.policy.default)
            text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
            for mid, link in ITEM_RE.findall(text):
                listed[(mid, rcpt)] += 1
                links[(mid, rcpt)] = link
        return mails, listed, links

    def pg_count(self, sql):
        return int(self.pg.sql(sql)[0][0])

    def per_node(self):
        """Recipients Postfix delivered (status=sent) to each node."""
        log = self.postfix.read_log()
        return [len(re.findall(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d,.*status=sent" % n.port,
                               log)) for n in self.nodes]


def release_clicks(nc, problems):
    """Release three held items that their recipients may release (not a virus) by their
    digest links, each POSTed to the second node's portal (the first node's portal then
    refuses the spent link); their keys."""
    # a virus is released only by an administrator (clamd's release = request): spam it is
    selfs = lambda: sorted((k, v) for k, v in nc.digests()[2].items()
                           if int(k[0][1:]) % 20 != 7)
    # the items held so far may be mostly viruses: a digest round lists only what is new,
    # so rounds follow one another until three releasable items were listed
    deadline = time.time() + 90
    while len(selfs()) < 3 and time.time() < deadline:
        nc.opesd.ctl("digest", "run")
        wait_for(lambda: len(selfs()) >= 3, 5)
    links = selfs()[:3]
    for key, path in links:
        status, _, body = http(nc.webs[1].port, path)
        if status != 200 or 'method="post"' not in body:
            problems.append("nodes: the release link of %s gave %d without a form" % (key, status))
        status, _, _ = http(nc.webs[1].port, path, data=b"")
        if status not in (200, 303):
            problems.append("nodes: releasing %s in the portal gave %d" % (key, status))
        status, _, _ = http(nc.webs[0].port, path, data=b"")
        if status != 410:
            problems.append("nodes: the spent release link of %s gave %d, not 410" % (key, status))
    if len(links) < 3:
        problems.append("nodes: only %d release links in the first digests" % len(links))
    return [key for key, _ in links]


def login_once(nc, problems):
    """A login link opens a session on one node's portal, valid on the other's, once."""
    link = nc.opesd.ctl("link", "carol@example.org")[1].strip()
    path = link[link.index("/login/"):]
    status, headers, _ = http(nc.webs[0].port, path, data=b"")
    cookie = (headers.get("Set-Cookie") or "").split(";")[0]
    status2, _, body = http(nc.webs[1].port, "/quarantine", cookie=cookie)
    again, _, _ = http(nc.webs[1].port, path, data=b"")
    if status != 303 or not cookie:
        problems.append("nodes: the login link gave %d" % status)
    if status2 != 200 or "carol@example.org" not in body:
        problems.append("nodes: the session of one node's portal gave %d on the other" % status2)
    if again != 410:
        problems.append("nodes: the login link worked twice (%d the second time)" % again)
    return int(again != 410)


def scenario_nodes(tmp, shared, n):
    """The two-node chain: see the module's docstring. Returns the problems found."""
    nc = NodesChain(tmp, shared)
    problems, kills = [], []
    try:
        started = time.time()
        injector = threading.Thread(target=nc.inject, args=(0, n, 7))
        injector.start()
        wait_for(lambda: nc.pg_count("SELECT COUNT(*) FROM quarantine") >= 6, 60)
        clicked = release_clicks(nc, problems)
        time.sleep(random.Random(8).uniform(0.5, 2))
        victim = nc.nodes[0]
        queued = nc.postfix.queue_size()
        nc.sample_rss()
        victim.signal(signal.SIGKILL)
        victim.p.wait()
        kills.append(round(time.time() - started, 1))
        time.sleep(1.5)
        nc.restart(victim)
        injector.join()
        result = nc.settle(300)
        took = time.time() - started  # the mail is through: msgs/s stops here
        twice = login_once(nc, problems)
        nc.opesd.ctl("digest", "run")
        wait_for(lambda: nc.pg_count("SELECT COUNT(*) FROM digest WHERE state <> 'sent'") == 0
             and all(nc.released()[k] for k in clicked), 60)
        time.sleep(3)  # both job threads had more rounds: anything done twice shows now
        mails, listed, _ = nc.digests()
        held = nc.quarantined()
        released = nc.released()
        for key in clicked:
            if released[key] != 1:
                problems.append("nodes: release of %s delivered %d times" % (key, released[key]))
            twice += max(0, released[key] - 1)
        for key, count in held.items():
            if listed[key] < count:
                problems.append("nodes: %s held %d times, in %d digests"
                                % (key, count, listed[key]))
            twice += max(0, listed[key] - count)
        for rcpt, count in mails.items():
            rows = nc.pg_count("SELECT COUNT(*) FROM digest WHERE recipient = '%s' AND "
                               "state = 'sent'" % rcpt)
            twice += max(0, count - rows)
        delivered = nc.delivered()[0]
        window = nc.kill_window()
        explained = sum(delivered[k] + held[k] - 1 for k in set(delivered) | set(held)
                        if delivered[k] + held[k] > 1 and k[0] in window)
        nc.sample_rss()
        share = nc.per_node()
        problems += chain.report(
            "nodes", nc, result, time.time() - took,
            "jobs_twice=%d kill_window_duplicates=%d sent_per_node=%s digests=%d released=%d "
            "kills_at=%s queued_at_kill=%d"
            % (twice, explained, "/".join(map(str, share)), sum(mails.values()), len(clicked),
               kills, queued))
        if twice:
            problems.append("nodes: %d jobs done twice" % twice)
        if result["duplicates"] > explained:
            problems.append("nodes: %d duplicates not explained by the kill window"
                            % (result["duplicates"] - explained))
        if min(share) < len(nc.sent) // 10:
            problems.append("nodes: Postfix did not spread the load (%s)" % share)
        return problems
    finally:
        problems_stop = nc.stop()
        if problems_stop:
            raise AssertionError("\n".join(problems_stop))
