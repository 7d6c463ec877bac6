#!/bin/bash
# The recommended model through the command line on the bundled sample:
# `reco train` without --algo builds it and says which ranker it chose and
# why; recommend gives the ranker's scores with mf's predicted ratings;
# predict is mf's; the model file answers the same after a reload; eval
# runs the whole procedure; ials through the CLI; bad parameters exit 2.
. "$(dirname "$0")/lib.sh"

SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
U=A1AVNM6RW79HZ5
I=0227659162

expect_status 0 "$RECO" train "$SAMPLE" -o "$TMP/d.model"
expect_contains "$OUT" "trained default (rankers=ials,ials:min_rating=4,ease,ease:min_rating=4,popular blend=auto"
expect_contains "$OUT" "ranker: "
expect_contains "$OUT" "validation split of the training data: ials "
expect_contains "$OUT" "training RMSE "

expect_status 0 "$RECO" train --json --quiet --param rankers=ials,popular --param ials.factors=16 \
    --param mf.factors=20 "$SAMPLE" -o "$TMP/d2.model"
expect_contains "$OUT" '"algorithm": "default"'
expect_contains "$OUT" '"ranker": {'
expect_contains "$OUT" '"candidates": ['
expect_contains "$OUT" '"name": "ials"'
expect_contains "$OUT" '"name": "popular"'
expect_contains "$(flat "$OUT")" '"ials.factors":16,"mf.factors":20'

expect_status 0 "$RECO" recommend "$TMP/d.model" --user "$U" -n 5 --json
expect_contains "$OUT" '"algorithm": "default"'
expect_contains "$OUT" '"predicted_rating":'
expect_contains "$OUT" '"cold_start": false'
for rated in $(grep "^$U," "$SAMPLE" | cut -d, -f2); do
    case "$OUT" in *"\"item\": \"$rated\""*) fail "default recommended rated product $rated" ;; esac
done
for p in $(printf '%s\n' "$OUT" | sed -n 's/.*"predicted_rating": \([0-9.e+-]*\).*/\1/p'); do
    awk -v p="$p" 'BEGIN { exit !(p >= 1 && p <= 5) }' || fail "predicted rating $p out of range"
done
expect_status 0 "$RECO" predict "$TMP/d.model" --user "$U" --item "$I" --json
expect_contains "$OUT" '"source": "model"'
expect_status 0 "$RECO" recommend "$TMP/d.model" --user somebody-new --json
expect_contains "$OUT" '"cold_start": true'
expect_status 0 "$RECO" similar "$TMP/d.model" --item "$I" -n 3
[ -n "$OUT" ] || fail "no similar products"

# ials on its own: no rating predictions, the baseline answers /v1/predict.
expect_status 0 "$RECO" train --algo ials --param factors=16 "$SAMPLE" -o "$TMP/i.model"
expect_contains "$OUT" "trained ials (factors=16"
expect_contains "$OUT" "ials ranks and predicts no ratings"
expect_status 0 "$RECO" recommend "$TMP/i.model" --user "$U" -n 3 --json
expect_contains "$OUT" '"score_kind": "preference"'
expect_contains "$OUT" '"because": ['
expect_status 0 "$RECO" predict "$TMP/i.model" --user "$U" --item "$I" --json
expect_contains "$OUT" '"source": "baseline"'

expect_status 0 "$RECO" eval --quiet --json --algo default,popular --split time:0.2 \
    --param default.rankers=ials,popular --param default.ials.factors=16 "$SAMPLE"
expect_contains "$OUT" '"algorithm": "default"'

# Bad parameters: exit 2, the parameter and its range named.
expect_status 2 "$RECO" train --param rankers=nosuch "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" 'nosuch'
expect_status 2 "$RECO" train --algo ials --param alpha=-1 "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" 'ials.alpha wants a number from 0 to 1e+06'
expect_status 2 "$RECO" train --algo ials --param conf=stars "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" 'ials.conf wants const, rating or above_mean'
expect_status 2 "$RECO" train --algo ials --param factors=0 "$SAMPLE" -o "$TMP/x.model"
expect_contains "$ERR" 'ials.factors wants an integer from 1 to 1024'
finish
