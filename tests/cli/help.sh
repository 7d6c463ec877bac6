#!/bin/bash
# Every command's --help compared whole with its golden file
# (tests/cli/golden/help-CMD.txt), so that help text drifts only on purpose:
# the option tables generate it, and a changed table shows here. After a
# deliberate change, RECO_UPDATE_GOLDEN=1 rewrites the golden files.
# Also: help goes to standard output, exits 0, fits 80 columns, and names
# -q, --quiet and -h, --help wherever the command takes them.
. "$(dirname "$0")/lib.sh"

GOLDEN="$RECO_TEST_DIR/cli/golden"
commands="stats gen explore eval tune train recommend similar predict log"
"$RECO" serve --help >/dev/null 2>&1 && commands="$commands serve"

check() { # NAME ARGS...
    name=$1; shift
    expect_status 0 "$RECO" "$@"
    [ -z "$ERR" ] || fail "reco $*: wrote to stderr: $ERR"
    if [ -n "${RECO_UPDATE_GOLDEN:-}" ]; then
        printf '%s\n' "$OUT" >"$GOLDEN/help-$name.txt"
        return
    fi
    printf '%s\n' "$OUT" >"$TMP/help-$name.txt"
    diff -u "$GOLDEN/help-$name.txt" "$TMP/help-$name.txt" >"$TMP/diff" ||
        fail "reco $* differs from golden/help-$name.txt:
$(cat "$TMP/diff")"
    long=$(printf '%s\n' "$OUT" | LC_ALL=C.UTF-8 sed -n '/^.\{80,\}/p')
    [ -z "$long" ] || fail "reco $*: lines over 79 columns:
$long"
}

check reco --help
for c in $commands; do
    check "$c" "$c" --help
    expect_contains "$OUT" "  -h, --help             show this help"
    expect_contains "$OUT" "  -q, --quiet"
    # -h is --help.
    "$RECO" "$c" -h >"$TMP/h" 2>&1 && [ "$(cat "$TMP/h")" = "$OUT" ] || fail "reco $c -h is not --help"
done
finish
