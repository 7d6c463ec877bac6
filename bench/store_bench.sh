#!/bin/sh
# Serving from PostgreSQL (reco serve --store, issue 12), on a throwaway
# cluster (scripts/pg_cluster.sh; the server's defaults but fsync=off, as
# every test cluster here, see below) and a small model trained on
# data/sample.csv:
#
# 1. Write throughput: acknowledged single-rating POSTs per second through
#    one --store server, `wrk -t2 -c$CONNS -d${SECS}s` (bench/serve_bench.lua,
#    post mode: random users and products of the sample), RUNS runs, the
#    server with --threads $THREADS (default 32: a writer waits on the
#    database, not a core, and group commit gathers the writers that wait
#    together; with one thread per core there are only 2 of them); the
#    acknowledged count is wrk's requests less its non-2xx answers, checked
#    against the rows the table gained. Target: >= 2,000/s.
# 2. Visibility: two replicas on one table; N ratings posted one at a time
#    to replica A, each looked for on replica B every millisecond from A's
#    acknowledgement on (bench/store_visibility.py): p50, p90, p99, max.
#    Once idle, once while wrk posts to A at full speed. Target: p99 <= 1 s.
#
# PG_FSYNC=on runs the cluster with fsync on (the machine's disk then
# bounds the commit rate; the tests and default runs use fsync=off because
# the throwaway cluster's disk is shared and noisy).
. "$(dirname "$0")/common.sh"
. "$ROOT/scripts/pg_cluster.sh"
. "$ROOT/scripts/reco_serve.sh"
RUNS=${RUNS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-64}
N=${N:-1000}
THREADS=${THREADS:-32}
command -v wrk >/dev/null || { echo "store_bench: no wrk (Debian: wrk)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "store_bench: no python3" >&2; exit 1; }
pg_find_bin || { echo "store_bench: no initdb/pg_ctl/psql (Debian: postgresql)" >&2; exit 1; }
SERVE_DIR=$(mktemp -d)
trap 'serve_stop_all; pg_cluster_stop; rm -rf "$SERVE_DIR"' EXIT
[ "${PG_FSYNC:-off}" = on ] && PG_SERVER_OPTS="-c fsync=on"
pg_cluster_start
"$RECO" train --quiet data/sample.csv -o "$SERVE_DIR/m.reco" 2>/dev/null ||
    "$RECO" train --quiet "$ROOT/data/sample.csv" -o "$SERVE_DIR/m.reco"
cut -d, -f1 "$ROOT/data/sample.csv" | sort -u >"$SERVE_DIR/users"
cut -d, -f2 "$ROOT/data/sample.csv" | sort -u >"$SERVE_DIR/items"
export BENCH_USERS="$SERVE_DIR/users" BENCH_ITEMS="$SERVE_DIR/items" BENCH_MODE=post
STORE='postgresql:///shop?table=bench_log'
echo "machine: $(nproc) cores; PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), fsync=${PG_FSYNC:-off}; reco serve --threads $THREADS; wrk -t2 -c$CONNS -d${SECS}s, $RUNS runs"

serve_start a "$SERVE_DIR/m.reco" --store "$STORE" --threads "$THREADS" || { cat "$SERVE_DIR/a.err"; exit 1; }
A=$SERVE_PORT
: >"$SERVE_DIR/rates"
i=0
while [ "$i" -lt "$RUNS" ]; do
    i=$((i + 1))
    before=$(pg_psql -At -c "SELECT count(*) FROM bench_log")
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$ROOT/bench/serve_bench.lua" "http://127.0.0.1:$A" \
        >"$SERVE_DIR/wrk.out" 2>&1
    after=$(pg_psql -At -c "SELECT count(*) FROM bench_log")
    reqs=$(awk '/requests in/ {print $1}' "$SERVE_DIR/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$SERVE_DIR/wrk.out")
    secs=$(awk '/requests in/ {sub(/s,/, "", $4); print $4}' "$SERVE_DIR/wrk.out")
    acked=$((reqs - ${non2xx:-0}))
    rate=$(echo "$acked / $secs" | bc -l)
    p99=$(awk '/ 99%/ {print $2}' "$SERVE_DIR/wrk.out")
    printf 'run %d: %d acknowledged in %ss = %.0f/s (non-2xx %d; rows added %d; latency p99 %s)\n' \
        "$i" "$acked" "$secs" "$rate" "${non2xx:-0}" "$((after - before))" "$p99"
    echo "$rate" >>"$SERVE_DIR/rates"
done
commits=$(curl -s "http://127.0.0.1:$A/metrics" | awk '/^reco_store_commits_total/ {print $2}')
rows=$(pg_psql -At -c "SELECT count(*) FROM bench_log")
printf 'acknowledged POSTs/s: median %.0f, min %.0f, max %.0f; %d rows in %d transactions (%.1f rows per COMMIT)\n' \
    "$(median <"$SERVE_DIR/rates")" "$(sort -g "$SERVE_DIR/rates" | head -n 1)" \
    "$(sort -g "$SERVE_DIR/rates" | tail -n 1)" "$rows" "$commits" "$(echo "$rows / $commits" | bc -l)"

serve_start b "$SERVE_DIR/m.reco" --store "$STORE" --threads "$THREADS" || { cat "$SERVE_DIR/b.err"; exit 1; }
B=$SERVE_PORT
pct() { # P FILE: the P-th percentile (nearest rank) of the numbers in FILE
    sort -g "$2" | awk -v p="$1" '{a[NR]=$1} END {r=int(p*NR/100+0.999999); if (r<1) r=1; printf "%.1f", a[r]*1000}'
}
for load in idle loaded; do
    if [ "$load" = loaded ]; then
        wrk -t1 -c16 -d600s -s "$ROOT/bench/serve_bench.lua" "http://127.0.0.1:$A" >/dev/null 2>&1 &
        WRK=$!
        sleep 1
    fi
    python3 "$ROOT/bench/store_visibility.py" "$A" "$B" "$N" "vis-$load" >"$SERVE_DIR/vis.$load" ||
        exit 1
    if [ "$load" = loaded ]; then
        kill "$WRK"
        wait "$WRK" 2>/dev/null || true
    fi
    printf 'visibility on B after A acknowledged, %s, %d ratings: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n' \
        "$load" "$(wc -l <"$SERVE_DIR/vis.$load")" "$(pct 50 "$SERVE_DIR/vis.$load")" \
        "$(pct 90 "$SERVE_DIR/vis.$load")" "$(pct 99 "$SERVE_DIR/vis.$load")" \
        "$(pct 100 "$SERVE_DIR/vis.$load")"
done
