#!/bin/bash
# One command line for every command: the same usage errors word for word
# (unknown option, missing value, bad value; exit 2), --output and -o in
# gen, the model file as --model or as the argument of recommend, similar
# and predict, and what predict says of an unknown user or product.
. "$(dirname "$0")/lib.sh"

commands="stats gen explore eval tune train recommend similar predict log"
"$RECO" serve --help >/dev/null 2>&1 && commands="$commands serve"

for c in $commands; do
    expect_status 2 "$RECO" "$c" --bogus
    [ "$ERR" = "reco $c: unknown option '--bogus'; see 'reco $c --help'" ] ||
        fail "reco $c --bogus: $ERR"
    [ -z "$OUT" ] || fail "reco $c --bogus wrote to stdout: $OUT"
    expect_status 2 "$RECO" "$c" --bogus=1
    [ "$ERR" = "reco $c: unknown option '--bogus'; see 'reco $c --help'" ] ||
        fail "reco $c --bogus=1: $ERR"
    expect_status 2 "$RECO" "$c" -Z
    [ "$ERR" = "reco $c: unknown option '-Z'; see 'reco $c --help'" ] || fail "reco $c -Z: $ERR"
    expect_status 2 "$RECO" "$c" --help=yes
    [ "$ERR" = "reco $c: option '--help' takes no value; see 'reco $c --help'" ] ||
        fail "reco $c --help=yes: $ERR"
done

# A missing value, long or short; a bad number.
expect_status 2 "$RECO" stats --sep
[ "$ERR" = "reco stats: option '--sep' needs a value (SEP); see 'reco stats --help'" ] ||
    fail "stats --sep: $ERR"
expect_status 2 "$RECO" gen -o
[ "$ERR" = "reco gen: option '-o' needs a value (FILE); see 'reco gen --help'" ] || fail "gen -o: $ERR"
expect_status 2 "$RECO" eval --threads 0 x.csv
[ "$ERR" = 'reco eval: --threads wants a number from 1 to 256, got "0"' ] || fail "eval --threads 0: $ERR"
expect_status 2 "$RECO" train --min-user-ratings -1 x.csv -o m
[ "$ERR" = 'reco train: --min-user-ratings wants a non-negative integer, got "-1"' ] ||
    fail "train --min-user-ratings -1: $ERR"
expect_status 2 "$RECO" gen --taste 2
[ "$ERR" = 'reco gen: --taste wants a number from 0 to 1, got "2"' ] || fail "gen --taste 2: $ERR"
expect_status 2 "$RECO" tune --algo mf --seed 1x x.csv
[ "$ERR" = 'reco tune: --seed wants a non-negative integer, got "1x"' ] || fail "tune --seed: $ERR"

# gen: -o FILE and --output FILE are one option.
expect_status 0 "$RECO" gen --quiet --ratings 500 --users 50 --items 40 -o "$TMP/a.csv"
expect_status 0 "$RECO" gen --quiet --ratings 500 --users 50 --items 40 --output "$TMP/b.csv"
cmp -s "$TMP/a.csv" "$TMP/b.csv" || fail "gen -o and --output differ"

# The model file: the argument or --model (-m), in every query command.
expect_status 0 "$RECO" train --quiet --algo mf --param factors=4 "$TMP/a.csv" -o "$TMP/mf.model"
U=$(head -n 1 "$TMP/a.csv" | cut -d, -f1)
I=$(head -n 1 "$TMP/a.csv" | cut -d, -f2)
for q in "recommend --user $U -n 3" "similar --item $I -n 3" "predict --user $U --item $I"; do
    # shellcheck disable=SC2086
    expect_status 0 "$RECO" $q "$TMP/mf.model"
    positional=$OUT
    # shellcheck disable=SC2086
    expect_status 0 "$RECO" $q --model "$TMP/mf.model"
    [ "$OUT" = "$positional" ] || fail "reco $q: --model differs from the argument"
    # shellcheck disable=SC2086
    expect_status 0 "$RECO" $q -m "$TMP/mf.model"
    [ "$OUT" = "$positional" ] || fail "reco $q: -m differs from the argument"
    # shellcheck disable=SC2086
    expect_status 2 "$RECO" $q --model "$TMP/mf.model" "$TMP/mf.model"
    expect_contains "$ERR" "MODEL is given twice"
done
expect_status 2 "$RECO" recommend --user "$U"
[ "$ERR" = "reco recommend: missing MODEL; see 'reco recommend --help'" ] || fail "no model: $ERR"
# similar takes no --user, recommend no --item, predict no -n.
expect_status 2 "$RECO" similar "$TMP/mf.model" --item "$I" --user "$U"
expect_contains "$ERR" "unknown option '--user'"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --user "$U" --item "$I"
expect_contains "$ERR" "unknown option '--item'"
expect_status 2 "$RECO" predict "$TMP/mf.model" --user "$U" --item "$I" -n 3
expect_contains "$ERR" "unknown option '-n'"

# serve too takes the model as its argument.
if "$RECO" serve --help >/dev/null 2>&1; then
    "$RECO" serve "$TMP/mf.model" --port 0 2>"$TMP/serve.err" &
    pid=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$TMP/serve.err" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q 'listening on http://127.0.0.1:' "$TMP/serve.err" ||
        fail "serve MODEL did not start: $(cat "$TMP/serve.err")"
    kill "$pid" && wait "$pid" || fail "serve did not stop cleanly"
    expect_status 2 "$RECO" serve --model "$TMP/mf.model" "$TMP/mf.model"
    expect_contains "$ERR" "MODEL is given twice"
    expect_status 2 "$RECO" serve
    [ "$ERR" = "reco serve: missing MODEL; see 'reco serve --help'" ] || fail "serve: $ERR"
    expect_status 2 "$RECO" serve "$TMP/mf.model" --max-live-bytes lots
    [ "$ERR" = 'reco serve: --max-live-bytes wants a size such as 512M or 2G, or 0 for no limit, got "lots"' ] ||
        fail "serve --max-live-bytes lots: $ERR"
    expect_status 2 "$RECO" serve "$TMP/mf.model" --idle-timeout 1.5
    expect_contains "$ERR" 'wants whole seconds from 1 to 86400, got "1.5"'
fi

# predict says when it does not know the user or the product, and what
# answers then; -q prints the number alone.
expect_status 0 "$RECO" predict "$TMP/mf.model" --user "$U" --item "$I"
printf '%s\n' "$OUT" | grep -qE '^[0-9]+\.[0-9]{4}$' || fail "known pair: $OUT"
expect_status 0 "$RECO" predict "$TMP/mf.model" --user nobody-known --item "$I"
expect_contains "$OUT" "(unknown user: the baseline for the product, the mean training rating plus the product's bias)"
expect_status 0 "$RECO" predict "$TMP/mf.model" --user "$U" --item no-such-product
expect_contains "$OUT" "(unknown product: the baseline for the user, the mean training rating plus the user's bias)"
expect_status 0 "$RECO" predict "$TMP/mf.model" --user nobody-known --item no-such-product
expect_contains "$OUT" "(unknown user and unknown product: the mean training rating)"
expect_status 0 "$RECO" predict -q "$TMP/mf.model" --user nobody-known --item no-such-product
printf '%s\n' "$OUT" | grep -qE '^[0-9]+\.[0-9]{4}$' || fail "predict -q: $OUT"

# -q in the query commands: the rows only.
expect_status 0 "$RECO" recommend -q "$TMP/mf.model" --user "$U" -n 3
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 3 ] || fail "recommend -q: three rows expected: $OUT"
expect_status 0 "$RECO" similar -q "$TMP/mf.model" --item "$I" -n 3
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 3 ] || fail "similar -q: three rows expected: $OUT"
finish
