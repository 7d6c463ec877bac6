#!/bin/bash
# Ratings read from PostgreSQL (docs/postgresql.md) on a throwaway cluster
# (scripts/pg_cluster.sh): a table gives the same statistics and the same
# model as the CSV file it was loaded from; queries, columns=, timestamps
# as timestamptz, the environment variables and the password file work;
# bad rows are named by row; connection and SQL errors are clear and never
# show a password. Skipped without initdb/pg_ctl/psql or a reco built
# without libpq.
. "$(dirname "$0")/lib.sh"
. "$RECO_TEST_DIR/../scripts/pg_cluster.sh"

require_postgresql
trap 'pg_cluster_stop; rm -rf "$TMP"' EXIT
pg_cluster_start || { echo "FAIL: cannot start a PostgreSQL cluster" >&2; exit 1; }

# A generated file plus IDs that CSV must quote (comma, quote, non-ASCII).
"$RECO" gen --preset sample --seed 5 --ratings 6000 --users 300 --items 400 -o "$TMP/r.csv" \
    --quiet || fail "gen failed"
printf '"a,""b",P1,4.0,1400000000\nÜser-ß,P1,2.5,1400000100\n"a,""b",P2,1.0,1400000200\n' \
    >>"$TMP/r.csv"
pg_psql -c "CREATE TABLE ratings (user_id text, product_id text, rating real, ts bigint)" \
    -c "\\copy ratings FROM '$TMP/r.csv' WITH (FORMAT csv)" || fail "loading the table"
SRC='postgresql:///shop?table=ratings'

# The same statistics, byte for byte, but for the name of the input.
expect_status 0 "$RECO" stats --json "$TMP/r.csv"
grep -v '"file":' "$TMP/out" >"$TMP/file.json"
expect_status 0 "$RECO" stats --json "$SRC"
expect_contains "$OUT" "\"file\": \"$SRC\""
grep -v '"file":' "$TMP/out" >"$TMP/pg.json"
cmp -s "$TMP/file.json" "$TMP/pg.json" || fail "stats --json differ: $(diff "$TMP/file.json" "$TMP/pg.json")"
expect_status 0 "$RECO" stats --quiet "$SRC"
expect_contains "$OUT" "source               $SRC"

# The same model: every prediction and recommendation list agrees.
expect_status 0 "$RECO" train --quiet --algo mf --param epochs=5 "$TMP/r.csv" -o "$TMP/file.model"
expect_status 0 "$RECO" train --quiet --algo mf --param epochs=5 "$SRC" -o "$TMP/pg.model"
for u in $(cut -d, -f1 "$TMP/r.csv" | head -n 40 | sort -u | head -n 5) 'a,"b'; do
    expect_status 0 "$RECO" recommend "$TMP/file.model" --user "$u" -n 10 --json
    a=$OUT
    expect_status 0 "$RECO" recommend "$TMP/pg.model" --user "$u" -n 10 --json
    [ "$a" = "$OUT" ] || fail "recommendations for $u differ"
    expect_status 0 "$RECO" predict "$TMP/file.model" --user "$u" --item P1
    a=$OUT
    expect_status 0 "$RECO" predict "$TMP/pg.model" --user "$u" --item P1
    [ "$a" = "$OUT" ] || fail "prediction for $u differs: $a vs $OUT"
done

# A query, with '&', '=' and a final semicolon; the count is the server's.
count=$(pg_psql -At -c "SELECT count(DISTINCT (user_id, product_id)) FROM ratings WHERE rating >= 3 AND ts > 0")
expect_status 0 "$RECO" stats --json "postgresql:///shop?query=SELECT user_id, product_id, rating, ts FROM ratings WHERE rating >= 3 AND ts > 0;"
expect_contains "$OUT" "\"ratings\": $count,"
# Percent-encoded, without a timestamp, IDs of other types printed as text.
expect_status 0 "$RECO" stats --json "postgresql:///shop?query=SELECT%20length(user_id),%20product_id,%20rating%20FROM%20ratings"
expect_contains "$OUT" '"users": 3,'
expect_contains "$OUT" '"time_first": null,'

# columns= picks them from a wider table; a timestamptz is Unix seconds.
pg_psql -c "CREATE TABLE wide (id serial, note text, uid text, pid text, stars numeric(2,1), at timestamptz)" \
    -c "INSERT INTO wide (note, uid, pid, stars, at) SELECT 'x', user_id, product_id, rating, to_timestamp(ts) FROM ratings" ||
    fail "loading the wide table"
expect_status 0 "$RECO" stats --json 'postgresql:///shop?table=public.wide&columns=uid,pid,stars,at'
grep -v '"file":' "$TMP/out" >"$TMP/wide.json"
cmp -s "$TMP/file.json" "$TMP/wide.json" || fail "wide table: $(diff "$TMP/file.json" "$TMP/wide.json")"
expect_status 2 "$RECO" stats 'postgresql:///shop?table=wide'
expect_contains "$ERR" "the table has 6 columns (id, note, uid, pid, stars, at); expected 3 or 4: user, product, rating[, timestamp]"
expect_contains "$ERR" "&columns="

# eval, tune and explore take the source too.
expect_status 0 "$RECO" eval --quiet --algo popular,baseline --split random:0.2 "$SRC"
expect_contains "$OUT" "data       $SRC: "
expect_status 0 "$RECO" tune --quiet --algo baseline --space reg_u=1,20 "$SRC"
expect_contains "$OUT" "reco train --algo baseline"
expect_contains "$OUT" "'$SRC' -o MODEL"
expect_status 0 "$RECO" explore --quiet "$SRC" -o "$TMP/report"
grep -q "table=ratings" "$TMP/report/stats.json" || fail "explore: the source is not named"

# Over TCP with a password: it works and is never shown.
PW=$PG_PASSWORD
expect_status 0 "$RECO" stats "postgresql://reco:$PW@127.0.0.1:$PG_PORT/shop?table=ratings"
expect_contains "$OUT" "source               postgresql://reco@127.0.0.1:$PG_PORT/shop?table=ratings"
case "$OUT$ERR" in *"$PW"*) fail "the password is shown: $OUT $ERR" ;; esac
expect_status 0 "$RECO" stats --json "postgresql://reco@127.0.0.1:$PG_PORT/shop?password=$PW&table=ratings"
case "$OUT$ERR" in *"$PW"*) fail "the password= parameter is shown: $OUT" ;; esac
expect_status 1 "$RECO" stats "postgresql://reco:wrong-$PW@127.0.0.1:$PG_PORT/shop?table=ratings"
expect_contains "$ERR" "postgresql://reco@127.0.0.1:$PG_PORT/shop?table=ratings: cannot connect: "
expect_contains "$ERR" 'password authentication failed for user "reco"'
case "$ERR" in *"wrong-"*) fail "the password is shown: $ERR" ;; esac
# Nothing listens on port 1: the host and libpq's reason, on one line.
expect_status 1 "$RECO" stats "postgresql://reco:$PW@127.0.0.1:1/shop?table=ratings"
expect_contains "$ERR" 'cannot connect: connection to server at "127.0.0.1", port 1 failed: Connection refused'
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "not one line: $ERR"
case "$ERR" in *"$PW"*) fail "the password is shown: $ERR" ;; esac
# A URI libpq cannot parse is quoted by libpq: the password is masked.
expect_status 1 "$RECO" stats "postgresql://reco:$PW@[::1/shop?table=ratings"
expect_contains "$ERR" 'in URI: "postgresql://reco:***@[::1/shop"'
case "$ERR" in *"$PW"*) fail "the password is shown: $ERR" ;; esac
# PGPASSFILE, with the PG* variables naming the server.
printf '127.0.0.1:%s:shop:reco:%s\n' "$PG_PORT" "$PW" >"$TMP/pgpass"
chmod 600 "$TMP/pgpass"
expect_status 0 env PGHOST=127.0.0.1 PGPASSFILE="$TMP/pgpass" "$RECO" stats --quiet 'postgresql://?table=ratings'
expect_contains "$OUT" "ratings              6,"

# Bad rows are named by their row number; --skip-bad counts them.
pg_psql -c "CREATE TABLE bad (u text, p text, r float8, t bigint)" \
    -c "INSERT INTO bad VALUES ('u1','p1',4,1), ('u2','p1',5,2), (NULL,'p2',3,3), ('u3','p2',3,4)" ||
    fail "creating the table bad"
expect_status 2 "$RECO" stats 'postgresql:///shop?table=bad'
expect_contains "$ERR" "reco stats: postgresql:///shop?table=bad:3: empty user ID"
pg_psql -c "UPDATE bad SET u = 'u9' WHERE u IS NULL" -c "CREATE TABLE bad2 AS SELECT * FROM bad ORDER BY t" \
    -c "INSERT INTO bad2 VALUES ('u4','p3',7.5,5), ('$(printf 'x%.0s' $(seq 300))','p3',2,6)" ||
    fail "creating the table bad2"
expect_status 2 "$RECO" stats 'postgresql:///shop?table=bad2'
expect_contains "$ERR" "table=bad2:5: rating 7.5 is outside the allowed range 0.5 to 5"
expect_status 0 "$RECO" stats --skip-bad 'postgresql:///shop?table=bad2'
expect_contains "$ERR" "skipped 2 bad lines"
expect_contains "$ERR" "table=bad2:6: user ID is 300 bytes long; the limit is 255"
expect_contains "$OUT" "ratings              4"
expect_status 0 "$RECO" stats --quiet --skip-bad --rating-range 1:10 'postgresql:///shop?table=bad2&columns=u,p,r'
expect_contains "$OUT" "(no timestamps)"

# SQL errors: the server's message, naming the source.
expect_status 1 "$RECO" stats 'postgresql:///shop?table=nope'
expect_contains "$ERR" 'reco stats: postgresql:///shop?table=nope: relation "nope" does not exist'
expect_status 1 "$RECO" stats 'postgresql:///shop?query=SELECT nope FROM ratings'
expect_contains "$ERR" 'column "nope" does not exist'
expect_status 2 "$RECO" stats "postgresql:///shop?query=SELECT user_id, product_id, 'x'::text FROM ratings"
expect_contains "$ERR" 'the rating (column 3, "text") is not of a numeric type'
expect_status 1 "$RECO" stats "postgresql:///shop?query=SELECT u, p, 1/(t-3), t FROM bad"
expect_contains "$ERR" 'division by zero'
expect_status 2 "$RECO" stats "postgresql:///shop?query=SELECT * FROM bad WHERE false"
expect_contains "$ERR" "query=SELECT * FROM bad WHERE false: no ratings"

# Source syntax, checked before connecting.
expect_status 2 "$RECO" stats 'postgresql:///shop'
expect_contains "$ERR" "name a table or a query: ?table=NAME or ?query=SELECT"
expect_status 2 "$RECO" stats 'postgresql:///shop?table=a&query=SELECT 1'
expect_contains "$ERR" "not both"
expect_status 2 "$RECO" stats 'postgresql:///shop?columns=a,b,c&query=SELECT 1'
expect_contains "$ERR" "columns= picks the columns of a table="
# query= runs to the end: '&' in it is SQL.
expect_status 1 "$RECO" stats 'postgresql:///shop?query=SELECT 1&columns=a,b,c'
expect_contains "$ERR" 'column "columns" does not exist'
expect_status 2 "$RECO" stats 'postgresql:///shop?table=a&columns=a,b'
expect_contains "$ERR" "columns= wants 3 or 4 names"
expect_status 2 "$RECO" stats 'postgresql:///shop?table=a%2'
expect_contains "$ERR" "bad percent escape in table="
expect_status 1 "$RECO" stats 'postgresql:///shop?table=ratings&nosuchoption=1'
expect_contains "$ERR" 'invalid URI query parameter: "nosuchoption"'

finish
