#!/bin/sh
# Other clients' throughput and latency while many idle or slow connections
# are held open against `reco serve` (a benchmark, never a test).
#
# Trains the default model on the bundled sample (data/sample.csv), serves
# it on 127.0.0.1 with the default connection caps and deadlines, and runs
# `wrk -t2 -cCONNECTIONS -dDURATION --latency` (random users of the sample
# asking for 10 recommendations) three times: alone, while HOLD (1,100)
# idle connections are held, and while HOLD slow connections are held
# (each sends a request line, then one header line every 8 s and never
# ends its headers). The holder, bench/slow_clients.c, is compiled here;
# it connects from 127.0.0.2 .. 127.0.0.(1 + ADDRESSES) (default 5, so 220
# per address, under the per-address cap) and opens a connection again as
# soon as the server closes one, so HOLD stay open all along. wrk connects
# from 127.0.0.1. Target: with HOLD held, wrk's requests all succeed and
# p99 <= 50 ms.
#
# Environment: RECO (binary), BENCH_OUT, HOLD (1100), ADDRESSES (5),
# DURATION (10s), CONNECTIONS (16), SERVE_ARGS (more `reco serve` options).
. "$(dirname "$0")/common.sh"

HOLD=${HOLD:-1100}
ADDRESSES=${ADDRESSES:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
SAMPLE=$ROOT/data/sample.csv
LUA=$ROOT/bench/serve_bench.lua
HOLDER=$OUT/slow_clients

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (apt-get)..." >&2
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } || {
        echo "slow_clients: wrk is not installed and could not be installed" >&2
        exit 1
    }
fi
cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE "$ROOT/bench/slow_clients.c" -o "$HOLDER"

SERVER_PID=
HOLDER_PID=
cleanup() {
    for pid in $HOLDER_PID $SERVER_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

MODEL=$OUT/slow-sample.reco
if [ ! -s "$MODEL" ] || [ "$MODEL" -ot "$SAMPLE" ] || [ "$MODEL" -ot "$RECO" ]; then
    "$RECO" train --quiet "$SAMPLE" -o "$MODEL" >"$OUT/slow-train.txt" 2>&1
fi
cut -d, -f1 "$SAMPLE" | sort -u >"$OUT/slow-users.txt"
export BENCH_USERS="$OUT/slow-users.txt" BENCH_MODE=get

: >"$OUT/slow-serve.err"
# shellcheck disable=SC2086
"$RECO" serve --model "$MODEL" --port 0 ${SERVE_ARGS:-} 2>"$OUT/slow-serve.err" &
SERVER_PID=$!
i=0
while ! grep -q "listening on" "$OUT/slow-serve.err"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ "$i" -gt 300 ]; then
        cat "$OUT/slow-serve.err" >&2
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done
PORT=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p' "$OUT/slow-serve.err")

# run_wrk LABEL: one wrk run; prints req/s, p50, p99, non-2xx, errors.
run_wrk() {
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" \
        "http://127.0.0.1:$PORT" >"$OUT/slow-wrk.txt" 2>&1 || true
    awk -v label="$1" "$WRK_AWK"'
        END {
            printf "%-34s %9d %9.0f %8.2f %8.2f %7d  %s\n", label, n, rps, p50, p99, bad + 0,
                   err != "" ? err : "-"
        }' "$OUT/slow-wrk.txt"
}

# hold MODE: starts the holder and waits until it holds HOLD connections.
hold() {
    "$HOLDER" "$PORT" "$HOLD" "$1" "$ADDRESSES" >"$OUT/slow-holder-$1.txt" 2>&1 &
    HOLDER_PID=$!
    i=0
    while ! grep -q "^holding" "$OUT/slow-holder-$1.txt"; do
        if ! kill -0 "$HOLDER_PID" 2>/dev/null || [ "$i" -gt 100 ]; then
            cat "$OUT/slow-holder-$1.txt" >&2
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
}

release() {
    kill "$HOLDER_PID"
    wait "$HOLDER_PID" || true
    HOLDER_PID=
    echo "    holder ($1): $(tail -n 1 "$OUT/slow-holder-$1.txt")"
}

# The server's open connections (admitted, over a cap), from /metrics.
connections() {
    wrk_conn=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '
        /^reco_http_connections_open\{state="admitted"\}/ { a = $2 }
        /^reco_http_connections_open\{state="over_cap"\}/ { o = $2 }
        END { printf "%d open within the caps, %d over", a, o }')
    echo "    server: $wrk_conn"
}

echo "slow_clients: $(basename "$SAMPLE") ($(sed -n 's|.*(model \(.*\))$|\1|p' "$OUT/slow-serve.err")); wrk -t2 -c$CONNECTIONS -d$DURATION --latency; $HOLD held from $ADDRESSES addresses; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
wrk -t2 -c2 -d1s -s "$LUA" "http://127.0.0.1:$PORT" >/dev/null 2>&1 || true
printf "%-34s %9s %9s %8s %8s %7s  %s\n" "while" "requests" "req/s" "p50 ms" "p99 ms" "non-2xx" "socket errors"
run_wrk "nothing else"
for mode in idle slow; do
    hold "$mode"
    connections
    run_wrk "$HOLD $mode connections held"
    connections
    release "$mode"
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || echo "slow_clients: the server exited with status $?" >&2
SERVER_PID=
