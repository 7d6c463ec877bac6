#!/bin/sh
# Builds the libFuzzer targets with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer) and fuzzes each for a bounded time, growing
# its corpus in fuzz/corpus/NAME:
#   csv        the rating-file parser and the dataset build (fuzz/fuzz_csv.c)
#   modelfile  the model-file loader, with checksums recomputed so that the
#              structure checks of every algorithm are reached
#              (fuzz/fuzz_modelfile.c; seeds from fuzz/modelfile_seeds.c)
#   json       the body of POST /v1/ratings (fuzz/fuzz_json_body.c)
# CTest replays every corpus with the normal build (tests/CMakeLists.txt).
# Crashes are written to fuzz/artifacts/NAME-*.
#
# The inputs already in a corpus are kept. Of what a run finds, only
# inputs that reach code the corpus does not reach are added, those with
# the most new edges per byte first, until the corpus would pass its size
# budget (CORPUS_KB below: model files are ~10 KB each, and the corpus is
# committed). What is left out is reported.
#
# Usage: scripts/fuzz.sh [BUILD_DIR [SECONDS [TARGET...]]]
#        (defaults: build-fuzz, 60 seconds per target, all targets)
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
set -eu
BUILD=${1:-build-fuzz}
SECONDS_=${2:-60}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
TARGETS=${*:-csv modelfile json}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD/obj" "$ROOT/fuzz/artifacts"
PKGS="openblas lapacke jansson arpack plplot libmicrohttpd"
# The kernels' per-CPU clones (target_clones) are compiled once, for the
# baseline CPU: clang 14 does not resolve them across files.
CFLAGS="-std=c17 -O1 -g -D_GNU_SOURCE -fopenmp -ffp-contract=fast -fsanitize=address,undefined
 -Wno-pass-failed -Dtarget_clones(...)=unused -I$ROOT/include -I$ROOT/src/lib/core -I$ROOT/src/lib/models -I$ROOT/src/server
 $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm"
export CFLAGS

# The library and the server, instrumented for coverage, on two cores;
# an object is rebuilt when its source or any header is newer.
NEWEST_HEADER=$(find "$ROOT/include" "$ROOT/src" -name '*.h' -newer "$BUILD/obj" 2>/dev/null | head -1)
OBJS=""
LIST=$(mktemp)
for src in $(find "$ROOT/src/lib" -name '*.c' | sort) "$ROOT/src/server/http.c" \
           "$ROOT/src/server/service.c"; do
    obj="$BUILD/obj/$(echo "${src#"$ROOT"/}" | tr / _).o"
    OBJS="$OBJS $obj"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$NEWEST_HEADER" ]; then
        echo "$src $obj" >>"$LIST"
    fi
done
if [ -s "$LIST" ]; then
    echo "fuzz: compiling $(wc -l <"$LIST") files of the library with clang..."
    # shellcheck disable=SC2016
    xargs -P 2 -n 2 sh -c 'clang $CFLAGS -fsanitize=fuzzer-no-link -c "$0" -o "$1"' <"$LIST"
    touch "$BUILD/obj"
fi
rm -f "$LIST"

# keep_new FUZZER CORPUS FOUND BUDGET_KB: copies into CORPUS the inputs of
# FOUND that add coverage edges, greedily by new edges per byte, within
# BUDGET_KB for the whole corpus.
keep_new() {
    fz=$1 corpus=$2 found=$3 budget=$(($4 * 1024))
    ctl=$(mktemp) out=$(mktemp -d)
    cp "$corpus"/* "$out"/ 2>/dev/null || true
    # Edges only (-use_counters=0): hit counts would make nearly every
    # input "new".
    "$fz" -merge=1 -use_counters=0 -merge_control_file="$ctl" "$out" "$found" \
        >/dev/null 2>&1
    used=$(cat "$corpus"/* 2>/dev/null | wc -c)
    awk -v used="$used" -v budget="$budget" '
        NR == 1 { n = $1; next }
        NR == 2 { first = $1; next }
        NR <= n + 2 { file[NR - 3] = $0; next }
        $1 == "STARTED" { size[$2] = $3; next }
        $1 == "COV" {
            i = $2
            for (k = 3; k <= NF; k++) {
                if (i < first) got[$k] = 1
                else { edges[i] = edges[i] " " $k; cand[i] = 1 }
            }
        }
        END {
            for (;;) {
                best = -1; bestr = 0
                for (i in cand) {
                    if (i in dead) continue
                    m = split(edges[i], e, " "); g = 0
                    for (k = 1; k <= m; k++) if (!(e[k] in got)) g++
                    if (g == 0) { dead[i] = 1; continue }
                    if (used + size[i] > budget) { over += g; dead[i] = 1; continue }
                    r = g / (size[i] + 1)
                    if (r > bestr) { bestr = r; best = i }
                }
                if (best < 0) break
                m = split(edges[best], e, " ")
                for (k = 1; k <= m; k++) got[e[k]] = 1
                used += size[best]; dead[best] = 1
                print file[best]
            }
            if (over) printf "fuzz: corpus at its budget: inputs that reach new edges were left out\n" > "/dev/stderr"
        }' "$ctl" | while read -r f; do cp "$f" "$corpus"/; done
    rm -rf "$ctl" "$out"
}

for t in $TARGETS; do
    case $t in
        csv) src=fuzz_csv.c; max_len=4096; budget=400 ;;
        modelfile) src=fuzz_modelfile.c; max_len=131072; budget=320 ;;
        json) src=fuzz_json_body.c; max_len=16384; budget=64 ;;
        *) echo "fuzz: unknown target $t (csv, modelfile, json)" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    clang $CFLAGS -fsanitize=fuzzer -o "$BUILD/fuzz_$t" "$ROOT/fuzz/$src" $OBJS $LIBS
    CORPUS="$ROOT/fuzz/corpus/$t"
    mkdir -p "$CORPUS"
    if [ "$t" = modelfile ] && [ -z "$(ls -A "$CORPUS")" ]; then
        # shellcheck disable=SC2086
        clang $CFLAGS -o "$BUILD/modelfile_seeds" "$ROOT/fuzz/modelfile_seeds.c" $OBJS $LIBS
        "$BUILD/modelfile_seeds" "$CORPUS"
    fi
    WORK=$(mktemp -d)
    cp "$CORPUS"/* "$WORK"/
    echo "fuzz: $t for $SECONDS_ s"
    "$BUILD/fuzz_$t" -max_total_time="$SECONDS_" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=4096 -artifact_prefix="$ROOT/fuzz/artifacts/$t-" "$WORK"
    before=$(ls "$CORPUS" | wc -l)
    keep_new "$BUILD/fuzz_$t" "$CORPUS" "$WORK" "$budget"
    rm -rf "$WORK"
    echo "fuzz: corpus $t: $(($(ls "$CORPUS" | wc -l) - before)) inputs added, now" \
         "$(ls "$CORPUS" | wc -l) ($(($(cat "$CORPUS"/* | wc -c) / 1024)) KB)"
done
