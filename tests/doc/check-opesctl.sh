#!/bin/sh
# check-opesctl.sh - opesctl(8) documents every command word and option of opesctl.
#
# Reads agent/opesctl.c: every word the dispatch compares an argument with
# (strcmp(argv[...], "word"), or a {"word", handler} table row) must appear as
# a word in the rendered page, and every option ("--name" literals and the
# getopt_long tables {"name", has_arg, flag, 'c'}) as --name. Exits 1 and
# names what is missing, 2 when neither mandoc nor groff can render the page.
#
# Usage: tests/doc/check-opesctl.sh [SOURCE-DIR]
set -u

src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
code=$src/agent/opesctl.c
page=$src/packaging/man/opesctl.8
text=$(mktemp)
trap 'rm -f "$text"' EXIT

if command -v mandoc >/dev/null 2>&1; then
    mandoc -T ascii -O width=400 "$page" | col -b >"$text"
elif command -v groff >/dev/null 2>&1; then
    groff -man -T ascii -rLL=400n -rHY=0 -P-cbou "$page" >"$text"
else
    echo "check-opesctl: neither mandoc nor groff is installed" >&2
    exit 2
fi

# command words: compared with an argument, or the first field of a table row
# whose second is a function (a verb table)
words=$( (grep -o 'strcmp(argv\[[^]]*\], "[a-z][a-z-]*")' "$code" |
    sed 's/.*"\(.*\)")/\1/'
    grep -o '{"[a-z][a-z-]*", *ctl_[a-z_]*' "$code" | sed 's/{"\([^"]*\)".*/\1/') | sort -u)
# options: "--name" and "--name=value" literals, and getopt_long rows
options=$( (grep -o '"--[a-z][a-z-]*' "$code" | sed 's/^"//'
    grep -o '{"[a-z][a-z-]*", *[012], *0, *'"'"'.'"'"'}' "$code" |
        sed 's/{"\([^"]*\)".*/--\1/') | sort -u)

status=0
for w in $words; do
    if ! grep -qw -- "$w" "$text"; then
        echo "check-opesctl: opesctl(8) does not document the command word \"$w\"" >&2
        status=1
    fi
done
for o in $options; do
    if ! grep -q -- "$o\([^a-z-]\|\$\)" "$text"; then
        echo "check-opesctl: opesctl(8) does not document the option $o" >&2
        status=1
    fi
done
[ $status -eq 0 ] &&
    echo "check-opesctl: $(echo "$words" | wc -w) command words and $(echo "$options" | wc -w) options documented"
exit $status
