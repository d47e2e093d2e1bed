#!/bin/sh
# Run by the postgres image once, when its data volume is first initialised (/docker-entrypoint-initdb.d,
# docker-compose.yaml): the policy server's database and the sweep studies' database beside Dagster's
# (POSTGRES_DB), owned by the same role. A volume initialised without them needs them made by hand:
#   docker compose exec daf_postgres createdb -U "$DAGSTER_PG_USER" daf_server
set -e
for db in "${DAF_SERVER_DB:?}" "${DAF_SWEEP_DB:?}"; do
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" --set db="${db}" <<'SQL'
CREATE DATABASE :"db";
SQL
done
