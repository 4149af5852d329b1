#!/usr/bin/env bash
# tests/bench/run.sh - throughput and memory figures for opesd (a benchmark, not a test).
#
# 1. smtp-source -L against smtp-sink -L directly, then against opesd relaying to an
#    identical smtp-sink: messages/s of both and their ratio (rounds interleaved).
# 2. Peak RSS (VmHWM) of opesd after the throughput run, and of a fresh opesd that
#    relays one large message.
# Everything runs on free loopback ports in a temporary directory; only the processes
# started here are stopped, by PID. See tests/bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
UTIL="$HERE/benchutil.py"

OPESD=${OPESD:-$ROOT/build/bin/opesd}
MESSAGES=${BENCH_MESSAGES:-10000}     # messages per round
SESSIONS=${BENCH_SESSIONS:-20}        # parallel LMTP sessions of smtp-source
MSG_SIZE=${BENCH_MSG_SIZE:-10240}     # payload bytes per message (smtp-source -l)
ROUNDS=${BENCH_ROUNDS:-5}             # rounds of (direct, via opesd)
BIG_MIB=${BENCH_BIG_MIB:-50}          # large message in MiB (0: skip)
REUSE=${BENCH_REUSE:-1}               # 1: smtp-source -d (keep sessions open)
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}    # opesd [log] level
MAX_IDLE=${BENCH_MAX_IDLE:-}          # opesd [downstream] max_idle (empty: its default)
KEEP=${BENCH_KEEP:-0}                 # 1: keep the temporary directory (logs)

for tool in smtp-source smtp-sink; do
    command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/usr/lib/postfix
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found (apt-get install postfix)" >&2; exit 2; }
done
if [ ! -x "$OPESD" ]; then
    echo "bench: $OPESD not found; build with: cmake -B build -S . && cmake --build build -j2" >&2
    exit 2
fi
case "$MESSAGES$SESSIONS$MSG_SIZE$ROUNDS$REUSE" in *[!0-9]*)
    echo "bench: BENCH_MESSAGES, BENCH_SESSIONS, BENCH_MSG_SIZE, BENCH_ROUNDS, BENCH_REUSE must be integers" >&2
    exit 2 ;;
esac

# the sections this build knows (its effective settings for an empty configuration)
HAS_STORE=0
"$OPESD" -t -c /dev/null 2>/dev/null | grep -q '^\[store\]' && HAS_STORE=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opesd-bench.XXXXXX")
PIDS=()

stop_pid() { # stop_pid PID: TERM, wait up to 5 s, then KILL
    local pid=$1 _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    PIDS=()
    if [ "$KEEP" = 1 ]; then
        echo "bench: files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { # forget_pid PID: it was stopped already
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

start_sink() { # start_sink PORT NAME: smtp-sink -L, output to WORK/NAME.out; sets SINK_PID
    smtp-sink -u nobody -c -L "127.0.0.1:$1" 1000 >"$WORK/$2.out" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    "$PY" "$UTIL" wait "$1" 10 "$SINK_PID"
}

start_opesd() { # start_opesd PORT SINKPORT NAME [EXTRA-LMTP-LINE]; sets OPESD_PID
    local conf="$WORK/$3.conf"
    mkdir -p "$WORK/$3.spool"
    {
        echo "[opes]"
        echo "system_uri = http://opes.example.org/opes"
        echo "[lmtp]"
        echo "listen = 127.0.0.1:$1"
        echo "spool_dir = $WORK/$3.spool"
        [ -z "${4:-}" ] || echo "$4"
        echo "[downstream]"
        echo "target = lmtp:127.0.0.1:$2"
        [ -z "$MAX_IDLE" ] || echo "max_idle = $MAX_IDLE"
        if [ "$HAS_STORE" = 1 ]; then # builds with the message store keep it in WORK too
            echo "[store]"
            echo "path = $WORK/$3.db"
            echo "key_file = $WORK/$3.keys"
        fi
        echo "[log]"
        echo "level = $LOG_LEVEL"
    } >"$conf"
    "$OPESD" -c "$conf" >"$WORK/$3.log" 2>&1 &
    OPESD_PID=$!
    PIDS+=("$OPESD_PID")
    "$PY" "$UTIL" wait "$1" 10 "$OPESD_PID" && return 0
    echo "bench: opesd did not start:" >&2
    cat "$WORK/$3.log" >&2
    exit 1
}

calc() { awk "BEGIN { printf \"$1\", $2 }"; }


read -r PORT_SINK_D PORT_SINK_R PORT_OPESD PORT_OPESD_BIG PORT_SINK_BIG <<<"$("$PY" "$UTIL" ports 5 | tr '\n' ' ')"

SRC_OPTS=(-L -s "$SESSIONS" -m "$MESSAGES" -l "$MSG_SIZE" -f bench@example.org -t rcpt@example.org)
[ "$REUSE" = 1 ] && SRC_OPTS+=(-d)

echo "opesd benchmark: $OPESD, $(nproc) CPU(s)"
echo "load: $ROUNDS round(s) of $MESSAGES messages, $SESSIONS sessions, $MSG_SIZE-byte payload," \
     "connection reuse $([ "$REUSE" = 1 ] && echo on || echo off), opesd log level $LOG_LEVEL"
echo

# ------------------------------------------------------------------ throughput
# ------------------------------------------------------------------ throughput
start_sink "$PORT_SINK_D" sink-direct
SINK_D_PID=$SINK_PID
start_sink "$PORT_SINK_R" sink-relay
SINK_R_PID=$SINK_PID
start_opesd "$PORT_OPESD" "$PORT_SINK_R" opesd
OPESD_T_PID=$OPESD_PID
HWM_START=$("$PY" "$UTIL" hwm "$OPESD_T_PID")

RATES_D=() RATES_R=() OPESD_US=() BUSY_D=() BUSY_R=() OTHER=() FAILED=0
printf '%-6s %-10s %8s %9s %11s %9s %10s %10s\n' round path seconds "msg/s" "source CPU" "sink CPU" "opesd CPU" "other CPU"
for round in $(seq "$ROUNDS"); do
    for path in direct opesd; do
        if [ "$path" = direct ]; then port=$PORT_SINK_D sink=$SINK_D_PID; else port=$PORT_OPESD sink=$SINK_R_PID; fi
        sink_cpu0=$("$PY" "$UTIL" cpu "$sink")
        opesd_cpu0=$("$PY" "$UTIL" cpu "$OPESD_T_PID")
        sys_cpu0=$("$PY" "$UTIL" sysbusy)
        read -r rc wall src_cpu <<<"$("$PY" "$UTIL" timed "$WORK/source-$path.out" \
            smtp-source "${SRC_OPTS[@]}" "127.0.0.1:$port")"
        sys_cpu1=$("$PY" "$UTIL" sysbusy)
        sink_cpu=$(calc '%.2f' "$("$PY" "$UTIL" cpu "$sink") - $sink_cpu0")
        opesd_cpu=$(calc '%.2f' "$("$PY" "$UTIL" cpu "$OPESD_T_PID") - $opesd_cpu0")
        src_cpu=$(calc '%.2f' "$src_cpu")
        # CPU used on the machine during the round by anything but the three processes
        [ "$path" = direct ] && own=$(calc '%.2f' "$src_cpu + $sink_cpu") || own=$(calc '%.2f' "$src_cpu + $sink_cpu + $opesd_cpu")
        other_cpu=$(calc '%.2f' "$sys_cpu1 - $sys_cpu0 - $own")
        OTHER+=("$(calc '%.3f' "$other_cpu / $wall")")
        rate=$(calc '%.1f' "$MESSAGES / $wall")
        if [ "$rc" != 0 ]; then
            echo "bench: smtp-source ($path) exited with status $rc; see $WORK/source-$path.out" >&2
            FAILED=1
            KEEP=1
        fi
        if [ "$path" = direct ]; then
            RATES_D+=("$rate")
            BUSY_D+=("$(calc '%.2f' "($src_cpu + $sink_cpu) / $wall")")
            printf '%-6s %-10s %8.3f %9s %10ss %8ss %10s %9ss\n' "$round" direct "$wall" "$rate" "$src_cpu" "$sink_cpu" - "$other_cpu"
        else
            RATES_R+=("$rate")
            OPESD_US+=("$(calc '%.1f' "$opesd_cpu * 1000000 / $MESSAGES")")
            BUSY_R+=("$(calc '%.2f' "($src_cpu + $sink_cpu + $opesd_cpu) / $wall")")
            printf '%-6s %-10s %8.3f %9s %10ss %8ss %9ss %9ss\n' "$round" via-opesd "$wall" "$rate" "$src_cpu" "$sink_cpu" "$opesd_cpu" "$other_cpu"
        fi
    done
done
HWM_THROUGHPUT=$("$PY" "$UTIL" hwm "$OPESD_T_PID")

stop_pid "$OPESD_T_PID"; forget_pid "$OPESD_T_PID"
stop_pid "$SINK_D_PID"; forget_pid "$SINK_D_PID"
stop_pid "$SINK_R_PID"; forget_pid "$SINK_R_PID"
expect=$((ROUNDS * MESSAGES))
got_d=$("$PY" "$UTIL" sinkcount "$WORK/sink-direct.out")
got_r=$("$PY" "$UTIL" sinkcount "$WORK/sink-relay.out")
case "$LOG_LEVEL" in
info|debug)
    delivered=$(grep -c 'action=delivered' "$WORK/opesd.log" || true)
    not_delivered=$(grep -E -c 'action=(deferred|rejected)' "$WORK/opesd.log" || true) ;;
*)  delivered="? (log level $LOG_LEVEL)" not_delivered="?" ;;
esac
# sessions seen by the relay sink, less the readiness probe
down_sessions=$(grep -a -o 'sess=[0-9]*' "$WORK/sink-relay.out" | tail -n 1 | cut -d= -f2)
down_sessions=$(( ${down_sessions:-1} - 1 ))

MED_D=$("$PY" "$UTIL" median "${RATES_D[@]}")
MED_R=$("$PY" "$UTIL" median "${RATES_R[@]}")
RATIO=$(calc '%.2f' "$MED_R / $MED_D")
echo
echo "messages received: direct sink $got_d/$expect, relay sink $got_r/$expect;" \
     "opesd delivered=$delivered deferred/rejected=$not_delivered; downstream connections opened: $down_sessions"
if [ "$got_d" != "$expect" ] || [ "$got_r" != "$expect" ]; then
    FAILED=1
    KEEP=1
fi
echo "throughput direct:    $MED_D msg/s (median of $ROUNDS)"
echo "throughput via opesd: $MED_R msg/s (median of $ROUNDS)"
echo "ratio opesd/direct:   $RATIO (target >= 0.5: $(awk "BEGIN { print ($RATIO >= 0.5) ? \"met\" : \"NOT met\" }"))"
echo "opesd CPU per message: $("$PY" "$UTIL" median "${OPESD_US[@]}") us (median);" \
     "CPU cores busy (source+sink[+opesd]): direct $("$PY" "$UTIL" median "${BUSY_D[@]}")," \
     "via opesd $("$PY" "$UTIL" median "${BUSY_R[@]}") of $(nproc)"
other=$("$PY" "$UTIL" median "${OTHER[@]}")
if awk "BEGIN { exit !($other > 0.15) }"; then
    echo "note: other processes kept $other CPU(s) busy during the rounds (median); the figures are disturbed"
fi
echo "opesd peak RSS (VmHWM): $HWM_START kB at start, $HWM_THROUGHPUT kB after the throughput run"

# ------------------------------------------------------------------ large message
if [ "$BIG_MIB" != 0 ]; then
    echo
    "$PY" "$UTIL" bigmsg "$WORK/big.eml" "$BIG_MIB"
    big_bytes=$(stat -c %s "$WORK/big.eml")
    # room for CRLF line ends and the trace headers above the default 64M limit
    limit_mib=$(awk "BEGIN { m = int($BIG_MIB * 1.1) + 8; print (m > 64) ? m : 64 }")
    start_sink "$PORT_SINK_BIG" sink-big
    SINK_BIG_PID=$SINK_PID
    start_opesd "$PORT_OPESD_BIG" "$PORT_SINK_BIG" opesd-big "max_message_size = ${limit_mib}M"
    OPESD_BIG_PID=$OPESD_PID
    HWM_BIG0=$("$PY" "$UTIL" hwm "$OPESD_BIG_PID")
    read -r rc_bd wall_bd _ <<<"$("$PY" "$UTIL" timed "$WORK/source-big-direct.out" \
        smtp-source -L -m 1 -F "$WORK/big.eml" -f bench@example.org -t big@example.org "127.0.0.1:$PORT_SINK_BIG")"
    read -r rc_b wall_b _ <<<"$("$PY" "$UTIL" timed "$WORK/source-big.out" \
        smtp-source -L -m 1 -F "$WORK/big.eml" -f bench@example.org -t big@example.org "127.0.0.1:$PORT_OPESD_BIG")"
    HWM_BIG=$("$PY" "$UTIL" hwm "$OPESD_BIG_PID")
    stop_pid "$OPESD_BIG_PID"; forget_pid "$OPESD_BIG_PID"
    stop_pid "$SINK_BIG_PID"; forget_pid "$SINK_BIG_PID"
    big_got=$("$PY" "$UTIL" sinkcount "$WORK/sink-big.out")   # direct + via opesd
    big_ok=$([ "$big_got" = 2 ] && [ "$rc_b" = 0 ] && echo yes || echo no)
    big_spool=$(grep -a -o 'spooled=[a-z]*' "$WORK/opesd-big.log" | tail -n 1 | cut -d= -f2)
    if [ "$rc_bd" != 0 ] || [ "$big_ok" != yes ]; then
        echo "bench: the large message was not delivered (see $WORK/opesd-big.log)" >&2
        FAILED=1
        KEEP=1
    fi
    echo "large message: $big_bytes bytes ($BIG_MIB MiB, LF line ends in the file), delivered via opesd: $big_ok, spooled to ${big_spool:-?}"
    echo "  direct:    $(calc '%.2f' "$wall_bd") s ($(calc '%.1f' "$big_bytes / 1048576 / $wall_bd") MiB/s)"
    echo "  via opesd: $(calc '%.2f' "$wall_b") s ($(calc '%.1f' "$big_bytes / 1048576 / $wall_b") MiB/s)"
    echo "opesd peak RSS (VmHWM) relaying it: $HWM_BIG kB ($(calc '%.1f' "$HWM_BIG / 1024") MiB; $HWM_BIG0 kB at start;" \
         "target < 32 MiB: $([ "$HWM_BIG" -lt 32768 ] && echo met || echo NOT met))"
fi

if [ "$FAILED" != 0 ]; then
    echo "bench: some messages were not delivered; the figures above are not comparable" >&2
    exit 1
fi
