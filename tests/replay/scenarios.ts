/**
 * The runs whose histories are committed for replay: each drives a real task through one path of
 * `taskWorkflow` and returns its workflow id.
 */
import { ANSWER_REPO_FILES, WRONG_THEN_RIGHT } from '../helpers/answer-repo';
import { createBareRemote, createRepo } from '../helpers/git';
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
];

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
};
