#!/bin/sh
# PostgreSQL source benchmark: the full-size synthetic file loaded into a
# table of a throwaway cluster (scripts/pg_cluster.sh, removed at exit), then
# `reco stats` and `reco train --algo $ALGO` timed from the CSV file and from
# postgresql:///shop?table=ratings, alternately, RUNS times each (median wall
# time, peak memory of reco). The server shares the machine's cores with reco.
# Target (issue 12): training from PostgreSQL <= 2x the time from the file.
. "$(dirname "$0")/common.sh"
. "$ROOT/scripts/pg_cluster.sh"
RUNS=${RUNS:-3}
ALGO=${ALGO:-ials}
ensure_data
pg_find_bin || { echo "pg_bench: no initdb/pg_ctl/psql (Debian: postgresql)" >&2; exit 1; }
trap 'pg_cluster_stop' EXIT
PG_SERVER_OPTS="-c max_wal_size=4GB -c shared_buffers=256MB" pg_cluster_start
t0=$(date +%s.%N)
pg_psql -c "CREATE UNLOGGED TABLE ratings (user_id text, product_id text, rating real, ts bigint)" \
    -c "\\copy ratings FROM '$BENCH_DATA' WITH (FORMAT csv)" -c "VACUUM ANALYZE ratings"
t1=$(date +%s.%N)
rows=$(pg_psql -At -c "SELECT count(*) FROM ratings")
size=$(pg_psql -At -c "SELECT pg_size_pretty(pg_total_relation_size('ratings'))")
printf '%s\n' "file: $BENCH_DATA ($(wc -c <"$BENCH_DATA") bytes); table: $rows rows, $size, loaded with \\copy in $(echo "$t1 - $t0" | bc) s; $RUNS runs each, $(nproc) cores"
SRC="postgresql:///shop?table=ratings"
"$RECO" stats --quiet --json "$BENCH_DATA" | grep -v '"file":' >"$OUT/.pg_file.json"
"$RECO" stats --quiet --json "$SRC" | grep -v '"file":' >"$OUT/.pg_table.json"
if cmp -s "$OUT/.pg_file.json" "$OUT/.pg_table.json"; then
    echo "reco stats --json: identical from both (but for the name)"
else
    echo "reco stats --json: DIFFERENT" && exit 1
fi

for what in stats train; do
    : >"$OUT/.pg_file" && : >"$OUT/.pg_table"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        for src in file table; do
            input=$BENCH_DATA
            [ "$src" = table ] && input=$SRC
            if [ "$what" = stats ]; then
                /usr/bin/time -f "%e %M" -o "$OUT/.t1" "$RECO" stats --quiet "$input" >/dev/null
            else
                /usr/bin/time -f "%e %M" -o "$OUT/.t1" "$RECO" train --quiet --algo "$ALGO" \
                    "$input" -o "$OUT/pg_bench.model"
            fi
            cat "$OUT/.t1" >>"$OUT/.pg_$src"
        done
        i=$((i + 1))
    done
    fw=$(cut -d' ' -f1 "$OUT/.pg_file" | median)
    tw=$(cut -d' ' -f1 "$OUT/.pg_table" | median)
    fm=$(cut -d' ' -f2 "$OUT/.pg_file" | sort -n | tail -1)
    tm=$(cut -d' ' -f2 "$OUT/.pg_table" | sort -n | tail -1)
    label="reco $what"
    [ "$what" = train ] && label="reco train --algo $ALGO"
    printf '%-26s file %7.2f s %6d MB   table %7.2f s %6d MB   ratio %.2f  (all: file %s; table %s)\n' \
        "$label" "$fw" $((fm / 1024)) "$tw" $((tm / 1024)) "$(echo "$tw / $fw" | bc -l)" \
        "$(cut -d' ' -f1 "$OUT/.pg_file" | tr '\n' ' ' | sed 's/ $//')" \
        "$(cut -d' ' -f1 "$OUT/.pg_table" | tr '\n' ' ' | sed 's/ $//')"
done
rm -f "$OUT/pg_bench.model" "$OUT/.pg_file" "$OUT/.pg_table" "$OUT/.pg_file.json" "$OUT/.pg_table.json"
