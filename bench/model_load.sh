#!/bin/sh
# Model-file load time: an mf model (64 factors) of the full-size synthetic
# Electronics file (4.2M users, 476k products), loaded by mapping it and
# checking every byte against its checksum. Target: <= 200 ms. Warm (file
# in the page cache) and, as root, cold (page cache dropped before each
# load: 3 runs). Warm runs also time the private copy reco serve makes after
# the load, in the background. Environment: RUNS (7), MODE (warm, cold or both).
. "$(dirname "$0")/common.sh"
BUILD=${BUILD:-$(dirname "$RECO")}
DRIVER=$OUT/model_load
build_driver "$ROOT/bench/model_load.c" "$DRIVER"
ensure_data
MODEL=$OUT/full_mf64.model
if [ ! -s "$MODEL" ] || [ "$MODEL" -ot "$RECO" ]; then
    "$RECO" train --quiet --algo mf --param factors=64 -o "$MODEL" "$BENCH_DATA"
fi
"$DRIVER" "$MODEL" "${RUNS:-7}" "${MODE:-both}"
