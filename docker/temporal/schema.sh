#!/bin/sh
# Creates Temporal's two databases on PostgreSQL and brings their schema to this server release's version,
# with the SQL tool's embedded schema files. Idempotent: a database or schema that exists is kept and updated.
set -eu
: "${POSTGRES_HOST:=postgresql}"
: "${POSTGRES_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${SQL_TOOL:=temporal-sql-tool}"
sql() {
  "${SQL_TOOL}" --plugin postgres12 --ep "${POSTGRES_HOST}" -p "${POSTGRES_PORT}" -u "${POSTGRES_USER}" --pw "${POSTGRES_PASSWORD}" "$@"
}
for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
  db=${pair%%:*}
  schema=${pair#*:}
  sql --db "$db" create-database 2>/dev/null || echo "database $db exists"
  # setup-schema refuses a database that has a schema already: then only the update runs.
  sql --db "$db" setup-schema -v 0.0 2>/dev/null || echo "schema of $db exists"
  sql --db "$db" update-schema --schema-name "$schema"
done
echo "Temporal schema ready"
