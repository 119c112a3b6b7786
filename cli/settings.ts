/** Deployment settings from the environment (the contract's names), shared by every `baton` command. */
import { resolve } from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { loadApiTokens, type ApiTokens } from '../api/auth';
import { DEFAULT_TASK_QUEUE } from '../workflows/task-queues';
import { DEFAULT_POLICY, DurationSchema, durationMs, type PolicyDefaults } from '../workflows/spec';

export interface Settings {
  /** Set when `TEMPORAL_ADDRESS` (or a Temporal config profile) points at an existing cluster. */
  temporalAddress: string | undefined;
  connectionOptions: NativeConnectionOptions;
  namespace: string;
  taskQueue: string;
  apiPort: number;
  apiHost: string;
  home: string;
  webhookUrl: string | undefined;
  uiUrl: string | undefined;
  defaults: PolicyDefaults;
  /** API tokens with roles (`BATON_API_TOKENS`, `BATON_AUTH_FILE`); null: auth off (loopback only). */
  auth: ApiTokens | null;
}

function durationFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parsed = DurationSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${name}=${raw}: expected a duration such as "2h", "10 minutes" or "5s"`);
  return durationMs(parsed.data);
}

function integerFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return value;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  // Temporal's own env vars and config profile: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS.
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
  });
  return {
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    connectionOptions,
    namespace: namespace ?? 'default',
    taskQueue: env.BATON_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    apiPort: integerFromEnv(env, 'BATON_API_PORT', 3000),
    apiHost: env.BATON_API_HOST || '127.0.0.1',
    home: resolve(env.BATON_HOME || '.baton'),
    webhookUrl: env.BATON_WEBHOOK_URL || undefined,
    uiUrl: env.TEMPORAL_UI_URL || undefined,
    auth: loadApiTokens(env),
    defaults: {
      stallTimeoutMs: durationFromEnv(env, 'BATON_STALL_TIMEOUT', DEFAULT_POLICY.stallTimeoutMs),
      idleTimeoutMs: durationFromEnv(env, 'BATON_IDLE_TIMEOUT', DEFAULT_POLICY.idleTimeoutMs),
      reescalateAfterMs: durationFromEnv(env, 'BATON_REESCALATE_AFTER', DEFAULT_POLICY.reescalateAfterMs),
      maxReviewRounds: integerFromEnv(env, 'BATON_MAX_REVIEW_ROUNDS', DEFAULT_POLICY.maxReviewRounds),
      maxAttempts: integerFromEnv(env, 'BATON_MAX_ATTEMPTS', DEFAULT_POLICY.maxAttempts),
    },
  };
}
