#!/bin/bash
# First start of the PostgreSQL container only: a login role for darebot that is not a superuser. It owns
# the darebot database and its public schema (so migrations can create tables) and nothing else.
set -euo pipefail
: "${DAREBOT_DB_PASSWORD:?set DAREBOT_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v pw="$DAREBOT_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE darebot LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER DATABASE :"db" OWNER TO darebot;
ALTER SCHEMA public OWNER TO darebot;
SQL
