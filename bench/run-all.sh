#!/bin/sh
# Runs every benchmark script in bench/ and prints their reports.
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
export RECO=${1:-$DIR/../build/reco}
for b in "$DIR"/*.sh; do
    case "$(basename "$b")" in common.sh|run-all.sh) continue ;; esac
    echo "== $(basename "$b")"
    "$b" || echo "(failed: $b)"
done
