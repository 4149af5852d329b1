#!/usr/bin/env bash
# demo.sh - build opesd and watch it deliver a few messages (the README's first command).
#
# Installs what the build needs (packaging/install-deps.sh build), builds with
# cmake into ./build, prepares ./var (maildirs for the demo recipients alice and
# bob, a spool, var/opesd.conf from packaging/demo/opesd.conf; opesd adds its
# SQLite store and key file there), starts opesd on LMTP 127.0.0.1:2424 with the
# built-in Maildir target var/mail/%u, and sends the sample messages
# packaging/demo/*.eml through it with a small LMTP client written in bash
# (/dev/tcp): one reply per accepted recipient after the dot, including the 550
# at RCPT time for a recipient without a mailbox. Then it shows where the files
# went, their trace fields and log lines, and follows the log until Ctrl-C,
# which stops opesd.
#
# Safe to run again: ./var is reused (earlier mail stays), the configuration is
# written anew, and an opesd left running by an earlier demo is stopped first.
# OPES_DEMO_PORT picks another port than 2424.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
VAR=$ROOT/var
HOST=127.0.0.1
PORT=${OPES_DEMO_PORT:-2424}
OPESD=$ROOT/build/bin/opesd
WEB=$ROOT/build/bin/opes-web
WEBLOG=$VAR/opes-web.log
WEBPORT=8025
CONF=$VAR/opesd.conf
LOG=$VAR/opesd.log
PIDFILE=$VAR/opesd.pid
USERS="alice bob"
REPLY_TIMEOUT=60

opesd_pid=""
web_pid=""
tail_pid=""

say() { printf '%s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# stop_all - stop what this script started (by PID), once.
stop_all() {
    if [ -n "$web_pid" ]; then
        kill -TERM "$web_pid" 2>/dev/null
        wait "$web_pid" 2>/dev/null
        web_pid=""
    fi
    if [ -n "$tail_pid" ]; then
        kill "$tail_pid" 2>/dev/null
        wait "$tail_pid" 2>/dev/null
        tail_pid=""
    fi
    if [ -n "$opesd_pid" ]; then
        # On Ctrl-C opesd got the SIGINT too and is already finishing its sessions.
        kill -TERM "$opesd_pid" 2>/dev/null
        wait "$opesd_pid" 2>/dev/null
        say "opesd stopped; the mail stays in var/mail, the log in var/opesd.log"
        opesd_pid=""
        rm -f "$PIDFILE"
    fi
}
on_signal() {
    trap - INT TERM
    stop_all
    exit 0
}
trap on_signal INT TERM
trap stop_all EXIT

# ------------------------------------------------------------------ build

say "== dependencies"
packaging/install-deps.sh build || die "installing the build dependencies failed"
say "   ok"

say "== build (cmake -B build, cmake --build build)"
buildlog=$(mktemp "${TMPDIR:-/tmp}/opesd-demo-build.XXXXXX")
if ! { cmake -B build -S . && cmake --build build -j"$(nproc 2>/dev/null || echo 2)"; } \
        >"$buildlog" 2>&1; then
    tail -n 40 "$buildlog" >&2
    rm -f "$buildlog"
    die "build failed"
fi
rm -f "$buildlog"
[ -x "$OPESD" ] || die "$OPESD was not built"
say "   $OPESD"

# ------------------------------------------------------------------ ./var

say "== ./var"
for u in $USERS; do
    mkdir -p "$VAR/mail/$u/new" "$VAR/mail/$u/cur" "$VAR/mail/$u/tmp" || die "cannot create $VAR/mail/$u"
done
mkdir -p "$VAR/spool" || die "cannot create $VAR/spool"
case "$VAR" in *'|'* | *'&'* | *\\*) die "the path $VAR contains a character the demo cannot put in a config" ;; esac
sed -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$PORT|g" packaging/demo/opesd.conf >"$CONF.new" &&
    mv "$CONF.new" "$CONF" || die "cannot write $CONF"
"$OPESD" -t -c "$CONF" >/dev/null || die "$CONF does not check"
say "   maildirs:   $(printf 'var/mail/%s ' $USERS | sed 's/ $//')"
say "   spool:      var/spool"
say "   store:      var/opesd.db, key file var/keys (created by opesd on first start)"
say "   config:     var/opesd.conf (effective settings: build/bin/opesd -t -c var/opesd.conf)"

# ------------------------------------------------------------------ start opesd

# An opesd left running by an earlier demo (same binary, same config) is stopped.
if [ -f "$PIDFILE" ]; then
    old=$(cat "$PIDFILE" 2>/dev/null)
    exe=$(readlink "/proc/$old/exe" 2>/dev/null)
    exe=${exe% (deleted)} # the binary may have been rebuilt since
    if [ -n "$old" ] && [ "$exe" = "$OPESD" ] &&
        tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -qF -- "$CONF"; then
        say "   stopping the opesd of an earlier demo run (pid $old)"
        kill -TERM "$old" 2>/dev/null
        for _ in $(seq 100); do
            kill -0 "$old" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE"
fi
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "something already listens on $HOST:$PORT (set OPES_DEMO_PORT to use another port)"
fi

say "== opesd -c var/opesd.conf (log: var/opesd.log)"
[ -f "$LOG" ] && mv -f "$LOG" "$LOG.old"
: >"$LOG"
"$OPESD" -c "$CONF" 2>>"$LOG" &
opesd_pid=$!
echo "$opesd_pid" >"$PIDFILE"
for _ in $(seq 100); do
    grep -q 'opesd started' "$LOG" && break
    kill -0 "$opesd_pid" 2>/dev/null || break
    sleep 0.1
done
if ! kill -0 "$opesd_pid" 2>/dev/null || ! grep -q 'opesd started' "$LOG"; then
    sed 's/^/  /' "$LOG" >&2
    die "opesd did not start"
fi
sed 's/^/   /' "$LOG"

# ------------------------------------------------------------------ start opes-web

# start_web - the portal on the same configuration ([web] defaults: 127.0.0.1:8025).
start_web() {
    if (exec 3<>"/dev/tcp/$HOST/$WEBPORT") 2>/dev/null; then
        say "   something already listens on $HOST:$WEBPORT: the portal is not started"
        return
    fi
    say "== opes-web -c var/opesd.conf (log: var/opes-web.log)"
    "$WEB" -c "$CONF" 2>"$WEBLOG" &
    web_pid=$!
    for _ in $(seq 100); do
        grep -q 'opes-web listening' "$WEBLOG" && break
        kill -0 "$web_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q 'opes-web listening' "$WEBLOG"; then
        sed 's/^/  /' "$WEBLOG" >&2
        say "   opes-web did not start; the demo goes on without the portal"
        web_pid=""
        return
    fi
    say "   http://$HOST:$WEBPORT/"
}
start_web

# ------------------------------------------------------------------ an LMTP client in bash

CODE=""

# lmtp_reply - read one (possibly multi-line) reply from fd 3, print it, set CODE.
lmtp_reply() {
    local line
    CODE=""
    while :; do
        if ! IFS= read -r -t "$REPLY_TIMEOUT" line <&3; then
            say "   (no reply: the connection closed or timed out)"
            return 1
        fi
        line=${line%$'\r'}
        printf '   S: %s\n' "$line"
        if [ "${line:3:1}" != "-" ]; then
            CODE=${line:0:3}
            return 0
        fi
    done
}

# lmtp_cmd - send one command line, read its reply.
lmtp_cmd() {
    printf '   C: %s\n' "$1"
    printf '%s\r\n' "$1" >&3 || return 1
    lmtp_reply
}

# lmtp_content - the message file with CRLF line ends, dot-stuffed, then the final dot.
lmtp_content() {
    local line n=0
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        case "$line" in .*) line=".$line" ;; esac
        printf '%s\r\n' "$line"
        n=$((n + 1))
    done <"$1" >&3
    printf '.\r\n' >&3
    printf '   C: (%d lines of %s, dot-stuffed)\n   C: .\n' "$n" "${1#"$ROOT"/}"
}

# lmtp_transaction FILE SENDER RCPT... - one MAIL transaction on the open session.
lmtp_transaction() {
    local file=$1 sender=$2 accepted=0 rcpt i
    shift 2
    say ""
    say "-- ${file#"$ROOT"/}: from <$sender> to $(printf '<%s> ' "$@" | sed 's/ $//')"
    lmtp_cmd "MAIL FROM:<$sender>" || return 1
    if [ "${CODE:0:1}" != 2 ]; then
        lmtp_cmd "RSET"
        return
    fi
    for rcpt in "$@"; do
        lmtp_cmd "RCPT TO:<$rcpt>" || return 1
        [ "${CODE:0:1}" = 2 ] && accepted=$((accepted + 1))
    done
    if [ "$accepted" -eq 0 ]; then
        lmtp_cmd "RSET"
        return
    fi
    lmtp_cmd "DATA" || return 1
    [ "$CODE" = 354 ] || return 0
    lmtp_content "$file" || return 1
    say "   (one reply per accepted recipient: $accepted)"
    for ((i = 0; i < accepted; i++)); do
        lmtp_reply || return 1
    done
}

# ------------------------------------------------------------------ send the samples

snapshot() { find "$VAR/mail" -path '*/new/*' -type f 2>/dev/null | sort; }
before=$(snapshot)

say ""
say "== LMTP session with opesd on $HOST:$PORT"
exec 3<>"/dev/tcp/$HOST/$PORT" || die "cannot connect to $HOST:$PORT"
ok=1
lmtp_reply && [ "$CODE" = 220 ] || ok=0
[ $ok = 1 ] && { lmtp_cmd "LHLO demo-client.example.net" && [ "$CODE" = 250 ] || ok=0; }
if [ $ok = 1 ]; then
    D=$ROOT/packaging/demo
    lmtp_transaction "$D/01-welcome.eml" sam@example.net alice@example.org &&
        lmtp_transaction "$D/02-team.eml" sam@example.net alice@example.org bob@example.org &&
        lmtp_transaction "$D/03-unknown-user.eml" sam@example.net bob@example.org carol@example.org ||
        ok=0
    say ""
    lmtp_cmd "QUIT"
fi
exec 3<&-
[ $ok = 1 ] || die "the LMTP session failed; see var/opesd.log"

# ------------------------------------------------------------------ results

mapfile -t delivered < <(comm -13 <(printf '%s\n' "$before") <(snapshot) | sed '/^$/d')
say ""
say "== delivered files (${#delivered[@]})"
for f in "${delivered[@]}"; do
    say "   ${f#"$ROOT"/}"
done
if [ "${#delivered[@]}" -gt 0 ]; then
    say ""
    say "== trace fields of ${delivered[0]#"$ROOT"/}"
    awk '/^[^ \t]/ && !/^(Received|OPES-System|OPES-Via):/ { exit } { print "   " $0 }' \
        "${delivered[0]}"
fi

say ""
say "== log: one line per recipient (var/opesd.log)"
grep -F ' rcpt=<' "$LOG" | sed 's/^/   /'

say ""
say "== try it yourself"
say "   opesd listens on LMTP $HOST:$PORT; mailboxes: $(printf '%s@example.org ' $USERS | sed 's/ $//')"
if command -v swaks >/dev/null 2>&1; then
    say "   swaks --protocol LMTP --server $HOST:$PORT --from you@example.net --to alice@example.org,bob@example.org"
else
    say "   swaks --protocol LMTP --server $HOST:$PORT --from you@example.net --to alice@example.org,bob@example.org"
    say "   (swaks is not installed: apt-get install swaks)"
fi
say "   build/bin/opesctl -c var/opesd.conf check     (the store, from the shell)"
say "   Postfix: virtual_transport = lmtp:inet:$HOST:$PORT (see README.md, packaging/postfix/)"
if [ -n "$web_pid" ]; then
    say "   portal: http://$HOST:$WEBPORT/ (the system page: http://$HOST:$WEBPORT/opes)"
    say "   login link for alice@example.org (works once, for a day):"
    say "     $("$ROOT/build/bin/opesctl" -c "$CONF" link alice@example.org)"
fi
say ""
say "== following var/opesd.log; Ctrl-C stops opesd"
tail -n 0 -f --pid="$opesd_pid" "$LOG" &
tail_pid=$!

wait "$opesd_pid"
rc=$?
opesd_pid=""
rm -f "$PIDFILE"
say "opesd exited (status $rc)"
exit "$rc"
