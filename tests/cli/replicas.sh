#!/bin/bash
# Replicas behind a load balancer (issue 12): a throwaway PostgreSQL
# cluster (scripts/pg_cluster.sh), two `reco serve --store` replicas on
# random loopback ports and HAProxy in front of them (scripts/
# haproxy_front.sh: writes only to replicas whose /healthz answers 200). A rating posted through
# the balancer is read back from both replicas; one replica is killed
# (SIGKILL) during a storm of writes through the balancer, and every
# rating that was acknowledged (2xx) is then in PostgreSQL and visible
# from the survivor. Skipped without PostgreSQL, HAProxy or curl, or a
# reco built without libpq or the server.
. "$(dirname "$0")/lib.sh"
. "$RECO_TEST_DIR/../scripts/pg_cluster.sh"
. "$RECO_TEST_DIR/../scripts/reco_serve.sh"
FRONT="$RECO_TEST_DIR/../scripts/haproxy_front.sh"

"$RECO" serve --help >/dev/null 2>&1 || { echo "skipped: built without the server"; exit 77; }
command -v curl >/dev/null || { echo "skipped: no curl"; exit 77; }
command -v haproxy >/dev/null || { echo "skipped: no haproxy (Debian: haproxy)"; exit 77; }
require_postgresql
SERVE_DIR=$TMP
trap 'sh "$FRONT" stop "$TMP/lb"; serve_stop_all; pg_cluster_stop; rm -rf "$TMP"' EXIT
pg_cluster_start || { echo "FAIL: cannot start a PostgreSQL cluster" >&2; exit 1; }
STORE='postgresql:///shop?table=ratings_live'

expect_status 0 "$RECO" gen --preset sample --seed 4 --ratings 3000 --users 200 --items 150 \
    -o "$TMP/r.csv" --quiet
expect_status 0 "$RECO" train --quiet --algo baseline "$TMP/r.csv" -o "$TMP/m.reco"
serve_start a "$TMP/m.reco" --store "$STORE" || { cat "$TMP/a.err" >&2; exit 1; }
A=$SERVE_PORT
serve_start b "$TMP/m.reco" --store "$STORE" || { cat "$TMP/b.err" >&2; exit 1; }
B=$SERVE_PORT
LB=$(sh "$FRONT" start "$TMP/lb" 0 "$A" "$B") || { echo "FAIL: haproxy did not start" >&2; exit 1; }

# One rating through the balancer, read back from both replicas (each
# within 5 s; the figures are bench/store_bench.sh's).
s=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"user":"lb-user","item":"P7","rating":5}' "http://127.0.0.1:$LB/v1/ratings")
[ "$s" = 201 ] || fail "post through the balancer: $s $(cat "$TMP/body")"
for port in "$A" "$B"; do
    seen=
    for _ in $(seq 50); do
        if curl -s "http://127.0.0.1:$port/v1/users/lb-user/ratings" | grep -q '"item":"P7"'; then
            seen=1
            break
        fi
        sleep 0.1
    done
    [ -n "$seen" ] || fail "the rating is not visible on the replica at port $port"
done

# The storm: 4 writers through the balancer, each posting single ratings
# with IDs of its own for 3 s and noting every answer; replica b is
# killed after 1 s.
writer() { # N
    end=$(($(date +%s%N) / 1000000 + 3000))
    k=0
    while [ $(($(date +%s%N) / 1000000)) -lt "$end" ]; do
        k=$((k + 1))
        u="storm-$1-$k"
        s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
            -H 'Content-Type: application/json' \
            -d "{\"user\":\"$u\",\"item\":\"S$1\",\"rating\":4}" "http://127.0.0.1:$LB/v1/ratings")
        echo "$u $s" >>"$TMP/answers.$1"
    done
}
pids=
for w in 1 2 3 4; do
    writer "$w" &
    pids="$pids $!"
done
sleep 1
serve_kill b
# shellcheck disable=SC2086
wait $pids
cat "$TMP"/answers.* >"$TMP/answers"
acked=$(awk '$2 ~ /^2/' "$TMP/answers" | wc -l)
other=$(awk '$2 !~ /^2/' "$TMP/answers" | wc -l)
echo "storm: $acked acknowledged, $other not ($(awk '$2 !~ /^2/ {print $2}' "$TMP/answers" | sort | uniq -c | tr '\n' ' '))"
[ "$acked" -ge 10 ] || fail "only $acked writes were acknowledged during the storm"

# Every acknowledged rating is in PostgreSQL ...
awk '$2 ~ /^2/ {print $1}' "$TMP/answers" | sort >"$TMP/acked"
pg_psql -At -c "SELECT user_id FROM ratings_live WHERE user_id LIKE 'storm-%'" | sort >"$TMP/stored"
missing=$(comm -23 "$TMP/acked" "$TMP/stored" | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged ratings are not in PostgreSQL: $(comm -23 "$TMP/acked" "$TMP/stored" | head -5 | tr '\n' ' ')"
# ... and visible from the survivor (its answers, one user at a time).
sleep 1
invisible=0
while read -r u; do
    curl -s "http://127.0.0.1:$A/v1/users/$u/ratings" | grep -q '"source":"live"' ||
        invisible=$((invisible + 1))
done <"$TMP/acked"
[ "$invisible" = 0 ] || fail "$invisible acknowledged ratings are not visible from the survivor"
# The survivor also took every row the killed one committed.
stored=$(wc -l <"$TMP/stored")
applied=$(curl -s "http://127.0.0.1:$A/metrics" | awk '/^reco_store_applied_seq/ {print $2}')
max=$(pg_psql -At -c "SELECT max(seq) FROM ratings_live")
[ "$applied" = "$max" ] || fail "the survivor applied up to seq $applied, the table ends at $max"
# ... each exactly once: the rows it applied since it started (on an empty
# table) are the table's rows.
rows=$(curl -s "http://127.0.0.1:$A/metrics" | awk '/^reco_store_rows_applied_total/ {print $2}')
[ "$rows" = "$(pg_psql -At -c "SELECT count(*) FROM ratings_live")" ] ||
    fail "the survivor applied $rows rows, the table has $(pg_psql -At -c "SELECT count(*) FROM ratings_live")"
echo "stored $stored storm ratings; the survivor is at seq $applied"

finish
