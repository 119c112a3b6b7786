/** The `baton` command line. */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * Each command loads its modules when it runs: `baton mcp`, started by an agent CLI for every stage, must not
 * wait for Temporal's native worker. require, not import(): bin/baton.js registers tsx for require only.
 */
const load = createRequire(__filename);

const USAGE = `usage:
  baton dev [--agents FILE] [--api-port 3000] [--temporal-port 7233] [--ui-port 8233] [--db FILE]
      the whole stack on one machine: Temporal dev server with Web UI, workers, API
  baton agent --agents FILE --name NAME    one agent's worker (any machine that reaches Temporal)
  baton worker [--agents FILE]             the orchestrator worker only
  baton api                                the REST API only
  baton setup [--create-namespace] [--retention-days 7]
      prepare a Temporal server Baton did not start (a cluster, Temporal Cloud): create the namespace if asked,
      register Baton's search attributes; idempotent
  baton kill --all [--by NAME] [--reason TEXT]
      kill switch: cancel every open task of this deployment (running agents are stopped)
  baton demo-repo [DIR]                    a throw-away repository for the walkthrough (default: a new temp dir)
  baton mcp                                Baton's MCP server on stdio: the agent tools (submit_result,
      report_progress, ask_human) for one stage; Baton's presets start it with BATON_STAGE, BATON_TASK_ID,
      BATON_RESULT_FILE and BATON_EVENTS_FILE
  baton mcp --tasks                        Baton's MCP server on stdio for people and orchestrating agents: the
      task tools (list_tasks, get_task, create_task, signal_task, claim_work, heartbeat_work, complete_work,
      fail_work), on the Temporal of TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / BATON_TASK_QUEUE; the API serves
      the same tools over streamable HTTP at /mcp

environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (and Temporal's TLS / API key variables),
  BATON_API_PORT, BATON_API_HOST, BATON_API_TOKENS, BATON_AUTH_FILE, BATON_TASK_QUEUE, BATON_HOME, BATON_WEBHOOK_URL,
  BATON_STALL_TIMEOUT, BATON_IDLE_TIMEOUT, BATON_REESCALATE_AFTER`;

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name} ${value}: expected a port number`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      agents: { type: 'string' },
      name: { type: 'string' },
      'api-port': { type: 'string' },
      'temporal-port': { type: 'string' },
      'ui-port': { type: 'string' },
      db: { type: 'string' },
      all: { type: 'boolean' },
      by: { type: 'string' },
      reason: { type: 'string' },
      tasks: { type: 'boolean' },
      'create-namespace': { type: 'boolean' },
      'retention-days': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: command === 'demo-repo',
  });
  if (!command || values.help || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === 'mcp' && values.tasks) {
    const { loadSettings } = load('./settings') as typeof import('./settings');
    const { serveTaskToolsOnStdio } = load('../mcp/task-tools') as typeof import('../mcp/task-tools');
    await serveTaskToolsOnStdio(loadSettings(process.env), (line) => process.stderr.write(`${line}\n`));
    return;
  }
  if (command === 'mcp') {
    const { runMcpCommand } = load('../mcp/server') as typeof import('../mcp/server');
    const exitCode = await runMcpCommand(process.env);
    if (exitCode !== undefined) process.exitCode = exitCode;
    return;
  }
  const env = { ...process.env };
  if (values['api-port']) env.BATON_API_PORT = String(port(values['api-port'], 'api-port', 3000));
  const { loadSettings } = load('./settings') as typeof import('./settings');
  const settings = loadSettings(env);
  const runtime = () => load('./runtime') as typeof import('./runtime');
  const agentsFile = () => values.agents ?? (load('./dev') as typeof import('./dev')).DEMO_AGENTS_FILE;

  switch (command) {
    case 'dev': {
      const options = {
        agentsFile: values.agents ?? join(__dirname, '..', 'agents', 'agents.yaml'),
        temporalPort: port(values['temporal-port'], 'temporal-port', 7233),
        uiPort: port(values['ui-port'], 'ui-port', 8233),
        dbFile: values.db,
      };
      // The embedded server starts first and comes up while the workers and the API load.
      let embedded: Promise<import('../temporal/dev-server').DevServer> | undefined;
      if (!settings.temporalAddress) {
        const { startEmbeddedServer } = load('./embedded-server') as typeof import('./embedded-server');
        embedded = startEmbeddedServer({ home: settings.home, ...options, log: (line) => process.stdout.write(`[baton] ${line}\n`) });
        // Awaited by dev(); a failure before then must not go unhandled.
        embedded.catch(() => undefined);
      }
      const { dev } = load('./dev') as typeof import('./dev');
      return dev(settings, options, embedded);
    }
    case 'agent':
    case 'worker': {
      if (command === 'agent' && (!values.agents || !values.name)) throw new Error('baton agent needs --agents FILE and --name NAME');
      const { checkServer, connect, createWorkers, installRuntime, loadAgents, onShutdownSignal, runWorkers, say, serveProcessMetrics } = runtime();
      await installRuntime();
      const agents = loadAgents(agentsFile());
      const connections = await connect(settings);
      if (command === 'worker') await checkServer(settings, connections);
      const workers = await createWorkers(settings, connections, agents, {
        orchestrator: command === 'worker',
        agentNames: command === 'agent' ? [values.name!] : [],
      });
      const running = runWorkers(workers);
      const metricsServer = await serveProcessMetrics();
      say(`${command === 'agent' ? `agent ${values.name}` : 'orchestrator worker'} polling ${settings.taskQueue} on ${settings.connectionOptions.address ?? 'localhost:7233'}`);
      onShutdownSignal(async () => {
        metricsServer?.close();
        await running.stop();
        await connections.close();
      });
      return running.done;
    }
    case 'api': {
      const { checkServer, connect, onShutdownSignal, say, startApi } = runtime();
      const connections = await connect(settings);
      await checkServer(settings, connections);
      const app = await startApi(settings, connections, settings.uiUrl);
      say(`API listening on http://${settings.apiHost}:${settings.apiPort} (docs at /docs)`);
      onShutdownSignal(async () => {
        await app.close();
        await connections.close();
      });
      return;
    }
    case 'setup': {
      const { connect, say } = runtime();
      const { prepareNamespace } = load('../temporal/search-attributes') as typeof import('../temporal/search-attributes');
      const days = values['retention-days'] === undefined ? undefined : Number(values['retention-days']);
      if (days !== undefined && !(Number.isInteger(days) && days >= 1)) throw new Error(`--retention-days ${values['retention-days']}: expected a whole number of days`);
      const connections = await connect(settings);
      try {
        const address = settings.connectionOptions.address ?? 'localhost:7233';
        const prepared = await prepareNamespace(connections.client.connection, settings.namespace, {
          createNamespace: values['create-namespace'],
          retentionDays: days,
          log: say,
        });
        say(
          `namespace ${settings.namespace} on ${address} is ready for Baton` +
            (prepared.namespaceCreated || prepared.added.length > 0 ? '' : ' (nothing to do: it already was)'),
        );
      } finally {
        await connections.close();
      }
      return;
    }
    case 'kill': {
      if (!values.all) throw new Error('baton kill needs --all (cancel a single task with its cancel signal)');
      const { connect, say } = runtime();
      const { TaskClient } = load('../api/task-client') as typeof import('../api/task-client');
      const connections = await connect(settings);
      try {
        const tasks = new TaskClient({ client: connections.client, taskQueue: settings.taskQueue });
        const by = values.by ?? process.env.USER ?? 'baton-cli';
        const result = await tasks.killAll({ by, reason: values.reason ?? 'kill switch' });
        say(`cancelled ${result.cancelled} of ${result.matched} open task(s)`);
        for (const failure of result.failed) say(`could not cancel ${failure.taskId}: ${failure.error}`);
        if (result.failed.length > 0) process.exitCode = 1;
      } finally {
        await connections.close();
      }
      return;
    }
    case 'demo-repo': {
      if (positionals.length > 1) throw new Error('baton demo-repo takes one directory');
      const { createDemoRepo, demoInstructions } = load('./demo-repo') as typeof import('./demo-repo');
      const repo = await createDemoRepo(positionals[0] ?? mkdtempSync(join(tmpdir(), 'baton-demo-')));
      process.stdout.write(`${demoInstructions(repo, `http://${settings.apiHost}:${settings.apiPort}`)}\n`);
      return;
    }
    default:
      throw new Error(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`baton: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
