/**
 * Routing over a fleet read from Temporal (`readFleet`): pure functions, so every orchestrator worker that
 * reads the same Temporal state picks the same agent.
 */
import type { AgentDescriptor, AgentKind, AgentStats } from '../../workflows/fleet';
import type { AgentStage } from '../../workflows/spec';

export type AgentStatus = 'available' | 'busy' | 'offline';
export const AGENT_STATUSES = ['available', 'busy', 'offline'] as const satisfies readonly AgentStatus[];

/** One live worker of an agent, as Temporal lists it. */
export interface FleetWorker {
  identity: string;
  host: string | null;
  pid: number | null;
  /** Activity slots in use (null when Temporal cannot tell: the poller fallback). */
  usedSlots: number | null;
  /** Activity slots of this worker (its `maxConcurrent`). */
  slots: number;
  /** The worker's last heartbeat (ISO), or its last poll in the poller fallback. */
  lastHeartbeat: string | null;
}

export interface FleetAgent {
  descriptor: AgentDescriptor;
  status: AgentStatus;
  /** Live workers only (a worker kind); always empty for a claim agent. */
  workers: FleetWorker[];
  /** Work waiting on the agent's queue (Temporal's approximate backlog). */
  backlog: number;
  /** Tasks whose `BatonAgent` is this agent and `BatonStatus` is running (started or waiting on its queue). */
  running: string[];
  stats: AgentStats;
}

/** Where live workers came from: worker heartbeats (ListWorkers) or, on a cluster without them, task-queue pollers. */
export type WorkerSource = 'heartbeats' | 'pollers';

export interface Fleet {
  agents: FleetAgent[];
  workerSource: WorkerSource;
}

/** Used and total slots of an agent's live workers; without slot figures (pollers) its running tasks stand in. */
export function slotsOf(agent: Pick<FleetAgent, 'workers' | 'running'>): { used: number; total: number } {
  const total = agent.workers.reduce((sum, worker) => sum + worker.slots, 0);
  const known = agent.workers.every((worker) => worker.usedSlots !== null);
  const used = known ? agent.workers.reduce((sum, worker) => sum + (worker.usedSlots ?? 0), 0) : Math.min(total, agent.running.length);
  return { used, total };
}

/**
 * A worker agent is offline without a live worker, busy when every slot of its live workers is used, else
 * available; a claim agent is busy when it runs `maxConcurrent` tasks, else available (never offline).
 */
export function statusOf(kind: AgentKind, agent: Pick<FleetAgent, 'workers' | 'running' | 'descriptor'>): AgentStatus {
  if (kind === 'claim') return agent.running.length >= agent.descriptor.maxConcurrent ? 'busy' : 'available';
  if (agent.workers.length === 0) return 'offline';
  const { used, total } = slotsOf(agent);
  return used >= total ? 'busy' : 'available';
}

/** Whether the agent can take work now: a worker agent with a live worker, or a claim agent. */
export function isLive(agent: FleetAgent): boolean {
  return agent.descriptor.kind === 'claim' || agent.workers.length > 0;
}

/**
 * Work per slot: (used slots + backlog) / live slots for a worker agent, (running + backlog) / maxConcurrent
 * for a claim agent; an offline agent counts its backlog against its `maxConcurrent`. Worker heartbeats
 * (used slots) arrive once a second and the backlog is approximate, while a task's `BatonAgent` is visible
 * as soon as it is assigned: the tasks assigned to the agent count as at least that much work.
 */
export function loadOf(agent: FleetAgent): number {
  if (agent.descriptor.kind === 'claim') return (agent.running.length + agent.backlog) / agent.descriptor.maxConcurrent;
  const { used, total } = slotsOf(agent);
  if (total === 0) return Math.max(agent.backlog, agent.running.length) / agent.descriptor.maxConcurrent;
  return Math.max(used + agent.backlog, agent.running.length) / total;
}

export interface RouteRequest {
  stage: AgentStage;
  capabilities: string[];
  /** Agents to avoid unless no other can take the stage. */
  exclude: string[];
  /** Agents that must not take the stage at all. */
  forbid?: string[];
}

/** Agents with the stage's role and every capability, not forbidden. */
export function ableAgents(agents: readonly FleetAgent[], request: RouteRequest): FleetAgent[] {
  const forbid = request.forbid ?? [];
  return agents.filter(
    ({ descriptor }) =>
      descriptor.roles.includes(request.stage) &&
      !forbid.includes(descriptor.name) &&
      request.capabilities.every((capability) => descriptor.capabilities.includes(capability)),
  );
}

/** Orders two agents: lower load first, then fewer running tasks, then the name (code-unit order, locale-free). */
function compare(a: FleetAgent, b: FleetAgent): number {
  const byLoad = loadOf(a) - loadOf(b);
  if (byLoad !== 0) return byLoad;
  const byRunning = a.running.length - b.running.length;
  if (byRunning !== 0) return byRunning;
  return a.descriptor.name < b.descriptor.name ? -1 : a.descriptor.name > b.descriptor.name ? 1 : 0;
}

/**
 * The agent for a stage: among the able agents, those not excluded if any; among them the live ones if any
 * (else the best offline one: the work waits on its queue); the least loaded of those. Undefined when none is able.
 */
export function route(agents: readonly FleetAgent[], request: RouteRequest): FleetAgent | undefined {
  const able = ableAgents(agents, request);
  const preferred = able.filter((agent) => !request.exclude.includes(agent.descriptor.name));
  const pool = preferred.length > 0 ? preferred : able;
  const live = pool.filter(isLive);
  return [...(live.length > 0 ? live : pool)].sort(compare)[0];
}
