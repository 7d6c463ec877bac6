#!/bin/sh
# Request-time rules: a filtered top-10 (category of 20% + exclude list of
# 100 + 5% hidden) against an unfiltered one on the full-size mf model (64
# factors, the model bench/model_load.sh caches), random users and users
# with >= 50 ratings. Target (issue 11): <= 1.5x. Environment: USERS (2000).
. "$(dirname "$0")/common.sh"
BUILD=${BUILD:-$(dirname "$RECO")}
DRIVER=$OUT/filter_bench
build_driver "$ROOT/bench/filter_bench.c" "$DRIVER"
ensure_data
MODEL=$OUT/full_mf64.model
if [ ! -s "$MODEL" ]; then
    "$RECO" train --quiet --algo mf --param factors=64 -o "$MODEL" "$BENCH_DATA"
fi
"$DRIVER" "$MODEL" "${USERS:-2000}"
