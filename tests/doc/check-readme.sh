#!/bin/sh
# check-readme.sh - the README stays a front door that matches the tree.
#
# Checks that README.md is under 20 KB, that its layout names every folder of
# agent/, store/ and web/ (as `folder/`) and no folder that does not exist,
# that its include row names exactly the libraries of include/, and that its
# reference table names every manual page in packaging/man. Exits 1 and says
# what is wrong.
#
# Usage: tests/doc/check-readme.sh [SOURCE-DIR]
set -u

src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
readme=$src/README.md
status=0
fail() {
    echo "check-readme: $*" >&2
    status=1
}

size=$(wc -c <"$readme")
[ "$size" -lt 20480 ] || fail "README.md is $size bytes, not under 20 KB"

# every folder is in the layout ...
for dir in $(cd "$src" && find agent store web -type d | sort); do
    grep -qF "\`$dir/\`" "$readme" || fail "the layout does not name $dir/"
done
# ... and every folder the layout names exists
for dir in $(grep -o '`\(agent\|store\|web\)/[a-z/_-]*/`' "$readme" | tr -d '`' | sort -u); do
    [ -d "$src/$dir" ] || fail "the layout names $dir, which does not exist"
done

# the include row: `include/<name>/opes/` ... `base`, `crypto`, ...
row=$(grep '^| `include/<name>/opes/`' "$readme")
if [ -z "$row" ]; then
    fail "the layout has no include/<name>/opes/ row"
else
    named=$(echo "$row" | sed 's/.*|\([^|]*\)|[^|]*$/\1/' | grep -o '`[a-z_]*`' | tr -d '`' | sort)
    real=$(cd "$src/include" && find . -mindepth 1 -maxdepth 1 -type d | sed 's|^\./||' | sort)
    [ "$named" = "$(echo "$real")" ] ||
        fail "the include row names \"$(echo $named)\", include/ holds \"$(echo $real)\""
fi

# every manual page in the reference table
for page in "$src"/packaging/man/*.[1-8]; do
    name=$(basename "$page")
    ref="${name%.*}(${name##*.})"
    grep -qF "| $ref |" "$readme" || fail "the reference table does not name $ref"
done

[ $status -eq 0 ] && echo "check-readme: README.md ($size bytes) matches the tree"
exit $status
