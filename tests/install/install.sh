#!/bin/sh
# Installs the build into a temporary DESTDIR and builds
# examples/train_and_recommend.c against the installed copy through
# pkg-config alone, then runs it on data/sample.csv: the library is usable
# as installed (headers, pkg-config file, soname), exports only its API, and
# a program using only models does not link PLplot.
#   install.sh CMAKE BUILD_DIR SOURCE_DIR CC
set -eu
cmake=$1 build=$2 src=$3 cc=$4
command -v pkg-config >/dev/null || { echo "install: no pkg-config, skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

DESTDIR=$tmp/stage "$cmake" --install "$build" --prefix /opt/reco >"$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
root=$tmp/stage/opt/reco
pc=$(find "$root" -name reco.pc)
[ -n "$pc" ] || fail "no reco.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in include/reco/reco.h include/reco/version.h include/reco/service.h bin/reco; do
    [ -e "$root/$f" ] || fail "$f not installed"
done
for f in libreco.a libreco.so libreco-report.so libreco-report.a; do
    [ -e "$libdir/$f" ] || fail "$f not installed"
done
[ -f "$root/share/bash-completion/completions/reco" ] || fail "bash completion not installed"
if [ -f "$build/man/reco.1" ]; then
    for f in reco.1 reco-train.1 reco-serve.1; do
        [ -f "$root/share/man/man1/$f" ] || fail "man page $f not installed"
    done
fi
soname=$(readelf -d "$libdir/libreco.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
major=$(sed -n 's/^#define RECO_VERSION_MAJOR \([0-9]*\)/\1/p' "$root/include/reco/version.h")
minor=$(sed -n 's/^#define RECO_VERSION_MINOR \([0-9]*\)/\1/p' "$root/include/reco/version.h")
want=libreco.so.$major
[ "$major" = 0 ] && want=libreco.so.0.$minor # 0.x: every minor release its own soname
[ "$soname" = "$want" ] || fail "soname '$soname', want $want"

# Only the public API is exported: the private kernels and file helpers
# are not, the model interface is.
syms=$(nm -D --defined-only "$libdir/libreco.so")
echo "$syms" | grep -q ' reco_model_fit@@' || fail "reco_model_fit not exported"
echo "$syms" | grep -q ' reco_service_open@@' || fail "reco_service_open not exported"
if echo "$syms" | grep -E ' (reco_dot|reco_read_all|reco_snprintf_c)@' ; then
    fail "private helpers exported"
fi

export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists reco || fail "pkg-config does not find reco"
[ "$(pkg-config --modversion reco)" = "$("$root/bin/reco" --version | cut -d' ' -f2)" ] ||
    fail "reco.pc version differs from reco --version"
# shellcheck disable=SC2046
"$cc" -std=c17 -Wall -Wextra -Werror -o "$tmp/example" "$src/examples/train_and_recommend.c" \
    $(pkg-config --cflags --libs reco) || fail "the example does not build"
if readelf -d "$tmp/example" | grep -qi plplot; then fail "the example links PLplot"; fi
readelf -d "$tmp/example" | grep -q "libreco.so.$major" || fail "the example is not linked to libreco.so.$major"

LD_LIBRARY_PATH=$libdir "$tmp/example" "$src/data/sample.csv" "$tmp/shop.model" >"$tmp/out" ||
    { cat "$tmp/out"; fail "the example failed"; }
cat "$tmp/out"
grep -q "^reco $major\." "$tmp/out" || fail "no version line"
[ "$(grep -c '^[1-5]\. ' "$tmp/out")" -eq 5 ] || fail "not 5 recommendations"
[ -s "$tmp/shop.model" ] || fail "no model file"
# The saved model is a reco model file: the installed command reads it.
"$root/bin/reco" recommend "$tmp/shop.model" --user "$(sed -n 's/^top 5 for user \([^ ]*\).*/\1/p' "$tmp/out")" -n 5 -q >/dev/null ||
    fail "reco recommend does not read the example's model"

# The report library resolves through its own pkg-config file.
printf '#include <reco/explore.h>\nint main(void) { return reco_report_chart_names[0] == 0; }\n' >"$tmp/r.c"
# shellcheck disable=SC2046
"$cc" -std=c17 -o "$tmp/r" "$tmp/r.c" $(pkg-config --cflags --libs reco-report) ||
    fail "a program against reco-report does not build"
LD_LIBRARY_PATH=$libdir "$tmp/r" || fail "reco-report program failed"
echo "install: ok"
