import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskSpecInput } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import { demoAgents, fixtureAgent, startStack, type TestStack } from '../helpers/stack';
import { startWebhook, type Webhook } from '../helpers/webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (iso: string | undefined) => Date.parse(iso ?? '');

describe('escalation clocks, notifications and overrides', () => {
  let stack: TestStack;
  let webhook: Webhook;

  beforeAll(async () => {
    // The webhook refuses its first two notices: delivery must be retried until it answers.
    webhook = await startWebhook({ refuseFirst: 2 });
    stack = await startStack({
      webhookUrl: webhook.url,
      agents: [
        ...demoAgents(),
        fixtureAgent('quiet', ['define', 'implement', 'review'], 'quiet.mjs', { maxConcurrent: 20 }),
        fixtureAgent('chatty', ['implement'], 'chatty.mjs', { maxConcurrent: 20 }),
        fixtureAgent('echo', ['define', 'implement', 'review'], 'context-echo.mjs'),
        fixtureAgent('checker', ['review'], 'context-echo.mjs'),
        fixtureAgent('steady', ['implement'], 'slow.mjs', { env: { SLOW_MS: '1500' } }),
      ],
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await webhook?.close();
  });

  /** Starts a defined task (define is skipped) whose implement stage goes to `agent`, and waits until it works. */
  async function working(label: string, agent: string, extra: Partial<TaskSpecInput> = {}): Promise<{ taskId: string; state: TaskState }> {
    const taskId = stack.taskId(label);
    await stack.tasks.start({
      id: taskId,
      title: label,
      goal: 'exercise the clocks',
      acceptanceCriteria: ['a human hears of it'],
      ...extra,
      agents: { implement: agent, review: 'checker', ...extra.agents },
    });
    const state = await stack.waitFor(taskId, (s) => s.assignee?.agent === agent);
    return { taskId, state };
  }

  const cancel = async (taskId: string) => {
    await stack.tasks.signal(taskId, 'cancel', { by: 'test' });
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
  };
  const rejections = (state: TaskState) => state.timeline.filter((e) => e.type === 'signal-rejected').map((e) => e.detail);

  it('escalates idle when the agent goes quiet, notifies the webhook, and a reassign completes the task', async () => {
    const { taskId, state: assigned } = await working('T-idle', 'quiet', { policy: { idleTimeout: '2s', stallTimeout: '1m' } });
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation).toMatchObject({ reason: 'idle', detail: 'no sign of life from quiet for 2s', notifications: 1 });
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(assigned.clocks.lastSignOfLifeAt) + 2_000);
    // The agent keeps running: idleness is a human's call.
    expect(state.assignee?.agent).toBe('quiet');

    const notices = await waitForNotices(taskId, 1);
    expect(notices[0]!.body).toMatchObject({ kind: 'escalated', reason: 'idle', taskId, notification: 1 });
    expect(notices[0]!.body.text).toContain(`task ${taskId}`);
    expect(webhook.refused).toBe(2);

    await stack.tasks.signal(taskId, 'reassign', { by: 'alice', agent: 'echo' });
    const done = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(done.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['implement:echo', 'review:checker']);
    expect(done.timeline.some((e) => e.type === 'resolved' && e.detail === 'idle resolved by alice: reassigned implement to echo')).toBe(true);
  });

  it('escalates stall when the agent talks but never finishes, and not idle', async () => {
    const { taskId, state: assigned } = await working('T-stall', 'chatty', { policy: { stallTimeout: '3s', idleTimeout: '1m' } });
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation).toMatchObject({ reason: 'stall', detail: 'no progress for 3s' });
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(assigned.clocks.lastProgressAt) + 3_000);
    await cancel(taskId);
  });

  it('progress signals reset the stall clock', async () => {
    const { taskId } = await working('T-progress', 'chatty', { policy: { stallTimeout: '2s', idleTimeout: '1m' } });
    for (let i = 0; i < 5; i++) {
      await stack.tasks.signal(taskId, 'progress', { agent: 'chatty', message: `step ${i}` });
      await sleep(700);
    }
    const during = await stack.tasks.state(taskId);
    expect(during.escalation).toBeNull();
    expect(during.timeline.filter((e) => e.type === 'progress').map((e) => e.detail)).toContain('chatty: step 4');
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation?.reason).toBe('stall');
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(during.clocks.lastProgressAt) + 2_000);
    await cancel(taskId);
  });

  it('heartbeat signals reset the idle clock', async () => {
    const { taskId } = await working('T-heartbeat', 'quiet', { policy: { idleTimeout: '2s', stallTimeout: '1m' } });
    for (let i = 0; i < 6; i++) {
      await stack.tasks.signal(taskId, 'heartbeat', { agent: 'quiet' });
      await sleep(600);
    }
    const during = await stack.tasks.state(taskId);
    expect(during.escalation).toBeNull();
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation?.reason).toBe('idle');
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(during.clocks.lastSignOfLifeAt) + 2_000);
    await cancel(taskId);
  });

  it('the idle clock follows a handoff without a timer command: the next agent gets its whole idle time', async () => {
    // The implement agent works 1.5 s; the timer armed at its start (3 s) outlives the handoff, fires early and
    // re-arms for the quiet reviewer's own deadline.
    const { taskId } = await working('T-handoff-clock', 'steady', { policy: { idleTimeout: '3s', stallTimeout: '1m' }, agents: { review: 'quiet' } });
    const reviewing = await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet' && s.stage === 'review', 15_000);
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation).toMatchObject({ reason: 'idle', detail: 'no sign of life from quiet for 3s' });
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(reviewing.assignee?.since) + 3_000);

    const events = (await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory()).events ?? [];
    const implemented = events.findIndex((e) => e.activityTaskCompletedEventAttributes);
    const reviewScheduled = events.findIndex((e, i) => i > implemented && e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent');
    expect(implemented).toBeGreaterThan(0);
    expect(reviewScheduled).toBeGreaterThan(implemented);
    const handoff = events.slice(implemented, reviewScheduled + 1);
    expect(handoff.filter((e) => e.timerStartedEventAttributes || e.timerCanceledEventAttributes)).toEqual([]);
    await cancel(taskId);
  });

  it('reminds while an escalation stays unanswered; approve clears it and the agent carries on', async () => {
    const { taskId } = await working('T-remind', 'quiet', { policy: { idleTimeout: '1s', stallTimeout: '1m', reescalateAfter: '1s' } });
    const notices = await waitForNotices(taskId, 3);
    expect(notices.map((n) => `${n.body.kind}#${n.body.notification}`)).toEqual(['escalated#1', 'reminder#2', 'reminder#3']);
    await stack.tasks.signal(taskId, 'approve', { by: 'bob', comment: 'it is thinking' });
    const cleared = await stack.waitFor(taskId, (s) => s.escalation === null);
    expect(cleared.status).toBe('running');
    expect(cleared.assignee?.agent).toBe('quiet');
    expect(cleared.timeline.filter((e) => e.type === 'reminder').length).toBeGreaterThanOrEqual(2);
    expect(cleared.timeline.some((e) => e.type === 'resolved' && e.detail.startsWith('idle resolved by bob: approved: continue'))).toBe(true);
    // The clocks start again from the approval: still quiet, so it escalates again.
    const again = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(at(again.escalation?.since)).toBeGreaterThan(at(cleared.escalation?.since ?? cleared.clocks.lastSignOfLifeAt));
    await cancel(taskId);
  });

  it('does not escalate while paused; the clocks restart on resume', async () => {
    const { taskId } = await working('T-pause', 'quiet', { policy: { idleTimeout: '2s', stallTimeout: '3s' } });
    await stack.tasks.signal(taskId, 'pause', { by: 'carol' });
    await stack.tasks.signal(taskId, 'pause', { by: 'dave' });
    await sleep(4_500);
    const paused = await stack.tasks.state(taskId);
    expect(paused.status).toBe('paused');
    expect(paused.escalation).toBeNull();
    expect(rejections(paused)).toEqual(['pause: already paused by carol']);
    await stack.tasks.signal(taskId, 'resume', { by: 'carol' });
    const resumed = await stack.waitFor(taskId, (s) => s.paused === null);
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation?.reason).toBe('idle');
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(resumed.clocks.lastSignOfLifeAt) + 2_000);
    await stack.tasks.signal(taskId, 'resume', { by: 'carol' });
    const after = await stack.waitFor(taskId, (s) => rejections(s).length === 2);
    expect(rejections(after)[1]).toBe('resume: the task is not paused');
    await cancel(taskId);
  });

  it('escalates by hand, once; setPriority changes the priority and its search attribute', async () => {
    const { taskId } = await working('T-manual', 'quiet');
    await stack.tasks.signal(taskId, 'escalate', { by: 'erin', reason: 'needs a product decision' });
    await stack.tasks.signal(taskId, 'escalate', { by: 'erin', reason: 'again' });
    await stack.tasks.signal(taskId, 'setPriority', { by: 'erin', priority: 'P0' });
    await stack.tasks.signal(taskId, 'setPriority', { by: 'erin', priority: 'P0' });
    const state = await stack.waitFor(taskId, (s) => rejections(s).length === 2);
    expect(state.escalation).toMatchObject({ reason: 'manual', detail: 'needs a product decision', by: 'erin' });
    expect(state.priority).toBe('P0');
    expect(rejections(state)).toEqual(['escalate: already escalated (manual)', 'setPriority: priority is already P0']);
    const notices = await waitForNotices(taskId, 1);
    expect(notices[0]!.body.reason).toBe('manual');
    for (let i = 0; i < 50; i++) {
      const listed = await stack.tasks.list({ priority: 'P0', status: 'escalated' });
      if (listed.some((task) => task.taskId === taskId)) break;
      if (i === 49) throw new Error('the task never showed up as P0 and escalated in visibility');
      await sleep(100);
    }
    await cancel(taskId);
  });

  it('retry runs the stage again; reassign without an agent picks another one', async () => {
    const { taskId } = await working('T-retry', 'quiet');
    await stack.tasks.signal(taskId, 'retry', { by: 'frank' });
    let state = await stack.waitFor(taskId, (s) => s.timeline.filter((e) => e.type === 'assigned').length === 2 && s.assignee !== null);
    expect(state.assignee?.agent).toBe('quiet');
    await stack.tasks.signal(taskId, 'reassign', { by: 'frank' });
    state = await stack.waitFor(taskId, (s) => s.timeline.filter((e) => e.type === 'assigned').length === 3);
    expect(state.timeline.filter((e) => e.type === 'assigned').at(-1)!.detail).not.toContain('quiet');
    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    expect(history.events?.filter((e) => e.activityTaskCanceledEventAttributes)).toHaveLength(2);
    await stack.waitFor(taskId, (s) => s.status === 'completed' || s.status === 'running');
    await stack.tasks.signal(taskId, 'cancel', { by: 'frank' }).catch(() => undefined);
  });

  it('reassign with a stage sends the task back to it; requestChanges is refused while defining', async () => {
    const taskId = stack.taskId('T-stage');
    await stack.tasks.start({ id: taskId, title: 'stage moves', agents: { define: 'quiet', implement: 'echo', review: 'quiet' } });
    await stack.waitFor(taskId, (s) => s.assignee?.stage === 'define');
    await stack.tasks.signal(taskId, 'requestChanges', { by: 'gina', feedback: 'too early' });
    let state = await stack.waitFor(taskId, (s) => rejections(s).length === 1);
    expect(rejections(state)).toEqual(['requestChanges: the task is still being defined: nothing to change yet']);
    await stack.tasks.signal(taskId, 'approve', { by: 'gina' });
    await stack.tasks.signal(taskId, 'reassign', { by: 'gina', agent: 'echo' });
    state = await stack.waitFor(taskId, (s) => s.assignee?.stage === 'review');
    expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['define:echo', 'implement:echo']);
    await stack.tasks.signal(taskId, 'reassign', { by: 'gina', stage: 'implement', agent: 'echo' });
    state = await stack.waitFor(taskId, (s) => s.results.length === 3 && s.assignee?.stage === 'review');
    expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['define:echo', 'implement:echo', 'implement:echo']);
    await cancel(taskId);
  });

  it('fires an escalation whose deadline passed while the orchestrator worker was down', async () => {
    const { taskId, state: assigned } = await working('T-restart', 'quiet', { policy: { idleTimeout: '3s', stallTimeout: '1m' } });
    await stack.stopOrchestrator();
    await sleep(1_500);
    await stack.startOrchestrator();
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated', 15_000);
    expect(state.escalation?.reason).toBe('idle');
    expect(at(state.escalation?.since)).toBeGreaterThanOrEqual(at(assigned.clocks.lastSignOfLifeAt) + 3_000);
    await cancel(taskId);
  });

  async function waitForNotices(taskId: string, count: number) {
    for (let i = 0; i < 300; i++) {
      const notices = webhook.forTask(taskId);
      if (notices.length >= count) return notices;
      await sleep(100);
    }
    throw new Error(`the webhook got ${webhook.forTask(taskId).length} notice(s) for ${taskId}, expected ${count}`);
  }
});
