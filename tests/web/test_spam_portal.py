"""The spam page of the portal (/prefs/spam) in headless Chromium (spam.mjs).

alice logs in with a login link, reaches the page from her preferences,
reads one sentence per level, chooses strict, is refused own scores that
fall, and keeps own scores that rise; the store then holds what she chose,
as opesctl user spam shows it.
"""
import os
import subprocess
import sys
import unittest

import opestest as t
from test_portal import ARTIFACTS, HERE, NODE, OpesWeb, WebTest, missing_browser


class SpamPortalTest(WebTest):
    def setUp(self):
        why = missing_browser()
        if why is not None:
            sys.stderr.write("\n*** SKIPPING the spam page browser test: %s ***\n" % why)
            self.skipTest(why)
        super().setUp()
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/%%u" % self.tmp, extra={
            "service.spamd.type": "spamd",
            "service.spamd.address": "127.0.0.1:1",
            "web.listen": "127.0.0.1:%d" % port,
            "web.base_url": self.base,
        }))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    def test_recipient_chooses_a_level(self):
        link = self.opesd.ctl("link", "alice@example.org")[1].strip()
        self.assertTrue(link.startswith(self.base + "/login/"), link)
        env = dict(os.environ, BASE=self.base, LOGIN_LINK=link, ARTIFACTS=ARTIFACTS)
        p = subprocess.run([NODE, os.path.join(HERE, "spam.mjs")], env=env, cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = self.opesd.ctl("user", "spam", "alice@example.org")[1]
        self.assertEqual(out, "alice@example.org: spam custom tag 4.0 junk off quarantine 15.5\n")
        audit = self.opesd.ctl("audit")[1]
        self.assertIn("spam-level  alice@example.org:strict  (portal)", audit)


if __name__ == "__main__":
    unittest.main()
