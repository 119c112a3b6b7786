/**
 * Signals and queries of `taskWorkflow`, with the zod schema of every signal payload (workflows/signal-payloads.ts).
 * Clients (API, CLI) import this module without importing workflow code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { SIGNAL_NAMES, type SignalName } from './signal-payloads';
import type { TaskState } from './state';

export { isSignalName, SIGNAL_NAMES, SIGNAL_PAYLOADS, type SignalName, type SignalPayload } from './signal-payloads';

/**
 * Signal definitions. The argument is typed `unknown` on purpose: the workflow validates it and
 * records a malformed payload as `signal-rejected` instead of failing.
 */
export const signals: { [N in SignalName]: ReturnType<typeof defineSignal<[unknown], N>> } = Object.fromEntries(
  SIGNAL_NAMES.map((name) => [name, defineSignal<[unknown]>(name)]),
) as never;

/** Returns the task state (the same object `GET /tasks/:taskId` answers). */
export const stateQuery = defineQuery<TaskState>('state');
