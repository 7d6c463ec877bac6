#!/bin/bash
# reco serve --store (docs/postgresql.md, "Serving from PostgreSQL") on a
# throwaway cluster (scripts/pg_cluster.sh): two servers on one table see
# each other's ratings, catalogue changes and feedback, a client reads its
# own write at once; restart and reload replay the table; a lost
# connection makes writes 503 (never an acknowledgement) while reads go on,
# and writes come back by themselves; an unreachable database and a table
# with the wrong columns stop the start with a clear message. Skipped
# without initdb/pg_ctl/psql, curl, or a reco built without libpq or the
# server.
. "$(dirname "$0")/lib.sh"
. "$RECO_TEST_DIR/../scripts/pg_cluster.sh"
. "$RECO_TEST_DIR/../scripts/reco_serve.sh"

"$RECO" serve --help >/dev/null 2>&1 || { echo "skipped: built without the server"; exit 77; }
command -v curl >/dev/null || { echo "skipped: no curl"; exit 77; }
require_postgresql
SERVE_DIR=$TMP
trap 'serve_stop_all; pg_cluster_stop; rm -rf "$TMP"' EXIT
pg_cluster_start || { echo "FAIL: cannot start a PostgreSQL cluster" >&2; exit 1; }
STORE='postgresql:///shop'

expect_status 0 "$RECO" gen --preset sample --seed 3 --ratings 3000 --users 200 --items 150 \
    -o "$TMP/r.csv" --quiet
expect_status 0 "$RECO" train --quiet --algo baseline "$TMP/r.csv" -o "$TMP/m.reco"

post() { # PORT PATH JSON; prints the status, the body in $TMP/body
    curl -s -o "$TMP/body" -w '%{http_code}' -X "${METHOD:-POST}" \
        -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$1$2"
}
get() { # PORT PATH; prints the status, the body in $TMP/body
    curl -s -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$1$2"
}
# wait_for PORT PATH TEXT: up to 5 s until GET PATH answers 200 with TEXT.
wait_for() {
    for _ in $(seq 50); do
        [ "$(get "$1" "$2")" = 200 ] && grep -q "$3" "$TMP/body" && return 0
        sleep 0.1
    done
    return 1
}

# Bad input at start: an unreachable database names the host and libpq's
# message, never the password; a table with other columns is refused
# naming the columns expected; --store and --ratings-log together, or a
# URI that is not PostgreSQL's, are usage errors.
expect_status 1 "$RECO" serve "$TMP/m.reco" --port 0 \
    --store 'postgresql://reco:s3cret-pw@127.0.0.1:1/shop?connect_timeout=2'
expect_contains "$ERR" "127.0.0.1"
expect_contains "$ERR" "cannot connect"
expect_contains "$ERR" "port 1 failed"
case "$ERR" in *s3cret-pw*) fail "the password is shown: $ERR" ;; esac
pg_psql -c "CREATE TABLE wrong (seq bigserial primary key, user_id text, rating float8)"
expect_status 2 "$RECO" serve "$TMP/m.reco" --port 0 --store "$STORE?table=wrong"
expect_contains "$ERR" "has the columns (seq bigint, user_id text, rating double precision)"
expect_contains "$ERR" "seq bigint, kind text, user_id text, item_id text, rating real, ts bigint, payload json"
expect_status 2 "$RECO" serve "$TMP/m.reco" --store "$STORE" --ratings-log "$TMP/x.log"
expect_contains "$ERR" "not both"
expect_status 2 "$RECO" serve "$TMP/m.reco" --store "$TMP/x.log"
expect_contains "$ERR" "postgresql://"

# Two servers on one table (created by the first).
serve_start a "$TMP/m.reco" --store "$STORE" || fail "start a: $(cat "$TMP/a.err")"
A=$SERVE_PORT
serve_start b "$TMP/m.reco" --store "$STORE" || fail "start b: $(cat "$TMP/b.err")"
B=$SERVE_PORT
[ "$(pg_psql -At -c "SELECT count(*) FROM reco_log")" = 0 ] || fail "the table is not new and empty"

# A rating posted to a is read back from a at once, and from b within 5 s.
[ "$(post "$A" /v1/ratings '{"user":"new-u1","item":"P1","rating":4}')" = 201 ] ||
    fail "post: $(cat "$TMP/body")"
[ "$(get "$A" /v1/users/new-u1/ratings)" = 200 ] || fail "own write not read back on a"
expect_contains "$(cat "$TMP/body")" '"item":"P1"'
wait_for "$B" /v1/users/new-u1/ratings '"item":"P1"' || fail "b does not see a's rating"
# And the other way, with a batch.
[ "$(post "$B" /v1/ratings '[{"user":"new-u2","item":"P2","rating":2},{"user":"new-u2","item":"P3","rating":5}]')" = 201 ] ||
    fail "post to b: $(cat "$TMP/body")"
wait_for "$A" /v1/users/new-u2/ratings '"item":"P3"' || fail "a does not see b's ratings"
[ "$(pg_psql -At -c "SELECT count(*) FROM reco_log WHERE kind = 'rating'")" = 3 ] ||
    fail "the table does not hold the 3 ratings"
[ "$(pg_psql -At -c "SELECT user_id || ',' || item_id || ',' || rating FROM reco_log WHERE seq = 1")" = "new-u1,P1,4" ] ||
    fail "row 1 is not the rating posted"

# A catalogue change on a, visible on b; feedback on b, counted on a.
[ "$(METHOD=PUT post "$A" /v1/items/P9 '{"title":"Nine","category":"Books/SF"}')" = 200 ] ||
    [ "$(cat "$TMP/body" | grep -c Nine)" = 1 ] || fail "put item: $(cat "$TMP/body")"
wait_for "$B" /v1/items/P9 '"title":"Nine"' || fail "b does not see a's catalogue change"
get "$B" '/v1/users/new-u1/recommendations?n=3' >/dev/null
RID=$(grep -o '"recommendation_id":"[^"]*"' "$TMP/body" | cut -d'"' -f4)
[ -n "$RID" ] || fail "no recommendation_id: $(cat "$TMP/body")"
[ "$(post "$B" /v1/feedback "{\"recommendation_id\":\"$RID\",\"user\":\"new-u1\",\"type\":\"click\"}")" = 201 ] ||
    fail "feedback: $(cat "$TMP/body")"
wait_for "$A" /v1/experiments '"clicks":1' || fail "a does not count b's feedback"
sleep 0.6 # a follower's round: still counted once on both
[ "$(get "$A" /v1/experiments)" = 200 ] && grep -q '"clicks":1,' "$TMP/body" ||
    fail "a counts the click other than once: $(cat "$TMP/body")"
[ "$(get "$B" /v1/experiments)" = 200 ] && grep -q '"clicks":1,' "$TMP/body" ||
    fail "b counts its own click other than once: $(cat "$TMP/body")"
[ "$(pg_psql -At -c "SELECT payload->>'type' FROM reco_log WHERE kind = 'feedback'")" = click ] ||
    fail "the feedback row's payload"

# Health and metrics report the store.
[ "$(get "$A" /healthz)" = 200 ] || fail "healthz: $(cat "$TMP/body")"
expect_contains "$(cat "$TMP/body")" '"connected":true'
# its JSON Schema (where python3-jsonschema is, as tests/cli/json_schema.sh)
schema_ok() { # file
    ! python3 -c 'import jsonschema' 2>/dev/null ||
        python3 "$RECO_TEST_DIR/schema/validate.py" api-health.schema.json "$1" 2>"$TMP/why" ||
        fail "healthz does not follow api-health.schema.json: $(cat "$TMP/why") $(cat "$1")"
}
schema_ok "$TMP/body"
get "$A" /metrics >/dev/null
grep -q '^reco_store_applied_seq [1-9]' "$TMP/body" || fail "metrics: no applied seq"

# Reload and restart replay the table.
[ "$(post "$B" /v1/admin/reload '{}')" = 200 ] || fail "reload: $(cat "$TMP/body")"
wait_for "$B" /v1/users/new-u2/ratings '"item":"P3"' || fail "b lost ratings on reload"
wait_for "$B" /v1/items/P9 '"title":"Nine"' || fail "b lost the catalogue change on reload"
serve_stop a
serve_start a "$TMP/m.reco" --store "$STORE" || fail "restart a: $(cat "$TMP/a.err")"
A=$SERVE_PORT
wait_for "$A" /v1/users/new-u2/ratings '"item":"P3"' || fail "a lost ratings on restart"
wait_for "$A" /v1/experiments '"clicks":1' || fail "a lost the feedback count on restart"

# Connections killed by the server while idle: the writer finds its own
# broken before it sends anything and writes on a new one (a failure
# there would be a 503, never an acknowledgement); the follower connects
# again by itself.
pg_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reco'" >/dev/null
ok=0
for k in 1 2 3 4 5 6 7 8 9 10; do
    s=$(post "$A" /v1/ratings "{\"user\":\"kill-u\",\"item\":\"K$k\",\"rating\":3}")
    case $s in
    201) ok=$((ok + 1)) ;;
    503) echo "K$k" >>"$TMP/refused" ;;
    *) fail "after the kill: $s $(cat "$TMP/body")" ;;
    esac
    sleep 0.05
done
[ $ok = 10 ] || fail "writes failed after the connections were killed ($ok of 10 taken)"
wait_for "$B" /v1/users/kill-u/ratings '"item":"K10"' || fail "b does not see the writes after the kill"

# The database gone: writes 503 with the reason, /healthz degraded, reads
# answered; back by themselves when it returns.
pg_cluster_pause
s=$(post "$A" /v1/ratings '{"user":"down-u","item":"P1","rating":3}')
[ "$s" = 503 ] || fail "write with the database down: $s $(cat "$TMP/body")"
expect_contains "$(cat "$TMP/body")" "postgresql:///shop"
[ "$(get "$A" /v1/users/new-u1/ratings)" = 200 ] || fail "read with the database down"
[ "$(get "$A" '/v1/users/new-u1/recommendations?n=3')" = 200 ] || fail "recommend with the database down"
[ "$(get "$A" /healthz)" = 503 ] || fail "healthz with the database down: $(cat "$TMP/body")"
expect_contains "$(cat "$TMP/body")" '"check":"store"'
schema_ok "$TMP/body"
pg_cluster_resume || fail "cannot start the cluster again"
back=
for _ in $(seq 100); do
    s=$(post "$A" /v1/ratings '{"user":"back-u","item":"P1","rating":3}')
    [ "$s" = 201 ] && { back=1; break; }
    sleep 0.1
done
[ -n "$back" ] || fail "writes did not come back with the database: $s $(cat "$TMP/body")"
for _ in $(seq 50); do [ "$(get "$A" /healthz)" = 200 ] && break; sleep 0.1; done
[ "$(get "$A" /healthz)" = 200 ] || fail "healthz after the database came back: $(cat "$TMP/body")"
wait_for "$B" /v1/users/back-u/ratings '"item":"P1"' || fail "b does not follow after the database came back"
[ "$(pg_psql -At -c "SELECT count(*) FROM reco_log WHERE user_id = 'down-u'")" = 0 ] ||
    fail "a refused write is in the table"

# A row a model cannot take (written by hand): skipped and counted while
# following; a start stops on it naming the store, unless --skip-bad-log.
pg_psql -c "INSERT INTO reco_log (kind, user_id, item_id, rating, ts) VALUES ('rating', 'bad-u', 'P1', 99, 1)"
for _ in $(seq 50); do
    get "$A" /metrics >/dev/null
    grep -q '^reco_ratings_log_bad_lines_skipped [1-9]' "$TMP/body" && break
    sleep 0.1
done
grep -q '^reco_ratings_log_bad_lines_skipped 1$' "$TMP/body" || fail "the bad row is not counted as skipped"
[ "$(get "$A" /healthz)" = 200 ] || fail "a bad row made the server unhealthy: $(cat "$TMP/body")"
serve_start c "$TMP/m.reco" --store "$STORE" && fail "started on a table with a bad row"
expect_contains "$(cat "$TMP/c.err")" "postgresql:///shop?table=reco_log"
expect_contains "$(cat "$TMP/c.err")" "--skip-bad-log"
serve_start c "$TMP/m.reco" --store "$STORE" --skip-bad-log || fail "--skip-bad-log: $(cat "$TMP/c.err")"
expect_contains "$(cat "$TMP/c.err")" "skipped 1 bad line of postgresql:///shop"

finish
