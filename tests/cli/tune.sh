#!/bin/bash
# reco tune on the bundled sample: the trial table, the best parameters and
# the train line, --json, the held-out modes (--split, --train/--test),
# data too small to validate on, and usage errors (exit 2, naming the
# parameter).
. "$(dirname "$0")/lib.sh"

SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
[ -f "$SAMPLE" ] || { echo "no $SAMPLE"; exit 1; }

json_ok() { # JSON on stdin, then a Python expression over d that must hold
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert eval(sys.argv[1]), sys.argv[1]' "$1"
}

# A grid of two lists: every point in order, the best marked, the train line.
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_u=1,20 --space reg_i=2,30 \
    --metric rmse "$SAMPLE"
expect_contains "$OUT" "validation  time:0.2 carved from those ratings"
expect_contains "$OUT" "search      baseline grid, 4 trials, target rmse (lower is better)"
expect_contains "$OUT" "space       reg_u=1,20 reg_i=2,30"
expect_contains "$OUT" "RMSE"
expect_contains "$OUT" "MAE"
[ "$(printf '%s\n' "$OUT" | grep -cE '^ +\*?[1-4]  ')" -eq 4 ] || fail "four trial rows: $OUT"
[ "$(printf '%s\n' "$OUT" | grep -cE '^ +\*[1-4]  ')" -eq 1 ] || fail "one best row: $OUT"
printf '%s\n' "$OUT" | grep -qE '^ +\*?1  1 +2 ' || fail "first grid point is reg_u=1 reg_i=2: $OUT"
printf '%s\n' "$OUT" | grep -qE '^ +\*?4  20 +30 ' || fail "last grid point: $OUT"
expect_contains "$OUT" "best        trial "
printf '%s\n' "$OUT" | grep -qE "^train with  reco train --algo baseline --param reg_u=(1|20) --param reg_i=(2|30) $SAMPLE -o MODEL$" \
    || fail "train line: $OUT"
expect_contains "$OUT" "no held-out figure"
[ -z "$ERR" ] || fail "--quiet wrote to stderr: $ERR"

# The train line is one that reco train takes as it is.
line=$(printf '%s\n' "$OUT" | sed -n 's/^train with  reco train //p' | sed "s|-o MODEL|-o $TMP/m.model|")
# shellcheck disable=SC2086
expect_status 0 "$RECO" train --quiet $line
[ -s "$TMP/m.model" ] || fail "train line did not write a model: $line"

# JSON: the same search, every trial, the best, the command; a seeded
# random search repeats exactly.
expect_status 0 "$RECO" tune --quiet --algo mf --param epochs=5 --space factors=4:32:int:log \
    --space reg=0.01:0.2:log --trials 3 --seed 7 --json "$SAMPLE"
printf '%s' "$OUT" | json_ok 'd["strategy"] == "random" and len(d["trials"]) == 3 and d["metric"] == "ndcg@10" and d["maximise"]' \
    || fail "--json: $OUT"
printf '%s' "$OUT" | json_ok 'all(set(t["params"]) == {"factors", "reg"} and t["metric"] == t["ndcg"] for t in d["trials"])' \
    || fail "--json trials: $OUT"
printf '%s' "$OUT" | json_ok 'd["best"]["metric"] == max(t["ndcg"] for t in d["trials"])' \
    || fail "--json best: $OUT"
printf '%s' "$OUT" | json_ok 'd["train_command"].startswith("reco train --algo mf --param epochs=5 --param factors=") and d["heldout"] is None and d["fixed"] == {"epochs": 5}' \
    || fail "--json command: $OUT"
first=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print([(t["params"], t["ndcg"]) for t in json.load(sys.stdin)["trials"]])')
expect_status 0 "$RECO" tune --quiet --algo mf --param epochs=5 --space factors=4:32:int:log \
    --space reg=0.01:0.2:log --trials 3 --seed 7 --json "$SAMPLE"
again=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print([(t["params"], t["ndcg"]) for t in json.load(sys.stdin)["trials"]])')
[ "$first" = "$again" ] || fail "one seed, two different searches: $first / $again"

# --split: tune on the training part only, then the held-out figure.
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_i=1,25 --split time:0.2 "$SAMPLE"
expect_contains "$OUT" "the training part of --split time:0.2"
expect_contains "$OUT" "held-out test, never seen during tuning: 7,996 ratings"
printf '%s\n' "$OUT" | grep -qE '^tuned  ' || fail "tuned row: $OUT"
printf '%s\n' "$OUT" | grep -qE '^defaults  ' || fail "defaults row: $OUT"
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_i=1,25 --split time:0.2 --json "$SAMPLE"
printf '%s' "$OUT" | json_ok 'd["heldout"]["test_ratings"] == 7996 and d["tune_ratings"] + 7996 == 40000 and d["inner_train_ratings"] + d["validation_ratings"] == d["tune_ratings"]' \
    || fail "--split --json: $OUT"

# --train/--test: tune on one file, score the other once.
head -n 30000 "$SAMPLE" >"$TMP/train.csv"
tail -n 10000 "$SAMPLE" >"$TMP/test.csv"
expect_status 0 "$RECO" tune --quiet --algo popular --space damping=1,50 --train "$TMP/train.csv" \
    --test "$TMP/test.csv" --json
printf '%s' "$OUT" | json_ok 'd["tune_ratings"] == 30000 and d["heldout"]["tuned"]["ndcg"] is not None and d["train"].endswith("train.csv")' \
    || fail "--train/--test --json: $OUT"
expect_contains "$OUT" "train.csv -o MODEL"

# Without timestamps the default time validation becomes random; asking
# for time explicitly is an error.
cut -d, -f1-3 "$SAMPLE" >"$TMP/nots.csv"
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_u=5 "$TMP/nots.csv"
expect_contains "$OUT" "random:0.2 (no timestamps, so not time)"
expect_status 2 "$RECO" tune --quiet --algo baseline --space reg_u=5 --validation time:0.2 "$TMP/nots.csv"
expect_contains "$ERR" "no timestamps"

# Too small to carve a validation split: said so, exit 2.
printf 'u1,A,5,1\nu2,B,4,2\nu3,C,3,3\n' >"$TMP/tiny.csv"
expect_status 2 "$RECO" tune --quiet --algo baseline "$TMP/tiny.csv"
expect_contains "$ERR" "reco tune: the data is too small to carve a validation split"
expect_contains "$ERR" "3 ratings of 3 users"

# The budget: the first trial runs, no other starts after it.
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_u=1:50:log --trials 50 \
    --budget 0.000001 --json "$SAMPLE"
printf '%s' "$OUT" | json_ok 'len(d["trials"]) == 1 and d["budget_exhausted"] and d["planned"] == 50' \
    || fail "--budget: $OUT"

# The default space of an algorithm.
expect_status 0 "$RECO" tune --quiet --algo popular --trials 2 "$SAMPLE"
expect_contains "$OUT" "(the default space of this algorithm)"
expect_contains "$OUT" "damping="

# Usage errors: exit 2, one line naming the problem (and the parameter).
expect_usage() { # NEEDLE ARGS...
    needle=$1; shift
    expect_status 2 "$RECO" tune "$@"
    expect_contains "$ERR" "reco tune: "
    expect_contains "$ERR" "$needle"
    [ -z "$OUT" ] || fail "tune $*: wrote to stdout"
}
expect_usage 'mf.factors wants an integer from 1 to 1024, got "5000"' --algo mf --space factors=8:5000 "$SAMPLE"
expect_usage 'mf.reg wants a number from 0 to' --algo mf --space reg=-1,0.1 "$SAMPLE"
expect_usage 'unknown parameter mf.nosuch' --algo mf --space nosuch=1,2 "$SAMPLE"
expect_usage 'a log range needs a lower bound above 0' --algo mf --space reg=0:1:log "$SAMPLE"
expect_usage 'space "reg=0.1:x"' --algo mf --space reg=0.1:x "$SAMPLE"
expect_usage 'mf.factors wants an integer' --algo mf --param factors=0 "$SAMPLE"
expect_usage 'factors is both fixed' --algo mf --param factors=8 --space factors=8,16 "$SAMPLE"
expect_usage 'the grid has 9 points' --algo mf --space factors=1,2,3 --space reg=1,2,3 --max-trials 5 "$SAMPLE"
expect_usage 'a grid needs the values of reg' --algo mf --space reg=0.1:1 --strategy grid "$SAMPLE"
expect_usage 'unknown metric "auc"' --algo mf --metric auc "$SAMPLE"
expect_usage 'unknown algorithm "nosuch"' --algo nosuch "$SAMPLE"
expect_usage 'missing --algo' "$SAMPLE"
expect_usage 'missing FILE' --algo mf
expect_usage '--test needs --train' --algo mf --test "$TMP/test.csv" "$SAMPLE"
expect_usage '--split makes a test set' --algo mf --split time:0.2 --train "$TMP/train.csv"
expect_usage 'tune once per --train/--test pair' --algo mf --split kfold:5 "$SAMPLE"
expect_usage '--budget wants a time above 0' --algo mf --budget 0 "$SAMPLE"
expect_usage '--strategy wants grid or random' --algo mf --strategy bayes "$SAMPLE"
expect_usage '--trials is the number of random draws' --algo mf --trials 3 --strategy grid "$SAMPLE"
expect_usage "--bogus" --algo mf --bogus "$SAMPLE"
[ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "unknown option: more than one line: $ERR"

# A file that does not exist: exit 1.
expect_status 1 "$RECO" tune --quiet --algo baseline "$TMP/absent.csv"
expect_contains "$ERR" "reco tune: "

expect_status 0 "$RECO" tune --help
expect_contains "$OUT" "Usage: reco tune"
expect_contains "$OUT" "--space KEY=SPEC"
expect_contains "$OUT" "--budget"

# MovieLens u1: tune on u1.base only, score u1.test once (skipped without
# the shared data).
ML="$RECO_SHARED_DATA/ml-100k/splits"
if [ -f "$ML/u1.base" ] && [ -f "$ML/u1.test" ]; then
    expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_u=2,15 --metric rmse \
        --train "$ML/u1.base" --test "$ML/u1.test" --json
    printf '%s' "$OUT" | json_ok 'd["tune_ratings"] == 80000 and d["heldout"]["test_ratings"] == 20000 and 0.9 < d["heldout"]["tuned"]["rmse"] < 1.0' \
        || fail "MovieLens u1: $OUT"
fi

finish
