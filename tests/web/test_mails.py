"""Notices and digests as recipients read them, end to end, and in Chromium.

opesd holds mail by a rules service and writes its notices and digests
straight into a real Dovecot. alice reads English in the site's default zone
(America/New_York); bob chose German and Europe/Berlin with opesctl user set.
Three messages held within [notify] batch_window give one notice each with
the three items; later ones, in digest mode, one digest each. Then
tests/web/mails.mjs opens the HTML parts in Debian's Chromium at 390 and 1280
px, fails on horizontal scrolling or a button under 44 px, and saves
notice-390.png, digest-1280.png, notice-de-390.png ... in the artifacts
directory.

Needs /usr/bin/chromium and tests/web/node_modules for the browser part
(packaging/install-deps.sh test); without them only that part is skipped.
"""
import email
import email.policy
import html
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import zoneinfo
from datetime import datetime

import opestest as t
from test_portal import HERE, NODE, missing_browser

ARTIFACTS = os.environ.get("OPES_WEB_ARTIFACTS", os.path.join(HERE, "artifacts"))
CATALOGS = os.path.join(HERE, "..", "..", "store", "base", "i18n")
BASE = "http://portal.test"
WINDOW = 4  # seconds of [notify] batch_window

RULES = ["header Subject /HOLD-ME/ quarantine",
         "filename /\\.exe$/i quarantine",
         'sender /phish/ quarantine label="Looks like a phishing attempt"']


def held(rcpt, subject, sender="mallory@remote.example", name="Mallory Sender", extra="",
         body="A held message.\n"):
    return t.crlf("From: %s <%s>\nTo: %s\nSubject: %s\nDate: Sat, 28 Nov 2026 10:00:00 +0000\n"
                  "Message-ID: <%d@remote.example>\n%s\n%s"
                  % (name, sender, rcpt, subject, abs(hash((rcpt, subject))), extra, body))


def exe_attachment(rcpt, subject):
    return held(rcpt, subject, name="Billing Team", sender="billing@remote.example",
                extra="MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n",
                body="--b\nContent-Type: text/plain\n\nsee attached\n--b\n"
                     "Content-Type: application/octet-stream\n"
                     "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\n\nMZ\n--b--\n")


def english_fragments():
    """Every sentence of the English catalogs, cut at its {arguments}: none may be in German."""
    out = set()
    for name in os.listdir(CATALOGS):
        if not name.endswith(".en") or name.startswith("common"):
            continue
        with open(os.path.join(CATALOGS, name), encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or "=" not in line:
                    continue
                text = line.split("=", 1)[1].strip()
                out.update(p.strip() for p in re.split(r"\{\w+\}", text) if len(p.strip()) >= 8)
    return out


GERMAN_DAYS = ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."]
GERMAN_MONTHS = ["Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.",
                 "Nov.", "Dez."]


def german_datetime(d):
    return "%s, %d. %s %d, %s" % (GERMAN_DAYS[d.weekday()], d.day, GERMAN_MONTHS[d.month - 1],
                                  d.year, d.strftime("%H:%M"))


def parts(msg):
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


class MailsPeopleRead(t.TempDirTest):
    def setUp(self):
        super().setUp()
        self.dovecot = self.start(t.Dovecot(self.tmp, users=("alice", "bob")))
        cfg = {"store.job_interval": "1s", "web.base_url": BASE,
               "web.default_timezone": "America/New_York",
               "notify.batch_window": "%ds" % WINDOW,
               "service.rules.type": "rules", "service.rules.order": "10",
               "service.rules.rule": RULES}
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port,
                                        extra=cfg))

    def send(self, data, rcpt, sender="mallory@remote.example"):
        c = self.client(self.opesd.port)
        c.hello()
        for line in ("MAIL FROM:<%s>" % sender, "RCPT TO:<%s>" % rcpt):
            code, text = c.cmd(line)
            self.assertEqual(code, 250, text)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 354, text)
        c.send(t.stuff(data))
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)
        c.cmd("QUIT")

    def mails(self, user, n, timeout=30):
        deadline = time.time() + timeout
        while len(self.dovecot.messages(user)) < n and time.time() < deadline:
            time.sleep(0.2)
        return [email.message_from_bytes(m, policy=email.policy.default)
                for m in self.dovecot.messages(user)]

    def three(self, rcpt, tag):
        """Three held messages for rcpt: a rule on the Subject, an .exe, a labelled phish."""
        self.send(held(rcpt, "HOLD-ME %s newsletter" % tag, body="x" * 12000 + "\n"), rcpt)
        self.send(exe_attachment(rcpt, "Your invoice %s" % tag), rcpt,
                  sender="billing@remote.example")
        self.send(held(rcpt, "URGENT verify your account %s" % tag, name="PayPal Security",
                       sender="phish@remote.example"), rcpt, sender="phish@remote.example")

    def waiting_for_digest(self):
        con = sqlite3.connect(os.path.join(self.tmp, "opesd.db"), timeout=30)
        try:
            return con.execute("SELECT COUNT(*) FROM notification WHERE state = 'digest'")\
                .fetchone()[0]
        finally:
            con.close()

    def held_times(self, rcpt, zone, fmt):
        """The held times of rcpt's entries as the mail writes them in zone."""
        out = self.opesd.ctl("quarantine", "list", "--recipient", rcpt, "--json")[1]
        return [fmt(datetime.fromisoformat(i["created"].replace("Z", "+00:00"))
                    .astimezone(zoneinfo.ZoneInfo(zone))) for i in json.loads(out)]

    def check_items(self, text, body_html, lang):
        words = {"en": ["The message's Subject field matched a filter rule",
                        "Attachment type not allowed (.exe)", "Looks like a phishing attempt",
                        "12 KB", "Billing Team", "PayPal Security"],
                 "de": ["Das Kopffeld Subject der Nachricht hat eine Filterregel ausgelöst",
                        "Anhangstyp nicht erlaubt (.exe)", "Looks like a phishing attempt",
                        "12 KB", "Billing Team", "PayPal Security"]}[lang]
        plain_html = html.unescape(re.sub(r"<[^>]+>", " ", body_html))
        # held by rules, which do not learn: no "Not spam"
        self.assertNotIn({"en": "Not spam", "de": "Kein Spam"}[lang], text + plain_html)
        for w in words:
            self.assertIn(w, text)
            self.assertIn(w, plain_html)
        # each item has its four signed action links and a view link, in both parts
        for part in (text, body_html):
            self.assertEqual(len(re.findall(re.escape(BASE) + r"/action/l1\.", part)), 12)
            self.assertEqual(len(re.findall(re.escape(BASE) + r"/login/l1\.", part)), 3)

    def test_notice_and_digest_in_the_readers_language_zone_and_words(self):
        rc, out, _ = self.opesd.ctl("user", "set", "bob@example.org", "--language", "de",
                                    "--timezone", "Europe/Berlin")
        self.assertIn("language de, time zone Europe/Berlin", out)
        rc, _, err = self.opesd.ctl("user", "set", "bob@example.org", "--language", "xx",
                                    check=False)
        self.assertNotEqual(rc, 0, err)

        # three quick messages each: one notice each, after the window, with all three
        start = time.time()
        self.three("alice@example.org", "A")
        self.three("bob@example.org", "B")
        [notice] = self.mails("alice", 1)
        waited = time.time() - start
        [notice_de] = self.mails("bob", 1)
        self.assertGreaterEqual(waited, WINDOW - 1, "sent before the batch window closed")
        time.sleep(2)  # and nothing more comes for them
        self.assertEqual(len(self.dovecot.messages("alice")), 1)
        self.assertEqual(len(self.dovecot.messages("bob")), 1)

        self.assertEqual(notice["Subject"], "3 messages held for you")
        self.assertEqual(notice_de["Subject"], "3 Nachrichten für Sie zurückgehalten")
        self.assertEqual(notice.get_content_type(), "multipart/alternative")
        text, body = parts(notice)
        text_de, body_de = parts(notice_de)
        self.check_items(text, body, "en")
        self.check_items(text_de, body_de, "de")
        # the display names the mails show are the administrator's too
        listed = json.loads(self.opesd.ctl("quarantine", "list", "--recipient",
                                           "alice@example.org", "--json")[1])
        self.assertEqual(sorted(i["from_name"] for i in listed),
                         ["Billing Team", "Mallory Sender", "PayPal Security"])
        self.assertIn('lang="de"', body_de)
        # dates in the reader's zone: alice the site's default, bob his own
        for when in self.held_times("alice@example.org", "America/New_York",
                                    lambda d: d.strftime("%-d %b %Y, %H:%M")):
            self.assertIn(when, text)
        for when in self.held_times("bob@example.org", "Europe/Berlin", german_datetime):
            self.assertIn(when, text_de)
        self.assertIn("America/New_York", text)
        self.assertIn("Europe/Berlin", text_de)
        # no English sentence in German mail
        for fragment in english_fragments():
            self.assertNotIn(fragment, text_de)
            self.assertNotIn(fragment, html.unescape(body_de))

        # the same three kinds again in digest mode: one digest each
        for user in ("alice@example.org", "bob@example.org"):
            self.opesd.ctl("user", "notify", user, "digest")
        self.three("alice@example.org", "C")
        self.three("bob@example.org", "D")
        deadline = time.time() + 20
        while self.waiting_for_digest() < 6 and time.time() < deadline:
            time.sleep(0.2)  # until the job thread has captured all six for a digest
        self.assertIn("recorded 2 digests", self.opesd.ctl("digest", "run")[1])
        digest = self.mails("alice", 2)[-1]
        digest_de = self.mails("bob", 2)[-1]
        self.assertEqual(digest["Subject"], "Quarantine report: 3 messages held for you")
        self.assertEqual(digest_de["Subject"],
                         "Quarantänebericht: 3 Nachrichten für Sie zurückgehalten")
        dtext, dbody = parts(digest)
        dtext_de, dbody_de = parts(digest_de)
        self.check_items(dtext, dbody, "en")
        self.check_items(dtext_de, dbody_de, "de")
        self.assertNotIn("HOLD-ME", digest["Subject"] + notice["Subject"])
        for fragment in english_fragments():
            self.assertNotIn(fragment, dtext_de)
            self.assertNotIn(fragment, html.unescape(dbody_de))

        # the HTML parts in Chromium at a phone's and a desktop's width
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name, body_html in (("notice", body), ("notice-de", body_de), ("digest", dbody),
                                ("digest-de", dbody_de)):
            with open(os.path.join(ARTIFACTS, name + ".html"), "w", encoding="utf-8") as f:
                f.write(body_html)
        why = missing_browser()
        if why is not None:
            sys.stderr.write("\n*** SKIPPING the mails' browser part: %s ***\n" % why)
            return
        p = subprocess.run([NODE, os.path.join(HERE, "mails.mjs")], cwd=HERE,
                           env=dict(os.environ, ARTIFACTS=ARTIFACTS), capture_output=True,
                           timeout=120)
        out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "browser checks failed:\n%s" % out)
        self.assertIn("all mail checks passed", out)
