/**
 * `baton dev`: the whole stack on one machine — an embedded Temporal dev server with its Web UI (unless
 * TEMPORAL_ADDRESS points at a cluster), the orchestrator worker, one worker per agent, and the API.
 */
import { resolve } from 'node:path';
import type { DevServer } from '../temporal/dev-server';
import {
  checkServer,
  connect,
  createWorkers,
  installRuntime,
  loadAgents,
  onShutdownSignal,
  runWorkers,
  say,
  startApi,
} from './runtime';
import type { Settings } from './settings';

export interface DevOptions {
  agentsFile: string;
  temporalPort: number;
  uiPort: number;
  dbFile?: string;
}

export const DEMO_AGENTS_FILE = resolve(__dirname, '..', 'agents', 'agents.yaml');

/**
 * Runs the stack. `embedded` is the dev server already starting (cli/embedded-server.ts), or undefined when
 * `TEMPORAL_ADDRESS` points at a server of its own.
 */
export async function dev(settings: Settings, options: DevOptions, embedded: Promise<DevServer> | undefined): Promise<void> {
  await installRuntime();
  const agents = loadAgents(options.agentsFile);
  const server = embedded ? await embedded : undefined;
  const uiUrl = server ? (server.uiUrl ?? undefined) : settings.uiUrl;
  const connections = await connect(settings, server?.address);
  if (!server) await checkServer(settings, connections);
  const [workers, app] = await Promise.all([
    createWorkers(settings, connections, agents, { orchestrator: true, agentNames: agents.map((agent) => agent.name) }),
    startApi(settings, connections, uiUrl),
  ]);
  const running = runWorkers(workers);

  const apiUrl = `http://${settings.apiHost}:${settings.apiPort}`;
  say(`Temporal:  ${server?.address ?? settings.temporalAddress} (namespace ${settings.namespace}, task queue ${settings.taskQueue})`);
  if (uiUrl) say(`Web UI:    ${uiUrl}/namespaces/${settings.namespace}/workflows`);
  say(`API:       ${apiUrl}`);
  say(`API docs:  ${apiUrl}/docs`);
  say(`agents:    ${agents.map((agent) => `${agent.name} [${agent.roles.join(', ')}]`).join(', ')}`);
  say(`try:       curl -s -X POST ${apiUrl}/tasks -H 'content-type: application/json' -d '{"title":"Add rate limiting to login"}'`);
  say('ready (Ctrl-C stops everything)');

  const stop = async (reason: string) => {
    say(`stopping (${reason})`);
    await app.close();
    await running.stop();
    await connections.close();
    if (server) await server.stop();
    say('stopped');
  };
  onShutdownSignal(stop);
  await running.done.catch(async (error: unknown) => {
    process.stderr.write(`[baton] a worker failed: ${String(error)}\n`);
    await stop('worker failure');
    process.exit(1);
  });
}

