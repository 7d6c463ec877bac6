#!/bin/bash
# reco gen: help, usage errors, determinism and the sample's format.
set -u
: "${RECO:?RECO must point to the reco binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --help: exit 0, usage on stdout
"$RECO" gen --help >"$tmp/help" 2>"$tmp/err" || fail "--help exited $?"
grep -q "Usage: reco gen" "$tmp/help" || fail "--help prints no usage"
grep -q -- "--taste X" "$tmp/help" || fail "--help does not document --taste"
[ -s "$tmp/err" ] && fail "--help wrote to stderr"

# usage errors: exit 2, a "reco gen:" message on stderr, nothing on stdout
expect_usage() {
    "$RECO" gen "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 2 ] || fail "gen $* exited $rc, want 2"
    grep -q "^reco gen: " "$tmp/err" || fail "gen $*: no 'reco gen:' message"
    [ -s "$tmp/out" ] && fail "gen $*: wrote to stdout"
    return 0
}
expect_usage --bogus
expect_usage --seed abc
expect_usage --seed -1
expect_usage --ratings 0
expect_usage --users 5000000000
expect_usage --preset movies
expect_usage --users 10 --items 10 --ratings 101
expect_usage extra-argument
expect_usage --seed
expect_usage --taste 1.5
expect_usage --taste -0.1
expect_usage --taste abc

# I/O errors: exit 1 with a message (a closed stdout refuses writes)
"$RECO" gen --quiet >&- 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "writing to a closed stdout exited $rc, want 1"
grep -q "^reco gen: " "$tmp/err" || fail "no message for the write error"
if [ -c /dev/full ]; then
    "$RECO" gen --quiet -o /dev/full 2>"$tmp/err"
    [ $? -eq 1 ] || fail "writing to /dev/full should exit 1"
fi
"$RECO" gen -o "$tmp/no/such/dir/x.csv" 2>"$tmp/err"
[ $? -eq 1 ] || fail "unwritable path should exit 1"

# determinism: same seed, same bytes (stdout and -o, any thread count)
"$RECO" gen --preset sample --seed 1 >"$tmp/a.csv" 2>"$tmp/err" || fail "gen exited $?"
[ -s "$tmp/err" ] && fail "gen wrote to stderr: $(cat "$tmp/err")"
"$RECO" gen --preset sample --seed 1 -o "$tmp/b.csv" || fail "gen -o exited $?"
"$RECO" gen --preset sample --seed 1 --threads 1 --quiet >"$tmp/c.csv" || fail "gen --threads 1 exited $?"
cmp -s "$tmp/a.csv" "$tmp/b.csv" || fail "same seed gave different output (stdout vs -o)"
cmp -s "$tmp/a.csv" "$tmp/c.csv" || fail "thread count changed the output"
"$RECO" gen --preset sample --seed 2 >"$tmp/d.csv" || fail "gen --seed 2 exited $?"
cmp -s "$tmp/a.csv" "$tmp/d.csv" && fail "seeds 1 and 2 gave the same output"

# the sample: 40,000 lines in Amazon's format, sorted by product, < 2 MB
[ "$(wc -l <"$tmp/a.csv")" -eq 40000 ] || fail "sample is not 40,000 lines"
[ "$(stat -c %s "$tmp/a.csv")" -lt 2000000 ] || fail "sample is 2 MB or more"
bad=$(grep -cvE '^A[0-9A-Z]{13},([0-9]{10}|B00[0-9A-Z]{7}),[1-5]\.0,[0-9]{9,10}$' "$tmp/a.csv")
[ "$bad" -eq 0 ] || fail "$bad lines do not look like ratings_Electronics.csv"
cut -d, -f2 "$tmp/a.csv" | LC_ALL=C sort -c 2>/dev/null || fail "sample is not sorted by product"
[ "$(cut -d, -f1,2 "$tmp/a.csv" | sort | uniq -d | wc -l)" -eq 0 ] || fail "repeated (user, product)"

# the bundled sample is exactly `reco gen --preset sample --seed 1`
cmp -s "$tmp/a.csv" "$RECO_TEST_DIR/../data/sample.csv" || fail "data/sample.csv is not the default sample"
# --taste 0: the random matching of earlier versions, byte for byte (their
# sample); any taste keeps every user's and product's number of ratings
"$RECO" gen --preset sample --seed 1 --taste 0 --quiet >"$tmp/t0.csv" || fail "--taste 0 exited $?"
[ "$(sha256sum <"$tmp/t0.csv" | cut -d' ' -f1)" = d73a9a6f33aea5a0d74e295fcbe7689c233625a4deaf5246220a7a29dcc30b7b ] \
    || fail "--taste 0 is not the earlier sample"
"$RECO" gen --preset sample --seed 1 --taste 0.5 --threads 1 --quiet >"$tmp/t5.csv" || fail "--taste 0.5 exited $?"
cmp -s "$tmp/t0.csv" "$tmp/t5.csv" && fail "--taste 0.5 gave the --taste 0 output"
for f in a t5; do
    [ "$(cut -d, -f1 "$tmp/t0.csv" | sort | uniq -c)" = "$(cut -d, -f1 "$tmp/$f.csv" | sort | uniq -c)" ] \
        || fail "$f: users' numbers of ratings differ from --taste 0"
    [ "$(cut -d, -f2,4 "$tmp/t0.csv")" = "$(cut -d, -f2,4 "$tmp/$f.csv")" ] \
        || fail "$f: products, their order or the timestamps differ from --taste 0"
    [ "$(cut -d, -f3 "$tmp/t0.csv" | sort | uniq -c)" = "$(cut -d, -f3 "$tmp/$f.csv" | sort | uniq -c)" ] \
        || fail "$f: star histogram differs from --taste 0"
done

# sizes on the command line
"$RECO" gen --users 50 --items 30 --ratings 400 --seed 9 >"$tmp/e.csv" || fail "custom sizes exited $?"
[ "$(wc -l <"$tmp/e.csv")" -eq 400 ] || fail "--ratings 400 did not give 400 lines"
[ "$(cut -d, -f1 "$tmp/e.csv" | sort -u | wc -l)" -eq 50 ] || fail "--users 50 not honoured"
[ "$(cut -d, -f2 "$tmp/e.csv" | sort -u | wc -l)" -eq 30 ] || fail "--items 30 not honoured"
echo "gen.sh: ok"
