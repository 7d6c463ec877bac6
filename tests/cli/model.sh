#!/bin/bash
# reco train, recommend, similar and predict on a small generated file:
# every algorithm round-trips through a model file; bad files and bad
# arguments are refused with a message.
. "$(dirname "$0")/lib.sh"

"$RECO" gen --preset sample --seed 3 --ratings 6000 --users 300 --items 400 -o "$TMP/r.csv" --quiet ||
    fail "gen failed"
U=$(head -n 1 "$TMP/r.csv" | cut -d, -f1)
I=$(head -n 1 "$TMP/r.csv" | cut -d, -f2)

for algo in popular baseline usercf itemcf svd mf; do
    expect_status 0 "$RECO" train --quiet --algo "$algo" "$TMP/r.csv" -o "$TMP/$algo.model"
    expect_status 0 "$RECO" recommend "$TMP/$algo.model" --user "$U" -n 5 --json
    expect_contains "$OUT" "\"algorithm\": \"$algo\""
    expect_contains "$OUT" '"cold_start": false'
    # Never a product the user rated (they may appear in "because").
    for rated in $(grep "^$U," "$TMP/r.csv" | cut -d, -f2); do
        case "$OUT" in *"\"item\": \"$rated\""*) fail "$algo recommended rated product $rated" ;; esac
    done
    expect_status 0 "$RECO" predict "$TMP/$algo.model" --user "$U" --item "$I"
    awk -v p="$OUT" 'BEGIN { exit !(p >= 1 && p <= 5) }' || fail "$algo prediction $OUT out of range"
done

# Similar products: every algorithm has them (tests/cli/similar.sh has
# more); the product itself is not listed.
for algo in popular baseline usercf itemcf svd mf; do
    expect_status 0 "$RECO" similar "$TMP/$algo.model" --item "$I" -n 3 --json
    expect_contains "$OUT" '"items": ['
    expect_contains "$OUT" '"source": '
    case "$OUT" in *"\"item\": \"$I\""*"\"item\": \"$I\""*) fail "$algo lists the item itself" ;; esac
done
expect_status 1 "$RECO" similar "$TMP/itemcf.model" --item NO-SUCH-ITEM
expect_contains "$ERR" "unknown product"

# An unknown user gets the popular products, flagged.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --user somebody-new --json
expect_contains "$OUT" '"cold_start": true'
expect_contains "$OUT" '"score_kind": "rating_count"'

# Scores and predicted ratings: mf predicts ratings, so each product has
# both (the prediction in the training range 1..5) and the table has a
# column for it; popular ranks by number of ratings and predicts none.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --user "$U" -n 20 --json
expect_contains "$OUT" '"score_kind": "rating_estimate"'
[ "$(printf '%s\n' "$OUT" | grep -c '"score":')" -eq 20 ] || fail "mf: 20 scores expected: $OUT"
[ "$(printf '%s\n' "$OUT" | grep -c '"predicted_rating":')" -eq 20 ] ||
    fail "mf: 20 predicted ratings expected: $OUT"
printf '%s\n' "$OUT" | awk -F': ' '/"predicted_rating"/ { p = $2 + 0; if (p < 1 || p > 5) bad = 1 }
    END { exit bad }' || fail "mf predicted rating out of 1..5: $OUT"
expect_status 0 "$RECO" recommend "$TMP/mf.model" --user "$U" -n 3
expect_contains "$OUT" "score: rating_estimate"
printf '%s\n' "$OUT" | grep -qE '^ +# +item +score +predicted$' || fail "mf: no column header: $OUT"
[ "$(printf '%s\n' "$OUT" | grep -cE '^ +[0-9]+  [^ ]+ +-?[0-9.]+ +[0-9.]+')" -eq 3 ] ||
    fail "mf: three rows with score and predicted rating expected: $OUT"
expect_status 0 "$RECO" recommend "$TMP/popular.model" --user "$U" -n 3
expect_contains "$OUT" "score: rating_count"
printf '%s\n' "$OUT" | grep -qE '^ +# +item +score$' || fail "popular: header: $OUT"
case "$OUT" in *predicted*) fail "popular shows predicted ratings: $OUT" ;; esac
expect_status 0 "$RECO" recommend "$TMP/popular.model" --user "$U" -n 3 --json
case "$OUT" in *predicted_rating*) fail "popular has predicted_rating: $OUT" ;; esac
expect_status 0 "$RECO" recommend "$TMP/popular.model" --user somebody-new -n 3
expect_contains "$OUT" "(unknown user: the products with the most ratings)"
expect_status 0 "$RECO" predict "$TMP/popular.model" --user "$U" --item "$I" --json
expect_contains "$OUT" '"source": "baseline"'
expect_status 0 "$RECO" predict "$TMP/mf.model" --user "$U" --item "$I" --json
expect_contains "$OUT" '"source": "model"'

# The popularity parameters: by mean, a half-life (which needs timestamps),
# bad values named with their range.
expect_status 0 "$RECO" train --quiet --algo popular --param by=mean "$TMP/r.csv" -o "$TMP/pm.model"
expect_status 0 "$RECO" recommend "$TMP/pm.model" --user "$U" -n 3 --json
expect_contains "$OUT" '"score_kind": "damped_mean_rating"'
expect_contains "$OUT" '"predicted_rating"'
expect_status 0 "$RECO" train --quiet --algo mf --param factors=4 --param popular.half_life_days=30 \
    "$TMP/r.csv" -o "$TMP/hl.model"
expect_status 0 "$RECO" recommend "$TMP/hl.model" --user somebody-new -n 3 --json
expect_contains "$OUT" '"score_kind": "decayed_rating_count"'
cut -d, -f1-3 "$TMP/r.csv" >"$TMP/nots.csv"
expect_status 2 "$RECO" train --quiet --algo baseline --param popular.half_life_days=30 \
    "$TMP/nots.csv" -o "$TMP/x.model"
expect_contains "$ERR" "no timestamps"
expect_status 2 "$RECO" train --algo popular --param by=median "$TMP/r.csv" -o "$TMP/x.model"
expect_contains "$ERR" 'popular.by wants count or mean, got "median"'
expect_status 2 "$RECO" train --algo mf --param popular.damping=-1 "$TMP/r.csv" -o "$TMP/x.model"
expect_contains "$ERR" "popular.damping wants a number from 0 to"
expect_status 2 "$RECO" train --algo mf --param popular.half_life_days=-2 "$TMP/r.csv" -o "$TMP/x.model"
expect_contains "$ERR" "popular.half_life_days wants a number from 0 to"

# Training reports and parameters.
expect_status 0 "$RECO" train --json --algo mf --param factors=8 --param mf.epochs=3 "$TMP/r.csv" -o "$TMP/m8.model"
expect_contains "$(flat "$OUT")" '"params":{"factors":8,"epochs":3,'
expect_status 2 "$RECO" train --algo mf --param factors=0 "$TMP/r.csv" -o "$TMP/x.model"
expect_contains "$ERR" "mf.factors"
expect_status 2 "$RECO" train --algo nosuch "$TMP/r.csv" -o "$TMP/x.model"
expect_contains "$ERR" 'unknown algorithm "nosuch"'
expect_status 2 "$RECO" train --algo mf "$TMP/r.csv"
expect_contains "$ERR" "missing -o MODEL"

# Damaged model files are refused with a message, never a crash.
cp "$TMP/mf.model" "$TMP/trunc.model"
truncate -s 5000 "$TMP/trunc.model"
expect_status 2 "$RECO" recommend "$TMP/trunc.model" --user "$U"
expect_contains "$ERR" "truncated"
cp "$TMP/mf.model" "$TMP/flip.model"
size=$(stat -c %s "$TMP/flip.model")
printf '\377' | dd of="$TMP/flip.model" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_status 2 "$RECO" recommend "$TMP/flip.model" --user "$U"
expect_contains "$ERR" "corrupt"
expect_status 2 "$RECO" recommend "$TMP/r.csv" --user "$U"
expect_contains "$ERR" "not a reco model file"
# A file of the previous format (version 3, metadata as C structs) is
# refused with a message to retrain; one of a later format, to upgrade.
cp "$TMP/mf.model" "$TMP/v3.model"
printf '\003' | dd of="$TMP/v3.model" bs=1 seek=8 conv=notrunc status=none
expect_status 2 "$RECO" recommend "$TMP/v3.model" --user "$U"
expect_contains "$ERR" "model format version 3, written by an earlier reco; this reco reads version 4 only and does not convert older files: retrain the model"
cp "$TMP/mf.model" "$TMP/v5.model"
printf '\005' | dd of="$TMP/v5.model" bs=1 seek=8 conv=notrunc status=none
expect_status 2 "$RECO" recommend "$TMP/v5.model" --user "$U"
expect_contains "$ERR" "model format version 5, written by a newer reco"
expect_status 1 "$RECO" recommend "$TMP/none.model" --user "$U"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --user "$U" -n 0
expect_contains "$ERR" "-n wants a number from 1 to 1000"
finish
