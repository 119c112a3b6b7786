/**
 * Starts `temporal server start-dev` (file-backed SQLite, Baton's search attributes registered, Web UI
 * optional) with the CLI that `resolveTemporalCli` finds. `baton dev` and the test suite both use it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { BATON_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { resolveTemporalCli, type ResolveOptions } from './cli';

/**
 * The dev server's timer queue may fire a timer up to 1 s late (its default max time shift); escalation
 * clocks re-arm short timers, so tighten it to keep escalations within tens of milliseconds of their deadline.
 */
const PRECISE_TIMERS = 'history.timerProcessorMaxTimeShift="50ms"';
/**
 * What the fleet reads from the server: task-queue priorities (the new matcher, on one partition per queue so
 * the order is global), and worker heartbeats listed by ListWorkers (which workers are alive, their used slots).
 * A cluster needs the same dynamic config (see README, "Running against a cluster").
 */
export const FLEET_DYNAMIC_CONFIG = [
  'matching.useNewMatcher=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'frontend.WorkerHeartbeatsEnabled=true',
  'frontend.ListWorkersEnabled=true',
];

/**
 * The server runs under this wrapper (temporal/lifeline.sh): it ends the server once the process that started
 * it is gone, so a `baton dev` killed with SIGKILL leaves no dev server holding its ports and database.
 */
const LIFELINE = join(__dirname, 'lifeline.sh');

export interface DevServerOptions extends ResolveOptions {
  /** gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; the UI is off when omitted. */
  uiPort?: number;
  /** SQLite file; an in-memory database when omitted. */
  dbFile?: string;
  namespace?: string;
  ip?: string;
  /** Dynamic config values (`key=value`), e.g. a low continue-as-new threshold in a test. */
  dynamicConfig?: string[];
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  cliPath: string | null;
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const resolved = await resolveTemporalCli(options);
  // The SDK starts the server with this process's environment: the lifeline runs the real CLI from it.
  process.env.BATON_TEMPORAL_CLI = resolved.path;
  const executable: EphemeralServerExecutable = { type: 'existing-path', path: LIFELINE };
  if (options.dbFile) mkdirSync(dirname(options.dbFile), { recursive: true });
  const namespace = options.namespace ?? 'default';
  const ip = options.ip ?? '127.0.0.1';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable,
      ip,
      port: options.port,
      namespace,
      dbFilename: options.dbFile,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      searchAttributes: BATON_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'warn' },
      extraArgs: [PRECISE_TIMERS, ...FLEET_DYNAMIC_CONFIG, ...(options.dynamicConfig ?? [])].flatMap((value) => ['--dynamic-config-value', value]),
    },
  });
  return {
    address: env.address,
    namespace,
    uiUrl: options.uiPort !== undefined ? `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${options.uiPort}` : null,
    cliPath: resolved.path,
    env,
    stop: () => env.teardown(),
  };
}
