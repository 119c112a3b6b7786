/**
 * Client-side operations on tasks (start, read, list, signal, kill): the one place that talks to
 * Temporal for the API, the CLI and the tests.
 */
import {
  isGrpcServiceError,
  QueryRejectedError,
  WorkflowClient,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AGENT_NAME_PATTERN } from '../activities/agents/config';
import { SIGNAL_PAYLOADS, stateQuery, type SignalName } from '../workflows/messages';
import { BatonAgent, BatonCostUsd, BatonFingerprint, BatonGates, BatonPriority, BatonStage, BatonStatus } from '../workflows/search-attributes';
import {
  DEFAULT_POLICY,
  TaskSpecSchema,
  workflowIdForTask,
  type PolicyDefaults,
  type TaskSpec,
} from '../workflows/spec';
import type { TaskState } from '../workflows/state';
import type { taskWorkflow } from '../workflows/task-workflow';
import { TaskAdmission } from './task-admission';

export class TaskNotFoundError extends Error {
  constructor(readonly taskId: string) {
    super(`task ${taskId} not found`);
  }
}

export class TaskAlreadyExistsError extends Error {
  constructor(readonly taskId: string) {
    super(`task ${taskId} already exists`);
  }
}

export class TaskClosedError extends Error {
  constructor(
    readonly taskId: string,
    readonly status: string,
  ) {
    super(`task ${taskId} is already closed (${status})`);
  }
}

/** Temporal could not be reached in time: the API answers 503. */
export class TemporalUnavailableError extends Error {
  constructor(cause: unknown) {
    super('Temporal is unavailable', { cause });
  }
}

/** CANCELLED: the deadline ran out while the client waited to retry. */
const UNAVAILABLE_GRPC_CODES = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);
/** A query refused because the workflow's latest workflow task failed or timed out (a worker behind): try again. */
const QUERY_REFUSED_GRPC_CODES = new Set([9 /* FAILED_PRECONDITION */]);

/** Runs one call to Temporal within `timeoutMs`; "cannot reach Temporal" becomes `TemporalUnavailableError` (503). */
export async function callTemporal<T>(client: Client, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + timeoutMs, fn);
  } catch (error) {
    if (isUnavailable(error)) throw new TemporalUnavailableError(error);
    throw error;
  }
}

/** Temporal did not answer (unreachable, or out of time): the API answers 503. */
export function isUnavailable(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && UNAVAILABLE_GRPC_CODES.has(e.code)) return true;
  }
  return false;
}


export interface TaskClientOptions {
  client: Client;
  taskQueue: string;
  defaults?: PolicyDefaults;
  /** Base URL of the Temporal Web UI, for links; none when the UI is not known. */
  uiUrl?: string | null;
  /** How long one call to Temporal may take before it counts as unavailable (default 10 s). */
  callTimeoutMs?: number;
}

export const TaskFiltersSchema = z.object({
  stage: z.enum(['define', 'implement', 'review', 'done']).optional(),
  status: z.enum(['queued', 'running', 'waiting', 'escalated', 'paused', 'completed', 'failed', 'cancelled']).optional(),
  priority: z.enum(['P0', 'P1', 'P2']).optional(),
  /** An agent's name (agents.yaml's pattern): anything else could never match, and some bytes Temporal's query parser refuses. */
  agent: z.string().regex(AGENT_NAME_PATTERN, 'agent must be an agent name (letters, digits, . _ -)').optional(),
  /** v2: tasks whose reported cost is at least / at most this many US dollars. */
  minCostUsd: z.coerce.number().min(0).max(1_000_000).optional(),
  maxCostUsd: z.coerce.number().min(0).max(1_000_000).optional(),
  /** v2: order of the answer: `cost` (cheapest first) or `-cost` (most expensive first); default newest first. */
  sort: z.enum(['cost', '-cost']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type TaskFilters = z.output<typeof TaskFiltersSchema>;

export interface TaskSummary {
  taskId: string;
  workflowId: string;
  runId: string;
  title: string | null;
  stage: string | null;
  status: string | null;
  priority: string | null;
  agent: string | null;
  /** v2: reported cost so far (US dollars); null for tasks started before costs were tracked. */
  costUsd: number | null;
  /** v2: the gate profile (or `skip`) of a task with a repository. */
  gates: string | null;
  workflowStatus: string;
  startTime: string;
  closeTime: string | null;
}

export interface StartedTask {
  taskId: string;
  workflowId: string;
  runId: string;
  links: { self: string; ui: string | null };
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function generateTaskId(): string {
  return `T-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Final states kept by a TaskClient (the most recently read ones). */
const CLOSED_STATES_KEPT = 500;
const CLOSE_EVENT = temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;

export class TaskClient {
  readonly client: Client;
  readonly taskQueue: string;
  readonly defaults: PolicyDefaults;
  readonly uiUrl: string | null;
  private readonly callTimeoutMs: number;
  /** v2: dependency and duplicate checks before a start (api/task-admission.ts). */
  private readonly admission: TaskAdmission;
  /** Queries that an ended workflow's server refuses at once (instead of having a worker replay it). */
  private readonly openQueries: WorkflowClient;
  /** Final states of ended task runs, by run id, least recently read first. */
  private readonly closedStates = new Map<string, TaskState>();

  constructor(options: TaskClientOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.client = options.client;
    this.taskQueue = options.taskQueue;
    this.defaults = options.defaults ?? DEFAULT_POLICY;
    this.uiUrl = options.uiUrl ?? null;
    this.openQueries = new WorkflowClient({
      connection: this.client.connection,
      namespace: this.client.options.namespace,
      dataConverter: this.client.options.dataConverter,
      interceptors: this.client.options.interceptors.workflow,
      queryRejectCondition: 'NOT_OPEN',
    });
    this.admission = new TaskAdmission({ client: this.client, call: (fn) => this.call(fn), deploymentQuery: () => this.visibilityQuery() });
  }

  /** Runs one call to Temporal with a deadline, turning "cannot reach Temporal" into one error. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return callTemporal(this.client, this.callTimeoutMs, fn);
  }

  /** Link to a task's history in the Temporal Web UI. */
  uiLink(workflowId: string, runId?: string): string | null {
    if (!this.uiUrl) return null;
    const ns = encodeURIComponent(this.client.options.namespace);
    const run = runId ? `/${runId}` : '';
    return `${this.uiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}${run}/history`;
  }

  /**
   * Validates a spec (throws a ZodError) and starts its workflow; a task id names one task, ever. v2: its
   * dependencies must exist and close no cycle (ZodError), and an open task with the same title and goal
   * refuses it unless `allowDuplicate` (DuplicateTaskError).
   */
  async start(input: unknown): Promise<StartedTask> {
    const parsed = TaskSpecSchema.parse(input);
    const spec: TaskSpec = { ...parsed, id: parsed.id ?? generateTaskId() };
    const workflowId = workflowIdForTask(spec.id);
    const admitted = await this.admission.admit(spec, parsed.id !== undefined);
    try {
      const handle = await this.call(() => this.client.workflow.start<typeof taskWorkflow>('taskWorkflow', {
        workflowId,
        taskQueue: this.taskQueue,
        args: [{ spec, defaults: this.defaults }],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        staticSummary: spec.title,
        staticDetails: spec.goal,
        memo: { title: spec.title, ...admitted.memo },
        typedSearchAttributes: [
          { key: BatonFingerprint, value: admitted.fingerprint },
          { key: BatonStage, value: 'define' },
          { key: BatonStatus, value: 'queued' },
          { key: BatonPriority, value: spec.priority },
          { key: BatonCostUsd, value: 0 },
          ...(spec.policy.gates ? [{ key: BatonGates, value: spec.policy.gates }] : []),
        ],
      }));
      admitted.started(spec.id, workflowId);
      return {
        taskId: spec.id,
        workflowId,
        runId: handle.firstExecutionRunId,
        links: { self: `/tasks/${encodeURIComponent(spec.id)}`, ui: this.uiLink(workflowId, handle.firstExecutionRunId) },
      };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) throw new TaskAlreadyExistsError(spec.id);
      throw error;
    } finally {
      admitted.release();
    }
  }

  /**
   * A task's state: an open task's from the workflow query `state`; an ended task's from its workflow's
   * result (the server refuses the query of an ended workflow at once and answers the result alone: no
   * worker replays the history).
   */
  async state(taskId: string): Promise<TaskState> {
    const workflowId = workflowIdForTask(taskId);
    try {
      try {
        return await this.call(() => this.openQueries.getHandle(workflowId).query(stateQuery));
      } catch (error) {
        if (!(error instanceof QueryRejectedError)) throw error;
      }
      const final = await this.call(() => this.finalState(taskId));
      if (final) return final;
      return await this.call(() => this.client.workflow.getHandle(workflowId).query(stateQuery));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
      const cause = (error as { cause?: unknown }).cause;
      if (isGrpcServiceError(cause) && QUERY_REFUSED_GRPC_CODES.has(cause.code)) throw new TemporalUnavailableError(error);
      throw error;
    }
  }

  /**
   * The state an ended task's workflow returned (its close event), or undefined while it runs. A run that
   * ended without a result (terminated, failed, timed out) is left to the query, which replays it. (Asked
   * of a running workflow, the close event waits for the end, whatever `waitNewEvent` says: hence describe.)
   */
  private async finalState(taskId: string): Promise<TaskState | undefined> {
    const { namespace, loadedDataConverter } = this.client.options;
    const description = await this.client.workflow.getHandle(workflowIdForTask(taskId)).describe();
    if (description.status.name !== 'COMPLETED') return undefined;
    // Kept by run: an ended run never changes (its id may name a new task once an operator deleted it).
    const kept = this.closedStates.get(description.runId);
    if (kept) {
      this.closedStates.delete(description.runId);
      this.closedStates.set(description.runId, kept);
      return kept;
    }
    const response = await this.client.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId: description.workflowId, runId: description.runId },
      historyEventFilterType: CLOSE_EVENT,
      skipArchival: true,
    });
    const payloads = response.history?.events?.[0]?.workflowExecutionCompletedEventAttributes?.result?.payloads;
    if (!payloads?.length) return undefined;
    const final = await decodeFromPayloadsAtIndex<TaskState>(loadedDataConverter, 0, payloads);
    this.closedStates.set(description.runId, final);
    if (this.closedStates.size > CLOSED_STATES_KEPT) this.closedStates.delete(this.closedStates.keys().next().value!);
    return final;
  }

  /** Validates the payload (throws a ZodError) and sends the signal to an open task. */
  async signal(taskId: string, name: SignalName, payload: unknown): Promise<void> {
    const body = SIGNAL_PAYLOADS[name].parse(payload);
    const handle = this.client.workflow.getHandle(workflowIdForTask(taskId));
    try {
      await this.call(() => handle.signal(name, body));
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      // Signalling a closed workflow also answers "not found": tell the two apart, with the task's own status.
      const description = await this.call(() => handle.describe()).catch(() => null);
      if (!description) throw new TaskNotFoundError(taskId);
      const status = description.typedSearchAttributes.get(BatonStatus) ?? description.status.name.toLowerCase();
      throw new TaskClosedError(taskId, status);
    }
  }

  /** The visibility query that selects this deployment's tasks, narrowed by the filters. */
  visibilityQuery(filters: Partial<TaskFilters> = {}, openOnly = false): string {
    const clauses = [`WorkflowType = 'taskWorkflow'`, `TaskQueue = ${quote(this.taskQueue)}`];
    if (filters.stage) clauses.push(`${BatonStage.name} = ${quote(filters.stage)}`);
    if (filters.status) clauses.push(`${BatonStatus.name} = ${quote(filters.status)}`);
    if (filters.priority) clauses.push(`${BatonPriority.name} = ${quote(filters.priority)}`);
    if (filters.agent) clauses.push(`${BatonAgent.name} = ${quote(filters.agent)}`);
    if (filters.minCostUsd !== undefined) clauses.push(`${BatonCostUsd.name} >= ${filters.minCostUsd}`);
    if (filters.maxCostUsd !== undefined) clauses.push(`${BatonCostUsd.name} <= ${filters.maxCostUsd}`);
    if (openOnly) clauses.push(`ExecutionStatus = 'Running'`);
    return clauses.join(' AND ');
  }

  /**
   * The kill switch: sends `cancel` to every open task of this deployment (found through visibility),
   * a few at a time. A task that fails to cancel is reported and does not stop the rest.
   */
  async killAll(payload: { by: string; reason?: string }, concurrency = 16): Promise<KillAllResult> {
    const open = await this.call(async () => {
      const ids: string[] = [];
      for await (const info of this.client.workflow.list({ query: this.visibilityQuery({}, true) })) {
        ids.push(info.workflowId.replace(/^task-/, ''));
      }
      return ids;
    });
    const failed: KillAllResult['failed'] = [];
    let cancelled = 0;
    let next = 0;
    const lane = async () => {
      while (next < open.length) {
        const taskId = open[next++]!;
        try {
          await this.signal(taskId, 'cancel', payload);
          cancelled += 1;
        } catch (error) {
          failed.push({ taskId, error: error instanceof Error ? error.message : String(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, open.length) }, lane));
    return { matched: open.length, cancelled, failed };
  }

  async list(filters: Partial<TaskFilters> = {}): Promise<TaskSummary[]> {
    const limit = filters.limit ?? 100;
    return this.call(async () => {
      const tasks: TaskSummary[] = [];
      const query = this.visibilityQuery(filters);
      for await (const info of this.client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
        tasks.push(summarize(info));
        if (tasks.length >= limit) break;
      }
      // Visibility has no ORDER BY on the dev server's store: the page it answered is sorted here.
      if (filters.sort) {
        const direction = filters.sort === 'cost' ? 1 : -1;
        tasks.sort((a, b) => direction * ((a.costUsd ?? 0) - (b.costUsd ?? 0)));
      }
      return tasks;
    });
  }
}

export interface KillAllResult {
  /** Open tasks the visibility query found. */
  matched: number;
  /** Tasks whose `cancel` signal was delivered. */
  cancelled: number;
  /** Tasks that could not be cancelled, with the reason; the others were not held up by them. */
  failed: { taskId: string; error: string }[];
}

function summarize(info: WorkflowExecutionInfo): TaskSummary {
  const attrs = info.typedSearchAttributes;
  const title = info.memo?.title;
  return {
    taskId: info.workflowId.replace(/^task-/, ''),
    workflowId: info.workflowId,
    runId: info.runId,
    title: typeof title === 'string' ? title : null,
    stage: attrs.get(BatonStage) ?? null,
    status: attrs.get(BatonStatus) ?? null,
    priority: attrs.get(BatonPriority) ?? null,
    agent: attrs.get(BatonAgent) ?? null,
    costUsd: attrs.get(BatonCostUsd) ?? null,
    gates: attrs.get(BatonGates) ?? null,
    workflowStatus: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime ? info.closeTime.toISOString() : null,
  };
}
