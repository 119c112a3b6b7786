/**
 * Agents with hostile output: one that floods 100 MB, one that writes binary garbage, one that says nothing.
 * Each attempt fails cleanly (no result), is retried, and the task escalates `agent-failed`; the agent's log
 * stays bounded on disk and the workflow history stays small — output never goes into the history.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureAgent, startStack, type TestStack } from '../helpers/stack';

const MODES = ['flood', 'garbage', 'nothing'] as const;

describe('agents with hostile output', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      agents: MODES.map((mode) => fixtureAgent(`hostile-${mode}`, ['implement'], 'hostile-output.mjs', { env: { HOSTILE_OUTPUT: mode } })),
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it.each(MODES)('%s: the attempts fail, the task escalates agent-failed, the history stays small', async (mode) => {
    const taskId = stack.taskId(`T-hostile-${mode}`);
    await stack.tasks.start({
      id: taskId,
      title: `hostile output: ${mode}`,
      goal: 'survive the agent',
      acceptanceCriteria: ['escalates cleanly'],
      agents: { implement: `hostile-${mode}` },
      policy: { maxAttempts: 2 },
    });
    const state = await stack.waitFor(taskId, (s) => s.escalation !== null, 120_000);
    expect(state.escalation?.reason).toBe('agent-failed');
    expect(state.status).toBe('escalated');
    expect(state.timeline.filter((e) => e.type === 'attempt-failed').length).toBeGreaterThanOrEqual(1);

    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    const events = history.events ?? [];
    const bytes = Buffer.byteLength(JSON.stringify(history));
    console.log(`hostile output ${mode}: ${events.length} history events, ${bytes} bytes of history; escalation: ${state.escalation?.detail?.slice(0, 120)}`);
    expect(events.length).toBeLessThan(80);
    expect(bytes).toBeLessThan(100_000);
    // The log of every attempt on disk is bounded (1 MiB and a note), whatever the agent wrote.
    const logs = execFileSync('find', [stack.home, '-name', 'agent.log', '-path', `*${taskId}*`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    expect(logs.length).toBeGreaterThan(0);
    for (const file of logs) expect(statSync(file).size).toBeLessThan(1.1 * 1024 * 1024);
  }, 180_000);
});
