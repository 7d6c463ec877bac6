#!/bin/sh
# Ranking benchmark: the implicit-feedback models (ials, ease), the default
# model and the bestseller list (popular by number of ratings).
#  - accuracy on MovieLens 100K u1..u5 (top 10 among products not rated in
#    training, relevant = test rating >= 4), every algorithm on the same
#    folds, and the rating error of the default's predictions;
#  - accuracy on the Electronics head (real ratings) and on the full-size
#    synthetic file, --split time:0.2, ranking every eligible user;
#  - speed: ials fit (64 factors, 15 iterations) on the full-size file,
#    median of RUNS; the whole ials evaluation (fit on 80%, rank every
#    eligible user); ease's fit on MovieLens 100K;
#  - serving: top-10 latency per request from ials and mf models, random
#    and heaviest users, trained and folded in, with a cold page cache
#    (when it can be dropped: root) and warm (bench/topn_bench.c).
# Figures only: nothing here is a pass/fail test. RUNS=N (default 3).
. "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}
BUILD=${BUILD:-$(dirname "$RECO")}
SHARED=${RECO_SHARED_DATA:-$ROOT/../shared/data}
DRIVER=$OUT/topn_bench

build_driver "$ROOT/bench/topn_bench.c" "$DRIVER"

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

ML=$SHARED/ml-100k/splits
if [ -s "$ML/u5.test" ]; then
    set --
    for k in 1 2 3 4 5; do set -- "$@" --train "$ML/u$k.base" --test "$ML/u$k.test"; done
    echo
    echo "== MovieLens 100K, u1..u5, default parameters of every algorithm"
    "$RECO" eval --quiet --algo popular,mf,svd,ials,ease,default --param svd.mode=pure "$@" |
        sed -n '/^algorithm/,$p'
    echo
    echo "== ease fit on MovieLens 100K u1.base ($RUNS runs)"
    : >"$OUT/.ease_fit"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        "$RECO" train --json --quiet --algo ease -o "$OUT/ease.model" "$ML/u1.base" |
            sed -n 's/.*"fit_seconds": *\([0-9.]*\).*/\1/p' >>"$OUT/.ease_fit"
        i=$((i + 1))
    done
    echo "fit (baseline + popularity + ease)  median $(median <"$OUT/.ease_fit") s  (target <= 1 s)"
else
    echo "MovieLens 100K not found under $SHARED: skipped"
fi

HEAD=$SHARED/electronics-head/ratings_Electronics_head.csv
if [ -s "$HEAD" ]; then
    echo
    echo "== Electronics head (real ratings), --split time:0.2"
    "$RECO" eval --quiet --split time:0.2 --algo popular,ials,ease,default "$HEAD" |
        sed -n '/^ranking/p;/^algorithm/,$p'
fi

ensure_data
echo
echo "== full-size synthetic file $BENCH_DATA ($(wc -l <"$BENCH_DATA") ratings)"
echo "ials fit, 64 factors, 15 iterations ($RUNS runs):"
: >"$OUT/.ials_fit"
i=0
while [ "$i" -lt "$RUNS" ]; do
    "$RECO" train --json --quiet --algo ials -o "$OUT/ials.model" "$BENCH_DATA" |
        sed -n 's/.*"fit_seconds": *\([0-9.]*\).*/\1/p' >>"$OUT/.ials_fit"
    i=$((i + 1))
done
echo "fit (baseline + popularity + ials)  median $(median <"$OUT/.ials_fit") s, all: $(tr '\n' ' ' <"$OUT/.ials_fit")(target <= 30 s)"
# shellcheck disable=SC2046
set -- $(run_timed 1 "$RECO" eval --quiet --split time:0.2 --algo ials "$BENCH_DATA")
echo "reco eval --split time:0.2 --algo ials, every eligible user: ${1} s wall, peak ${2} MB (target <= 120 s)"
"$RECO" eval --quiet --split time:0.2 --algo popular,ials,default "$BENCH_DATA" |
    sed -n '/^ranking/p;/^algorithm/,$p'

echo
echo "== serving: top 10 per request, one thread"
"$RECO" train --quiet --algo mf --param factors=64 -o "$OUT/mf.model" "$BENCH_DATA"
for model in "$OUT/ials.model" "$OUT/mf.model"; do
    if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
        echo "(page cache dropped: the first pass reads the model from disk)"
    else
        echo "(page cache not dropped, not root: both passes are warm)"
    fi
    "$DRIVER" "$model" 2000
done
rm -f "$OUT/ease.model"
