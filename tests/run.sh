#!/bin/sh
# run.sh - install what the tests need, build, and run every test.
#
# The suite runs on a build with AddressSanitizer and UBSan (so every test is
# also a memory-safety test); the plain build is compiled too, as shipped.
# Then every libFuzzer target runs for a bounded time (OPES_FUZZ_SECONDS, 30 by
# default) seeded from the corpus. Both builds treat warnings as errors
# (OPES_WERROR=ON); the demo and the Debian package build leave it off.
set -eu
cd "$(dirname "$0")/.."
packaging/install-deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
cmake -B build -S . -DOPES_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -B build-asan -S . -DOPES_SANITIZE=ON -DOPES_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rm -f build-asan/tests/chain/figures.txt
(cd build-asan && ctest --output-on-failure -j"$jobs")
# the whole chain's figures (lost, duplicates, messages/s, latency, peak RSS)
[ -f build-asan/tests/chain/figures.txt ] && cat build-asan/tests/chain/figures.txt

# the Debian package: build, lintian, unit verification, install, start as the
# units would, purge (root only; it uses /run/opesd and port 8025, so not in ctest -j).
# The purge would remove an installed opesd with its /var/lib/opesd, so it runs
# where no opesd package is installed (as on CI) or when OPES_PACKAGE_TEST=1 asks
# for it (then it still refuses, and fails, if one is installed); =0 skips it.
if [ "$(id -u)" -eq 0 ]; then
    if [ "${OPES_PACKAGE_TEST:-}" = 1 ]; then
        tests/package/test_package.sh
    elif [ "${OPES_PACKAGE_TEST:-}" = 0 ]; then
        echo "package test skipped (OPES_PACKAGE_TEST=0)"
    elif dpkg-query -W -f='${Status}' opesd 2>/dev/null | grep -q 'ok installed\|config-files'; then
        echo "package test skipped: an opesd package is installed here (it would be purged)"
    else
        tests/package/test_package.sh
    fi
fi

if [ -x tests/fuzz/run.sh ]; then
    tests/fuzz/run.sh "${OPES_FUZZ_SECONDS:-30}"
fi
echo "all tests passed"
