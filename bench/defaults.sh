#!/bin/sh
# How reco's defaults are derived: `reco tune` on the training file of
# MovieLens 100K fold u1 only (a validation split carved out of u1.base),
# then one held-out score on u1.test, which the search never saw, against
# the algorithm's current defaults. Rating predictors are tuned for RMSE on
# a random validation split (the u1 test set is a random one), rankers for
# NDCG@10 on the time split (each user's latest 20%: what a shop faces).
# The search spaces are each algorithm's default space (reco tune --help).
# Also, NESTED=1: the honest estimate of "tune, then train" on all five
# folds (each fold tuned on its own training file, scored on its test
# file), for the algorithms named in NESTED_ALGOS.
# Figures only. TRIALS=N random trials per search (default 60).
. "$(dirname "$0")/common.sh"
SHARED=${RECO_SHARED_DATA:-$ROOT/../shared/data}
ML=$SHARED/ml-100k/splits
TRIALS=${TRIALS:-60}
if [ ! -s "$ML/u5.test" ]; then
    echo "MovieLens 100K not found under $SHARED: skipped"
    exit 0
fi

tune() { # ALGO METRIC VALIDATION [extra options...]
    algo=$1 metric=$2 valid=$3
    shift 3
    echo
    echo "== $algo: $metric on $valid validation of u1.base, $TRIALS trials; held out: u1.test"
    "$RECO" tune --quiet --algo "$algo" --metric "$metric" --validation "$valid" \
        --trials "$TRIALS" "$@" --train "$ML/u1.base" --test "$ML/u1.test" |
        sed -n '/^best/,$p'
}

for a in baseline usercf itemcf mf; do tune "$a" rmse random:0.2; done
tune svd rmse random:0.2 --space k=2:200:int:log --param mode=baseline
tune ials ndcg@10 time:0.2
tune ease ndcg@10 time:0.2 --space lambda=50:3000:log --space min_rating=none,4

if [ "${NESTED:-0}" = 1 ]; then
    for a in ${NESTED_ALGOS:-mf ials}; do
        metric=ndcg@10 valid=time:0.2
        [ "$a" = mf ] && metric=rmse valid=random:0.2
        echo
        echo "== nested: $a tuned on each uk.base ($metric, $valid), scored on uk.test"
        for k in 1 2 3 4 5; do
            "$RECO" tune --quiet --json --algo "$a" --metric "$metric" --validation "$valid" \
                --trials "$TRIALS" --train "$ML/u$k.base" --test "$ML/u$k.test" |
                python3 -c 'import json,sys; d=json.load(sys.stdin); h=d["heldout"]; m=sys.argv[1]
t=h["tuned"]; f=h["defaults"]
key={"rmse":"rmse"}.get(m,"ndcg")
print("u%s  tuned %.4f  defaults %.4f  (%s)" % (sys.argv[2], t[key], f[key],
      " ".join("%s=%s" % kv for kv in d["best"]["params"].items())))' "$metric" "$k"
        done
    done
fi
