#!/bin/sh
# run.sh [SECONDS] - build the libFuzzer targets with clang and run each one.
#
# Configures its own build directory (build-fuzz, CC=clang, OPES_FUZZ=ON,
# OPES_TESTS=OFF), builds only the fuzz programs, then runs every target for
# SECONDS (default 30) on a fresh temporary corpus, seeded from the committed
# seeds in tests/fuzz/seeds/<target>/ (fuzz_mime also from tests/mime/corpus) and, for
# fuzz_dotstuff and fuzz_mime, from the message
# corpus ../shared/corpus next to the repository when it exists. A crash, a
# leak, a sanitizer report or a timeout makes the script exit non-zero; the
# input that caused it is kept in build-fuzz/artifacts/<target>/.
set -eu

secs=${1:-30}
case $secs in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
targets="fuzz_lmtp_command fuzz_lmtp_reply fuzz_dotstuff fuzz_config fuzz_mime fuzz_rspamd_reply
fuzz_authres fuzz_i18n fuzz_web_form"
jobs=$(nproc 2>/dev/null || echo 2)

# -Wno-unknown-warning-option: the shared warning list names GCC-only options
CC=clang cmake -B "$build" -S "$root" -DOPES_FUZZ=ON -DOPES_WERROR=ON -DOPES_TESTS=OFF \
    -DCMAKE_C_FLAGS="-Wno-unknown-warning-option" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086 # the target list is split on purpose
cmake --build "$build" -j"$jobs" --target $targets

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:print_legend=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
for t in $targets; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/opes-fuzz.XXXXXX")
    mkdir "$work/corpus" "$work/artifacts"
    set -- "$work/corpus"
    if [ -d "$root/tests/fuzz/seeds/$t" ]; then
        set -- "$@" "$root/tests/fuzz/seeds/$t"
    fi
    if [ "$t" = fuzz_mime ]; then
        set -- "$@" "$root/tests/mime/corpus" # the messages kept in the repository
    fi
    if [ "$t" = fuzz_dotstuff ] || [ "$t" = fuzz_mime ]; then
        if [ -d "$root/../shared/corpus" ]; then
            set -- "$@" "$root/../shared/corpus"
        else
            echo "$t: ../shared/corpus not found, using the seeds only"
        fi
    fi
    echo "== $t: ${secs}s"
    # TMPDIR: what a target writes (fuzz_config's file) goes away with $work
    if TMPDIR=$work "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" >"$work/log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/log" |
            sed "s/^/$t: /" || true
    else
        status=1
        echo "$t: FAILED (log and inputs below)"
        tail -n 60 "$work/log"
        mkdir -p "$build/artifacts/$t"
        cp -p "$work/artifacts/"* "$build/artifacts/$t/" 2>/dev/null || true
        echo "$t: inputs kept in $build/artifacts/$t/; rerun one with $build/tests/fuzz/$t FILE"
    fi
    rm -rf "$work"
done

if [ "$status" -ne 0 ]; then
    echo "fuzzing found problems" >&2
fi
exit "$status"
