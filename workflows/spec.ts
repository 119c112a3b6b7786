/**
 * The task spec: what `POST /tasks` accepts and what `taskWorkflow` starts from.
 * Pure zod, no I/O, so the API and the workflow bundle share one definition.
 */
import { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time';

export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const TaskIdSchema = z.string().regex(TASK_ID_PATTERN, 'task id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');

export const STAGES = ['define', 'implement', 'review', 'done'] as const;
export type Stage = (typeof STAGES)[number];
export const AGENT_STAGES = ['define', 'implement', 'review'] as const;
export type AgentStage = (typeof AGENT_STAGES)[number];

export const PRIORITIES = ['P0', 'P1', 'P2'] as const;
export const PrioritySchema = z.enum(PRIORITIES);
export type Priority = z.infer<typeof PrioritySchema>;

/** Durations in Temporal's forms: `"2h"`, `"10 minutes"`, `"5s"`, or milliseconds. */
export const DurationSchema = z.union([z.string(), z.number()]).refine(
  (value) => {
    try {
      return msToNumber(value) > 0;
    } catch {
      return false;
    }
  },
  { message: 'expected a positive duration such as "2h", "10 minutes" or "5s"' },
);
export type DurationInput = z.infer<typeof DurationSchema>;

/** Parses a validated duration to milliseconds. */
export function durationMs(value: DurationInput): number {
  return msToNumber(value);
}

const AgentName = z.string().min(1).max(128);

export const PolicySchema = z
  .object({
    stallTimeout: DurationSchema.optional(),
    idleTimeout: DurationSchema.optional(),
    reescalateAfter: DurationSchema.optional(),
    maxReviewRounds: z.number().int().min(1).max(100).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

export const TaskSpecSchema = z
  .object({
    id: TaskIdSchema.optional(),
    title: z.string().trim().min(1, 'title must not be empty').max(500),
    goal: z.string().max(20_000).optional(),
    acceptanceCriteria: z.array(z.string().min(1).max(2_000)).max(100).optional(),
    priority: PrioritySchema.default('P1'),
    capabilities: z.array(z.string().min(1).max(64)).max(32).default([]),
    dependsOn: z.array(TaskIdSchema).max(100).default([]),
    agents: z
      .object({ define: AgentName.optional(), implement: AgentName.optional(), review: AgentName.optional() })
      .strict()
      .default({}),
    policy: PolicySchema.default({}),
    repo: z
      .object({
        path: z.string().startsWith('/', 'repo.path must be an absolute path'),
        baseBranch: z.string().min(1).default('main'),
      })
      .strict()
      .optional(),
    context: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** What a client sends (defaults not applied yet). */
export type TaskSpecInput = z.input<typeof TaskSpecSchema>;
/** A validated spec with its id resolved. */
export type TaskSpec = z.output<typeof TaskSpecSchema> & { id: string };

/** Deployment-wide clock defaults, applied where the spec's policy is silent. */
export interface PolicyDefaults {
  stallTimeoutMs: number;
  idleTimeoutMs: number;
  reescalateAfterMs: number;
  maxReviewRounds: number;
  maxAttempts: number;
}

export const DEFAULT_POLICY: PolicyDefaults = {
  stallTimeoutMs: 2 * 60 * 60 * 1000,
  idleTimeoutMs: 10 * 60 * 1000,
  reescalateAfterMs: 60 * 60 * 1000,
  maxReviewRounds: 3,
  maxAttempts: 3,
};

/** The effective policy of one task, in milliseconds. */
export function effectivePolicy(policy: Policy, defaults: PolicyDefaults): PolicyDefaults {
  return {
    stallTimeoutMs: policy.stallTimeout !== undefined ? durationMs(policy.stallTimeout) : defaults.stallTimeoutMs,
    idleTimeoutMs: policy.idleTimeout !== undefined ? durationMs(policy.idleTimeout) : defaults.idleTimeoutMs,
    reescalateAfterMs:
      policy.reescalateAfter !== undefined ? durationMs(policy.reescalateAfter) : defaults.reescalateAfterMs,
    maxReviewRounds: policy.maxReviewRounds ?? defaults.maxReviewRounds,
    maxAttempts: policy.maxAttempts ?? defaults.maxAttempts,
  };
}

export function workflowIdForTask(taskId: string): string {
  return `task-${taskId}`;
}
