"""Content-modifying services: the external-sender banner and address rewriting.

Each test starts its own opesd with a banner service (internal domain
example.org) and a rewrite service, sends over raw LMTP and reads what each
mailbox got. The banner must appear in the text the recipient reads (plain
and HTML, whatever the transfer encoding), never in signed or encrypted mail
from the corpus (those bodies stay byte for byte what was sent), and not for
a recipient who opted out or a message that asks to bypass it. Rewriting
must change the envelope (the store delivers to the mapped mailbox) and the
header fields naming the mapped address together.
"""
import base64
import email
import email.policy
import os
import quopri

import opestest as t

URI = "http://opes.example.org/opes/service/"
CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpus")
if not os.path.isdir(CORPUS):
    CORPUS = "/work/shared/corpus"
SMIME = os.path.join(CORPUS, "jstedfast-MimeKit", "smime", "thunderbird-signed.txt")
PGP = os.path.join(CORPUS, "jstedfast-MimeKit", "openpgp", "[Announce] GnuPG 2.1.20 released.eml")
BANNER = "CAUTION: This message comes from outside the organisation."

PLAIN = "From: mallory@remote.example\nTo: alice@example.org\nSubject: hello\n\nPlease pay.\n"

ALTERNATIVE = """From: mallory@remote.example
To: alice@example.org
Subject: offer
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe, a line that is long enough to need a soft break in quoted=
-printable, and an equals sign =3D here.
--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><title>x</title></head><body class=3D"main"><p>Gr=C3=BC=C3=9Fe</p></body></html>
--alt--
"""

BASE64_HTML = """From: mallory@remote.example
To: alice@example.org
Subject: b64
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

""" + base64.encodebytes(b"<html><body><p>Hello from base64</p></body></html>\r\n").decode()


class ContentTest(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for user in ("alice", "bob"):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.mail, user, sub))

    def start_opesd(self, extra=None):
        cfg = {"service.banner.type": "banner", "service.banner.internal": "example.org",
               "notify.default_mode": "off"}  # only the messages themselves in the maildirs
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % self.mail, extra=cfg))

    def send(self, message, rcpts=("alice@example.org",), sender="mallory@remote.example",
             raw=None):
        c = t.Lmtp(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender)[0], 250)
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>" % r)
            self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(raw if raw is not None else t.crlf(message)))
        replies = c.replies(len(rcpts))
        c.close()
        for code, text in replies:
            self.assertEqual(code, 250, text)
        return replies

    def delivered(self, user):
        d = os.path.join(self.mail, user, "new")
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
            os.unlink(os.path.join(d, name))
        return out

    def via(self, data):
        head = t.unfold(data.decode("utf-8", "replace").split("\n\n", 1)[0])
        return [l for l in head.split("\n") if l.startswith("OPES-Via:")][0]

    def trace(self, reply_text):
        return self.opesd.trace(reply_text.rsplit("(trace ", 1)[1].rstrip(")"))

    def parts(self, data):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        return {p.get_content_type(): p.get_content() for p in msg.walk()
                if not p.is_multipart()}

    def test_plain_text_gets_the_banner_internal_mail_does_not(self):
        self.start_opesd()
        [(_, text)] = self.send(PLAIN)
        [data] = self.delivered("alice")
        body = self.parts(data)["text/plain"]
        self.assertTrue(body.startswith(BANNER), body)
        self.assertTrue(body.rstrip().endswith("Please pay."), body)
        self.assertIn(URI + "banner; action=modify", self.via(data))
        [rec] = [r for r in self.trace(text) if r["service"] == "banner" and r["event"] == "service"]
        self.assertEqual(rec["verdict"], "modify")
        self.send(PLAIN.replace("mallory@remote.example", "carol@example.org"),
                  sender="carol@example.org")
        [data] = self.delivered("alice")
        self.assertNotIn(b"CAUTION", data)
        self.assertIn(URI + "banner; action=pass", self.via(data))

    def test_quoted_printable_alternative_both_parts(self):
        self.start_opesd()
        self.send(ALTERNATIVE)
        [data] = self.delivered("alice")
        parts = self.parts(data)
        self.assertTrue(parts["text/plain"].startswith(BANNER), parts["text/plain"])
        self.assertIn("Grüße, a line that is long enough to need a soft break in quoted-printable,"
                      " and an equals sign = here.", parts["text/plain"])
        html = parts["text/html"]
        self.assertRegex(html, r'<body class="main">\s*<div style="[^"]+">' + BANNER)
        self.assertIn("<p>Grüße</p></body></html>", html)
        # every encoded line stays within the 76 characters quoted-printable allows
        for line in data.split(b"\n"):
            self.assertLessEqual(len(line), 998)

    def test_base64_html_is_reencoded(self):
        self.start_opesd()
        self.send(BASE64_HTML)
        [data] = self.delivered("alice")
        html = self.parts(data)["text/html"]
        self.assertRegex(html, r"^<html><body><div style=\"[^\"]+\">" + BANNER)
        self.assertIn("<p>Hello from base64</p></body></html>", html)

    def corpus_untouched(self, path, why):
        with open(path, "rb") as f:
            raw = f.read().replace(b"\r\n", b"\n")
        [(_, text)] = self.send(None, raw=raw.replace(b"\n", b"\r\n"))
        [data] = self.delivered("alice")
        self.assertTrue(data.endswith(raw), "a signed message must arrive byte for byte")
        self.assertNotIn(b"CAUTION", data)
        self.assertIn(URI + "banner; action=skipped", self.via(data))
        [rec] = [r for r in self.trace(text) if r["service"] == "banner" and r["event"] == "service"]
        self.assertEqual(rec["verdict"], "skipped")
        self.assertIn(why, rec["detail"])
        self.assertIn("never modified", rec["detail"])

    def test_smime_signed_corpus_mail_passes_untouched(self):
        self.start_opesd()
        self.corpus_untouched(SMIME, "S/MIME")

    def test_pgp_mime_signed_corpus_mail_passes_untouched(self):
        self.start_opesd()
        self.corpus_untouched(PGP, "PGP")

    def test_signed_mail_can_be_held_instead(self):
        self.start_opesd({"service.banner.on_protected": "quarantine"})
        with open(SMIME, "rb") as f:
            raw = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        [(_, text)] = self.send(None, raw=raw)
        self.assertIn("held in quarantine", text)
        self.assertEqual(self.delivered("alice"), [])

    def test_bypass_header_and_opt_out(self):
        self.start_opesd()
        [(_, text)] = self.send(PLAIN.replace("Subject:", "OPES-Bypass: *\nSubject:"))
        [data] = self.delivered("alice")
        self.assertNotIn(b"CAUTION", data)
        self.assertIn(URI + "banner; action=bypassed", self.via(data))
        self.assertIn(("banner", "granted"), {(r["service"], r["verdict"])
                                             for r in self.trace(text) if r["event"] == "bypass"})
        # alice opts out, bob does not: one message, two copies
        self.opesd.ctl("user", "add", "alice@example.org")
        self.opesd.ctl("user", "consent", "alice@example.org", "banner", "off")
        self.send(PLAIN, rcpts=("alice@example.org", "bob@example.org"))
        [a] = self.delivered("alice")
        [b] = self.delivered("bob")
        self.assertNotIn(b"CAUTION", a)
        self.assertIn(b"CAUTION", b)

    def test_rewrite_needs_a_map(self):
        path = os.path.join(self.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write("[service.rw]\ntype = rewrite\nbypass = header\n")
        p = t.subprocess.run([t.OPESD, "-t", "-c", path], capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn("service.rw.", err)
        self.assertIn("never bypassed", err)
        self.assertIn("needs map", err)


class RewriteTest(t.TempDirTest):
    """Rewriting against a real Dovecot, which knows only alice and bob."""

    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp))
        mapfile = os.path.join(self.tmp, "map")
        with open(mapfile, "w") as f:
            f.write("# old names\nbob@legacy.example bob@example.org\n")
        self.opesd = self.start(t.Opesd(
            self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
            extra={"service.rewrite.type": "rewrite",
                   "service.rewrite.map": "old@example.org=alice@example.org, "
                                          "@former.example=@example.org",
                   "service.rewrite.map_file": mapfile}))

    def test_envelope_and_headers_agree(self):
        message = ("From: mallory@remote.example\n"
                   "To: \"Old Name\" <old@example.org>, bob@legacy.example\n"
                   "Cc: carol@remote.example, Alice@Former.example\n"
                   "Reply-To: <old@example.org>\n"
                   "Subject: moved\n\nhello\n")
        c = t.Lmtp(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<mallory@remote.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<old@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@legacy.example>")[0], 250)
        # an unmapped address the store does not know is still refused by the store
        code, text = c.cmd("RCPT TO:<nobody@example.org>")
        self.assertEqual(code // 100, 5, text)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(t.crlf(message)))
        replies = c.replies(2)
        c.close()
        for code, text in replies:
            self.assertEqual(code, 250, text)
        [a] = self.dovecot.messages("alice")
        [b] = self.dovecot.messages("bob")
        for data in (a, b):
            msg = email.message_from_bytes(data, policy=email.policy.default)
            self.assertEqual(str(msg["To"]), "Old Name <alice@example.org>, bob@example.org")
            self.assertEqual(str(msg["Cc"]), "carol@remote.example, Alice@example.org")
            self.assertEqual(str(msg["Reply-To"]), "alice@example.org")
            self.assertIn(URI + "rewrite; action=modify", t.unfold(msg.as_string()))
        records = self.opesd.trace(replies[0][1].rsplit("(trace ", 1)[1].rstrip(")"))
        [rec] = [r for r in records if r["service"] == "rewrite" and r["event"] == "service"
                 and r["recipient"] == "alice@example.org"]
        self.assertIn("envelope <old@example.org> -> <alice@example.org>", rec["detail"])
        self.assertIn("envelope <bob@legacy.example> -> <bob@example.org>", rec["detail"])
        self.assertIn("To rewritten", rec["detail"])

    def test_single_recipient_delivered_to_agrees(self):
        """With one recipient the store adds its own Delivered-To; the one the message brought
        names the same mailbox after rewriting."""
        c = t.Lmtp(self.opesd.port)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<mallory@remote.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<old@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.stuff(t.crlf("Delivered-To: old@example.org\nFrom: mallory@remote.example\n"
                              "To: old@example.org\nSubject: one\n\nhi\n")))
        [(code, text)] = c.replies(1)
        c.close()
        self.assertEqual(code, 250, text)
        [data] = self.dovecot.messages("alice")
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(msg.get_all("Delivered-To"), ["alice@example.org", "alice@example.org"])
        self.assertEqual(str(msg["To"]), "alice@example.org")
        self.assertIn("for <alice@example.org>", t.unfold(msg.as_string()))
