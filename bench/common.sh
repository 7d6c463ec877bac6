# Shared helpers for the benchmark scripts (sourced).
# RECO: the reco binary (default build/reco). BENCH_DATA: where the full-size
# synthetic file lives (default bench/out/electronics.csv), made once.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RECO=${RECO:-$ROOT/build/reco}
OUT=${BENCH_OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
BENCH_DATA=${BENCH_DATA:-$OUT/electronics.csv}

ensure_data() {
    if [ ! -s "$BENCH_DATA" ]; then
        echo "generating $BENCH_DATA (reco gen --preset electronics)..." >&2
        "$RECO" gen --preset electronics --seed 1 -o "$BENCH_DATA.tmp" --quiet
        mv "$BENCH_DATA.tmp" "$BENCH_DATA"
    fi
}

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# run_timed N CMD...: runs CMD N times; prints "median_wall_s max_peak_MB"
run_timed() {
    n=$1; shift
    : >"$OUT/.times"
    i=0
    while [ "$i" -lt "$n" ]; do
        /usr/bin/time -f "%e %M" -o "$OUT/.t1" "$@" >/dev/null
        cat "$OUT/.t1" >>"$OUT/.times"
        i=$((i + 1))
    done
    w=$(cut -d' ' -f1 "$OUT/.times" | median)
    m=$(cut -d' ' -f2 "$OUT/.times" | sort -n | tail -1)
    echo "$w $((m / 1024))"
}

# build_driver SRC OUT: compiles a C benchmark driver against the build's
# libreco.a (BUILD: the build directory, default the reco binary's), with
# the libraries libreco.a needs (libpq when it was built with it).
build_driver() {
    # shellcheck disable=SC2046
    cc -std=c17 -O2 -fopenmp -D_GNU_SOURCE -I"$ROOT/include" "$1" \
        "${BUILD:-$(dirname "$RECO")}/libreco.a" \
        $(pkg-config --cflags --libs openblas lapacke jansson arpack) \
        $(pkg-config --libs libpq 2>/dev/null || true) -lm -o "$2"
}

# The fields of a `wrk --latency` report, for an awk program to follow
# with its END: rps, p50 and p99 (ms), n (requests), bad (non-2xx
# answers), err (the socket errors line, or empty).
# shellcheck disable=SC2016
WRK_AWK='
    function ms(v) {
        if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
        if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
        if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
        return v
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /requests in/ { n = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /Socket errors:/ { err = $0; sub(/.*Socket errors: /, "", err) }
'
