#!/bin/bash
# reco similar: every algorithm answers with a full list from the chain
# co_rated -> factors -> co_customers -> popular, each row naming its
# source, with a note when the list had to go past co-rated neighbours
# (a product whose only customer rated nothing else); the same in --json;
# similar.min_support is a checked, saved parameter.
. "$(dirname "$0")/lib.sh"

"$RECO" gen --preset sample --seed 5 --ratings 6000 --users 300 --items 300 -o "$TMP/r.csv" --quiet ||
    fail "gen failed"
# A product nobody else's customers touch: its only rater rated nothing else.
cp "$TMP/r.csv" "$TMP/s.csv"
echo "LONER-USER,LONER-ITEM,5.0,1400000000" >>"$TMP/s.csv"
I=$(head -n 1 "$TMP/r.csv" | cut -d, -f2)

for algo in popular itemcf svd; do
    expect_status 0 "$RECO" train --quiet --algo "$algo" "$TMP/s.csv" -o "$TMP/$algo.model"
    # A product with co-ratings: rows with a source column.
    expect_status 0 "$RECO" similar "$TMP/$algo.model" --item "$I" -n 5
    expect_contains "$OUT" "score by source (co_rated: "
    printf '%s\n' "$OUT" | grep -qE '^ +# +item +score +source$' || fail "$algo: header: $OUT"
    [ "$(printf '%s\n' "$OUT" | grep -cE '^ +[0-9]+  [^ ]+ +-?[0-9.]+  (co_rated|factors|co_customers|popular)$')" -eq 5 ] ||
        fail "$algo: five rows with a source expected: $OUT"
    # No co-ratings at all: still five products, the note says why.
    expect_status 0 "$RECO" similar "$TMP/$algo.model" --item LONER-ITEM -n 5
    expect_contains "$OUT" "(not enough co-rated neighbours"
    [ "$(printf '%s\n' "$OUT" | grep -cE '  (factors|popular)$')" -eq 5 ] ||
        fail "$algo: the loner's list comes from factors or popular: $OUT"
    expect_status 0 "$RECO" similar "$TMP/$algo.model" --item LONER-ITEM -n 5 --json
    expect_contains "$OUT" '"fallback": true'
    expect_contains "$OUT" '"chain": ['
    [ "$(printf '%s\n' "$OUT" | grep -c '"source": ')" -eq 5 ] || fail "$algo: five sources: $OUT"
    case "$OUT" in *'"item": "LONER-ITEM"'*'"item": "LONER-ITEM"'*) fail "$algo lists the item itself" ;; esac
done
# svd's chain has factors, popular's does not.
expect_status 0 "$RECO" similar "$TMP/svd.model" --item "$I" --json
expect_contains "$OUT" '"factors"'
expect_status 0 "$RECO" similar "$TMP/popular.model" --item "$I" --json
case "$OUT" in *'"factors"'*) fail "popular has no factors: $OUT" ;; esac
expect_contains "$OUT" '"co_customers"'

# The support floor of factor similarity: every product listed from
# factors has at least that many ratings; a bad value is refused.
expect_status 0 "$RECO" train --quiet --algo svd --param similar.min_support=30 "$TMP/s.csv" \
    -o "$TMP/f30.model"
expect_status 0 "$RECO" similar "$TMP/f30.model" --item LONER-ITEM -n 10 --json
for p in $(printf '%s\n' "$OUT" | awk -F'"' '/"item": / { item = $4 } /"source": "factors"/ { print item }'); do
    c=$(grep -c ",$p," "$TMP/s.csv")
    [ "$c" -ge 30 ] || fail "factors listed $p with $c ratings under the floor 30"
done
expect_status 2 "$RECO" train --quiet --algo svd --param similar.min_support=0 "$TMP/s.csv" \
    -o "$TMP/x.model"
expect_contains "$ERR" "similar.min_support wants an integer from 1"
finish
