/**
 * The real default escalation clocks of `taskWorkflow` (stall 2 h without progress, idle 10 min without a
 * sign of life), proven in skipped time on Temporal's time-skipping test server (the Java one, fetched
 * from Maven Central by `temporal/test-server.ts`), with the real workflow bundle, the real orchestrator
 * worker and no `policy` in the spec.
 *
 * How time moves here. The test server holds time still (runs it at wall-clock speed) while anything is
 * in flight: a workflow task, a query, and any scheduled activity until it closes; `env.sleep` releases
 * the test's own hold for a while. The implement stage's `runAgent` activity goes to the agent's queue
 * and no agent worker takes it: the workflow sees exactly what it sees when an agent has the stage and
 * says nothing. A started activity could not stand for that: its 5 s heartbeat timeout counts in server
 * time, so any skip of more than 10 s times the attempt out, whatever the agent heartbeats in real time.
 * Because a scheduled activity also holds time, the test releases that hold once (`unlockTimeSkipping`)
 * after the dispatch, and takes it back before it ends the task.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TaskClient } from '../../api/task-client';
import { registerSearchAttributes } from '../../temporal/search-attributes';
import { resolveTimeSkippingServer, timeSkippingServerUnavailable } from '../../temporal/test-server';
import { createOrchestratorWorker } from '../../worker/orchestrator-worker';
import { DEFAULT_POLICY, workflowIdForTask } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import type { taskWorkflow } from '../../workflows/task-workflow';
import { agentTaskQueue } from '../../workflows/task-queues';
import { fixtureAgent } from '../helpers/stack';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const unavailable = timeSkippingServerUnavailable();
if (unavailable) console.warn(`[default-clocks] skipped: ${unavailable}`);

try {
  // Quiet: also the core's warning that the test server lacks a newer server's heartbeat-details capability.
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
} catch {
  // Another test file of this process installed it already.
}

function testService(env: TestWorkflowEnvironment) {
  const service = env.connection.testService;
  if (!service) throw new Error('the environment has no test service: not a time-skipping server');
  return service;
}

interface ClockStack {
  env: TestWorkflowEnvironment;
  tasks: TaskClient;
  taskQueue: string;
  /** Starts a task for the `coder` agent and waits until its implement stage is dispatched. */
  startTask(label: string): Promise<{ taskId: string; dispatched: TaskState }>;
  state(taskId: string): Promise<TaskState>;
  /** Skips server time to `at` (ms since the epoch, server time). */
  skipTo(at: number): Promise<void>;
  stop(): Promise<void>;
}

async function startClockStack(launcher: string): Promise<ClockStack> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: launcher } },
  });
  // The test server rejects unregistered search attributes (the workflow upserts them).
  await registerSearchAttributes(env.connection, 'default');
  const taskQueue = `clocks-${randomUUID().slice(0, 8)}`;
  // The agent the stage is dispatched to; its command never starts (no agent worker takes the activity).
  const coder = fixtureAgent('coder', ['implement'], 'quiet.mjs');
  const worker: Worker = await createOrchestratorWorker({
    connection: env.nativeConnection,
    client: env.client,
    namespace: 'default',
    taskQueue,
    agents: [coder],
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const running = worker.run();
  const tasks = new TaskClient({ client: env.client, taskQueue });
  const state = (taskId: string) => tasks.state(taskId);

  return {
    env,
    tasks,
    taskQueue,
    state,
    async startTask(label) {
      const taskId = `${label}-${randomUUID().slice(0, 8)}`;
      await tasks.start({
        id: taskId,
        title: `${label}: an agent that never finishes`,
        goal: 'exercise the default clocks',
        acceptanceCriteria: ['escalates on time'],
        agents: { implement: 'coder' },
        // The time-skipping server has no visibility listing, which the duplicate check queries.
        allowDuplicate: true,
      });
      const handle = env.client.workflow.getHandle(workflowIdForTask(taskId));
      const deadline = Date.now() + 30_000;
      for (;;) {
        const current = await state(taskId).catch(() => undefined);
        const pending = current?.assignee ? (await handle.describe()).raw.pendingActivities ?? [] : [];
        if (current && pending.length === 1) {
          expect(pending[0]!.activityType?.name).toBe('runAgent');
          // Releases the hold of the scheduled agent activity, so `env.sleep` skips time (see the top).
          await testService(env).unlockTimeSkipping({});
          return { taskId, dispatched: current };
        }
        if (Date.now() > deadline) throw new Error(`task ${taskId} was not dispatched: ${JSON.stringify(current)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async skipTo(at) {
      const now = await env.currentTimeMs();
      if (at > now) await env.sleep(at - now);
    },
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** Takes the activity's hold back, cancels the task and waits until it is closed. */
async function endTask(stack: ClockStack, taskId: string) {
  await testService(stack.env).lockTimeSkipping({});
  await stack.tasks.signal(taskId, 'cancel', { by: 'test' });
  const final = await stack.env.client.workflow.getHandle<typeof taskWorkflow>(workflowIdForTask(taskId)).result();
  expect(final.status).toBe('cancelled');
}

function escalations(state: TaskState) {
  return state.timeline.filter((entry) => entry.type === 'escalated').map((entry) => entry.detail);
}

function expectDefaultPolicy(state: TaskState) {
  expect(state.spec.policy).toEqual({});
  expect(state.policy).toMatchObject({ stallTimeoutMs: 2 * HOUR, idleTimeoutMs: 10 * MINUTE });
  expect(state.policy).toEqual({ ...DEFAULT_POLICY, minConfidence: 0.9, maxCostUsd: null, deliver: 'branch' });
}

describe.skipIf(unavailable !== null)('default escalation clocks, in skipped time', () => {
  let launcher: string;
  let stack: ClockStack | undefined;

  beforeAll(async () => {
    const started = Date.now();
    const path = await resolveTimeSkippingServer({ log: (line) => process.stderr.write(`[test-server] ${line}\n`) });
    if (!path) throw new Error('no time-skipping test server although Java and Maven were found');
    launcher = path;
    process.stderr.write(`[test-server] launcher ${launcher} (resolved in ${Date.now() - started} ms)\n`);
  }, 600_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('an agent that never finishes and never signals escalates idle at 10 minutes, not before', async () => {
    stack = await startClockStack(launcher);
    const { taskId, dispatched } = await stack.startTask('T-idle');
    expectDefaultPolicy(dispatched);
    expect(dispatched).toMatchObject({ stage: 'implement', status: 'running', escalation: null });
    expect(dispatched.assignee?.agent).toBe('coder');
    const history = await stack.env.client.workflow.getHandle(workflowIdForTask(taskId)).fetchHistory();
    const scheduled = history.events?.find((event) => event.activityTaskScheduledEventAttributes);
    expect(scheduled?.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(agentTaskQueue(stack.taskQueue, 'coder'));
    const assignedAt = Date.parse(dispatched.assignee!.since);

    await stack.skipTo(assignedAt + 9 * MINUTE);
    let state = await stack.state(taskId);
    expect(await stack.env.currentTimeMs()).toBeGreaterThanOrEqual(assignedAt + 9 * MINUTE);
    expect(state.status).toBe('running');
    expect(state.escalation).toBeNull();
    expect(escalations(state)).toEqual([]);

    await stack.skipTo(assignedAt + 10 * MINUTE + 30_000);
    state = await stack.state(taskId);
    expect(state.status).toBe('escalated');
    expect(state.escalation?.reason).toBe('idle');
    expect(state.escalation?.detail).toBe('no sign of life from coder for 10m');
    const escalatedAfter = Date.parse(state.escalation!.since) - assignedAt;
    expect(escalatedAfter).toBeGreaterThanOrEqual(10 * MINUTE);
    expect(escalatedAfter).toBeLessThan(10 * MINUTE + 30_000);
    expect(escalations(state)).toEqual(['idle: no sign of life from coder for 10m']);
    // The agent still has the stage: the first attempt is still pending, nothing timed out or failed.
    const pending = (await stack.env.client.workflow.getHandle(workflowIdForTask(taskId)).describe()).raw.pendingActivities;
    expect(pending?.map((activity) => [activity.activityType?.name, activity.attempt])).toEqual([['runAgent', 1]]);
    expect(state.assignee?.agent).toBe('coder');

    await endTask(stack, taskId);
    await stack.stop();
    stack = undefined;
  }, 120_000);

  it('an agent that sends heartbeats every 5 minutes but never finishes escalates stall at 2 hours, never idle', async () => {
    stack = await startClockStack(launcher);
    const { taskId, dispatched } = await stack.startTask('T-stall');
    expectDefaultPolicy(dispatched);
    const progressAt = Date.parse(dispatched.clocks.lastProgressAt);

    for (let minutes = 5; minutes < 120; minutes += 5) {
      await stack.skipTo(progressAt + minutes * MINUTE);
      const state = await stack.state(taskId);
      expect({ minutes, status: state.status, escalation: state.escalation }).toEqual({ minutes, status: 'running', escalation: null });
      await stack.tasks.signal(taskId, 'heartbeat', { agent: 'coder' });
    }

    await stack.skipTo(progressAt + 2 * HOUR - MINUTE);
    let state = await stack.state(taskId);
    expect(state.status).toBe('running');
    expect(state.escalation).toBeNull();
    // The heartbeat at 1:55 moved the idle deadline to 2:05; the last progress is still the stage start.
    expect(Date.parse(state.clocks.lastSignOfLifeAt) - progressAt).toBeGreaterThanOrEqual(115 * MINUTE);
    expect(Date.parse(state.clocks.lastProgressAt)).toBe(progressAt);

    await stack.skipTo(progressAt + 2 * HOUR + 30_000);
    state = await stack.state(taskId);
    expect(state.status).toBe('escalated');
    expect(state.escalation?.reason).toBe('stall');
    expect(state.escalation?.detail).toBe('no progress for 2h');
    const escalatedAfter = Date.parse(state.escalation!.since) - progressAt;
    expect(escalatedAfter).toBeGreaterThanOrEqual(2 * HOUR);
    expect(escalatedAfter).toBeLessThan(2 * HOUR + 30_000);
    expect(escalations(state)).toEqual(['stall: no progress for 2h']);

    await endTask(stack, taskId);
    await stack.stop();
    stack = undefined;
  }, 120_000);
});
