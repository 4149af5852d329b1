#!/bin/sh
# check-conf-keys.sh - fail when opesd.conf(5) and the code disagree on the keys.
#
# Every {"section", "key", TYPE, "default", ...} row of store/base/config.c must be
# an entry of opesd.conf.5 under its section (".SS [section]", then ".TP" and
# ".B key"), and the entry must name the default ("empty" for an empty one).
# Every entry there must be a row of the table. Every row of the [service.NAME]
# key tables (the common keys in store/base/svcdesc.c, each type's own keys in
# agent/services/svc_*.c) must be an entry under ".SS [service.NAME]" or one of
# the type subsections.
#
# Usage: packaging/man/check-conf-keys.sh [SOURCE-DIR]
set -eu

src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
page=$src/packaging/man/opesd.conf.5
config=$src/store/base/config.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "$page" "$config" "$src/store/base/svcdesc.c"; do
    [ -r "$f" ] || { echo "check-conf-keys: cannot read $f" >&2; exit 2; }
done

# rows_of FILE... - the {"section", "key", CONFIG_TYPE, "default" rows of the key tables
rows_of() {
    for f in "$@"; do
        sed -n '/^static const struct config_key [a-z_]*\[\] = {/,/^};/p' "$f" | tr '\n' ' ' |
            grep -o '{"[a-z_]*", *"[a-z_]*", *CONFIG_[A-Z]*, *\("[^"]*"\|NULL\)'
    done
}

# section key default (default "-" when empty), from the table in config.c
rows_of "$config" |
    sed 's/{"\([a-z_]*\)", *"\([a-z_]*\)", *CONFIG_[A-Z]*, *"\([^"]*\)"/\1 \2 \3/' |
    awk '{ d = $3; for (i = 4; i <= NF; i++) d = d " " $i; if (d == "") d = "-";
           print $1 "\t" $2 "\t" d }' > "$tmp/code"
[ -s "$tmp/code" ] || { echo "check-conf-keys: no rows found in $config" >&2; exit 2; }

# section key text-of-entry, from the page (roff escapes for - and \ removed)
awk '
    /^\.SH/ { sect = ""; key = ""; next }
    /^\.SS "?\[/ { s = $0; sub(/^\.SS "?\[/, "", s); sub(/\].*/, "", s); sect = s; key = ""; next }
    /^\.SS/ { if (sect !~ /^service/) sect = ""; key = ""; next }
    /^\.TP/ { tp = 1; next }
    tp && /^\.B / { key = $2; tp = 0; if (sect != "") print "K\t" sect "\t" key; next }
    { tp = 0 }
    /^\.(SS|SH|PP|RE)/ { key = "" }
    sect != "" && key != "" { t = $0; gsub(/\\-/, "-", t); gsub(/\\\(em|\\\(en/, "-", t);
        gsub(/\\f[BIRP]/, "", t); print "T\t" sect "\t" key "\t" t }
' "$page" > "$tmp/page"

status=0
while IFS='	' read -r sect key def; do
    if ! grep -q "^K	$sect	$key\$" "$tmp/page"; then
        echo "opesd.conf.5: [$sect] $key is missing" >&2
        status=1
        continue
    fi
    want=$def
    [ "$def" = "-" ] && want=empty
    if ! grep "^T	$sect	$key	" "$tmp/page" | cut -f4- | tr '\n' ' ' | grep -qF -- "$want"; then
        echo "opesd.conf.5: [$sect] $key does not give the default \"$want\"" >&2
        status=1
    fi
done < "$tmp/code"

# entries the table does not have
grep '^K	' "$tmp/page" | grep -v '	service' | while IFS='	' read -r _ sect key; do
    if ! grep -q "^$sect	$key	" "$tmp/code"; then
        echo "opesd.conf.5: [$sect] $key is documented but not in store/base/config.c" >&2
        echo x
    fi
done > "$tmp/extra"
[ -s "$tmp/extra" ] && status=1

# [service.NAME] keys: the common ones and those of each type
rows_of "$src"/store/base/svcdesc.c "$src"/agent/services/svc_*.c |
    sed 's/{"[a-z_]*", *"\([a-z_]*\)".*/\1/' | sort -u > "$tmp/svckeys"
[ -s "$tmp/svckeys" ] || { echo "check-conf-keys: no service key rows found" >&2; exit 2; }
while read -r key; do
    if ! grep -q "^K	service[^	]*	$key\$" "$tmp/page"; then
        echo "opesd.conf.5: [service.NAME] key $key is missing" >&2
        status=1
    fi
done < "$tmp/svckeys"

n=$(wc -l < "$tmp/code")
s=$(wc -l < "$tmp/svckeys")
[ $status -eq 0 ] && echo "check-conf-keys: $n keys of store/base/config.c and $s service keys documented"
exit $status
