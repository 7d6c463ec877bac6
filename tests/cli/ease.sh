#!/bin/bash
# The "ease" algorithm through the command line on the bundled sample:
# eval, train + recommend (with "because"), similar, predict (the baseline),
# parameters, and the memory limit refused with the sizes named (and left
# out of --algo all rather than stopping it).
. "$(dirname "$0")/lib.sh"

SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
U=A1AVNM6RW79HZ5
I=0227659162

expect_status 0 "$RECO" eval --quiet --json --algo ease --split random:0.2 "$SAMPLE"
expect_contains "$OUT" '"algorithm": "ease"'
expect_contains "$(flat "$OUT")" '"params":{"lambda":500,"min_rating":"none","max_memory":"4G","precision":"float","threads":0}'
expect_contains "$OUT" '"ndcg":'

# train accepts the key with or without the algorithm's prefix.
expect_status 0 "$RECO" train --algo ease --param lambda=300 --param ease.max_memory=64M \
    "$SAMPLE" -o "$TMP/e.model"
expect_contains "$OUT" "trained ease (lambda=300 min_rating=none max_memory=64M"
expect_status 0 "$RECO" recommend "$TMP/e.model" --user "$U" -n 5 --json
expect_contains "$OUT" '"algorithm": "ease"'
expect_contains "$OUT" '"cold_start": false'
expect_contains "$OUT" '"because": ['
for rated in $(grep "^$U," "$SAMPLE" | cut -d, -f2); do
    case "$OUT" in *"\"item\": \"$rated\""*) fail "ease recommended rated product $rated" ;; esac
done
expect_status 0 "$RECO" recommend "$TMP/e.model" --user "$U" -n 3
expect_contains "$OUT" "because you rated"
expect_status 0 "$RECO" similar "$TMP/e.model" --item "$I" -n 3 --json
expect_contains "$OUT" '"items": ['
case "$OUT" in *"\"item\": \"$I\""*"\"item\": \"$I\""*) fail "ease lists the item itself as similar" ;; esac
# Not a rating model: the baseline predicts, within the rating range.
expect_status 0 "$RECO" predict "$TMP/e.model" --user "$U" --item "$I"
awk -v p="$OUT" 'BEGIN { exit !(p >= 1 && p <= 5) }' || fail "ease prediction $OUT out of range"
expect_status 0 "$RECO" recommend "$TMP/e.model" --user somebody-new --json
expect_contains "$OUT" '"cold_start": true'

# The memory limit: refused before fitting, naming the sizes and what to do.
expect_status 1 "$RECO" train --algo ease --param ease.max_memory=1000 "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" "ease needs 15.3 MiB for 2,000 products"
expect_contains "$ERR" "limit 1000 B"
expect_contains "$ERR" "--param ease.max_memory=SIZE"
expect_contains "$ERR" "--min-item-ratings"
[ -e "$TMP/x.model" ] && fail "a refused fit wrote a model file"
expect_status 1 "$RECO" eval --algo ease --param ease.max_memory=1000 "$SAMPLE"
expect_contains "$ERR" "products (4 bytes x products^2; limit 1000 B"
# With --algo all (the default) a model too big for the data is left out
# with a warning instead of stopping the comparison.
expect_status 0 "$RECO" eval --param ease.max_memory=1000 --param mf.epochs=2 "$SAMPLE"
expect_contains "$ERR" "warning: ease left out: ease needs"
expect_contains "$OUT" "itemcf"
case "$OUT" in *"ease "*) fail "eval --algo all printed a row for the refused ease" ;; esac

# Bad parameters are usage errors naming the parameter and its range.
expect_status 2 "$RECO" train --algo ease --param lambda=0 "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" "ease.lambda wants a number in (0, 1e9]"
expect_status 2 "$RECO" train --algo ease --param max_memory=lots "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" "ease.max_memory wants a size"
expect_status 2 "$RECO" eval --algo ease --param ease.nosuch=1 "$SAMPLE"
expect_contains "$ERR" "unknown parameter ease.nosuch"
finish
