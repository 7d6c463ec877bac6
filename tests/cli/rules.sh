#!/bin/bash
# reco recommend with request-time rules: --exclude and --include (lists
# and repeats), unknown IDs ignored and counted, a short list said to be
# short, --include-rated, --max-per-category refused without categories,
# and bad IDs refused.
. "$(dirname "$0")/lib.sh"

"$RECO" gen --preset sample --seed 5 --ratings 6000 --users 300 --items 400 -o "$TMP/r.csv" --quiet ||
    fail "gen failed"
U=$(head -n 1 "$TMP/r.csv" | cut -d, -f1)
"$RECO" train --quiet --algo mf "$TMP/r.csv" -o "$TMP/m.model" || fail "train failed"

# The unfiltered top 6, as IDs.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 6 -q
read -r -a TOP <<<"$(printf '%s\n' "$OUT" | awk '{print $2}' | tr '\n' ' ')"
[ "${#TOP[@]}" -eq 6 ] || fail "expected 6 products, got: $OUT"

# --exclude: the excluded products are gone and the rest move up, in order;
# one option with a list and a repeat give the same.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 4 -q \
    --exclude "${TOP[0]},${TOP[2]}"
A=$OUT
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 4 -q \
    --exclude "${TOP[2]}" --exclude "${TOP[0]}"
[ "$A" = "$OUT" ] || fail "a list and a repeated --exclude differ"
got=$(printf '%s\n' "$A" | awk '{print $2}' | tr '\n' ' ')
[ "$got" = "${TOP[1]} ${TOP[3]} ${TOP[4]} ${TOP[5]} " ] || fail "--exclude gave '$got'"

# Unknown IDs: ignored, counted on stderr (text) and in the JSON.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 3 --exclude no-such,"${TOP[0]}" \
    --exclude other-unknown
expect_contains "$ERR" "ignored 2 product IDs"
case "$OUT" in *"${TOP[0]}"*) fail "excluded ${TOP[0]} listed" ;; esac
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 3 --json --exclude no-such
expect_contains "$(flat "$OUT")" '"requested":3,"found":3,"unknown_items":1'
[ -z "$ERR" ] || fail "--json printed to stderr: $ERR"

# --include: only those, best first; a list the rules cannot fill is short
# and says so.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 10 \
    --include "${TOP[4]},${TOP[1]},unknown-one"
expect_contains "$OUT" "(found 2 of 10"
got=$(printf '%s\n' "$OUT" | awk '$1 ~ /^[0-9]+$/ {print $2}' | tr '\n' ' ')
[ "$got" = "${TOP[1]} ${TOP[4]} " ] || fail "--include gave '$got'"
expect_contains "$ERR" "ignored 1 product ID "
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 10 --json --include nothing-known
expect_contains "$(flat "$OUT")" '"items":[]'
expect_contains "$(flat "$OUT")" '"found":0'

# A product the user rated comes back with --include-rated only.
R=$(grep "^$U," "$TMP/r.csv" | head -n 1 | cut -d, -f2)
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 5 --include "$R" --json
expect_contains "$(flat "$OUT")" '"found":0'
expect_status 0 "$RECO" recommend "$TMP/m.model" --user "$U" -n 5 --include "$R" --include-rated --json
expect_contains "$(flat "$OUT")" "\"item\":\"$R\""

# A cold start obeys the rules too.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user never-seen -n 3 --json --exclude "${TOP[0]}"
expect_contains "$(flat "$OUT")" '"cold_start":true'
case "$OUT" in *"\"${TOP[0]}\""*) fail "cold start listed the excluded ${TOP[0]}" ;; esac

# Without categories in the model, --max-per-category is refused clearly.
expect_status 2 "$RECO" recommend "$TMP/m.model" --user "$U" --max-per-category 2
expect_contains "$ERR" "max_per_category needs product categories"
expect_status 2 "$RECO" recommend "$TMP/m.model" --user "$U" --max-per-category 0
# An empty ID is not an ID.
expect_status 2 "$RECO" recommend "$TMP/m.model" --user "$U" --exclude "a,,b"
expect_contains "$ERR" "exclude: product ID must be 1 to 255 bytes"

finish
