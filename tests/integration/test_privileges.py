"""Privilege drop: opesd binds as root, then runs as [lmtp] user.

The listeners (a TCP port and a unix socket) are bound first; afterwards the
process has the user's uid and gid (real, effective and saved), the unix
socket belongs to that user, and mail is still received and delivered.
"""
import os
import pwd
import time

import opestest as t


class PrivilegeDropTest(t.TempDirTest):
    def test_runs_as_configured_user_after_binding(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to drop privileges")
        nobody = pwd.getpwnam("nobody")
        state = os.path.join(self.tmp, "state")
        mail = os.path.join(state, "mail")
        os.makedirs(os.path.join(mail, "alice", "new"))
        for sub in ("cur", "tmp"):
            os.makedirs(os.path.join(mail, "alice", sub))
        for root, dirs, _ in os.walk(state):
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
            for d in dirs:
                os.chown(os.path.join(root, d), nobody.pw_uid, nobody.pw_gid)
        sock = os.path.join(self.tmp, "lmtp.sock")
        port = t.free_port()
        opesd = self.start(t.Opesd(
            self.tmp, "maildir:%s/%%u" % mail,
            listen="127.0.0.1:%d unix:%s" % (port, sock),
            extra={"lmtp.user": "nobody", "lmtp.spool_dir": os.path.join(state, "spool"),
                   "store.path": os.path.join(state, "opesd.db"),
                   "store.key_file": os.path.join(state, "keys")}))
        t.wait_port(port, proc=opesd.p)
        t.wait_unix(sock)
        time.sleep(0.2)
        with open("/proc/%d/status" % opesd.pid) as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
        self.assertEqual(status["Gid"].split(), [str(nobody.pw_gid)] * 4)
        self.assertEqual(os.stat(sock).st_uid, nobody.pw_uid)
        self.assertEqual(os.stat(os.path.join(state, "keys")).st_uid, nobody.pw_uid)

        c = t.Lmtp(None, unix=sock)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(t.crlf("Subject: after the drop\n\nhello\n.\n"))
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        c.close()
        [name] = os.listdir(os.path.join(mail, "alice", "new"))
        self.assertEqual(os.stat(os.path.join(mail, "alice", "new", name)).st_uid, nobody.pw_uid)
        self.assertIn("running as user=nobody", opesd.read_log())
