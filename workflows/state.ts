/**
 * The one serializable task state: what the `state` query returns and what continue-as-new carries.
 * Times are ISO strings, never Date objects.
 */
import type { Definition, FeedbackEntry, NoteEntry, StageResult } from './agent-protocol';
import type { AgentStage, PolicyDefaults, Priority, Stage, TaskSpec } from './spec';

export const TASK_STATUSES = [
  'queued',
  'running',
  'waiting',
  'escalated',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const ESCALATION_REASONS = [
  'stall',
  'idle',
  'review-rounds',
  'agent-failed',
  'agent-blocked',
  'dependency-failed',
  'manual',
] as const;
export type EscalationReason = (typeof ESCALATION_REASONS)[number];

export interface Assignee {
  agent: string;
  stage: AgentStage;
  since: string;
}

export interface Escalation {
  reason: EscalationReason;
  since: string;
  detail?: string;
  by?: string;
  /** How many notifications (first one plus reminders) were sent for it. */
  notifications: number;
  lastNotifiedAt?: string;
}

export type TimelineType =
  | 'created'
  | 'stage'
  | 'assigned'
  | 'result'
  | 'attempt-failed'
  | 'escalated'
  | 'reminder'
  | 'resolved'
  | 'signal'
  | 'signal-rejected'
  | 'progress'
  | 'continued';

export interface TimelineEntry {
  at: string;
  type: TimelineType;
  detail: string;
}

export interface TaskState {
  taskId: string;
  workflowId: string;
  title: string;
  priority: Priority;
  stage: Stage;
  status: TaskStatus;
  assignee: Assignee | null;
  round: number;
  definition: Definition | null;
  feedback: FeedbackEntry[];
  escalation: Escalation | null;
  timeline: TimelineEntry[];
  /** Timeline entries dropped to keep the state bounded (the full story stays in Temporal's history). */
  timelineDropped: number;
  notes: NoteEntry[];
  results: StageResult[];
  /** Agents a human pinned to a stage with `reassign`. */
  agentOverrides: Partial<Record<AgentStage, string>>;
  paused: { by: string; since: string } | null;
  /** Escalation clocks: the last progress and the last sign of life, ISO times. */
  clocks: { lastProgressAt: string; lastSignOfLifeAt: string };
  policy: PolicyDefaults;
  spec: TaskSpec;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  /** How the task ended when it did not complete: who cancelled and why, or why it failed. */
  outcome: { by?: string; reason?: string } | null;
}

/** Input of `taskWorkflow`; `state` is set only when a run continues as new. */
export interface TaskWorkflowInput {
  spec: TaskSpec;
  defaults: PolicyDefaults;
  state?: TaskState;
}

export const TIMELINE_LIMIT = 500;
