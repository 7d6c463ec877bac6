#!/bin/sh
# Installs the Debian packages reco needs to build, test and benchmark.
# Idempotent and non-interactive: packages already present are not touched.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libmicrohttpd-dev libjansson-dev libopenblas-dev liblapacke-dev libarpack2-dev
libplplot-dev plplot-driver-cairo libcmocka-dev libcurl4-openssl-dev libpng-dev curl time"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
