/**
 * The task spec: what `POST /tasks` accepts and what `taskWorkflow` starts from.
 * Pure zod, no I/O, so the API and the workflow bundle share one definition.
 */
import { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time';
import { DELIVER_POLICIES, GATE_PROFILES, type DeliverPolicy, type GatesPolicy } from './workspace';

/**
 * A string matching `pattern`, documented as its JSON Schema `pattern`. A refinement rather than zod's
 * `.regex()`: workers share this module between workflows deep-frozen (workflows/shared-schemas.ts), and
 * `.regex()` resets the pattern's `lastIndex` before each test, which a frozen pattern refuses.
 */
function matching(pattern: RegExp, message: string, base = z.string()) {
  return base
    .refine((value) => pattern.test(value), message)
    .meta({ pattern: pattern.source });
}

export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const TaskIdSchema = matching(TASK_ID_PATTERN, 'task id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');

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
    /** v2: quality gate profile, or an explicit skip; default from the repository's `.baton.yaml`. */
    gates: z.enum([...GATE_PROFILES, 'skip']).optional(),
    /** v2: a review approves only with at least this confidence (default 0.9). */
    minConfidence: z.number().min(0).max(1).optional(),
    /** v2: budget in US dollars; once the reported cost reaches it, no further stage starts (escalation `budget`). */
    maxCostUsd: z.number().positive().max(1_000_000).optional(),
    /** v2: what done means for the branch: leave it (`branch`), push it, or merge it into the base. */
    deliver: z.enum(DELIVER_POLICIES).optional(),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

/**
 * A URL with credentials would land in the workflow history: `scheme://user:password@host`, or an http(s)
 * URL with a user part (a token passed as the user name). `ssh://git@host` and `git@host:x` carry no secret.
 */
function hasEmbeddedCredentials(url: string): boolean {
  const userinfo = /^([a-z][a-z0-9+.-]*):\/\/([^/@\s]+)@/i.exec(url);
  if (!userinfo) return false;
  return userinfo[2]!.includes(':') || /^https?$/i.test(userinfo[1]!);
}

/** Branch names git accepts, without the forms that would be read as options or ranges. */
const BranchName = matching(/^(?!-)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/-]+(?<![./])$/, 'baseBranch must be a plain branch name such as "main"', z.string().min(1).max(200));

export const RepoSchema = z
  .object({
    path: z.string().startsWith('/', 'repo.path must be an absolute path').optional(),
    url: z
      .string()
      .min(1)
      .max(2_000)
      .refine((url) => !url.startsWith('-'), 'repo.url must not start with "-"')
      .refine((url) => !hasEmbeddedCredentials(url), {
        message: 'repo.url must not carry credentials (they would be stored in the task history); use a git credential helper or SSH key',
      })
      .optional(),
    baseBranch: BranchName.default('main'),
  })
  .strict()
  .refine((repo) => (repo.path === undefined) !== (repo.url === undefined), {
    message: 'repo needs exactly one of path (a repository on the agent machine) or url (a remote every agent machine reaches)',
  });

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
    repo: RepoSchema.optional(),
    context: z.record(z.string(), z.unknown()).optional(),
    /** v2: start even when an open task has the same title and goal (otherwise 409 `DuplicateTask`). */
    allowDuplicate: z.boolean().optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    // v2: a task never waits for itself, and names each dependency once.
    spec.dependsOn.forEach((taskId, index) => {
      if (taskId === spec.id) ctx.addIssue({ code: 'custom', path: ['dependsOn', index], message: `a task cannot depend on itself (${taskId})` });
      else if (spec.dependsOn.indexOf(taskId) !== index) ctx.addIssue({ code: 'custom', path: ['dependsOn', index], message: `${taskId} is listed twice` });
    });
  })
  .refine((spec) => !spec.agents.implement || spec.agents.implement !== spec.agents.review, {
    message: 'agents.review must differ from agents.implement: a change is never reviewed by the agent that made it',
    path: ['agents', 'review'],
  })
  .refine((spec) => !spec.repo || spec.id === undefined || isBranchSafe(spec.id), {
    message: 'a task with a repository works on branch baton/<id>: the id must not contain ".." nor end with "." or ".lock"',
    path: ['id'],
  });

/** Task ids that git accepts in a branch name (`baton/<id>`). */
function isBranchSafe(id: string): boolean {
  return !id.includes('..') && !id.endsWith('.') && !id.endsWith('.lock');
}

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

/** The effective policy of one task: clock defaults plus the v2 fields. */
export interface EffectivePolicy extends PolicyDefaults {
  gates?: GatesPolicy;
  minConfidence: number;
  maxCostUsd: number | null;
  deliver: DeliverPolicy;
}

export const DEFAULT_POLICY: PolicyDefaults = {
  stallTimeoutMs: 2 * 60 * 60 * 1000,
  idleTimeoutMs: 10 * 60 * 1000,
  reescalateAfterMs: 60 * 60 * 1000,
  maxReviewRounds: 3,
  maxAttempts: 3,
};

export const DEFAULT_MIN_CONFIDENCE = 0.9;

/** The effective policy of one task, durations in milliseconds. */
export function effectivePolicy(policy: Policy, defaults: PolicyDefaults): EffectivePolicy {
  return {
    ...(policy.gates !== undefined ? { gates: policy.gates } : {}),
    minConfidence: policy.minConfidence ?? DEFAULT_MIN_CONFIDENCE,
    maxCostUsd: policy.maxCostUsd ?? null,
    deliver: policy.deliver ?? 'branch',
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
