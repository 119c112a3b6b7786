import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processGone } from '../helpers/processes';
import { DEMO_PINS, demoAgents, fixtureAgent, startStack, type TestStack } from '../helpers/stack';
import type { TaskState } from '../../workflows/state';

/** A spec with goal and criteria, so define is skipped and implement starts at once. */
function definedSpec(id: string, agents: Record<string, string>) {
  return { id, title: `signals ${id}`, goal: 'prove a signal', acceptanceCriteria: ['it works'], agents };
}

function lastOfType(state: TaskState, type: string) {
  return state.timeline.filter((entry) => entry.type === type).at(-1);
}

describe('human signals on taskWorkflow', () => {
  let stack: TestStack;
  let pidFile: string;
  beforeAll(async () => {
    const placeholder = await startStack({ agents: [] });
    pidFile = join(placeholder.home, 'quiet-child.pid');
    await placeholder.stop();
    stack = await startStack({
      agents: [
        ...demoAgents(),
        fixtureAgent('quiet', ['implement', 'review'], 'quiet.mjs', { env: { QUIET_CHILD_PID_FILE: pidFile } }),
        fixtureAgent('echo', ['define', 'implement', 'review'], 'context-echo.mjs'),
        fixtureAgent('checker', ['review'], 'context-echo.mjs'),
        fixtureAgent('stubborn', ['review'], 'stubborn-reviewer.mjs'),
      ],
    });
  });
  afterAll(() => stack?.stop());

  it('records a malformed addNote as signal-rejected and carries on to completion', async () => {
    const taskId = stack.taskId('T-malformed');
    await stack.tasks.start({
      id: taskId,
      title: 'malformed signal',
      agents: DEMO_PINS,
    });
    // Sent straight through the client, as `temporal workflow signal` would, bypassing the API's validation.
    await stack.client.workflow.getHandle(`task-${taskId}`).signal('addNote', { nope: 1 });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    const rejected = lastOfType(state, 'signal-rejected');
    expect(rejected?.detail).toMatch(/^addNote: /);
    expect(rejected?.detail).toContain('by');
    expect(rejected?.detail).toContain('text');
    expect(state.notes).toEqual([]);
  });

  it('rejects approve when nothing waits for approval', async () => {
    const taskId = stack.taskId('T-approve-nothing');
    await stack.tasks.start(definedSpec(taskId, { implement: 'quiet' }));
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet');
    await stack.tasks.signal(taskId, 'approve', { by: 'alice' });
    const state = await stack.waitFor(taskId, (s) => lastOfType(s, 'signal-rejected') !== undefined);
    expect(lastOfType(state, 'signal-rejected')?.detail).toBe('approve: nothing waits for approval');
    expect(state.status).toBe('running');
    await stack.tasks.signal(taskId, 'cancel', { by: 'alice' });
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
  });

  it('hands human notes to every later agent, and reassign moves the stage to the named agent', async () => {
    const taskId = stack.taskId('T-note');
    await stack.tasks.start(definedSpec(taskId, { implement: 'quiet', review: 'checker' }));
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet');
    await stack.tasks.signal(taskId, 'addNote', { by: 'alice', text: 'use the existing limiter' });
    await stack.tasks.signal(taskId, 'reassign', { by: 'alice', agent: 'echo' });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['implement:echo', 'review:checker']);
    const seenByImplementer = JSON.parse(state.results[0]!.summary!) as { notes: string[]; definition: unknown };
    expect(seenByImplementer.notes).toEqual(['alice: use the existing limiter']);
    expect(seenByImplementer.definition).toEqual({ goal: 'prove a signal', acceptanceCriteria: ['it works'] });
    const seenByReviewer = JSON.parse(state.results[1]!.summary!) as { results: string[] };
    expect(seenByReviewer.results).toEqual(['implement:echo:completed']);
    expect(state.timeline.map((e) => e.type)).toContain('signal');
  });

  it('cancel ends the task as cancelled and kills the agent process group', async () => {
    const taskId = stack.taskId('T-cancel');
    rmSync(pidFile, { force: true });
    await stack.tasks.start(definedSpec(taskId, { implement: 'quiet' }));
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet');
    for (let i = 0; i < 50 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
    const childPid = Number(readFileSync(pidFile, 'utf8'));
    expect(processGone(childPid)).toBe(false);
    await stack.tasks.signal(taskId, 'cancel', { by: 'bob', reason: 'wrong task' });
    const state = await stack.waitFor(taskId, (s) => s.status === 'cancelled');
    expect(state.outcome).toEqual({ by: 'bob', reason: 'wrong task' });
    expect(state.stage).toBe('implement');
    expect(state.assignee).toBeNull();
    // The workflow waits for the driver to confirm the kill, so the group is gone once the task is cancelled.
    expect(processGone(childPid)).toBe(true);
    const description = await stack.client.workflow.getHandle(`task-${taskId}`).describe();
    expect(description.status.name).toBe('COMPLETED');
  });

  it('escalates review-rounds after maxReviewRounds; requestChanges runs another round; approve completes', async () => {
    const taskId = stack.taskId('T-rounds');
    await stack.tasks.start({
      ...definedSpec(taskId, { implement: 'echo', review: 'stubborn' }),
      policy: { maxReviewRounds: 2 },
    });
    let state = await stack.waitFor(taskId, (s) => s.status === 'escalated');
    expect(state.escalation).toMatchObject({ reason: 'review-rounds' });
    expect(state.round).toBe(2);
    expect(state.feedback.map((f) => f.text)).toEqual(['round 1: still not good enough', 'round 2: still not good enough']);

    await stack.tasks.signal(taskId, 'requestChanges', { by: 'carol', feedback: 'rename the limiter' });
    state = await stack.waitFor(taskId, (s) => s.status === 'escalated' && s.round === 3);
    expect(state.feedback.map((f) => `${f.round}:${f.from}`)).toEqual(['1:stubborn', '2:stubborn', '2:carol', '3:stubborn']);
    const implementerSaw = JSON.parse(state.results.filter((r) => r.stage === 'implement').at(-1)!.summary!) as {
      feedback: string[];
    };
    expect(implementerSaw.feedback).toContain('carol: rename the limiter');

    await stack.tasks.signal(taskId, 'approve', { by: 'carol', comment: 'good enough' });
    state = await stack.waitFor(taskId, (s) => s.status === 'completed');
    expect(state.stage).toBe('done');
    expect(state.escalation).toBeNull();
    expect(lastOfType(state, 'resolved')?.detail).toBe('review-rounds resolved by carol: approved: good enough');
  });

  it('rejects every signal once the task is closed (recorded, not thrown)', async () => {
    const taskId = stack.taskId('T-closed');
    await stack.tasks.start(definedSpec(taskId, { implement: 'echo', review: 'checker' }));
    await stack.waitFor(taskId, (s) => s.status === 'completed');
    // The workflow has ended: Temporal refuses the signal, and the client says the task is closed.
    await expect(stack.tasks.signal(taskId, 'addNote', { by: 'dave', text: 'too late' })).rejects.toThrow(/already closed/);
  });
});
