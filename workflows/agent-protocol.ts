/**
 * The agent protocol of the public contract: what an agent receives (context) and what it reports
 * (result). Shared by the workflow, the agent drivers and the demo agents' tests.
 */
import { z } from 'zod';
import type { AgentStage, TaskSpec } from './spec';
import type { ChangeInfo, DiffStat, SecretFinding, WorkspaceRef } from './workspace';

export const AGENT_OUTCOMES = ['completed', 'approved', 'changes_requested', 'blocked', 'failed'] as const;
export type AgentOutcome = (typeof AGENT_OUTCOMES)[number];

export const DefinitionSchema = z.object({
  goal: z.string().min(1),
  acceptanceCriteria: z.array(z.string()).default([]),
});
export type Definition = z.output<typeof DefinitionSchema>;

/** v2: token usage and cost an agent reports for its run (each field optional; missing counts as 0). */
export const UsageSchema = z.object({
  inputTokens: z.number().int().min(0).max(1e12).optional(),
  outputTokens: z.number().int().min(0).max(1e12).optional(),
  costUsd: z.number().min(0).max(1e6).optional(),
});
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** The JSON an agent writes to `$BATON_RESULT_FILE` or as its last stdout line. */
export const AgentReportSchema = z.object({
  outcome: z.enum(AGENT_OUTCOMES),
  summary: z.string().max(20_000).optional(),
  feedback: z.string().max(50_000).optional(),
  confidence: z.number().min(0).max(1).optional(),
  definition: DefinitionSchema.optional(),
  usage: UsageSchema.optional(),
});
export type AgentReport = z.output<typeof AgentReportSchema>;

/** Which outcomes make sense for which stage; anything else is an invalid result. */
export const OUTCOMES_BY_STAGE: Record<AgentStage, readonly AgentOutcome[]> = {
  define: ['completed', 'approved', 'blocked', 'failed'],
  implement: ['completed', 'blocked', 'failed'],
  review: ['approved', 'changes_requested', 'blocked', 'failed'],
};

export interface FeedbackEntry {
  round: number;
  from: string;
  text: string;
}

export interface NoteEntry {
  at: string;
  by: string;
  text: string;
}

export interface StageResult {
  stage: AgentStage;
  round: number;
  agent: string;
  outcome: AgentOutcome;
  summary?: string;
  at: string;
  /** v2: what the run reported it used. */
  usage?: Usage;
  /** v2, review: the verdict's confidence and the commit it reviewed. */
  confidence?: number;
  reviewedCommit?: string;
  /** v2, implement: the branch head after the stage and its diff stat. */
  commit?: string;
  diffStat?: DiffStat;
}

/** Everything an agent gets, so nothing is copied by hand between agents. */
export interface AgentContext {
  taskId: string;
  stage: AgentStage;
  round: number;
  task: TaskSpec;
  definition: Definition | null;
  feedback: FeedbackEntry[];
  notes: NoteEntry[];
  results: StageResult[];
  /** v2: the task's branch, filled in by the driver on the agent's machine (never part of the workflow history). */
  workspace?: {
    worktree: string;
    branch: string;
    base: string;
    baseCommit: string;
    head: string;
  };
  /** v2, review: the change under review (diff against the base, bounded; the full diff is in the worktree). */
  change?: { head: string; diff: string; truncated: boolean; diffStat: DiffStat; files: string[] };
}

export interface AgentRunInput {
  workflowId: string;
  agent: string;
  context: AgentContext;
  /** How often the driver forwards signs of life to the workflow (throttled to bound history). */
  signOfLifeEveryMs: number;
  /** v2: the task's repository; the agent then runs in the task's worktree at `workspace.head`. */
  workspace?: WorkspaceRef;
  /**
   * When the work became ready for this agent, for the latency metrics: the task's creation (or the end of
   * its wait for dependencies) for its first stage, the previous stage's result for a handoff. Absent when a
   * human stepped in since, or on a retry.
   */
  readySince?: { kind: 'assignment' | 'handoff'; at: string };
}

/** What the agent activity returns: the validated report plus where its log went. */
export interface AgentRunResult extends AgentReport {
  agent: string;
  exitCode: number | null;
  logFile?: string;
  durationMs: number;
  /** v2, implement with a repository: the committed change, or the secrets that blocked the commit (redacted). */
  change?: ChangeInfo;
  secretFindings?: SecretFinding[];
  /** v2, review with a repository: the commit the verdict is about. */
  reviewedCommit?: string;
  /** v2: the task's worktree on the machine that ran the agent. */
  worktree?: string;
}

/** Adds one run's usage to a total (missing fields count as 0). */
export function addUsage(total: Usage, usage: z.output<typeof UsageSchema> | undefined): Usage {
  return {
    inputTokens: total.inputTokens + (usage?.inputTokens ?? 0),
    outputTokens: total.outputTokens + (usage?.outputTokens ?? 0),
    // Whole micro-dollars keep the running sum free of float drift.
    costUsd: Math.round((total.costUsd + (usage?.costUsd ?? 0)) * 1e6) / 1e6,
  };
}

export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
