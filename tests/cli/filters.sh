#!/bin/bash
# The rating filters on the command line (--min-user-ratings,
# --min-item-ratings, --k-core): no user or product is left without a
# rating, what was removed is reported, and a user the product filter
# emptied is a cold-start user of the model, not a known one.
. "$(dirname "$0")/lib.sh"

# lonely rated only z, which has one rating; x and y have two each.
printf 'a,x,5,1\na,y,4,2\nb,x,2,3\nb,y,1,4\nlonely,z,3,5\n' >"$TMP/r.csv"

expect_status 0 "$RECO" stats --quiet --min-item-ratings 2 "$TMP/r.csv"
expect_contains "$OUT" "users                2"
expect_contains "$OUT" "products             2"
expect_contains "$OUT" "ratings per user     min 2"
expect_contains "$OUT" "removed by filters   1 users, 1 products, 1 ratings"

expect_status 0 "$RECO" stats --json --quiet --min-item-ratings 2 "$TMP/r.csv"
expect_contains "$OUT" '"users": 2'
expect_contains "$OUT" '"filtered_ratings": 1'
expect_contains "$OUT" '"filtered_users": 1'
expect_contains "$OUT" '"filtered_items": 1'

# Without filters nothing is reported as removed.
expect_status 0 "$RECO" stats --quiet "$TMP/r.csv"
case "$OUT" in *"removed by filters"*) fail "a removal reported without filters" ;; esac

# --k-core alone would remove nothing: refused, with the options to add.
expect_status 2 "$RECO" stats --quiet --k-core "$TMP/r.csv"
expect_contains "$ERR" "k-core"
expect_contains "$ERR" "--min-user-ratings"
expect_status 0 "$RECO" stats --json --quiet --k-core --min-item-ratings 2 "$TMP/r.csv"
expect_contains "$OUT" '"users": 2'

# A model trained with the product filter: lonely is unknown to it.
expect_status 0 "$RECO" train --json --quiet --algo popular --min-item-ratings 2 "$TMP/r.csv" \
    -o "$TMP/p.model"
expect_contains "$OUT" '"users": 2'
expect_contains "$OUT" '"filtered_users": 1'
expect_status 0 "$RECO" recommend "$TMP/p.model" --user lonely --json
expect_contains "$OUT" '"cold_start": true'
expect_status 0 "$RECO" train --algo popular --min-item-ratings 2 "$TMP/r.csv" -o "$TMP/p.model"
expect_contains "$OUT" "the filters removed 1 user, 1 product and 1 rating"

# Commands that print no summary of their own say it on stderr.
expect_status 0 "$RECO" eval --algo popular --min-item-ratings 2 "$TMP/r.csv" --split random:0.25
expect_contains "$ERR" "the filters removed 1 user, 1 product and 1 rating"
finish
