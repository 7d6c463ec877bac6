#!/bin/sh
# Installs the Debian packages reco needs to build, test and benchmark, and
# generates the de_DE.UTF-8 locale (tests/test_locale.c runs the library in
# a locale with a decimal comma; without one it is skipped). python3 and
# python3-jsonschema check every JSON output against tests/schema
# (tests/cli/json_schema.sh; skipped without them). libpq-dev lets reco read
# ratings from PostgreSQL; postgresql gives the tests a throwaway cluster
# (tests/cli/postgresql.sh, tests/cli/store.sh, tests/cli/replicas.sh,
# bench/pg_bench.sh, bench/store_bench.sh; skipped without it).
# haproxy puts replicas behind one port (scripts/haproxy_front.sh,
# tests/cli/haproxy_front.sh, tests/cli/replicas.sh, bench/replica_bench.sh;
# skipped without it).
# help2man writes the man pages, man-db and groff-base check them; g++
# compiles the public headers as C++ (tests/install; each skipped without
# them). chromium, nodejs and npm run the web console's browser test
# (tests/browser: puppeteer-core from npm drives the Debian chromium;
# skipped without them).
# Idempotent and non-interactive: packages already present are not touched.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libmicrohttpd-dev libjansson-dev libopenblas-dev liblapacke-dev libarpack2-dev
libplplot-dev plplot-driver-cairo libcmocka-dev libcurl4-openssl-dev libpng-dev curl time
locales python3 python3-jsonschema libpq-dev postgresql
haproxy help2man g++ man-db groff-base chromium"

# node and npm: Debian's packages, unless a node with its own npm is
# already installed (another distribution's nodejs conflicts with Debian's
# npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PKGS="$PKGS nodejs npm"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# A comma-decimal locale for the tests, generated without touching
# /etc/locale.gen (localedef writes it to the locale archive).
ensure_locale() {
    if locale -a 2>/dev/null | grep -qi '^de_DE\.utf-*8$'; then
        return 0
    fi
    echo "install-deps: generating the de_DE.UTF-8 locale"
    $SUDO localedef -i de_DE -f UTF-8 de_DE.UTF-8
}

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    ensure_locale
    exit 0
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
ensure_locale
