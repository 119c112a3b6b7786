/**
 * The one serializable task state: what the `state` query returns and what continue-as-new carries.
 * Times are ISO strings, never Date objects.
 */
import type { Definition, FeedbackEntry, NoteEntry, StageResult, Usage } from './agent-protocol';
import type { AgentStage, EffectivePolicy, PolicyDefaults, Priority, Stage, TaskSpec } from './spec';
import type { BranchState, GateRun, RepoConfig } from './workspace';
import type { DependencyEntry } from './dependencies';

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
  'budget',
  /** v2: the repository, its `.baton.yaml` or delivery needs a human (no gate commands, a gate that cannot run, a blocked merge). */
  'workspace',
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
  | 'continued'
  | 'workspace'
  | 'gate'
  | 'commit'
  | 'secret-blocked'
  | 'conflict'
  | 'delivered'
  | 'budget'
  /** v2 fleet: a stage moved to another agent because its agent had no live worker left. */
  | 'failover'
  /** v2 fleet: work not yet started went back to the queue (a new priority). */
  | 'requeued'
  /** v2: the task waits for its dependencies (`spec.dependsOn`) before it starts. */
  | 'waiting'
  /** v2: a dependency ended (completed, or not), or the task started without it. */
  | 'dependency';

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
  policy: EffectivePolicy;
  /** v2: token usage and cost the agents reported, summed. */
  cost: Usage;
  /** v2: the task's branch and worktree, for a task with a repository (null before it is opened, or without one). */
  branch: BranchState | null;
  /** v2: every gate run, oldest first (bounded: the oldest are dropped past GATES_LIMIT). */
  gates: GateRun[];
  /** v2: the repository's `.baton.yaml` as read from the base when the task opened its branch. */
  repoConfig: RepoConfig | null;
  /**
   * v2: where the current stage is: its agent run, the gates after implement, or integration and delivery
   * after an approving review. `retry` runs the current step again; `approve` at an escalation passes it.
   */
  step: TaskStep;
  /** v2: the tasks of `spec.dependsOn` and how each ended; absent for a task without dependencies. */
  dependencies?: DependencyEntry[];
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

export type TaskStep = 'agent' | 'gates' | 'deliver';

export const TIMELINE_LIMIT = 500;
export const GATES_LIMIT = 200;
