/**
 * `waitForTask`: waits for one task's workflow to close and reports how it ended (queue `<queue>.dependencies`,
 * see workflows/dependencies.ts). It long-polls the workflow's close event through the client, heartbeating
 * meanwhile, so a waiting task costs a worker slot and an idle gRPC stream, and no history.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import {
  WorkflowContinuedAsNewError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { DependencyOutcome, WaitForTaskInput } from '../workflows/dependencies';
import { workflowIdForTask } from '../workflows/spec';
import type { TaskState } from '../workflows/state';

export interface DependencyActivityDeps {
  client: Client;
  /** How often a wait heartbeats (its heartbeat timeout is 30 s); default 10 s. */
  heartbeatEveryMs?: number;
}

/** What a wait remembers across attempts: the run it follows (a continued dependency moves it on). */
interface WaitProgress {
  runId: string;
}

export function createDependencyActivities(deps: DependencyActivityDeps) {
  const { client } = deps;
  const heartbeatEveryMs = deps.heartbeatEveryMs ?? 10_000;

  /** The run to follow: the one an earlier attempt followed, else the task's current run. */
  async function firstRun(workflowId: string): Promise<string | null> {
    const progress = Context.current().info.heartbeatDetails as WaitProgress | undefined;
    if (progress?.runId) return progress.runId;
    try {
      return (await client.workflow.getHandle(workflowId).describe()).runId;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  return {
    async waitForTask({ taskId }: WaitForTaskInput): Promise<DependencyOutcome> {
      const ctx = Context.current();
      const workflowId = workflowIdForTask(taskId);
      let runId = await firstRun(workflowId);
      if (runId === null) return { taskId, status: 'not-found' };
      ctx.heartbeat({ runId } satisfies WaitProgress);
      const beat = setInterval(() => ctx.heartbeat({ runId }), heartbeatEveryMs);
      try {
        for (;;) {
          try {
            // A task's workflow returns its final state: `completed`, or `cancelled` when a human (or Temporal) cancelled it.
            const state = await client.withAbortSignal(ctx.cancellationSignal, () =>
              client.workflow.result(workflowId, runId!, { followRuns: false }),
            ) as TaskState | undefined;
            if (state?.status === 'cancelled') {
              const by = [state.outcome?.by && `by ${state.outcome.by}`, state.outcome?.reason].filter(Boolean).join(': ');
              return { taskId, status: 'cancelled', ...(by ? { detail: by } : {}) };
            }
            return { taskId, status: 'completed' };
          } catch (error) {
            if (error instanceof WorkflowContinuedAsNewError) {
              runId = error.newExecutionRunId;
              ctx.heartbeat({ runId } satisfies WaitProgress);
              continue;
            }
            if (error instanceof WorkflowFailedError) return { taskId, ...closedBy(error) };
            // The run is gone (retention, or deleted): nothing tells how it ended.
            if (error instanceof WorkflowNotFoundError) return { taskId, status: 'not-found' };
            if (ctx.cancellationSignal.aborted) {
              // A worker shutting down hands the wait to another worker at once; a cancelled wait ends here.
              if (ctx.cancellationDetails?.workerShutdown) throw ApplicationFailure.retryable('the worker is shutting down', 'WorkerShutdown');
              throw new CancelledFailure('wait cancelled');
            }
            throw error;
          }
        }
      } finally {
        clearInterval(beat);
      }
    },
  };
}

function closedBy(error: WorkflowFailedError): Pick<DependencyOutcome, 'status' | 'detail'> {
  const { cause } = error;
  if (cause instanceof TerminatedFailure) return { status: 'terminated', detail: error.message };
  if (cause instanceof TimeoutFailure) return { status: 'timed-out' };
  if (cause instanceof CancelledFailure) return { status: 'cancelled', detail: 'cancelled through Temporal' };
  return { status: 'failed', detail: cause?.message ?? error.message };
}

export type DependencyActivityImplementations = ReturnType<typeof createDependencyActivities>;
