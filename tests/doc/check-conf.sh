#!/bin/sh
# check-conf.sh - the Debian package's opesd.conf is accepted by opesd -t as
# shipped (SQLite) and in the PostgreSQL variant its comments describe:
# backend and path commented out, the commented PostgreSQL lines of [store]
# taken in. The variant must name postgresql and the passfile. Exits 1 and
# says what is wrong.
#
# Usage: tests/doc/check-conf.sh OPESD SOURCE-DIR
set -u

opesd=$1
conf=$2/packaging/debian/opesd.conf
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
    echo "check-conf: $*" >&2
    status=1
}

# run opesd -t on one variant; the effective [store] section goes to store.out
check() {
    : >"$tmp/store.out"
    if ! "$opesd" -t -c "$1" >"$tmp/out" 2>"$tmp/err"; then
        fail "opesd -t refuses the $2 variant: $(grep -v warning "$tmp/err")"
        return
    fi
    sed -n '/^\[store\]/,/^$/p' "$tmp/out" >"$tmp/store.out"
}

check "$conf" SQLite
grep -qx 'backend = sqlite' "$tmp/store.out" || fail "the shipped file is not on SQLite"

sed -e 's/^\(backend = sqlite\|path = \)/#&/' \
    -e 's/^#\(backend = postgresql\|conninfo = \|node_name = \|job_lease = \)/\1/' \
    "$conf" >"$tmp/pg.conf"
check "$tmp/pg.conf" PostgreSQL
grep -qx 'backend = postgresql' "$tmp/store.out" ||
    fail "the PostgreSQL variant does not set backend = postgresql"
grep -q '^conninfo = .*passfile=' "$tmp/store.out" ||
    fail "the PostgreSQL variant has no conninfo with a passfile"
exit $status
