/**
 * Task dependencies (`dependsOn`) against the real dev server: a dependent task waits (`waiting`, a bounded
 * history, no clocks) and starts once its dependency completed; a dependency that ends otherwise escalates it
 * `dependency-failed`; the API refuses unknown ids, the task itself and cycles (here: through a reused id).
 */
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../temporal/dev-server';
import type { TaskSpecInput } from '../../workflows/spec';
import { agentsWithQuiet, ids, startApiStack, type ApiStack, type ErrorBody } from '../helpers/api';
import { fixtureAgent } from '../helpers/stack';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const eventMs = (event: HistoryEvent | undefined): number => {
  const time = event?.eventTime;
  return Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
};

/** quiet holds implement; echo answers at once; checker reviews; broken fails every attempt. */
const dependencyAgents = () => [
  ...agentsWithQuiet(),
  fixtureAgent('echo', ['define', 'implement'], 'context-echo.mjs'),
  fixtureAgent('checker', ['review'], 'context-echo.mjs'),
  fixtureAgent('broken', ['implement'], 'fail.mjs'),
];

/** A spec with its own definition (no define stage): implement by `implement`, review by checker. */
function specOf(stack: ApiStack, label: string, implement: string, extra: Partial<TaskSpecInput> = {}): TaskSpecInput {
  const id = stack.taskId(label);
  return { id, title: `${label} ${id}`, goal: `prove ${label}`, acceptanceCriteria: ['done'], agents: { implement, review: 'checker' }, ...extra };
}

describe('task dependencies', () => {
  let api: ApiStack;
  beforeAll(async () => {
    api = await startApiStack({ agents: dependencyAgents() });
  });
  afterAll(() => api?.stop());

  const spec = (label: string, implement: string, extra: Partial<TaskSpecInput> = {}) => specOf(api, label, implement, extra);
  const history = async (taskId: string) => (await api.client.workflow.getHandle(`task-${taskId}`).fetchHistory()).events ?? [];
  const agentRuns = (events: HistoryEvent[]) =>
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent');

  it('waits (status waiting, a history that does not grow, no stall clock) and starts once its dependency completed', async () => {
    const dependency = await api.create(spec('T-dep', 'quiet'));
    await api.waitFor(dependency, (s) => s.assignee?.agent === 'quiet');
    // A 1 s stall clock would escalate a task that is not waiting well within the 4 s it waits here.
    const dependent = await api.create(spec('T-after', 'echo', { dependsOn: [dependency], policy: { stallTimeout: '1s' } }));

    const waiting = await api.waitFor(dependent, (s) => s.status === 'waiting');
    expect(waiting.dependencies).toEqual([{ taskId: dependency, status: 'waiting', at: expect.any(String) as unknown }]);
    expect(waiting.timeline.find((e) => e.type === 'waiting')?.detail).toBe(`waiting for ${dependency} to complete before the task starts`);
    const listed = await api.listUntil('status=waiting', (tasks) => ids(tasks).includes(dependent));
    expect(listed.find((t) => t.taskId === dependent)).toMatchObject({ status: 'waiting', stage: 'define', agent: null });

    const early = (await history(dependent)).length;
    await new Promise((r) => setTimeout(r, 4_000));
    const events = await history(dependent);
    const state = await api.read(dependent);
    expect(state.status).toBe('waiting');
    expect(state.escalation).toBeNull();
    expect(events.length).toBe(early);
    // The first workflow task: five patch markers (each with the SDK's upsert of TemporalChangeVersion), the
    // task's own attributes and the dependency check; nothing after it while the task waits.
    expect(events.length).toBeLessThanOrEqual(16);
    expect(agentRuns(events)).toHaveLength(0);
    console.log(`[dependencies] history of a waiting task: ${events.length} events (${early} after it started waiting, ${events.length} 4 s later)`);

    // The dependency completes (the quiet agent is replaced by one that answers at once).
    await api.tasks.signal(dependency, 'reassign', { by: 'lead', agent: 'echo' });
    await api.waitFor(dependency, (s) => s.status === 'completed');
    const done = await api.waitFor(dependent, (s) => s.status === 'completed');
    expect(done.dependencies).toEqual([{ taskId: dependency, status: 'completed', at: expect.any(String) as unknown }]);
    expect(done.timeline.filter((e) => e.type === 'dependency').map((e) => e.detail)).toEqual([`${dependency} completed: the task starts`]);
    expect(done.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['implement:echo', 'review:checker']);

    const closedAt = (await api.client.workflow.getHandle(`task-${dependency}`).describe()).closeTime!.getTime();
    const firstRun = agentRuns(await history(dependent))[0];
    const startedAfter = eventMs(firstRun) - closedAt;
    expect(startedAfter).toBeGreaterThanOrEqual(0);
    console.log(`[dependencies] dependency closed -> dependent's first agent stage scheduled: ${startedAfter} ms`);
  });

  it('stays waiting while its dependency is escalated; the dependency cancelled escalates it dependency-failed, and approve starts it anyway', async () => {
    const dependency = await api.create(spec('T-failing', 'broken', { policy: { maxAttempts: 1 } }));
    const dependent = await api.create(spec('T-blocked', 'echo', { dependsOn: [dependency] }));
    await api.waitFor(dependency, (s) => s.escalation?.reason === 'agent-failed');
    // An escalated dependency may still be fixed by a human: the dependent keeps waiting.
    await new Promise((r) => setTimeout(r, 500));
    expect((await api.read(dependent)).status).toBe('waiting');

    await api.tasks.signal(dependency, 'cancel', { by: 'ops', reason: 'cannot be done' });
    let state = await api.waitFor(dependent, (s) => s.status === 'escalated');
    expect(state.escalation).toMatchObject({ reason: 'dependency-failed' });
    expect(state.escalation?.detail).toContain(`${dependency} was cancelled (by ops: cannot be done)`);
    expect(state.dependencies?.[0]).toMatchObject({ taskId: dependency, status: 'cancelled', detail: 'by ops: cannot be done' });
    await api.listUntil('status=escalated', (tasks) => ids(tasks).includes(dependent));
    expect(agentRuns(await history(dependent))).toHaveLength(0);

    // Nothing to change or reassign before the task started.
    const refused = await api.signal(dependent, 'requestChanges', { by: 'lead', feedback: 'x' });
    expect(refused.statusCode).toBe(202);
    await api.waitFor(dependent, (s) => s.timeline.some((e) => e.type === 'signal-rejected' && e.detail.startsWith('requestChanges: the task has not started')));

    await api.tasks.signal(dependent, 'approve', { by: 'lead', comment: 'start anyway' });
    state = await api.waitFor(dependent, (s) => s.status === 'completed');
    expect(state.timeline.some((e) => e.type === 'resolved' && e.detail.startsWith('dependency-failed resolved by lead: approved: the task starts'))).toBe(true);
    expect(state.results.map((r) => r.stage)).toEqual(['implement', 'review']);
  });

  it('a terminated dependency escalates dependency-failed; retry waits again and cancel ends the task', async () => {
    const dependency = await api.create(spec('T-terminated', 'quiet'));
    const dependent = await api.create(spec('T-orphan', 'echo', { dependsOn: [dependency] }));
    await api.waitFor(dependent, (s) => s.status === 'waiting');
    await api.client.workflow.getHandle(`task-${dependency}`).terminate('operator gave up');
    let state = await api.waitFor(dependent, (s) => s.status === 'escalated');
    expect(state.escalation?.reason).toBe('dependency-failed');
    expect(state.escalation?.detail).toContain(`${dependency} was terminated (operator gave up)`);

    // retry follows the id's latest run: still the terminated one, so it escalates again.
    await api.tasks.signal(dependent, 'retry', { by: 'lead' });
    state = await api.waitFor(dependent, (s) => s.timeline.filter((e) => e.type === 'escalated').length === 2);
    expect(state.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['resolved', 'waiting']));

    await api.tasks.signal(dependent, 'cancel', { by: 'lead', reason: 'no longer needed' });
    state = await api.waitFor(dependent, (s) => s.status === 'cancelled');
    expect(state.outcome).toEqual({ by: 'lead', reason: 'no longer needed' });
    expect(agentRuns(await history(dependent))).toHaveLength(0);
  });

  it('cancel while waiting cancels the wait and the task; the dependency carries on', async () => {
    const dependency = await api.create(spec('T-long', 'quiet'));
    const second = await api.create(spec('T-second', 'quiet'));
    const dependent = await api.create(spec('T-impatient', 'echo', { dependsOn: [dependency, second] }));
    const waiting = await api.waitFor(dependent, (s) => s.status === 'waiting');
    expect(waiting.dependencies?.map((d) => d.status)).toEqual(['waiting', 'waiting']);

    await api.tasks.signal(dependent, 'cancel', { by: 'lead' });
    const state = await api.waitFor(dependent, (s) => s.status === 'cancelled');
    expect(state.dependencies?.map((d) => d.status)).toEqual(['skipped', 'skipped']);
    const events = await history(dependent);
    const waits = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForTask');
    expect(waits).toHaveLength(2);
    expect(events.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(2);
    expect((await api.read(dependency)).status).toBe('running');
  });

  describe('POST /tasks with dependsOn', () => {
    let existing: string;
    beforeAll(async () => {
      existing = await api.create(spec('T-exists', 'quiet'));
    });

    it('answers 400 for an unknown task, naming its index', async () => {
      const missing = api.taskId('T-9');
      const response = await api.post({ title: 'needs a ghost', dependsOn: [existing, missing] });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json<ErrorBody>()).toEqual({ error: 'ValidationError', issues: [{ path: 'dependsOn.1', message: `unknown task ${missing}` }] });
    });

    it('answers 400 for a task that depends on itself, or names a dependency twice', async () => {
      const id = api.taskId('T-self');
      const self = await api.post({ id, title: 'me first', dependsOn: [id] });
      expect(self.statusCode, self.body).toBe(400);
      expect(self.json<ErrorBody>().issues).toEqual([{ path: 'dependsOn.0', message: `a task cannot depend on itself (${id})` }]);
      const twice = await api.post({ title: 'twice', dependsOn: [existing, existing] });
      expect(twice.statusCode, twice.body).toBe(400);
      expect(twice.json<ErrorBody>().issues).toEqual([{ path: 'dependsOn.1', message: `${existing} is listed twice` }]);
    });
  });

  // Task ids come back only once their old run is gone (retention, or deleted): a server of its own that
  // deletes a closed run at once (the default waits for its queues' ack levels, about a minute).
  describe('POST /tasks with dependsOn, ids reused after deletion', () => {
    let server: DevServer;
    let reuse: ApiStack;
    let existing: string;
    beforeAll(async () => {
      server = await startDevServer({
        dynamicConfig: ['history.transferProcessorEnsureCloseBeforeDelete=false', 'history.visibilityProcessorEnsureCloseBeforeDelete=false'],
        log: () => undefined,
      });
      reuse = await startApiStack({ agents: dependencyAgents(), address: server.address });
      existing = await reuse.create(specOf(reuse, 'T-exists', 'quiet'));
    });
    afterAll(async () => {
      await reuse?.stop();
      await server?.stop();
    });

    /** Deletes a closed task's run, as retention would, and waits until its id is free. */
    const forget = async (taskId: string) => {
      await reuse.client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: `task-${taskId}` } });
      for (let i = 0; i < 100; i++) {
        if (await reuse.client.workflow.getHandle(`task-${taskId}`).describe().then(() => false, () => true)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`task-${taskId} was not deleted`);
    };

    it('answers 400 for a cycle through a task id reused after its old run was deleted', async () => {
      // R is created and cancelled; W depends on R (escalated dependency-failed, open: a retry would wait for R
      // again); R's run is deleted and its id used again by a task that depends on W: W -> R -> W never ends.
      const reused = reuse.taskId('T-reused');
      await reuse.create({ id: reused, title: `first life of ${reused}`, goal: 'g', acceptanceCriteria: ['c'], agents: { implement: 'quiet' } });
      await reuse.tasks.signal(reused, 'cancel', { by: 'lead' });
      await reuse.waitFor(reused, (s) => s.status === 'cancelled');
      const waiter = await reuse.create(specOf(reuse, 'T-waiter', 'echo', { dependsOn: [reused] }));
      await reuse.waitFor(waiter, (s) => s.escalation?.reason === 'dependency-failed');
      await forget(reused);

      const cycle = await reuse.post({ id: reused, title: `second life of ${reused}`, dependsOn: [waiter] });
      expect(cycle.statusCode, cycle.body).toBe(400);
      expect(cycle.json<ErrorBody>().issues).toEqual([
        {
          path: 'dependsOn.0',
          message: `${waiter} leads back to ${reused} (${reused} → ${waiter} → ${reused}): the tasks would wait for each other forever`,
        },
      ]);

      // The same id without the cycle is a new task (the old run is gone).
      const fresh = await reuse.post({ id: reused, title: `second life of ${reused}`, dependsOn: [existing] });
      expect(fresh.statusCode, fresh.body).toBe(201);
      expect((await reuse.waitFor(reused, (s) => s.status === 'waiting')).dependencies?.[0]?.taskId).toBe(existing);
    });

    it('does not count the edges of closed tasks: they never wait again', async () => {
      const first = reuse.taskId('T-first');
      await reuse.create({ id: first, title: `closed ${first}`, goal: 'g', acceptanceCriteria: ['c'], agents: { implement: 'quiet' } });
      const closed = await reuse.create(specOf(reuse, 'T-closed', 'quiet', { dependsOn: [first] }));
      await reuse.waitFor(closed, (s) => s.status === 'waiting');
      await reuse.tasks.signal(closed, 'cancel', { by: 'lead' });
      await reuse.waitFor(closed, (s) => s.status === 'cancelled');
      await reuse.tasks.signal(first, 'cancel', { by: 'lead' });
      await reuse.waitFor(first, (s) => s.status === 'cancelled');
      await forget(first);

      const again = await reuse.post({ id: first, title: `reopened ${first}`, dependsOn: [closed] });
      expect(again.statusCode, again.body).toBe(201);
      // Its dependency is closed (cancelled): it escalates at once instead of waiting forever.
      expect((await reuse.waitFor(first, (s) => s.status === 'escalated')).escalation?.reason).toBe('dependency-failed');
    });
  });
});
