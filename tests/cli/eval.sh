#!/bin/bash
# reco eval on a tiny hand-made file: the table, JSON fields, every split,
# given train/test files, parameters, and usage errors (exit 2).
. "$(dirname "$0")/lib.sh"

# 8 users, 6 products, 36 ratings with timestamps.
cat >"$TMP/r.csv" <<'EOF'
u1,A,5,100
u1,B,4,110
u1,C,2,120
u1,D,5,130
u1,E,1,140
u2,A,4,100
u2,B,5,105
u2,C,3,115
u2,F,4,125
u3,A,5,101
u3,C,1,111
u3,D,4,121
u3,E,2,131
u3,F,5,141
u4,B,4,102
u4,C,2,112
u4,D,5,122
u5,A,3,103
u5,B,4,113
u5,E,5,123
u5,F,4,133
u6,A,5,104
u6,D,4,114
u6,F,3,124
u7,B,2,106
u7,C,4,116
u7,D,5,126
u7,E,3,136
u8,A,4,107
u8,B,5,117
u8,C,3,127
u8,D,4,137
u8,E,2,147
u8,F,5,157
u4,F,4,132
u6,B,5,134
EOF

# JSON: exit 0, both algorithms, every metric and count.
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --json "$TMP/r.csv"
for f in '"split": "random:0.2"' '"algorithm": "popular"' '"algorithm": "baseline"' \
         '"rmse":' '"mae":' '"precision":' '"recall":' '"ndcg":' '"map":' '"hit_rate":' \
         '"coverage":' '"fit_seconds":' '"predict_seconds":' '"recommend_seconds":' \
         '"test_ratings": 7' '"unknown_user_ratings":' '"unknown_item_ratings":' \
         '"rank_users":' '"n": 10' '"relevant": 4'; do
    expect_contains "$OUT" "$f"
done
[ -z "$ERR" ] || fail "--quiet --json wrote to stderr: $ERR"
if command -v python3 >/dev/null; then
    printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["algorithms"]) == 2' \
        || fail "--json output is not the expected JSON"
fi

# The same seed gives the same figures; another seed another split.
first=$(printf '%s\n' "$OUT" | grep -E '"(rmse|mae|precision|ndcg)"')
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --json "$TMP/r.csv"
again=$(printf '%s\n' "$OUT" | grep -E '"(rmse|mae|precision|ndcg)"')
[ "$first" = "$again" ] || fail "two runs with one seed differ"
expect_status 0 "$RECO" eval --quiet --algo baseline --seed 99 --json "$TMP/r.csv"

# The table: one header, one row per algorithm, -n in the column names.
expect_status 0 "$RECO" eval --quiet --algo popular,baseline -n 3 "$TMP/r.csv"
expect_contains "$OUT" "RMSE"
expect_contains "$OUT" "NDCG@3"
expect_contains "$OUT" "MAP@3"
expect_contains "$OUT" "recommend"
[ "$(printf '%s\n' "$OUT" | grep -cE '^(popular|baseline) ')" -eq 2 ] || fail "table rows: $OUT"

# k-fold: means with ± std, and per-fold results in JSON.
expect_status 0 "$RECO" eval --quiet --algo baseline --split kfold:3 "$TMP/r.csv"
expect_contains "$OUT" "±"
expect_status 0 "$RECO" eval --quiet --algo baseline --split kfold:3 --json "$TMP/r.csv"
expect_contains "$OUT" '"std":'
expect_contains "$OUT" '"folds":'
expect_contains "$OUT" '"test_ratings": 36'

# Time-based splits.
expect_status 0 "$RECO" eval --quiet --algo baseline --split time:0.25 --json "$TMP/r.csv"
expect_contains "$OUT" '"split": "time:0.25"'
expect_status 0 "$RECO" eval --quiet --algo baseline --split loo --json "$TMP/r.csv"
expect_contains "$OUT" '"test_ratings": 8'

# ... need timestamps: a clear error, exit 2.
cut -d, -f1-3 "$TMP/r.csv" >"$TMP/nots.csv"
expect_status 2 "$RECO" eval --quiet --split time:0.2 "$TMP/nots.csv"
expect_contains "$ERR" "reco eval: "
expect_contains "$ERR" "timestamps"

# Given files: test IDs share the training maps; unknown ones are counted.
head -n 30 "$TMP/r.csv" >"$TMP/train.csv"
{ tail -n 6 "$TMP/r.csv"; echo "u9,A,4,200"; echo "u1,Z,3,201"; } >"$TMP/test.csv"
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --train "$TMP/train.csv" \
    --test "$TMP/test.csv" --json
expect_contains "$OUT" '"split": "files"'
expect_contains "$OUT" '"test_ratings": 8'
expect_contains "$OUT" '"unknown_user_ratings": 1'
expect_contains "$OUT" '"unknown_item_ratings": 1'

# Parameters: accepted, or rejected with the library's message.
expect_status 0 "$RECO" eval --quiet --algo baseline --param baseline.reg_u=5 \
    --param baseline.epochs=3 --json "$TMP/r.csv"
expect_contains "$(flat "$OUT")" '"params":{"reg_u":5,"reg_i":2.844,"epochs":3}'
# KEY=VALUE, as reco train takes it, sets KEY on every algorithm evaluated
# that has it (baseline here, not popular); ALGO.KEY=VALUE on ALGO only.
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --param reg_u=5 --json "$TMP/r.csv"
expect_contains "$(flat "$OUT")" '"params":{"reg_u":5,"reg_i":2.844,"epochs":10}'
expect_status 0 "$RECO" eval --quiet --algo mf,baseline -p factors=4 -p mf.epochs=2 \
    -p baseline.epochs=3 --json "$TMP/r.csv"
expect_contains "$(flat "$OUT")" '"params":{"factors":4,"epochs":2,'
expect_contains "$(flat "$OUT")" '"params":{"reg_u":3.747,"reg_i":2.844,"epochs":3}'

# Usage errors: exit 2, one line naming the problem.
expect_usage() { # NEEDLE ARGS...
    needle=$1; shift
    expect_status 2 "$RECO" eval "$@"
    expect_contains "$ERR" "reco eval: "
    expect_contains "$ERR" "$needle"
    [ -z "$OUT" ] || fail "eval $*: wrote to stdout"
}
expect_usage 'unknown split "bogus"' --split bogus "$TMP/r.csv"
expect_usage "folds" --split kfold:1 "$TMP/r.csv"
expect_usage "random:2" --split random:2 "$TMP/r.csv"
expect_usage 'unknown algorithm "nosuch"' --algo nosuch "$TMP/r.csv"
expect_usage "unknown parameter baseline.nosuch" --param baseline.nosuch=1 "$TMP/r.csv"
expect_usage "baseline.reg_u" --param baseline.reg_u=abc "$TMP/r.csv"
expect_usage "KEY=VALUE or ALGO.KEY=VALUE" --param reg_u "$TMP/r.csv"
expect_usage "no algorithm evaluated has a parameter reg_u" --algo popular --param reg_u=3 "$TMP/r.csv"
expect_usage "no algorithm evaluated has a parameter nosuch.k" --param nosuch.k=1 "$TMP/r.csv"
expect_usage "mf.factors wants an integer from 1 to 1024" --algo mf,baseline --param factors=0 "$TMP/r.csv"
expect_usage "-n" -n 0 "$TMP/r.csv"
expect_usage "--relevant" --relevant high "$TMP/r.csv"
expect_usage "unknown option '--bogus'; see 'reco eval --help'" --bogus "$TMP/r.csv"
[ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "unknown option: more than one line: $ERR"
expect_usage "missing FILE" --algo baseline
expect_usage "pairs" --train "$TMP/train.csv" "$TMP/r.csv"
expect_usage "--split" --split kfold:2 --train "$TMP/train.csv" --test "$TMP/test.csv"

# A file that does not exist: exit 1.
expect_status 1 "$RECO" eval --quiet "$TMP/absent.csv"
expect_contains "$ERR" "reco eval: "

expect_status 0 "$RECO" eval --help
expect_contains "$OUT" "Usage: reco eval"


SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
# The table's columns line up whatever the values look like (a standard
# deviation printed as 8.7e-04 is wider than 0.0123): every line of the
# table, header included, is equally wide.
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --split kfold:3 "$SAMPLE"
widths=$(printf '%s\n' "$OUT" | sed -n '/^algorithm/,$p' | while IFS= read -r line; do
    printf '%s' "$line" | LC_ALL=C.UTF-8 wc -m
done | sort -u)
[ "$(printf '%s\n' "$widths" | wc -l)" -eq 1 ] ||
    fail "eval table lines of different widths ($widths):
$OUT"

finish
