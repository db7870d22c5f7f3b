#!/bin/sh
# The `ha` profile's database containers: `ha-node.sh monitor` or `ha-node.sh postgres`. The first data
# node to join becomes the primary; on it the application role `cim` (password CIM_DB_PASSWORD), its
# database and PostGIS are made, with password logins from the compose network.
set -eu
if [ "$1" = monitor ]; then
  exec pg_autoctl create monitor --pgdata "$PGDATA" --hostname "$(hostname)" --auth trust --no-ssl --run
fi
MONITOR="postgres://autoctl_node@pg-monitor:5432/pg_auto_failover?sslmode=disable"
pg_autoctl create postgres --pgdata "$PGDATA" --hostname "$(hostname)" --name "$(hostname)" --dbname cim \
  --monitor "$MONITOR" --auth trust --no-ssl --run &
keeper=$!
until pg_autoctl show state --pgdata "$PGDATA" >/dev/null 2>&1; do sleep 1; done
until [ "$(psql -tAc 'SELECT pg_is_in_recovery()' postgres 2>/dev/null)" = f ] \
   || [ "$(psql -tAc 'SELECT pg_is_in_recovery()' postgres 2>/dev/null)" = t ]; do sleep 1; done
if [ "$(psql -tAc 'SELECT pg_is_in_recovery()' postgres)" = f ] \
   && [ "$(psql -tAc "SELECT count(*) FROM pg_roles WHERE rolname = 'cim'" postgres)" = 0 ]; then
  psql -v ON_ERROR_STOP=1 -v pw="$CIM_DB_PASSWORD" postgres <<'SQL'
CREATE ROLE cim LOGIN NOSUPERUSER PASSWORD :'pw' IN ROLE pg_monitor;
ALTER DATABASE cim OWNER TO cim;
\c cim
CREATE EXTENSION IF NOT EXISTS postgis;
ALTER SCHEMA public OWNER TO cim;
SQL
  echo "host cim cim samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
  psql -tAc 'SELECT pg_reload_conf()' postgres
fi
wait "$keeper"
