/**
 * The crash suite: under load, `kill -9` one part of Baton or of Temporal, start it again, and check that every
 * task ends, none is lost and no stage completes twice; each kill prints its recovery time (kill -> the next
 * task completed). Parts: the orchestrator worker, an agent worker, the API, the dev server on its file
 * database (Baton's processes run separately against it), `baton dev` as a whole (nothing of it may be left
 * running), and one node of a two-node Temporal cluster on PostgreSQL.
 *
 * `npm test` runs a short form (CHAOS_TASKS=4 tasks in flight at each kill); `npm run chaos` the full one.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { devServerFlags } from '../../temporal/dev-server';
import type { TaskState } from '../../workflows/state';
import { freePort, startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { startBaton, type BatonProcess } from '../helpers/baton-process';
import { startCluster, type TemporalCluster } from '../helpers/cluster';
import { agentPids } from '../helpers/processes';
import { FIXTURE_AGENTS_DIR, REPO_ROOT } from '../helpers/stack';

const TASKS = Number(process.env.CHAOS_TASKS ?? 4);
const AGENTS_FILE = join(FIXTURE_AGENTS_DIR, 'chaos-agents.yaml');
const figures: string[] = [];

afterAll(() => {
  if (figures.length > 0) console.log(`crash suite (${TASKS} tasks in flight at each kill):\n  ${figures.join('\n  ')}`);
});

/** Creates `n` tasks through the API, retrying while it is down; returns their ids. */
async function createTasks(apiUrl: string, label: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${label}-${i}-${randomUUID().slice(0, 6)}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(`${apiUrl}/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, title: `chaos ${label} ${i}`, allowDuplicate: true }),
        });
        // 409: an earlier attempt's request did start it before the answer was lost.
        if (response.status === 201 || response.status === 409) break;
        throw new Error(`POST /tasks answered ${response.status}: ${await response.text()}`);
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(200);
      }
    }
    ids.push(id);
  }
  return ids;
}

/** The final states of the tasks (their workflows' results), waiting until every one has ended. */
async function finalStates(client: Client, ids: string[], timeoutMs: number): Promise<Map<string, TaskState>> {
  const deadline = Date.now() + timeoutMs;
  const states = new Map<string, TaskState>();
  await Promise.all(
    ids.map(async (id) => {
      for (;;) {
        try {
          states.set(id, await client.withDeadline(Math.min(deadline, Date.now() + 30_000), () => client.workflow.getHandle(`task-${id}`).result()) as TaskState);
          return;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`task ${id} did not end within ${timeoutMs} ms: ${String(error)}`);
          await sleep(500);
        }
      }
    }),
  );
  return states;
}

/** Waits for the first of `ids` to complete after now; the time it took. */
async function nextCompletion(client: Client, ids: string[], since: number, timeoutMs = 180_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const id of ids) {
      try {
        const description = await client.withDeadline(Date.now() + 2_000, () => client.workflow.getHandle(`task-${id}`).describe());
        if (description.status.name === 'COMPLETED' && description.closeTime && description.closeTime.getTime() >= since) return Date.now() - since;
      } catch {
        // Temporal (or this node) is still coming back.
      }
    }
    if (Date.now() > deadline) throw new Error('no task completed after the restart');
    await sleep(200);
  }
}

/** Every task completed, and each stage of each round completed once: in the state, and in the history. */
async function checkNothingLostOrTwice(client: Client, states: Map<string, TaskState>): Promise<void> {
  for (const [id, state] of states) {
    expect(state.status, id).toBe('completed');
    const keys = state.results.map((r) => `${r.stage}#${r.round}`);
    expect(new Set(keys).size, `${id}: ${keys.join(', ')}`).toBe(keys.length);
    expect(keys.slice(0, 1), id).toEqual(['define#1']);
    expect(keys.at(-1), id).toMatch(/^review#\d+$/);
    const history = await client.workflow.getHandle(`task-${id}`).fetchHistory();
    const completed = (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).map((e) => e.activityTaskCompletedEventAttributes!.scheduledEventId!.toString());
    const agentRuns = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent').map((e) => e.eventId!.toString());
    expect(completed.filter((scheduled) => agentRuns.includes(scheduled)).length, id).toBe(state.results.length);
  }
}

// ---- Baton's processes apart, on a dev server of their own ----------------------------------------------

describe('kill -9 each process of a split deployment on a dev server with a file database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-chaos-'));
  const queue = `chaos-${randomUUID().slice(0, 6)}`;
  let server: ChildProcess;
  let port: number;
  let apiPort: number;
  let client: Client;
  let connection: Connection;
  const parts: Record<string, BatonProcess> = {};
  const all: string[] = [];

  const startServer = async () => {
    const cli = inject('temporalCliPath');
    if (!cli) throw new Error('the crash suite needs the Temporal CLI');
    server = spawn(
      cli,
      [
        'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error',
        // What `baton dev` runs its server with: the file database in WAL mode, search attributes, dynamic config.
        ...devServerFlags({ dbFile: join(dir, 'temporal.db') }),
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; ; i++) {
      try {
        const probe = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1_000 });
        await probe.workflowService.getSystemInfo({});
        await probe.close();
        return;
      } catch (error) {
        if (i > 120) throw error;
        await sleep(250);
      }
    }
  };
  const env = (name: string) => ({ TEMPORAL_ADDRESS: `127.0.0.1:${port}`, BATON_TASK_QUEUE: queue, BATON_HOME: join(dir, name), BATON_API_PORT: String(apiPort) });
  const starters: Record<string, () => Promise<BatonProcess>> = {
    worker: () => startBaton(['worker', '--agents', AGENTS_FILE], env('worker'), 'orchestrator worker polling'),
    api: () => startBaton(['api'], env('api'), 'API listening'),
    planner: () => startBaton(['agent', '--agents', AGENTS_FILE, '--name', 'planner'], env('planner'), 'polling'),
    coder: () => startBaton(['agent', '--agents', AGENTS_FILE, '--name', 'coder'], env('coder'), 'polling'),
    reviewer: () => startBaton(['agent', '--agents', AGENTS_FILE, '--name', 'reviewer'], env('reviewer'), 'polling'),
  };

  afterAll(async () => {
    await Promise.all(Object.values(parts).map((part) => part.interrupt()));
    await connection?.close();
    server?.kill('SIGTERM');
  });

  it('runs: a dev server on a file, the orchestrator worker, the API and three agents, each a process', async () => {
    port = await freePort();
    apiPort = await freePort();
    await startServer();
    for (const [name, start] of Object.entries(starters)) parts[name] = await start();
    connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    client = new Client({ connection });
    const ids = await createTasks(`http://127.0.0.1:${apiPort}`, 'warmup', 2);
    all.push(...ids);
    await finalStates(client, ids, 120_000);
  }, 300_000);

  const victims: { name: string; kill: () => Promise<void>; restart: () => Promise<void> }[] = [
    { name: 'the orchestrator worker (baton worker)', kill: () => parts.worker!.kill9(), restart: async () => void (parts.worker = await starters.worker!()) },
    { name: 'an agent worker mid-stage (baton agent coder)', kill: () => parts.coder!.kill9(), restart: async () => void (parts.coder = await starters.coder!()) },
    { name: 'the API (baton api)', kill: () => parts.api!.kill9(), restart: async () => void (parts.api = await starters.api!()) },
    {
      name: 'the dev server on its file database',
      kill: async () => {
        server.kill('SIGKILL');
        await new Promise((resolve) => (server.exitCode !== null || server.signalCode !== null ? resolve(null) : server.once('exit', resolve)));
      },
      restart: () => startServer(),
    },
  ];

  for (const victim of victims) {
    it(`kill -9 ${victim.name}: every task ends, none lost, no stage twice`, async () => {
      const ids = await createTasks(`http://127.0.0.1:${apiPort}`, 'split', TASKS);
      all.push(...ids);
      // Let the tasks get into their stages (the coder's take 2 s).
      await sleep(1_500);
      const killedAt = Date.now();
      await victim.kill();
      await sleep(1_000);
      const restartAt = Date.now();
      await victim.restart();
      const restarted = Date.now() - restartAt;
      const recovered = await nextCompletion(client, ids, killedAt);
      const states = await finalStates(client, ids, 240_000);
      await checkNothingLostOrTwice(client, states);
      figures.push(`${victim.name}: restart took ${restarted} ms; a task completed ${recovered} ms after the kill; ${states.size}/${ids.length} tasks completed`);
    }, 420_000);
  }

  it('lost none of the tasks of the whole run', async () => {
    const states = await finalStates(client, all, 120_000);
    expect(states.size).toBe(all.length);
    await checkNothingLostOrTwice(client, states);
  }, 240_000);
});

// ---- baton dev as a whole ---------------------------------------------------------------------------------

describe('kill -9 baton dev as a whole', () => {
  let dev: BatonDev | undefined;
  afterAll(async () => {
    await dev?.interrupt();
  });

  it('leaves no Temporal server or agent process behind, and a restart on the same database finishes every task', async () => {
    const ports: [number, number, number] = [await freePort(), await freePort(), await freePort()];
    const home = mkdtempSync(join(tmpdir(), 'baton-chaos-dev-'));
    dev = await startBatonDev(['--agents', AGENTS_FILE], {}, { ports, home });
    const ids = await createTasks(dev.apiUrl, 'dev', TASKS);
    // Kill it while agents run.
    for (let i = 0; i < 100 && ids.every((id) => agentPids(id).length === 0); i++) await sleep(100);
    const running = ids.flatMap((id) => agentPids(id));
    expect(running.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    dev.child.kill('SIGKILL');
    await new Promise((resolve) => dev!.child.once('exit', resolve));

    // Its Temporal server (the lifeline) and its agents' process groups (their watchdog) end with it.
    const leftovers = () => {
      const server = readdirSync('/proc')
        .filter((pid) => /^\d+$/.test(pid))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(home, 'temporal.db')) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
          } catch {
            return false;
          }
        });
      return [...server, ...ids.flatMap((id) => agentPids(id)).map(String)];
    };
    let left = leftovers();
    for (let i = 0; i < 150 && left.length > 0; i++) {
      await sleep(100);
      left = leftovers();
    }
    expect(left, 'processes of the killed baton dev still running').toEqual([]);
    const cleanMs = Date.now() - killedAt;

    const restartAt = Date.now();
    dev = await startBatonDev(['--agents', AGENTS_FILE], {}, { ports, home });
    const restarted = Date.now() - restartAt;
    const connection = await Connection.connect({ address: dev.temporalAddress });
    try {
      const client = new Client({ connection });
      const recovered = await nextCompletion(client, ids, killedAt);
      const states = await finalStates(client, ids, 240_000);
      await checkNothingLostOrTwice(client, states);
      figures.push(
        `baton dev as a whole: its server and ${running.length} agent process(es) gone ${cleanMs} ms after the kill; restart took ${restarted} ms; ` +
          `a task completed ${recovered} ms after the kill; ${states.size}/${ids.length} tasks completed`,
      );
    } finally {
      await connection.close();
    }
    expect(existsSync(join(home, 'temporal.db'))).toBe(true);
  }, 420_000);
});

// ---- one node of a Temporal cluster -------------------------------------------------------------------------

describe('kill -9 one node of a two-node Temporal cluster on PostgreSQL', () => {
  let cluster: TemporalCluster;
  let dev: BatonDev | undefined;
  afterAll(async () => {
    await dev?.interrupt();
    await cluster?.stop();
  });

  it('the other node takes over its shards: every task ends, none lost, no stage twice', async () => {
    cluster = await startCluster({ nodes: 2 });
    const namespace = `chaos-${randomUUID().slice(0, 6)}`;
    const env = { TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: namespace };
    execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'baton.js'), 'setup', '--create-namespace'], { env: { ...process.env, ...env }, stdio: 'pipe' });
    dev = await startBatonDev(['--agents', AGENTS_FILE], env);
    const connection = await Connection.connect({ address: cluster.address });
    try {
      const client = new Client({ connection, namespace });
      const ids = await createTasks(dev.apiUrl, 'cluster', TASKS);
      await sleep(1_500);
      const node = cluster.nodes[1]!;
      const killedAt = Date.now();
      await node.kill();
      await sleep(1_000);
      const restartAt = Date.now();
      await node.start();
      const restarted = Date.now() - restartAt;
      const recovered = await nextCompletion(client, ids, killedAt);
      const states = await finalStates(client, ids, 240_000);
      await checkNothingLostOrTwice(client, states);
      figures.push(`one node of the cluster (${node.name}): restart took ${restarted} ms; a task completed ${recovered} ms after the kill; ${states.size}/${ids.length} tasks completed`);
    } finally {
      await connection.close();
    }
  }, 420_000);
});
