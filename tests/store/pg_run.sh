#!/bin/sh
# pg_run.sh - run a store test program against a PostgreSQL server of its own.
#
#   pg_run.sh PROGRAM [ARGS...]
#
# Starts a private cluster (initdb and pg_ctl as the user postgres, in a
# temporary directory, on a unix socket and a free loopback port, trust for
# the one role "opes"), runs PROGRAM with OPES_TEST_PG set to its conninfo
# (store_util.c gives each database path of a test a database of its own),
# then stops the server by the PID it wrote and removes the directory.
# There is no skipping: without the server programs the test fails and says
# what to install.
set -u

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
    echo "pg_run.sh: FAIL: no PostgreSQL server programs (initdb, pg_ctl) under" \
         "/usr/lib/postgresql/*/bin: install the package postgresql" >&2
    exit 1
fi
if ! id postgres >/dev/null 2>&1; then
    echo "pg_run.sh: FAIL: there is no user postgres to run the server as" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    AS="su postgres -s /bin/sh -c"
else
    AS="sh -c" # an unprivileged run: the server runs as this user
fi

D=$(mktemp -d "${TMPDIR:-/tmp}/opes-pg.XXXXXX") || exit 1
chmod 755 "$D"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$D"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
    if [ -f "$D/data/postmaster.pid" ]; then
        PID=$(head -1 "$D/data/postmaster.pid")
        kill -INT "$PID" 2>/dev/null # fast shutdown: clients left over are disconnected
        i=0
        while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    rm -rf "$D"
}
trap stop EXIT
trap 'exit 1' INT TERM

if ! $AS "$BIN/initdb -D $D/data -A trust -U opes --no-locale -E UTF8" >"$D/initdb.log" 2>&1; then
    echo "pg_run.sh: FAIL: initdb failed:" >&2
    cat "$D/initdb.log" >&2
    exit 1
fi
# fsync stays on: the crash test counts on committed meaning durable
if ! $AS "$BIN/pg_ctl -D $D/data -l $D/pg.log -w -t 60 -o '-k $D -p $PORT \
        -c listen_addresses=127.0.0.1 -c max_connections=200' start" >"$D/pg_ctl.log" 2>&1; then
    echo "pg_run.sh: FAIL: the PostgreSQL server did not start:" >&2
    cat "$D/pg_ctl.log" "$D/pg.log" >&2
    exit 1
fi

OPES_TEST_PG="host=$D port=$PORT user=opes"
export OPES_TEST_PG
"$@"
rc=$?
[ $rc -ne 0 ] && tail -20 "$D/pg.log" >&2
exit $rc
