#!/bin/sh
# Similar products (the chain co_rated -> factors -> co_customers ->
# popular), with the small driver bench/similar_bench.c compiled here
# against libreco.a:
#  - quality on MovieLens 100K: precision@10 and popularity-weighted IPS of
#    each source alone, of the whole chain, and of the factors source of
#    svd, mf and ials for similar.min_support from 1 to 50, on a validation
#    split of u1.base (time:0.2: how the default of 10 was chosen) and then
#    u1.base against the held-out u1.test (docs/algorithms.md);
#  - speed on the full-size synthetic Electronics file: CPU time of
#    reco_model_similar (n = 10) for 2,000 random products with itemcf (its
#    own table), popular (co-ratings computed per request) and mf (factor
#    index) (target: median well under a few ms);
#  - QUALITY_ELECTRONICS=1 adds the quality report of ials on that file
#    (1,000 products, about a minute more).
. "$(dirname "$0")/common.sh"
BUILD=${BUILD:-$(dirname "$RECO")}
SHARED=${RECO_SHARED_DATA:-$ROOT/../shared/data}
DRIVER=$OUT/similar_bench

build_driver "$ROOT/bench/similar_bench.c" "$DRIVER"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
S=$SHARED/ml-100k/splits
if [ -s "$S/u1.test" ]; then
    for algo in svd mf ials; do
        "$DRIVER" quality "$S/u1.base" time:0.2 "$algo" threads=2
        "$DRIVER" quality "$S/u1.base" "test:$S/u1.test" "$algo" threads=2
    done
else
    echo "MovieLens 100K not found under $SHARED: quality skipped"
fi

ensure_data
for algo in itemcf popular mf; do
    "$DRIVER" latency "$BENCH_DATA" "$algo" 2000 threads=2
done
if [ "${QUALITY_ELECTRONICS:-0}" = 1 ]; then
    SIMILAR_BENCH_PRODUCTS=1000 "$DRIVER" quality "$BENCH_DATA" time:0.2 ials threads=2
fi
