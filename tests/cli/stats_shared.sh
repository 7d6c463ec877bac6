#!/bin/bash
# reco stats on the real public datasets in ../shared/data (skipped if absent).
. "$(dirname "$0")/lib.sh"
ML="$RECO_SHARED_DATA/ml-100k/u.data"
AMZ="$RECO_SHARED_DATA/electronics-head/ratings_Electronics_head.csv"
if [ ! -r "$ML" ] || [ ! -r "$AMZ" ]; then
    echo "shared data not found: skipped"
    exit 77
fi
expect_status 0 "$RECO" stats --json --quiet "$ML"
expect_contains "$OUT" '"users": 943'
expect_contains "$OUT" '"items": 1682'
expect_contains "$OUT" '"ratings": 100000'
expect_contains "$OUT" '"separator": "\t"'
expect_contains "$OUT" '"min": 20'

expect_status 0 "$RECO" stats --json --quiet "$AMZ"
expect_contains "$OUT" '"users": 47141'
expect_contains "$OUT" '"items": 3529'
expect_contains "$OUT" '"ratings": 50698'
expect_contains "$OUT" '"bad_lines_skipped": 0'
# ASINs keep their leading zeros: the first product of the file is 0132793040.
head -1 "$AMZ" | cut -d, -f2 | grep -q '^0132793040$' || fail "fixture changed"
expect_status 0 "$RECO" stats --json --quiet --min-user-ratings 20 "$AMZ"
expect_contains "$OUT" '"min": 20'
# The product filter alone: the users it leaves without a rating go too
# (47,141 users with a minimum of 0 ratings each used to be reported).
expect_status 0 "$RECO" stats --json --quiet --min-item-ratings 100 "$AMZ"
expect_contains "$OUT" '"users": 24383'
expect_contains "$OUT" '"filtered_users": 22758'
expect_contains "$OUT" '"min": 1,'
finish
