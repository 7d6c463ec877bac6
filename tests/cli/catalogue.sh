#!/bin/bash
# The product catalogue: reco train --items stores it in the model (CSV or
# JSON Lines, bad files refused with FILE:LINE); reco recommend and reco
# similar show titles and categories; recommend hides unavailable products
# unless --include-unavailable, and --category keeps a category and what
# is below it (whole segments); an unknown category gives an empty list and
# says so; similar answers a catalogue product without ratings from its
# category, then its parents, then overall. The answers follow the JSON
# Schemas.
. "$(dirname "$0")/lib.sh"

# P1 has the most ratings, P6 the fewest.
n=0
for p in P1:6 P2:5 P3:4 P4:3 P5:2 P6:1; do
    item=${p%:*}
    for u in $(seq 1 "${p#*:}"); do
        n=$((n + 1))
        echo "u$u,$item,4.0,$((1400000000 + n))"
    done
done >"$TMP/r.csv"
cat >"$TMP/items.csv" <<'ITEMS'
item_id,title,category,available,brand
P1,"Headphones, over-ear",A/B,true,acme
P2,Speaker,A/C,false,acme
P3,Earbuds,A/B/,yes,
P4,Laptop,D,1,zeta
P5,Odd one,A/BX,true,
NEW,New earbuds,A/B,true,acme
ITEMS

expect_status 0 "$RECO" train --algo popular "$TMP/r.csv" --items "$TMP/items.csv" -o "$TMP/m.model"
expect_contains "$OUT" "catalogue $TMP/items.csv: 6 products (5 of them rated, 1 without ratings), 5 categories, 1 unavailable"
expect_status 0 "$RECO" train --quiet --algo popular "$TMP/r.csv" -o "$TMP/plain.model"

# Unavailable products are hidden by default; products outside the
# catalogue (P6) stay; titles and categories are shown.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 10
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P1 P3 P4 P5 P6 " ] || fail "hidden P2 expected: $rows / $OUT"
expect_contains "$OUT" "Headphones, over-ear  [A/B]"
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 10 --include-unavailable
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P1 P2 P3 P4 P5 P6 " ] || fail "--include-unavailable: $rows"
expect_contains "$OUT" "Speaker  [A/C]  (unavailable)"

# Categories: A covers A/B, A/C and A/BX; A/B covers A/B only, never A/BX.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 10 --category A
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P1 P3 P5 " ] || fail "--category A: $rows"
expect_contains "$OUT" "(found 3 of 10: the rules admit no more)"
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 10 --category A/B/
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P1 P3 " ] || fail "--category A/B/: $rows"
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 2 --category D --category A/C \
    --include-unavailable
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P2 P4 " ] || fail "two categories: $rows"
# A known user: what they rated stays out.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user u5 -n 10 --include-unavailable --json
case "$OUT" in *'"item": "P1"'*) fail "u5 rated P1: $OUT" ;; esac
# Unknown categories: an empty list with the reason, not an error.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody --category a/b --json
expect_contains "$(flat "$OUT")" '"items":[]'
expect_contains "$(flat "$OUT")" '"unknown_categories":["a/b"]'
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody --category Nope --category D
expect_contains "$ERR" 'reco recommend: no category "Nope" in the catalogue'
expect_contains "$OUT" "Laptop  [D]"
# --category needs a catalogue; the catalogue's rules combine with every
# other rule and with --ratings-log (the log's ratings count: u9 rated P1).
expect_status 2 "$RECO" recommend "$TMP/plain.model" --user nobody --category A
expect_contains "$ERR" "--category needs a model with a catalogue"
"$RECO" log init "$TMP/log.csv" >/dev/null 2>&1
printf 'u9,P1,4,1700000000\n' >>"$TMP/log.csv"
expect_status 0 "$RECO" recommend "$TMP/m.model" --user u9 -n 10 --ratings-log "$TMP/log.csv" \
    --category A --exclude P5,NOPE --max-per-category 1
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2}' | tr '\n' ' ')
[ "$rows" = "P3 " ] || fail "category + exclude + cap + log: $rows / $OUT"
expect_contains "$ERR" "ignored 1 product ID"
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody --ratings-log "$TMP/log.csv" \
    --include-unavailable --include P2,P4 --json
expect_contains "$(flat "$OUT")" '"item":"P2"'
expect_contains "$(flat "$OUT")" '"available":false'
# A model without a catalogue answers as before.
expect_status 0 "$RECO" recommend "$TMP/plain.model" --user nobody -n 2 --json
case "$OUT" in *'"title"'*) fail "no catalogue, no titles: $OUT" ;; esac

# JSON: title, category, available.
expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody -n 1 --json
expect_contains "$(flat "$OUT")" '"item":"P1","score":6.0,"title":"Headphones,over-ear","category":"A/B","available":true'

# Similar: a known product as before, with titles; a catalogue product
# without ratings from its category (A/B: P1, P3), then its parent (A:
# P5; P2 is unavailable), then overall (P4, P6).
expect_status 0 "$RECO" similar "$TMP/m.model" --item P1 -n 2
expect_contains "$OUT" "[A/B]"
expect_status 0 "$RECO" similar "$TMP/m.model" --item NEW -n 5
expect_contains "$OUT" "(a catalogue product without ratings"
rows=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  ' | awk '{print $2 ":" $4}' | tr '\n' ' ')
[ "$rows" = "P1:category P3:category P5:parent_category P4:popular P6:popular " ] ||
    fail "cold-start similar: $rows / $OUT"
expect_status 0 "$RECO" similar "$TMP/m.model" --item NEW -n 2 --json
expect_contains "$(flat "$OUT")" '"cold_start":true'
expect_contains "$(flat "$OUT")" '"source":"category","score_kind":"rating_count","source_category":"A/B"'
expect_status 1 "$RECO" similar "$TMP/m.model" --item NOT-ANYWHERE

# JSON Lines, and bad files stop with FILE:LINE.
printf '%s\n' '{"item_id": "P1", "title": "One", "category": "X/Y", "labels": {"k": "v"}}' \
    '{"item_id": "P2", "available": false}' >"$TMP/items.jsonl"
expect_status 0 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/items.jsonl" \
    -o "$TMP/j.model"
expect_status 0 "$RECO" recommend "$TMP/j.model" --user nobody -n 2
expect_contains "$OUT" "One  [X/Y]"
printf 'item_id,title\nP1,a\nP1,b\n' >"$TMP/dup.csv"
expect_status 2 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/dup.csv" -o "$TMP/x.model"
expect_contains "$ERR" "reco train: $TMP/dup.csv:3: duplicate item_id \"P1\" (first on line 2)"
printf 'id,title\nP1,a\n' >"$TMP/nohead.csv"
expect_status 2 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/nohead.csv" -o "$TMP/x.model"
expect_contains "$ERR" "$TMP/nohead.csv:1: no item_id column in the header"
printf 'item_id,available\nP1,perhaps\n' >"$TMP/avail.csv"
expect_status 2 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/avail.csv" -o "$TMP/x.model"
expect_contains "$ERR" "$TMP/avail.csv:2: available is \"perhaps\""
printf '{"item_id": "P1"\n' >"$TMP/bad.jsonl"
expect_status 2 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/bad.jsonl" -o "$TMP/x.model"
expect_contains "$ERR" "$TMP/bad.jsonl:1: malformed JSON"
[ -e "$TMP/x.model" ] && fail "a model was written from a bad catalogue"
expect_status 1 "$RECO" train --quiet --algo popular "$TMP/r.csv" --items "$TMP/none.csv" -o "$TMP/x.model"

# The JSON follows the schemas.
if command -v python3 >/dev/null && python3 -c 'import jsonschema' 2>/dev/null; then
    SCHEMA="$RECO_TEST_DIR/schema"
    valid() {
        printf '%s\n' "$OUT" >"$TMP/doc.json"
        python3 "$SCHEMA/validate.py" "$1.schema.json" "$TMP/doc.json" 2>"$TMP/why" ||
            fail "$2 does not follow $1.schema.json: $(cat "$TMP/why")"
    }
    expect_status 0 "$RECO" train --quiet --json --algo popular "$TMP/r.csv" --items "$TMP/items.csv" \
        -o "$TMP/m.model"
    valid train "reco train --items --json"
    expect_contains "$(flat "$OUT")" '"catalogue":{"file":"'
    expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody --json
    valid recommend "reco recommend --json (catalogue)"
    expect_status 0 "$RECO" recommend "$TMP/m.model" --user nobody --category Nope --json
    valid recommend "reco recommend --json (unknown category)"
    expect_status 0 "$RECO" similar "$TMP/m.model" --item NEW --json
    valid similar "reco similar --json (cold start)"
    expect_status 0 "$RECO" similar "$TMP/m.model" --item P1 --json
    valid similar "reco similar --json (catalogue)"
fi
finish
