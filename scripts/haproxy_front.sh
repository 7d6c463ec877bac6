# An HAProxy load balancer on loopback in front of `reco serve` replicas,
# for tests and benchmarks (sourced, POSIX sh).
#
#   . scripts/haproxy_front.sh
#   command -v haproxy >/dev/null || exit 77          # Debian: haproxy
#   haproxy_start "$DIR" 127.0.0.1:8081 127.0.0.1:8082 || exit 1
#   curl "http://127.0.0.1:$HAPROXY_PORT/v1/..."
#   haproxy_stop
#
# haproxy_start DIR ADDR... writes DIR/haproxy.cfg (round robin over the
# replicas at ADDR...; each checked with GET /healthz every 200 ms, out
# after 2 failed checks, back after 1 good one; HTTP keep-alive to the
# replicas) and runs haproxy in the foreground as a background job on a
# random free port on 127.0.0.1, its output in DIR/haproxy.log. It sets
# HAPROXY_PORT and HAPROXY_PID once a replica answers through it (up to
# 10 s), or returns 1. A replica that stops answering is taken out by the
# checks; requests in flight to it fail (502/503), and HAProxy does not
# send a POST again elsewhere, so only the replica's own answers
# acknowledge writes. haproxy_stop stops it.

HAPROXY_PORT=""
HAPROXY_PID=""

haproxy_start() {
    _dir=$1
    shift
    _tries=0
    while [ $_tries -lt 8 ]; do
        _tries=$((_tries + 1))
        HAPROXY_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
        {
            printf 'global\n    maxconn 8192\n\n'
            printf 'defaults\n    mode http\n    timeout connect 2s\n'
            printf '    timeout client 30s\n    timeout server 30s\n    option http-keep-alive\n\n'
            printf 'frontend reco\n    bind 127.0.0.1:%s\n    default_backend replicas\n\n' \
                "$HAPROXY_PORT"
            printf 'backend replicas\n    balance roundrobin\n    option httpchk\n'
            printf '    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost\n'
            printf '    http-check expect status 200\n'
            printf '    default-server inter 200ms fall 2 rise 1\n'
            _k=0
            for _a in "$@"; do
                _k=$((_k + 1))
                printf '    server r%s %s check\n' "$_k" "$_a"
            done
        } >"$_dir/haproxy.cfg"
        haproxy -f "$_dir/haproxy.cfg" -db >"$_dir/haproxy.log" 2>&1 &
        HAPROXY_PID=$!
        _i=0
        while [ $_i -lt 100 ]; do
            _i=$((_i + 1))
            if ! kill -0 "$HAPROXY_PID" 2>/dev/null; then
                wait "$HAPROXY_PID" 2>/dev/null
                HAPROXY_PID=""
                break
            fi
            if [ "$(curl -s -o /dev/null -w '%{http_code}' \
                "http://127.0.0.1:$HAPROXY_PORT/healthz")" = 200 ]; then
                return 0
            fi
            sleep 0.1
        done
        [ -n "$HAPROXY_PID" ] && haproxy_stop
        grep -qi "address already in use\|cannot bind" "$_dir/haproxy.log" || break
    done
    echo "haproxy_front: haproxy did not start:" >&2
    cat "$_dir/haproxy.log" >&2
    return 1
}

haproxy_stop() {
    [ -n "$HAPROXY_PID" ] || return 0
    kill "$HAPROXY_PID" 2>/dev/null && wait "$HAPROXY_PID" 2>/dev/null
    HAPROXY_PID=""
}
