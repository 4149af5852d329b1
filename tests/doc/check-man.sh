#!/bin/sh
# check-man.sh - the manual pages lint clean and opesd.conf(5) lists every key.
#
# Runs "mandoc -T lint" (warnings and above) and "groff -man -ww -z" on every
# page in packaging/man (at least one of the two must be installed), checks
# that each page renders with man -l when man is there, that every reference
# to one of the project's pages names a page that exists, and runs
# packaging/man/check-conf-keys.sh. Exits 1 on any problem, 2 when no linter
# is installed.
#
# Usage: tests/doc/check-man.sh [SOURCE-DIR]
set -u

src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$src/packaging/man
status=0
linted=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pages=$(ls "$dir"/*.[1-8] 2>/dev/null)
if [ -z "$pages" ]; then
    echo "check-man: no pages in $dir" >&2
    exit 1
fi

for page in $pages; do
    name=$(basename "$page")
    if command -v mandoc >/dev/null 2>&1; then
        linted=1
        if ! mandoc -T lint -W warning "$page" >"$out" 2>&1 || [ -s "$out" ]; then
            echo "check-man: $name: mandoc -T lint:" >&2
            cat "$out" >&2
            status=1
        fi
    fi
    if command -v groff >/dev/null 2>&1; then
        linted=1
        if ! groff -man -ww -z "$page" >"$out" 2>&1 || [ -s "$out" ]; then
            echo "check-man: $name: groff -man -ww -z:" >&2
            cat "$out" >&2
            status=1
        fi
    fi
    if command -v man >/dev/null 2>&1; then
        if ! MANWIDTH=80 man -l "$page" >/dev/null 2>"$out" || [ -s "$out" ]; then
            echo "check-man: $name: man -l:" >&2
            cat "$out" >&2
            status=1
        fi
    fi
    # references to the project's own pages: opesd(8), opes\-web(8), opesd.conf(5) ...
    grep -o '^\.BR\{0,1\} opes[a-z.\\-]* *([1-8])' "$page" |
        sed 's/^\.BR\{0,1\} //; s/\\-/-/g; s/ *(\([1-8]\))/.\1/' | sort -u |
        while read -r ref; do
            [ -f "$dir/$ref" ] || echo "check-man: $name refers to $ref, which does not exist" >&2
        done 2>"$out"
    if [ -s "$out" ]; then
        cat "$out" >&2
        status=1
    fi
done

if [ $linted -eq 0 ]; then
    echo "check-man: neither mandoc nor groff is installed" >&2
    exit 2
fi

if ! sh "$dir/check-conf-keys.sh" "$src"; then
    status=1
fi

[ $status -eq 0 ] && echo "check-man: $(echo "$pages" | wc -l) pages clean"
exit $status
