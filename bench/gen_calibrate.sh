#!/bin/sh
# Calibrates the default taste strength of `reco gen` (docs/synthetic-data.md)
# on a model-free statistic of co-rating structure, computed by the small
# helper bench/gen_corate.c (compiled here):
#
#   the share of (user, product pair) instances -- every pair of products
#   that one user rated -- whose pair was also rated together by another
#   user, divided by the same share after random rewirings of the file that
#   keep every user's and product's number of ratings and every user's mix
#   of popular and niche products (products swapped only within the same
#   half-octave of popularity): "shared lift".
#
# Like with like: the real value comes from ../shared/data/electronics-head
# (the first 50,698 lines of Amazon's ratings_Electronics.csv, which is
# sorted by product: a contiguous slice of 3,529 products); each generated
# value from the electronics preset (seed 1, same size as the real file,
# also sorted by product), cut into SLICES consecutive slices of the same
# 50,698 lines (the first one is the generated head), the statistic computed
# on each slice and averaged (one slice is noisy: few users rate two of its
# products). No recommender is run.
#
#   TASTES="0 0.91" SLICES=24 bench/gen_calibrate.sh
. "$(dirname "$0")/common.sh"
TASTES=${TASTES:-"0 0.5 0.7 0.8 0.85 0.9 0.91 0.92 0.94 0.96 1"}
SLICES=${SLICES:-24}
LINES=50698
SHARED=${RECO_SHARED_DATA:-$ROOT/../shared/data}
HEAD=$SHARED/electronics-head/ratings_Electronics_head.csv
HELPER=$OUT/gen_corate

cc -std=c17 -O2 "$ROOT/bench/gen_corate.c" -lm -o "$HELPER"

# mean and sample sd of column 1 on stdin
meansd() { awk '{s += $1; q += $1 * $1; n++} END {m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; printf "%.3f %.3f", m, sqrt(v > 0 ? v : 0)}'; }
field() { sed -n "s/^$1 //p"; }

if [ -s "$HEAD" ]; then
    "$HELPER" "$HEAD" "$LINES" 10 >"$OUT/corate_real.txt"
    echo "real head ($HEAD, $LINES lines):"
    sed 's/^/  /' "$OUT/corate_real.txt"
else
    echo "no $HEAD: real value skipped"
fi

echo "generated, electronics preset, seed 1, $SLICES slices of $LINES lines:"
printf '%-6s %-12s %-14s %-14s %-10s %-10s %s\n' taste pooled_lift lift_mean_sd shared users_2plus user_pairs squares_lift
for t in $TASTES; do
    f=$OUT/calib_$t.csv
    "$RECO" gen --preset electronics --seed 1 --taste "$t" --quiet -o "$f"
    : >"$OUT/.calib"
    i=0
    while [ "$i" -lt "$SLICES" ]; do
        tail -n +$((i * LINES + 1)) "$f" | head -n "$LINES" >"$OUT/.slice"
        "$HELPER" "$OUT/.slice" "$LINES" 5 >"$OUT/.one"
        for k in shared_lift_class shared shared_rewired_class users_2plus user_pairs squares squares_rewired_class; do
            printf '%s ' "$(field $k <"$OUT/.one")"
        done >>"$OUT/.calib"
        echo >>"$OUT/.calib"
        i=$((i + 1))
    done
    rm -f "$f" "$OUT/.slice" "$OUT/.one"
    # pooled: shared instances over all slices / their rewired expectation
    pooled=$(awk '{o += $2 * $5; e += $3 * $5} END {printf "%.3f", o / e}' "$OUT/.calib")
    sq=$(awk '{o += $6; e += $7} END {printf "%.3f", o / e}' "$OUT/.calib")
    printf '%-6s %-12s %-14s %-14s %-10s %-10s %s\n' "$t" "$pooled" \
        "$(cut -d' ' -f1 "$OUT/.calib" | meansd)" "$(cut -d' ' -f2 "$OUT/.calib" | meansd)" \
        "$(cut -d' ' -f4 "$OUT/.calib" | meansd | cut -d' ' -f1)" \
        "$(cut -d' ' -f5 "$OUT/.calib" | meansd | cut -d' ' -f1)" "$sq"
done
echo "(pooled_lift: the shared instances of all slices over their rewired expectation;"
echo " lift_mean_sd, shared: mean and sd over the slices; users_2plus, user_pairs: means;"
echo " squares_lift: pooled user pairs sharing a product pair over their rewired expectation)"
