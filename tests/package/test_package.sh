#!/bin/bash
# test_package.sh - the Debian package end to end on this machine (as root).
#
# Builds the .deb with packaging/build-deb.sh, runs lintian (errors and
# warnings that the package does not override fail the test) and
# systemd-analyze verify on the installed units, installs the package with
# apt-get, checks the installed files, the user opesd and its directories,
# runs opesd -t on the installed configuration, then starts opesd and
# opes-web from the installed binaries the way the units do (no systemd is
# needed): as user and group opesd with no new privileges and an empty
# capability bounding set, umask 0027, /run/opesd as RuntimeDirectory makes
# it, /etc/opesd/opesd.conf. It checks that opesd answers LHLO on
# /run/opesd/lmtp for a client in group opesd (and refuses anyone else), that
# opes-web serves /opes with 200, stops both with SIGTERM and purges the
# package. A package left installed by an earlier, interrupted run of this
# test (marked in /run/opesd-test-package.installed) is purged first; any other
# installed opesd package makes the test refuse to run, before it changes
# anything, since the purge would remove that installation's /var/lib/opesd
# (store and keys) and /etc/opesd.
#
# Usage: tests/package/test_package.sh   (needs packaging/install-deps.sh test)
set -euo pipefail
cd "$(dirname "$0")/../.."

# installed_pkg - true when dpkg knows an opesd package (installed, or removed
# with its configuration files kept, which a purge would delete)
installed_pkg() {
    dpkg-query -W -f='${Status}' opesd 2>/dev/null | grep -q 'ok installed\|config-files'
}
marker=/run/opesd-test-package.installed
if installed_pkg && [ ! -f $marker ]; then
    echo "test_package: refused: an opesd package is installed on this machine;" \
        "this test would purge it with /var/lib/opesd and /etc/opesd" >&2
    exit 2
fi

[ "$(id -u)" -eq 0 ] || { echo "test_package: must run as root" >&2; exit 1; }
for tool in dpkg-buildpackage dh lintian fakeroot systemd-analyze setpriv /usr/bin/python3; do
    command -v "$tool" >/dev/null ||
        { echo "test_package: $tool missing (packaging/install-deps.sh test)" >&2; exit 1; }
done

conf=/etc/opesd/opesd.conf
work=$(mktemp -d /tmp/opesd-pkgtest.XXXXXX)
opesd_pid="" web_pid=""
export DEBIAN_FRONTEND=noninteractive

check() { echo "test_package: ok: $*"; }
fail() {
    echo "test_package: FAIL: $*" >&2
    for f in "$work"/*.log; do
        [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}
stop_pid() { # stop_pid PID: SIGTERM, wait up to 20 s
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
purge() {
    if installed_pkg; then
        apt-get purge -y -qq opesd >"$work/purge.log" 2>&1 || dpkg --purge opesd
    fi
    installed_pkg || rm -f $marker
}
cleanup() {
    stop_pid "$web_pid" || kill -KILL "$web_pid" 2>/dev/null || true
    stop_pid "$opesd_pid" || kill -KILL "$opesd_pid" 2>/dev/null || true
    purge
    rm -rf "$work" /run/opesd
    rm -f $pidfile
}
trap cleanup EXIT

# Daemons an interrupted earlier run started (by their recorded ids), then a
# package it left behind.
pidfile=/run/opesd-test-package.pids
if [ -f $pidfile ]; then
    while read -r pid; do
        case $(ps -o comm= -p "$pid" 2>/dev/null) in
        opesd | opes-web) stop_pid "$pid" || kill -KILL "$pid" 2>/dev/null || true ;;
        esac
    done <$pidfile
    rm -f $pidfile
fi
purge

# 1. build
packaging/build-deb.sh "$work/out" >"$work/build.log" 2>&1 || fail "packaging/build-deb.sh"
deb=$(ls "$work"/out/opesd_*_"$(dpkg --print-architecture)".deb)
check "built $(basename "$deb")"

# 2. lintian: errors and warnings fail unless debian/opesd.lintian-overrides
# justifies them
lintian --fail-on error,warning "$work"/out/opesd_*.changes >"$work/lintian.log" 2>&1 ||
    fail "lintian: $(grep -E '^[EW]:' "$work/lintian.log" | head -n 5)"
check "lintian: no errors or warnings"

# 3. install (marked, so that a run interrupted from here on may purge it)
touch $marker
apt-get install -y -qq "$deb" >"$work/install.log" 2>&1 || fail "apt-get install $deb"
check "installed with apt-get"

# 4. the units, as installed
systemd-analyze verify /lib/systemd/system/opesd.service /lib/systemd/system/opes-web.service \
    >"$work/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$work/verify.log")"
check "systemd-analyze verify opesd.service opes-web.service"
for key in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    RuntimeDirectory=opesd StateDirectory=opesd CapabilityBoundingSet= User=opesd; do
    grep -qx "$key" /lib/systemd/system/opesd.service || fail "opesd.service: no $key"
done
check "opesd.service has the hardening settings"

# 5. files, user, directories
for f in /usr/sbin/opesd /usr/sbin/opes-web /usr/sbin/opesctl; do
    [ -x "$f" ] || fail "$f missing"
done
[ -f /usr/share/opesd/templates/mail.txt ] || fail "templates missing in /usr/share/opesd"
getent passwd opesd | grep -q ':/var/lib/opesd:' || fail "no system user opesd with home /var/lib/opesd"
[ "$(stat -c '%U:%G %a' /var/lib/opesd)" = "opesd:opesd 750" ] ||
    fail "/var/lib/opesd is $(stat -c '%U:%G %a' /var/lib/opesd), not opesd:opesd 750"
[ "$(stat -c '%U:%G %a' $conf)" = "root:opesd 640" ] ||
    fail "$conf is $(stat -c '%U:%G %a' $conf), not root:opesd 640"
dpkg-query -W -f='${Conffiles}\n' opesd | grep -q " $conf " || fail "$conf is not a conffile"
check "binaries in /usr/sbin, templates, user opesd, /var/lib/opesd opesd:opesd 0750, $conf root:opesd 0640 conffile"

# 6. the configuration check, as ExecStartPre runs it (as opesd)
# the unit's User=, Group=, NoNewPrivileges=yes, CapabilityBoundingSet= and
# UMask=0027; a plain command prefix, so that $! is the daemon itself
as_unit=(setpriv --reuid=opesd --regid=opesd --init-groups --no-new-privs --bounding-set=-all
    --inh-caps=-all -- /bin/sh -c 'umask 0027; exec "$@"' sh)
"${as_unit[@]}" /usr/sbin/opesd -t -c $conf >"$work/check.log" 2>&1 || fail "opesd -t -c $conf"
grep -q '^listen = unix:/run/opesd/lmtp' "$work/check.log" || fail "opesd -t: listen is not unix:/run/opesd/lmtp"
check "opesd -t -c $conf (as opesd)"

# 7. opesd as the unit starts it: RuntimeDirectory=opesd (0750), then ExecStart
install -d -o opesd -g opesd -m 0750 /run/opesd
"${as_unit[@]}" /usr/sbin/opesd -c $conf >"$work/opesd.log" 2>&1 &
opesd_pid=$!
echo "$opesd_pid" >>$pidfile
for _ in $(seq 100); do
    [ -S /run/opesd/lmtp ] && grep -q 'opesd started' "$work/opesd.log" && break
    kill -0 "$opesd_pid" 2>/dev/null || fail "opesd exited"
    sleep 0.1
done
[ -S /run/opesd/lmtp ] || fail "no socket /run/opesd/lmtp"
[ "$(ps -o user= -p "$opesd_pid")" = opesd ] || fail "opesd does not run as opesd"
[ "$(stat -c '%U:%G %a' /run/opesd/lmtp)" = "opesd:opesd 660" ] ||
    fail "/run/opesd/lmtp is $(stat -c '%U:%G %a' /run/opesd/lmtp)"
check "opesd runs as opesd, socket /run/opesd/lmtp opesd:opesd 0660"

lhlo='
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect("/run/opesd/lmtp")
except PermissionError:
    print("EACCES"); sys.exit(3)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        lines.append(l.rstrip())
        if len(l) < 4 or l[3] != "-":
            return lines
g = reply()
assert g[0].startswith("220 "), g
s.sendall(b"LHLO client.example.org\r\n")
r = reply()
assert r[-1].startswith("250 ") and r[0].startswith("250-"), r
s.sendall(b"QUIT\r\n")
q = reply()
assert q[0].startswith("221 "), q
print(g[0]); print("\n".join(r))
'
# a client in group opesd (what the MTA's LMTP client must be)
setpriv --reuid=nobody --regid=opesd --clear-groups -- /usr/bin/python3 -c "$lhlo" >"$work/lhlo.log" 2>&1 ||
    fail "LHLO on /run/opesd/lmtp as nobody:opesd: $(cat "$work/lhlo.log")"
sed 's/^/    /' "$work/lhlo.log"
check "opesd answers LHLO on /run/opesd/lmtp for a client in group opesd"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups -- /usr/bin/python3 -c "$lhlo" >"$work/denied.log" 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "a client outside group opesd was not refused: $(cat "$work/denied.log")"
check "a client outside group opesd cannot connect"

# 8. opes-web as its unit starts it, on the installed [web] listen
/usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8025), 2)' 2>/dev/null &&
    fail "127.0.0.1:8025 is already in use: cannot check the installed [web] listen"
"${as_unit[@]}" /usr/sbin/opes-web -c $conf >"$work/opes-web.log" 2>&1 &
web_pid=$!
echo "$web_pid" >>$pidfile
http_get='
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
'
code=""
for _ in $(seq 100); do
    code=$(/usr/bin/python3 -c "$http_get" http://127.0.0.1:8025/opes 2>/dev/null || true)
    [ "$code" = 200 ] && break
    kill -0 "$web_pid" 2>/dev/null || fail "opes-web exited"
    sleep 0.1
done
[ "$code" = 200 ] || fail "GET http://127.0.0.1:8025/opes: $code"
[ "$(ps -o user= -p "$web_pid")" = opesd ] || fail "opes-web does not run as opesd"
check "opes-web runs as opesd and serves /opes with 200"

# 9. the store they share, and opesctl on it
[ "$(stat -c '%U %a' /var/lib/opesd/keys)" = "opesd 600" ] || fail "key file not opesd 0600"
[ "$(stat -c '%U' /var/lib/opesd/opesd.db)" = opesd ] || fail "store not owned by opesd"
runuser -u opesd -- /usr/sbin/opesctl -c $conf check >"$work/opesctl.log" 2>&1 ||
    fail "opesctl check: $(cat "$work/opesctl.log")"
check "store and key file in /var/lib/opesd belong to opesd; opesctl check passes"

# 10. stop (SIGTERM, as systemctl stop does)
stop_pid "$opesd_pid" || fail "opesd did not stop on SIGTERM"
wait "$opesd_pid" || fail "opesd exited with status $?"
opesd_pid=""
[ ! -e /run/opesd/lmtp ] || fail "opesd left its socket behind"
stop_pid "$web_pid" || fail "opes-web did not stop on SIGTERM"
wait "$web_pid" || fail "opes-web exited with status $?"
web_pid=""
rm -rf /run/opesd # RuntimeDirectory goes when the unit stops
check "opesd and opes-web stop on SIGTERM; the socket is removed"

# 11. purge
apt-get purge -y -qq opesd >"$work/purge.log" 2>&1 || fail "apt-get purge opesd"
! dpkg-query -W -f='${Status}' opesd 2>/dev/null | grep -q 'ok installed\|config-files' ||
    fail "opesd still known to dpkg"
rm -f $marker
for p in /var/lib/opesd /etc/opesd /usr/sbin/opesd /usr/share/opesd; do
    [ ! -e "$p" ] || fail "$p left after purge"
done
! getent passwd opesd >/dev/null || fail "user opesd left after purge"
check "purged: no files, directories or user opesd left"
echo "test_package: all checks passed"
