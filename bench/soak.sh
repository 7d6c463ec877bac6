#!/bin/sh
# Soak test of `reco serve` (a benchmark, never a test): SOAK_SECONDS
# (default 600) of mixed traffic (wrk, keep-alive, 64 connections: nine
# recommendation GETs for every rating POST, each POST durable) against
# the mf model of the --min-user-ratings 50 subset of the full-size file,
# with a reload (POST /v1/admin/reload) every RELOAD_SECONDS (default 30).
# Every SAMPLE_SECONDS (default 10) it records the server's RSS, open file
# descriptors and live ratings; at the end it prints that curve, the
# request counts and every non-2xx answer. What must hold: no non-2xx
# answers to these valid requests, RSS flat after warm-up apart from the
# live ratings' own growth, no growth of file descriptors.
. "$(dirname "$0")/common.sh"
SOAK_SECONDS=${SOAK_SECONDS:-600}
RELOAD_SECONDS=${RELOAD_SECONDS:-30}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-64}
LUA="$ROOT/bench/serve_bench.lua"
command -v wrk >/dev/null 2>&1 || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
ensure_data

MODEL="$OUT/soak.reco"
LOG="$OUT/soak-ratings.log"
if [ ! -s "$MODEL" ] || [ "$MODEL" -ot "$BENCH_DATA" ] || [ "$MODEL" -ot "$RECO" ]; then
    "$RECO" train --algo mf --param factors=64 --min-user-ratings 50 --quiet "$BENCH_DATA" \
        -o "$MODEL"
fi
USERS="$OUT/soak-users.txt"
ITEMS="$OUT/soak-items.txt"
awk -F, '{ c[$1]++ } END { for (u in c) if (c[u] >= 50) print u }' "$BENCH_DATA" >"$USERS"
head -n 200000 "$BENCH_DATA" | cut -d, -f2 | sort -u | head -n 5000 >"$ITEMS"

rm -f "$LOG"
: >"$OUT/soak.err"
"$RECO" serve --model "$MODEL" --ratings-log "$LOG" --create-ratings-log --port 0 2>"$OUT/soak.err" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null' EXIT INT TERM
i=0
while ! grep -q "listening on" "$OUT/soak.err"; do
    sleep 0.1
    i=$((i + 1))
    [ "$i" -lt 600 ] && kill -0 "$PID" 2>/dev/null || { cat "$OUT/soak.err" >&2; exit 1; }
done
PORT=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p' "$OUT/soak.err")
URL="http://127.0.0.1:$PORT"

BENCH_MODE=mixed BENCH_USERS="$USERS" BENCH_ITEMS="$ITEMS" \
    wrk -t2 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --latency -s "$LUA" "$URL" \
    >"$OUT/soak-wrk.txt" 2>&1 &
WRK=$!

echo "soak: $SOAK_SECONDS s of mixed traffic on $URL, reload every $RELOAD_SECONDS s; $(nproc) cores"
printf "%8s %10s %6s %12s %8s\n" "seconds" "RSS MB" "fds" "live ratings" "reloads"
t=0
reloads=0
reload_fail=0
while kill -0 "$WRK" 2>/dev/null; do
    sleep "$SAMPLE_SECONDS"
    t=$((t + SAMPLE_SECONDS))
    if [ $((t % RELOAD_SECONDS)) -lt "$SAMPLE_SECONDS" ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            "$URL/v1/admin/reload")
        [ "$code" = 200 ] && reloads=$((reloads + 1)) || reload_fail=$((reload_fail + 1))
    fi
    rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status" 2>/dev/null)
    fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)
    live=$(curl -s "$URL/v1/model" | sed -n 's/.*"live_ratings": *\([0-9]*\).*/\1/p')
    printf "%8d %10s %6s %12s %8d\n" "$t" "$rss" "$fds" "$live" "$reloads"
done
wait "$WRK" || true
echo
grep -E "Requests/sec|requests in|Non-2xx|Socket errors|^ +(50|99)%" "$OUT/soak-wrk.txt"
echo "reloads: $reloads succeeded, $reload_fail failed"
grep -c . "$LOG" | sed 's/^/ratings logged: /'
