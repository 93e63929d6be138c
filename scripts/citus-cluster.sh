#!/usr/bin/env bash
# A throwaway Citus cluster on this machine for `make test-citus`: a coordinator and two workers,
# each its own initdb cluster (trust auth on 127.0.0.1 only, durability off: test data), with
# the roles scripts/ensure-postgres.sh creates. It never touches
# the machine's PostgreSQL on 5432. Each database the tests create gets the citus extension and
# the worker nodes itself (tests/database.py): Citus keeps its node list per database.
#   citus-cluster.sh start    init (first time) and start the three nodes; idempotent
#   citus-cluster.sh stop     stop them (the data directories stay for the next start)
#   citus-cluster.sh destroy  stop them and delete the data directories
# Settings: ALLIANCE_CITUS_DIR (default /tmp/alliance-citus), ALLIANCE_CITUS_PORTS (coordinator
# first; default "9700 9701 9702").
set -euo pipefail

BASE=${ALLIANCE_CITUS_DIR:-/tmp/alliance-citus}
read -r -a PORTS <<<"${ALLIANCE_CITUS_PORTS:-9700 9701 9702}"
PGBIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir 2>/dev/null || dirname "$(command -v initdb)")

# initdb and pg_ctl refuse to run as root: as root, run them as the postgres OS user.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

node_dir() { echo "$BASE/node-$1"; }

init_node() {
    local port=$1 dir
    dir=$(node_dir "$port")
    [ -f "$dir/PG_VERSION" ] && return
    as_postgres "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    cat >>"$dir/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$BASE'
shared_preload_libraries = 'citus'
max_connections = 300
max_prepared_transactions = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
citus.log_distributed_deadlock_detection = off
CONF
}

start_node() {
    local port=$1
    pg_isready -q -h 127.0.0.1 -p "$port" -t 1 && return
    as_postgres "$PGBIN/pg_ctl" -D "$(node_dir "$port")" -l "$BASE/node-$port.log" -w -t 60 \
        start >/dev/null || { tail -n 20 "$BASE/node-$port.log" >&2; return 1; }
}

create_roles() {  # the roles of scripts/ensure-postgres.sh, on each node
    ALLIANCE_TEST_PG_PORT=$1 "$(dirname "$0")/ensure-postgres.sh"
}

case "${1:-start}" in
start)
    [ -f "$("$PGBIN/pg_config" --pkglibdir)/citus.so" ] || {
        echo "Citus is not installed: run ../shared/citus/build-citus.sh (make test-citus does)" >&2
        exit 1
    }
    mkdir -p "$BASE"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$BASE"; fi
    for port in "${PORTS[@]}"; do init_node "$port"; done
    for port in "${PORTS[@]}"; do start_node "$port"; done
    for port in "${PORTS[@]}"; do create_roles "$port"; done
    echo "Citus cluster up: coordinator 127.0.0.1:${PORTS[0]}, workers ${PORTS[*]:1}"
    ;;
stop | destroy)
    for port in "${PORTS[@]}"; do
        if [ -f "$(node_dir "$port")/postmaster.pid" ]; then
            as_postgres "$PGBIN/pg_ctl" -D "$(node_dir "$port")" -m fast -w stop >/dev/null
        fi
    done
    if [ "$1" = destroy ]; then rm -rf "$BASE"; fi
    ;;
*)
    echo "usage: $0 start|stop|destroy" >&2
    exit 2
    ;;
esac
