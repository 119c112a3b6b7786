/**
 * Claimed work: agents that run no worker (a hosted agent, a person) take their stages over REST or MCP.
 * A claim long-polls the agent's own task queue (`<queue>.agent.<name>`) for its `runAgent` activity, as a
 * worker would; the activity then runs "asynchronously": the claimant heartbeats, completes or fails it with
 * the token it got, through Temporal's asynchronous activity completion. Nothing is kept outside Temporal: an
 * item that is never finished is the workflow's to handle (its idle clock escalates it, a human reassigns it).
 *
 * Shared by the REST routes (`api/routes/work.ts`) and the MCP task tools (`mcp/task-tools.ts`).
 */
import { hostname } from 'node:os';
import {
  ActivityCancelledError,
  ActivityNotFoundError,
  ActivityPausedError,
  ActivityResetError,
  ApplicationFailure,
  AsyncCompletionClient,
  NamespaceNotFoundError,
  WorkflowNotFoundError,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client';
import type { ActivitySerializationContext } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { AGENT_NAME_PATTERN } from '../activities/agents/config';
import { checkReport } from '../activities/agents/report';
import { createSecretScanner } from '../activities/git/secret-scan';
import { AGENT_OUTCOMES, AgentReportSchema, type AgentContext, type AgentReport, type AgentRunInput, type AgentRunResult } from '../workflows/agent-protocol';
import { STAGE_FINISHED_SIGNAL, agentRecordWorkflowId, type AgentDescriptor, type StageFinished } from '../workflows/fleet';
import { AGENT_STAGES, TASK_ID_PATTERN, type AgentStage } from '../workflows/spec';
import { agentTaskQueue } from '../workflows/task-queues';
import { TemporalUnavailableError, callTemporal, isUnavailable } from './task-client';

/** How long a claim waits for work by default, and at most (below the 60 s long poll of Temporal's matching). */
export const DEFAULT_CLAIM_WAIT_MS = 5_000;
export const MAX_CLAIM_WAIT_MS = 55_000;
/**
 * Temporal's frontend refuses a long poll whose deadline is under 2 s away, and answers an empty poll about
 * 1 s before the caller's deadline. A claim never cuts a poll short (work matched to a poll that was dropped
 * would be stuck until the idle clock escalates it), so a claim waits at least about 2 s.
 */
const MIN_POLL_MS = 3_000;

/** The activity type a stage runs as (`AgentActivities.runAgent`). */
const RUN_AGENT_ACTIVITY = 'runAgent';
/** `AGENT_FAILURE_TYPES.failed` of `activities/agents/attempt.ts`: a failed attempt, retried by the workflow. */
const AGENT_FAILED = 'AgentFailed';
const AGENT_MISCONFIGURED = 'AgentMisconfigured';
/** `progress` signal payloads cap the message at this length. */
const MAX_PROGRESS_CHARS = 2_000;
/** Bounds the per-item memory of when the last sign of life went to the workflow. */
const MAX_THROTTLED_ITEMS = 10_000;
const TASK_QUEUE_KIND_NORMAL = 1;
/** gRPC INVALID_ARGUMENT: what Temporal answers a task token it cannot read. */
const UNREADABLE_TOKEN_GRPC_CODES = new Set([3]);

export const AgentNameSchema = z.string().regex(AGENT_NAME_PATTERN, `agent name must match ${AGENT_NAME_PATTERN.source}`);
export const ClaimWaitSchema = z.coerce.number().int().min(0).max(MAX_CLAIM_WAIT_MS);
export const WorkTokenParamSchema = z.string().min(1).max(4_096);
export const FailWorkSchema = z.object({
  reason: z.string().trim().min(1).max(20_000).describe('Why the work failed; the task retries the stage, then asks a human.'),
});
export const HeartbeatWorkSchema = z.object({
  message: z.string().trim().min(1).max(MAX_PROGRESS_CHARS).optional().describe('A progress report for the task timeline (omit for a bare sign of life).'),
});

/** What a claim answers (REST 200, MCP claim_work). */
export const WorkItemSchema = z.object({
  token: z.string().describe('Opaque: answer the item with it (/work/:token/heartbeat, complete, fail).'),
  taskId: z.string(),
  workflowId: z.string(),
  agent: z.string(),
  stage: z.enum(AGENT_STAGES),
  round: z.number(),
  context: z
    .looseObject({ taskId: z.string(), stage: z.enum(AGENT_STAGES), round: z.number(), task: z.record(z.string(), z.unknown()) })
    .describe('The agent protocol context: spec, definition, feedback, notes, earlier results.'),
  heartbeatEveryMs: z.number().describe("Heartbeat at least this often: the task's idle clock counts silence."),
  heartbeatTimeoutMs: z.number().nullable().describe('Silent longer than this, the attempt is lost (null: no such limit).'),
});

export const FinishedWorkSchema = z.object({ taskId: z.string(), stage: z.enum(AGENT_STAGES), outcome: z.enum(AGENT_OUTCOMES) });
export const HeartbeatAnswerSchema = z.object({
  ok: z.literal(true),
  paused: z.boolean().describe('The activity is paused (temporal activity pause): hold on until it is unpaused.'),
});

/** A work item handed to a claimant: everything a worker's driver would get, and the token to answer with. */
export interface WorkItem {
  token: string;
  taskId: string;
  workflowId: string;
  agent: string;
  stage: AgentStage;
  round: number;
  /** The task context of the agent protocol: spec, definition, feedback, notes, earlier results. */
  context: AgentContext;
  /** Heartbeat at least this often so the task's idle clock sees a sign of life. */
  heartbeatEveryMs: number;
  /** The activity's heartbeat timeout, if it has one: silent longer than this, the attempt is lost and retried. */
  heartbeatTimeoutMs: number | null;
}

export type FinishedWork = { taskId: string; stage: AgentStage; outcome: AgentReport['outcome'] };

/** No agent of that name is known to Temporal (it has no record). */
export class AgentNotFoundError extends Error {
  override readonly name = 'AgentNotFound';
  readonly statusCode = 404;
  constructor(readonly agent: string) {
    super(`no agent named "${agent}" is registered`);
  }
}

/** The agent runs a worker: its work is not handed out over REST or MCP. */
export class AgentNotClaimableError extends Error {
  override readonly name = 'AgentNotClaimable';
  readonly statusCode = 409;
  constructor(
    readonly agent: string,
    readonly kind: string,
  ) {
    super(`agent "${agent}" runs a worker (kind ${kind}): only agents declared with claim: true take their work by claiming it`);
  }
}

/** A token this API did not hand out (or one cut or altered on the way). */
export class InvalidWorkTokenError extends Error {
  override readonly name = 'InvalidWorkToken';
  readonly statusCode = 400;
  constructor(detail: string) {
    super(`invalid work token: ${detail}`);
  }
}

/** The item is gone: completed or failed already, timed out, or its task moved on (cancelled, reassigned). */
export class WorkNotFoundError extends Error {
  override readonly name = 'WorkNotFound';
  readonly statusCode = 404;
  constructor(detail = 'the work item no longer exists (it was completed or failed already, timed out, or its task moved on)') {
    super(detail);
  }
}

/** A result that breaks the agent protocol; nothing was sent, the item is still claimed. */
export class InvalidWorkResultError extends Error {
  override readonly name = 'InvalidWorkResult';
  readonly statusCode = 400;
  constructor(readonly issues: { path: string; message: string }[]) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
  }
}

/** What a token carries: where the item's task lives, what it is, and Temporal's own task token. */
const WorkTokenSchema = z.object({
  v: z.literal(1),
  /** The task's workflow id, for signals (sign of life, progress). */
  w: z.string().min(1).max(300),
  /** Activity id. */
  i: z.string().min(1).max(300),
  a: AgentNameSchema,
  s: z.enum(AGENT_STAGES),
  r: z.number().int().min(0),
  /** Sign-of-life interval the workflow asked for. */
  e: z.number().int().min(0),
  /** When the item was claimed (ms since the epoch). */
  c: z.number().int().min(0),
  /** Temporal's task token, base64url. */
  t: z.string().min(1).max(3_000),
});
type WorkToken = z.output<typeof WorkTokenSchema>;

interface ParsedToken extends WorkToken {
  taskToken: Uint8Array;
}

export function encodeWorkToken(token: WorkToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/**
 * Reads a token. The JSON part is only routing: Temporal's task token inside it decides which activity an
 * answer goes to, and must name the same workflow (a token altered to signal another task is refused).
 */
export function parseWorkToken(token: string): ParsedToken {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new InvalidWorkTokenError('not base64url');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidWorkTokenError('not a token handed out by a claim');
  }
  const parsed = WorkTokenSchema.safeParse(json);
  if (!parsed.success) throw new InvalidWorkTokenError('not a token handed out by a claim');
  const taskToken = new Uint8Array(Buffer.from(parsed.data.t, 'base64url'));
  // Temporal's token is a protobuf holding the workflow id and activity id as plain bytes.
  const raw = Buffer.from(taskToken);
  if (!raw.includes(Buffer.from(parsed.data.w)) || !raw.includes(Buffer.from(parsed.data.i))) {
    throw new InvalidWorkTokenError('its parts do not belong together');
  }
  return { ...parsed.data, taskToken };
}

/**
 * `client.activity` (asynchronous activity completion) with Temporal's answers told apart: the stock client
 * folds every gRPC error but NOT_FOUND into one `ActivityCompletionError`, and a token Temporal cannot read is
 * the caller's mistake (400), not the API's (5xx).
 */
class WorkCompletionClient extends AsyncCompletionClient {
  protected override handleError(err: unknown): never {
    if (isGrpcServiceError(err) && UNREADABLE_TOKEN_GRPC_CODES.has(err.code)) throw new InvalidWorkTokenError('Temporal cannot read it');
    if (isUnavailable(err)) throw new TemporalUnavailableError(err);
    return super.handleError(err);
  }
}

export interface WorkItemsOptions {
  client: Client;
  /** The deployment's base task queue (`baton`): agent queues and record ids derive from it. */
  taskQueue: string;
  /** How long one call to Temporal may take before it counts as unavailable (default 10 s). */
  callTimeoutMs?: number;
}

export interface ClaimOptions {
  /** How long to wait for work when none is queued (default 5 s, at most 55 s). */
  waitMs?: number;
  /** Stops waiting (the caller went away); work already handed over is still returned. */
  signal?: AbortSignal;
}

/** The Temporal side of claimed work: claim, heartbeat, complete, fail. */
export class WorkItems {
  private readonly client: Client;
  private readonly taskQueue: string;
  private readonly callTimeoutMs: number;
  private readonly identity = `baton-claim@${hostname()}`;
  /** Built-in secret patterns: a claimant's words reach the history redacted, as a worker agent's do. */
  private readonly scanner = createSecretScanner();
  private readonly lastSignOfLife = new Map<string, number>();
  private readonly activity: WorkCompletionClient;

  constructor(options: WorkItemsOptions) {
    this.client = options.client;
    this.taskQueue = options.taskQueue;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.activity = new WorkCompletionClient({
      connection: this.client.connection,
      namespace: this.client.options.namespace,
      dataConverter: this.client.options.loadedDataConverter,
      identity: this.identity,
    });
  }

  /**
   * The agent's descriptor from its record workflow (`agentRecordWorkflowId`, memo `{ agent }`), or null when
   * the agent is unknown. The one place that decides whether an agent exists.
   */
  async agent(name: string): Promise<AgentDescriptor | null> {
    try {
      const description = await this.call(() => this.client.workflow.getHandle(agentRecordWorkflowId(this.taskQueue, name)).describe());
      if (description.status.name !== 'RUNNING') return null;
      const agent = description.memo?.agent as AgentDescriptor | undefined;
      return agent && typeof agent === 'object' && agent.name === name ? agent : null;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  /** The next work item of a claim agent, or null when none came within the wait. */
  async claim(agentName: string, options: ClaimOptions = {}): Promise<WorkItem | null> {
    const descriptor = await this.agent(agentName);
    if (!descriptor) throw new AgentNotFoundError(agentName);
    if (descriptor.kind !== 'claim') throw new AgentNotClaimableError(agentName, descriptor.kind);
    const until = Date.now() + Math.min(MAX_CLAIM_WAIT_MS, Math.max(0, options.waitMs ?? DEFAULT_CLAIM_WAIT_MS));
    for (;;) {
      const task = await this.poll(agentName, Math.max(MIN_POLL_MS, until - Date.now()), options.signal);
      if (task) {
        const item = await this.accept(agentName, task);
        if (item && options.signal?.aborted) {
          // Matched just as the caller left: fail the attempt so the task retries it, rather than leave it unseen.
          await this.activityCall(() =>
            this.activity.fail(item.taskToken, ApplicationFailure.retryable(`${agentName}'s claim hung up before the work item reached it`, AGENT_FAILED), {
              serializationContext: context(this.client, item),
            }),
          ).catch(() => undefined);
          return null;
        }
        if (item) return item.workItem;
      }
      if (options.signal?.aborted || until - Date.now() < MIN_POLL_MS) return null;
    }
  }

  /**
   * A sign of life (or, with a message, a progress report): heartbeats the activity and tells the task's
   * workflow, which resets its idle clock. An item whose task cancelled it is reported cancelled and answered
   * as gone: the claimant stops.
   */
  async heartbeat(token: string, input: z.input<typeof HeartbeatWorkSchema> = {}): Promise<{ paused: boolean }> {
    const item = parseWorkToken(token);
    const { message } = HeartbeatWorkSchema.parse(input);
    let paused = false;
    try {
      await this.activityCall(() =>
        this.activity.heartbeat(item.taskToken, message ? { message: this.scanner.redact(message) } : undefined, { serializationContext: context(this.client, item) }),
      );
    } catch (error) {
      if (error instanceof ActivityPausedError) {
        paused = true;
      } else if (error instanceof ActivityCancelledError) {
        // The workflow waits until the activity confirms it stopped; a claimant stops on this answer.
        await this.activityCall(() => this.activity.reportCancellation(item.taskToken, undefined, { serializationContext: context(this.client, item) })).catch(
          () => undefined,
        );
        this.forget(item);
        throw new WorkNotFoundError('the task cancelled this work item (cancelled, reassigned or retried by a human): stop working on it');
      } else if (error instanceof ActivityResetError) {
        this.forget(item);
        throw new WorkNotFoundError('this work item was reset: claim the stage again');
      } else {
        throw error;
      }
    }
    if (message) {
      this.signalTask(item, 'progress', { agent: item.a, message: this.scanner.redact(message).slice(0, MAX_PROGRESS_CHARS) });
      this.lastSignOfLife.set(key(item), Date.now());
    } else if (this.dueForSignOfLife(item)) {
      this.signalTask(item, 'heartbeat', { agent: item.a });
    }
    return { paused };
  }

  /**
   * Completes the item with the agent's result, checked as a worker's driver checks it (protocol schema, the
   * stage's outcomes, redaction). A result that breaks the protocol throws `InvalidWorkResultError` and sends
   * nothing. Outcome `failed` fails the attempt, as it does for a worker agent.
   */
  async complete(token: string, result: unknown): Promise<FinishedWork> {
    const item = parseWorkToken(token);
    const parsed = AgentReportSchema.safeParse(result);
    if (!parsed.success) {
      throw new InvalidWorkResultError(parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(root)', message: issue.message })));
    }
    const checked = checkReport(item.s, parsed.data, this.scanner);
    if (!checked.ok) throw new InvalidWorkResultError([{ path: 'outcome', message: `answered ${checked.problem}` }]);
    const report = checked.report;
    if (report.outcome === 'failed') {
      await this.fail(token, { reason: report.summary ?? `agent ${item.a} reported failure` });
      return { taskId: taskIdOf(item), stage: item.s, outcome: report.outcome };
    }
    const durationMs = Math.max(0, Date.now() - item.c);
    const runResult: AgentRunResult = { ...report, agent: item.a, exitCode: null, durationMs };
    await this.activityCall(() => this.activity.complete(item.taskToken, runResult, { serializationContext: context(this.client, item) }));
    this.finished(item, true, durationMs);
    return { taskId: taskIdOf(item), stage: item.s, outcome: report.outcome };
  }

  /** Fails the item's attempt (`AgentFailed`, retryable): the task retries the stage, then asks a human. */
  async fail(token: string, input: z.input<typeof FailWorkSchema>): Promise<FinishedWork> {
    const item = parseWorkToken(token);
    const { reason } = FailWorkSchema.parse(input);
    const failure = ApplicationFailure.retryable(this.scanner.redact(reason), AGENT_FAILED, { agent: item.a, exitCode: null });
    await this.activityCall(() => this.activity.fail(item.taskToken, failure, { serializationContext: context(this.client, item) }));
    this.finished(item, false, Math.max(0, Date.now() - item.c));
    return { taskId: taskIdOf(item), stage: item.s, outcome: 'failed' };
  }

  /** One long poll of the agent's queue: the task, or null when none came (or the caller went away). */
  private async poll(agentName: string, timeoutMs: number, signal: AbortSignal | undefined) {
    const { connection } = this.client;
    const deadline = Date.now() + timeoutMs;
    const request = () =>
      connection.withDeadline(deadline, () =>
        this.client.workflowService.pollActivityTaskQueue({
          namespace: this.client.options.namespace,
          taskQueue: { name: agentTaskQueue(this.taskQueue, agentName), kind: TASK_QUEUE_KIND_NORMAL },
          identity: `${agentName}@${this.identity}`,
        }),
      );
    try {
      const response = await (signal ? connection.withAbortSignal(signal, request) : request());
      return response.taskToken && response.taskToken.length > 0 ? response : null;
    } catch (error) {
      // The wait ran out, or the caller went away: no work.
      if (isGrpcDeadlineError(error) || isGrpcCancelledError(error)) return null;
      if (signal?.aborted) return null;
      if (isUnavailable(error)) throw new TemporalUnavailableError(error);
      throw error;
    }
  }

  /** Turns a polled task into a work item; a task that is not a stage of this agent is failed and skipped. */
  private async accept(agentName: string, task: NonNullable<Awaited<ReturnType<WorkItems['poll']>>>): Promise<(ParsedToken & { workItem: WorkItem }) | null> {
    const taskToken = task.taskToken;
    const workflowId = task.workflowExecution?.workflowId ?? '';
    const activityId = task.activityId ?? '';
    const serializationContext: ActivitySerializationContext = {
      type: 'activity',
      namespace: this.client.options.namespace,
      activityId,
      workflowId,
      isLocal: false,
    };
    const reject = async (message: string) => {
      await this.activityCall(() =>
        this.activity.fail(taskToken, ApplicationFailure.nonRetryable(message, AGENT_MISCONFIGURED), { serializationContext }),
      ).catch(() => undefined);
      return null;
    };
    if (task.activityType?.name !== RUN_AGENT_ACTIVITY) return reject(`agent ${agentName} claims ${RUN_AGENT_ACTIVITY} work only, not ${task.activityType?.name ?? 'an unnamed activity'}`);
    let input: AgentRunInput;
    try {
      input = await decodeFromPayloadsAtIndex<AgentRunInput>(this.client.options.loadedDataConverter, 0, task.input?.payloads, serializationContext);
    } catch (error) {
      return reject(`the work item's input could not be decoded: ${error instanceof Error ? error.message : String(error)}`);
    }
    const stage = input?.context?.stage;
    if (input?.agent !== agentName || !TASK_ID_PATTERN.test(input.context?.taskId ?? '') || !AGENT_STAGES.includes(stage)) {
      return reject(`agent ${agentName} claimed work that is not a stage of its own (agent ${String(input?.agent)}, stage ${String(stage)})`);
    }
    const claimedAt = Date.now();
    const signOfLifeEveryMs = Number.isFinite(input.signOfLifeEveryMs) && input.signOfLifeEveryMs > 0 ? Math.floor(input.signOfLifeEveryMs) : 60_000;
    const token: WorkToken = {
      v: 1,
      w: workflowId || input.workflowId,
      i: activityId,
      a: agentName,
      s: stage,
      r: input.context.round,
      e: signOfLifeEveryMs,
      c: claimedAt,
      t: Buffer.from(taskToken).toString('base64url'),
    };
    const item = { ...token, taskToken };
    // The first sign of life tells the workflow its work left the queue (a later setPriority no longer re-queues it).
    this.signalTask(item, 'heartbeat', { agent: agentName });
    this.lastSignOfLife.set(key(item), claimedAt);
    const heartbeatTimeoutMs = durationToMs(task.heartbeatTimeout);
    const workItem: WorkItem = {
      token: encodeWorkToken(token),
      taskId: input.context.taskId,
      workflowId: token.w,
      agent: agentName,
      stage,
      round: input.context.round,
      context: input.context,
      heartbeatEveryMs: heartbeatTimeoutMs ? Math.min(signOfLifeEveryMs, Math.floor(heartbeatTimeoutMs / 2)) : signOfLifeEveryMs,
      heartbeatTimeoutMs,
    };
    return { ...item, workItem };
  }

  /** Whether a bare heartbeat should also reach the workflow (at most once per sign-of-life interval: bounded history). */
  private dueForSignOfLife(item: WorkToken): boolean {
    const now = Date.now();
    const last = this.lastSignOfLife.get(key(item));
    if (last !== undefined && now - last < item.e) return false;
    if (this.lastSignOfLife.size >= MAX_THROTTLED_ITEMS) {
      for (const [k, at] of this.lastSignOfLife) if (now - at > 60 * 60_000 || this.lastSignOfLife.size >= MAX_THROTTLED_ITEMS) this.lastSignOfLife.delete(k);
    }
    this.lastSignOfLife.set(key(item), now);
    return true;
  }

  private forget(item: WorkToken): void {
    this.lastSignOfLife.delete(key(item));
  }

  /** After a complete or fail: the agent's record hears the stage ended (best effort; the registry's stats). */
  private finished(item: WorkToken, ok: boolean, durationMs: number): void {
    this.forget(item);
    const payload: StageFinished = { taskId: taskIdOf(item), stage: item.s, ok, durationMs };
    void this.call(() => this.client.workflow.getHandle(agentRecordWorkflowId(this.taskQueue, item.a)).signal(STAGE_FINISHED_SIGNAL, payload)).catch(() => undefined);
  }

  /** A sign of life or progress report to the task (best effort: a lost one only delays the idle clock's reset). */
  private signalTask(item: WorkToken, name: 'heartbeat' | 'progress', payload: object): void {
    void this.call(() => this.client.workflow.getHandle(item.w).signal(name, payload)).catch(() => undefined);
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return callTemporal(this.client, this.callTimeoutMs, fn);
  }

  /** An async-completion call: a vanished activity is `WorkNotFoundError`; Temporal out of reach, unavailable. */
  private async activityCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.call(fn);
    } catch (error) {
      if (error instanceof ActivityNotFoundError) throw new WorkNotFoundError();
      // The token names a namespace this server does not have: not one of ours.
      if (error instanceof NamespaceNotFoundError) throw new InvalidWorkTokenError('Temporal cannot read it');
      throw error;
    }
  }
}

function key(item: WorkToken): string {
  return `${item.w}/${item.i}`;
}

function taskIdOf(item: WorkToken): string {
  return item.w.replace(/^task-/, '');
}

function context(client: Client, item: WorkToken): ActivitySerializationContext {
  return { type: 'activity', namespace: client.options.namespace, activityId: item.i, workflowId: item.w, isLocal: false };
}

function durationToMs(duration: Parameters<typeof optionalTsToMs>[0]): number | null {
  const ms = optionalTsToMs(duration);
  return ms !== undefined && ms > 0 ? ms : null;
}
