#!/bin/bash
# Replicas behind HAProxy (scripts/haproxy_front.sh, docs/scaling.md): two
# `reco serve` replicas of one model, one with --map-model (its answers
# equal the private copy's), HAProxy in front; requests through it reach
# both replicas; a rolling reload swaps a renamed-in model into both; a
# replica stopped is routed around within a few health-check intervals.
# Skipped without haproxy or curl, or a reco built without the server.
. "$(dirname "$0")/lib.sh"
FRONT=$RECO_TEST_DIR/../scripts/haproxy_front.sh

"$RECO" serve --help >/dev/null 2>&1 || { echo "skipped: built without the server"; exit 77; }
command -v haproxy >/dev/null 2>&1 || { echo "skipped: no haproxy (Debian: haproxy)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "skipped: no curl"; exit 77; }

PIDS=()
PORTS=()
HA=$TMP/ha
cleanup() {
    sh "$FRONT" stop "$HA" 2>/dev/null
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

start_replica() { # K [serve options...]: replica K on a free port
    k=$1
    shift
    : >"$TMP/serve$k.err"
    "$RECO" serve --model "$TMP/model.reco" --port 0 "$@" 2>"$TMP/serve$k.err" &
    PIDS[k]=$!
    for _ in $(seq 100); do
        PORTS[k]=$(grep -o '127.0.0.1:[0-9]*' "$TMP/serve$k.err" | cut -d: -f2)
        [ -n "${PORTS[k]}" ] && return 0
        kill -0 "${PIDS[k]}" 2>/dev/null || break
        sleep 0.1
    done
    fail "replica $k did not start: $(cat "$TMP/serve$k.err")"
    exit 1
}

# GET through PORT; prints the status, the body (without the per-process
# recommendation_id) in $TMP/body.
get() { # PORT PATH
    code=$(curl -s -o "$TMP/raw" -w '%{http_code}' "http://127.0.0.1:$1$2")
    sed 's/"recommendation_id": *"[^"]*",\{0,1\}//g' "$TMP/raw" >"$TMP/body"
    echo "$code"
}

answered() { # PORT: recommendation requests this replica answered with 200
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^reco_http_requests_total\{route="\/v1\/users\/\{user\}\/recommendations",status="200"\}/ { print $2; f = 1 } END { if (!f) print 0 }'
}

head -n 20000 "$RECO_TEST_DIR/../data/sample.csv" >"$TMP/r.csv"
expect_status 0 "$RECO" train --quiet --algo mf --param epochs=5 "$TMP/r.csv" -o "$TMP/model.reco"
expect_status 0 "$RECO" train --quiet --algo popular "$TMP/r.csv" -o "$TMP/popular.reco"
USERS=$(cut -d, -f1 "$TMP/r.csv" | sort -u | head -n 10)

start_replica 1 --map-model
start_replica 2

# --map-model: served from the mapping (no private copy), same answers.
sleep 0.5
curl -s "http://127.0.0.1:${PORTS[1]}/metrics" | grep -qx 'reco_model_private_copy 0' ||
    fail "--map-model: reco_model_private_copy is not 0"
for _ in $(seq 50); do
    curl -s "http://127.0.0.1:${PORTS[2]}/metrics" | grep -qx 'reco_model_private_copy 1' && break
    sleep 0.1
done
curl -s "http://127.0.0.1:${PORTS[2]}/metrics" | grep -qx 'reco_model_private_copy 1' ||
    fail "without --map-model: reco_model_private_copy is not 1"
for u in $USERS; do
    [ "$(get "${PORTS[1]}" "/v1/users/$u/recommendations?n=10")" = 200 ] || fail "mapped replica: $u"
    cp "$TMP/body" "$TMP/mapped"
    [ "$(get "${PORTS[2]}" "/v1/users/$u/recommendations?n=10")" = 200 ] || fail "copied replica: $u"
    cmp -s "$TMP/mapped" "$TMP/body" || fail "answers for $u differ: $(cat "$TMP/mapped") vs $(cat "$TMP/body")"
done
expect_status 0 "$RECO" serve --help
expect_contains "$OUT" "--map-model"

# The balancer: both replicas answer.
FP=$(sh "$FRONT" start "$HA" 0 "${PORTS[1]}" "${PORTS[2]}") || { fail "haproxy_front.sh start"; exit 1; }
grep -q 'option httpchk' "$HA/haproxy.cfg" || fail "no health check in haproxy.cfg"
[ -S "$HA/admin.sock" ] || fail "no admin socket"
b1=$(answered "${PORTS[1]}") b2=$(answered "${PORTS[2]}")
for u in $USERS $USERS; do
    [ "$(get "$FP" "/v1/users/$u/recommendations?n=10")" = 200 ] || fail "through haproxy: $u"
done
a1=$(($(answered "${PORTS[1]}") - b1)) a2=$(($(answered "${PORTS[2]}") - b2))
[ $((a1 + a2)) -eq 20 ] || fail "20 requests through haproxy, replicas counted $a1 + $a2"
[ "$a1" -ge 5 ] && [ "$a2" -ge 5 ] || fail "round robin: replica 1 answered $a1, replica 2 $a2"
sh "$FRONT" state "$HA" >"$TMP/state"
[ "$(grep -c ' UP' "$TMP/state")" -eq 4 ] || fail "expected 4 servers UP: $(cat "$TMP/state")"

# Rolling reload: a new model renamed over the served one, reloaded one
# replica at a time; every request meanwhile is answered.
cp "$TMP/popular.reco" "$TMP/model.new" && mv "$TMP/model.new" "$TMP/model.reco"
( for _ in $(seq 100); do get "$FP" "/v1/users/$(echo "$USERS" | tail -n 1)/recommendations?n=5"; done >"$TMP/during" ) &
load=$!
sh "$FRONT" rolling-reload "$HA" >"$TMP/reload.out" 2>&1 || fail "rolling reload: $(cat "$TMP/reload.out")"
wait "$load"
[ "$(sort -u "$TMP/during")" = 200 ] || fail "during the rolling reload: $(sort "$TMP/during" | uniq -c)"
expect_contains "$(cat "$TMP/reload.out")" "r2 reloaded"
for k in 1 2; do
    curl -s "http://127.0.0.1:${PORTS[k]}/v1/model" | grep -q '"algorithm": *"popular"' ||
        fail "replica $k does not serve the new model"
done

# A replica stopped: within a few check intervals haproxy routes around it.
kill "${PIDS[2]}" && wait "${PIDS[2]}"
PIDS[2]=
sh "$FRONT" wait "$HA" r2 DOWN 3 || fail "r2 not marked DOWN within 3 s (15 check intervals)"
for u in $USERS; do
    [ "$(get "$FP" "/v1/users/$u/recommendations?n=10")" = 200 ] || fail "with r2 down: $u"
done
sh "$FRONT" stop "$HA"
[ ! -e "$HA/haproxy.pid" ] || fail "haproxy_front.sh stop left the pidfile"
finish
