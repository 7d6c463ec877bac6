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

# Similar products: itemcf, svd and mf have them; the product itself is not listed.
for algo in itemcf svd mf; do
    expect_status 0 "$RECO" similar "$TMP/$algo.model" --item "$I" -n 3 --json
    expect_contains "$OUT" '"items": ['
    case "$OUT" in *"\"item\": \"$I\""*"\"item\": \"$I\""*) fail "$algo lists the item itself" ;; esac
done
expect_status 2 "$RECO" similar "$TMP/baseline.model" --item "$I"
expect_contains "$ERR" "does not compute similar products"
expect_status 1 "$RECO" similar "$TMP/itemcf.model" --item NO-SUCH-ITEM
expect_contains "$ERR" "unknown product"

# An unknown user gets the popular products, flagged.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --user somebody-new --json
expect_contains "$OUT" '"cold_start": true'

# Training reports and parameters.
expect_status 0 "$RECO" train --json --algo mf --param factors=8 --param mf.epochs=3 "$TMP/r.csv" -o "$TMP/m8.model"
expect_contains "$OUT" '"params": "factors=8 epochs=3'
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
expect_status 1 "$RECO" recommend "$TMP/none.model" --user "$U"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --user "$U" -n 0
expect_contains "$ERR" "-n wants a number from 1 to 1000"
finish
