#!/bin/bash
# reco stats on hand-made files: figures, options, bad input and exit codes.
. "$(dirname "$0")/lib.sh"

printf 'A1,0132793040,5.0,1365811200\nA2,0132793040,4.0,1365811300\nA1,B00X,1.0,1365811400\nA1,0132793040,3.0,1365811500\n' >"$TMP/r.csv"
expect_status 0 "$RECO" stats --quiet "$TMP/r.csv"
expect_contains "$OUT" "users                2"
expect_contains "$OUT" "products             2"
expect_contains "$OUT" "ratings              3"
expect_contains "$OUT" "duplicates removed   1"
expect_contains "$OUT" "time span            2013-04-13 to 2013-04-13"

expect_status 0 "$RECO" stats --json "$TMP/r.csv"
expect_contains "$OUT" '"ratings": 3'
expect_contains "$OUT" '"duplicates_removed": 1'
expect_contains "$OUT" '"median": 1'

# From standard input, with a header and tabs.
printf 'user\titem\trating\n1\t10\t4.5\n2\t10\t3.5\n' >"$TMP/tab.tsv"
expect_status 0 "$RECO" stats --json - <"$TMP/tab.tsv"
expect_contains "$OUT" '"header": true'
expect_contains "$OUT" '"rating": 4.5'

# Filters.
expect_status 0 "$RECO" stats --json --min-user-ratings 2 "$TMP/r.csv"
expect_contains "$OUT" '"users": 1'

# A bad line stops the load: FILE:LINE: reason, exit 2.
printf 'u,p,5,1\nu,q,abc,2\n' >"$TMP/bad.csv"
expect_status 2 "$RECO" stats "$TMP/bad.csv"
expect_contains "$ERR" "bad.csv:2: rating \"abc\" is not a number"
# --skip-bad: counted and reported.
expect_status 0 "$RECO" stats --skip-bad "$TMP/bad.csv"
expect_contains "$ERR" "skipped 1 bad line"
expect_contains "$OUT" "bad lines skipped    1"
# --rating-range.
expect_status 0 "$RECO" stats --quiet --rating-range 1:10 --sep , --no-header "$TMP/r.csv"
expect_status 2 "$RECO" stats --rating-range 5:1 "$TMP/r.csv"
expect_contains "$ERR" "--rating-range"

# Usage errors and missing files.
expect_status 2 "$RECO" stats --bogus "$TMP/r.csv"
[ "$ERR" = "reco stats: unknown option '--bogus'; see 'reco stats --help'" ] || fail "stats --bogus: $ERR"
expect_status 2 "$RECO" stats
expect_contains "$ERR" "missing FILE"
expect_status 1 "$RECO" stats "$TMP/does-not-exist.csv"
expect_contains "$ERR" "does-not-exist.csv: No such file or directory"
: >"$TMP/empty.csv"
expect_status 2 "$RECO" stats "$TMP/empty.csv"
expect_contains "$ERR" "no ratings"
expect_status 0 "$RECO" stats --help
expect_contains "$OUT" "--min-user-ratings"
expect_status 0 "$RECO" --help
expect_status 2 "$RECO" nosuchcommand
finish
