/** Response and error schemas of the REST API (request schemas come from `workflows/spec.ts` and `messages.ts`). */
import { z } from 'zod';
import { ESCALATION_REASONS, TASK_STATUSES } from '../workflows/state';
import { PRIORITIES, STAGES, TaskIdSchema } from '../workflows/spec';
import { DELIVER_POLICIES } from '../workflows/workspace';

export const TaskParamsSchema = z.object({ taskId: TaskIdSchema });

export const ErrorSchema = z.object({ error: z.string(), message: z.string().optional() });
export const ValidationErrorSchema = z.object({
  error: z.literal('ValidationError'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })),
});

/** 409 on `POST /tasks`: the id is taken, or (v2) an open task has the same title and goal. */
export const TaskConflictSchema = z.union([
  z.object({ error: z.literal('TaskAlreadyExists'), taskId: z.string() }),
  z.object({ error: z.literal('DuplicateTask'), taskId: z.string(), workflowId: z.string(), message: z.string() }),
]);

export const StartedTaskSchema = z.object({
  taskId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  links: z.object({ self: z.string(), ui: z.string().nullable() }),
});

const UsageOut = z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() });

/** The task state; fields beyond the contract's pass through. */
export const TaskStateSchema = z.looseObject({
  taskId: z.string(),
  workflowId: z.string(),
  title: z.string(),
  priority: z.enum(PRIORITIES),
  stage: z.enum(STAGES),
  status: z.enum(TASK_STATUSES),
  assignee: z.object({ agent: z.string(), stage: z.string(), since: z.string() }).nullable(),
  round: z.number(),
  definition: z.object({ goal: z.string(), acceptanceCriteria: z.array(z.string()) }).nullable(),
  feedback: z.array(z.object({ round: z.number(), from: z.string(), text: z.string() })),
  escalation: z
    .object({
      reason: z.enum(ESCALATION_REASONS),
      since: z.string(),
      detail: z.string().optional(),
      by: z.string().optional(),
      notifications: z.number(),
      lastNotifiedAt: z.string().optional(),
    })
    .nullable(),
  timeline: z.array(z.object({ at: z.string(), type: z.string(), detail: z.string() })),
  cost: UsageOut.optional(),
  branch: z
    .object({
      name: z.string(),
      base: z.string(),
      baseCommit: z.string(),
      head: z.string(),
      worktree: z.string().nullable(),
      workedBy: z.string(),
      agents: z.array(z.string()),
      delivered: z
        .object({ how: z.enum(DELIVER_POLICIES), commit: z.string(), at: z.string(), detail: z.string() })
        .optional(),
    })
    .nullable()
    .optional(),
  gates: z
    .array(
      z.object({
        round: z.number(),
        name: z.string(),
        ok: z.boolean(),
        exitCode: z.number().nullable(),
        durationMs: z.number(),
        tail: z.string(),
        command: z.array(z.string()),
        commit: z.string(),
        on: z.enum(['change', 'merge']),
        timedOut: z.boolean().optional(),
        notRunnable: z.boolean().optional(),
      }),
    )
    .optional(),
});

export const TaskSummarySchema = z.object({
  taskId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  title: z.string().nullable(),
  stage: z.string().nullable(),
  status: z.string().nullable(),
  priority: z.string().nullable(),
  agent: z.string().nullable(),
  costUsd: z.number().nullable(),
  gates: z.string().nullable(),
  workflowStatus: z.string(),
  startTime: z.string(),
  closeTime: z.string().nullable(),
});
