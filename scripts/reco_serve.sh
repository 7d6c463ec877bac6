# Starting and stopping `reco serve` processes in tests and benchmarks
# (sourced, POSIX sh).
#
#   . scripts/reco_serve.sh
#   serve_start a "$MODEL" --store "$URI" || { cat "$SERVE_DIR/a.err"; exit 1; }
#   curl "http://127.0.0.1:$SERVE_PORT/healthz"
#   serve_stop a
#
# serve_start NAME ARGS... runs "$RECO serve --port 0 ARGS..." in the
# background with its stderr in $SERVE_DIR/NAME.err (SERVE_DIR: a
# directory the caller made; RECO: the binary), waits (up to 20 s) until
# it says where it listens, and sets SERVE_PORT and SERVE_PID (also kept
# in $SERVE_DIR/NAME.port and NAME.pid). It returns 1, the server's
# message in NAME.err, when the server exits first or does not listen in
# time. serve_stop NAME sends SIGTERM and waits; serve_kill NAME sends
# SIGKILL (a crash). serve_stop_all stops every one still running.

serve_start() {
    _n=$1
    shift
    : >"$SERVE_DIR/$_n.err"
    "$RECO" serve --port 0 "$@" 2>"$SERVE_DIR/$_n.err" &
    SERVE_PID=$!
    echo "$SERVE_PID" >"$SERVE_DIR/$_n.pid"
    _i=0
    while [ $_i -lt 200 ]; do
        _i=$((_i + 1))
        SERVE_PORT=$(grep -o '127.0.0.1:[0-9]*' "$SERVE_DIR/$_n.err" | head -n 1 | cut -d: -f2)
        if [ -n "$SERVE_PORT" ]; then
            echo "$SERVE_PORT" >"$SERVE_DIR/$_n.port"
            return 0
        fi
        if ! kill -0 "$SERVE_PID" 2>/dev/null; then
            wait "$SERVE_PID" 2>/dev/null
            rm -f "$SERVE_DIR/$_n.pid"
            return 1
        fi
        sleep 0.1
    done
    return 1
}

serve_port() { cat "$SERVE_DIR/$1.port"; }

serve_stop() {
    [ -f "$SERVE_DIR/$1.pid" ] || return 0
    _p=$(cat "$SERVE_DIR/$1.pid")
    kill "$_p" 2>/dev/null && wait "$_p" 2>/dev/null
    rm -f "$SERVE_DIR/$1.pid"
}

serve_kill() {
    [ -f "$SERVE_DIR/$1.pid" ] || return 0
    _p=$(cat "$SERVE_DIR/$1.pid")
    kill -9 "$_p" 2>/dev/null && wait "$_p" 2>/dev/null
    rm -f "$SERVE_DIR/$1.pid"
}

serve_stop_all() {
    [ -n "${SERVE_DIR:-}" ] && [ -d "$SERVE_DIR" ] || return 0
    for _f in "$SERVE_DIR"/*.pid; do
        [ -f "$_f" ] && serve_stop "$(basename "$_f" .pid)"
    done
    return 0
}
