#!/bin/sh
# Batch export (`reco recommend --all-users`) of every user of the
# full-size synthetic file (4.2M users, 476k products), top 10, on the
# machine's cores: wall time, users/s, peak RSS (/usr/bin/time -v; the
# model file's mapped pages count in it) and peak anonymous memory (what
# the export itself allocates, sampled from /proc every 0.2 s), output
# size; then 20 users of the file checked against `reco recommend --user`.
# Target: <= 10 minutes for the full-size mf model (64 factors).
#
# The full-size models are those of serve_bench.sh
# (BENCH_OUT/serve-ALGO-full.reco), trained here when missing or older
# than the data. Environment: RECO, BENCH_DATA, BENCH_OUT, ALGOS (default
# "mf"; "mf ials" for both), FORMATS (default "jsonl csv"), N (10).
. "$(dirname "$0")/common.sh"

ALGOS=${ALGOS:-mf}
FORMATS=${FORMATS:-jsonl csv}
N=${N:-10}
ensure_data
: >"$OUT/export-results.txt"

echo "export_bench: $(basename "$BENCH_DATA"), top $N, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-6s %10s %9s %10s %9s %9s %11s\n" model format users wall_s users/s rss_MB anon_MB output_MB
for algo in $ALGOS; do
    model="$OUT/serve-$algo-full.reco"
    if [ ! -s "$model" ] || [ "$model" -ot "$BENCH_DATA" ]; then
        echo "training the full-size $algo model ($model)..." >&2
        "$RECO" train --algo "$algo" --param factors=64 --quiet "$BENCH_DATA" -o "$model"
    fi
    for fmt in $FORMATS; do
        out="$OUT/export-$algo.$fmt"
        rm -f "$out" "$out.part" "$out.part.state"
        sync
        /usr/bin/time -v -o "$OUT/export-time.txt" \
            "$RECO" recommend "$model" --all-users -n "$N" -o "$out" 2>"$OUT/export-err.txt" &
        pid=$!
        # The export's own anonymous memory, sampled (the child of time).
        anon=0
        while kill -0 "$pid" 2>/dev/null; do
            for c in $(pgrep -P "$pid" 2>/dev/null); do
                a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$c/status" 2>/dev/null)
                [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
            done
            sleep 0.2
        done
        wait "$pid" || { echo "export_bench: the export failed: $(cat "$OUT/export-err.txt")" >&2; exit 1; }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$OUT/export-time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ { print int($2 / 1024) }' "$OUT/export-time.txt")
        if [ "$fmt" = jsonl ]; then users=$(wc -l <"$out"); else users=$(cut -d, -f1 "$out" | uniq | tail -n +2 | wc -l); fi
        size=$(stat -c %s "$out")
        awk -v a="$algo" -v f="$fmt" -v u="$users" -v w="$wall" -v r="$rss" -v an="$anon" -v s="$size" \
            'BEGIN { printf "%-6s %-6s %10d %9.1f %10.0f %9d %9.1f %11.0f\n", a, f, u, w, u / w, r, an / 1024, s / 1e6 }' |
            tee -a "$OUT/export-results.txt"
        cat "$OUT/export-err.txt" >&2
    done
    # 20 users spread over the file, each against reco recommend --user.
    if [ -s "$OUT/export-$algo.jsonl" ]; then
        total=$(wc -l <"$OUT/export-$algo.jsonl")
        bad=0
        for k in $(awk -v t="$total" 'BEGIN { for (j = 0; j < 20; j++) print 1 + int(j * (t - 1) / 19) }'); do
            line=$(sed -n "${k}p" "$OUT/export-$algo.jsonl")
            user=$(printf '%s' "$line" | sed 's/^{"user":"\([^"]*\)".*/\1/')
            want=$("$RECO" recommend "$model" --user "$user" -n "$N" --json |
                python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[i["item"], i["score"]] for i in d["items"]]))')
            got=$(printf '%s' "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[i["item"], i["score"]] for i in d["items"]]))')
            [ "$want" = "$got" ] || { bad=$((bad + 1)); echo "export_bench: user $user differs" >&2; }
        done
        echo "$algo: 20 users checked against reco recommend --user: $bad differ"
    fi
done
awk '$1 == "mf" { ok = $4 <= 600; printf "target (mf, %s, all users, top '"$N"'): <= 600 s: %s\n", $2, ok ? "met" : "NOT met" }' \
    "$OUT/export-results.txt"
rm -f "$OUT/export-results.txt"
