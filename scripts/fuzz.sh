#!/bin/sh
# Builds the parser's libFuzzer target with clang and fuzzes it for a
# bounded time, growing the corpus in fuzz/corpus/csv.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
BUILD=${1:-build-fuzz}
SECONDS_=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD" "$ROOT/fuzz/artifacts"
CFLAGS="-std=c17 -O1 -g -D_GNU_SOURCE -fopenmp -fsanitize=fuzzer,address,undefined -I$ROOT/include"
# shellcheck disable=SC2086
clang $CFLAGS -o "$BUILD/fuzz_csv" "$ROOT/fuzz/fuzz_csv.c" \
    -I"$ROOT/src/lib/core" \
    "$ROOT/src/lib/data/ratings.c" "$ROOT/src/lib/data/dataset.c" "$ROOT/src/lib/data/sparse.c" \
    "$ROOT/src/lib/data/idmap.c" "$ROOT/src/lib/core/error.c" "$ROOT/src/lib/core/mem.c" \
    "$ROOT/src/lib/core/modelfile.c" "$ROOT/src/lib/core/utf8.c" -lm
WORK=$(mktemp -d)
cp "$ROOT"/fuzz/corpus/csv/* "$WORK"/
"$BUILD/fuzz_csv" -max_total_time="$SECONDS_" -max_len=4096 -timeout=10 \
    -artifact_prefix="$ROOT/fuzz/artifacts/" "$WORK" "$ROOT/fuzz/corpus/csv"
# Keep the corpus small: merge what was found into the minimal set.
MIN=$(mktemp -d)
"$BUILD/fuzz_csv" -merge=1 "$MIN" "$WORK" >/dev/null 2>&1
rm -rf "$ROOT/fuzz/corpus/csv.new"
mkdir -p "$ROOT/fuzz/corpus/csv.new"
cp "$MIN"/* "$ROOT/fuzz/corpus/csv.new/" 2>/dev/null || true
for f in "$ROOT"/fuzz/corpus/csv/*; do cp "$f" "$ROOT/fuzz/corpus/csv.new/"; done
rm -rf "$ROOT/fuzz/corpus/csv" "$WORK" "$MIN"
mv "$ROOT/fuzz/corpus/csv.new" "$ROOT/fuzz/corpus/csv"
echo "fuzz: corpus now $(ls "$ROOT/fuzz/corpus/csv" | wc -l) inputs"
