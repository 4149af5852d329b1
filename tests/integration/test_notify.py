"""Block notifications, digests, login links and sender DSNs, end to end.

A real Dovecot is the mailbox store; opesd holds messages with a rules
service (Subject QUARANTINE-ME) and its job thread delivers what it writes
itself straight into the recipients' maildirs. Sender DSNs go to a small SMTP
relay in this file that records the envelope and the message.
"""
import email
import email.policy
import os
import re
import signal
import socketserver
import sqlite3
import threading
import time

import opestest as t

BASE = "http://portal.test"


def item_link(qid):
    """The portal link to a held item: a login link whose token names the item."""
    return re.escape(BASE) + r"/login/l1\.\d+\.\d+\.login\.[\w-]+\." + qid + r"\.view\."


HELD_RE = re.compile(r"held in quarantine as (\w+)")


def wait_for(predicate, timeout=30.0, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def message(subject, sender="sender@remote.example", to="alice@example.org", extra="",
            body="Body of the held message.\nMARKER-body-9d2e\n"):
    return t.crlf("From: Sender <%s>\nTo: %s\nSubject: %s\nDate: Sat, 28 Nov 2026 10:00:00 +0000\n"
                  "Message-ID: <%s@remote.example>\n%s\n%s"
                  % (sender or "mailer-daemon@remote.example", to, subject,
                     abs(hash(subject)), extra, body))


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


class RelaySink:
    """A minimal SMTP server that records (mail from, rcpts, data) of each message."""

    def __init__(self):
        self.messages = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                mail_from, rcpts = None, []
                self.wfile.write(b"220 relay.test ESMTP\r\n")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250-relay.test\r\n250 8BITMIME\r\n")
                    elif cmd.upper().startswith("MAIL FROM:"):
                        mail_from, rcpts = cmd[10:], []
                        self.wfile.write(b"250 2.1.0 ok\r\n")
                    elif cmd.upper().startswith("RCPT TO:"):
                        rcpts.append(cmd[8:])
                        self.wfile.write(b"250 2.1.5 ok\r\n")
                    elif verb == "DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = b""
                        while True:
                            line = self.rfile.readline()
                            if line in (b".\r\n", b""):
                                break
                            if line.startswith(b".."):
                                line = line[1:]
                            data += line
                        sink.messages.append((mail_from, rcpts, data))
                        self.wfile.write(b"250 2.0.0 queued\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 2.0.0 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 2.0.0 ok\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        return 0


class NotifyCase(t.TempDirTest):
    users = ("alice", "bob")

    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp, users=self.users))
        self.db_path = os.path.join(self.tmp, "opesd.db")

    def config(self, extra=None):
        cfg = {
            "store.job_interval": "1s",
            "web.base_url": BASE,
            "notify.batch_window": "0",  # one notice per message at once (see test_mails)
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
        }
        cfg.update(extra or {})
        return cfg

    def start_opesd(self, extra=None):
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
                                        extra=self.config(extra)))
        return self.opesd

    def send(self, data, sender="sender@remote.example", rcpts=("alice@example.org",),
             rcpt_params=""):
        """Send over LMTP; returns the quarantine ids from the replies."""
        c = self.client(self.opesd.port)
        c.hello()
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertEqual(code, 250, text)
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>%s" % (r, rcpt_params))
            self.assertEqual(code, 250, text)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 354, text)
        c.send(t.stuff(data))
        ids = []
        for _ in rcpts:
            code, text = c.reply()
            self.assertEqual(code, 250, text)
            m = HELD_RE.search(text)
            self.assertIsNotNone(m, text)
            ids.append(m.group(1))
        c.cmd("QUIT")
        return ids

    def db(self, sql, *args):
        con = sqlite3.connect(self.db_path, timeout=30)
        try:
            rows = con.execute(sql, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def notices(self, user):
        return [parse(m) for m in self.dovecot.messages(user)]

    def captured(self, n):
        return wait_for(lambda: self.db("SELECT COUNT(*) FROM notification")[0][0] >= n)


class ImmediateNotice(NotifyCase):
    def test_notice_with_headers_parts_and_single_use_expiring_links(self):
        self.start_opesd({"notify.link_lifetime": "6s", "notify.admin_copy": "bob@example.org",
                          "notify.from": '"Quarantine Desk" <quarantine@example.org>'})
        subject = "QUARANTINE-ME =?UTF-8?B?%s?=" % "R3LDvMOfZSA8Yj5ib2xkPC9iPiAmIG1vcmU="
        [qid] = self.send(message(subject))  # decodes to "Grüße <b>bold</b> & more"
        [raw] = wait_for(lambda: self.dovecot.messages("alice"))
        n = parse(raw)
        self.assertEqual(n["Auto-Submitted"], "auto-replied")
        self.assertEqual(n["From"].addresses[0].display_name, "Quarantine Desk")
        self.assertEqual(n["From"].addresses[0].addr_spec, "quarantine@example.org")
        self.assertEqual(n["To"].addresses[0].addr_spec, "alice@example.org")
        # a neutral Subject: never the held message's own
        self.assertEqual(n["Subject"], "1 message held for you")
        self.assertTrue(n["Date"] and n["Message-ID"] and n["MIME-Version"] == "1.0")
        head = raw.split(b"\n\n", 1)[0]
        self.assertNotRegex(head, rb"[\x80-\xff]", "non-ASCII header octets: not RFC 2047 encoded")
        self.assertEqual(n.get_content_type(), "multipart/alternative")
        text = n.get_body(("plain",)).get_content()
        html = n.get_body(("html",)).get_content()
        trace = self.db("SELECT trace_id FROM quarantine WHERE public_id = ?", qid)[0][0]
        for part in (text, html):
            self.assertIn(trace, part)
            self.assertRegex(part, item_link(qid))
            self.assertIn("%s/privacy" % BASE, part)
            self.assertIn("%s/opes" % BASE, part)
            self.assertIn("sender@remote.example", part)
            self.assertIn("http://opes.example.org/opes/service/rules", part)
        self.assertIn("Grüße <b>bold</b> & more", text)
        self.assertIn("Grüße &lt;b&gt;bold&lt;/b&gt; &amp; more", html)
        self.assertNotIn("<b>bold", html)
        tokens = re.findall(re.escape(BASE) + r"/action/([A-Za-z0-9._-]+)", text)
        self.assertEqual(len(tokens), 4, text)  # release, allow, block, delete

        # the admin gets a copy of the same notice
        [copy] = wait_for(lambda: self.dovecot.messages("bob"))
        self.assertEqual(parse(copy)["Subject"], n["Subject"])

        # the release link verifies, once
        rc, out, _ = self.opesd.ctl("token", "verify", tokens[0], "--use", check=False)
        self.assertEqual(rc, 0, out)
        self.assertIn("purpose=action recipient=alice@example.org item=%s action=release" % qid,
                      out)
        rc, out, _ = self.opesd.ctl("token", "verify", tokens[0], "--use", check=False)
        self.assertEqual((rc, out.strip()), (1, "refused: already used"))
        self.assertIn("action=block", self.opesd.ctl("token", "verify", tokens[2])[1])
        self.assertIn("action=delete", self.opesd.ctl("token", "verify", tokens[3])[1])
        # and after the link lifetime, the unused one is refused too
        time.sleep(7)
        rc, out, _ = self.opesd.ctl("token", "verify", tokens[3], "--use", check=False)
        self.assertEqual((rc, out.strip()), (1, "refused: expired"))
        self.assertEqual(self.db("SELECT n.state FROM notification n JOIN quarantine q ON "
                                 "q.id = n.quarantine_id WHERE q.public_id = ?", qid)[0][0], "sent")


    def test_store_down_notice_stays_pending_then_arrives_from_operator_template(self):
        templates = os.path.join(self.tmp, "templates")
        os.makedirs(templates)
        with open(os.path.join(templates, "notify-subject.txt"), "w") as f:
            f.write("Operator says: {{subject}} ({{id}})\n")
        self.start_opesd({"notify.template_dir": templates})
        self.dovecot.stop()
        _, out, _ = self.opesd.ctl("quarantine", "add", "--from", "sender@remote.example",
                                   "--to", "alice@example.org", "--service", "rules",
                                   stdin=message("held while the store is down"))
        qid = out.split()[0]
        self.assertTrue(wait_for(lambda: self.db(
            "SELECT n.state, n.attempts > 0 FROM notification n JOIN quarantine q "
            "ON q.id = n.quarantine_id WHERE q.public_id = ?", qid) == [("pending", 1)]))
        self.dovecot.start()
        [n] = [parse(m) for m in wait_for(lambda: self.dovecot.messages("alice"))]
        self.assertEqual(n["Subject"], "Operator says: held while the store is down (%s)" % qid)
        # the parts not overridden come from the built-in templates
        self.assertRegex(n.get_body(("plain",)).get_content(), item_link(qid))
        self.assertEqual(self.db("SELECT status FROM quarantine WHERE public_id = ?", qid),
                         [("held",)])

    def test_admin_summary_instead_of_copies(self):
        self.start_opesd({"notify.admin_copy": "bob@example.org", "notify.admin_summary": "yes"})
        self.send(message("QUARANTINE-ME one"))
        self.send(message("QUARANTINE-ME two"))
        self.assertEqual(len(wait_for(lambda: len(self.notices("alice")) == 2 and
                                      self.notices("alice"))), 2)
        self.assertEqual(self.dovecot.messages("bob"), [], "no copies with admin_summary")
        # the summary day started when opesd first looked; move its start a day back
        self.assertTrue(wait_for(lambda: self.db("SELECT COUNT(*) FROM notify_meta")[0][0] == 1))
        self.db("UPDATE notify_meta SET value = value - 86400 - 10")
        [summary] = [parse(m) for m in wait_for(lambda: self.dovecot.messages("bob"))]
        self.assertEqual(summary["Auto-Submitted"], "auto-generated")
        self.assertEqual(summary["Subject"], "Quarantine summary: 2 messages held")
        self.assertIn("2 messages were held in quarantine since", summary.get_content())
        self.assertRegex(summary.get_content(), r"By recipient:\n\s+2\s+alice@example.org")
        # in the administrator's own language and time zone, as every mail to a person
        self.opesd.ctl("user", "set", "bob@example.org", "--language", "de", "--timezone",
                       "Europe/Berlin")
        self.send(message("QUARANTINE-ME three"))
        wait_for(lambda: len(self.notices("alice")) == 3)
        # (moved a day back again: the day it covers holds all three)
        self.db("UPDATE notify_meta SET value = value - 86400 - 10")
        [_, summary] = [parse(m) for m in wait_for(lambda: len(self.dovecot.messages("bob")) == 2
                                                   and self.dovecot.messages("bob"))]
        self.assertEqual(summary["Subject"],
                         "Quarantäne-Zusammenfassung: 3 Nachrichten zurückgehalten")
        text = summary.get_content()
        self.assertRegex(text, r"Seit \w\w\., \d+\. \w+\.? \d{4}, \d\d:\d\d wurden 3 Nachrichten")
        self.assertRegex(text, r"Nach Empfängern:\n\s+3\s+alice@example.org")
        self.assertIn("Verwaltung: ", text)


class LoopRules(NotifyCase):
    def test_no_notice_for_auto_submitted_null_sender_or_list_mail(self):
        self.start_opesd()
        [auto] = self.send(message("QUARANTINE-ME auto", extra="Auto-Submitted: auto-generated\n"))
        [null] = self.send(message("QUARANTINE-ME bounce", sender=""), sender="")
        [lst] = self.send(message("QUARANTINE-ME list", extra="List-Id: <news.remote.example>\n"))
        [bulk] = self.send(message("QUARANTINE-ME bulk", extra="Precedence: bulk\n"))
        [normal] = self.send(message("QUARANTINE-ME normal",
                                     extra="Auto-Submitted: no\n"))
        notices = wait_for(lambda: self.notices("alice"))
        time.sleep(3)  # every entry had its chance
        notices = self.notices("alice")
        self.assertEqual([m["Subject"] for m in notices], ["1 message held for you"])
        self.assertIn("QUARANTINE-ME normal", notices[0].get_body(("plain",)).get_content())
        states = dict(self.db("SELECT q.public_id, n.state || ': ' || n.reason FROM notification n "
                              "JOIN quarantine q ON q.id = n.quarantine_id"))
        self.assertEqual(states[auto], "skipped: auto-submitted")
        self.assertEqual(states[null], "skipped: null sender")
        self.assertEqual(states[lst], "skipped: list mail (List-Id)")
        self.assertEqual(states[bulk], "skipped: bulk or list mail (Precedence)")
        self.assertEqual(states[normal], "sent: ")

    def test_list_mail_notified_when_skip_lists_is_off(self):
        self.start_opesd({"notify.skip_lists": "no"})
        self.send(message("QUARANTINE-ME list", extra="List-Id: <news.remote.example>\n"))
        notices = wait_for(lambda: self.notices("alice"))
        self.assertEqual(len(notices), 1)


class Digest(NotifyCase):
    users = ("alice", "bob") + tuple("user%d" % i for i in range(8))

    def digests(self, user):
        return [m for m in self.notices(user) if m["Auto-Submitted"] == "auto-generated"]

    def test_two_items_one_digest_and_nothing_new_sends_nothing(self):
        self.start_opesd({"notify.default_mode": "digest", "notify.digest_schedule": "every 168h"})
        ids = self.send(message("QUARANTINE-ME first digest item"))
        ids += self.send(message("QUARANTINE-ME second digest item"))
        self.assertTrue(self.captured(2))
        time.sleep(2)
        self.assertEqual(self.dovecot.messages("alice"), [], "nothing before the schedule")
        self.assertIn("recorded 1 digest;", self.opesd.ctl("digest", "run")[1])
        [d] = wait_for(lambda: self.digests("alice"))
        self.assertEqual(d.get_content_type(), "multipart/alternative")
        text = d.get_body(("plain",)).get_content()
        html = d.get_body(("html",)).get_content()
        for qid, subject in zip(ids, ("first digest item", "second digest item")):
            self.assertIn(subject, text)
            self.assertIn(subject, html)
            self.assertRegex(text, item_link(qid))
        self.assertEqual(len(re.findall(re.escape(BASE) + r"/action/", text)), 8)
        self.assertIn("recorded 0 digests", self.opesd.ctl("digest", "run")[1])
        time.sleep(3)
        self.assertEqual(len(self.dovecot.messages("alice")), 1)

    def test_values_cannot_write_lines_into_a_digest(self):
        self.start_opesd({"notify.default_mode": "digest", "notify.digest_schedule": "every 168h"})
        self.send(message("=?utf-8?q?QUARANTINE-ME_invoice=0D=0AURGENT:_release_here:"
                          "_http://evil.example/=E2=80=A8LS:_too?="))
        self.assertTrue(self.captured(1))
        self.assertIn("recorded 1 digest;", self.opesd.ctl("digest", "run")[1])
        [d] = wait_for(lambda: self.digests("alice"))
        text = d.get_body(("plain",)).get_content()
        self.assertIn("QUARANTINE-ME invoice", text)
        for line in text.splitlines():
            self.assertFalse(line.lstrip().startswith(("URGENT", "LS:")), text)
        self.assertNotIn("\u2028", text)

    def test_killed_in_the_middle_each_item_exactly_once(self):
        extra = {"notify.default_mode": "digest", "notify.digest_schedule": "every 168h",
                 "notify.send_delay": "1s"}
        self.start_opesd(extra)
        users = ["user%d" % i for i in range(8)]
        subjects = []
        for u in users:
            for k in range(2):
                s = "QUARANTINE-ME item %s-%d" % (u, k)
                subjects.append(s)
                self.send(message(s, to="%s@example.org" % u), rcpts=("%s@example.org" % u,))
        self.assertTrue(self.captured(len(subjects)))
        self.assertIn("recorded 8 digests", self.opesd.ctl("digest", "run")[1])
        # kill in the pause between two digests of the run, once the store confirmed two:
        # between a store's 250 and opesd's own commit (a few milliseconds) no store can be
        # asked whether it has the message, so a kill exactly there sends that digest twice
        wait_for(lambda: self.db("SELECT COUNT(*) FROM digest WHERE state = 'sent'")[0][0] >= 2,
                 step=0.05)
        self.opesd.signal(signal.SIGKILL)
        self.opesd.p.wait()
        self.opesd.check_exit = False
        got = sum(len(self.dovecot.messages(u)) for u in users)
        self.assertLess(got, 8, "the kill came too late to test anything")
        self.start_opesd(extra)
        wait_for(lambda: all(self.digests(u) for u in users), timeout=60)
        listed = []
        for u in users:
            for d in self.digests(u):
                text = d.get_body(("plain",)).get_content()
                listed += re.findall(r"QUARANTINE-ME item \S+", text)
        self.assertEqual(sorted(listed), sorted(subjects))
        self.assertEqual(self.db("SELECT COUNT(*) FROM digest WHERE state = 'sent'")[0][0], 8)


class LoginLink(NotifyCase):
    def request(self, address):
        self.db("INSERT INTO login_request (address, created, updated) "
                "VALUES (?, strftime('%s','now'), strftime('%s','now'))", address)

    def states(self):
        return [r[0] for r in self.db("SELECT state FROM login_request ORDER BY id")]

    def test_login_mail_for_known_address_then_rate_limited_and_unknown_refused(self):
        self.start_opesd({"notify.login_rate": "1"})
        self.opesd.ctl("user", "add", "alice@example.org")
        self.request("alice@example.org")
        [raw] = wait_for(lambda: self.dovecot.messages("alice"))
        m = parse(raw)
        self.assertEqual(m["Auto-Submitted"], "auto-replied")
        text = m.get_body(("plain",)).get_content()
        [token] = re.findall(re.escape(BASE) + r"/login/([A-Za-z0-9._-]+)", text)
        out = self.opesd.ctl("token", "verify", token)[1]
        self.assertIn("ok purpose=login recipient=alice@example.org", out)
        self.request("alice@example.org")  # over login_rate = 1 per hour
        self.request("bob@example.org")  # no user row, nothing held
        self.assertTrue(wait_for(lambda: self.states() == ["sent", "refused", "refused"]),
                        self.states())
        time.sleep(2)
        self.assertEqual(len(self.dovecot.messages("alice")), 1)
        self.assertEqual(self.dovecot.messages("bob"), [])


class SenderDsn(NotifyCase):
    def setUp(self):
        super().setUp()
        self.relay = self.start(RelaySink())

    def test_expired_item_gives_a_dsn_with_trace_and_headers_only(self):
        self.start_opesd({"notify.relay": "127.0.0.1:%d" % self.relay.port,
                          "notify.default_mode": "off",
                          "dsn.send": "always",
                          "service.rules.notify_sender": "yes",
                          "service.other.notify_sender": "no",
                          "service.other.type": "rules",
                          "service.other.order": "20",
                          "service.other.rule": "header Subject /OTHER-SERVICE/ quarantine"})
        [qid] = self.send(message("QUARANTINE-ME expires"),
                          rcpt_params=" ORCPT=rfc822;Alice+2BOld@example.org")
        [null] = self.send(message("QUARANTINE-ME null sender", sender=""), sender="")
        [auto] = self.send(message("QUARANTINE-ME auto", extra="Auto-Submitted: auto-replied\n"))
        [other] = self.send(message("OTHER-SERVICE held"))
        self.assertTrue(self.captured(4))
        self.db("UPDATE quarantine SET created = created - 40 * 86400")
        self.assertIn("expired 4", self.opesd.ctl("purge")[1])
        wait_for(lambda: self.relay.messages)
        time.sleep(3)  # the others had their chance too
        self.assertEqual(len(self.relay.messages), 1)
        mail_from, rcpts, data = self.relay.messages[0]
        self.assertEqual(mail_from, "<>")
        self.assertEqual(rcpts, ["<sender@remote.example>"])
        trace = self.db("SELECT trace_id FROM quarantine WHERE public_id = ?", qid)[0][0]
        dsn = parse(data)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        self.assertEqual(dsn["Auto-Submitted"], "auto-replied")
        human, status, headers = dsn.get_payload()
        self.assertEqual(human.get_content_type(), "text/plain")
        self.assertIn(trace, human.get_content())
        self.assertIn("http://opes.example.org/opes/service/rules", human.get_content())
        self.assertEqual(status.get_content_type(), "message/delivery-status")
        fields = status.get_payload()
        self.assertEqual(fields[0]["Reporting-MTA"], "dns; opes.test")
        rcpt = fields[1]
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.7.1")
        self.assertEqual(rcpt["Final-Recipient"], "rfc822; alice@example.org")
        self.assertEqual(rcpt["Original-Recipient"], "rfc822; Alice+Old@example.org")
        self.assertIn("trace %s" % trace, rcpt["Diagnostic-Code"])
        self.assertTrue(rcpt["Diagnostic-Code"].startswith("smtp; 550 5.7.1"))
        self.assertEqual(headers.get_content_type(), "text/rfc822-headers")
        self.assertIn(b"Subject: QUARANTINE-ME expires", data)
        self.assertNotIn(b"MARKER-body-9d2e", data)
        dsn_states = dict(self.db("SELECT q.public_id, n.dsn || ': ' || n.dsn_reason FROM "
                                  "notification n JOIN quarantine q ON q.id = n.quarantine_id"))
        self.assertTrue(dsn_states[qid].startswith("sent: 250"), dsn_states[qid])
        self.assertEqual(dsn_states[null], "skipped: null sender")
        self.assertEqual(dsn_states[auto], "skipped: auto-submitted")
        self.assertEqual(dsn_states[other], "skipped: notify_sender is off for other")

    def test_release_failing_for_good_gives_a_dsn_but_not_to_a_null_sender(self):
        self.start_opesd({"notify.relay": "127.0.0.1:%d" % self.relay.port,
                          "dsn.send": "always"})
        ids = {}
        for sender in ("sender@remote.example", ""):
            _, out, _ = self.opesd.ctl("quarantine", "add", "--from", sender, "--to",
                                       "carol@example.org", "--service", "rules",
                                       stdin=message("to a mailbox that is gone", sender=sender))
            ids[sender] = out.split()[0]
            # carol has no mailbox: the store answers 550 5.1.1, the release fails for good
            code, out, err = self.opesd.ctl("quarantine", "release", ids[sender], "--wait",
                                            check=False)
            self.assertEqual(code, 1, out + err)
        [(mail_from, rcpts, data)] = wait_for(lambda: self.relay.messages)
        self.assertEqual((mail_from, rcpts), ("<>", ["<sender@remote.example>"]))
        dsn = parse(data)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        human, status, _ = dsn.get_payload()
        self.assertIn("release failed (550 5.1.1", human.get_content())
        self.assertEqual(status.get_payload()[1]["Final-Recipient"], "rfc822; carol@example.org")
        # no ORCPT given: no Original-Recipient (RFC 3464 2.3.1)
        self.assertIsNone(status.get_payload()[1]["Original-Recipient"])
        time.sleep(3)
        self.assertEqual(len(self.relay.messages), 1)
        self.assertEqual(self.db("SELECT n.dsn || ': ' || n.dsn_reason FROM notification n JOIN "
                                 "quarantine q ON q.id = n.quarantine_id WHERE q.public_id = ?",
                                 ids[""]), [("skipped: null sender",)])


AR_PASS = "Authentication-Results: mx.example.org;\n\tspf=pass smtp.mailfrom=%s\n"
AR_FORGED = "Authentication-Results: mx.evil.example; spf=pass smtp.mailfrom=%s\n"


class SenderNdr(NotifyCase):
    """Non-delivery reports by default ([dsn] send = verified) to Postfix's smtp-sink:
    only to senders a trusted Authentication-Results field verified."""

    def setUp(self):
        super().setUp()
        self.sink = self.start(t.SmtpSink(self.tmp, lmtp=False))

    def config(self, extra=None):
        cfg = super().config({"notify.relay": "127.0.0.1:%d" % self.sink.port,
                              "notify.default_mode": "off",
                              "dsn.trusted_authserv_id": "mx.example.org"})
        cfg.update(extra or {})
        return cfg

    def ndrs(self, n):
        """The n NDRs the sink got, once it has them; then a moment for any further one."""
        wait_for(lambda: len(self.sink.transactions()) >= n)
        time.sleep(2)  # two job intervals
        return self.sink.transactions()

    def dsn_states(self):
        return dict(self.db("SELECT q.public_id, n.dsn || ': ' || n.dsn_reason FROM "
                            "notification n JOIN quarantine q ON q.id = n.quarantine_id"))

    def test_expired_ndr_only_to_the_verified_sender_and_with_its_orcpt(self):
        self.start_opesd()
        good, plain, forged = ("good@remote.example", "plain@remote.example",
                               "forged@remote.example")
        [qgood] = self.send(message("QUARANTINE-ME verified", sender=good,
                                    extra=AR_PASS % good),
                            sender=good, rcpt_params=" ORCPT=rfc822;Alice+2BOld@example.org")
        [qplain] = self.send(message("QUARANTINE-ME unverified", sender=plain), sender=plain)
        # a pass from an authserv-id nobody trusts, below a failing trusted one
        [qforged] = self.send(message("QUARANTINE-ME forged", sender=forged,
                                      extra="Authentication-Results: mx.example.org; spf=fail "
                                      "smtp.mailfrom=%s\n" % forged + AR_FORGED % forged),
                              sender=forged)
        self.assertTrue(self.captured(3))
        # expired long after the trace records went: the ORCPT is still there
        self.db("UPDATE quarantine SET created = created - 40 * 86400")
        self.db("UPDATE trace SET at = at - 40 * 86400")
        self.assertIn("expired 3", self.opesd.ctl("purge")[1])
        [(mail_from, rcpts, data)] = self.ndrs(1)
        self.assertEqual((mail_from, rcpts), ("<>", ["<good@remote.example>"]))
        ndr = parse(data)
        self.assertEqual(ndr.get_content_type(), "multipart/report")
        human, status, _ = ndr.get_payload()
        self.assertIn("expired", human.get_content())
        rcpt = status.get_payload()[1]
        self.assertEqual(rcpt["Final-Recipient"], "rfc822; alice@example.org")
        self.assertEqual(rcpt["Original-Recipient"], "rfc822; Alice+Old@example.org")
        states = self.dsn_states()
        self.assertTrue(states[qgood].startswith("sent: 250"), states[qgood])
        for q in (qplain, qforged):
            self.assertEqual(states[q], "skipped: ndr suppressed: sender not verified")
        # traced and logged as such
        trace = self.db("SELECT trace_id FROM quarantine WHERE public_id = ?", qplain)[0][0]
        [r] = [r for r in self.opesd.trace(trace) if r["event"] == "dsn"]
        self.assertEqual((r["verdict"], r["detail"]),
                         ("suppressed", "ndr suppressed: sender not verified"))
        trace = self.db("SELECT trace_id FROM quarantine WHERE public_id = ?", qgood)[0][0]
        [r] = [r for r in self.opesd.trace(trace) if r["event"] == "dsn"]
        self.assertEqual(r["verdict"], "sent")
        self.assertIn("spf=pass smtp.mailfrom=good@remote.example by mx.example.org", r["detail"])
        log = self.opesd.read_log()
        self.assertIn("sender=<forged@remote.example> dsn=suppressed "
                      "why=\"ndr suppressed: sender not verified\"", log)

    def test_failed_release_ndr_only_to_the_verified_sender(self):
        self.start_opesd()
        ids = {}
        for sender, extra in (("good@remote.example", AR_PASS % "good@remote.example"),
                              ("forged@remote.example", AR_FORGED % "forged@remote.example")):
            _, out, _ = self.opesd.ctl("quarantine", "add", "--from", sender, "--to",
                                       "carol@example.org", "--service", "rules",
                                       stdin=message("to a mailbox that is gone", sender=sender,
                                                     extra=extra))
            ids[sender] = out.split()[0]
            # carol has no mailbox: the store answers 550 5.1.1, the release fails for good
            code, out, err = self.opesd.ctl("quarantine", "release", ids[sender], "--wait",
                                            check=False)
            self.assertEqual(code, 1, out + err)
        [(mail_from, rcpts, data)] = self.ndrs(1)
        self.assertEqual((mail_from, rcpts), ("<>", ["<good@remote.example>"]))
        human, status, _ = parse(data).get_payload()
        self.assertIn("release failed (550 5.1.1", human.get_content())
        self.assertEqual(status.get_payload()[1]["Final-Recipient"], "rfc822; carol@example.org")
        self.assertEqual(self.dsn_states()[ids["forged@remote.example"]],
                         "skipped: ndr suppressed: sender not verified")

    def test_blocklist_hold_ndr_to_a_verified_sender(self):
        self.start_opesd()
        good = "good@remote.example"
        self.opesd.ctl("list", "add", "block", "alice@example.org", good)
        [qid] = self.send(message("blocked", sender=good, extra=AR_PASS % good), sender=good)
        self.assertTrue(self.captured(1))
        self.db("UPDATE quarantine SET created = created - 40 * 86400")
        self.assertIn("expired 1", self.opesd.ctl("purge")[1])
        [(mail_from, rcpts, data)] = self.ndrs(1)
        self.assertEqual(rcpts, ["<good@remote.example>"])
        rcpt = parse(data).get_payload()[1].get_payload()[1]
        self.assertIn("/policy/blocklist", rcpt["Diagnostic-Code"])
        self.assertTrue(self.dsn_states()[qid].startswith("sent: 250"))
