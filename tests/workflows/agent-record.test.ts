import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRecordDescription } from '../../workflows/fleet';
import { AGENT_RECORD_QUERY, STAGE_FINISHED_SIGNAL, WORKER_JOINED_SIGNAL } from '../../workflows/fleet';
import { startStack, type TestStack } from '../helpers/stack';

describe('agentRecord', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ agents: [] });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('continues as new once its history reaches eventsPerRun, carrying its workers and stats', async () => {
    const descriptor = { name: 'bounded', kind: 'worker', roles: ['review'], capabilities: [], maxConcurrent: 1 };
    const workflowId = `${stack.taskQueue}.agent.bounded`;
    const first = await stack.client.workflow.start('agentRecord', { workflowId, taskQueue: stack.taskQueue, args: [{ agent: descriptor, eventsPerRun: 30 }] });
    await first.signal(WORKER_JOINED_SIGNAL, { identity: 'w1@host', descriptor });
    const record = stack.client.workflow.getHandle(workflowId);
    const stages = 30;
    for (let i = 0; i < stages; i++) {
      await record.signal(STAGE_FINISHED_SIGNAL, { taskId: `t-${i}`, stage: 'review', ok: i % 3 !== 0, durationMs: 1_000 });
      // One workflow task per signal, as a quiet fleet's are: the history grows by about five events each.
      await record.query(AGENT_RECORD_QUERY);
    }
    const described = await record.query<AgentRecordDescription>(AGENT_RECORD_QUERY);
    expect(described.joined).toEqual(['w1@host']);
    expect(described.stats).toEqual({ completed: 20, failed: 10, meanStageMs: 1_000 });

    // The chain of runs, read from the histories themselves (visibility may lag): each ends by naming the next.
    const runs: { runId: string; events: number; next: string | null }[] = [];
    for (let runId: string | null = first.firstExecutionRunId; runId; runId = runs.at(-1)!.next) {
      const events = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      runs.push({ runId, events: events.length, next: events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? null });
    }
    const continued = runs.slice(0, -1);
    // 30 signals at about five events each make ~150 events (65 even if they came in batches of four): at 30 a run,
    // at least two runs continued as new.
    expect(continued.length).toBeGreaterThanOrEqual(2);
    // The bound is checked when a workflow task starts: a run ends within a workflow task or two of it.
    for (const run of continued) expect(run.events).toBeLessThanOrEqual(30 + 10);
    // The last run of the chain is the one running, and it answered the query above.
    const current = await record.describe();
    expect(current.runId).toBe(runs.at(-1)!.runId);
    expect(current.status.name).toBe('RUNNING');
    await record.terminate('test done');
  });
});
