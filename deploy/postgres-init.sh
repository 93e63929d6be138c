#!/bin/sh
# Runs once, when the compose database is first created (docker-entrypoint-initdb.d).
#   alliance_owner  owns the database and its schema; runs migrations
#   alliance_app    serves requests; the migration grants it data access, never ownership
#   alliance_system the audited system context (login lookups, platform work, the worker's
#                   claims): row-level security grants it every clinic's rows, by role
set -eu
psql -v ON_ERROR_STOP=1 -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" \
    -v system_password="$SYSTEM_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE alliance_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE alliance_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD :'app_password';
CREATE ROLE alliance_system LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD :'system_password';
ALTER DATABASE :"DBNAME" OWNER TO alliance_owner;
SQL
