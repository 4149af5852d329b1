"""A limit reached while reading a message, or a structure that can be read
more than one way, is a verdict of its own: never a silent pass.

Each test starts opesd (Maildir target) with a rules service holding a header
rule and a file name rule, sends a message built to get past the MIME reader
(too many fields, an overlong field, too many parts, too deep, an encoded
message/rfc822, a part after the close delimiter, a file name given twice)
and checks that nothing reaches the mailbox silently: the rules match every
reading, or the message is held with a reason that names the limit or the
ambiguity (on_unscannable, on_ambiguous). With a real clamd: each decoded
part is scanned as well as the whole message, so content past clamd's own
recursion limit is still found.
"""
import base64
import os
import shutil
import tempfile

import opestest as t
from scanners import EICAR, Clamd

URI = "http://opes.example.org/opes/service/"
HEAD = "From: mallory@remote.example\nTo: alice@example.org\nMIME-Version: 1.0\n"


def mixed(parts, boundary="b", extra=""):
    """A multipart/mixed message of the given body parts (header and body text each)."""
    body = "".join("--%s\n%s\n" % (boundary, p) for p in parts)
    return (HEAD + "Subject: parts\nContent-Type: multipart/mixed; boundary=\"%s\"\n\n%s--%s--\n%s"
            % (boundary, body, boundary, extra))


def attachment(name="evil.exe", param="filename=\"%s\""):
    return ("Content-Type: application/octet-stream\nContent-Disposition: attachment; " +
            (param % name) + "\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n")


def nested(depth, leaf=None):
    """A part named evil.exe (or leaf) depth multiparts deep."""
    inner = leaf or attachment()
    for level in range(depth, 0, -1):
        inner = ("Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n%s\n--d%d--\n"
                 % (level, level, inner, level))
    return HEAD + "Subject: deep\n" + inner


def encoded_rfc822(subject="inner"):
    inner = ("From: x@remote.example\nSubject: " + subject + "\nMIME-Version: 1.0\n"
             "Content-Type: multipart/mixed; boundary=\"in\"\n\n--in\n"
             "Content-Type: text/plain\n\nhi\n--in\n" + attachment() + "--in--\n")
    enc = base64.encodebytes(inner.replace("\n", "\r\n").encode()).decode()
    return mixed(["Content-Type: text/plain\n\nsee attached\n",
                  "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + enc])


class StrictBase(t.TempDirTest):
    """opesd with a Maildir target for alice and the services of rules."""
    rules = {"service.rules.type": "rules",
             "service.rules.rule": "header Subject /FORBIDDEN/ reject"}

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.tmp, "mail")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.mail, "alice", sub))

    def start_opesd(self, extra=None):
        cfg = dict(self.rules, **{"notify.default_mode": "off"})
        cfg.update(extra or {})
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % self.mail, extra=cfg))
        return self.opesd

    def send(self, message):
        c = t.Lmtp(self.opesd.port, timeout=90)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<mallory@remote.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.crlf(message) + b".\r\n")
        [reply] = c.replies(1)
        c.cmd("QUIT")
        c.close()
        return reply

    def send_started(self, message):
        """send(), with opesd started on the default configuration first."""
        self.start_opesd()
        return self.send(message)

    def delivered(self):
        return os.listdir(os.path.join(self.mail, "alice", "new"))

    def records(self, text):
        return self.opesd.trace(text.rsplit("(trace ", 1)[1].rstrip(")"))

    def service_detail(self, text, service="rules"):
        [r] = [r for r in self.records(text) if r["event"] == "service" and r["service"] == service]
        return r

    def assert_held(self, message, words, code=250, extra=None):
        """The message is not delivered; the rules' trace record names the reason."""
        if not hasattr(self, "opesd"):
            self.start_opesd(extra)
        code_got, text = self.send(message)
        self.assertEqual(code_got, code, text)
        self.assertEqual(self.delivered(), [], text)
        r = self.service_detail(text)
        self.assertNotEqual(r["verdict"], "pass", r)
        self.assertNotIn("no rule matched", r["detail"])
        for w in words:
            self.assertIn(w, r["detail"])
        return r



class StrictTest(StrictBase):
    # finding 1: header limits

    def test_subject_after_1001_fields(self):
        msg = HEAD + "".join("X-F%d: x\n" % i for i in range(1001)) + "Subject: FORBIDDEN\n\nhi\n"
        self.assert_held(msg, ["unscannable", "header fields"])

    def test_subject_after_a_300k_field(self):
        msg = HEAD + "X-Big: " + "a" * 300 * 1024 + "\nSubject: FORBIDDEN\n\nhi\n"
        self.assert_held(msg, ["unscannable"])

    def test_3mb_subject(self):
        msg = HEAD + "Subject: " + "a " * (1536 * 1024) + "FORBIDDEN\n\nhi\n"
        self.assert_held(msg, ["unscannable", "field length"])

    # finding 1: parts

    def test_evil_exe_after_part_1000(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        parts = ["Content-Type: text/plain\n\n%d\n" % i for i in range(1000)] + [attachment()]
        self.assert_held(mixed(parts), ["unscannable", "parts"])

    def test_evil_exe_at_depth_25(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        self.assert_held(nested(25), ["unscannable", "depth"])

    def test_evil_exe_in_base64_rfc822(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        code, text = self.send(encoded_rfc822())
        self.assertEqual(code, 550, text)
        self.assertIn("rule 1 matched", self.service_detail(text)["detail"])
        self.assertEqual(self.delivered(), [])

    def test_header_of_an_encoded_message(self):
        code, text = self.send_started(encoded_rfc822("FORBIDDEN"))
        self.assertEqual(code, 550, text)
        self.assertIn("rule 1 matched", self.service_detail(text)["detail"])

    def test_evil_exe_after_the_close_delimiter(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        msg = mixed(["Content-Type: text/plain\n\nhello\n"], extra="--b\n" + attachment())
        self.assert_held(msg, ["ambiguous", "close delimiter"])

    def test_filename_given_twice(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        msg = mixed(["Content-Type: text/plain\n\nhi\n",
                     attachment(param="filename=\"ok.txt\"; filename=\"%s\"")])
        code, text = self.send(msg)
        self.assertEqual(code, 550, text)
        self.assertEqual(self.delivered(), [])

    def test_name_and_filename_disagree(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        part = ("Content-Type: application/octet-stream; name=\"evil.exe\"\n"
                "Content-Disposition: attachment; filename=\"ok.txt\"\n\nxx\n")
        code, text = self.send(mixed(["Content-Type: text/plain\n\nhi\n", part]))
        self.assertEqual(code, 550, text)

    def test_filename_star_and_plain_disagree(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        part = attachment(param="filename=\"ok.txt\"; filename*=utf-8''%s")
        code, text = self.send(mixed(["Content-Type: text/plain\n\nhi\n", part]))
        self.assertEqual(code, 550, text)

    # finding 2: ambiguous structure, held with a reason

    def test_two_content_type_fields(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        msg = (HEAD + "Subject: two\nContent-Type: text/plain\n"
               "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n" + attachment() + "--b--\n")
        self.assert_held(msg, ["ambiguous", "Content-"])

    def test_boundary_prefix_of_the_enclosing_one(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        inner = ("Content-Type: multipart/mixed; boundary=\"bb\"\n\n--bb\n"
                 "Content-Type: text/plain\n\nx\n--bb--\n")
        self.assert_held(mixed(["Content-Type: text/plain\n\nhi\n", inner], boundary="bbb"),
                         ["ambiguous", "boundary"])

    def test_transfer_encodings_decoders_read_differently(self):
        """A body that base64 or quoted-printable decoders read differently is ambiguous."""
        self.start_opesd()
        b64 = ("Content-Type: application/octet-stream\nContent-Disposition: attachment; "
               "filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n")
        qp = "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
        table = [("outside the alphabet", b64 + "TVqQ!AAA\n", "base64"),
                 ("padding in the middle", b64 + "TV=QAAMA\n", "base64"),
                 ("data after the padding", b64 + "TVo=\nTVqQAAMA\n", "base64"),
                 ("a line of 5", b64 + "TVqQA\nAAM=\n", "base64"),
                 ("a line over 998", b64 + "QUFB" * 250 + "\n", "base64"),
                 ("a quantum cut short", b64 + "TVqQAAM\n", "base64"),
                 ("an '=' before no hex digit", qp + "pay=now\n", "quoted-printable")]
        for what, part, word in table:
            with self.subTest(what):
                self.assert_held(mixed(["Content-Type: text/plain\n\nhi\n", part]),
                                 ["ambiguous", word])
        code, text = self.send(mixed(["Content-Type: text/plain\n\nhi\n",
                                      b64 + "TVqQAAMA\nAAAEAA==\n"]))
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)  # clean base64 still goes through

    # the choices

    def test_on_unscannable_reject_and_pass(self):
        msg = HEAD + "".join("X-F%d: x\n" % i for i in range(1001)) + "Subject: FORBIDDEN\n\nhi\n"
        self.assert_held(msg, ["unscannable"], code=550,
                         extra={"service.rules.on_unscannable": "reject"})
        self.opesd.stop()
        del self.opesd
        self.start_opesd({"service.rules.on_unscannable": "pass"})
        code, text = self.send(msg)
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)
        r = self.service_detail(text)
        self.assertIn("unscannable", r["detail"])  # traced, not silent
        self.assertEqual(r["verdict"], "unscannable")
        [name] = self.delivered()
        with open(os.path.join(self.mail, "alice", "new", name)) as f:
            head = f.read().split("\n\n", 1)[0].replace("\n\t", " ").replace("\n ", " ")
        self.assertIn(URI + "rules; action=unscannable", head)

    def test_on_ambiguous_tempfail(self):
        msg = mixed(["Content-Type: text/plain\n\nhello\n"], extra="--b\n" + attachment())
        self.assert_held(msg, ["ambiguous"], code=451,
                         extra={"service.rules.on_ambiguous": "tempfail"})

    def test_clean_mime_mail_still_delivered(self):
        self.start_opesd({"service.rules.rule": "filename /\\.exe$/i reject"})
        code, text = self.send(mixed(["Content-Type: text/plain\n\nhi\n",
                                      attachment("report.pdf")]))
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)
        self.assertEqual(self.service_detail(text)["verdict"], "pass")


class SpamdLimitTest(StrictBase):
    """spamd does not score mail over max_size: traced as unscannable, on_unscannable applies."""
    rules = {"service.spamd.type": "spamd", "service.spamd.max_size": "1K",
             # never reached: the message is over max_size
             "service.spamd.address": "127.0.0.1:9"}

    def test_over_max_size_passes_traced(self):
        self.start_opesd()
        code, text = self.send(HEAD + "Subject: big\n\n" + "x" * 2048 + "\n")
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)
        r = self.service_detail(text, "spamd")
        self.assertEqual(r["verdict"], "unscannable")
        self.assertIn("larger than max_size (1024) (on_unscannable=pass)", r["detail"])

    def test_over_max_size_held_by_choice(self):
        self.start_opesd({"service.spamd.on_unscannable": "quarantine"})
        code, text = self.send(HEAD + "Subject: big\n\n" + "x" * 2048 + "\n")
        self.assertIn("held in quarantine", text)
        self.assertEqual(self.delivered(), [])


class ClamdBase(StrictBase):
    """opesd with clamd alone; each class its own clamd."""
    rules = {}
    stream_max_length = "25M"

    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="opesd-strict-")
        os.chmod(cls.shared, 0o755)
        cls.clamd = Clamd(cls.shared, stream_max_length=cls.stream_max_length)

    @classmethod
    def tearDownClass(cls):
        cls.clamd.stop()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def start_opesd(self, extra=None):
        cfg = {"service.clamd.type": "clamd", "service.clamd.socket": self.clamd.unix,
               "service.clamd.timeout": "30s"}
        cfg.update(extra or {})
        return StrictBase.start_opesd(self, cfg)


class ClamdStrictTest(ClamdBase):
    """clamd gets the whole message and each part opesd decoded."""

    def eicar_deep(self):
        """EICAR in base64 19 multiparts deep: past clamd's MaxRecursion, within opesd's limits."""
        leaf = ("Content-Type: application/octet-stream; name=\"x.com\"\n"
                "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(EICAR).decode())
        return nested(19, leaf)

    def test_each_decoded_part_is_scanned(self):
        self.start_opesd()
        code, text = self.send(self.eicar_deep())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)
        self.assertEqual(self.delivered(), [])
        r = self.service_detail(text, "clamd")
        self.assertEqual(r["verdict"], "quarantine", r)
        self.assertRegex(r["detail"], r"virus Eicar\S* found in part \d+ x\.com")

    def test_whole_message_alone_misses_it(self):
        """What clamd's own reading gives: the reason scan_parts exists."""
        self.start_opesd({"service.clamd.scan_parts": "no"})
        code, text = self.send(self.eicar_deep())
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)

    def test_clean_parts_counted(self):
        self.start_opesd()
        code, text = self.send(mixed(["Content-Type: text/plain\n\nhi\n", attachment("a.pdf")]))
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.delivered()), 1)
        self.assertIn("no virus found (message and 1 decoded part)",
                      self.service_detail(text, "clamd")["detail"])


class ClamdLimitTest(ClamdBase):
    """A stream clamd refuses for StreamMaxLength is unscannable, not a failure."""
    stream_max_length = "1M"

    def big(self):
        return HEAD + "Subject: big\n\n" + ("x" * 76 + "\n") * 16000

    def test_over_stream_max_length_defers(self):
        self.start_opesd()
        code, text = self.send(self.big())
        self.assertEqual(code, 451, text)
        r = self.service_detail(text, "clamd")
        self.assertIn("unscannable: clamd's limits", r["detail"])
        self.assertIn("on_unscannable=tempfail", r["detail"])
        self.assertNotIn("service failed", r["detail"])

    def test_over_stream_max_length_quarantined_by_choice(self):
        self.start_opesd({"service.clamd.on_unscannable": "quarantine"})
        code, text = self.send(self.big())
        self.assertEqual(code, 250, text)
        self.assertIn("held in quarantine", text)
        self.assertEqual(self.delivered(), [])
