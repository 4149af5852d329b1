#!/bin/bash
# test_refuse.sh - the package test refuses to run where an opesd package is
# installed, before it touches anything.
#
# tests/package/test_package.sh purges the package it installs; on a machine
# whose own opesd package is installed that purge would delete its store and
# keys. This runs the package test with stand-ins for dpkg-query (reporting an
# installed opesd, then one removed with its configuration kept), apt-get and
# dpkg (recording any call) first in PATH, and checks that it exits with a
# refusal and called neither apt-get nor dpkg. It needs no root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/opesd-refuse.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir "$work/bin"
for tool in apt-get apt dpkg dpkg-buildpackage; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$tool" "$work" >"$work/bin/$tool"
done
cat >"$work/bin/dpkg-query" <<EOT
#!/bin/sh
printf '%s' "\$(cat "$work/status")"
EOT
chmod +x "$work"/bin/*

for status in 'install ok installed' 'deinstall ok config-files'; do
    printf '%s' "$status" >"$work/status"
    rm -f "$work/calls"
    rc=0
    PATH="$work/bin:$PATH" "$here/test_package.sh" >"$work/out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] || ! grep -q 'refused: an opesd package is installed' "$work/out"; then
        echo "test_refuse: FAIL: package '$status': exit $rc, $(cat "$work/out")" >&2
        exit 1
    fi
    if [ -s "$work/calls" ]; then
        echo "test_refuse: FAIL: package '$status': called $(cat "$work/calls")" >&2
        exit 1
    fi
    echo "test_refuse: ok: refused with package '$status' and changed nothing"
done
