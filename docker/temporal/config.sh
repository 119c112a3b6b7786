#!/bin/sh
# Prints the Temporal server's configuration (PostgreSQL 12+ for persistence and visibility) from the
# environment. The one template for both the compose stack (docker-compose.temporal.yml, through
# entrypoint.sh) and the cluster the tests run (tests/helpers/cluster.ts), so the tests prove what compose runs.
set -eu
: "${POSTGRES_HOST:=postgresql}"
: "${POSTGRES_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${NUM_HISTORY_SHARDS:=8}"
: "${BIND_ON_IP:=0.0.0.0}"
: "${BROADCAST_ADDRESS:=$(hostname -i 2>/dev/null | awk '{print $1}')}"
: "${FRONTEND_GRPC_PORT:=7233}"
: "${FRONTEND_HTTP_PORT:=7243}"
: "${FRONTEND_MEMBERSHIP_PORT:=6933}"
: "${HISTORY_GRPC_PORT:=7234}"
: "${HISTORY_MEMBERSHIP_PORT:=6934}"
: "${MATCHING_GRPC_PORT:=7235}"
: "${MATCHING_MEMBERSHIP_PORT:=6935}"
: "${WORKER_GRPC_PORT:=7239}"
: "${WORKER_MEMBERSHIP_PORT:=6939}"
: "${METRICS_PORT:=8000}"
: "${SEED_FRONTEND:=${BROADCAST_ADDRESS}:${FRONTEND_GRPC_PORT}}"
: "${DYNAMIC_CONFIG_FILE:=/etc/temporal/dynamicconfig.yaml}"
: "${LOG_LEVEL:=warn}"

store() {
  cat <<YAML
      sql:
        pluginName: "postgres12"
        databaseName: "$1"
        connectAddr: "${POSTGRES_HOST}:${POSTGRES_PORT}"
        connectProtocol: "tcp"
        user: "${POSTGRES_USER}"
        password: "${POSTGRES_PASSWORD}"
        maxConns: $2
        maxIdleConns: $2
        maxConnLifetime: "1h"
YAML
}

service() {
  cat <<YAML
    rpc:
      grpcPort: $1
      membershipPort: $2
      bindOnIP: "${BIND_ON_IP}"
YAML
  if [ -n "${3:-}" ]; then echo "      httpPort: $3"; fi
}

cat <<YAML
log:
  stdout: true
  level: ${LOG_LEVEL}
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${NUM_HISTORY_SHARDS}
  datastores:
    postgres-default:
$(store temporal 20)
    postgres-visibility:
$(store temporal_visibility 5)
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "${BROADCAST_ADDRESS}"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "${BIND_ON_IP}:${METRICS_PORT}"
services:
  frontend:
$(service "${FRONTEND_GRPC_PORT}" "${FRONTEND_MEMBERSHIP_PORT}" "${FRONTEND_HTTP_PORT}")
  history:
$(service "${HISTORY_GRPC_PORT}" "${HISTORY_MEMBERSHIP_PORT}")
  matching:
$(service "${MATCHING_GRPC_PORT}" "${MATCHING_MEMBERSHIP_PORT}")
  worker:
$(service "${WORKER_GRPC_PORT}" "${WORKER_MEMBERSHIP_PORT}")
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "${SEED_FRONTEND}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "${DYNAMIC_CONFIG_FILE}"
  pollInterval: "10s"
YAML
