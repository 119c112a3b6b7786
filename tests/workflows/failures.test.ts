import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgents, fixtureAgent, startStack, type TestStack } from '../helpers/stack';

describe('agent failures', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      agents: [
        ...demoAgents(),
        fixtureAgent('broken', ['implement'], 'fail.mjs'),
        fixtureAgent('invalid', ['implement'], 'invalid.mjs'),
      ],
    });
  });
  afterAll(() => stack?.stop());

  it('retries a failing agent, then waits for a human (agent-failed); reassign to a working agent completes', async () => {
    const taskId = stack.taskId('T-broken');
    await stack.tasks.start({ id: taskId, title: 'broken agent', agents: { implement: 'broken' }, policy: { maxAttempts: 2 } });
    let state = await stack.waitFor(taskId, (s) => s.status === 'escalated');
    expect(state.stage).toBe('implement');
    expect(state.escalation).toMatchObject({ reason: 'agent-failed' });
    expect(state.escalation?.detail).toMatch(/broken exited with code 3/);
    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    // Two attempts, each its own activity run by the workflow (which may move a lost one to another agent).
    const failed = history.events?.filter((event) => event.activityTaskFailedEventAttributes) ?? [];
    expect(failed).toHaveLength(2);
    expect(state.timeline.filter((e) => e.type === 'attempt-failed').map((e) => e.detail.split(':')[0])).toEqual([
      'implement · broken · attempt 1',
      'implement · broken',
    ]);

    await stack.tasks.signal(taskId, 'reassign', { by: 'erin', agent: 'coder' });
    state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(state.results.filter((r) => r.stage === 'implement').map((r) => r.agent)).toEqual(['coder', 'coder']);
    expect(state.timeline.some((e) => e.type === 'resolved' && e.detail.startsWith('agent-failed resolved by erin'))).toBe(true);
  });

  it('does not retry an invalid result and escalates at once', async () => {
    const taskId = stack.taskId('T-invalid');
    await stack.tasks.start({ id: taskId, title: 'invalid result', agents: { implement: 'invalid' } });
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated');
    expect(state.escalation?.reason).toBe('agent-failed');
    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    const starts = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(starts.at(-1)?.activityTaskStartedEventAttributes?.attempt).toBe(1);
    await stack.tasks.signal(taskId, 'cancel', { by: 'erin' });
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
  });

  it('escalates when no agent can take a stage, and approve moves past it', async () => {
    const taskId = stack.taskId('T-noagent');
    await stack.tasks.start({
      id: taskId,
      title: 'no such agent',
      agents: { define: 'ghost', implement: 'coder', review: 'reviewer' },
    });
    let state = await stack.waitFor(taskId, (s) => s.status === 'escalated');
    expect(state.escalation?.detail).toBe('no agent named "ghost" is registered (start it with baton agent, or declare it in the agents file)');
    await stack.tasks.signal(taskId, 'approve', { by: 'frank' });
    state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    // Approving the define escalation takes the spec as its own definition.
    expect(state.definition).toEqual({ goal: 'no such agent', acceptanceCriteria: [] });
  });

  it('asks again at a later stage whose pinned agent the first choice did not find', async () => {
    const taskId = stack.taskId('T-ghost-review');
    await stack.tasks.start({ id: taskId, title: 'ghost reviewer', agents: { implement: 'coder', review: 'ghost' } });
    const state = await stack.waitFor(taskId, (s) => s.status === 'escalated');
    expect(state.stage).toBe('review');
    expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['define:planner', 'implement:coder']);
    expect(state.escalation?.detail).toBe('no agent named "ghost" is registered (start it with baton agent, or declare it in the agents file)');
    await stack.tasks.signal(taskId, 'cancel', { by: 'frank' });
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
  });
});
