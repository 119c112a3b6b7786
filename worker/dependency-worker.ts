/**
 * The dependency worker: runs the dependency waits (`waitForTask`) on `<queue>.dependencies`, beside the
 * orchestrator worker in the same process. A wait is idle almost all the time (one long-poll for the
 * dependency's close), so the worker takes hundreds at once; a wait lost with its worker is taken up by
 * another worker of the queue once its 30 s heartbeat timeout runs out (at once on a clean shutdown).
 */
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createDependencyActivities } from '../activities/dependencies';
import { dependencyTaskQueue } from '../workflows/dependencies';

/** Waits at once per process: each holds a slot and an idle stream, nothing more. */
export const DEPENDENCY_WAITS = 1_000;

export interface DependencyWorkerOptions {
  connection: NativeConnection;
  /** Long-polls the dependencies' close events. */
  client: Client;
  namespace: string;
  /** The orchestrator's queue; the dependency queue is derived from it. */
  taskQueue: string;
  /** Waits at once (default `DEPENDENCY_WAITS`). */
  maxConcurrent?: number;
}

export function createDependencyWorker(options: DependencyWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: dependencyTaskQueue(options.taskQueue),
    activities: createDependencyActivities({ client: options.client }),
    maxConcurrentActivityTaskExecutions: options.maxConcurrent ?? DEPENDENCY_WAITS,
    // On shutdown the waits are handed back at once (they hold no work worth finishing).
    shutdownGraceTime: '200ms',
  });
}
