#!/bin/bash
# Every --json output and every REST answer against its JSON Schema
# (tests/schema/*.schema.json, the machine form of docs/json.md): the keys
# of each document, their types, no key the schema does not name, and reals
# of at most 6 significant digits. Skipped (77) without python3 and its
# jsonschema module (Debian: python3-jsonschema).
. "$(dirname "$0")/lib.sh"

SCHEMA="$RECO_TEST_DIR/schema"
SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
command -v python3 >/dev/null || { echo "skipped: no python3"; exit 77; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "skipped: no python3-jsonschema"; exit 77; }

# valid SCHEMA WHAT: checks $OUT.
valid() {
    printf '%s\n' "$OUT" >"$TMP/doc.json"
    python3 "$SCHEMA/validate.py" "$1.schema.json" "$TMP/doc.json" 2>"$TMP/why" ||
        fail "$2 does not follow $1.schema.json:
$(cat "$TMP/why")
$(head -c 2000 "$TMP/doc.json")"
}

# The validator itself refuses what it should: an unnamed key, a wrong
# type, 17 digits.
expect_status 0 "$RECO" stats --json "$SAMPLE"
valid stats "reco stats --json"
OUT=${OUT/\"summary\": \{/\"summary\": \{\"products\": 2000,}
printf '%s\n' "$OUT" | python3 "$SCHEMA/validate.py" stats.schema.json 2>/dev/null &&
    fail "a key the schema does not name passed"
expect_status 0 "$RECO" stats --json "$SAMPLE"
OUT=${OUT/\"mean\": 4.01232/\"mean\": 4.0123218765432104}
printf '%s\n' "$OUT" | python3 "$SCHEMA/validate.py" stats.schema.json 2>/dev/null &&
    fail "a real with 17 digits passed"

# The commands.
head -n 30000 "$SAMPLE" >"$TMP/train.csv"
tail -n 10000 "$SAMPLE" >"$TMP/test.csv"
U=$(head -n 1 "$SAMPLE" | cut -d, -f1)
I=$(head -n 1 "$SAMPLE" | cut -d, -f2)
expect_status 0 "$RECO" stats --json --min-user-ratings 30 - <"$SAMPLE"
valid stats "reco stats --json (stdin, filtered)"
expect_status 0 "$RECO" explore --quiet --json "$SAMPLE" -o "$TMP/report"
valid explore "reco explore --json"
OUT=$(cat "$TMP/report/stats.json")
valid explore "stats.json"
cut -d, -f1-3 "$SAMPLE" | head -n 2000 >"$TMP/nots.csv"
expect_status 0 "$RECO" explore --quiet --json "$TMP/nots.csv" -o "$TMP/report2"
valid explore "reco explore --json (no timestamps)"
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --json "$SAMPLE"
valid eval "reco eval --json"
expect_status 0 "$RECO" eval --quiet --algo baseline --split kfold:2 --json "$SAMPLE"
valid eval "reco eval --split kfold:2 --json"
expect_status 0 "$RECO" eval --quiet --algo popular --train "$TMP/train.csv" --test "$TMP/test.csv" --json
valid eval "reco eval --train --test --json"
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_i=1,25 -p epochs=3 --split time:0.2 \
    --json "$SAMPLE"
valid tune "reco tune --split --json"
expect_status 0 "$RECO" tune --quiet --algo popular --space damping=1,50 --train "$TMP/train.csv" \
    --json
valid tune "reco tune --train --json"
expect_status 0 "$RECO" train --quiet --algo mf --param factors=4 --json "$SAMPLE" -o "$TMP/mf.model"
valid train "reco train --json"
expect_status 0 "$RECO" train --quiet --json --param rankers=popular,ials --param ials.factors=8 \
    --param mf.factors=4 "$SAMPLE" -o "$TMP/default.model"
valid train "reco train --json (default)"
expect_status 0 "$RECO" train --quiet --json --algo ials --param factors=4 \
    --events "$RECO_TEST_DIR/../data/sample-events.csv" --event-weight wish=2 -o "$TMP/ev.model"
valid train "reco train --events --json"
for m in mf default; do
    expect_status 0 "$RECO" recommend "$TMP/$m.model" --user "$U" -n 3 --json
    valid recommend "reco recommend --json ($m)"
    expect_status 0 "$RECO" recommend "$TMP/$m.model" --user someone-new -n 3 --json
    valid recommend "reco recommend --json ($m, cold start)"
    expect_status 0 "$RECO" recommend "$TMP/$m.model" --user "$U" -n 3 --json --exclude "$I",unknown
    valid recommend "reco recommend --json ($m, with rules)"
    expect_status 0 "$RECO" similar "$TMP/$m.model" --item "$I" -n 3 --json
    valid similar "reco similar --json ($m)"
    expect_status 0 "$RECO" predict "$TMP/$m.model" --user "$U" --item "$I" --json
    valid predict "reco predict --json ($m)"
done
expect_status 0 "$RECO" predict "$TMP/mf.model" --user someone-new --item nothing --json
valid predict "reco predict --json (unknown user and product)"

# The batch export: every line of a JSON Lines file is one document.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -n 3 -q -o "$TMP/all.jsonl"
while IFS= read -r OUT; do
    valid export-line "a line of reco recommend --all-users -o FILE.jsonl"
done < <(sed -n '1p;$p' "$TMP/all.jsonl")
expect_status 0 "$RECO" recommend "$TMP/default.model" --all-users -q -o - --format jsonl
OUT=$(printf '%s\n' "$OUT" | head -n 1)
valid export-line "a line of reco recommend --all-users -o - (default)"

# The server: every kind of answer, with a ratings log.
if ! "$RECO" serve --help >/dev/null 2>&1 || ! command -v curl >/dev/null; then
    echo "(the REST answers are not checked: no server or no curl)"
    finish
fi
LOG=$TMP/live.log
"$RECO" serve "$TMP/mf.model" --ratings-log "$LOG" --create-ratings-log --port 0 2>"$TMP/serve.err" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=
for _ in $(seq 100); do
    PORT=$(grep -o '127.0.0.1:[0-9]*' "$TMP/serve.err" | cut -d: -f2)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$PORT" ] || { fail "the server did not start: $(cat "$TMP/serve.err")"; finish; }
H="http://127.0.0.1:$PORT"
get() { # SCHEMA WANT_STATUS PATH [curl args...]
    schema=$1 want=$2 path=$3; shift 3
    status=$(curl -s -o "$TMP/body" -w '%{http_code}' "$@" "$H$path")
    [ "$status" = "$want" ] || fail "$path: status $status, expected $want: $(cat "$TMP/body")"
    OUT=$(cat "$TMP/body")
    valid "$schema" "$path ($status)"
}
get api-model 200 /v1/model
get recommend 200 "/v1/users/$U/recommendations?n=3"
get similar 200 "/v1/items/$I/similar?n=3"
get predict 200 "/v1/predict?user=$U&item=$I"
get api-user-ratings 200 "/v1/users/$U/ratings"
get api-ratings-accepted 201 /v1/ratings -X POST -H 'Content-Type: application/json' \
    -d '[{"user":"new-user","item":"'"$I"'","rating":5},{"user":"'"$U"'","item":"new-item","rating":2}]'
get api-user-ratings 200 /v1/users/new-user/ratings
get api-users 200 "/v1/users?prefix=${U:0:3}&limit=5"
get api-users 200 "/v1/users?prefix=new-&limit=1"
get api-item-ratings 200 "/v1/items/$I/ratings?recent=5"
get api-item-ratings 200 /v1/items/new-item/ratings
get recommend 200 "/v1/users/$U/recommendations?n=3&variant=default"
get api-error 400 "/v1/users?limit=0"
get api-error 400 "/v1/users/$U/recommendations?variant=nope"
RID=$(curl -s "$H/v1/users/$U/recommendations?n=3" | sed -n 's/.*"recommendation_id": *"\([0-9a-f-]*\)".*/\1/p')
[ -n "$RID" ] || fail "no recommendation_id in a served list"
get api-feedback-accepted 201 /v1/feedback -X POST -H 'Content-Type: application/json' \
    -d '[{"recommendation_id":"'"$RID"'","user":"'"$U"'","type":"impression"},{"recommendation_id":"'"$RID"'","user":"'"$U"'","item":"'"$I"'","type":"click"}]'
get api-experiments 200 /v1/experiments
get api-item 201 "/v1/items/$I" -X PATCH -H 'Content-Type: application/json' -d '{"available":false}'
get api-item 200 "/v1/items/$I"
get api-item 201 /v1/items/brand-new -X PUT -H 'Content-Type: application/json' \
    -d '{"title":"New","category":"A/B","labels":{"k":"v"}}'
get recommend 200 "/v1/users/$U/recommendations?n=3&category=Nope&exclude=x,y"
get similar 200 "/v1/items/brand-new/similar?n=3"
get api-events-accepted 201 /v1/events -X POST -H 'Content-Type: application/json' \
    -d '{"user":"'"$U"'","item":"'"$I"'","type":"rating","value":4}'
get api-error 400 /v1/events -X POST -H 'Content-Type: application/json' \
    -d '{"user":"'"$U"'","item":"'"$I"'","type":"view"}'
get api-error 400 /v1/feedback -X POST -H 'Content-Type: application/json' -d '{"user":"x","type":"click"}'
get recommend 200 "/v1/users/new-user/recommendations?n=3"
get api-health 200 /healthz
get api-model 200 /v1/model
get api-reload 200 /v1/admin/reload -X POST -H 'Content-Type: application/json'
get api-error 404 /v1/items/no-such-item/similar
get api-error 400 "/v1/users/$U/recommendations?n=0"
get api-error 404 /v1/nothing-here

# The log's documents, and train with the log.
expect_status 0 "$RECO" train --quiet --algo baseline --json "$SAMPLE" --ratings-log "$LOG" \
    -o "$TMP/logged.model"
valid train "reco train --ratings-log --json"
expect_status 0 "$RECO" log info "$LOG" --json
valid log-info "reco log info --json"
expect_status 0 "$RECO" log info "$LOG" --model "$TMP/logged.model" --json
valid log-info "reco log info --model --json"
expect_status 0 "$RECO" log info "$LOG" --model "$TMP/mf.model" --json
valid log-info "reco log info --model --json (a model without a log)"
expect_status 0 "$RECO" log compact "$LOG" --model "$TMP/logged.model" --archive "$TMP/archive.csv" --json
valid log-compact "reco log compact --json"
expect_status 0 "$RECO" log info "$TMP/archive.csv" --json
valid log-info "reco log info --json (an archive)"
get api-health 200 /healthz
finish
