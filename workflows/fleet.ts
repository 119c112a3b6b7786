/**
 * The fleet's shared contract: how an agent is known to Temporal (its record workflow), what the
 * orchestrator's routing activities answer, and how a task's priority maps onto task-queue priority.
 * Types and pure helpers only: imported by the workflows, the activities, the API and the MCP server.
 */
import type { AgentStage, Priority } from './spec';

/** An agent runs a worker (command or preset; `baton agent`), or claims its work over REST or MCP. */
export type AgentKind = 'worker' | 'claim';

/** What a record workflow holds about one agent (its memo), published by the process that runs it. */
export interface AgentDescriptor {
  name: string;
  kind: AgentKind;
  roles: AgentStage[];
  capabilities: string[];
  /** Activity slots per worker (`maxConcurrent` holds per worker; replicas add up). */
  maxConcurrent: number;
  preset?: string;
  model?: string;
}

/**
 * Workflow type and id of an agent's record (the registry `GET /agents` and the routing read). It runs on
 * the orchestrator's queue; its id is the agent's own queue name (`baton.agent.coder`), so deployments on
 * different base queues in one namespace never share a record. Its memo holds `{ agent: AgentDescriptor }`.
 */
export const AGENT_RECORD_WORKFLOW_TYPE = 'agentRecord';
export function agentRecordWorkflowId(baseQueue: string, name: string): string {
  return `${baseQueue}.agent.${name}`;
}

/** Sent to an agent's record when one of its stages ends (by its worker, or by the API for a claimed item). */
export const STAGE_FINISHED_SIGNAL = 'stageFinished';
export interface StageFinished {
  taskId: string;
  stage: AgentStage;
  ok: boolean;
  durationMs: number;
}

/** The agent a stage goes to; `kind` decides its timeouts (a claimed item has no activity heartbeat timeout). */
export interface ChosenAgent {
  agent: string;
  /** Absent in results recorded before the fleet existed: treat as `worker`. */
  kind?: AgentKind;
  /** The kinds of the other pinned agents the request asked to confirm (`alsoConfirm`), those that exist. */
  confirmed?: Record<string, AgentKind>;
}

/** Whether an agent can still take work now: its live workers (always 0 for a claim agent). */
export interface AgentLiveness {
  agent: string;
  kind: AgentKind;
  liveWorkers: number;
}

/**
 * How often each worker heartbeats to the server (ListWorkers); a worker whose last heartbeat is older
 * than `WORKER_STALE_AFTER_MS` counts as gone.
 */
export const WORKER_HEARTBEAT_INTERVAL_MS = 1_000;
export const WORKER_STALE_AFTER_MS = 3_500;

/** Task-queue priority keys (lower runs first): P0 before P1 before P2, with room between them. */
export const PRIORITY_KEYS: Record<Priority, number> = { P0: 1, P1: 3, P2: 5 };

/**
 * Signals of an agent's record: a worker of the agent (or, for a claim agent, the process that registered
 * it) joined or left. The record completes when a `workerLeft` leaves no joined worker.
 */
export const WORKER_JOINED_SIGNAL = 'workerJoined';
export const WORKER_LEFT_SIGNAL = 'workerLeft';
export interface WorkerJoined {
  identity: string;
  descriptor: AgentDescriptor;
}
export interface WorkerLeft {
  identity: string;
  /**
   * The other workers of the agent the leaving one saw alive (ListWorkers), when it could tell: the record
   * forgets joined workers not listed (killed ones never say goodbye), so the last graceful stop ends it.
   */
  live?: string[];
}

/** Query of an agent's record: its descriptor, joined workers and stats. */
export const AGENT_RECORD_QUERY = 'describe';

/** Stages an agent finished (completed or failed), and their mean duration over the last 100; null before the first. */
export interface AgentStats {
  completed: number;
  failed: number;
  meanStageMs: number | null;
}

/** The memo of a record: the descriptor, and the stats (kept there so the registry reads them from visibility). */
export interface AgentRecordMemo {
  agent: AgentDescriptor;
  stats?: AgentStats;
}

/** What the `describe` query answers. */
export interface AgentRecordDescription {
  agent: AgentDescriptor;
  /** Identities of the workers that joined and have not left (a killed worker stays until a leaver prunes it). */
  joined: string[];
  stats: AgentStats;
}
