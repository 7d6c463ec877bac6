#!/bin/sh
# Writes the man pages of reco and of each of its commands (reco.1,
# reco-stats.1, ...) into OUTDIR with help2man, from the --help texts,
# which come from the commands' option tables: the pages say what --help
# says. Run by the build (cmake/library.cmake) when help2man is present.
#   gen-man.sh RECO OUTDIR VERSION
set -eu
reco=$1 out=$2 version=$3
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Lists of values joined by commas ("rankers=ials,ease,popular") are long
# words that troff cannot fit in an indented paragraph: a comma in text is
# a place to break the line (\: prints nothing).
fix_breaks() {
    sed -i '/^[.'"'"']/!s/,\([^ ]\)/,\\:\1/g' "$1"
}

# help2man names a page after the program it runs: one small wrapper per
# command ("reco-stats" runs "reco stats").
"$reco" --complete-options >"$tmp/commands"
see_also=""
while IFS="$(printf '\t')" read -r cmd summary; do
    printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$reco" "$cmd" >"$tmp/reco-$cmd"
    chmod +x "$tmp/reco-$cmd"
    printf '[SEE ALSO]\n.BR reco (1)\n' >"$tmp/$cmd.h2m"
    help2man --no-info --version-string="$version" --name="$summary" \
        --include="$tmp/$cmd.h2m" --output="$out/reco-$cmd.1" "$tmp/reco-$cmd"
    fix_breaks "$out/reco-$cmd.1"
    see_also="$see_also${see_also:+,
}.BR reco\\-$cmd (1)"
done <"$tmp/commands"
printf '[SEE ALSO]\n%s\n' "$see_also" >"$tmp/reco.h2m"
help2man --no-info --version-string="$version" \
    --name="product recommendations from user-product ratings" \
    --include="$tmp/reco.h2m" --output="$out/reco.1" "$reco"
fix_breaks "$out/reco.1"
