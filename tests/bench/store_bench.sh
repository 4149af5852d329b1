#!/usr/bin/env bash
# tests/bench/store_bench.sh - figures for the SQLite store (a benchmark, not a test).
#
# Builds store_bench (tests/bench/store_bench.c, a target of tests/store) and runs it:
#   - durable quarantine inserts per second of 10 KB messages (target >= 300/s),
#     on one connection and on several at once, next to the disk's own write+fsync rate;
#   - store_quarantine_list of one recipient's page of 50 among 100 000 entries
#     (target < 5 ms), and neighbouring queries.
# The database lives in BENCH_DIR, which must be on the disk to be measured (not a tmpfs).
#
# Environment: BUILD (build directory, default ./build), BENCH_DIR (default $TMPDIR or
# /var/tmp), BENCH_INSERTS (2000), BENCH_THREADS (4), BENCH_ENTRIES (100000),
# BENCH_QUERIES (2000).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/var/tmp}}
INSERTS=${BENCH_INSERTS:-2000}
THREADS=${BENCH_THREADS:-4}
ENTRIES=${BENCH_ENTRIES:-100000}
QUERIES=${BENCH_QUERIES:-2000}

case "$INSERTS$THREADS$ENTRIES$QUERIES" in *[!0-9]*)
    echo "store_bench: BENCH_INSERTS, BENCH_THREADS, BENCH_ENTRIES, BENCH_QUERIES must be integers" >&2
    exit 2 ;;
esac
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -B "$BUILD" -S "$ROOT" >/dev/null
fi
cmake --build "$BUILD" --target store_bench -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
BIN=$(find "$BUILD" -name store_bench -type f -perm -u+x | head -n 1)
if [ -z "$BIN" ]; then
    echo "store_bench: no store_bench under $BUILD (is tests/store part of the build?)" >&2
    exit 2
fi
if [ "$(stat -f -c %T "$BENCH_DIR" 2>/dev/null)" = tmpfs ]; then
    echo "store_bench: warning: $BENCH_DIR is a tmpfs; the insert rate says nothing about a disk" >&2
fi
WORK=$(mktemp -d "$BENCH_DIR/opes-store-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$BIN" -d "$WORK" -n "$INSERTS" -t "$THREADS" -e "$ENTRIES" -q "$QUERIES"
