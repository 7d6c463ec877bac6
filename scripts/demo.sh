#!/bin/sh
# The main job on a rating file: statistics of the data.
# Usage: scripts/demo.sh RECO_BINARY RATINGS_FILE
set -eu
RECO=${1:?usage: demo.sh RECO RATINGS}
DATA=${2:?usage: demo.sh RECO RATINGS}
echo "== reco stats $DATA"
"$RECO" stats "$DATA"
