# Helpers for the CLI tests (sourced). $RECO is the binary under test.
set -u
FAILS=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# In a sanitizer build: fontconfig (under PLplot's cairo driver, reco
# explore's charts) keeps font caches that only FcFini() frees; they are not
# reco's leaks.
printf 'leak:libfontconfig.so\n' >"$TMP/lsan.supp"
export LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# expect_status WANT CMD...: runs CMD, captures stdout/stderr in $OUT/$ERR.
expect_status() {
    want=$1; shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    OUT=$(cat "$TMP/out"); ERR=$(cat "$TMP/err")
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $ERR"
}

expect_contains() { # HAYSTACK NEEDLE
    case "$1" in *"$2"*) ;; *) fail "expected to find '$2' in: $1" ;; esac
}

# JSON without its layout (spaces and newlines dropped, in strings too), for
# checking a whole object in one expect_contains.
flat() { printf '%s' "$1" | tr -d ' \n'; }

# Exits 77 (skipped, saying why) unless reco was built with libpq and a
# PostgreSQL server's programs are there (scripts/pg_cluster.sh, sourced
# before, gives pg_find_bin).
require_postgresql() {
    "$RECO" stats --quiet 'postgresql://127.0.0.1:1/x?table=t' 2>"$TMP/probe" >/dev/null
    if grep -q "built without PostgreSQL support" "$TMP/probe"; then
        echo "skipped: reco was built without libpq"
        exit 77
    fi
    if ! pg_find_bin; then
        echo "skipped: no initdb, pg_ctl and psql (Debian: postgresql)"
        exit 77
    fi
}

finish() {
    if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)" >&2; exit 1; fi
    echo "ok"
    exit 0
}
