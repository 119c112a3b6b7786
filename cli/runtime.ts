/** Building blocks the `baton` commands assemble: connections, workers, the API, and a clean shutdown. */
import { createServer, type AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createServer as createHttpServer } from 'node:http';
import { getSdkMetricsUrl, renderMetrics, setSdkMetricsUrl } from '../activities/metrics';
import { WORKER_HEARTBEAT_INTERVAL_MS } from '../workflows/fleet';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { loadAgentsFile, type AgentConfig } from '../activities/agents/config';
import type { Membership } from '../activities/fleet/membership';
import { buildApp } from '../api/app';
import { isLoopbackHost } from '../api/auth';
import { createAgentWorkers } from '../worker/agent-worker';
import { createDependencyWorker } from '../worker/dependency-worker';
import { createOrchestratorWorker } from '../worker/orchestrator-worker';
import { checkNamespace } from '../temporal/search-attributes';
import { whileStarting } from '../temporal/while-starting';
import type { Settings } from './settings';

export function say(line: string): void {
  process.stdout.write(`[baton] ${line}\n`);
}

/**
 * An agent's workers run activities only, and the SDK warns about that once per worker; a person can do
 * nothing about it, so it is not shown.
 */
const EXPECTED_SDK_WARNINGS = ['No workflows registered, not polling for workflow tasks'];

/**
 * Keeps the SDK's own log to warnings so `baton dev` prints what a person needs, and has the SDK serve its
 * worker metrics on a loopback port (`BATON_SDK_METRICS_ADDRESS`, default a free one), which the API's
 * `/metrics` appends to Baton's own.
 */
export async function installRuntime(): Promise<void> {
  const level = (process.env.BATON_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN';
  const print = new DefaultLogger(level);
  const bindAddress = process.env.BATON_SDK_METRICS_ADDRESS || `127.0.0.1:${await freeLoopbackPort()}`;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      if (!EXPECTED_SDK_WARNINGS.includes(entry.message)) print.log(entry.level, entry.message, entry.meta);
    }),
    telemetryOptions: { metrics: { prometheus: { bindAddress, useSecondsForDurations: true } } },
    // Each worker tells the server it is alive every second (ListWorkers): the fleet routes and fails over on it.
    workerHeartbeatInterval: WORKER_HEARTBEAT_INTERVAL_MS,
  });
  setSdkMetricsUrl(`http://${bindAddress}/metrics`);
}

/**
 * `BATON_METRICS_PORT` on a process without the API (`baton worker`, `baton agent`): serves this process's
 * metrics (Baton's own and the SDK's) at `http://<BATON_METRICS_HOST or 127.0.0.1>:<port>/metrics`.
 */
export async function serveProcessMetrics(env: NodeJS.ProcessEnv = process.env): Promise<{ close(): void } | null> {
  const port = env.BATON_METRICS_PORT ? Number(env.BATON_METRICS_PORT) : null;
  if (port === null) return null;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`BATON_METRICS_PORT=${env.BATON_METRICS_PORT}: expected a port number`);
  const host = env.BATON_METRICS_HOST || '127.0.0.1';
  const server = createHttpServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    void (async () => {
      let text = renderMetrics();
      const sdk = getSdkMetricsUrl();
      if (sdk) text += `\n${(await fetch(sdk).then((r) => r.text()).catch(() => '')).trimEnd()}`;
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(`${text}\n`);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  say(`metrics on http://${host}:${port}/metrics`);
  return { close: () => server.close() };
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Connections {
  native: NativeConnection;
  client: Client;
  close(): Promise<void>;
}

export async function connect(settings: Settings, address?: string): Promise<Connections> {
  const options = { ...settings.connectionOptions, ...(address ? { address } : {}) };
  const native = await whileStarting(() => NativeConnection.connect(options));
  const connection = await whileStarting(() => Connection.connect(options));
  const client = new Client({ connection, namespace: settings.namespace });
  return {
    native,
    client,
    async close() {
      await connection.close();
      await native.close();
    },
  };
}

/**
 * On a server Baton did not start: the namespace must exist, and Baton's search attributes are registered
 * where missing (without them every start and list of a task fails). `baton setup` does the same, and can
 * create the namespace.
 */
export async function checkServer(settings: Settings, connections: Connections): Promise<void> {
  await checkNamespace(connections.client.connection, settings.namespace, say);
}

export function loadAgents(file: string): AgentConfig[] {
  return loadAgentsFile(file).agents;
}

/** The workers a process runs, and the fleet memberships of its agents (left after the workers stop). */
export interface Deployment {
  workers: Worker[];
  memberships: Membership[];
}

/**
 * Runs workers until one fails or `stop()` is called; `stop()` then takes the agents out of the fleet. A
 * process with only claim agents runs no worker and holds their memberships until stopped.
 */
export function runWorkers(deployment: Deployment) {
  const { workers, memberships } = deployment;
  const running = workers.map((worker) => worker.run());
  let stopped!: () => void;
  const untilStopped = new Promise<void>((resolve) => (stopped = resolve));
  return {
    done: running.length > 0 ? Promise.all(running).then(() => undefined) : untilStopped,
    async stop() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(running);
      await Promise.all(memberships.map((membership) => membership.leave()));
      stopped();
    },
  };
}

export async function createWorkers(
  settings: Settings,
  connections: Connections,
  agents: AgentConfig[],
  parts: { orchestrator: boolean; agentNames: string[] },
): Promise<Deployment> {
  const common = { connection: connections.native, namespace: settings.namespace, taskQueue: settings.taskQueue };
  const workers: Worker[] = [];
  const memberships: Membership[] = [];
  if (parts.orchestrator) {
    workers.push(
      ...(await Promise.all([
        createOrchestratorWorker({ ...common, client: connections.client, agents, webhookUrl: settings.webhookUrl }),
        // The dependency waits of the orchestrator's tasks (spec.dependsOn) run beside it.
        createDependencyWorker({ ...common, client: connections.client }),
      ])),
    );
  }
  const chosen = parts.agentNames.map((name) => {
    const agent = agents.find((candidate) => candidate.name === name);
    if (!agent) throw new Error(`no agent named "${name}" (known: ${agents.map((a) => a.name).join(', ')})`);
    return agent;
  });
  // Created side by side: each joins its record in Temporal (one round trip) and builds its workers.
  const created = await Promise.all(chosen.map((agent) => createAgentWorkers({ ...common, client: connections.client, agent, home: settings.home })));
  for (const each of created) {
    workers.push(...each.workers);
    memberships.push(each.membership);
  }
  return { workers, memberships };
}

export async function startApi(settings: Settings, connections: Connections, uiUrl: string | undefined) {
  if (!settings.auth && !isLoopbackHost(settings.apiHost)) {
    throw new Error(
      `BATON_API_HOST=${settings.apiHost} would open the API beyond this machine without auth: set BATON_API_TOKENS ` +
        '(name:role:token,...) or BATON_AUTH_FILE first, or bind to 127.0.0.1',
    );
  }
  const app = await buildApp({
    auth: settings.auth,
    client: connections.client,
    taskQueue: settings.taskQueue,
    defaults: settings.defaults,
    uiUrl,
    logger: { level: 'warn' },
    onTaskStarted: ({ taskId, ui }) => say(`task ${taskId} started${ui ? `: ${ui}` : ''}`),
  });
  await app.listen({ port: settings.apiPort, host: settings.apiHost });
  return app;
}

/** Calls `stop` once on SIGINT or SIGTERM; a second signal exits at once. */
export function onShutdownSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      say('second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`[baton] shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
