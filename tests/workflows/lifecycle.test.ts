import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskClient, TaskNotFoundError } from '../../api/task-client';
import { stateQuery } from '../../workflows/messages';
import type { TaskState } from '../../workflows/state';
import { demoAgents, startStack, type TestStack } from '../helpers/stack';

describe('taskWorkflow lifecycle with the demo agents', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ agents: demoAgents() });
  });
  afterAll(() => stack?.stop());

  it('runs define, implement, review (changes requested), implement, review (approved), done', async () => {
    const taskId = stack.taskId('T-life');
    await stack.tasks.start({ id: taskId, title: 'Add rate limiting to login' });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(state.stage).toBe('done');
    expect(state.round).toBe(2);
    expect(state.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual([
      'define:planner:completed',
      'implement:coder:completed',
      'review:reviewer:changes_requested',
      'implement:coder:completed',
      'review:reviewer:approved',
    ]);
    // The planner fleshed out a spec that had only a title.
    expect(state.definition).toEqual({
      goal: 'Add rate limiting to login',
      acceptanceCriteria: ['Add rate limiting to login: the described behaviour works end to end', 'the change is covered by tests'],
    });
    expect(state.feedback).toHaveLength(1);
    expect(state.feedback[0]).toMatchObject({ round: 1, from: 'reviewer' });
    expect(state.assignee).toBeNull();
    expect(state.escalation).toBeNull();
  });

  it('confirms the pinned agents once, at the first choice, and upserts the board once per handoff', async () => {
    const taskId = stack.taskId('T-pins');
    await stack.tasks.start({ id: taskId, title: 'Pinned all the way', agents: { define: 'planner', implement: 'coder', review: 'reviewer' } });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['define:planner', 'implement:coder', 'review:reviewer', 'implement:coder', 'review:reviewer']);
    const events = (await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory()).events ?? [];
    // One local activity (the first choice, which also confirmed coder and reviewer); no handoff asks again.
    const localActivities = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(localActivities).toHaveLength(1);
    // A new run records one patch marker, the one that stands for every patch, and asks no other.
    const patches = events
      .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((e) => JSON.parse(new TextDecoder().decode(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data)) as { id: string });
    expect(patches.map((patch) => patch.id)).toEqual(['all-patches-2026-12']);
    // Each handoff's workflow task upserts the stage change and the assignment as one command.
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes)!.eventId!.toString();
    const upsertsByTask = new Map<string, number>();
    for (const event of events) {
      const task = event.upsertWorkflowSearchAttributesEventAttributes?.workflowTaskCompletedEventId?.toString();
      if (task && task !== firstTask) upsertsByTask.set(task, (upsertsByTask.get(task) ?? 0) + 1);
    }
    expect(upsertsByTask.size).toBeGreaterThanOrEqual(4);
    expect([...upsertsByTask.values()].every((count) => count === 1)).toBe(true);
  });

  it("reads an ended task's state without any worker, from its workflow's result", async () => {
    const taskId = stack.taskId('T-ended');
    await stack.tasks.start({ id: taskId, title: 'Read me after the end' });
    // While it runs the query answers at once (asking Temporal for its end does not wait for the end).
    expect((await stack.tasks.state(taskId)).status).not.toBe('completed');
    await stack.waitFor(taskId, (s) => s.status === 'completed');
    const handle = stack.client.workflow.getHandle(`task-${taskId}`);
    const result = (await handle.result()) as TaskState;
    // The query of an ended task is answered by replaying it: the same task, though a timestamp taken after a
    // local activity (the agent choice) may differ by milliseconds from the one the live run recorded.
    const queried = await handle.query(stateQuery);
    const entries = (state: TaskState) => state.timeline.map((entry) => `${entry.type}: ${entry.detail}`);
    expect(entries(queried)).toEqual(entries(result));
    expect(queried.status).toBe('completed');
    await stack.stopOrchestrator();
    try {
      // With no orchestrator worker a query cannot be answered (it would run into the 3 s deadline).
      const reader = new TaskClient({ client: stack.client, taskQueue: stack.taskQueue, callTimeoutMs: 3_000 });
      expect(await reader.state(taskId)).toEqual(result);
      expect(await reader.state(taskId)).toEqual(result);
      await expect(reader.state(stack.taskId('T-never'))).rejects.toBeInstanceOf(TaskNotFoundError);
    } finally {
      await stack.startOrchestrator();
    }
  });
});
