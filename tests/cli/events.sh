#!/bin/bash
# Events through the command line: reco gen --events, reco train --events
# (ials, ease, default on confidences; mf on the rating events; refused
# without any), --event-weight, bought products never recommended, bad
# lines with FILE:LINE, --skip-bad, rating files and event files together,
# and the summary in --json.
. "$(dirname "$0")/lib.sh"

SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
EVENTS="$RECO_TEST_DIR/../data/sample-events.csv"

# The bundled file is what reco gen --events makes, byte for byte.
expect_status 0 "$RECO" gen --events --ratings 8000 --users 800 --items 400 -o "$TMP/gen.csv"
cmp -s "$TMP/gen.csv" "$EVENTS" || fail "data/sample-events.csv is not what reco gen --events makes"
expect_status 0 "$RECO" gen --events --ratings 8000 --users 800 --items 400 --threads 1
[ "$OUT" = "$(cat "$EVENTS")" ] || fail "reco gen --events differs on one thread"
[ "$(head -n 1 "$EVENTS")" = "user,item,type,value,timestamp" ] || fail "no header in the events"

# ials on events: the summary, then no bought (or viewed) product comes back.
expect_status 0 "$RECO" train --events "$EVENTS" --algo ials -p factors=16 -o "$TMP/i.model"
expect_contains "$OUT" "on 800 users, 400 products, 8,000 interactions"
expect_contains "$OUT" "18,142 events (view 10,411, cart 4,425, purchase 2,210, rating 1,096); weights view=1 cart=3 purchase=5 rating=1; trained on the confidence per (user, product)"
for U in $(grep ',purchase,' "$EVENTS" | cut -d, -f1 | sort -u | head -n 20); do
    expect_status 0 "$RECO" recommend "$TMP/i.model" --user "$U" -n 50 --json
    expect_contains "$OUT" '"cold_start": false'
    for item in $(grep "^$U," "$EVENTS" | cut -d, -f2 | sort -u); do
        case "$OUT" in *"\"item\": \"$item\""*) fail "ials recommended $item, which $U interacted with" ;; esac
    done
done

# ease and default too; default predicts no stars from confidences.
U=$(grep ',purchase,' "$EVENTS" | head -n 1 | cut -d, -f1)
expect_status 0 "$RECO" train --events "$EVENTS" --algo ease -o "$TMP/e.model" --quiet
expect_status 0 "$RECO" recommend "$TMP/e.model" --user "$U" -n 30 --json
for item in $(grep "^$U,.*,purchase," "$EVENTS" | cut -d, -f2); do
    case "$OUT" in *"\"item\": \"$item\""*) fail "ease recommended bought product $item" ;; esac
done
expect_status 0 "$RECO" train --events "$EVENTS" -o "$TMP/d.model" --json --quiet
expect_contains "$(flat "$OUT")" '"predictor":"none"'
expect_contains "$(flat "$OUT")" '"events":{"files":["'"$EVENTS"'"],"events":18142,"per_type":{"view":10411,"cart":4425,"purchase":2210,"rating":1096},"weights":{"view":1.0,"cart":3.0,"purchase":5.0,"rating":1.0},"trains_on":"confidence","zero_pairs":0}'

# Weights: changed, added, and a type that weighs 0.
expect_status 0 "$RECO" train --events "$EVENTS" --algo ials -p factors=4 -p iterations=2 \
    --event-weight purchase=10 --event-weight view=0 --event-weight wish=2 -o "$TMP/w.model" --json
expect_contains "$(flat "$OUT")" '"weights":{"view":0.0,"cart":3.0,"purchase":10.0,"rating":1.0,"wish":2.0}'
expect_contains "$(flat "$OUT")" '"zero_pairs":'
case "$(flat "$OUT")" in *'"zero_pairs":0}'*) fail "view=0 left no pair out" ;; esac
expect_status 2 "$RECO" train --events "$EVENTS" --event-weight purchase -o "$TMP/x.model"
expect_contains "$ERR" "event weight \"purchase\" is not TYPE=WEIGHT"
expect_status 2 "$RECO" train --events "$EVENTS" --event-weight view=-1 -o "$TMP/x.model"
expect_contains "$ERR" "must be a number from 0 to"
expect_status 2 "$RECO" train "$SAMPLE" --event-weight view=2 -o "$TMP/x.model"
expect_contains "$ERR" "--event-weight needs --events FILE"

# Rating models train on the rating events; without any they are refused.
expect_status 0 "$RECO" train --events "$EVENTS" --algo mf -p epochs=2 -o "$TMP/mf.model"
expect_contains "$OUT" "1,096 ratings"
expect_contains "$OUT" "trained on the rating events"
grep -v ',rating,' "$EVENTS" >"$TMP/norating.csv"
expect_status 2 "$RECO" train --events "$TMP/norating.csv" --algo baseline -o "$TMP/x.model"
expect_contains "$ERR" "baseline predicts ratings and trains on rating events only"

# A rating file and an event file together: the ratings are rating events.
head -n 3 "$SAMPLE" >"$TMP/r.csv"
expect_status 0 "$RECO" train "$TMP/r.csv" --events "$EVENTS" --algo popular -o "$TMP/p.model" --json
expect_contains "$(flat "$OUT")" '"rating":1099'

# Bad lines: FILE:LINE, exit 2, or skipped and counted.
printf 'user,item,type,value\nu1,i1,view,1\nu1,i2,click,1\nu2,i1,purchase,abc\nu2,i2,cart,\n' \
    >"$TMP/bad.csv"
expect_status 2 "$RECO" train --events "$TMP/bad.csv" --algo ials -o "$TMP/x.model"
expect_contains "$ERR" "$TMP/bad.csv:3: unknown event type \"click\""
expect_status 0 "$RECO" train --events "$TMP/bad.csv" --skip-bad --algo popular -o "$TMP/x.model"
expect_contains "$ERR" "skipped 2 bad lines:"
expect_contains "$ERR" "$TMP/bad.csv:4: value \"abc\" is not a number"
expect_status 0 "$RECO" train --events "$TMP/bad.csv" --event-weight click=2 --skip-bad \
    --algo popular -o "$TMP/x.model"
expect_contains "$ERR" "skipped 1 bad line:"
expect_status 1 "$RECO" train --events "$TMP/missing.csv" --algo ials -o "$TMP/x.model"
expect_status 2 "$RECO" train -o "$TMP/x.model"
expect_contains "$ERR" "missing RATINGS (or --events FILE)"

finish
