/**
 * The runs whose histories are committed for replay: each drives a real task through one path of
 * `taskWorkflow` and returns its workflow id.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANSWER_REPO_FILES, WRONG_THEN_RIGHT } from '../helpers/answer-repo';
import { createBareRemote, createRepo } from '../helpers/git';
import { AGENT_RECORD_QUERY, STAGE_FINISHED_SIGNAL, WORKER_JOINED_SIGNAL, WORKER_LEFT_SIGNAL } from '../../workflows/fleet';
import { DEMO_PINS, demoAgents, fixtureAgent, type TestStack } from '../helpers/stack';

export const SCENARIO_AGENTS = () => [
  ...demoAgents(),
  fixtureAgent('quiet', ['implement', 'review'], 'quiet.mjs'),
  fixtureAgent('echo', ['define', 'implement', 'review'], 'context-echo.mjs'),
  fixtureAgent('checker', ['review'], 'context-echo.mjs'),
  fixtureAgent('stubborn', ['review'], 'stubborn-reviewer.mjs'),
  fixtureAgent('broken', ['implement'], 'fail.mjs'),
  fixtureAgent('scripted-coder', ['implement'], 'scripted.mjs'),
  fixtureAgent('scripted-reviewer', ['review'], 'scripted.mjs'),
  fixtureAgent('solo', ['implement'], 'held.mjs', { maxConcurrent: 1, env: { ORDER_FILE: join(SOLO_DIR, 'order'), HOLD_FILE } }),
];

/** The `solo` agent works while this file exists (tests/fixtures/agents/held.mjs). */
const SOLO_DIR = mkdtempSync(join(tmpdir(), 'baton-replay-solo-'));
const HOLD_FILE = join(SOLO_DIR, 'hold');

const scripted = { implement: 'scripted-coder', review: 'scripted-reviewer' };

const defined = { goal: 'replay', acceptanceCriteria: ['replays'] };

export const SCENARIOS: Record<string, (stack: TestStack, taskId: string) => Promise<void>> = {
  /** define, implement, review (changes requested), implement, review (approved), done. */
  async lifecycle(stack, taskId) {
    await stack.tasks.start({ id: taskId, title: 'lifecycle', agents: DEMO_PINS });
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },

  /** Notes, a malformed signal, reassign, review-rounds, requestChanges and approve. */
  async steering(stack, taskId) {
    await stack.tasks.start({ id: taskId, title: 'steering', ...defined, agents: { implement: 'quiet', review: 'stubborn' }, policy: { maxReviewRounds: 1 } });
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet');
    await stack.tasks.signal(taskId, 'addNote', { by: 'alice', text: 'mind the limiter' });
    await stack.client.workflow.getHandle(`task-${taskId}`).signal('addNote', { nope: 1 });
    await stack.tasks.signal(taskId, 'approve', { by: 'alice' });
    await stack.tasks.signal(taskId, 'reassign', { by: 'alice', agent: 'echo' });
    await stack.waitFor(taskId, (s) => s.escalation?.reason === 'review-rounds');
    await stack.tasks.signal(taskId, 'requestChanges', { by: 'alice', feedback: 'one more pass' });
    await stack.waitFor(taskId, (s) => s.escalation?.reason === 'review-rounds' && s.round === 2);
    await stack.tasks.signal(taskId, 'approve', { by: 'alice' });
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },

  /** A failing agent is retried, escalates agent-failed, and a human reassigns the stage. */
  async agentFailed(stack, taskId) {
    await stack.tasks.start({ id: taskId, title: 'agent failed', ...defined, agents: { implement: 'broken', review: 'checker' }, policy: { maxAttempts: 2 } });
    await stack.waitFor(taskId, (s) => s.escalation?.reason === 'agent-failed');
    await stack.tasks.signal(taskId, 'reassign', { by: 'bob', agent: 'echo' });
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },

  /** Cancel while an agent works: the activity is cancelled and the task ends cancelled. */
  async cancel(stack, taskId) {
    await stack.tasks.start({ id: taskId, title: 'cancel', ...defined, agents: { implement: 'quiet' } });
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'quiet');
    await stack.tasks.signal(taskId, 'cancel', { by: 'carol', reason: 'replay' });
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
  },

  /** A repository task: workspace, a failing then passing gate, review, a merge gated again, delivery, cleanup. */
  async codingTask(stack, taskId) {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    await stack.tasks.start({
      id: taskId,
      title: 'coding task',
      ...defined,
      agents: scripted,
      repo: { url: remote },
      policy: { deliver: 'merge' },
      context: { script: WRONG_THEN_RIGHT },
    });
    await stack.waitFor(taskId, (s) => s.status === 'completed', 60_000);
  },

  /** The budget runs out after implement; setBudget raises it and the task completes. */
  async budget(stack, taskId) {
    await stack.tasks.start({
      id: taskId,
      title: 'budget',
      ...defined,
      agents: scripted,
      policy: { maxCostUsd: 0.01 },
      context: { script: { implement: { '*': { usage: { inputTokens: 10, outputTokens: 5, costUsd: 0.02 } } } } },
    });
    await stack.waitFor(taskId, (s) => s.escalation?.reason === 'budget');
    await stack.tasks.signal(taskId, 'setBudget', { by: 'erin', maxCostUsd: 1 });
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },

  /** Queued behind a busy agent at P2, raised to P0 before it started: re-queued, then run and completed. */
  async priority(stack, taskId) {
    writeFileSync(HOLD_FILE, 'busy');
    const blocker = `${taskId}-blocker`;
    await stack.tasks.start({ id: blocker, title: 'priority blocker', ...defined, agents: { implement: 'solo', review: 'checker' } });
    await stack.waitFor(blocker, (s) => s.assignee?.agent === 'solo');
    await stack.tasks.start({ id: taskId, title: 'priority', ...defined, priority: 'P2', agents: { implement: 'solo', review: 'checker' } });
    await stack.waitFor(taskId, (s) => s.assignee?.agent === 'solo');
    await stack.tasks.signal(taskId, 'setPriority', { by: 'dana', priority: 'P0' });
    await stack.waitFor(taskId, (s) => s.timeline.some((e) => e.type === 'requeued'));
    rmSync(HOLD_FILE);
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },

  /** Waits for two tasks (patch `task-dependencies`): one completes, one is cancelled (dependency-failed); approve starts it. */
  async dependencies(stack, taskId) {
    const done = `${taskId}-done`;
    const dropped = `${taskId}-dropped`;
    await stack.tasks.start({ id: done, title: 'dependency done', ...defined, agents: { implement: 'quiet', review: 'checker' } });
    await stack.tasks.start({ id: dropped, title: 'dependency dropped', ...defined, agents: { implement: 'quiet', review: 'checker' } });
    await stack.tasks.start({ id: taskId, title: 'dependent', ...defined, dependsOn: [done, dropped], agents: { implement: 'echo', review: 'checker' } });
    await stack.waitFor(taskId, (s) => s.status === 'waiting');
    await stack.tasks.signal(done, 'reassign', { by: 'gina', agent: 'echo' });
    await stack.waitFor(taskId, (s) => s.dependencies?.[0]?.status === 'completed');
    await stack.tasks.signal(dropped, 'cancel', { by: 'gina', reason: 'replay' });
    await stack.waitFor(taskId, (s) => s.escalation?.reason === 'dependency-failed');
    await stack.tasks.signal(taskId, 'approve', { by: 'gina' });
    await stack.waitFor(taskId, (s) => s.status === 'completed');
  },
};

/**
 * An agent's record (`agentRecord`) through a long run: a worker joins, 150 stages finish one signal at a
 * time (one workflow task each, so the history passes 700 events), a malformed signal is ignored, the worker
 * leaves and the record completes. Returns the record's workflow id and its first run (since the
 * `record-bounded-history` patch that run continues as new at 500 events, and the next one completes).
 */
export async function AGENT_RECORD_SCENARIO(stack: TestStack): Promise<{ workflowId: string; firstRunId: string }> {
  const descriptor = { name: 'recorded', kind: 'worker', roles: ['implement'], capabilities: [], maxConcurrent: 2 };
  const workflowId = `${stack.taskQueue}.agent.recorded`;
  const handle = await stack.client.workflow.start('agentRecord', { workflowId, taskQueue: stack.taskQueue, args: [{ agent: descriptor }] });
  await handle.signal(WORKER_JOINED_SIGNAL, { identity: 'replay@host', descriptor });
  for (let i = 0; i < 150; i++) {
    await handle.signal(STAGE_FINISHED_SIGNAL, { taskId: `replay-${i}`, stage: 'implement', ok: i % 10 !== 0, durationMs: 100 + i });
    // Read back before the next one: each signal gets a workflow task of its own, as a quiet fleet's do.
    await handle.query(AGENT_RECORD_QUERY);
  }
  await handle.signal(STAGE_FINISHED_SIGNAL, { taskId: '', stage: 'nowhere' });
  await handle.signal(WORKER_LEFT_SIGNAL, { identity: 'replay@host' });
  await stack.client.workflow.getHandle(workflowId).result();
  return { workflowId, firstRunId: handle.firstExecutionRunId };
}
