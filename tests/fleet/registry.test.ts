/**
 * `GET /agents` follows the fleet as Temporal sees it: agents appear when their workers start (in this
 * process, or as a `baton agent` process of their own), turn busy with work and available again, go offline
 * when their only worker is killed, and disappear when their last worker stops; a claim agent is listed
 * without workers. No side database: every answer is read from Temporal.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../activities/agents/config';
import type { AgentSummarySchema } from '../../api/routes/agents';
import { startAgentProcess, stopAgentProcesses, type AgentProcess } from '../helpers/agent-process';
import { startApiStack, type ApiStack } from '../helpers/api';
import { FIXTURE_AGENTS_DIR, fixtureAgent } from '../helpers/stack';
import type { z } from 'zod';

type AgentSummary = z.output<typeof AgentSummarySchema>;

const HUMAN: AgentConfig = { name: 'human', roles: ['review'], capabilities: [], maxConcurrent: 2, claim: true, env: {}, baseDir: FIXTURE_AGENTS_DIR };

describe('GET /agents', () => {
  let stack: ApiStack;
  const processes: AgentProcess[] = [];

  beforeAll(async () => {
    stack = await startApiStack({
      agents: [fixtureAgent('coder', ['implement'], 'quiet.mjs', { maxConcurrent: 1, capabilities: ['backend'] })],
      remoteAgents: [HUMAN],
    });
  });
  afterAll(async () => {
    stopAgentProcesses(processes);
    await stack?.stop();
  });

  const agents = async (): Promise<AgentSummary[]> => {
    const response = await stack.inject({ method: 'GET', url: '/agents' });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ agents: AgentSummary[] }>().agents;
  };
  /** Polls until `predicate` holds on the answer (heartbeats arrive every second, visibility a moment later). */
  const agentsUntil = async (what: string, predicate: (list: AgentSummary[]) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: AgentSummary[] = [];
    for (;;) {
      last = await agents();
      if (predicate(last)) return last;
      if (Date.now() > deadline) throw new Error(`GET /agents never showed ${what}; last answer:\n${JSON.stringify(last, null, 2)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const byName = (list: AgentSummary[], name: string) => list.find((agent) => agent.name === name);

  it('lists the agents with their workers, and a claim agent without any', async () => {
    const list = await agentsUntil('coder with a live worker', (l) => byName(l, 'coder')?.status === 'available');
    expect(list.map((agent) => agent.name).sort()).toEqual(['coder', 'human']);
    const coder = byName(list, 'coder')!;
    expect(coder).toMatchObject({ kind: 'worker', roles: ['implement'], capabilities: ['backend'], maxConcurrent: 1, running: [] });
    expect(coder.workers).toHaveLength(1);
    expect(coder.workers[0]).toMatchObject({ pid: process.pid, slots: 1, usedSlots: 0 });
    expect(byName(list, 'human')).toMatchObject({ kind: 'claim', status: 'available', workers: [], roles: ['review'] });
  });

  it('shows an agent busy while its only slot works on a task, with the task listed', async () => {
    const taskId = stack.taskId('T-registry-busy');
    await stack.create({ id: taskId, title: 'keep the coder busy', goal: 'busy', acceptanceCriteria: ['x'], capabilities: ['backend'] });
    const list = await agentsUntil('coder busy with the task', (l) => byName(l, 'coder')?.status === 'busy' && byName(l, 'coder')!.running.includes(taskId));
    expect(byName(list, 'coder')!.workers[0]!.usedSlots).toBe(1);
    expect((await stack.read(taskId)).assignee?.agent).toBe('coder');
    expect((await stack.signal(taskId, 'cancel', { by: 'test' })).statusCode).toBe(202);
    await agentsUntil('coder available again', (l) => byName(l, 'coder')?.status === 'available' && byName(l, 'coder')!.running.length === 0);
    // The cancelled stage is not counted as finished either way.
    expect(byName(await agents(), 'coder')!.stats).toMatchObject({ completed: 0, failed: 0 });
  });

  it('adds an agent when its worker starts, counts its stages, and takes it away when the worker stops', async () => {
    await stack.startAgent(fixtureAgent('spare', ['implement', 'review'], 'context-echo.mjs'));
    await agentsUntil('spare', (l) => byName(l, 'spare')?.status === 'available');
    const taskId = stack.taskId('T-registry-stats');
    await stack.create({ id: taskId, title: 'counted stage', goal: 'count', acceptanceCriteria: ['x'], agents: { implement: 'spare', review: 'human' } });
    await stack.waitFor(taskId, (s) => s.stage === 'review');
    const counted = await agentsUntil('a finished stage of spare', (l) => (byName(l, 'spare')?.stats.completed ?? 0) >= 1);
    expect(byName(counted, 'spare')!.stats.meanStageMs).toBeGreaterThan(0);
    await stack.stopAgent('spare');
    await agentsUntil('spare gone', (l) => !byName(l, 'spare'));
  });

  it('shows a baton agent process of its own, offline once it is killed, and gone once a restarted one stops', async () => {
    const agentsFile = join(FIXTURE_AGENTS_DIR, 'fleet-agents.yaml');
    const first = await startAgentProcess(stack, { agentsFile, name: 'beta' });
    processes.push(first);
    const live = await agentsUntil('beta with its process as worker', (l) => byName(l, 'beta')?.workers.some((w) => w.pid === first.child.pid) ?? false);
    expect(byName(live, 'beta')).toMatchObject({ kind: 'worker', status: 'available', roles: ['implement'] });

    first.child.kill('SIGKILL');
    await agentsUntil('beta offline', (l) => byName(l, 'beta')?.status === 'offline');
    expect(byName(await agents(), 'beta')!.workers).toEqual([]);

    // A new worker comes back; stopping it (Ctrl-C) is the last goodbye: the killed one is forgotten too.
    const second = await startAgentProcess(stack, { agentsFile, name: 'beta' });
    processes.push(second);
    await agentsUntil('beta back', (l) => byName(l, 'beta')?.status === 'available');
    second.child.kill('SIGINT');
    await new Promise((resolve) => second.child.once('exit', resolve));
    await agentsUntil('beta gone', (l) => !byName(l, 'beta'));
  });
});
