#!/bin/sh
# The browser test of the web console (tests/browser/console.test.mjs):
# trains two small models on data/sample.csv, writes the explore report,
# starts `reco serve` with both as variants, a ratings log, a token and
# --report, and drives Debian's chromium headless through puppeteer-core
# (installed with `npm ci` from package-lock.json into the build
# directory; no browser is downloaded). Skipped (exit 77) with the reason
# when chromium, node or npm is missing or npm cannot fetch the package.
#   run.sh RECO BUILD_DIR
set -u
RECO=$1
BUILD=$2
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

skip() { echo "SKIP: $*"; exit 77; }

CHROMIUM=${CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then CHROMIUM=$(command -v "$c"); break; fi
    done
fi
[ -n "$CHROMIUM" ] || skip "no chromium installed (apt-get install chromium; scripts/install-deps.sh does)"
command -v node >/dev/null 2>&1 || skip "no node installed (apt-get install nodejs)"
command -v npm >/dev/null 2>&1 || skip "no npm installed (apt-get install npm)"

# puppeteer-core, exactly as package-lock.json pins it, beside the test.
MODS="$BUILD/tests/browser"
mkdir -p "$MODS"
if ! cmp -s "$HERE/package-lock.json" "$MODS/package-lock.json" || [ ! -d "$MODS/node_modules" ]; then
    cp "$HERE/package.json" "$HERE/package-lock.json" "$MODS/"
    if ! (cd "$MODS" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
            >npm.log 2>&1); then
        tail -5 "$MODS/npm.log"
        rm -f "$MODS/package-lock.json"
        skip "npm ci could not install puppeteer-core (no registry reachable?)"
    fi
fi
cp "$HERE/console.test.mjs" "$MODS/"

WORK=$(mktemp -d)
ART="$BUILD/tests/artifacts"
mkdir -p "$ART"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$RECO" train --algo itemcf "$SRC/data/sample.csv" -o "$WORK/itemcf.reco" >/dev/null 2>&1 ||
    { echo "FAIL: reco train itemcf"; exit 1; }
"$RECO" train --algo mf "$SRC/data/sample.csv" -o "$WORK/mf.reco" >/dev/null 2>&1 ||
    { echo "FAIL: reco train mf"; exit 1; }
"$RECO" explore "$SRC/data/sample.csv" --out "$WORK/report" >/dev/null 2>&1 ||
    { echo "FAIL: reco explore"; exit 1; }
echo "console-test-token" >"$WORK/token"

"$RECO" serve --variant A="$WORK/itemcf.reco":0.5 --variant B="$WORK/mf.reco":0.5 \
    --ratings-log "$WORK/log.csv" --create-ratings-log --token-file "$WORK/token" \
    --report "$WORK/report" --port 0 2>"$WORK/serve.err" &
PID=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.err" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    echo "FAIL: reco serve did not start:"
    cat "$WORK/serve.err"
    exit 1
fi

BASE="http://127.0.0.1:$PORT" TOKEN=console-test-token CHROMIUM="$CHROMIUM" ARTIFACTS="$ART" \
    node "$MODS/console.test.mjs"
rc=$?
[ $rc -eq 0 ] || { echo "server log:"; cat "$WORK/serve.err"; }
exit $rc
