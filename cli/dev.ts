/**
 * `baton dev`: the whole stack on one machine — an embedded Temporal dev server with its Web UI (unless
 * TEMPORAL_ADDRESS points at a cluster), the orchestrator worker, one worker per agent, and the API.
 */
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { startDevServer, type DevServer } from '../temporal/dev-server';
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

export async function dev(settings: Settings, options: DevOptions): Promise<void> {
  await installRuntime();
  const agents = loadAgents(options.agentsFile);
  let server: DevServer | undefined;
  let uiUrl = settings.uiUrl;
  if (!settings.temporalAddress) {
    const dbFile = resolve(options.dbFile ?? join(settings.home, 'temporal.db'));
    // A server left by a `baton dev` that was killed ends with it (temporal/lifeline.sh) within seconds; a port
    // still taken after that is someone else's, and a clear error beats talking to a stranger's server.
    for (const [name, port] of [['--temporal-port', options.temporalPort], ['--ui-port', options.uiPort]] as const) {
      if (!(await portFreeWithin(port, 10_000))) {
        throw new Error(`port ${port} (${name}) is in use by another process: stop it, or pick another port with ${name}`);
      }
    }
    say(`starting the Temporal dev server (database ${dbFile})`);
    server = await startDevServer({ port: options.temporalPort, uiPort: options.uiPort, dbFile, log: say });
    uiUrl = server.uiUrl ?? undefined;
  }
  const connections = await connect(settings, server?.address);
  if (!server) await checkServer(settings, connections);
  const workers = await createWorkers(settings, connections, agents, {
    orchestrator: true,
    agentNames: agents.map((agent) => agent.name),
  });
  const running = runWorkers(workers);
  const app = await startApi(settings, connections, uiUrl);

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

/** Whether 127.0.0.1:`port` can be bound, waiting up to `withinMs` for it to be freed. */
async function portFreeWithin(port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free || Date.now() > deadline) return free;
    await new Promise((r) => setTimeout(r, 250));
  }
}
