/**
 * The zod schema of every signal payload of `taskWorkflow` (zod only: workers share this module between
 * workflows, see workflows/shared-schemas.ts). Import it through workflows/messages.ts.
 */
import { z } from 'zod';
import { AGENT_STAGES, PrioritySchema } from './spec';

const By = z.string().trim().min(1).max(128);
const Text = z.string().trim().min(1).max(20_000);

/** Payload schema of every signal of the public contract, keyed by signal name. */
export const SIGNAL_PAYLOADS = {
  approve: z.object({ by: By, comment: z.string().max(20_000).optional() }),
  requestChanges: z.object({ by: By, feedback: Text }),
  reassign: z.object({ by: By, agent: z.string().min(1).max(128).optional(), stage: z.enum(AGENT_STAGES).optional() }),
  retry: z.object({ by: By }),
  cancel: z.object({ by: By, reason: z.string().max(2_000).optional() }),
  pause: z.object({ by: By }),
  resume: z.object({ by: By }),
  setPriority: z.object({ by: By, priority: PrioritySchema }),
  addNote: z.object({ by: By, text: Text }),
  escalate: z.object({ by: By, reason: Text }),
  progress: z.object({ agent: z.string().min(1).max(128), message: z.string().max(2_000).optional() }),
  /** v2: raise (or set) the task's budget; answers a `budget` escalation. */
  setBudget: z.object({ by: By, maxCostUsd: z.number().positive().max(1_000_000) }),
  heartbeat: z.object({ agent: z.string().min(1).max(128) }),
} as const;

export type SignalName = keyof typeof SIGNAL_PAYLOADS;
export type SignalPayload<N extends SignalName> = z.output<(typeof SIGNAL_PAYLOADS)[N]>;
export const SIGNAL_NAMES = Object.keys(SIGNAL_PAYLOADS) as SignalName[];

export function isSignalName(name: string): name is SignalName {
  return Object.prototype.hasOwnProperty.call(SIGNAL_PAYLOADS, name);
}
