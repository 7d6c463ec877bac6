#!/bin/sh
# Every public header compiles on its own (self-contained, its includes
# all there) as C17, and as C++17 when a C++ compiler was found (the
# extern "C" guards, nothing C-only in inline code).
#   headers.sh CC CXX INCLUDE_DIR GENERATED_INCLUDE_DIR   (CXX may be "")
set -eu
cc=$1 cxx=$2 inc=$3 gen=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="-Wall -Wextra -Werror -I$inc -I$gen $(pkg-config --cflags jansson)"
bad=0 n=0
for h in "$inc"/reco/*.h "$gen"/reco/*.h; do
    name=reco/$(basename "$h")
    n=$((n + 1))
    printf '#include "%s"\n#include "%s"\n' "$name" "$name" > "$tmp/t.c"
    # shellcheck disable=SC2086
    if ! "$cc" -std=c17 -pedantic $flags -fsyntax-only "$tmp/t.c"; then
        echo "FAIL: $name does not compile alone as C"; bad=1
    fi
    if [ -n "$cxx" ]; then
        cp "$tmp/t.c" "$tmp/t.cpp"
        # shellcheck disable=SC2086
        if ! "$cxx" -std=c++17 $flags -fsyntax-only "$tmp/t.cpp"; then
            echo "FAIL: $name does not compile as C++"; bad=1
        fi
        # The declarations have C linkage: a C++ call names the C symbol.
        # (reco.h only includes the others.)
        if [ "$name" != reco/reco.h ] && ! grep -q 'extern "C"' "$h"; then
            echo "FAIL: $name has no extern \"C\" guard"; bad=1
        fi
    fi
done
[ -n "$cxx" ] || echo "headers: no C++ compiler, C only"
echo "headers: $n checked"
exit $bad
