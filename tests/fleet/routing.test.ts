/**
 * Routing from what Temporal knows: the agent for a stage is chosen from the fleet's records, live workers,
 * used slots and assigned tasks, not from a count in one orchestrator's memory. So a restarted orchestrator
 * (or a second one) sees the busy agent as busy; a task's capabilities must all be held by its agent; a
 * second orchestrator worker on the same queue picks the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrchestratorActivities } from '../../activities/orchestrator';
import { fixtureAgent, startStack, type TestStack } from '../helpers/stack';

describe('routing from the fleet Temporal shows', () => {
  let stack: TestStack;
  const busy = { maxConcurrent: 1, capabilities: ['backend'] };

  beforeAll(async () => {
    stack = await startStack({
      agents: [
        fixtureAgent('ada', ['implement'], 'quiet.mjs', busy),
        fixtureAgent('bob', ['implement'], 'quiet.mjs', busy),
        fixtureAgent('cyd', ['implement'], 'quiet.mjs', { maxConcurrent: 1, capabilities: ['backend', 'gpu'] }),
      ],
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** A held task (the quiet agent never finishes) with the agent it was given. */
  const assigned = async (label: string, capabilities: string[] = []) => {
    const id = stack.taskId(label);
    await stack.tasks.start({ id, title: `${label} work`, goal: label, acceptanceCriteria: ['x'], capabilities });
    const state = await stack.waitFor(id, (s) => s.assignee !== null);
    return { id, agent: state.assignee!.agent };
  };

  /** A second orchestrator's view: the same activities, built fresh (nothing in memory), asked directly. */
  const freshChoice = (capabilities: string[]) =>
    createOrchestratorActivities({ client: stack.client, namespace: 'default', baseQueue: stack.taskQueue, agents: [] }).chooseAgent({
      stage: 'implement',
      capabilities,
      exclude: [],
    });

  /** Waits until the fleet Temporal shows has the agent's work (the task's BatonAgent is visible). */
  const untilChosen = async (capabilities: string[], expected: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const chosen = await freshChoice(capabilities);
      if (chosen.agent === expected || Date.now() > deadline) return chosen.agent;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('counts its own choices into one read of the fleet: a burst spreads over the able agents', async () => {
    const burst = createOrchestratorActivities({ client: stack.client, namespace: 'default', baseQueue: stack.taskQueue, agents: [], fleetFreshMs: 60_000 });
    const choose = () => burst.chooseAgent({ stage: 'implement', capabilities: ['backend'], exclude: [] });
    // Nothing started: Temporal shows all three idle each time; the choices made since the read tell them apart.
    expect([(await choose()).agent, (await choose()).agent, (await choose()).agent]).toEqual(['ada', 'bob', 'cyd']);
    expect((await choose()).agent).toBe('ada');
  });

  it('confirms the other pinned agents of a task with its first choice: those that exist, with their kind', async () => {
    const activities = createOrchestratorActivities({ client: stack.client, namespace: 'default', baseQueue: stack.taskQueue, agents: [] });
    const chosen = await activities.chooseAgent({ stage: 'implement', capabilities: [], pinned: 'ada', exclude: [], alsoConfirm: ['bob', 'ghost'] });
    expect(chosen).toEqual({ agent: 'ada', kind: 'worker', confirmed: { bob: 'worker' } });
    // Nothing to confirm: the answer is the choice alone, as before.
    expect(await activities.chooseAgent({ stage: 'implement', capabilities: [], pinned: 'cyd', exclude: [] })).toEqual({ agent: 'cyd', kind: 'worker' });
  });

  it('sends work to the least loaded able agent, before and after an orchestrator restart', async () => {
    // All idle: ties go by name.
    const first = await assigned('T-route-1');
    expect(first.agent).toBe('ada');
    // A second orchestrator that never dispatched anything sees ada's work.
    expect(await untilChosen([], 'bob')).toBe('bob');

    await stack.stopOrchestrator();
    await stack.startOrchestrator();
    const second = await assigned('T-route-2');
    expect(second.agent).toBe('bob');

    // Only cyd holds gpu; with ada and bob busy, plain work goes to cyd too, and then everyone is full.
    const gpu = await assigned('T-route-gpu', ['gpu']);
    expect(gpu.agent).toBe('cyd');
    await expect(freshChoice(['gpu', 'missing'])).rejects.toThrow(/no agent has the role "implement" with capabilities \[gpu, missing\]/);
  });
});
