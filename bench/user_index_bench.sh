#!/bin/sh
# The user index behind GET /v1/users?prefix= (the console's user search)
# on the full-size mf model (4.2M users): how long the first search of a
# freshly loaded model takes (it builds the sorted index; the answer says
# how long the build took, index.build_seconds), over RUNS server starts,
# and what a search costs once it is built (wrk, one fixed two-character
# prefix, WRK_SECONDS). The model is serve_bench's (trained here when it is
# missing). Environment: RECO, BENCH_DATA, BENCH_OUT (common.sh), RUNS (3),
# WRK_SECONDS (5).
. "$(dirname "$0")/common.sh"
. "$ROOT/scripts/reco_serve.sh"
command -v curl >/dev/null || { echo "user_index_bench: needs curl" >&2; exit 1; }
ensure_data
MODEL=$OUT/serve-mf-full.reco
if [ ! -s "$MODEL" ]; then
    "$RECO" train --quiet --algo mf --param factors=64 -o "$MODEL" "$BENCH_DATA"
fi
SERVE_DIR=$(mktemp -d)
trap 'serve_stop_all; rm -rf "$SERVE_DIR"' EXIT
echo "user_index_bench: $(basename "$MODEL"), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$OUT/.uib"
run=0
while [ "$run" -lt "${RUNS:-3}" ]; do
    run=$((run + 1))
    serve_start u --model "$MODEL" --map-model || { cat "$SERVE_DIR/u.err" >&2; exit 1; }
    first=$(curl -s -o "$SERVE_DIR/first.json" -w '%{time_total}' \
        "http://127.0.0.1:$SERVE_PORT/v1/users?prefix=A1&limit=10")
    build=$(sed -n 's/.*"build_seconds": *\([0-9.e+-]*\).*/\1/p' "$SERVE_DIR/first.json")
    users=$(sed -n 's/.*"index": *{[^}]*"users": *\([0-9]*\).*/\1/p' "$SERVE_DIR/first.json")
    echo "$first $build" >>"$OUT/.uib"
    printf "run %d: first search %.2f s (index of %s users built in %s s)\n" "$run" "$first" \
        "$users" "$build"
    if [ "$run" -eq 1 ] && command -v wrk >/dev/null; then
        wrk -t2 -c16 -d"${WRK_SECONDS:-5}s" --latency \
            "http://127.0.0.1:$SERVE_PORT/v1/users?prefix=A1&limit=10" >"$OUT/uib-wrk.txt" 2>&1 || true
        awk "$WRK_AWK"'END { printf "built index, wrk -t2 -c16: %.0f searches/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d\n", rps, p50, p99, bad + 0 }' \
            "$OUT/uib-wrk.txt"
    fi
    serve_stop u
done
printf "median of %d: first search %.2f s, index build %.2f s\n" "${RUNS:-3}" \
    "$(cut -d' ' -f1 "$OUT/.uib" | median)" "$(cut -d' ' -f2 "$OUT/.uib" | median)"
