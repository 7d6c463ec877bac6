#!/bin/sh
# Ingest benchmark: median wall time and peak memory of `reco stats` on the
# full-size synthetic Electronics file (parse, intern, de-duplicate, CSR and
# CSC), with and without --min-user-ratings 50.
# Targets (2 cores): <= 2.5 s median, <= 1.5 GB peak.
. "$(dirname "$0")/common.sh"
RUNS=${RUNS:-5}
ensure_data
echo "file: $BENCH_DATA ($(wc -c <"$BENCH_DATA") bytes), $RUNS runs each, $(nproc) cores"
set -- $(run_timed "$RUNS" "$RECO" stats --quiet "$BENCH_DATA")
echo "reco stats                        median ${1} s   peak ${2} MB"
set -- $(run_timed "$RUNS" "$RECO" stats --quiet --min-user-ratings 50 "$BENCH_DATA")
echo "reco stats --min-user-ratings 50  median ${1} s   peak ${2} MB"
