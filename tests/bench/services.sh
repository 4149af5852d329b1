#!/usr/bin/env bash
# tests/bench/services.sh - what opesd's adaptation services cost (a benchmark, not a test).
#
# 1. Throughput with a rules service against pass-through (no services): smtp-source -L to two
#    opesd instances relaying to smtp-sink -L, interleaved rounds; msg/s of both and the cost of
#    the rules in percent.
# 2. With a private clamd and a private spamd: the time per message through opesd (clamd and
#    spamd configured) against calling the scanners directly on the same messages; opesd's share.
# The work is done by tests/bench/services.py (standard library only). Everything runs on free
# loopback ports in a temporary directory; only the processes started here are stopped, by PID.
# See tests/bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export OPESD=${OPESD:-$ROOT/build/bin/opesd}

need() { # need TOOL PACKAGE
    command -v "$1" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/usr/lib/postfix
    command -v "$1" >/dev/null 2>&1 || {
        echo "bench: $1 not found (apt-get install $2)" >&2
        exit 2
    }
}
need smtp-source postfix
need smtp-sink postfix
[ -x /usr/bin/python3 ] || { echo "bench: /usr/bin/python3 not found" >&2; exit 2; }
if [ "${BENCH_SCAN_MESSAGES:-60}" != 0 ]; then
    need clamd clamav-daemon
    need spamd spamd
fi
if [ ! -x "$OPESD" ]; then
    echo "bench: $OPESD not found; build with: cmake -B build -S . && cmake --build build -j2" >&2
    exit 2
fi
export PATH
exec /usr/bin/python3 "$HERE/services.py"
