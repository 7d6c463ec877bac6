#!/bin/sh
# The main job on a rating file: statistics, a trained model, a sample
# recommendation, then the REST API on localhost until Ctrl-C.
# Usage: scripts/demo.sh RECO_BINARY RATINGS_FILE [OUTDIR]
set -eu
RECO=${1:?usage: demo.sh RECO RATINGS [OUTDIR]}
DATA=${2:?usage: demo.sh RECO RATINGS [OUTDIR]}
OUT=${3:-build/demo}
PORT=${PORT:-8080}
ALGO=${ALGO:-default}
mkdir -p "$OUT"

echo "== reco stats $DATA"
"$RECO" stats --quiet "$DATA"
echo
echo "== reco train --algo $ALGO $DATA -o $OUT/model.reco"
"$RECO" train --algo "$ALGO" "$DATA" -o "$OUT/model.reco"
USER_ID=$(head -n 1 "$DATA" | cut -d, -f1)
ITEM_ID=$(head -n 1 "$DATA" | cut -d, -f2)
echo
echo "== reco recommend $OUT/model.reco --user $USER_ID -n 5"
"$RECO" recommend "$OUT/model.reco" --user "$USER_ID" -n 5
echo
echo "== reco serve on http://127.0.0.1:$PORT (Ctrl-C to stop)."
echo "   Open http://127.0.0.1:$PORT/ in a browser for the console (docs/console.md), or try:"
echo "   curl 'http://127.0.0.1:$PORT/v1/users/$USER_ID/recommendations?n=5'"
echo "   curl 'http://127.0.0.1:$PORT/v1/items/$ITEM_ID/similar?n=5'"
echo "   curl -X POST -H 'Content-Type: application/json' \\"
echo "        -d '{\"user\": \"$USER_ID\", \"item\": \"$ITEM_ID\", \"rating\": 5}' \\"
echo "        http://127.0.0.1:$PORT/v1/ratings"
echo "   curl http://127.0.0.1:$PORT/metrics"
exec "$RECO" serve --model "$OUT/model.reco" --ratings-log "$OUT/ratings.log" --create-ratings-log --port "$PORT"
