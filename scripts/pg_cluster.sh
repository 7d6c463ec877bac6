# A throwaway PostgreSQL cluster for tests and benchmarks (sourced, POSIX sh).
#
#   . scripts/pg_cluster.sh
#   pg_find_bin || exit 77              # no initdb/pg_ctl/psql: skip
#   trap 'pg_cluster_stop' EXIT         # (plus whatever else the script removes)
#   pg_cluster_start || exit 1
#   pg_psql -c 'CREATE TABLE ...'
#
# pg_find_bin looks for initdb, pg_ctl and psql together: beside the initdb
# on PATH (symlinks followed), else in the newest /usr/lib/postgresql/*/bin.
# pg_cluster_start runs initdb into a fresh temporary directory, then
# pg_ctl start on a random free port on 127.0.0.1 with the unix socket in
# that directory, and creates the database "shop". The server refuses to
# run as root, so as root (CI) the cluster belongs to the unprivileged
# user "nobody" (runuser). Authentication: trust on the socket,
# scram-sha-256 over TCP with user reco and password $PG_PASSWORD. It
# exports PGHOST (the socket directory), PGPORT, PGUSER and PGDATABASE, so
# that `postgresql:///shop?table=t` and psql reach it, and sets PG_DIR,
# PG_PORT. PG_SERVER_OPTS adds server settings (-c name=value ...).
# pg_cluster_stop stops the server at once and removes the directory.
# pg_cluster_pause stops the server (a database that goes away) and keeps
# its data; pg_cluster_resume starts it again on the same port.

PG_PASSWORD=${PG_PASSWORD:-reco-test-pw}
PG_BIN=""
PG_DIR=""
PG_PORT=""
PG_AS=""

pg_find_bin() {
    dirs=""
    if command -v initdb >/dev/null 2>&1; then
        dirs=$(dirname "$(readlink -f "$(command -v initdb)")")
    fi
    dirs="$dirs $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)"
    for d in $dirs; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            PG_BIN=$d
            return 0
        fi
    done
    return 1
}

pg_cluster_start() {
    [ -n "$PG_BIN" ] || pg_find_bin || { echo "pg_cluster: no initdb/pg_ctl/psql" >&2; return 1; }
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/reco-pg.XXXXXX") || return 1
    chmod 755 "$PG_DIR"
    PG_AS=""
    if [ "$(id -u)" -eq 0 ]; then
        chown nobody "$PG_DIR" || return 1
        PG_AS="runuser -u nobody --"
    fi
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
    [ -z "$PG_AS" ] || chown nobody "$PG_DIR/pwfile"
    if ! $PG_AS "$PG_BIN/initdb" -D "$PG_DIR/data" -U reco --pwfile="$PG_DIR/pwfile" \
        -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 \
        >"$PG_DIR/initdb.log" 2>&1; then
        echo "pg_cluster: initdb failed:" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    fi
    tries=0
    while [ $tries -lt 8 ]; do
        tries=$((tries + 1))
        PG_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
        if pg_cluster_resume; then
            export PGHOST="$PG_DIR" PGPORT="$PG_PORT" PGUSER=reco PGDATABASE=postgres
            "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE shop' || return 1
            export PGDATABASE=shop
            return 0
        fi
        grep -q "already in use" "$PG_DIR/server.log" 2>/dev/null || break
    done
    echo "pg_cluster: the server did not start:" >&2
    cat "$PG_DIR/server.log" >&2
    return 1
}

pg_cluster_resume() {
    $PG_AS "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off ${PG_SERVER_OPTS:-}" \
        start >/dev/null 2>&1
}

pg_cluster_pause() {
    $PG_AS "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
}

# psql on the cluster's database, stopping at the first error, quiet.
pg_psql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_cluster_stop() {
    [ -n "$PG_DIR" ] || return 0
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        $PG_AS "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}
