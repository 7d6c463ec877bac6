#!/bin/bash
# reco explore: options, the report's files, --json, and clear errors for
# inputs with nothing to report.
. "$(dirname "$0")/lib.sh"

charts="rating_distribution ratings_per_user ratings_per_product top_products activity
min_ratings_filter mean_by_activity"

printf '%s\n' u1,i1,5,1577836800 u1,i2,3,1577923200 u1,i3,4,1580515200 \
    u2,i1,4,1580601600 u2,i2,2,1588291200 u3,i1,1,1588377600 u3,i1,3,1588464000 \
    u4,i1,5,1577836800 u5,i1,4,1583020800 u5,i2,4,1583020800 u5,i4,5,1583107200 \
    u5,i5,2,1583193600 u5,i6,3,1583107200 >"$TMP/r.csv"

# --help: exit 0, usage on stdout, nothing on stderr.
expect_status 0 "$RECO" explore --help
expect_contains "$OUT" "Usage: reco explore"
expect_contains "$OUT" "--min-user-ratings"
[ -z "$ERR" ] || fail "--help wrote to stderr: $ERR"

# Usage errors: exit 2 with a "reco explore:" message.
expect_status 2 "$RECO" explore "$TMP/r.csv"
expect_contains "$ERR" "reco explore: missing -o DIR"
expect_status 2 "$RECO" explore -o "$TMP/x"
expect_contains "$ERR" "missing FILE"
expect_status 2 "$RECO" explore --bogus "$TMP/r.csv" -o "$TMP/x"
expect_contains "$ERR" "reco explore: unknown"
expect_status 2 "$RECO" explore --width 10 "$TMP/r.csv" -o "$TMP/x"
expect_contains "$ERR" "width"
expect_status 2 "$RECO" explore --height abc "$TMP/r.csv" -o "$TMP/x"
# Below 640 x 400 the labels overlap: refused, and --help says so.
expect_status 2 "$RECO" explore --width 639 "$TMP/r.csv" -o "$TMP/x"
expect_contains "$ERR" "640..4000"
expect_status 2 "$RECO" explore --height 399 "$TMP/r.csv" -o "$TMP/x"
expect_contains "$ERR" "400..4000"
"$RECO" explore --help | grep -q "640 x 400" || fail "--help does not give the smallest chart size"
[ -e "$TMP/x" ] && fail "a usage error created the report directory"

# The report: DIR (and its parent) created, every file there, quiet output.
rep="$TMP/new/report"
expect_status 0 "$RECO" explore --quiet "$TMP/r.csv" -o "$rep"
[ -z "$OUT$ERR" ] || fail "--quiet printed: $OUT$ERR"
for f in index.html stats.json; do [ -s "$rep/$f" ] || fail "no $f"; done
for c in $charts; do
    for ext in png svg; do
        [ -s "$rep/$c.$ext" ] || fail "no $c.$ext"
        grep -q "\"$c.$ext\"" "$rep/index.html" || fail "index.html does not reference $c.$ext"
    done
    head -c 8 "$rep/$c.png" | od -An -c | grep -q "P   N   G" || fail "$c.png is not a PNG"
    grep -q "<svg" "$rep/$c.svg" || fail "$c.svg is not an SVG"
done
# Every file index.html references exists.
grep -oE '(src|href)="[^"#][^"]*"' "$rep/index.html" | sed -E 's/^[a-z]+="(.*)"$/\1/' |
    sort -u >"$TMP/refs"
[ "$(wc -l <"$TMP/refs")" -ge 15 ] || fail "index.html references too few files"
while read -r ref; do
    [ -s "$rep/$ref" ] || fail "index.html references missing $ref"
done <"$TMP/refs"
grep -q '"users": 5' "$rep/stats.json" || fail "stats.json: users"
grep -q '"items": 6' "$rep/stats.json" || fail "stats.json: items"
grep -q '"gini_items": 0.361111,' "$rep/stats.json" || fail "stats.json: gini (6 significant digits)"
grep -q '"date_last": "2020-05-03"' "$rep/stats.json" || fail "stats.json: date_last"

# --json prints stats.json; the summary line goes to stderr.
expect_status 0 "$RECO" explore --json "$TMP/r.csv" -o "$rep"
cmp -s "$TMP/out" "$rep/stats.json" || fail "--json output differs from stats.json"
expect_contains "$ERR" "report in $rep/index.html"

# Standard input, filters (filtered ratings are reported).
expect_status 0 "$RECO" explore --quiet --json --min-user-ratings 2 - -o "$TMP/f" <"$TMP/r.csv"
expect_contains "$OUT" '"users": 3'
expect_contains "$OUT" '"filtered_ratings": 2'

# Without timestamps: no activity chart, and the page says why.
printf 'a,x,4\na,y,5\nb,x,3\n' >"$TMP/nots.csv"
expect_status 0 "$RECO" explore --quiet "$TMP/nots.csv" -o "$TMP/nots"
[ -e "$TMP/nots/activity.png" ] && fail "activity chart without timestamps"
grep -q "no timestamps" "$TMP/nots/index.html" || fail "index.html does not say why"

# Nothing to report: a clear error, exit 2, no report written.
: >"$TMP/empty.csv"
expect_status 2 "$RECO" explore "$TMP/empty.csv" -o "$TMP/e1"
expect_contains "$ERR" "no ratings"
[ -e "$TMP/e1" ] && fail "an empty input created a report"
printf 'u,p,abc,1\nu,q,,2\n' >"$TMP/bad.csv"
expect_status 2 "$RECO" explore --skip-bad --quiet "$TMP/bad.csv" -o "$TMP/e2"
expect_contains "$ERR" "every data line was bad"
[ -e "$TMP/e2" ] && fail "a file of bad lines created a report"
expect_status 2 "$RECO" explore "$TMP/bad.csv" -o "$TMP/e3"
expect_contains "$ERR" "bad.csv:1:"
expect_status 2 "$RECO" explore --min-user-ratings 50 "$TMP/r.csv" -o "$TMP/e4"
expect_contains "$ERR" "no ratings are left"

# A directory that cannot be created: exit 1, the path in the message.
: >"$TMP/file"
expect_status 1 "$RECO" explore --quiet "$TMP/r.csv" -o "$TMP/file/report"
expect_contains "$ERR" "$TMP/file"


# Standard input: the report names it as such, not "-".
expect_status 0 "$RECO" explore --quiet -o "$TMP/stdin" - <"$TMP/r.csv"
grep -q "<title>reco explore: standard input</title>" "$TMP/stdin/index.html" ||
    fail "the title of a report of standard input: $(grep -o '<title>[^<]*' "$TMP/stdin/index.html")"

finish
