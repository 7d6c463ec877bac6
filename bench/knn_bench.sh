#!/bin/sh
# Neighbourhood recommenders ("usercf", "itemcf") benchmark, with the small
# driver bench/knn_bench.c compiled here against libreco.a:
#  - accuracy: mean test RMSE (and top-10 precision/recall against test
#    ratings >= 4) over the MovieLens 100K splits u1..u5 with the default
#    parameters (targets: usercf <= 0.95, itemcf <= 0.94; Surprise gets
#    0.931 with KNNBaseline, 0.980 with KNNBasic);
#  - speed on the full-size synthetic Electronics file: itemcf's neighbour
#    table (K = 50) for every product (target <= 30 s on 2 cores), and
#    usercf's top-10 for 200 random users with >= 5 ratings (target: median
#    <= 50 ms);
#  - top-N quality on that file: leave-one-out hit rate @10 for 5,000 users
#    (HITRATE=0 skips it; it refits each model, a few minutes in all).
# The driver reports CPU time next to wall time: CPU time is the work, wall
# time grows when other processes share the cores (load average printed).
. "$(dirname "$0")/common.sh"
BUILD=${BUILD:-$(dirname "$RECO")}
SHARED=${RECO_SHARED_DATA:-$ROOT/../shared/data}
DRIVER=$OUT/knn_bench

build_driver "$ROOT/bench/knn_bench.c" "$DRIVER"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$SHARED/ml-100k/splits/u5.test" ]; then
    for algo in usercf itemcf; do
        echo "MovieLens 100K, $algo, default parameters:"
        "$DRIVER" accuracy "$SHARED/ml-100k/splits" "$algo"
    done
    echo "MovieLens 100K, itemcf centered=false (ranks better, predicts worse):"
    "$DRIVER" accuracy "$SHARED/ml-100k/splits" itemcf centered=false | tail -1
else
    echo "MovieLens 100K not found under $SHARED: accuracy skipped"
fi

ensure_data
echo "Electronics-size file: $BENCH_DATA"
echo "itemcf neighbour table, K = 50 (target <= 30 s):"
"$DRIVER" table "$BENCH_DATA" | tail -1
"$DRIVER" table "$BENCH_DATA" centered=false | tail -1
echo "usercf recommendations (target: median <= 50 ms):"
"$DRIVER" recommend "$BENCH_DATA" usercf 200 | tail -3
"$DRIVER" recommend "$BENCH_DATA" usercf 200 centered=false | tail -3
echo "itemcf recommendations:"
"$DRIVER" recommend "$BENCH_DATA" itemcf 200 | tail -3
if [ "${HITRATE:-1}" = 1 ]; then
    echo "leave-one-out HR@10, 5,000 users with >= 5 ratings:"
    for spec in "popular" "usercf" "usercf centered=false" "itemcf" "itemcf centered=false"; do
        # shellcheck disable=SC2086
        set -- $spec
        algo=$1
        shift
        "$DRIVER" hitrate "$BENCH_DATA" "$algo" 5000 "$@" | tail -1 |
            sed 's/: leave-one-out.*: /: /'
    done
fi
