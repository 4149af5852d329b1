#!/usr/bin/env bash
# tests/bench/store_bench.sh - figures for the store on SQLite and on PostgreSQL
# (a benchmark, not a test).
#
# Builds store_bench (tests/bench/store_bench.c, a target of tests/store), starts a
# PostgreSQL server of its own (initdb and pg_ctl as the user postgres in a temporary
# directory under BENCH_DIR, unix socket only, as tests/store/pg_run.sh does) and runs
# store_bench BENCH_RUNS times on each backend, alternating:
#   - durable quarantine inserts per second of 10 KB messages (target >= 300/s) on one
#     connection, by 1 node and by 2 nodes (processes of BENCH_THREADS connections each;
#     on SQLite both on one file), next to the disk's own write+fsync rate;
#   - store_quarantine_list of one recipient's page of 50 among 100 000 entries
#     (target < 5 ms), and neighbouring queries.
# Then one table: the median and the range over the runs of each figure, and the goal
# of the multi-node store: 2 PostgreSQL nodes >= 1.5 x 1 SQLite node, page < 5 ms.
# The server keeps PostgreSQL's defaults (fsync=on, synchronous_commit=on, full_page_writes=on,
# shared_buffers=128MB) except max_connections=200 and no TCP listener; the store itself
# sets synchronous_commit=on for quarantine inserts, as in production.
# BENCH_DIR must be on the disk to be measured (not a tmpfs).
#
# Environment: BUILD (build directory, default ./build), BENCH_DIR (default $TMPDIR or
# /var/tmp), BENCH_RUNS (3), BENCH_INSERTS (2000), BENCH_THREADS (4), BENCH_ENTRIES
# (100000), BENCH_QUERIES (2000), BENCH_PG (1; 0 runs SQLite alone).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/var/tmp}}
RUNS=${BENCH_RUNS:-3}
INSERTS=${BENCH_INSERTS:-2000}
THREADS=${BENCH_THREADS:-4}
ENTRIES=${BENCH_ENTRIES:-100000}
QUERIES=${BENCH_QUERIES:-2000}
WITH_PG=${BENCH_PG:-1}

case "$RUNS$INSERTS$THREADS$ENTRIES$QUERIES$WITH_PG" in *[!0-9]*)
    echo "store_bench: BENCH_RUNS, BENCH_INSERTS, BENCH_THREADS, BENCH_ENTRIES, BENCH_QUERIES," \
         "BENCH_PG must be integers" >&2
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
chmod 755 "$WORK"

# stop - the PostgreSQL server this script started (by the PID it wrote), then the directory.
stop() {
    if [ -f "$WORK/pg/data/postmaster.pid" ]; then
        PID=$(head -1 "$WORK/pg/data/postmaster.pid")
        kill -INT "$PID" 2>/dev/null || true
        i=0
        while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    rm -rf "$WORK"
}
trap stop EXIT
trap 'exit 1' INT TERM

CONNINFO=
if [ "$WITH_PG" != 0 ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
        echo "store_bench: no PostgreSQL server programs (initdb, pg_ctl) under" \
             "/usr/lib/postgresql/*/bin: install the package postgresql, or set BENCH_PG=0" >&2
        exit 2
    fi
    mkdir "$WORK/pg"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$WORK/pg"
        AS="su postgres -s /bin/sh -c"
    else
        AS="sh -c"
    fi
    if ! $AS "$PGBIN/initdb -D $WORK/pg/data -A trust -U opes --no-locale -E UTF8" \
            >"$WORK/initdb.log" 2>&1; then
        echo "store_bench: initdb failed:" >&2
        cat "$WORK/initdb.log" >&2
        exit 2
    fi
    if ! $AS "$PGBIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/pg.log -w -t 60 -o '-k $WORK/pg \
            -c listen_addresses= -c max_connections=200' start" >"$WORK/pg_ctl.log" 2>&1; then
        echo "store_bench: the PostgreSQL server did not start:" >&2
        cat "$WORK/pg_ctl.log" "$WORK/pg/pg.log" >&2
        exit 2
    fi
    $AS "$PGBIN/psql -h $WORK/pg -U opes -d postgres -qc 'CREATE DATABASE bench'" >/dev/null
    CONNINFO="host=$WORK/pg user=opes dbname=bench"
fi

# Each backend has a directory of its own for its key file (and SQLite its database).
mkdir "$WORK/sqlite" "$WORK/pgkeys"
for run in $(seq 1 "$RUNS"); do
    echo "=== run $run of $RUNS: SQLite"
    "$BIN" -d "$WORK/sqlite" -n "$INSERTS" -t "$THREADS" -e "$ENTRIES" -q "$QUERIES" |
        tee "$WORK/sqlite-$run.out" | grep -v '^RESULT '
    if [ -n "$CONNINFO" ]; then
        echo "=== run $run of $RUNS: PostgreSQL"
        "$BIN" -d "$WORK/pgkeys" -c "$CONNINFO" -n "$INSERTS" -t "$THREADS" -e "$ENTRIES" \
            -q "$QUERIES" | tee "$WORK/pg-$run.out" | grep -v '^RESULT '
    fi
done

# The table: median and range over the runs of each RESULT.
python3 - "$WORK" "$RUNS" "$THREADS" "$ENTRIES" "$([ -n "$CONNINFO" ] && echo 1 || echo 0)" <<'PY'
import statistics, sys
work, runs, threads, entries, with_pg = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    int(sys.argv[4]), sys.argv[5] == "1"
backends = [("sqlite", "SQLite")] + ([("pg", "PostgreSQL")] if with_pg else [])
res = {}
for b, _ in backends:
    for run in range(1, runs + 1):
        for line in open(f"{work}/{b}-{run}.out"):
            if line.startswith("RESULT "):
                _, name, value = line.split()
                res.setdefault((b, name), []).append(float(value))
rows = [("insert_conn1", "durable inserts/s, 1 connection", "%.0f"),
        ("insert_node1", f"durable inserts/s, 1 node x {threads} connections", "%.0f"),
        ("insert_node2", f"durable inserts/s, 2 nodes x {threads} connections", "%.0f"),
        ("page_p50", f"one recipient's page among {entries}, p50 ms", "%.3f"),
        ("page_p99", f"one recipient's page among {entries}, p99 ms", "%.3f")]
def cell(b, name, fmt):
    v = res.get((b, name), [])
    if not v:
        return "-"
    return (fmt % statistics.median(v)) + " (" + (fmt % min(v)) + "-" + (fmt % max(v)) + ")"
print(f"\nstore_bench: median (range) over {runs} run(s)")
print("| %-52s | %s |" % ("figure", " | ".join("%-22s" % n for _, n in backends)))
print("|%s|%s|" % ("-" * 54, "|".join("-" * 24 for _ in backends)))
for name, label, fmt in rows:
    print("| %-52s | %s |" % (label, " | ".join("%-22s" % cell(b, name, fmt) for b, _ in backends)))
if with_pg:
    sq = statistics.median(res[("sqlite", "insert_node1")])
    pg2 = statistics.median(res[("pg", "insert_node2")])
    worst_page = max(res[("sqlite", "page_p99")] + res[("pg", "page_p99")])
    print(f"\ngoal: 2 PostgreSQL nodes / 1 SQLite node = {pg2 / sq:.2f} (>= 1.5: "
          f"{'met' if pg2 >= 1.5 * sq else 'NOT MET'}); "
          f"worst page p99 {worst_page:.3f} ms (< 5 ms: {'met' if worst_page < 5 else 'NOT MET'})")
PY
