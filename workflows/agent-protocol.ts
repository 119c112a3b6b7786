/**
 * The agent protocol of the public contract: what an agent receives (context) and what it reports
 * (result). Shared by the workflow, the agent drivers and the demo agents' tests.
 */
import { z } from 'zod';
import type { AgentStage, TaskSpec } from './spec';

export const AGENT_OUTCOMES = ['completed', 'approved', 'changes_requested', 'blocked', 'failed'] as const;
export type AgentOutcome = (typeof AGENT_OUTCOMES)[number];

export const DefinitionSchema = z.object({
  goal: z.string().min(1),
  acceptanceCriteria: z.array(z.string()).default([]),
});
export type Definition = z.output<typeof DefinitionSchema>;

/** The JSON an agent writes to `$BATON_RESULT_FILE` or as its last stdout line. */
export const AgentReportSchema = z.object({
  outcome: z.enum(AGENT_OUTCOMES),
  summary: z.string().max(20_000).optional(),
  feedback: z.string().max(50_000).optional(),
  confidence: z.number().min(0).max(1).optional(),
  definition: DefinitionSchema.optional(),
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
}

export interface AgentRunInput {
  workflowId: string;
  agent: string;
  context: AgentContext;
  /** How often the driver forwards signs of life to the workflow (throttled to bound history). */
  signOfLifeEveryMs: number;
}

/** What the agent activity returns: the validated report plus where its log went. */
export interface AgentRunResult extends AgentReport {
  agent: string;
  exitCode: number | null;
  logFile?: string;
  durationMs: number;
}
