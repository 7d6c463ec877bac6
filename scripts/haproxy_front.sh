#!/bin/sh
# HAProxy in front of `reco serve` replicas on loopback, for tests and
# benchmarks (and as a worked example of docs/scaling.md's configuration).
#
#   scripts/haproxy_front.sh start DIR PORT BACKEND_PORT...
#       writes DIR/haproxy.cfg, starts haproxy in the background (pidfile
#       DIR/haproxy.pid, admin socket DIR/admin.sock), waits until it
#       answers GET /healthz with 200, and prints the port it listens on
#       (PORT 0: a free port is picked). Replica k (from 1) is server rK.
#   scripts/haproxy_front.sh stop DIR
#   scripts/haproxy_front.sh cmd DIR 'show stat'       any admin-socket command
#   scripts/haproxy_front.sh state DIR                 "backend server status" lines
#   scripts/haproxy_front.sh drain DIR rK              no new requests to rK
#   scripts/haproxy_front.sh ready DIR rK              back in rotation
#   scripts/haproxy_front.sh wait DIR rK UP|DOWN [S]   until rK's check says so
#                                                      in every backend (S s, 10)
#   scripts/haproxy_front.sh rolling-reload DIR [TOKEN_FILE]
#       one replica at a time: drain, POST /v1/admin/reload to it directly,
#       back in rotation, wait until its check passes; stops at the first
#       failed reload (that replica stays drained, the rest keep serving).
#
# Two backends over the same replicas: "reads" (GET, HEAD) take a replica
# whose /healthz answers 200 or 503 ("degraded": its writes fail, its reads
# work), "writes" (everything else) only one that answers 200. Unreachable
# replicas leave both. Environment: HAPROXY (binary, default haproxy),
# BALANCE (roundrobin | leastconn; default roundrobin), CHECK_INTER (ms, 200),
# HAPROXY_THREADS (default: haproxy's own, one per core), HAPROXY_MAXCONN
# (4096). Needs curl; the admin socket is spoken to with socat, else python3.
set -eu

HAPROXY=${HAPROXY:-haproxy}
BALANCE=${BALANCE:-roundrobin}
CHECK_INTER=${CHECK_INTER:-200}
HAPROXY_MAXCONN=${HAPROXY_MAXCONN:-4096}

# server_lines PORT...: a backend's "server rK 127.0.0.1:PORT check" lines,
# replica k (from 1) named rK in both backends.
server_lines() {
    k=1
    for b in "$@"; do
        echo "    server r$k 127.0.0.1:$b check"
        k=$((k + 1))
    done
}

usage() {
    sed -n '5,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# A TCP port nothing listens on (racy, like any such pick: start retries).
free_port() {
    while :; do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
        if ! ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return
        fi
    done
}

admin() { # DIR COMMAND
    if command -v socat >/dev/null 2>&1; then
        printf '%s\n' "$2" | socat stdio "unix-connect:$1/admin.sock"
    else
        python3 - "$1/admin.sock" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
EOF
    fi
}

write_cfg() { # DIR PORT BACKEND_PORT...
    dir=$1 port=$2
    shift 2
    {
        echo "# Written by scripts/haproxy_front.sh: reco serve replicas behind one port."
        echo "global"
        echo "    maxconn $HAPROXY_MAXCONN"
        [ -z "${HAPROXY_THREADS:-}" ] || echo "    nbthread $HAPROXY_THREADS"
        echo "    stats socket $dir/admin.sock mode 600 level admin"
        echo "    stats timeout 10s"
        echo
        echo "defaults"
        echo "    mode http"
        echo "    timeout connect 1s"
        echo "    timeout client 30s"
        echo "    timeout server 30s"
        echo "    timeout http-request 10s"
        echo "    timeout http-keep-alive 10s"
        echo "    timeout queue 5s"
        echo "    timeout check 1s"
        echo "    option redispatch"
        echo "    retries 2"
        echo "    http-reuse always"
        echo "    default-server inter ${CHECK_INTER}ms fastinter ${CHECK_INTER}ms downinter ${CHECK_INTER}ms fall 2 rise 2"
        echo
        echo "frontend reco"
        echo "    bind 127.0.0.1:$port"
        echo "    acl read method GET HEAD"
        echo "    use_backend reads if read"
        echo "    default_backend writes"
        echo
        echo "backend reads"
        echo "    balance $BALANCE"
        echo "    option httpchk"
        echo "    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost"
        echo "    # 503 is \"degraded\": this replica cannot take writes, reads still work."
        echo "    http-check expect rstatus ^(200|503)\$"
        echo "    retry-on conn-failure empty-response response-timeout"
        server_lines "$@"
        echo
        echo "backend writes"
        echo "    balance $BALANCE"
        echo "    option httpchk"
        echo "    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost"
        echo "    http-check expect status 200"
        server_lines "$@"
    } >"$dir/haproxy.cfg"
}

do_stop() { # DIR
    [ -s "$1/haproxy.pid" ] || return 0
    for pid in $(cat "$1/haproxy.pid"); do
        kill "$pid" 2>/dev/null || true
    done
    i=0
    for pid in $(cat "$1/haproxy.pid"); do
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    done
    rm -f "$1/haproxy.pid"
}

do_start() { # DIR PORT BACKEND_PORT...
    [ $# -ge 3 ] || usage
    dir=$1 want=$2
    shift 2
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    command -v "$HAPROXY" >/dev/null 2>&1 || { echo "haproxy_front: $HAPROXY not found" >&2; return 1; }
    do_stop "$dir"
    tries=0
    while :; do
        port=$want
        [ "$port" != 0 ] || port=$(free_port)
        write_cfg "$dir" "$port" "$@"
        if "$HAPROXY" -q -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" 2>"$dir/haproxy.err"; then
            break
        fi
        tries=$((tries + 1))
        if [ "$want" != 0 ] || [ "$tries" -ge 5 ]; then
            echo "haproxy_front: haproxy did not start:" >&2
            cat "$dir/haproxy.err" >&2
            return 1
        fi
    done
    # Answering: /healthz through the balancer once a replica passes its check.
    i=0
    while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" != 200 ]; do
        i=$((i + 1))
        if [ "$i" -ge 100 ]; then
            echo "haproxy_front: no replica passed its health check within 10 s:" >&2
            admin "$dir" "show servers state" >&2 || true
            do_stop "$dir"
            return 1
        fi
        sleep 0.1
    done
    echo "$port" >"$dir/port"
    echo "$port"
}

# "backend server status" for every server (status: UP, DOWN, DRAIN, MAINT, ...).
do_state() {
    admin "$1" "show stat" | awk -F, '$2 != "FRONTEND" && $2 != "BACKEND" && $1 !~ /^#/ && NF > 18 { print $1, $2, $18 }'
}

do_set() { # DIR SERVER STATE
    for be in reads writes; do
        out=$(admin "$1" "set server $be/$2 state $3")
        [ -z "$(printf '%s' "$out" | tr -d '\n ')" ] || { echo "haproxy_front: $out" >&2; return 1; }
    done
}

do_wait() { # DIR SERVER UP|DOWN [SECONDS]
    limit=$(( ${4:-10} * 10 ))
    i=0
    while :; do
        n=$(do_state "$1" | awk -v s="$2" -v w="$3" '$2 == s { n++; if (w == "UP" ? $3 !~ /^(UP|DRAIN)/ : $3 !~ /^(DOWN|MAINT)/) bad++ } END { print ((n > 0 && !bad) ? "ok" : "no") }')
        [ "$n" = ok ] && return 0
        i=$((i + 1))
        if [ "$i" -ge "$limit" ]; then
            echo "haproxy_front: $2 is not $3 after ${4:-10} s:" >&2
            do_state "$1" >&2
            return 1
        fi
        sleep 0.1
    done
}

do_rolling_reload() { # DIR [TOKEN_FILE]
    dir=$1
    auth=
    [ -z "${2:-}" ] || auth="Authorization: Bearer $(head -n 1 "$2")"
    for srv in $(awk '$1 == "backend" && $2 == "writes" { w = 1 } w && $1 == "server" { print $2 "=" $3 }' "$dir/haproxy.cfg"); do
        name=${srv%%=*} addr=${srv#*=}
        do_set "$dir" "$name" drain
        code=$(curl -s -o "$dir/reload.out" -w '%{http_code}' -X POST \
            -H "Content-Type: application/json" ${auth:+-H "$auth"} "http://$addr/v1/admin/reload")
        if [ "$code" != 200 ]; then
            echo "haproxy_front: reload of $name ($addr) answered $code: $(cat "$dir/reload.out"); it stays drained" >&2
            return 1
        fi
        do_set "$dir" "$name" ready
        do_wait "$dir" "$name" UP 10
        echo "$name reloaded"
    done
}

[ $# -ge 2 ] || usage
action=$1
shift
case $action in
start) do_start "$@" ;;
stop) do_stop "$1" ;;
cmd) [ $# -eq 2 ] || usage; admin "$1" "$2" ;;
state) do_state "$1" ;;
drain) [ $# -eq 2 ] || usage; do_set "$1" "$2" drain ;;
ready) [ $# -eq 2 ] || usage; do_set "$1" "$2" ready ;;
wait) [ $# -ge 3 ] || usage; do_wait "$@" ;;
rolling-reload) do_rolling_reload "$@" ;;
*) usage ;;
esac
