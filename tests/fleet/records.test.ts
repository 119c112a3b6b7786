/**
 * Agent records across continue-as-new: a record's run closes and its next starts in one step, but visibility
 * indexes them apart, so the registry counts each agent by its latest run among the running and the recently
 * closed ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAgentRecords, presentRecords, type RecordRun } from '../../activities/fleet/registry';
import { AGENT_RECORD_QUERY, agentRecordWorkflowId, STAGE_FINISHED_SIGNAL, WORKER_JOINED_SIGNAL, WORKER_LEFT_SIGNAL } from '../../workflows/fleet';
import { startStack, type TestStack } from '../helpers/stack';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const descriptor = (name: string) => ({ name, kind: 'worker', roles: ['implement'], capabilities: [], maxConcurrent: 1 });

describe('presentRecords', () => {
  const base = 'q';
  const run = (name: string, status: string, startSecond: number, memoName = name): RecordRun => ({
    workflowId: agentRecordWorkflowId(base, name),
    status,
    startTime: new Date(Date.UTC(2026, 11, 4, 12, 0, startSecond)),
    memo: { agent: descriptor(memoName), stats: { completed: startSecond, failed: 0, meanStageMs: null } },
  });

  it('counts an agent by its latest run: running or continued as new is present, completed is gone', () => {
    const records = presentRecords(
      [
        // ada: continued as new, its next run not indexed yet
        run('ada', 'CONTINUED_AS_NEW', 1),
        run('ada', 'CONTINUED_AS_NEW', 5),
        // bob: continued as new, then its next run completed (its last worker left)
        run('bob', 'CONTINUED_AS_NEW', 1),
        run('bob', 'COMPLETED', 3),
        // cyd: an older run continued as new and the running one
        run('cyd', 'RUNNING', 9),
        run('cyd', 'CONTINUED_AS_NEW', 2),
        // dee: terminated
        run('dee', 'TERMINATED', 4),
      ],
      base,
    );
    expect([...records.keys()].sort()).toEqual(['ada', 'cyd']);
    // The stats are the latest run's.
    expect(records.get('ada')!.stats.completed).toBe(5);
    expect(records.get('cyd')!.stats.completed).toBe(9);
  });

  it('prefers the running run when two start at the same instant, and ignores a memo naming another agent', () => {
    const records = presentRecords([run('eve', 'COMPLETED', 7), run('eve', 'RUNNING', 7), run('fay', 'RUNNING', 1, 'gus')], base);
    expect([...records.keys()]).toEqual(['eve']);
  });
});

describe('listAgentRecords on a real server', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ agents: [] });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** A record that has continued as new at least twice (20 events a run). */
  async function continuedRecord(name: string) {
    const agent = descriptor(name);
    const workflowId = agentRecordWorkflowId(stack.taskQueue, name);
    const first = await stack.client.workflow.start('agentRecord', {
      workflowId,
      taskQueue: stack.taskQueue,
      args: [{ agent, eventsPerRun: 20 }],
      memo: { agent },
    });
    const record = stack.client.workflow.getHandle(workflowId);
    await first.signal(WORKER_JOINED_SIGNAL, { identity: 'w1@host', descriptor: agent });
    for (let i = 0; i < 15; i++) {
      await record.signal(STAGE_FINISHED_SIGNAL, { taskId: `t-${i}`, stage: 'implement', ok: true, durationMs: 10 });
      await record.query(AGENT_RECORD_QUERY);
    }
    expect((await record.describe()).runId).not.toBe(first.firstExecutionRunId);
    return record;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 300; i++) {
      const value = await probe();
      if (value !== undefined) return value;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('lists a record that continued as new, with the stats of its latest run, and not once its worker left', async () => {
    const record = await continuedRecord('kit');
    const listed = await until('kit listed with all 15 stages', async () => {
      const entry = (await listAgentRecords(stack.client, stack.taskQueue)).get('kit');
      return entry?.stats.completed === 15 ? entry : undefined;
    });
    expect(listed.descriptor.name).toBe('kit');

    // The last worker leaves: the record completes. Its earlier runs closed within the last minute, yet the
    // agent is gone once visibility has the completion.
    await record.signal(WORKER_LEFT_SIGNAL, { identity: 'w1@host' });
    await record.result();
    await until('the completed record indexed', async () => {
      for await (const info of stack.client.workflow.list({ query: `WorkflowId = '${record.workflowId}' AND ExecutionStatus = 'Completed'` })) return info;
      return undefined;
    });
    expect((await listAgentRecords(stack.client, stack.taskQueue)).has('kit')).toBe(false);
  });
});
