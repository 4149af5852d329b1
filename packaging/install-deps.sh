#!/bin/sh
# install-deps.sh - install opesd's build and test dependencies from Debian packages.
#
# Usage: packaging/install-deps.sh [build|test]
#   build: what is needed to compile opesd (default)
#   test:  build dependencies plus the real neighbours the test suite starts
#          (Dovecot LMTP with Sieve, Cyrus lmtpd and imapd with saslpasswd2 (Debian's
#          cyrus-imapd and dovecot-imapd exclude each other), Postfix tools, swaks, clamd,
#          spamd, rspamd with redis-server for its statistics, python3-dkim, python3-jsonschema
#          (the API test), nginx as the portal's reverse proxy,
#          PostgreSQL for the store's second backend), mandoc for the
#          manual page lint, and
#          for the portal's browser test Debian's chromium plus the pinned npm
#          playwright-core and @axe-core/playwright in tests/web (npm ci; node
#          from Debian if missing);
#          for the package test (tests/package) debhelper, lintian and
#          systemd-analyze
# Idempotent: packages already installed are not touched, and apt is not run
# at all when nothing is missing.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libsqlite3-dev libpq-dev libsodium-dev \
libmicrohttpd-dev libgnutls28-dev libinih-dev libjansson-dev check"
TEST_PKGS="clang libclang-rt-14-dev dovecot-core dovecot-lmtpd dovecot-sieve postfix swaks \
python3 python3-dkim python3-jsonschema procps iproute2 clamav-daemon clamav-testfiles spamassassin spamd spamc rspamd redis-server \
chromium mandoc dpkg-dev debhelper fakeroot lintian systemd cyrus-imapd cyrus-clients sasl2-bin \
postgresql nginx"

want=$BUILD_PKGS
[ "${1:-build}" = test ] && want="$BUILD_PKGS $TEST_PKGS"
# node and npm come from Debian only when no node is installed at all
[ "${1:-build}" = test ] && ! command -v node >/dev/null 2>&1 && want="$want nodejs npm"

# npm_ci - the browser test's npm packages, exactly as package-lock.json pins them
npm_ci() {
    [ "${1:-build}" = test ] || return 0
    web_tests=$(cd "$(dirname "$0")/../tests/web" && pwd)
    if [ ! -d "$web_tests/node_modules/playwright-core" ] ||
        [ ! -d "$web_tests/node_modules/@axe-core/playwright" ]; then
        echo "install-deps: npm ci in tests/web"
        (cd "$web_tests" && npm ci --no-audit --no-fund)
    fi
}

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    npm_ci "${1:-build}"
    exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-deps: installing$missing"
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
npm_ci "${1:-build}"
