#!/bin/sh
# reco explore benchmark: median wall time and peak memory of the whole
# report (load, statistics, 7 charts as PNG and SVG, stats.json, index.html)
# on the full-size synthetic Electronics file, next to `reco stats` on the
# same file (the load alone), so that the report's own cost shows.
# Target (2 cores): <= 15 s wall for the whole report. A report, not a test:
# on a loaded machine the figures grow; the load average is printed.
. "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}
ensure_data
echo "file: $BENCH_DATA ($(wc -c <"$BENCH_DATA") bytes), $RUNS runs each, $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
set -- $(run_timed "$RUNS" "$RECO" stats --quiet "$BENCH_DATA")
load_s=$1
echo "reco stats (load only)   median ${1} s   peak ${2} MB"
set -- $(run_timed "$RUNS" "$RECO" explore --quiet "$BENCH_DATA" -o "$OUT/explore")
echo "reco explore (report)    median ${1} s   peak ${2} MB   target <= 15 s"
echo "report beyond the load   $(echo "$1 $load_s" | awk '{printf "%.2f", $1 - $2}') s" \
     "(statistics, 14 chart files, stats.json, index.html in $OUT/explore)"
# CPU time does not grow with other processes' load: one more run of each.
cpu() { /usr/bin/time -f "%U %S" -o "$OUT/.t1" "$@" >/dev/null && awk '{printf "%.2f", $1 + $2}' "$OUT/.t1"; }
echo "cpu (user+sys)           stats $(cpu "$RECO" stats --quiet "$BENCH_DATA") s," \
     "explore $(cpu "$RECO" explore --quiet "$BENCH_DATA" -o "$OUT/explore") s"
