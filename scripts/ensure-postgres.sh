#!/usr/bin/env bash
# Make sure the local PostgreSQL answers on 127.0.0.1:5432 (start the cluster if it is down) and
# that the three roles the test suite uses exist with the right attributes:
#   alliance_owner  LOGIN CREATEDB                                  owns the schema, migrates
#   alliance_app    LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB        serves requests under RLS
#   alliance_system LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB        the audited system context:
#                   every policy grants it all rows (service/db/rls.py)
# Idempotent; needs trust auth for the postgres superuser (or root, to `su postgres`).
set -euo pipefail

PGHOST_ADDR=${ALLIANCE_TEST_PG_ADDR:-127.0.0.1}
PGPORT_NUM=${ALLIANCE_TEST_PG_PORT:-5432}
OWNER_ROLE=${ALLIANCE_TEST_PG_OWNER:-alliance_owner}
APP_ROLE=${ALLIANCE_DB_APP_ROLE:-alliance_app}
SYSTEM_ROLE=alliance_system

ready() { pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -t 2; }

if ! ready; then
    echo "PostgreSQL is not answering on $PGHOST_ADDR:$PGPORT_NUM; starting the local cluster" >&2
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    fi
    for _ in $(seq 60); do
        ready && break
        sleep 1
    done
    if ! ready; then
        echo "PostgreSQL is still not reachable on $PGHOST_ADDR:$PGPORT_NUM" >&2
        exit 1
    fi
fi

superuser_psql() {
    if psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -Atqc 'SELECT 1' \
        >/dev/null 2>&1; then
        psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres "$@"
    else
        # Peer authentication over the local socket as the postgres OS user.
        su postgres -c "psql -p $PGPORT_NUM -d postgres $(printf '%q ' "$@")"
    fi
}

superuser_psql -X -q -v ON_ERROR_STOP=1 -v owner="$OWNER_ROLE" -v app="$APP_ROLE" \
    -v system="$SYSTEM_ROLE" <<'SQL'
SELECT format('CREATE ROLE %I', :'owner')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('CREATE ROLE %I', :'system')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'system') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB', :'owner') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB', :'app') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB', :'system') \gexec
SQL
