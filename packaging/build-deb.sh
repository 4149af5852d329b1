#!/bin/sh
# build-deb.sh - build the Debian package opesd from this source tree.
#
# Usage: packaging/build-deb.sh [OUTDIR]   (default: ./dist)
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and the
# package files live in packaging/debian. So the sources (what git tracks
# plus new files it does not ignore; without git: the tree minus build
# directories) are copied to a temporary directory, packaging/debian becomes
# its debian/, and dpkg-buildpackage -us -uc -b builds the binary package
# there. The .deb (and the .buildinfo and .changes) end up in OUTDIR. Needs
# the build dependencies (packaging/install-deps.sh build) plus debhelper.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
# the package's version is the project's (CMakeLists.txt, project VERSION)
project=$(sed -n 's/^project(opesd VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
if [ "${version%%-*}" != "$project" ]; then
    echo "build-deb: packaging/debian/changelog says $version, CMakeLists.txt $project" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/opesd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
src=$work/opesd-$version
mkdir -p "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # without the output directory when it is inside the tree; files deleted
    # but still tracked are skipped (--ignore-failed-read)
    exclude=.git
    case $out in "$top"/*) exclude=${out#"$top"/} ;; esac
    (cd "$top" && git ls-files -z --cached --others --exclude-standard -- . ":(exclude)$exclude" |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
    tar -C "$top" --exclude='./build*' --exclude=./dist --exclude=./var \
        --exclude=node_modules --exclude=.git -cf - . | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$src/packaging/debian" "$src/debian"

echo "build-deb: building opesd $version in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b)

for f in "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes; do
    [ -e "$f" ] && cp "$f" "$out/"
done
ls "$out"/opesd_"$version"_*.deb
