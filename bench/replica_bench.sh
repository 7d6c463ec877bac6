#!/bin/sh
# Replicas of `reco serve` behind HAProxy on one machine (a benchmark, never
# a test): throughput, p99 and CPU per request for 1, 2 and 4 replicas,
# memory shared by replicas mapping one model file, and model-file and
# replica memory against the catalogue's size. Figures for docs/scaling.md.
#
# PARTS (default "throughput memory sizes"):
#   throughput  REPLICAS (default "1 2 4") replicas of the full-size mf model
#               (serve-mf-full.reco, as bench/serve_bench.sh trains it),
#               each `reco serve --map-model` with its default threads, behind
#               scripts/haproxy_front.sh (roundrobin) on 127.0.0.1; and
#               "direct": wrk straight at one replica, no proxy. `wrk -t2
#               -c$CONNECTIONS -d$DURATION --latency` (bench/serve_bench.lua:
#               GET /v1/users/{user}/recommendations?n=10) for random users
#               (serve-users-full.txt) and users with >= 50 ratings
#               (serve-users-heavy.txt), RUNS rounds (default 3), each round
#               every setup once, interleaved. CPU per request: utime + stime
#               (/proc/PID/stat) of every replica and of haproxy over the run,
#               divided by the requests wrk counted; wrk's own CPU (it runs on
#               the same cores) from /usr/bin/time.
#   memory      the full-size model mapped by 1, then 4 replicas (and one
#               private copy, without --map-model): Rss, Pss, anonymous memory
#               from /proc/PID/smaps_rollup after WARM seconds of requests.
#   sizes       synthetic files (reco gen): a base point, products doubled,
#               ratings doubled, all three doubled (SIZE_SCALE: products of the base point,
#               default 50000, users and ratings in the Electronics file's
#               proportions), mf with 64 factors: the model file's size and a
#               mapped replica's anonymous memory; a least-squares fit of
#               bytes = a + b*products + c*users + d*ratings, checked against
#               the full-size model.
#   cost        CPU per request against the catalogue's size: one mapped
#               replica, wrk straight at it, for the proportional points of
#               "sizes" (SIZE_SCALE and twice that) and the full-size model,
#               random users of each file; RUNS rounds, interleaved.
#   reload      4 mapped replicas behind HAProxy, wrk for RELOAD_SECONDS (40)
#               with random users, once undisturbed and once with a rolling
#               reload (haproxy_front.sh rolling-reload) started 5 s in;
#               RUNS rounds: req/s, p99, non-2xx answers, the reload's time.
#   summary     the throughput summary again, of RESULTS (default
#               $OUT/replica-throughput.txt); runs with non-2xx answers are
#               left out of it.
# Environment: RECO, BENCH_DATA, BENCH_OUT (common.sh), DURATION (10s),
# CONNECTIONS (64), RUNS (3), WARM (seconds of requests before memory is read,
# 5), REPLICA_MODEL (the served model;
# default the full-size one; only the throughput and memory parts). Data and models are made when
# missing (as serve_bench.sh makes them). Results: $OUT/replica-*.txt.
. "$(dirname "$0")/common.sh"

PARTS=${PARTS:-throughput memory sizes cost}
REPLICAS=${REPLICAS:-1 2 4}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
RUNS=${RUNS:-3}
WARM=${WARM:-5}
LUA="$ROOT/bench/serve_bench.lua"
FRONT="$ROOT/scripts/haproxy_front.sh"
HA="$OUT/replica-haproxy"
TICK=$(getconf CLK_TCK)

for tool in wrk haproxy curl; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "installing $tool (apt-get)..." >&2
        apt-get install -y $tool >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y $tool >/dev/null 2>&1; } || {
            echo "replica_bench: $tool is not installed and could not be installed" >&2
            exit 1
        }
    fi
done
ensure_data

PIDS=""
cleanup() {
    sh "$FRONT" stop "$HA" 2>/dev/null || true
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=""
}
trap cleanup EXIT INT TERM

# The full-size mf model and the user lists, made as serve_bench.sh makes
# them, when missing.
FULL=${REPLICA_MODEL:-$OUT/serve-mf-full.reco}
if [ ! -s "$FULL" ]; then
    echo "training $FULL (mf, 64 factors, the full-size file)..." >&2
    "$RECO" train --algo mf --param factors=64 --quiet "$BENCH_DATA" -o "$FULL.tmp" &&
        mv "$FULL.tmp" "$FULL"
    sync
fi
if [ ! -s "$OUT/serve-users-full.txt" ]; then
    awk -F, 'NR % 2000 == 0 { print $1 }' "$BENCH_DATA" >"$OUT/serve-users-full.txt"
fi
if [ ! -s "$OUT/serve-users-heavy.txt" ]; then
    awk -F, '{ n[$1]++ } END { for (u in n) if (n[u] >= 50) print u }' "$BENCH_DATA" \
        >"$OUT/serve-users-heavy.txt"
fi

# Private copies of the user lists: bench/serve_bench.sh rewrites the shared
# ones in place on every run, and a run meeting an emptied file fails.
for who in full heavy; do
    if [ ! -s "$OUT/replica-users-$who.txt" ] || [ "$OUT/replica-users-$who.txt" -ot "$OUT/serve-users-$who.txt" ]; then
        [ -s "$OUT/serve-users-$who.txt" ] && cp "$OUT/serve-users-$who.txt" "$OUT/replica-users-$who.txt.tmp" &&
            mv "$OUT/replica-users-$who.txt.tmp" "$OUT/replica-users-$who.txt"
    fi
done

# start_replica MODEL [ARGS...]: appends to PIDS and RPORTS.
RPORTS=""
start_replica() {
    model=$1
    shift
    k=$(echo $PIDS | wc -w)
    err="$OUT/replica-$k.err"
    : >"$err"
    "$RECO" serve --model "$model" --port 0 "$@" 2>"$err" &
    pid=$!
    i=0
    while ! grep -q "listening on" "$err"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$i" -gt 600 ]; then
            cat "$err" >&2
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    PIDS="$PIDS $pid"
    RPORTS="$RPORTS $(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p' "$err")"
}

stop_replicas() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS="" RPORTS=""
}

ticks() { # PIDS...: utime + stime summed, in clock ticks
    for p in "$@"; do cat "/proc/$p/stat"; done | awk '{ s += $14 + $15 } END { print s + 0 }'
}

# warm PORT USERS SECONDS: recommendations for those users (pages touched,
# caches filled), 4 connections.
warm() {
    BENCH_MODE=get BENCH_USERS="$2" wrk -t1 -c4 -d"$3"s -s "$LUA" "http://127.0.0.1:$1" >/dev/null 2>&1 || true
}

# one_run SETUP USERS PORT RUN PIDS...: one measured wrk run, a result line.
one_run() {
    setup=$1 who=$2 port=$3 run=$4
    shift 4
    users=${USERS_FILE:-$OUT/replica-users-$who.txt}
    BENCH_MODE=get BENCH_USERS="$users" wrk -t2 -c2 -d1s -s "$LUA" "http://127.0.0.1:$port" >/dev/null 2>&1 || true
    load=$(cut -d' ' -f1 /proc/loadavg)
    hapid=$(cat "$HA/haproxy.pid" 2>/dev/null || true)
    [ "$setup" != direct ] || hapid=
    r0=$(ticks "$@")
    h0=0
    [ -z "$hapid" ] || h0=$(ticks $hapid)
    BENCH_MODE=get BENCH_USERS="$users" /usr/bin/time -f "%U %S" -o "$OUT/replica-wrk.time" \
        wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:$port" \
        >"$OUT/replica-wrk.txt" 2>&1 || true
    r1=$(ticks "$@")
    h1=0
    [ -z "$hapid" ] || h1=$(ticks $hapid)
    wcpu=$(awk '{ print $1 + $2 }' "$OUT/replica-wrk.time")
    awk -v setup="$setup" -v who="$who" -v run="$run" -v rt=$((r1 - r0)) -v ht=$((h1 - h0)) \
        -v tick="$TICK" -v wcpu="$wcpu" -v load="$load" "$WRK_AWK"'
        END {
            printf "%-8s %-6s %d %9.0f %7.2f %7.2f %8.1f %8.1f %8.1f %6d %5s\n", setup, who, run, rps,
                   p50, p99, 1e6 * rt / tick / n, 1e6 * ht / tick / n, 1e6 * wcpu / n, bad + 0, load
        }' "$OUT/replica-wrk.txt"
}

# summarise RESULTS: medians and spreads (min-max) per setup and user set,
# over the runs in which every answer was a 2xx (the others are counted and
# left out: a run with failed requests measures the failures).
summarise() {
    SUM="$OUT/replica-summary.txt"
    {
        echo "# $1: median (min-max) over the runs without non-2xx answers"
        echo "setup    users   runs  req/s                p99 ms               reco us/req        haproxy us/req     wrk us/req"
        awk '!/^#/ && $1 != "setup" { print $1, $2 }' "$1" | sort -u | while read -r s w; do
            n=$(awk -v s="$s" -v w="$w" '$1 == s && $2 == w && $10 == 0' "$1" | wc -l)
            bad=$(awk -v s="$s" -v w="$w" '$1 == s && $2 == w && $10 != 0' "$1" | wc -l)
            line="$s $w $n"
            [ "$bad" -eq 0 ] || line="$line (+$bad left out)"
            for col in 4 6 7 8 9; do
                vals=$(awk -v s="$s" -v w="$w" -v c="$col" '$1 == s && $2 == w && $10 == 0 { print $c }' "$1")
                [ -n "$vals" ] || continue
                med=$(echo "$vals" | median)
                lo=$(echo "$vals" | sort -g | head -n 1)
                hi=$(echo "$vals" | sort -g | tail -n 1)
                line="$line $med ($lo-$hi)"
            done
            echo "$line"
        done
    } | tee "$SUM"
}

# PARTS=summary: the summary of an earlier throughput run (RESULTS, default
# $OUT/replica-throughput.txt) again.
if echo "$PARTS" | grep -qw summary; then
    summarise "${RESULTS:-$OUT/replica-throughput.txt}"
fi

if echo "$PARTS" | grep -qw throughput; then
    max=0
    for n in $REPLICAS; do [ "$n" -gt "$max" ] && max=$n; done
    sync
    for k in $(seq "$max"); do
        start_replica "$FULL" --map-model || { echo "replica_bench: a replica did not start" >&2; exit 1; }
    done
    for p in $RPORTS; do warm "$p" "$OUT/replica-users-full.txt" 2; done
    RES="$OUT/replica-throughput.txt"
    {
        echo "# replica_bench throughput: $(basename "$FULL") ($(stat -c %s "$FULL") bytes), $max replicas started (--map-model, default threads),"
        echo "# haproxy $(haproxy -v | head -n 1 | cut -d' ' -f3) roundrobin; wrk -t2 -c$CONNECTIONS -d$DURATION; $(nproc) cores, loopback; $(date -u +%Y-%m-%d)"
        echo "# cpu_us: CPU microseconds per request: reco (all replicas), haproxy, wrk"
        echo "setup    users  run     req/s  p50 ms  p99 ms  reco_us  hapx_us   wrk_us non2xx  load"
    } | tee "$RES"
    for run in $(seq "$RUNS"); do
        for who in full heavy; do
            set -- $PIDS
            one_run direct "$who" "$(echo $RPORTS | cut -d' ' -f1)" "$run" "$1" | tee -a "$RES"
            for n in $REPLICAS; do
                ports=$(echo $RPORTS | cut -d' ' -f1-"$n")
                pids=$(echo $PIDS | cut -d' ' -f1-"$n")
                # shellcheck disable=SC2086
                sh "$FRONT" start "$HA" 0 $ports >"$OUT/replica-haproxy.port" ||
                    { echo "replica_bench: haproxy did not start" >&2; exit 1; }
                # shellcheck disable=SC2086
                one_run "ha$n" "$who" "$(cat "$OUT/replica-haproxy.port")" "$run" $pids | tee -a "$RES"
                sh "$FRONT" stop "$HA"
            done
        done
    done
    stop_replicas
    summarise "$RES"
fi

# smaps SETUP: a line per running replica and their sums, in MB.
smaps() {
    for p in $PIDS; do
        awk -v p="$p" '/^Rss:/ { r = $2 } /^Pss:/ { ps = $2 } /^Anonymous:/ { a = $2 }
            /^Shared_Clean:/ { sc = $2 } END { print p, r, ps, sc, a }' "/proc/$p/smaps_rollup"
    done | awk -v s="$1" '{
            printf "%-26s pid %-8d Rss %6.0f MB  Pss %6.0f MB  Shared_Clean %6.0f MB  Anonymous %5.0f MB\n",
                   s, $1, $2 / 1024, $3 / 1024, $4 / 1024, $5 / 1024
            r += $2; ps += $3; a += $5
        }
        END { printf "%-26s total: Rss %.0f MB, Pss %.0f MB, Anonymous %.0f MB\n", s, r / 1024, ps / 1024, a / 1024 }' |
        tee -a "$MEM"
}

if echo "$PARTS" | grep -qw memory; then
    MEM="$OUT/replica-memory.txt"
    echo "# replica_bench memory: $(basename "$FULL") ($(stat -c %s "$FULL") bytes); after ${WARM} s of requests to each replica (random users)" | tee "$MEM"
    start_replica "$FULL" --map-model || exit 1
    for p in $RPORTS; do warm "$p" "$OUT/replica-users-full.txt" "$WARM"; done
    smaps "1 replica, mapped"
    for k in 2 3 4; do start_replica "$FULL" --map-model || exit 1; done
    for p in $RPORTS; do warm "$p" "$OUT/replica-users-full.txt" "$WARM"; done
    smaps "4 replicas, mapped"
    stop_replicas
    start_replica "$FULL" || exit 1
    # The private copy is made in the background after the start.
    port=$(echo $RPORTS)
    i=0
    while ! curl -s "http://127.0.0.1:$port/metrics" | grep -qx 'reco_model_private_copy 1' && [ "$i" -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    warm "$port" "$OUT/replica-users-full.txt" "$WARM"
    smaps "1 replica, private copy"
    stop_replicas
fi

if echo "$PARTS" | grep -qw sizes; then
    SIZES="$OUT/replica-sizes.txt"
    P0=${SIZE_SCALE:-50000}
    # The Electronics file's proportions: 4,201,696 users and 7,824,482
    # ratings for 476,002 products.
    U0=$((P0 * 4201696 / 476002))
    R0=$((P0 * 7824482 / 476002))
    echo "# replica_bench sizes: mf, 64 factors; products users ratings file_bytes anon_kB (a mapped replica after ${WARM} s of requests)" | tee "$SIZES"
    # Users alone cannot be doubled (every user has a rating): the last
    # point, all three doubled, fixes the users' term.
    for spec in "$P0 $U0 $R0" "$((2 * P0)) $U0 $R0" "$P0 $U0 $((2 * R0))" "$((2 * P0)) $((2 * U0)) $((2 * R0))"; do
        set -- $spec
        f="$OUT/sizes-$1-$2-$3"
        if [ ! -s "$f.reco" ]; then
            "$RECO" gen --quiet --seed 1 --items "$1" --users "$2" --ratings "$3" -o "$f.csv" &&
                "$RECO" train --quiet --algo mf --param factors=64 "$f.csv" -o "$f.reco" ||
                { echo "replica_bench: gen/train $spec failed" >&2; continue; }
            # Users to warm with: every 97th line's.
            awk -F, 'NR % 97 == 0 { print $1 }' "$f.csv" | head -n 5000 >"$f.users"
            rm -f "$f.csv"
        fi
        start_replica "$f.reco" --map-model || continue
        port=$(echo $RPORTS)
        curl -s "http://127.0.0.1:$port/v1/model" >"$f.json"
        warm "$port" "$f.users" "$WARM"
        anon=$(awk '/^Anonymous:/ { print $2 }' "/proc/$(echo $PIDS)/smaps_rollup")
        python3 -c 'import json,sys; m = json.load(open(sys.argv[1])); print(m["items"], m["users"], m["ratings"], m["file_bytes"], sys.argv[2])' \
            "$f.json" "$anon" | tee -a "$SIZES"
        stop_replicas
    done
    # Full size, measured the same way.
    start_replica "$FULL" --map-model || exit 1
    port=$(echo $RPORTS)
    curl -s "http://127.0.0.1:$port/v1/model" >"$OUT/sizes-full.json"
    warm "$port" "$OUT/replica-users-full.txt" "$WARM"
    anon=$(awk '/^Anonymous:/ { print $2 }' "/proc/$(echo $PIDS)/smaps_rollup")
    python3 -c 'import json,sys; m = json.load(open(sys.argv[1])); print(m["items"], m["users"], m["ratings"], m["file_bytes"], sys.argv[2], "(full size)")' \
        "$OUT/sizes-full.json" "$anon" | tee -a "$SIZES"
    stop_replicas
    # bytes = a + b*products + c*users + d*ratings, least squares over the
    # synthetic points; the full-size line is the check.
    python3 - "$SIZES" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l[0] != "#"]
fit = [r for r in rows if len(r) == 5]
full = [r for r in rows if len(r) > 5]
X = [[1.0, float(r[0]), float(r[1]), float(r[2])] for r in fit]
y = [float(r[3]) for r in fit]
# Normal equations, solved by Gaussian elimination with partial pivoting.
n = 4
A = [[sum(X[k][i] * X[k][j] for k in range(len(X))) for j in range(n)] +
     [sum(X[k][i] * y[k] for k in range(len(X)))] for i in range(n)]
for i in range(n):
    piv = max(range(i, n), key=lambda r: abs(A[r][i]))
    A[i], A[piv] = A[piv], A[i]
    for r in range(n):
        if r != i:
            f = A[r][i] / A[i][i]
            A[r] = [A[r][j] - f * A[i][j] for j in range(n + 1)]
coef = [A[i][n] / A[i][i] for i in range(n)]
a, b, c, d = coef
print("fit: file bytes = %.0f + %.1f * products + %.1f * users + %.1f * ratings" % (a, b, c, d))
for r in fit:
    p = a + b * float(r[0]) + c * float(r[1]) + d * float(r[2])
    print("  %s products %s users %s ratings: %s bytes, fit %.0f (%+.2f%%)" % (r[0], r[1], r[2], r[3], p, 100 * (p / float(r[3]) - 1)))
for r in full:
    p = a + b * float(r[0]) + c * float(r[1]) + d * float(r[2])
    print("check, full size: %s bytes measured, %.0f predicted (%+.2f%%)" % (r[3], p, 100 * (p / float(r[3]) - 1)))
    print("anonymous memory of a mapped replica: %s kB at full size" % r[4])
EOF
fi

if echo "$PARTS" | grep -qw cost; then
    COST="$OUT/replica-cost.txt"
    P0=${SIZE_SCALE:-50000}
    U0=$((P0 * 4201696 / 476002))
    R0=$((P0 * 7824482 / 476002))
    {
        echo "# replica_bench cost: one replica (--map-model), wrk -t2 -c$CONNECTIONS -d$DURATION straight at it, random users of each file"
        echo "products users  run     req/s  p50 ms  p99 ms  reco_us  hapx_us   wrk_us non2xx  load"
    } | tee "$COST"
    for run in $(seq "$RUNS"); do
        for m in "$OUT/sizes-$P0-$U0-$R0" "$OUT/sizes-$((2 * P0))-$((2 * U0))-$((2 * R0))" full; do
            if [ "$m" = full ]; then
                model=$FULL users=$OUT/replica-users-full.txt
            else
                model=$m.reco users=$m.users
            fi
            [ -s "$model" ] && [ -s "$users" ] || { echo "replica_bench: $model or $users missing (run PARTS=sizes)" >&2; continue; }
            start_replica "$model" --map-model || continue
            port=$(echo $RPORTS)
            warm "$port" "$users" 2
            items=$(curl -s "http://127.0.0.1:$port/v1/model" | sed -n 's/.*"items":\([0-9]*\).*/\1/p')
            USERS_FILE=$users one_run "$items" random "$port" "$run" $PIDS | tee -a "$COST"
            stop_replicas
        done
    done
fi

if echo "$PARTS" | grep -qw reload; then
    RL="$OUT/replica-reload.txt"
    secs=${RELOAD_SECONDS:-40}
    for k in 1 2 3 4; do start_replica "$FULL" --map-model || exit 1; done
    for p in $RPORTS; do warm "$p" "$OUT/replica-users-full.txt" 2; done
    # shellcheck disable=SC2086
    fport=$(sh "$FRONT" start "$HA" 0 $RPORTS) || { echo "replica_bench: haproxy did not start" >&2; exit 1; }
    {
        echo "# replica_bench reload: 4 replicas (--map-model) of $(basename "$FULL") behind haproxy; wrk -t2 -c$CONNECTIONS -d${secs}s, random users; a rolling reload 5 s in"
        echo "case     run     req/s  p50 ms  p99 ms  non2xx  reload_s  load"
    } | tee "$RL"
    for run in $(seq "$RUNS"); do
        for case in steady reload; do
            load=$(cut -d' ' -f1 /proc/loadavg)
            BENCH_MODE=get BENCH_USERS="$OUT/replica-users-full.txt" wrk -t2 -c"$CONNECTIONS" -d"${secs}s" \
                --latency -s "$LUA" "http://127.0.0.1:$fport" >"$OUT/replica-wrk.txt" 2>&1 &
            wpid=$!
            took=-
            if [ "$case" = reload ]; then
                sleep 5
                t0=$(date +%s.%N)
                sh "$FRONT" rolling-reload "$HA" >"$OUT/replica-reload.out" 2>&1 ||
                    { echo "replica_bench: the rolling reload failed:" >&2; cat "$OUT/replica-reload.out" >&2; }
                took=$(echo "$t0 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
            fi
            wait "$wpid" || true
            awk -v c="$case" -v run="$run" -v took="$took" -v load="$load" "$WRK_AWK"'
                END { printf "%-8s %d %9.0f %7.2f %7.2f %7d %9s %5s\n", c, run, rps, p50, p99, bad + 0, took, load }
            ' "$OUT/replica-wrk.txt" | tee -a "$RL"
        done
    done
    sh "$FRONT" stop "$HA"
    stop_replicas
fi
