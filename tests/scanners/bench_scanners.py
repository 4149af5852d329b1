#!/usr/bin/python3
"""bench_scanners.py - time per message of clamd_scan and spamd_check.

Starts a private clamd and spamd (tests/integration/scanners.py), writes a
10 KB and a 1 MB message (plain text, and a base64 attachment of random
octets), and runs opes-scan -n RUNS on each, one message at a time. Prints one
line per case; these are figures, not a test.

    tests/scanners/bench_scanners.py BUILD_DIR [RUNS_SMALL [RUNS_LARGE]]
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from scanners import Clamd, Spamd  # noqa: E402


def text_message(size):
    head = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
            b"Subject: report\r\nMessage-ID: <bench@example.org>\r\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\n")
    line = b"The quick brown fox jumps over the lazy dog; the report follows in detail.\r\n"
    body = (line * (size // len(line) + 1))[:size - len(head)]
    return head + body


def attachment_message(size):
    head = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
            b"Subject: the file\r\nMessage-ID: <bench2@example.org>\r\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
            b"Content-Type: text/plain\r\n\r\nSee the attachment.\r\n\r\n--b1\r\n"
            b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    tail = b"--b1--\r\n"
    raw = os.urandom((size - len(head) - len(tail)) * 3 // 4 * 76 // 78)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return head + b64 + tail


def run(tool, mode, ep, path, runs):
    p = subprocess.run([tool, "-t", "120000", "-n", str(runs), mode, ep, path],
                       capture_output=True, timeout=3600)
    return p.stdout.decode().strip()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tool = os.path.join(sys.argv[1], "tests", "scanners", "opes-scan")
    small = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    large = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    tmp = tempfile.mkdtemp(prefix="opesd-bench-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        clamd = Clamd(tmp)
        procs.append(clamd)
        spamd = Spamd(tmp)
        procs.append(spamd)
        cases = []
        for label, size, runs in (("10KB", 10 * 1024, small), ("1MB", 1024 * 1024, large)):
            for kind, make in (("text", text_message), ("base64", attachment_message)):
                path = os.path.join(tmp, "%s-%s.eml" % (label, kind))
                with open(path, "wb") as f:
                    f.write(make(size))
                cases.append((label, kind, path, runs, os.path.getsize(path)))
        for label, kind, path, runs, size in cases:
            for mode, ep in (("clamd", clamd.unix), ("clamd", clamd.tcp), ("spamd", spamd.tcp)):
                n = runs if mode != "spamd" else max(1, runs // 4)
                print("%-5s %-6s %7d octets  %-5s %-22s %s"
                      % (label, kind, size, mode, ep.split(":")[0], run(tool, mode, ep, path, n)),
                      flush=True)
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
