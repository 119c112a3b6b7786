import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { FIXTURE_AGENTS_DIR } from '../helpers/stack';
import type { TaskState } from '../../workflows/state';

const AGENTS_FILE = join(FIXTURE_AGENTS_DIR, 'e2e-agents.yaml');

describe('baton dev stopped and started again on the same database', () => {
  let dev: BatonDev;
  beforeAll(async () => {
    dev = await startBatonDev(['--agents', AGENTS_FILE]);
  });
  afterAll(async () => {
    await dev?.interrupt();
  });

  it('keeps the task and its clock: the reminder fires after the restart, at its deadline', async () => {
    const created = await dev.request<{ taskId: string }>('POST', '/tasks', {
      title: 'survives a restart',
      goal: 'durable clocks',
      acceptanceCriteria: ['the reminder still comes'],
      agents: { implement: 'echo', review: 'stubborn' },
      policy: { maxReviewRounds: 1, reescalateAfter: '20s' },
    });
    const { taskId } = created.body;
    const escalated = await dev.waitForTask(taskId, (s) => s.escalation?.reason === 'review-rounds');
    const deadline = Date.parse(escalated.escalation!.since) + 20_000;

    // Everything goes down — API, workers and the Temporal server — and comes back on the same SQLite file.
    // However long that takes on a slow machine, the reminder comes once, from the restarted stack: at its
    // deadline if the restart was quicker, at once after the restart if not.
    const stopping = Date.now();
    dev = await dev.restart();
    const restarted = Date.now();
    const reminded: TaskState = await dev.waitForTask(taskId, (s) => s.timeline.some((e) => e.type === 'reminder'), 60_000);
    const reminder = reminded.timeline.find((e) => e.type === 'reminder')!;
    const firedAt = Date.parse(reminder.at);
    expect(firedAt).toBeGreaterThanOrEqual(deadline);
    expect(firedAt).toBeGreaterThan(stopping);
    console.log(
      `restart took ${restarted - stopping} ms; the reminder fired ${firedAt - Math.max(deadline, restarted)} ms after ` +
        `${restarted > deadline ? 'the restart (its deadline passed while everything was down)' : 'its deadline'}`,
    );
    expect(reminded.escalation).toMatchObject({ reason: 'review-rounds', notifications: 2 });
    expect(reminded.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:echo:completed', 'review:stubborn:changes_requested']);

    // And the task can still be steered to its end.
    await dev.temporal(['workflow', 'signal', '--workflow-id', `task-${taskId}`, '--name', 'approve', '--input', '{"by":"alice"}']);
    const done = await dev.waitForTask(taskId, (s) => s.status === 'completed');
    expect(done.stage).toBe('done');
  });
});
