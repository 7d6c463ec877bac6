#!/bin/sh
# The generated man pages (scripts/gen-man.sh): one for reco and one for
# each command, each rendering at 80 columns without a warning from troff.
# Skipped when help2man was absent at build time or no renderer is present.
#   man.sh RECO MAN_DIR
set -eu
reco=$1 dir=$2
[ -f "$dir/reco.1" ] || { echo "man: no pages generated (help2man absent), skipped"; exit 77; }
bad=0
for cmd in "" $("$reco" --complete-options | cut -f1); do
    page=$dir/reco${cmd:+-$cmd}.1
    [ -f "$page" ] || { echo "FAIL: no page $(basename "$page")"; bad=1; continue; }
    if command -v man >/dev/null; then
        warn=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)
    elif command -v groff >/dev/null; then
        warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    else
        echo "man: neither man nor groff, skipped"; exit 77
    fi
    [ -z "$warn" ] || { echo "FAIL: $(basename "$page"): $warn"; bad=1; }
    # The page holds the command's options, from its option table.
    if [ -n "$cmd" ]; then
        sed 's/\\//g' "$page" | grep -q -- '--help' || { echo "FAIL: $(basename "$page") lists no options"; bad=1; }
    fi
done
echo "man: checked"
exit $bad
