#!/bin/sh
# check.sh - build the include-rule probes of one rule and judge the results.
#
# Usage: check.sh BUILD-DIR deny:TARGET:HEADER ... allow:TARGET:HEADER ...
#
# A deny probe passes only when its build fails because the compiler cannot
# find HEADER ("No such file or directory" from GCC, "file not found" from
# clang); any other failure is a broken probe, and a build that succeeds is a
# broken rule. An allow probe must build. Exits 0 when every probe passes, 1
# otherwise.
set -u

build=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for probe in "$@"; do
    kind=${probe%%:*}
    rest=${probe#*:}
    target=${rest%%:*}
    header=${rest#*:}
    cmake --build "$build" --target "$target" >"$out" 2>&1
    built=$?
    case $kind in
    deny)
        if [ $built -eq 0 ]; then
            echo "boundary: $target: opes/$header is visible, and must not be" >&2
            status=1
        elif grep -q "opes/$header.*\(No such file or directory\|file not found\)" "$out"; then
            echo "boundary: $target: opes/$header not visible, as it must be"
        else
            echo "boundary: $target: failed for another reason than a missing opes/$header:" >&2
            cat "$out" >&2
            status=1
        fi
        ;;
    allow)
        if [ $built -eq 0 ]; then
            echo "boundary: $target: opes/$header visible, as it must be"
        else
            echo "boundary: $target: opes/$header must be visible and is not:" >&2
            cat "$out" >&2
            status=1
        fi
        ;;
    *)
        echo "boundary: bad probe $probe" >&2
        exit 2
        ;;
    esac
done
exit $status
