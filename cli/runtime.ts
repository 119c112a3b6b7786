/** Building blocks the `baton` commands assemble: connections, workers, the API, and a clean shutdown. */
import { Client, Connection } from '@temporalio/client';
import { WORKER_HEARTBEAT_INTERVAL_MS } from '../workflows/fleet';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { loadAgentsFile, type AgentConfig } from '../activities/agents/config';
import { buildApp } from '../api/app';
import { createAgentWorkers } from '../worker/agent-worker';
import { createOrchestratorWorker } from '../worker/orchestrator-worker';
import type { Settings } from './settings';

export function say(line: string): void {
  process.stdout.write(`[baton] ${line}\n`);
}

/**
 * An agent's workers run activities only, and the SDK warns about that once per worker; a person can do
 * nothing about it, so it is not shown.
 */
const EXPECTED_SDK_WARNINGS = ['No workflows registered, not polling for workflow tasks'];

/** Keeps the SDK's own log to warnings so `baton dev` prints what a person needs. */
export function installRuntime(): void {
  const level = (process.env.BATON_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN';
  const print = new DefaultLogger(level);
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      if (!EXPECTED_SDK_WARNINGS.includes(entry.message)) print.log(entry.level, entry.message, entry.meta);
    }),
    // Each worker tells the server it is alive every second (ListWorkers): the fleet routes and fails over on it.
    workerHeartbeatInterval: WORKER_HEARTBEAT_INTERVAL_MS,
  });
}

export interface Connections {
  native: NativeConnection;
  client: Client;
  close(): Promise<void>;
}

export async function connect(settings: Settings, address?: string): Promise<Connections> {
  const options = { ...settings.connectionOptions, ...(address ? { address } : {}) };
  const native = await NativeConnection.connect(options);
  const connection = await Connection.connect(options);
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

export function loadAgents(file: string): AgentConfig[] {
  return loadAgentsFile(file).agents;
}

/** Runs workers until one fails or `stop()` is called. */
export function runWorkers(workers: Worker[]) {
  const running = workers.map((worker) => worker.run());
  return {
    done: Promise.all(running).then(() => undefined),
    async stop() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(running);
    },
  };
}

export async function createWorkers(
  settings: Settings,
  connections: Connections,
  agents: AgentConfig[],
  parts: { orchestrator: boolean; agentNames: string[] },
): Promise<Worker[]> {
  const common = { connection: connections.native, namespace: settings.namespace, taskQueue: settings.taskQueue };
  const workers: Worker[] = [];
  if (parts.orchestrator) {
    workers.push(await createOrchestratorWorker({ ...common, agents, webhookUrl: settings.webhookUrl }));
  }
  for (const name of parts.agentNames) {
    const agent = agents.find((candidate) => candidate.name === name);
    if (!agent) throw new Error(`no agent named "${name}" (known: ${agents.map((a) => a.name).join(', ')})`);
    workers.push(...(await createAgentWorkers({ ...common, client: connections.client, agent, home: settings.home })));
  }
  return workers;
}

export async function startApi(settings: Settings, connections: Connections, uiUrl: string | undefined) {
  const app = await buildApp({
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
