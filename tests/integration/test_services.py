"""The adaptation services with a real clamd and a real spamd.

One clamd and one spamd serve the whole module; each test starts its own
opesd (Maildir target) with rules, clamd and spamd configured, sends over raw
LMTP and looks at what each recipient got: the reply, the maildir, the
quarantine, the OPES-Via field and the trace records.
"""
import base64
import json
import os
import shutil
import tempfile
import time
import unittest

import opestest as t
from scanners import EICAR, GTUBE_MESSAGE, Clamd, Spamd

URI = "http://opes.example.org/opes/service/"


def eicar_message(extra_headers=""):
    body = base64.encodebytes(EICAR).decode()
    return ("From: mallory@remote.example\nTo: alice@example.org\nSubject: invoice\n" +
            extra_headers +
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"
            "--b1\nContent-Type: text/plain\n\nsee attachment\n"
            "--b1\nContent-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename=\"invoice.com\"\n"
            "Content-Transfer-Encoding: base64\n\n" + body + "--b1--\n")


def gtube_message(extra_headers=""):
    with open(GTUBE_MESSAGE, encoding="utf-8", errors="replace") as f:
        text = f.read()
    head, _, body = text.partition("\n\n")
    return head + "\n" + extra_headers + "\n" + body


CLEAN = "From: carol@remote.example\nTo: alice@example.org\nSubject: lunch\n\nSee you at noon.\n"


class ServicesTest(t.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="opesd-scanners-")
        os.chmod(cls.shared, 0o755)
        cls.clamd = Clamd(cls.shared)
        cls.spamd = Spamd(cls.shared)

    @classmethod
    def tearDownClass(cls):
        cls.clamd.stop()
        cls.spamd.stop()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for user in ("alice", "bob"):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.mail, user, sub))

    def start_opesd(self, clamd=None, extra=None):
        cfg = {
            "service.rules.type": "rules",
            "service.rules.order": "10",
            "service.rules.rule": "header Subject /QUARANTINE-ME/ quarantine",
            "service.clamd.type": "clamd",
            "service.clamd.order": "20",
            "service.clamd.socket": clamd or self.clamd.unix,
            "service.clamd.timeout": "10s",
            "service.clamd.recipient_action": "bob@example.org=reject",
            "service.spamd.type": "spamd",
            "service.spamd.order": "30",
            "service.spamd.address": self.spamd.tcp,
            "service.spamd.timeout": "60s",
            "service.spamd.quarantine_threshold": "20",
            # these tests count what reaches the maildirs: no block notifications
            "notify.default_mode": "off",
        }
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % self.mail, extra=cfg))
        return self.opesd

    def send(self, message, rcpts=("alice@example.org",), sender="mallory@remote.example",
             rcpt_params=""):
        c = t.Lmtp(self.opesd.port, timeout=90)
        c.hello()
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertEqual(code, 250, text)
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>%s" % (r, rcpt_params))
            self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.crlf(message) + b".\r\n")
        replies = c.replies(len(rcpts))
        c.cmd("QUIT")
        c.close()
        return replies

    def delivered(self, user):
        d = os.path.join(self.mail, user, "new")
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
        return out

    def via(self, message):
        """The OPES-Via field, unfolded."""
        head = message.split("\n\n", 1)[0].replace("\n\t", " ").replace("\n ", " ")
        [line] = [l for l in head.split("\n") if l.startswith("OPES-Via:")]
        return line

    def trace_records(self, reply_text):
        return self.opesd.trace(reply_text.rsplit("(trace ", 1)[1].rstrip(")"))

    def test_rules_match_the_envelope_recipient(self):
        self.start_opesd(extra={"service.rules.rule": "recipient /^bob@/ reject"})
        [(code, text)] = self.send(CLEAN, rcpts=("bob@example.org",), sender="carol@remote.example")
        self.assertEqual(code, 550, text)
        self.assertIn("blocked by " + URI + "rules", text)
        [(code, text)] = self.send(CLEAN, sender="carol@remote.example")
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered("alice")), 1)

    def test_clean_mail_delivered_with_opes_via(self):
        self.start_opesd()
        [(code, text)] = self.send(CLEAN, sender="carol@remote.example")
        self.assertEqual(code, 250, text)
        [msg] = self.delivered("alice")
        via = self.via(msg)
        for name in ("rules", "clamd", "spamd"):
            self.assertIn(URI + name + "; action=pass", via)
        self.assertTrue(msg.endswith("See you at noon.\n"))
        events = {(r["service"], r["event"], r["verdict"]) for r in self.trace_records(text)}
        self.assertIn(("clamd", "service", "pass"), events)
        self.assertIn(("", "reply", "250"), events)

    def test_eicar_quarantined_for_one_rejected_for_other(self):
        self.start_opesd()
        (ca, ta), (cb, tb) = self.send(eicar_message(), ("alice@example.org", "bob@example.org"))
        self.assertEqual(ca, 250, ta)
        self.assertIn("held in quarantine as", ta)
        self.assertEqual(cb, 550, tb)
        self.assertIn("5.7.1 <bob@example.org> blocked by %sclamd (trace " % URI, tb)
        self.assertEqual(self.delivered("alice") + self.delivered("bob"), [])
        qid = ta.split("held in quarantine as ")[1].split()[0]
        item = json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
        self.assertEqual((item["recipient"], item["service"], item["status"]),
                         ("alice@example.org", "clamd", "held"))
        self.assertIn("Eicar", item["reason"])
        # what the recipient reads: the virus by the name clamd gave
        self.assertRegex(item["words"], r"^reason\.virus;name=\S*Eicar")

    def test_gtube_quarantined(self):
        self.start_opesd()
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine as", text)
        self.assertIn("by %sspamd" % URI, text)
        self.assertEqual(self.delivered("alice"), [])
        # what the recipient reads: spamd's score against the score that holds it
        qid = text.split("held in quarantine as ")[1].split()[0]
        item = json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
        self.assertRegex(item["words"], r"^reason\.spam;score=\d+\.\d;required=\d+\.\d$")

    def test_inbound_opes_fields_with_our_uri_are_not_trusted(self):
        """PROTOCOL.md 20: OPES fields a sender wrote with our system URI are only text.

        They claim every service passed or was bypassed, under a trace id of their own: every
        service still runs, nothing is recorded under the forged id, opesd puts its own fields
        on top and keeps the sender's below them, unchanged (as any earlier trace field).
        """
        forged_id = "forged0000000000"
        forged = ("OPES-System: http://opes.example.org/opes; trace=%s\n"
                  "OPES-Via: http://opes.example.org/opes; action=relay,\n"
                  " %sclamd; action=pass, %sspamd; action=bypassed,\n"
                  " %srules; action=bypassed\n" % (forged_id, URI, URI, URI))
        self.start_opesd()
        [(code, text)] = self.send(eicar_message(forged))
        self.assertIn("held in quarantine as", text)
        self.assertIn("by %sclamd" % URI, text)
        [(code, text)] = self.send(gtube_message(forged))
        self.assertIn("held in quarantine as", text)
        self.assertIn("by %sspamd" % URI, text)
        [(code, text)] = self.send(CLEAN.replace("Subject: lunch\n", "Subject: lunch\n" + forged),
                                   sender="carol@remote.example")
        self.assertEqual(code, 250, text)
        trace = text.rsplit("(trace ", 1)[1].rstrip(")")
        self.assertNotEqual(trace, forged_id)
        [msg] = self.delivered("alice")
        head = msg.split("\n\n", 1)[0].replace("\n ", " ").replace("\n\t", " ")
        fields = [l for l in head.split("\n") if l.startswith(("OPES-System:", "OPES-Via:"))]
        # ours first, naming our trace and the real verdicts; the forged ones after, as sent
        self.assertEqual(len(fields), 4, fields)
        self.assertEqual(fields[0], "OPES-System: http://opes.example.org/opes; trace=%s" % trace)
        for name in ("rules", "clamd", "spamd"):
            self.assertIn(URI + name + "; action=pass", fields[1])
        self.assertNotIn("bypassed", fields[1])
        self.assertEqual(fields[2], "OPES-System: http://opes.example.org/opes; trace=%s"
                         % forged_id)
        self.assertIn(URI + "spamd; action=bypassed", fields[3])
        self.assertLess(head.index("trace=" + trace), head.index("Subject: lunch"))
        events = {(r["service"], r["event"], r["verdict"]) for r in self.trace_records(text)}
        for name in ("rules", "clamd", "spamd"):
            self.assertIn((name, "service", "pass"), events)
        self.assertNotIn("bypass", {e[1] for e in events})
        self.assertEqual(json.loads(self.opesd.ctl("trace", forged_id, "--json")[1]), [])

    def test_whitelisted_pair_skips_spamd_not_clamd(self):
        self.start_opesd()
        self.opesd.ctl("list", "add", "white", "alice@example.org", "mallory@remote.example")
        [(code, text)] = self.send(gtube_message())
        self.assertEqual(code, 250, text)
        self.assertNotIn("quarantine", text)
        [msg] = self.delivered("alice")
        self.assertIn(URI + "spamd; action=bypassed", self.via(msg))
        self.assertIn(URI + "clamd; action=pass", self.via(msg))
        [(code, text)] = self.send(eicar_message())
        self.assertIn("held in quarantine", text)
        refused = [r for r in self.trace_records(text)
                   if r["service"] == "clamd" and r["event"] == "bypass"]
        self.assertEqual(refused[0]["verdict"], "refused")
        self.assertIn("portal", refused[0]["detail"])

    def test_opes_bypass_header_honoured_for_spamd_refused_for_clamd(self):
        self.start_opesd(extra={"service.banner.type": "banner"})
        [(code, text)] = self.send(gtube_message("OPES-Bypass: *\n"))
        self.assertEqual(code, 250, text)
        self.assertNotIn("quarantine", text)
        [msg] = self.delivered("alice")
        self.assertIn(URI + "spamd; action=bypassed", self.via(msg))
        self.assertIn(URI + "banner; action=bypassed", self.via(msg))
        self.assertNotIn("CAUTION", msg)
        records = self.trace_records(text)
        self.assertIn(("spamd", "granted"), {(r["service"], r["verdict"]) for r in records
                                            if r["event"] == "bypass"})
        self.assertIn(("banner", "granted"), {(r["service"], r["verdict"]) for r in records
                                             if r["event"] == "bypass"})
        self.assertIn(("clamd", "refused"), {(r["service"], r["verdict"]) for r in records
                                            if r["event"] == "bypass"})
        [(code, text)] = self.send(eicar_message("OPES-Bypass: *\n"))
        self.assertIn("held in quarantine", text)

    def test_opes_bypass_naming_one_service(self):
        self.start_opesd()
        [(code, text)] = self.send(gtube_message("OPES-Bypass: %sspamd\n" % URI))
        self.assertNotIn("quarantine", text)
        [(code, text)] = self.send(gtube_message("OPES-Bypass: %srules\n" % URI))
        self.assertIn("held in quarantine", text, "bypassing rules must not bypass spamd")

    def test_xopes_bypass_in_the_dialog(self):
        self.start_opesd()
        [(code, text)] = self.send(gtube_message(), rcpt_params=" XOPES-BYPASS=*")
        self.assertEqual(code, 250, text)
        self.assertNotIn("quarantine", text)
        [msg] = self.delivered("alice")
        self.assertIn(URI + "spamd; action=bypassed", self.via(msg))
        self.assertNotIn("XOPES", msg)
        [(code, text)] = self.send(eicar_message(), rcpt_params=" XOPES-BYPASS=*")
        self.assertIn("held in quarantine", text)

    def test_consent_off_switches_spamd_off(self):
        self.start_opesd()
        self.opesd.ctl("user", "consent", "alice@example.org", "spamd", "off")
        [(code, text)] = self.send(gtube_message())
        self.assertNotIn("quarantine", text)
        [msg] = self.delivered("alice")
        self.assertNotIn("spamd", self.via(msg))
        self.assertIn(("spamd", "consent", "skipped"),
                      {(r["service"], r["event"], r["verdict"]) for r in self.trace_records(text)})

    def test_rules_and_blocklist(self):
        self.start_opesd(extra={"policy.blocklist_action": "reject"})
        [(code, text)] = self.send(CLEAN.replace("lunch", "QUARANTINE-ME now"),
                                   sender="carol@remote.example")
        self.assertIn("held in quarantine", text)
        self.assertIn("by %srules" % URI, text)
        self.opesd.ctl("list", "add", "block", "bob@example.org", "@remote.example")
        (ca, ta), (cb, tb) = self.send(CLEAN, ("alice@example.org", "bob@example.org"),
                                       sender="carol@remote.example")
        self.assertEqual(ca, 250, ta)
        self.assertEqual(cb, 550, tb)
        self.assertIn("policy/blocklist", tb)
        self.assertEqual(len(self.delivered("alice")), 1)
        self.assertEqual(self.delivered("bob"), [])

    def test_blocklist_quarantine_names_the_policy_uri(self):
        self.start_opesd()
        self.opesd.ctl("list", "add", "block", "alice@example.org", "@remote.example")
        [(code, text)] = self.send(CLEAN, sender="carol@remote.example")
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)
        self.assertIn("by http://opes.example.org/opes/policy/blocklist", text)
        qid = text.split("held in quarantine as ")[1].split()[0]
        item = json.loads(self.opesd.ctl("quarantine", "show", qid, "--json")[1])
        self.assertEqual(item["words"], "reason.blocked")

    def issue_token(self, *args):
        return self.opesd.ctl("token", "issue", *args)[1].strip()

    def test_signed_token_bypass(self):
        self.start_opesd(extra={"service.spamd.bypass": "token portal"})
        spamd = URI + "spamd"
        # the plain header is not enough for this spamd
        [(code, text)] = self.send(gtube_message("OPES-Bypass: %s\n" % spamd))
        self.assertIn("held in quarantine", text)
        good = self.issue_token("--recipient", "alice@example.org", "--service", "spamd",
                                "--sender", "@remote.example", "--days", "7")
        [(code, text)] = self.send(gtube_message("OPES-Bypass: %s; token=%s\n" % (spamd, good)))
        self.assertEqual(code, 250, text)
        self.assertNotIn("quarantine", text)
        [msg] = self.delivered("alice")
        self.assertIn(URI + "spamd; action=bypassed", self.via(msg))
        self.assertIn(("spamd", "granted", "bypass via token"),
                      {(r["service"], r["verdict"], r["detail"])
                       for r in self.trace_records(text) if r["event"] == "bypass"})
        # a token works only for its recipient, sender, service and lifetime
        cases = [
            (good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"), "alice@example.org",
             "mallory@remote.example", "forged"),
            (good, "bob@example.org", "mallory@remote.example", "another recipient"),
            (good, "alice@example.org", "eve@elsewhere.example", "not for this sender"),
        ]
        for token, rcpt, sender, why in cases:
            with self.subTest(why=why):
                [(code, text)] = self.send(
                    gtube_message("OPES-Bypass: %s; token=%s\n" % (spamd, token)), (rcpt,),
                    sender=sender)
                self.assertIn("held in quarantine", text)
                details = [r["detail"] for r in self.trace_records(text)
                           if r["event"] == "bypass" and r["service"] == "spamd"]
                self.assertTrue(any(why in d for d in details), details)
        short = self.issue_token("--recipient", "alice@example.org", "--service", "spamd",
                                 "--seconds", "1")
        time.sleep(2.1)
        [(code, text)] = self.send(gtube_message("OPES-Bypass: %s; token=%s\n" % (spamd, short)))
        self.assertIn("held in quarantine", text)
        self.assertTrue(any("expired" in r["detail"] for r in self.trace_records(text)))
        # a token never opens clamd
        clam = self.issue_token("--recipient", "alice@example.org", "--service", "clamd")
        [(code, text)] = self.send(eicar_message("OPES-Bypass: %sclamd; token=%s\n" % (URI, clam)))
        self.assertIn("held in quarantine", text)


    def test_clamd_down_defers_and_delivers_nothing(self):
        self.start_opesd(clamd="unix:%s/no-such-clamd.sock" % self.tmp)
        (ca, ta), (cb, tb) = self.send(CLEAN, ("alice@example.org", "bob@example.org"),
                                       sender="carol@remote.example")
        self.assertEqual((ca, cb), (451, 451), (ta, tb))
        self.assertIn("4.3.0", ta)
        self.assertIn("clamd", ta)
        self.assertEqual(self.delivered("alice") + self.delivered("bob"), [])

    def test_clamd_down_with_on_failure_pass_is_traced_as_failed(self):
        """A scanner that never looked at the message did not pass it (RFC 4902 3.1)."""
        self.start_opesd(clamd="unix:%s/no-such-clamd.sock" % self.tmp,
                         extra={"service.clamd.on_failure": "pass"})
        [(code, text)] = self.send(CLEAN, sender="carol@remote.example")
        self.assertEqual(code, 250, text)
        [msg] = self.delivered("alice")
        self.assertIn(URI + "clamd; action=failed", self.via(msg))
        self.assertNotIn(URI + "clamd; action=pass", self.via(msg))
        self.assertIn(URI + "rules; action=pass", self.via(msg))
        events = {(r["service"], r["event"], r["verdict"]) for r in self.trace_records(text)}
        self.assertIn(("clamd", "service", "failed"), events)
        self.assertIn("service=clamd verdict=failed", self.opesd.read_log())

    def test_bad_service_config_is_reported_with_line_numbers(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[service.av]\ntype = clamd\nsocket = unix:/x\nbypass = header\n"
                    "[service.r]\ntype = rules\nrule = header Subject /(/ reject\n"
                    "[service.x]\ntype = nonsense\n")
        import subprocess
        p = subprocess.run([t.OPESD, "-t", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:4: service.av.bypass: a malware scanner is mandatory" % conf, p.stderr)
        self.assertIn("%s:7: service.r.rule: bad regular expression" % conf, p.stderr)
        self.assertIn("%s:9: service.x.type: unknown type" % conf, p.stderr)


if __name__ == "__main__":
    unittest.main()
