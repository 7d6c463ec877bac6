#!/usr/bin/env bash
# Benchmarks of the "svd" recommender (figures, not pass/fail):
#   1. k = 50 on the >= 50-ratings subset of the full-size synthetic file
#      (about 1,540 users x 48k products, 126k ratings); target <= 0.5 s
#      (SciPy's svds: 0.3 s).
#   2. k = 20 on the full file (4.2M users x 476k products, 7.8M ratings);
#      target <= 30 s.
#   3. 5-fold RMSE on MovieLens 100K for the modes that predict ratings
#      (baseline, usermean, notebook; pure only ranks), when
#      ../shared/data is there.
#
# Usage: bench/svd_bench.sh [BUILD_DIR] [FILE]
#   BUILD_DIR  a configured build holding libreco.a (default: build-svd,
#              then build)
#   FILE       the synthetic file (default: $BENCH_DATA or bench/out/electronics.csv; made with
#              `reco gen --preset electronics` when missing, or by the
#              driver's own generator if `reco` is not built)
# Environment: SVD_BENCH_REPS (fits per figure, median and min..max
# reported; default 3),
# OMP_NUM_THREADS as usual.
#
# Timings are wall-clock fits including the baseline; the driver also
# prints the CPU time and the load average, because on a shared machine
# (load above the core count) wall time says more about the neighbours.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-}"
if [[ -z "$build" ]]; then
    for b in "$root/build" "$root/build-svd"; do
        [[ -f "$b/libreco.a" ]] && { build="$b"; break; }
    done
fi
file="${2:-${BENCH_DATA:-$root/bench/out/electronics.csv}}"
mkdir -p "$(dirname "$file")"
[[ -f "$build/libreco.a" ]] || { echo "no libreco.a in '$build' (build first)" >&2; exit 1; }

bin="$build/svd_bench"
# shellcheck disable=SC2046
gcc -std=c17 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp -I"$root/include" \
    "$root/bench/svd_bench.c" "$build/libreco.a" \
    $(pkg-config --libs jansson openblas lapacke arpack plplot) -lm -lpthread -o "$bin"

if [[ ! -f "$file" ]]; then
    if [[ -x "$build/reco" ]]; then
        echo "generating $file with reco gen --preset electronics"
        "$build/reco" gen --preset electronics -o "$file"
    else
        echo "generating $file with the driver's generator"
        "$bin" gen "$file"
    fi
fi

echo "== svd k=50 on the >= 50-ratings subset (target <= 0.5 s; SciPy svds 0.3 s)"
"$bin" time "$file" 50 k=50
echo
echo "== svd k=20 on the full file (target <= 30 s)"
SVD_BENCH_REPS="${SVD_BENCH_REPS_FULL:-1}" "$bin" time "$file" 0 k=20
echo

splits="$root/../shared/data/ml-100k/splits"
if [[ -f "$splits/u1.base" ]]; then
    for mode in baseline usermean notebook; do
        echo "== MovieLens 100K, 5 folds, mode=$mode"
        "$bin" folds "$splits" mode="$mode"
        echo
    done
else
    echo "(MovieLens 100K not found under $splits: accuracy skipped)"
fi
