/**
 * The fleet as Temporal knows it, with no side database: which agents exist (their running `agentRecord`
 * workflows, through visibility; the memo holds descriptor and stats), which of their workers are alive
 * (worker heartbeats, `ListWorkers`; task-queue pollers on a cluster without them), what waits on each
 * agent's queue (the task queue's approximate backlog) and which tasks each runs (visibility of the tasks'
 * `BatonAgent` and `BatonStatus`). Read by routing (`chooseAgent`, `checkAgent`) and by `GET /agents`.
 */
import { isGrpcServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { AgentDescriptorSchema } from '../../workflows/agent-record';
import {
  AGENT_RECORD_WORKFLOW_TYPE,
  agentRecordWorkflowId,
  WORKER_STALE_AFTER_MS,
  type AgentDescriptor,
  type AgentLiveness,
  type AgentStats,
} from '../../workflows/fleet';
import { BatonAgent, BatonStatus } from '../../workflows/search-attributes';
import { agentTaskQueue } from '../../workflows/task-queues';
import { statusOf, type Fleet, type FleetAgent, type FleetWorker, type WorkerSource } from './routing';

/**
 * Without worker heartbeats, a poller counts as alive while its last poll is this recent: a live worker's
 * long poll lasts up to a minute, so a killed worker shows for up to this long.
 */
export const POLLER_LIVE_WITHIN_MS = 70_000;
/** After ListWorkers answered "not supported", pollers are used for this long before ListWorkers is tried again. */
const LIST_WORKERS_RETRY_MS = 60_000;
/** Queues per ListWorkers query (`TaskQueue="a" OR TaskQueue="b" ...`; the server answers `IN` with nothing). */
const QUEUES_PER_QUERY = 50;
/** Task-queue descriptions at once. */
const DESCRIBE_CONCURRENCY = 16;
/** gRPC codes with which a server says it has no ListWorkers (or has it switched off). */
const LIST_WORKERS_UNSUPPORTED = new Set([7 /* PERMISSION_DENIED */, 9 /* FAILED_PRECONDITION */, 12 /* UNIMPLEMENTED */]);

const { WorkerStatus } = temporal.api.enums.v1;
const TASK_QUEUE_TYPE_ACTIVITY = temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY;
const TASK_QUEUE_KIND_NORMAL = temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL;

export interface FleetOptions {
  client: Client;
  namespace: string;
  /** The orchestrator's queue: records run on it, agent queues are derived from it. */
  baseQueue: string;
  /** The clock heartbeats are judged by (tests). */
  now?: () => number;
  /**
   * Agents this process knows from its own agents file: one whose record is not (yet) visible counts as
   * declared but offline until its worker joins (visibility lags a record just started by moments).
   */
  declared?: readonly AgentDescriptor[];
}

const NO_STATS: AgentStats = { completed: 0, failed: 0, meanStageMs: null };

/** Single quotes for a visibility query value. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  // Protobuf int64 fields arrive as Long objects (or strings, with some loaders).
  const n =
    typeof value === 'string' || typeof value === 'bigint'
      ? Number(value)
      : typeof (value as { toNumber?: unknown } | null)?.toNumber === 'function'
        ? (value as { toNumber(): number }).toNumber()
        : NaN;
  return Number.isFinite(n) ? n : 0;
}

function statsFrom(value: unknown): AgentStats {
  if (!value || typeof value !== 'object') return NO_STATS;
  const stats = value as Partial<AgentStats>;
  const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 0);
  return {
    completed: count(stats.completed),
    failed: count(stats.failed),
    meanStageMs: typeof stats.meanStageMs === 'number' && Number.isFinite(stats.meanStageMs) ? stats.meanStageMs : null,
  };
}

interface RecordEntry {
  descriptor: AgentDescriptor;
  stats: AgentStats;
}

/**
 * A record that continues as new (every 500 history events) is closed and started again in one step, but
 * visibility indexes the two apart: a list between them misses the agent (measured on the dev server: 2 to 8
 * of ~4,700 lists across 75 continues-as-new; none of 5,462 with this). So runs closed this recently are listed too, and each agent counts
 * by its latest run: running, or continued as new (its next run not indexed yet), it is there.
 */
export const RECORD_TRANSITION_MS = 60_000;

/** What `listAgentRecords` reads of each run. */
export interface RecordRun {
  workflowId: string;
  status: string;
  startTime: Date;
  memo?: Record<string, unknown>;
}

/** The agents present by their latest runs: running, or continued as new; a completed one has left. */
export function presentRecords(runs: Iterable<RecordRun>, baseQueue: string): Map<string, RecordEntry> {
  const latest = new Map<string, RecordRun>();
  for (const run of runs) {
    const seen = latest.get(run.workflowId);
    const later = !seen || run.startTime.getTime() > seen.startTime.getTime() || (run.startTime.getTime() === seen.startTime.getTime() && run.status === 'RUNNING');
    if (later) latest.set(run.workflowId, run);
  }
  const records = new Map<string, RecordEntry>();
  for (const run of latest.values()) {
    if (run.status !== 'RUNNING' && run.status !== 'CONTINUED_AS_NEW') continue;
    const descriptor = AgentDescriptorSchema.safeParse(run.memo?.agent);
    if (!descriptor.success) continue;
    // The id is the agent's own: a memo naming another agent is not this record's.
    if (run.workflowId !== agentRecordWorkflowId(baseQueue, descriptor.data.name)) continue;
    records.set(descriptor.data.name, { descriptor: descriptor.data, stats: statsFrom(run.memo?.stats) });
  }
  return records;
}

/** The records of running agents of this deployment (visibility), by name. */
export async function listAgentRecords(client: Client, baseQueue: string, now = Date.now()): Promise<Map<string, RecordEntry>> {
  const since = new Date(now - RECORD_TRANSITION_MS).toISOString();
  const query = [
    `WorkflowType = ${quote(AGENT_RECORD_WORKFLOW_TYPE)}`,
    `TaskQueue = ${quote(baseQueue)}`,
    `(ExecutionStatus = 'Running' OR CloseTime > ${quote(since)})`,
  ].join(' AND ');
  const runs: RecordRun[] = [];
  for await (const info of client.workflow.list({ query, pageSize: 1000 })) {
    runs.push({ workflowId: info.workflowId, status: info.status.name, startTime: info.startTime, memo: info.memo });
  }
  return presentRecords(runs, baseQueue);
}

/** One agent's record by id (strongly consistent, unlike visibility), or null when it is not running. */
export async function describeAgentRecord(client: Client, baseQueue: string, name: string): Promise<RecordEntry | null> {
  try {
    const description = await client.workflow.getHandle(agentRecordWorkflowId(baseQueue, name)).describe();
    if (description.status.name !== 'RUNNING') return null;
    const descriptor = AgentDescriptorSchema.safeParse(description.memo?.agent);
    if (!descriptor.success || descriptor.data.name !== name) return null;
    return { descriptor: descriptor.data, stats: statsFrom(description.memo?.stats) };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** When ListWorkers last answered "not supported", per client. */
const listWorkersUnsupportedAt = new WeakMap<Client, number>();

/**
 * Live workers of each queue from worker heartbeats: status RUNNING and a heartbeat within
 * `WORKER_STALE_AFTER_MS` (a killed or stopped worker stays listed, with an old heartbeat or SHUTTING_DOWN).
 * Null when the server has no ListWorkers (or has it off): the caller falls back to pollers.
 */
export async function liveWorkersByHeartbeat(
  client: Client,
  namespace: string,
  queues: readonly string[],
  now: number,
): Promise<Map<string, FleetWorker[]> | null> {
  const live = new Map<string, FleetWorker[]>(queues.map((queue) => [queue, []]));
  if (queues.length === 0) return live;
  const unsupportedAt = listWorkersUnsupportedAt.get(client);
  if (unsupportedAt !== undefined && now - unsupportedAt < LIST_WORKERS_RETRY_MS) return null;
  try {
    for (let i = 0; i < queues.length; i += QUEUES_PER_QUERY) {
      const query = queues
        .slice(i, i + QUEUES_PER_QUERY)
        .map((queue) => `TaskQueue="${queue.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
        .join(' OR ');
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await client.workflowService.listWorkers({ namespace, pageSize: 1000, query, nextPageToken });
        for (const info of page.workersInfo ?? []) {
          const heartbeat = info.workerHeartbeat;
          const workers = heartbeat?.taskQueue ? live.get(heartbeat.taskQueue) : undefined;
          if (!heartbeat || !workers) continue;
          const at = optionalTsToMs(heartbeat.heartbeatTime);
          if (heartbeat.status !== WorkerStatus.WORKER_STATUS_RUNNING || at === undefined || now - at > WORKER_STALE_AFTER_MS) continue;
          const slots = heartbeat.activityTaskSlotsInfo;
          const used = toNumber(slots?.currentUsedSlots);
          const pid = toNumber(heartbeat.hostInfo?.processId);
          workers.push({
            identity: heartbeat.workerIdentity ?? heartbeat.workerInstanceKey ?? 'unknown',
            host: heartbeat.hostInfo?.hostName || null,
            pid: pid > 0 ? pid : null,
            usedSlots: used,
            slots: used + toNumber(slots?.currentAvailableSlots),
            lastHeartbeat: new Date(at).toISOString(),
          });
        }
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
    }
  } catch (error) {
    if (isGrpcServiceError(error) && LIST_WORKERS_UNSUPPORTED.has(error.code)) {
      listWorkersUnsupportedAt.set(client, now);
      return null;
    }
    throw error;
  }
  for (const workers of live.values()) workers.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
  return live;
}

interface QueueDescription {
  backlog: number;
  /** Pollers that polled within `POLLER_LIVE_WITHIN_MS`. */
  livePollers: { identity: string; lastAccess: number }[];
}

/** An agent queue's backlog (Temporal's approximate count of waiting activity tasks) and its recent pollers. */
export async function describeAgentQueue(client: Client, namespace: string, queue: string, now: number): Promise<QueueDescription> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: queue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  const livePollers = (answer.pollers ?? [])
    .map((poller) => ({ identity: poller.identity ?? 'unknown', lastAccess: optionalTsToMs(poller.lastAccessTime) ?? 0 }))
    .filter((poller) => now - poller.lastAccess <= POLLER_LIVE_WITHIN_MS);
  return { backlog: toNumber(answer.stats?.approximateBacklogCount), livePollers };
}

/** Running tasks of this deployment by agent (visibility: `BatonStatus` running, `BatonAgent` set). */
export async function runningTasksByAgent(client: Client, baseQueue: string): Promise<Map<string, string[]>> {
  const query = [
    `WorkflowType = 'taskWorkflow'`,
    `TaskQueue = ${quote(baseQueue)}`,
    `ExecutionStatus = 'Running'`,
    `${BatonStatus.name} = 'running'`,
  ].join(' AND ');
  const byAgent = new Map<string, string[]>();
  for await (const info of client.workflow.list({ query, pageSize: 1000 })) {
    const agent = info.typedSearchAttributes.get(BatonAgent);
    if (!agent) continue;
    const tasks = byAgent.get(agent) ?? [];
    tasks.push(info.workflowId.replace(/^task-/, ''));
    byAgent.set(agent, tasks);
  }
  for (const tasks of byAgent.values()) tasks.sort();
  return byAgent;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Every agent of the deployment with its live workers, backlog, running tasks, stats and status, sorted by name. */
export async function readFleet(options: FleetOptions): Promise<Fleet> {
  const { client, namespace, baseQueue } = options;
  const now = options.now?.() ?? Date.now();
  const [records, running] = await Promise.all([listAgentRecords(client, baseQueue), runningTasksByAgent(client, baseQueue)]);
  for (const descriptor of options.declared ?? []) {
    if (!records.has(descriptor.name)) records.set(descriptor.name, { descriptor, stats: NO_STATS });
  }
  const names = [...records.keys()].sort();
  const queues = names.map((name) => agentTaskQueue(baseQueue, name));
  const workerQueues = names.filter((name) => records.get(name)!.descriptor.kind === 'worker').map((name) => agentTaskQueue(baseQueue, name));
  const [byHeartbeat, described] = await Promise.all([
    liveWorkersByHeartbeat(client, namespace, workerQueues, now),
    mapLimited(queues, DESCRIBE_CONCURRENCY, (queue) => describeAgentQueue(client, namespace, queue, now)),
  ]);
  const workerSource: WorkerSource = byHeartbeat ? 'heartbeats' : 'pollers';
  const agents = names.map((name, index): FleetAgent => {
    const { descriptor, stats } = records.get(name)!;
    const queue = queues[index]!;
    const { backlog, livePollers } = described[index]!;
    let workers: FleetWorker[] = [];
    if (descriptor.kind === 'worker') {
      workers = byHeartbeat
        ? (byHeartbeat.get(queue) ?? [])
        : pollerWorkers(livePollers, descriptor.maxConcurrent);
    }
    const agent = { descriptor, workers, backlog, running: running.get(name) ?? [], stats };
    return { ...agent, status: statusOf(descriptor.kind, agent) };
  });
  return { agents, workerSource };
}

/** Workers from pollers (no slot figures): one per poller identity, `maxConcurrent` slots each. */
function pollerWorkers(pollers: QueueDescription['livePollers'], maxConcurrent: number): FleetWorker[] {
  const latest = new Map<string, number>();
  for (const poller of pollers) latest.set(poller.identity, Math.max(latest.get(poller.identity) ?? 0, poller.lastAccess));
  return [...latest.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([identity, at]) => {
      const [pid, host] = identity.split('@', 2);
      const n = Number(pid);
      return {
        identity,
        host: host ? host.split('/')[0]! : null,
        pid: Number.isInteger(n) && n > 0 ? n : null,
        usedSlots: null,
        slots: maxConcurrent,
        lastHeartbeat: new Date(at).toISOString(),
      };
    });
}

/** The live workers of one agent's queue: from heartbeats, else from pollers. */
export async function liveWorkersOf(options: FleetOptions, name: string, maxConcurrent = 1): Promise<FleetWorker[]> {
  const { client, namespace, baseQueue } = options;
  const now = options.now?.() ?? Date.now();
  const queue = agentTaskQueue(baseQueue, name);
  const byHeartbeat = await liveWorkersByHeartbeat(client, namespace, [queue], now);
  if (byHeartbeat) return byHeartbeat.get(queue) ?? [];
  const { livePollers } = await describeAgentQueue(client, namespace, queue, now);
  return pollerWorkers(livePollers, maxConcurrent);
}

/**
 * Whether an agent can still take work, quickly (its record by id, its queue's workers): the workflow asks
 * after an attempt was lost, to decide whether to fail the stage over. A claim agent has no workers to lose.
 */
export async function livenessOf(options: FleetOptions, name: string): Promise<AgentLiveness> {
  const record = await describeAgentRecord(options.client, options.baseQueue, name);
  const kind = record?.descriptor.kind ?? 'worker';
  if (kind === 'claim') return { agent: name, kind, liveWorkers: 0 };
  const workers = await liveWorkersOf(options, name, record?.descriptor.maxConcurrent);
  return { agent: name, kind, liveWorkers: workers.length };
}
