#!/bin/bash
# reco recommend --all-users: every user once, in the model's order (first
# appearance in the training file), each list the one reco recommend --user
# gives (under the same rules); CSV with RFC 4180 quoting of awkward IDs; the same bytes on any
# number of threads; an export killed with SIGKILL and continued with
# --resume is byte-identical to one written in one go; the usage errors.
. "$(dirname "$0")/lib.sh"

SAMPLE="$RECO_TEST_DIR/../data/sample.csv"
command -v python3 >/dev/null || { echo "skipped: no python3"; exit 77; }

expect_status 0 "$RECO" train --quiet --algo mf --param factors=8 "$SAMPLE" -o "$TMP/mf.model"
expect_status 0 "$RECO" train --quiet --algo ials --param factors=8 --min-user-ratings 3 \
    "$SAMPLE" -o "$TMP/ials.model"

# JSON Lines: one valid line per user, every user once, in first-appearance
# order; lists of n products; nothing left beside the file.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -o "$TMP/mf.jsonl"
expect_contains "$ERR" "1,500 users"
[ -s "$TMP/mf.jsonl" ] || fail "no export written"
ls "$TMP" | grep -q '\.part' && fail "a finished export left $(ls "$TMP" | grep '\.part')"
python3 - "$SAMPLE" "$TMP/mf.jsonl" 10 <<'EOF' || fail "the JSON Lines export is wrong (above)"
import json, sys
order, seen = [], set()
for line in open(sys.argv[1]):
    u = line.split(",")[0]
    if u not in seen:
        seen.add(u)
        order.append(u)
raw = open(sys.argv[2], "rb").read()
assert raw.endswith(b"\n"), "no final newline"
lines = raw.decode("utf-8").split("\n")[:-1]
users = []
for l in lines:
    d = json.loads(l)
    assert list(d) == ["user", "items", "cold_start"], d
    assert len(d["items"]) == int(sys.argv[3]), d
    assert all(list(it) == ["item", "score"] for it in d["items"]), d
    scores = [it["score"] for it in d["items"]]
    assert scores == sorted(scores, reverse=True), d
    assert " " not in l, "not compact: " + l
    users.append(d["user"])
assert users == order, "users not once each in first-appearance order"
EOF

# Each list is the one reco recommend --user gives (item, score, cold start):
# the first, the last and users in between; with -n and --include-rated too.
check_users() { # MODEL EXPORT N [recommend options...]
    model=$1 file=$2 n=$3
    shift 3
    for k in 1 2 377 750 1111 $(wc -l <"$file"); do
        line=$(sed -n "${k}p" "$file")
        user=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"])')
        "$RECO" recommend "$model" --user "$user" -n "$n" --json "$@" >"$TMP/one.json" ||
            fail "reco recommend --user $user failed"
        printf '%s\n' "$line" | python3 -c '
import json, sys
line = json.loads(sys.stdin.read())
one = json.load(open(sys.argv[1]))
want = [{"item": it["item"], "score": it["score"]} for it in one["items"]]
assert line["items"] == want, (line, one)
assert line["cold_start"] == one["cold_start"], (line, one)
' "$TMP/one.json" || fail "user $user (line $k of $file) differs from reco recommend --user"
    done
}
check_users "$TMP/mf.model" "$TMP/mf.jsonl" 10
expect_status 0 "$RECO" recommend "$TMP/ials.model" --all-users -n 7 --include-rated -q \
    -o "$TMP/ials.jsonl"
[ -z "$ERR" ] || fail "-q still wrote: $ERR"
check_users "$TMP/ials.model" "$TMP/ials.jsonl" 7 --include-rated

# The rules of reco recommend, made once for the run, apply to every user:
# --exclude (unknown IDs ignored and counted), --include.
top=$(head -n 1 "$TMP/mf.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["item"])')
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users --exclude "$top,no-such-item" \
    -o "$TMP/ex.jsonl"
expect_contains "$ERR" "ignored 1 product ID"
grep -q "\"item\":\"$top\"" "$TMP/ex.jsonl" && fail "--exclude $top: still listed"
check_users "$TMP/mf.model" "$TMP/ex.jsonl" 10 --exclude "$top,no-such-item"
allow=$(cut -d, -f2 "$SAMPLE" | sort -u | head -n 12 | paste -sd, -)
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -n 5 -q --include "$allow" \
    -o "$TMP/in.jsonl"
python3 - "$TMP/in.jsonl" "$allow" <<'EOF' || fail "--include: a product outside the allow-list"
import json, sys
allow = set(sys.argv[2].split(","))
for l in open(sys.argv[1]):
    assert all(it["item"] in allow for it in json.loads(l)["items"]), l
EOF
check_users "$TMP/mf.model" "$TMP/in.jsonl" 5 --include "$allow"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --max-per-category 2 -o "$TMP/c.jsonl"
expect_contains "$ERR" "needs product categories"

# With a catalogue: unavailable products hidden by default (as in reco
# recommend), --include-unavailable, --category; every user's list equal to
# reco recommend's.
n=0
for p in P1:6 P2:5 P3:4 P4:3 P5:2 P6:1; do
    for u in $(seq 1 "${p#*:}"); do
        n=$((n + 1))
        echo "u$u,${p%:*},4.0,$((1400000000 + n))"
    done
done >"$TMP/cat-r.csv"
printf 'item_id,title,category,available\nP1,One,A/B,true\nP2,Two,A/C,false\nP3,Three,A/B,true\nP4,Four,D,true\nP5,Five,A/BX,true\n' \
    >"$TMP/items.csv"
expect_status 0 "$RECO" train --quiet --algo popular "$TMP/cat-r.csv" --items "$TMP/items.csv" \
    -o "$TMP/cat.model"
cat_case() { # NAME [options...]
    name=$1
    shift
    expect_status 0 "$RECO" recommend "$TMP/cat.model" --all-users -q -n 10 --include-rated "$@" \
        -o "$TMP/cat-$name.jsonl"
    for u in u1 u2 u3 u4 u5 u6; do
        "$RECO" recommend "$TMP/cat.model" --user "$u" -n 10 --include-rated --json "$@" \
            >"$TMP/one.json" 2>/dev/null || fail "reco recommend --user $u $*"
        grep "\"user\":\"$u\"" "$TMP/cat-$name.jsonl" | python3 -c '
import json, sys
line = json.loads(sys.stdin.read())
one = json.load(open(sys.argv[1]))
assert line["items"] == [{"item": i["item"], "score": i["score"]} for i in one["items"]], (line, one)
' "$TMP/one.json" || fail "catalogue export ($name): user $u differs from reco recommend"
    done
}
cat_case hidden
grep -q '"item":"P2"' "$TMP/cat-hidden.jsonl" && fail "an unavailable product was exported"
cat_case all --include-unavailable
grep -q '"item":"P2"' "$TMP/cat-all.jsonl" || fail "--include-unavailable: P2 missing"
cat_case a --category A
grep -q '"item":"P4"' "$TMP/cat-a.jsonl" && fail "--category A: P4 (D) exported"
# The catalogue's rules combine with the others, as in reco recommend.
cat_case mixed --category A --exclude P1 --max-per-category 2
grep -q '"item":"P1"' "$TMP/cat-mixed.jsonl" && fail "--exclude P1 with --category: P1 exported"
expect_status 0 "$RECO" recommend "$TMP/cat.model" --all-users -o "$TMP/cat-none.jsonl" --category Nope
expect_contains "$ERR" 'no category "Nope" in the catalogue'
grep -q '"item"' "$TMP/cat-none.jsonl" && fail "an unknown category: products exported"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --category A -o "$TMP/c.jsonl"
expect_contains "$ERR" "needs a model with a catalogue"

# CSV: the header, then the same lists as user,rank,item,score.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/mf.csv"
[ "$(head -n 1 "$TMP/mf.csv")" = "user,rank,item,score" ] || fail "CSV header: $(head -n 1 "$TMP/mf.csv")"
python3 - "$TMP/mf.csv" "$TMP/mf.jsonl" <<'EOF' || fail "the CSV export differs from the JSON Lines one"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))[1:]
want = []
for l in open(sys.argv[2], encoding="utf-8"):
    d = json.loads(l)
    for r, it in enumerate(d["items"], 1):
        want.append([d["user"], str(r), it["item"], it["score"]])
assert len(rows) == len(want), (len(rows), len(want))
for got, w in zip(rows, want):
    assert got[:3] == w[:3] and float(got[3]) == w[3], (got, w)
EOF

# Awkward IDs: commas, quotes, spaces, a backslash, non-ASCII; CSV quoting
# as RFC 4180 says (read back by a CSV reader), JSON escaping (read back by
# a JSON reader), and both agree.
cat >"$TMP/odd.csv" <<'EOF'
"user,comma",plain,5,1
"user,comma","item ""quoted""",4,2
"say ""hi""","item,comma",3,3
"say ""hi""",plain,2,4
back\slash," spaced ",4,5
back\slash,ünïcode,5,6
ünïcode,"item ""quoted""",1,7
ünïcode,plain,4,8
plain-user," spaced ",5,9
plain-user,"item,comma",2,10
EOF
expect_status 0 "$RECO" train --quiet --algo popular "$TMP/odd.csv" -o "$TMP/odd.model"
expect_status 0 "$RECO" recommend "$TMP/odd.model" --all-users -n 5 --include-rated -q \
    -o "$TMP/odd.csv.out" --format csv
expect_status 0 "$RECO" recommend "$TMP/odd.model" --all-users -n 5 --include-rated -q \
    -o "$TMP/odd.jsonl"
grep -q '^"user,comma",1,' "$TMP/odd.csv.out" || fail "a user with a comma is not quoted: $(cat "$TMP/odd.csv.out")"
grep -q '^"say ""hi""",1,' "$TMP/odd.csv.out" || fail "quotes are not doubled: $(cat "$TMP/odd.csv.out")"
grep -q '^back\\slash,1,' "$TMP/odd.csv.out" || fail "a backslash was quoted in CSV"
grep -q '"user":"say \\"hi\\""' "$TMP/odd.jsonl" || fail "JSON escaping: $(cat "$TMP/odd.jsonl")"
python3 - "$TMP/odd.csv.out" "$TMP/odd.jsonl" <<'EOF' || fail "awkward IDs do not read back"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
assert rows[0] == ["user", "rank", "item", "score"], rows[0]
want = []
users = []
for l in open(sys.argv[2], encoding="utf-8"):
    d = json.loads(l)
    users.append(d["user"])
    for r, it in enumerate(d["items"], 1):
        want.append([d["user"], str(r), it["item"]])
assert users == ["user,comma", 'say "hi"', "back\\slash", "ünïcode", "plain-user"], users
assert [r[:3] for r in rows[1:]] == want, (rows, want)
items = {r[2] for r in rows[1:]}
assert items == {"plain", 'item "quoted"', "item,comma", " spaced ", "ünïcode"}, items
EOF

# The same bytes on any number of threads, and in chunks of any size.
export RECO_TEST_EXPORT_CHUNK=64
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q --threads 1 -o "$TMP/t1.jsonl"
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q --threads 2 -o "$TMP/t2.jsonl"
OMP_NUM_THREADS=1 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/o1.csv" || fail "OMP 1"
OMP_NUM_THREADS=2 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/o2.csv" || fail "OMP 2"
OMP_NUM_THREADS=3 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/o3.csv" || fail "OMP 3"
cmp -s "$TMP/t1.jsonl" "$TMP/t2.jsonl" || fail "--threads 1 and 2 differ"
cmp -s "$TMP/t1.jsonl" "$TMP/mf.jsonl" || fail "chunks of 64 and of the default size differ"
cmp -s "$TMP/o1.csv" "$TMP/o2.csv" || fail "OMP_NUM_THREADS=1 and 2 differ"
cmp -s "$TMP/o1.csv" "$TMP/o3.csv" || fail "OMP_NUM_THREADS=1 and 3 differ"
cmp -s "$TMP/o1.csv" "$TMP/mf.csv" || fail "the CSV in chunks of 64 differs"
unset RECO_TEST_EXPORT_CHUNK

# Standard output: the same bytes, JSON Lines unless --format says CSV.
"$RECO" recommend "$TMP/mf.model" --all-users -q -o - >"$TMP/stdout.jsonl" || fail "-o - failed"
cmp -s "$TMP/stdout.jsonl" "$TMP/mf.jsonl" || fail "-o - differs from the file"
"$RECO" recommend "$TMP/mf.model" --all-users -q -o - --format csv >"$TMP/stdout.csv" || fail "-o - csv"
cmp -s "$TMP/stdout.csv" "$TMP/mf.csv" || fail "-o - --format csv differs from the file"

# Killed (SIGKILL, as kill -9) mid-way, then --resume: the same bytes as an
# export in one go. Chunks of 50 users, a checkpoint every 2 chunks; killed
# after a chunk past a checkpoint (its bytes must be cut), right at a
# checkpoint's chunk (before the state is written), and before the first.
# killed OUT [options]: an export to OUT killed after KILL_AFTER users; the
# status in $status (the shell's "Killed" note silenced).
killed() {
    out=$1
    shift
    (RECO_TEST_EXPORT_CHUNK=50 RECO_TEST_EXPORT_CHECKPOINT=2 \
        "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$out" "$@" >/dev/null 2>&1) 2>/dev/null
    status=$?
}
resume_case() { # FILE KILL_AFTER THREADS RESUMED_USERS
    file=$1 threads=$3 resumed=$4
    rm -f "$TMP/$file" "$TMP/$file.part" "$TMP/$file.part.state"
    RECO_TEST_EXPORT_KILL_AFTER=$2 killed "$TMP/$file" --threads "$threads"
    [ "$status" -eq 137 ] || fail "$file: the export was not killed (status $status)"
    [ -e "$TMP/$file" ] && fail "$file: an interrupted export is visible under its name"
    [ -s "$TMP/$file.part" ] && [ -s "$TMP/$file.part.state" ] ||
        fail "$file: no part file and state after the kill"
    RECO_TEST_EXPORT_CHUNK=50 expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users \
        --resume --threads "$threads" -o "$TMP/$file"
    if [ "$resumed" -gt 0 ]; then
        expect_contains "$ERR" "resumed after $resumed users"
    else
        expect_contains "$ERR" "1,500 users"
    fi
    cmp -s "$TMP/$file" "$TMP/${file#*-}" || fail "$file: resumed export differs from one in one go"
    [ -e "$TMP/$file.part" ] || [ -e "$TMP/$file.part.state" ] && fail "$file: part or state left"
}
resume_case k1-mf.jsonl 750 2 700
resume_case k2-mf.jsonl 400 1 300
resume_case k3-mf.csv 650 2 600
resume_case k4-mf.csv 50 1 0

# A state of other settings is not resumed; without --resume a stale part
# is started afresh.
RECO_TEST_EXPORT_KILL_AFTER=600 killed "$TMP/k5.jsonl"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users -n 5 --resume -o "$TMP/k5.jsonl"
expect_contains "$ERR" "another model or other settings"
expect_status 2 "$RECO" recommend "$TMP/ials.model" --all-users --resume -o "$TMP/k5.jsonl"
expect_contains "$ERR" "another model or other settings"
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/k5.jsonl"
cmp -s "$TMP/k5.jsonl" "$TMP/mf.jsonl" || fail "a fresh export over a stale part differs"
# Other rules are other settings too.
RECO_TEST_EXPORT_KILL_AFTER=600 killed "$TMP/k8.jsonl" --exclude "$top"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --resume -o "$TMP/k8.jsonl"
expect_contains "$ERR" "another model or other settings"
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q --exclude "$top" --resume \
    -o "$TMP/k8.jsonl"
cmp -s "$TMP/k8.jsonl" "$TMP/ex.jsonl" || fail "--exclude, killed and resumed, differs"
# --resume with nothing to resume starts afresh.
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q --resume -o "$TMP/k6.jsonl"
cmp -s "$TMP/k6.jsonl" "$TMP/mf.jsonl" || fail "--resume with nothing to resume"
# A damaged state is refused with a message.
RECO_TEST_EXPORT_KILL_AFTER=600 killed "$TMP/k7.jsonl"
printf 'junk\n' >"$TMP/k7.jsonl.part.state"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --resume -o "$TMP/k7.jsonl"
expect_contains "$ERR" "not the state of an export"

# Usage errors.
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users
expect_contains "$ERR" "--all-users needs --output"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --user x -o "$TMP/x.jsonl"
expect_contains "$ERR" "go with --all-users"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --user x -o "$TMP/x.jsonl"
expect_contains "$ERR" "does not go with --user"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users --json -o "$TMP/x.jsonl"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users -o "$TMP/x.txt"
expect_contains "$ERR" ".jsonl or .csv"
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users -o "$TMP/x.jsonl" --format xml
expect_status 2 "$RECO" recommend "$TMP/mf.model" --all-users -o - --resume
expect_contains "$ERR" "cannot be resumed"
expect_status 1 "$RECO" recommend "$TMP/mf.model" --all-users -o "$TMP/no/such/dir/x.jsonl"
expect_contains "$ERR" "no/such/dir"
expect_status 0 "$RECO" recommend "$TMP/mf.model" --all-users -q -o "$TMP/x.txt" --format csv
cmp -s "$TMP/x.txt" "$TMP/mf.csv" || fail "--format csv over an extension"
finish
