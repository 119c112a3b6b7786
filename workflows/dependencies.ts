/**
 * Task dependencies (`spec.dependsOn`): a task waits, status `waiting`, until every task it depends on has
 * completed. The waiting is one activity per dependency (`waitForTask`, on the `<queue>.dependencies` queue)
 * that returns when the dependency's workflow closes: no timer, no polling loop, so a task that waits for
 * days keeps a history of a few dozen events. A dependency that ends any other way (cancelled, failed,
 * terminated, timed out, gone) escalates the task `dependency-failed`.
 *
 * Deterministic code only: it runs inside `taskWorkflow` through the small `DependencyHost` the run hands it.
 */
import * as wf from '@temporalio/workflow';
import type { EscalationReason, TaskState, TimelineType } from './state';

/** Runs started before dependencies were honoured ignore `dependsOn` (their histories replay unchanged). */
export const DEPENDENCIES_PATCH = 'task-dependencies';

/** The queue of the dependency waits, served by the dependency worker beside the orchestrator worker. */
export function dependencyTaskQueue(baseQueue: string): string {
  return `${baseQueue}.dependencies`;
}

/** How a dependency ended, as `waitForTask` reports it. */
export const DEPENDENCY_OUTCOMES = ['completed', 'cancelled', 'failed', 'terminated', 'timed-out', 'not-found'] as const;
export type DependencyOutcomeStatus = (typeof DEPENDENCY_OUTCOMES)[number];

export interface WaitForTaskInput {
  taskId: string;
}

export interface DependencyOutcome {
  taskId: string;
  status: DependencyOutcomeStatus;
  /** Who ended it and why (a cancelled task's outcome), or the failure's message. */
  detail?: string;
}

export interface DependencyActivities {
  /** Returns once the task's workflow (followed across continue-as-new) has closed. */
  waitForTask(input: WaitForTaskInput): Promise<DependencyOutcome>;
}

/**
 * One dependency as `state.dependencies` shows it: `waiting` while its wait runs, then how it ended;
 * `skipped` when the task started (a human approved) or was cancelled before it ended.
 */
export interface DependencyEntry {
  taskId: string;
  status: 'waiting' | 'skipped' | DependencyOutcomeStatus;
  /** When it got its current status. */
  at: string;
  detail?: string;
}

/** A human decision as the run holds it (the part the wait reads). */
export interface HostAction {
  kind: string;
  by?: string;
}

/** What `awaitDependencies` needs of the task run. */
export interface DependencyHost {
  readonly state: TaskState;
  record(type: TimelineType, detail: string): void;
  escalate(reason: EscalationReason, detail: string): void;
  resolveEscalation(by: string, how: string): void;
  markProgress(): void;
  sync(): void;
  /** Waits while the escalation clocks run (while waiting only the reminder clock of an escalation does). */
  waitUntil(done: () => boolean): Promise<void>;
  /** Enters or leaves the waiting phase: status `waiting`, stall and idle clocks off, `approve` / `retry` taken. */
  setWaiting(waiting: boolean): void;
  action(): HostAction | null;
  clearAction(): void;
}

/** Signals refused while the task waits for its dependencies (see `awaitDependencies` for the others). */
export function refusedWhileWaiting(name: string, state: TaskState): string | undefined {
  if (name !== 'requestChanges' && name !== 'reassign') return undefined;
  const waiting = (state.dependencies ?? []).filter((d) => d.status === 'waiting').map((d) => d.taskId);
  const what = waiting.length > 0 ? `its dependencies (${waiting.join(', ')})` : 'a human after a dependency failed';
  return `the task has not started: it waits for ${what}; approve starts it now, cancel ends it`;
}

function nowIso(): string {
  return new Date().toISOString();
}

function describe(outcome: DependencyOutcome): string {
  const how =
    outcome.status === 'completed'
      ? 'completed'
      : outcome.status === 'not-found'
        ? 'no longer exists'
        : outcome.status === 'timed-out'
          ? 'timed out'
          : `was ${outcome.status}`;
  return `${outcome.taskId} ${how}${outcome.detail ? ` (${outcome.detail})` : ''}`;
}

function waitForTask(taskId: string): Promise<DependencyOutcome> {
  return wf
    .proxyActivities<DependencyActivities>({
      taskQueue: dependencyTaskQueue(wf.workflowInfo().taskQueue),
      // An attempt that outlives this is simply started again; the wait itself has no limit.
      startToCloseTimeout: '24h',
      // A worker that goes away loses the wait within 30 s; the retry (any worker of the queue) resumes it.
      heartbeatTimeout: '30s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
      summary: `wait for ${taskId}`,
    })
    .waitForTask({ taskId });
}

/**
 * Waits until every dependency has completed, then returns and the task starts. A dependency that ended any
 * other way escalates `dependency-failed`; the human answers with `approve` (start anyway), `retry` (wait
 * again for the dependencies that did not complete, following each id's latest run) or `cancel`.
 * `approve` before that starts the task at once; `cancel` returns with the action still pending, for the
 * run to close the task. Whatever way it returns, no wait is left running.
 */
export async function awaitDependencies(host: DependencyHost): Promise<void> {
  const { state } = host;
  const ids = [...new Set(state.spec.dependsOn)];
  if (ids.length === 0) return;
  const at = nowIso();
  const entries: DependencyEntry[] = ids.map((taskId) => ({ taskId, status: 'waiting', at }));
  state.dependencies = entries;
  const scopes = new Map<string, wf.CancellationScope>();
  const arrived: DependencyOutcome[] = [];

  const startWait = (entry: DependencyEntry) => {
    entry.status = 'waiting';
    entry.at = nowIso();
    delete entry.detail;
    if (entry.taskId === state.taskId) {
      arrived.push({ taskId: entry.taskId, status: 'failed', detail: 'a task cannot wait for itself' });
      return;
    }
    const scope = new wf.CancellationScope();
    scopes.set(entry.taskId, scope);
    scope.run(() => waitForTask(entry.taskId)).then(
      (outcome) => {
        if (scopes.get(entry.taskId) === scope) arrived.push(outcome);
      },
      (error: unknown) => {
        // A wait cancelled here (approve, retry, cancel) or with the whole workflow is not an outcome.
        if (wf.isCancellation(error) || scopes.get(entry.taskId) !== scope) return;
        arrived.push({ taskId: entry.taskId, status: 'failed', detail: error instanceof Error ? error.message : String(error) });
      },
    );
  };
  const stopWaits = (mark: boolean) => {
    for (const [taskId, scope] of scopes) {
      scopes.delete(taskId);
      scope.cancel();
    }
    if (!mark) return;
    for (const entry of entries) {
      if (entry.status !== 'waiting') continue;
      entry.status = 'skipped';
      entry.at = nowIso();
    }
  };
  const waitingFor = () => entries.filter((e) => e.status === 'waiting').map((e) => e.taskId);

  host.setWaiting(true);
  host.record('waiting', `waiting for ${ids.join(', ')} to complete before the task starts`);
  host.sync();
  entries.forEach(startWait);
  try {
    for (;;) {
      await host.waitUntil(() => arrived.length > 0 || host.action() !== null);
      const action = host.action();
      if (action?.kind === 'cancel') {
        stopWaits(true);
        return;
      }
      if (action?.kind === 'approve') {
        host.clearAction();
        const skipped = waitingFor();
        stopWaits(true);
        const without = skipped.length > 0 ? ` without waiting for ${skipped.join(', ')}` : '';
        host.resolveEscalation(action.by ?? 'a human', `approved: the task starts${without}`);
        host.record('dependency', `started by ${action.by ?? 'a human'}${without}`);
        return;
      }
      if (action?.kind === 'retry') {
        host.clearAction();
        const again = entries.filter((e) => e.status !== 'completed');
        for (const entry of again) {
          const scope = scopes.get(entry.taskId);
          scopes.delete(entry.taskId);
          scope?.cancel();
        }
        if (state.escalation?.reason === 'dependency-failed') {
          host.resolveEscalation(action.by ?? 'a human', `retry: waiting again for ${again.map((e) => e.taskId).join(', ')}`);
        }
        again.forEach(startWait);
        if (again.length > 0) host.record('waiting', `waiting again for ${again.map((e) => e.taskId).join(', ')} (retry by ${action.by ?? 'a human'})`);
        host.sync();
      } else if (action) {
        // Refused while waiting (`refusedWhileWaiting`); nothing else reaches here.
        host.clearAction();
      }
      const failed: DependencyOutcome[] = [];
      for (const outcome of arrived.splice(0)) {
        const entry = entries.find((e) => e.taskId === outcome.taskId);
        if (!entry || entry.status !== 'waiting') continue;
        scopes.delete(outcome.taskId);
        entry.status = outcome.status;
        entry.at = nowIso();
        if (outcome.detail) entry.detail = outcome.detail;
        const rest = waitingFor();
        const ready = entries.every((e) => e.status === 'completed');
        const then = ready ? ': the task starts' : rest.length > 0 ? `; still waiting for ${rest.join(', ')}` : '';
        host.record('dependency', `${describe(outcome)}${then}`);
        if (outcome.status !== 'completed') failed.push(outcome);
      }
      if (failed.length > 0 && state.escalation?.reason !== 'dependency-failed') {
        host.escalate('dependency-failed', `${failed.map(describe).join('; ')}: approve to start anyway, retry to wait again, or cancel`);
      }
      if (entries.every((e) => e.status === 'completed')) return;
      host.sync();
    }
  } finally {
    // Every way out (including a cancellation of the whole workflow) leaves the waiting phase.
    stopWaits(false);
    host.setWaiting(false);
    host.markProgress();
    host.sync();
  }
}
