#!/bin/bash
# The bash completion (scripts/reco-completion.bash): subcommands, and each
# command's long options from its option table (reco --complete-options).
. "$(dirname "$0")/lib.sh"
comp=$RECO_TEST_DIR/../scripts/reco-completion.bash
# shellcheck source=/dev/null
source "$comp"
dir=$TMP
# "reco" in the completed line runs the binary under test.
ln -s "$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")" "$dir/reco"

complete_line() { # words...: COMPREPLY for the last word
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _reco
    printf '%s\n' "${COMPREPLY[@]}"
}

out=$(complete_line "$dir/reco" "")
for c in stats gen explore eval tune train recommend similar predict serve log; do
    grep -qx "$c" <<<"$out" || fail "command $c not completed"
done
[ "$(complete_line "$dir/reco" "tr")" = "train" ] || fail "'tr' does not complete to train"

# Every long option of every command is offered, with "=" when it takes a
# value, and they are the options --help documents.
for c in $("$RECO" --complete-options | cut -f1); do
    opts=$(complete_line "$dir/reco" "$c" "--")
    [ -n "$opts" ] || fail "no options for $c"
    grep -qx -- "--help" <<<"$opts" || fail "$c: --help not offered"
    help=$("$RECO" "$c" --help)
    while read -r o; do
        name=${o%=}
        grep -q -- "$name" <<<"$help" || fail "$c: $name offered but not in --help"
    done <<<"$opts"
done
opts=$(complete_line "$dir/reco" train "--alg")
[ "$opts" = "--algo=" ] || fail "train --alg completes to '$opts', want --algo="
grep -qx -- "--quiet" <<<"$(complete_line "$dir/reco" stats "--q")" || fail "stats --quiet"
[ "$(complete_line "$dir/reco" log "co")" = "compact" ] || fail "log co"
# An unknown command: nothing, no error output.
[ -z "$(complete_line "$dir/reco" nosuch "--" 2>&1)" ] || fail "unknown command completes"
expect_status 2 "$RECO" --complete-options nosuch
finish
