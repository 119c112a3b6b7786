/**
 * One place to set up what workflow, API and end-to-end tests need: a connection to the run's real dev
 * server, an orchestrator worker on a queue of its own, one worker per agent, and a TaskClient.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { loadAgentsFile, type AgentConfig } from '../../activities/agents/config';
import { TaskClient } from '../../api/task-client';
import { WORKER_HEARTBEAT_INTERVAL_MS } from '../../workflows/fleet';
import type { Membership } from '../../activities/fleet/membership';
import { createAgentWorkers } from '../../worker/agent-worker';
import { createDependencyWorker } from '../../worker/dependency-worker';
import { createOrchestratorWorker } from '../../worker/orchestrator-worker';
import { whileStarting } from '../../temporal/while-starting';
import { DEFAULT_POLICY, type AgentStage, type PolicyDefaults } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const FIXTURE_AGENTS_DIR = join(REPO_ROOT, 'tests', 'fixtures', 'agents');

let runtimeInstalled = false;
const capturedLogs: string[] = [];
/**
 * Keeps the SDK to errors in test output, while every log entry from info up (workers, activities) is kept
 * in memory for `loggedText()`; call it before anything else of Temporal in a test file.
 */
export function quietRuntime() {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      capturedLogs.push(`${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}`);
      if (entry.level === 'ERROR') process.stderr.write(`${entry.message} ${JSON.stringify(entry.meta ?? {})}\n`);
    }),
    workerHeartbeatInterval: WORKER_HEARTBEAT_INTERVAL_MS,
  });
  runtimeInstalled = true;
}

/** Everything the workers of this test process logged so far (info and up). */
export function loggedText(): string {
  return capturedLogs.join('\n');
}

/**
 * A workflow's whole history as searchable text: every event, with every payload's bytes decoded (the
 * spec, inputs and results of activities, signals, queries' answers are not in it).
 */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const parts: string[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
    else if (typeof value === 'string') parts.push(value);
  };
  walk(history);
  return parts.join('\n');
}

/** Pins every stage to the demo agents, so no other agent of a test deployment takes one. */
export const DEMO_PINS = { define: 'planner', implement: 'coder', review: 'reviewer' };

/** `stage:outcome` of the demo agents' round trip: the reviewer asks for one change, then approves. */
export const DEMO_ROUND_TRIP = [
  'define:completed',
  'implement:completed',
  'review:changes_requested',
  'implement:completed',
  'review:approved',
];

/** The results of a state as `stage:outcome`. */
export const stageOutcomes = (state: TaskState) => state.results.map((r) => `${r.stage}:${r.outcome}`);

/** The demo agents of `agents/agents.yaml` (planner, coder, reviewer). */
export function demoAgents(): AgentConfig[] {
  return loadAgentsFile(join(REPO_ROOT, 'agents', 'agents.yaml')).agents;
}

/** An agent that runs one of the scripts in `tests/fixtures/agents` (or the demo agents' scripts). */
export function fixtureAgent(
  name: string,
  roles: AgentStage[],
  script: string,
  extra: Partial<Pick<AgentConfig, 'env' | 'maxConcurrent' | 'capabilities'>> = {},
): AgentConfig {
  return {
    name,
    roles,
    capabilities: extra.capabilities ?? [],
    maxConcurrent: extra.maxConcurrent ?? 4,
    command: [process.execPath, join(FIXTURE_AGENTS_DIR, script)],
    env: extra.env ?? {},
    baseDir: FIXTURE_AGENTS_DIR,
  };
}

export interface StackOptions {
  agents: AgentConfig[];
  /** Agents the orchestrator knows whose workers run elsewhere (e.g. `baton agent` child processes). */
  remoteAgents?: AgentConfig[];
  defaults?: Partial<PolicyDefaults>;
  webhookUrl?: string;
  /** Another Temporal server than the run's (a test that needs a differently configured one). */
  address?: string;
  /** A home of its own for some agents (as on another machine: own clones, worktrees and logs). */
  homes?: Record<string, string>;
}

export interface TestStack {
  client: Client;
  tasks: TaskClient;
  taskQueue: string;
  home: string;
  /** A task id unique to this test run, readable in failures. */
  taskId(label: string): string;
  /** Polls the `state` query until `predicate` holds; fails with the last state seen. */
  waitFor(taskId: string, predicate: (state: TaskState) => boolean, timeoutMs?: number): Promise<TaskState>;
  /** Stops one agent's worker (as if its machine went away) or starts it again. */
  stopAgent(name: string): Promise<void>;
  startAgent(agent: AgentConfig, home?: string): Promise<void>;
  stopOrchestrator(): Promise<void>;
  /** The run's Temporal server address, for child processes. */
  address: string;
  startOrchestrator(): Promise<void>;
  stop(): Promise<void>;
}

interface Running {
  workers: Worker[];
  membership?: Membership;
  done: Promise<unknown>;
}

export async function startStack(options: StackOptions): Promise<TestStack> {
  quietRuntime();
  const address = options.address ?? inject('temporalAddress');
  const bundlePath = inject('workflowBundlePath');
  const namespace = 'default';
  const taskQueue = `test-${randomUUID().slice(0, 8)}`;
  const home = mkdtempSync(join(tmpdir(), 'baton-home-'));
  const nativeConnection = await whileStarting(() => NativeConnection.connect({ address }));
  const connection = await whileStarting(() => Connection.connect({ address }));
  const client = new Client({ connection, namespace });
  const tasks = new TaskClient({ client, taskQueue, defaults: { ...DEFAULT_POLICY, ...options.defaults } });
  const running = new Map<string, Running>();
  const agents = new Map([...options.agents, ...(options.remoteAgents ?? [])].map((agent) => [agent.name, agent]));

  const launch = (key: string, workers: Worker[], membership?: Membership) => {
    running.set(key, { workers, membership, done: Promise.all(workers.map((worker) => worker.run())) });
  };
  const halt = async (key: string) => {
    const entry = running.get(key);
    if (!entry) return;
    running.delete(key);
    for (const worker of entry.workers) worker.shutdown();
    await entry.done;
    // As a stopped `baton agent` does: the agent leaves the fleet.
    await entry.membership?.leave();
  };
  const startAgent = async (agent: AgentConfig, agentHome = options.homes?.[agent.name] ?? home) => {
    agents.set(agent.name, agent);
    const created = await createAgentWorkers({ connection: nativeConnection, client, namespace, taskQueue, agent, home: agentHome });
    launch(`agent:${agent.name}`, created.workers, created.membership);
  };
  const startOrchestrator = async () => {
    launch('orchestrator', [
      await createOrchestratorWorker({
        connection: nativeConnection,
        client,
        namespace,
        taskQueue,
        agents: [...agents.values()],
        webhookUrl: options.webhookUrl,
        workflowBundle: { codePath: bundlePath },
      }),
      await createDependencyWorker({ connection: nativeConnection, client, namespace, taskQueue }),
    ]);
  };

  await startOrchestrator();
  for (const agent of options.agents) await startAgent(agent);
  // Claim agents run no worker here either: the stack declares them, as `baton dev` does for its agents file.
  for (const agent of options.remoteAgents ?? []) if (agent.claim) await startAgent(agent);

  return {
    client,
    tasks,
    taskQueue,
    home,
    address,
    taskId: (label) => `${label}-${randomUUID().slice(0, 8)}`,
    async waitFor(taskId, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: TaskState | undefined;
      for (;;) {
        last = await tasks.state(taskId).catch(() => last);
        if (last && predicate(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(`task ${taskId} did not reach the expected state in ${timeoutMs} ms; last state:\n${JSON.stringify(last, null, 2)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stopAgent: (name) => halt(`agent:${name}`),
    startAgent,
    stopOrchestrator: () => halt('orchestrator'),
    startOrchestrator,
    async stop() {
      await Promise.all([...running.keys()].map(halt));
      await nativeConnection.close();
      await connection.close();
    },
  };
}
