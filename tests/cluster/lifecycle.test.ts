/**
 * Baton on a real Temporal cluster it did not start: two Temporal server processes on PostgreSQL
 * (tests/helpers/cluster.ts), a fresh namespace that does not exist yet. `baton setup` creates it and registers
 * the search attributes; `baton dev` pointed at the cluster (`TEMPORAL_ADDRESS`) starts no server of its own
 * and carries a task through define, implement, review (twice) to done; GET /tasks lists it from the
 * cluster's visibility on PostgreSQL, GET /agents shows the agents from their worker heartbeats.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskSummary } from '../../api/task-client';
import type { TaskState } from '../../workflows/state';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { startCluster, type TemporalCluster } from '../helpers/cluster';
import { DEMO_ROUND_TRIP, REPO_ROOT, stageOutcomes } from '../helpers/stack';

const execFileAsync = promisify(execFile);

describe('Baton on a two-node Temporal cluster on PostgreSQL', () => {
  let cluster: TemporalCluster;
  let dev: BatonDev | undefined;
  const namespace = `baton-${randomUUID().slice(0, 8)}`;
  const env = () => ({ ...process.env, TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: namespace });

  /** `baton setup ...` as a user runs it: its exit code and what it printed. */
  const setup = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [join(REPO_ROOT, 'bin', 'baton.js'), 'setup', ...args], { env: env(), timeout: 150_000 });
      return { code: 0, output: stdout + stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
    }
  };

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2 });
  });
  afterAll(async () => {
    await dev?.interrupt();
    await cluster?.stop();
  });

  it('answers the health check the compose stack uses on every node (HTTP /api/v1/system-info)', async () => {
    for (const node of cluster.nodes) {
      const response = await fetch(`${node.httpUrl}/api/v1/system-info`);
      expect(response.status, node.name).toBe(200);
      expect(await response.json()).toHaveProperty('serverVersion', '1.32.1');
    }
  });

  it('prepares a fresh namespace with baton setup, idempotently', async () => {
    const missing = await setup();
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toContain(`namespace "${namespace}" does not exist on this Temporal server: create it with \`baton setup --create-namespace\``);

    const created = await setup('--create-namespace', '--retention-days', '3');
    expect(created.code, created.output).toBe(0);
    expect(created.output).toContain(`created namespace ${namespace} (retention 3 days)`);
    expect(created.output).toMatch(/registered search attributes BatonStage \(KEYWORD\), BatonStatus \(KEYWORD\).*BatonCostUsd \(DOUBLE\)/);
    // The cluster runs without forced search-attribute refreshes: setup waits out the server's cache.
    expect(created.output).toMatch(/waiting \d+ s until every Temporal server process has read them/);

    const again = await setup('--create-namespace');
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain('(nothing to do: it already was)');
    expect(again.output).not.toContain('waiting');
  }, 240_000);

  it('runs the task lifecycle through baton dev pointed at the cluster', async () => {
    dev = await startBatonDev([], { TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: namespace });
    expect(dev.output()).not.toContain('starting the Temporal dev server');
    expect(dev.output()).toContain(`Temporal:  ${cluster.address} (namespace ${namespace}`);

    const created = await dev.request<{ taskId: string }>('POST', '/tasks', { title: 'Add rate limiting to login' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { taskId } = created.body;
    const state: TaskState = await dev.waitForTask(taskId, (s) => s.status === 'completed', 90_000);
    expect(stageOutcomes(state)).toEqual(DEMO_ROUND_TRIP);

    // Visibility on PostgreSQL, through Baton's search attributes.
    const deadline = Date.now() + 30_000;
    let listed: TaskSummary[] = [];
    while (Date.now() < deadline) {
      const response = await dev.request<{ tasks: TaskSummary[] }>('GET', '/tasks?status=completed');
      expect(response.status).toBe(200);
      listed = response.body.tasks;
      if (listed.some((task) => task.taskId === taskId)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(listed.map((task) => task.taskId)).toContain(taskId);

    const agents = await dev.request<{ workerSource: string; agents: { name: string; status: string }[] }>('GET', '/agents');
    expect(agents.status).toBe(200);
    expect(agents.body.workerSource).toBe('heartbeats');
    expect(agents.body.agents.map((a) => `${a.name}:${a.status}`).sort()).toEqual(['coder:available', 'planner:available', 'reviewer:available']);
    expect(await dev.interrupt()).toBe(0);
    dev = undefined;
  });
});
