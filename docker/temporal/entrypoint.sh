#!/bin/sh
# The Temporal server container: `schema` prepares PostgreSQL, `server` (the default) renders the
# configuration from the environment (config.sh) and starts all four services.
set -eu
case "${1:-server}" in
  schema) exec /etc/temporal/schema.sh ;;
  server)
    /etc/temporal/config.sh > /etc/temporal/config.yaml
    exec temporal-server --config-file /etc/temporal/config.yaml --allow-no-auth start ;;
  *) exec "$@" ;;
esac
