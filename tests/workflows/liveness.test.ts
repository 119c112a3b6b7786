/**
 * No false idle alarms: an agent whose process tree works silently (a long test suite printing nothing) is
 * alive; only a tree that is silent and uses no CPU for the whole idle timeout is idle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSY_MIN_TICKS, treeTicks } from '../../activities/liveness';
import { fixtureAgent, startStack, type TestStack } from '../helpers/stack';

/** About 30 % of one core for `seconds`, printing nothing: the shape of a quiet test run. */
function busyFor(seconds: number): string[] {
  const spin = `const end = Date.now() + ${seconds * 1000}; (function spin() { const t = Date.now() + 30; while (Date.now() < t); if (Date.now() < end) setTimeout(spin, 70); })();`;
  return [process.execPath, '-e', spin];
}

describe('idle clock and a silent agent', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      agents: [fixtureAgent('silent', ['implement'], 'silent-command.mjs', { maxConcurrent: 2 }), fixtureAgent('checker', ['review'], 'context-echo.mjs')],
    });
  });
  afterAll(() => stack?.stop());

  it('a silent 90-second command that keeps the CPU busy does not escalate under a 60-second idle clock; the same agent sleeping does', async () => {
    const spec = (id: string, silentCommand: string[]) => ({
      id,
      title: id,
      goal: 'stay silent',
      acceptanceCriteria: ['no output for 90 s'],
      agents: { implement: 'silent', review: 'checker' },
      policy: { idleTimeout: '60s', stallTimeout: '1h' },
      context: { silentCommand },
    });
    const busy = stack.taskId('T-busy');
    const sleepy = stack.taskId('T-sleepy');
    await stack.tasks.start(spec(busy, busyFor(90)));
    await stack.tasks.start(spec(sleepy, ['sleep', '90']));

    const [busyDone, sleepyEscalated] = await Promise.all([
      stack.waitFor(busy, (s) => s.status === 'completed' || s.escalation !== null, 180_000),
      stack.waitFor(sleepy, (s) => s.escalation !== null || s.status === 'completed', 180_000),
    ]);

    expect(busyDone.status).toBe('completed');
    expect(busyDone.timeline.filter((e) => e.type === 'escalated')).toEqual([]);
    expect(sleepyEscalated.escalation).toMatchObject({ reason: 'idle', detail: 'no sign of life from silent for 1m' });
    // The sleeping agent is still at work: idleness is a human's call.
    expect(sleepyEscalated.assignee?.agent).toBe('silent');
    // It escalated at the idle deadline, not at the end of its sleep.
    const silentFor = Date.parse(sleepyEscalated.escalation!.since) - Date.parse(sleepyEscalated.clocks.lastSignOfLifeAt);
    expect(silentFor).toBeGreaterThanOrEqual(60_000);
    expect(silentFor).toBeLessThan(90_000);
  }, 240_000);
});

describe('process tree CPU', () => {
  it("sums the CPU of a leader's group and of its descendants that left the group, and nobody else's", () => {
    const table = new Map([
      [100, { ppid: 1, pgrp: 100, ticks: 5 }],
      [101, { ppid: 100, pgrp: 100, ticks: 7 }],
      // A grandchild that called setsid: still part of the agent's work.
      [102, { ppid: 101, pgrp: 102, ticks: 11 }],
      [200, { ppid: 1, pgrp: 200, ticks: 1000 }],
    ]);
    expect(treeTicks(table, 100)).toBe(23);
    expect(treeTicks(table, 200)).toBe(1000);
    expect(BUSY_MIN_TICKS).toBeGreaterThanOrEqual(1);
  });
});
