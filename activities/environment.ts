/** What of the worker's own environment the programs it runs (agents, gates) may see. */

/**
 * The environment without Temporal's client settings (`TEMPORAL_ADDRESS`, `TEMPORAL_API_KEY`,
 * `TEMPORAL_TLS_CLIENT_KEY_DATA`, `TEMPORAL_GRPC_META_*`, a profile...): agents and gates never talk to
 * Temporal, and a key for a secured cluster must not reach the code an agent writes or runs.
 */
export function withoutTemporalSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.toUpperCase().startsWith('TEMPORAL_')));
}
