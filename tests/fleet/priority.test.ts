/**
 * Priorities behind one busy agent: queued agent work starts P0 first, then P1, then P2 (Temporal's task-queue
 * priority), and `setPriority` re-queues work that has not started yet.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Priority } from '../../workflows/spec';
import { fixtureAgent, startStack, type TestStack } from '../helpers/stack';

describe('priorities when agents are scarce', () => {
  let stack: TestStack;
  const dir = mkdtempSync(join(tmpdir(), 'baton-priority-'));
  const orderFile = join(dir, 'order');
  const holdFile = join(dir, 'hold');

  beforeAll(async () => {
    writeFileSync(orderFile, '');
    stack = await startStack({
      agents: [
        fixtureAgent('solo', ['implement'], 'held.mjs', { maxConcurrent: 1, env: { ORDER_FILE: orderFile, HOLD_FILE: holdFile } }),
        fixtureAgent('checker', ['review'], 'context-echo.mjs'),
      ],
    });
  });
  afterAll(async () => {
    rmSync(holdFile, { force: true });
    await stack?.stop();
  });

  const started = () => readFileSync(orderFile, 'utf8').split('\n').filter(Boolean);
  const start = async (label: string, priority: Priority) => {
    const id = stack.taskId(label);
    await stack.tasks.start({ id, title: `${label} work`, goal: label, acceptanceCriteria: ['done'], priority, agents: { review: 'checker' } });
    // Assigned: its implement activity is scheduled on solo's queue, behind the busy slot.
    await stack.waitFor(id, (s) => s.assignee?.agent === 'solo');
    return id;
  };

  it('starts waiting P0 work before P1 and P1 before P2, and setPriority reorders work not yet started', async () => {
    writeFileSync(holdFile, 'busy');
    const blocker = await start('blocker', 'P1');
    for (let i = 0; i < 600 && !started().includes(blocker); i++) await new Promise((r) => setTimeout(r, 100));
    expect(started()).toEqual([blocker]);
    // Started work carries on at its new priority, whether or not its agent has sent a sign of life yet.
    await stack.tasks.signal(blocker, 'setPriority', { by: 'lead', priority: 'P0' });
    await stack.waitFor(blocker, (s) => s.priority === 'P0');

    const low = await start('low', 'P2');
    const mid = await start('mid', 'P1');
    const high = await start('high', 'P0');
    const bumped = await start('bumped', 'P2');
    await stack.tasks.signal(bumped, 'setPriority', { by: 'lead', priority: 'P0' });
    const requeued = await stack.waitFor(bumped, (s) => s.timeline.some((e) => e.type === 'requeued'));
    expect(requeued.priority).toBe('P0');
    expect(started()).toEqual([blocker]);

    rmSync(holdFile);
    for (const id of [blocker, low, mid, high, bumped]) await stack.waitFor(id, (s) => s.status === 'completed', 120_000);
    // One slot: each started only after the previous one finished, in priority order (FIFO within a priority).
    expect(started()).toEqual([blocker, high, bumped, mid, low]);
    const blockerState = await stack.tasks.state(blocker);
    expect(blockerState.timeline.filter((e) => e.type === 'requeued')).toEqual([]);
  });
});
