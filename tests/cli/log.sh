#!/bin/bash
# The ratings log end to end: reco serve takes ratings into it, reco train
# --ratings-log trains on it and records the point reached, a reload and a
# restart replay only the rest, reco log compact archives what the model
# holds while the server runs, and a missing, replaced or bad log stops the
# start with the reason. Also /healthz and the 503 of the live-memory cap.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skipped: no curl"; exit 77; }
"$RECO" serve --help >/dev/null 2>&1 || { echo "skipped: built without the server"; exit 77; }

"$RECO" gen --preset sample --seed 5 --ratings 3000 --users 200 --items 100 -o "$TMP/r.csv" --quiet ||
    fail "gen failed"
expect_status 0 "$RECO" train --quiet --algo baseline "$TMP/r.csv" -o "$TMP/serve.reco"
LOG=$TMP/live.log
SERVER_PID=

start_server() { # extra args...; sets PORT, SERVER_PID, or returns 1 with $TMP/serve.err
    # Emptied here, not by the background job's redirection: that may run
    # after the first look below, which would then find the previous
    # server's port.
    : >"$TMP/serve.err"
    "$RECO" serve --model "$TMP/serve.reco" --ratings-log "$LOG" --port 0 "$@" 2>"$TMP/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o '127.0.0.1:[0-9]*' "$TMP/serve.err" | cut -d: -f2)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID"; SERVER_PID=; return 1; }
        sleep 0.1
    done
    return 1
}
stop_server() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" && wait "$SERVER_PID"
    SERVER_PID=
}
trap 'stop_server 2>/dev/null; rm -rf "$TMP"' EXIT
post() { # JSON; prints the status, the body in $TMP/body
    curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "$1" "http://127.0.0.1:$PORT/v1/ratings"
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# No log yet: a first start must say so.
start_server && fail "started without a log"
expect_contains "$(cat "$TMP/serve.err")" "--create-ratings-log"
start_server --create-ratings-log || fail "start: $(cat "$TMP/serve.err")"
[ "$(post '[{"user":"alice","item":"p1","rating":4},{"user":"bob","item":"p2","rating":2}]')" = 201 ] ||
    fail "post: $(cat "$TMP/body")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ] || fail "healthz"
head -n 1 "$LOG" | grep -q '^user,item,rating,timestamp #reco-ratings-log v1 id=' ||
    fail "no log header: $(head -n 1 "$LOG")"

# Train with the log, reload: nothing to replay; the two are in the model.
expect_status 0 "$RECO" train --algo baseline "$TMP/r.csv" --ratings-log "$LOG" -o "$TMP/serve.reco"
expect_contains "$OUT" "with 2 ratings of the log"
expect_status 0 "$RECO" log info "$LOG" --model "$TMP/serve.reco"
expect_contains "$OUT" "replays 0 ratings"
[ "$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    "http://127.0.0.1:$PORT/v1/admin/reload")" = 200 ] || fail "reload: $(cat "$TMP/body")"
[ "$(metric reco_live_ratings)" = 0 ] || fail "live ratings after reload: $(metric reco_live_ratings)"
[ "$(post '{"user":"carol","item":"p3","rating":5}')" = 201 ] || fail "post 2"

# Compaction while the server runs; its next rating lands in the new file.
expect_status 0 "$RECO" log compact "$LOG" --model "$TMP/serve.reco" --archive "$TMP/archive.csv"
expect_contains "$OUT" "moved 2 ratings"
[ "$(post '{"user":"dave","item":"p4","rating":3}')" = 201 ] || fail "post after compaction"
grep -q '^dave,' "$LOG" || fail "dave is not in the compacted log"
grep -q '^alice,' "$TMP/archive.csv" || fail "alice is not in the archive"
grep -q '^alice,' "$LOG" && fail "alice is still in the log"
[ "$(metric reco_ratings_log_write_errors_total)" = 0 ] || fail "write errors"
stop_server

# A restart replays only the tail.
start_server || fail "restart: $(cat "$TMP/serve.err")"
[ "$(metric reco_ratings_replayed)" = 2 ] || fail "replayed $(metric reco_ratings_replayed), not 2"
stop_server

# The next training needs the archive; with it, the model holds everything.
expect_status 2 "$RECO" train --quiet --algo baseline "$TMP/r.csv" --ratings-log "$LOG" -o "$TMP/next.reco"
expect_contains "$ERR" "archive"
expect_status 0 "$RECO" train --quiet --algo baseline "$TMP/r.csv" "$TMP/archive.csv" --ratings-log "$LOG" \
    -o "$TMP/next.reco"
expect_status 0 "$RECO" recommend "$TMP/next.reco" --user alice --json
expect_contains "$OUT" '"cold_start": false'

# Rotated away: an error naming the log, not an empty start.
mv "$LOG" "$LOG.1"
start_server --create-ratings-log && fail "started with the log moved away"
expect_contains "$(cat "$TMP/serve.err")" "does not exist, but"
# Replaced by another log.
expect_status 0 "$RECO" log init "$LOG"
start_server && fail "started with another log"
expect_contains "$(cat "$TMP/serve.err")" "was trained on log"
rm -f "$LOG"
mv "$LOG.1" "$LOG"

# A bad line: LOG:LINE: reason; --skip-bad-log counts it.
printf 'eve,p5,9999,1700000000\n' >>"$LOG"
start_server && fail "started with a bad line"
LINES=$(wc -l <"$LOG")
expect_contains "$(cat "$TMP/serve.err")" "$LOG:$LINES: rating 9999 is outside the allowed range"
start_server --skip-bad-log || fail "skip-bad-log: $(cat "$TMP/serve.err")"
expect_contains "$(cat "$TMP/serve.err")" "skipped 1 bad line"
[ "$(metric reco_ratings_log_bad_lines_skipped)" = 1 ] || fail "bad lines metric"
stop_server
sed -i '$d' "$LOG"

# The live-memory cap: 503 with a JSON error, /healthz degraded (503).
start_server --max-live-bytes 40K || fail "cap start: $(cat "$TMP/serve.err")"
code=201
for b in $(seq 60); do
    body=$(awk -v b="$b" 'BEGIN { printf "["; for (k = 0; k < 40; k++) printf "%s{\"user\":\"new-%d-%d\",\"item\":\"p1\",\"rating\":4}", k ? "," : "", b, k; printf "]" }')
    code=$(post "$body")
    [ "$code" = 201 ] || break
done
[ "$code" = 503 ] || fail "the cap was not reached: $code"
expect_contains "$(cat "$TMP/body")" '"status":503'
expect_contains "$(cat "$TMP/body")" "--max-live-bytes"
[ "$(curl -s -o "$TMP/health" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 503 ] ||
    fail "healthz at the cap"
expect_contains "$(cat "$TMP/health")" '"status":"degraded"'
[ "$(metric reco_live_bytes_limit)" = 40960 ] || fail "limit metric"
[ "$(metric reco_healthy)" = 0 ] || fail "healthy metric"
stop_server

expect_status 0 "$RECO" log --help
expect_contains "$OUT" "compact LOG"
expect_status 2 "$RECO" log compact "$LOG"
expect_contains "$ERR" "--model"
finish
