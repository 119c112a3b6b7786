import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../temporal/dev-server';
import { DEMO_PINS, DEMO_ROUND_TRIP, demoAgents, quietRuntime, stageOutcomes, startStack, type TestStack } from '../helpers/stack';

describe('continue-as-new', () => {
  let server: DevServer;
  let stack: TestStack;
  beforeAll(async () => {
    quietRuntime();
    // A server that suggests continue-as-new after 40 events, so an ordinary task crosses several runs.
    server = await startDevServer({ dynamicConfig: ['limit.historyCount.suggestContinueAsNew=40'], log: () => undefined });
    stack = await startStack({ agents: demoAgents(), address: server.address });
  });
  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
  });

  it('carries the whole task state across runs and finishes the task', async () => {
    const taskId = stack.taskId('T-can');
    const started = await stack.tasks.start({ id: taskId, title: 'a long task', agents: DEMO_PINS });
    await stack.tasks.signal(taskId, 'addNote', { by: 'alice', text: 'survives continue-as-new' });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed');

    const description = await stack.client.workflow.getHandle(`task-${taskId}`).describe();
    expect(description.runId).not.toBe(started.runId);
    const continued = state.timeline.filter((entry) => entry.type === 'continued');
    expect(continued.length).toBeGreaterThanOrEqual(1);
    // Nothing of the earlier runs is lost: results, feedback, notes and the start of the timeline.
    expect(stageOutcomes(state)).toEqual(DEMO_ROUND_TRIP);
    expect(state.feedback).toHaveLength(1);
    expect(state.notes.map((n) => n.text)).toEqual(['survives continue-as-new']);
    expect(state.timeline[0]!.type).toBe('created');
    expect(state.createdAt).toBe(state.timeline[0]!.at);

    // Each run stays short: the history of the last one is well under the threshold's order of magnitude.
    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    expect(history.events!.length).toBeLessThan(200);
  });
});
