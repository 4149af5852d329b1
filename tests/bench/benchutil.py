#!/usr/bin/python3
"""Small helpers for tests/bench/run.sh (standard library only).

    benchutil.py ports N                  N free loopback TCP ports, one a line
    benchutil.py wait PORT SECONDS [PID]  wait until 127.0.0.1:PORT accepts a connection
                                          (and fail at once if PID is gone)
    benchutil.py timed OUTFILE CMD...     run CMD (output to OUTFILE); print
                                          "exit_status wall_seconds cpu_seconds"
    benchutil.py cpu PID                  user+system CPU seconds used so far by PID
    benchutil.py sysbusy                  CPU seconds all CPUs spent busy so far
                                          (user, nice, system, irq, softirq, steal)
    benchutil.py hwm PID                  VmHWM of PID in kB
    benchutil.py bigmsg FILE MIB          a message of MIB mebibytes (LF line ends)
    benchutil.py sinkcount FILE           messages counted by "smtp-sink -c" in FILE
    benchutil.py median X...              the median of the numbers
"""
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time


def ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
    for s in socks:
        s.close()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait(port, seconds, pid=None):
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
                return 0
        except OSError:
            if pid is not None and not alive(pid):
                print(f"process {pid} exited before listening on port {port}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"port {port} not ready after {seconds} s", file=sys.stderr)
                return 1
            time.sleep(0.05)


def timed(outfile, *argv):
    with open(outfile, "ab") as out:
        t0 = time.monotonic()
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
        wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{rc} {wall:.6f} {ru.ru_utime + ru.ru_stime:.6f}")
    return 0


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    print(f"{ticks / os.sysconf('SC_CLK_TCK'):.3f}")
    return 0


def sysbusy():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    busy = user + nice + system + irq + softirq + steal
    print(f"{busy / os.sysconf('SC_CLK_TCK'):.3f}")
    return 0


def hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(line.split()[1])
                return 0
    return 1


def bigmsg(path, mib):
    size = int(float(mib) * 1048576)
    head = ("From: <bench@example.org>\nTo: <big@example.org>\n"
            "Subject: opesd benchmark large message\n"
            "Message-ID: <bench-big@example.org>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n\n")
    # 76-byte lines; every 1000th begins with a dot to exercise dot-stuffing
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    plain = [(alphabet * 2)[i:i + 75] + "\n" for i in range(64)]
    block = "".join(("." + plain[i % 64][1:]) if i % 1000 == 0 else plain[i % 64]
                    for i in range(4000)).encode()
    with open(path, "wb") as f:
        f.write(head.encode())
        left = size - len(head)
        while left > 0:
            chunk = block[:left] if left < len(block) else block
            f.write(chunk)
            left -= len(chunk)
        f.write(b"\n")
    return 0


def sinkcount(path):
    with open(path, "rb") as f:
        data = f.read()
    counts = re.findall(rb"mesg=(\d+)", data)
    print(int(counts[-1]) if counts else 0)
    return 0


def median(*xs):
    m = statistics.median(float(x) for x in xs)
    print(f"{m:.1f}" if abs(m) >= 100 else f"{m:.2f}")
    return 0


COMMANDS = {"ports": ports, "wait": wait, "timed": timed, "cpu": cpu, "sysbusy": sysbusy, "hwm": hwm,
            "bigmsg": bigmsg, "sinkcount": sinkcount, "median": median}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]) or 0)
