/**
 * `taskWorkflow`: one durable workflow per task, carrying it through define -> implement -> review -> done.
 * Agent work runs in activities on each agent's own task queue; two clocks (stall and idle) escalate to a
 * human, who steers with signals. All state lives in one serializable object (see `state.ts`).
 */
import * as wf from '@temporalio/workflow';
import type { ChooseAgentRequest, OrchestratorActivities } from '../activities/orchestrator';
import type { AgentRunInput, AgentRunResult, Definition } from './agent-protocol';
import { SIGNAL_NAMES, SIGNAL_PAYLOADS, signals, stateQuery, type SignalName, type SignalPayload } from './messages';
import type { EscalationNotice } from './notifications';
import { BatonAgent, BatonPriority, BatonStage, BatonStatus } from './search-attributes';
import { effectivePolicy, type AgentStage, type Stage } from './spec';
import {
  TIMELINE_LIMIT,
  type EscalationReason,
  type TaskState,
  type TaskWorkflowInput,
  type TimelineType,
} from './state';
import { agentTaskQueue } from './task-queues';

/** How long an agent worker may go without an activity heartbeat before its attempt counts as lost. */
const AGENT_HEARTBEAT_TIMEOUT = '5s';

function chooseAgent(request: ChooseAgentRequest) {
  return wf
    .proxyLocalActivities<OrchestratorActivities>({
      startToCloseTimeout: '10s',
      retry: { maximumAttempts: 3 },
      summary: `choose agent · ${request.stage}${request.pinned ? ` · ${request.pinned}` : ''}`,
    })
    .chooseAgent(request);
}

/** Notices are retried until delivered: no attempt limit, backoff capped at five minutes. */
function notify(notice: EscalationNotice) {
  return wf
    .proxyActivities<OrchestratorActivities>({
      startToCloseTimeout: '30s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
      summary: `notify · ${notice.kind} · ${notice.reason}`,
    })
    .notify(notice);
}

interface AgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

/** A human decision that changes the task's course. */
type Action =
  | ({ kind: 'approve' } & SignalPayload<'approve'>)
  | ({ kind: 'requestChanges' } & SignalPayload<'requestChanges'>)
  | ({ kind: 'retry' } & SignalPayload<'retry'>)
  | ({ kind: 'reassign' } & SignalPayload<'reassign'>)
  | ({ kind: 'cancel' } & SignalPayload<'cancel'>);

type DispatchOutcome =
  | { kind: 'result'; agent: string; result: AgentRunResult }
  | { kind: 'failed'; agent: string | null; message: string }
  | { kind: 'interrupted' };

type ClockKind = 'stall' | 'idle' | 'reminder';

/** Input of a continued run: the task state plus notices not yet delivered. */
export interface TaskWorkflowRunInput extends TaskWorkflowInput {
  pendingNotices?: EscalationNotice[];
}

/**
 * Runs one task to its end and returns its final state.
 * Workflow id `task-<taskId>`; see `messages.ts` for the signals it accepts and the `state` query.
 */
export async function taskWorkflow(input: TaskWorkflowRunInput): Promise<TaskState> {
  return new TaskRun(input).run();
}

function nowIso(): string {
  return new Date().toISOString();
}

function describeError(error: unknown): string {
  if (error instanceof wf.ActivityFailure && error.cause) return describeError(error.cause);
  if (error instanceof Error) return error.message;
  return String(error);
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

const NEXT_STAGE: Record<AgentStage, Stage> = { define: 'implement', implement: 'review', review: 'done' };

class TaskRun {
  private readonly state: TaskState;
  private readonly outbox: EscalationNotice[];
  private action: Action | null = null;
  /** The main loop waits for a human decision (an escalation that blocks the flow). */
  private gate = false;
  private agentRunning = false;
  /** Bumped when clock deadlines may move earlier (pause, resume, escalation); signs of life do not bump it. */
  private clockEpoch = 0;
  private upserted: Record<string, string> = {};
  /** The agent that last worked on the current stage, avoided when a human reassigns without naming one. */
  private lastAgent: string | null = null;

  constructor(private readonly input: TaskWorkflowRunInput) {
    this.outbox = [...(input.pendingNotices ?? [])];
    this.state = input.state ?? this.initialState();
    wf.setHandler(stateQuery, () => this.state);
    for (const name of SIGNAL_NAMES) {
      wf.setHandler(signals[name], (payload: unknown) => this.receive(name, payload));
    }
  }

  private initialState(): TaskState {
    const { spec, defaults } = this.input;
    const at = nowIso();
    const info = wf.workflowInfo();
    return {
      taskId: spec.id,
      workflowId: info.workflowId,
      title: spec.title,
      priority: spec.priority,
      stage: 'define',
      status: 'queued',
      assignee: null,
      round: 1,
      definition: null,
      feedback: [],
      escalation: null,
      timeline: [{ at, type: 'created', detail: `task "${spec.title}" created` }],
      timelineDropped: 0,
      notes: [],
      results: [],
      agentOverrides: {},
      paused: null,
      clocks: { lastProgressAt: at, lastSignOfLifeAt: at },
      policy: effectivePolicy(spec.policy, defaults),
      spec,
      createdAt: at,
      updatedAt: at,
      closedAt: null,
      outcome: null,
    };
  }

  async run(): Promise<TaskState> {
    if (this.input.state) this.record('continued', `continued as new run ${wf.workflowInfo().runId}`);
    this.sync();
    this.deliverNotices().catch((error: unknown) => {
      if (!wf.isCancellation(error)) throw error;
    });
    try {
      while (this.state.stage !== 'done') {
        if (this.action?.kind === 'cancel') return this.close('cancelled');
        await this.continueAsNewIfSuggested();
        await this.waitUntil(() => this.state.paused === null || this.action?.kind === 'cancel');
        if (this.action) {
          this.applyAction();
          continue;
        }
        await this.runStage(this.state.stage);
      }
      return this.close('completed');
    } catch (error) {
      // A cancellation requested through Temporal itself (UI, CLI `workflow cancel`) ends the task as cancelled.
      if (wf.isCancellation(error)) {
        return this.close('cancelled', { reason: 'workflow cancelled through Temporal' });
      }
      throw error;
    }
  }

  // ---- stages -------------------------------------------------------------------------------------

  private async runStage(stage: AgentStage): Promise<void> {
    const { spec } = this.state;
    if (stage === 'define' && spec.goal && spec.acceptanceCriteria && spec.acceptanceCriteria.length > 0) {
      this.state.definition = { goal: spec.goal, acceptanceCriteria: spec.acceptanceCriteria };
      this.record('stage', 'the spec has a goal and acceptance criteria: taken as its own definition');
      return this.moveTo('implement');
    }
    const outcome = await this.dispatch(stage);
    if (outcome.kind === 'interrupted') return this.applyAction();
    if (outcome.kind === 'failed') {
      this.record('attempt-failed', `${stage}${outcome.agent ? ` · ${outcome.agent}` : ''}: ${outcome.message}`);
      this.escalate('agent-failed', outcome.message);
      return this.awaitHuman();
    }
    const { agent, result } = outcome;
    this.state.results.push({
      stage,
      round: this.state.round,
      agent,
      outcome: result.outcome,
      summary: result.summary,
      at: nowIso(),
    });
    this.record('result', `${stage} · ${agent} · ${result.outcome}${result.summary ? `: ${result.summary}` : ''}`);
    this.resolveEscalation('system', `${agent} delivered a result`);
    this.markProgress();
    if (result.outcome === 'blocked') {
      this.escalate('agent-blocked', result.summary ?? `${agent} reported it is blocked`);
      return this.awaitHuman();
    }
    if (stage === 'define') {
      this.state.definition = result.definition ?? this.definitionFromSpec();
      return this.moveTo('implement');
    }
    if (stage === 'implement') return this.moveTo('review');
    if (result.outcome === 'approved') return this.moveTo('done');
    this.state.feedback.push({ round: this.state.round, from: agent, text: result.feedback ?? result.summary ?? '' });
    if (this.state.round >= this.state.policy.maxReviewRounds) {
      this.escalate('review-rounds', `changes still requested after ${this.state.round} review round(s)`);
      return this.awaitHuman();
    }
    this.state.round += 1;
    this.moveTo('implement');
  }

  private definitionFromSpec(): Definition {
    const { spec } = this.state;
    return { goal: spec.goal ?? spec.title, acceptanceCriteria: spec.acceptanceCriteria ?? [] };
  }

  /** Chooses an agent, runs the stage on its queue, and returns its result unless a human interrupts. */
  private async dispatch(stage: AgentStage): Promise<DispatchOutcome> {
    const { spec, round } = this.state;
    let agent: string;
    try {
      // An override of '' is a human's "any other agent": it lifts the spec's pin and avoids the last agent.
      const override = this.state.agentOverrides[stage];
      const pinned = override === undefined ? spec.agents[stage] : override || undefined;
      const exclude = override === '' && this.lastAgent ? [this.lastAgent] : [];
      agent = (await chooseAgent({ stage, capabilities: spec.capabilities, pinned, exclude })).agent;
    } catch (error) {
      return { kind: 'failed', agent: null, message: describeError(error) };
    }
    const { runAgent } = wf.proxyActivities<AgentActivities>({
      taskQueue: agentTaskQueue(wf.workflowInfo().taskQueue, agent),
      startToCloseTimeout: '24h',
      heartbeatTimeout: AGENT_HEARTBEAT_TIMEOUT,
      // Wait until the driver confirms the process group is gone before the task moves on.
      cancellationType: wf.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: {
        initialInterval: '1s',
        backoffCoefficient: 2,
        maximumInterval: '1m',
        maximumAttempts: this.state.policy.maxAttempts,
        nonRetryableErrorTypes: ['InvalidAgentResult', 'AgentMisconfigured'],
      },
      summary: `${stage} · ${agent} · round ${round}`,
    });
    const input: AgentRunInput = {
      workflowId: this.state.workflowId,
      agent,
      signOfLifeEveryMs: Math.min(60_000, Math.max(200, Math.floor(this.state.policy.idleTimeoutMs / 4))),
      context: {
        taskId: this.state.taskId,
        stage,
        round,
        task: spec,
        definition: this.state.definition,
        feedback: this.state.feedback,
        notes: this.state.notes,
        results: this.state.results,
      },
    };

    this.assign(agent, stage);
    this.lastAgent = agent;
    const scope = new wf.CancellationScope();
    const settled: { value?: { ok: true; result: AgentRunResult } | { ok: false; error: unknown } } = {};
    void scope
      .run(() => runAgent(input))
      .then(
        (result) => (settled.value = { ok: true, result }),
        (error: unknown) => (settled.value = { ok: false, error }),
      );
    await this.waitUntil(() => settled.value !== undefined || this.action !== null);
    if (this.action !== null && settled.value === undefined) {
      scope.cancel();
      await wf.condition(() => settled.value !== undefined);
    }
    this.unassign();
    if (this.action !== null) return { kind: 'interrupted' };
    const value = settled.value!;
    return value.ok
      ? { kind: 'result', agent, result: value.result }
      : { kind: 'failed', agent, message: describeError(value.error) };
  }

  private async awaitHuman(): Promise<void> {
    this.gate = true;
    this.sync();
    await this.waitUntil(() => this.action !== null);
    this.gate = false;
    this.applyAction();
  }

  /** Carries out the pending human decision. */
  private applyAction(): void {
    const action = this.action;
    if (!action || action.kind === 'cancel') return;
    this.action = null;
    const stage = this.state.stage as AgentStage;
    switch (action.kind) {
      case 'approve':
        this.resolveEscalation(action.by, `approved${action.comment ? `: ${action.comment}` : ''}`);
        if (stage === 'define' && !this.state.definition) this.state.definition = this.definitionFromSpec();
        return this.moveTo(NEXT_STAGE[stage]);
      case 'requestChanges':
        this.resolveEscalation(action.by, 'changes requested');
        this.state.feedback.push({ round: this.state.round, from: action.by, text: action.feedback });
        this.state.round += 1;
        return this.moveTo('implement');
      case 'retry':
        this.resolveEscalation(action.by, `retry ${stage}`);
        return this.markProgress();
      case 'reassign': {
        const target = action.stage ?? stage;
        this.resolveEscalation(action.by, `reassigned ${target}${action.agent ? ` to ${action.agent}` : ''}`);
        this.state.agentOverrides[target] = action.agent ?? '';
        if (target !== stage) return this.moveTo(target);
        return this.markProgress();
      }
    }
  }

  // ---- signals ------------------------------------------------------------------------------------

  /** Validates and applies one signal; a malformed or untimely one is recorded and ignored, never thrown. */
  private receive(name: SignalName, payload: unknown): void {
    try {
      const parsed = SIGNAL_PAYLOADS[name].safeParse(payload);
      if (!parsed.success) {
        const reasons = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'payload'}: ${issue.message}`);
        return this.record('signal-rejected', `${name}: ${reasons.join('; ')}`);
      }
      if (this.state.closedAt) return this.record('signal-rejected', `${name}: the task is already ${this.state.status}`);
      const rejection = this.handle(name, parsed.data);
      if (rejection) return this.record('signal-rejected', `${name}: ${rejection}`);
      this.sync();
    } catch (error) {
      this.record('signal-rejected', `${name}: ${describeError(error)}`);
    }
  }

  /** Applies a valid signal; returns why it was refused, or nothing when it was taken. */
  private handle<N extends SignalName>(name: N, payload: SignalPayload<N>): string | undefined {
    const stage = this.state.stage;
    switch (name) {
      case 'approve': {
        const { by, comment } = payload as SignalPayload<'approve'>;
        if (this.gate) return this.take({ kind: 'approve', by, comment }, `approve by ${by}`);
        if (this.state.escalation) {
          this.resolveEscalation(by, `approved: continue${comment ? ` (${comment})` : ''}`);
          this.markProgress();
          return this.signalTaken(`approve by ${by}: escalation cleared, the agent carries on`);
        }
        return 'nothing waits for approval';
      }
      case 'requestChanges': {
        const { by, feedback } = payload as SignalPayload<'requestChanges'>;
        if (stage === 'define' && !this.gate) return 'the task is still being defined: nothing to change yet';
        return this.take({ kind: 'requestChanges', by, feedback }, `requestChanges by ${by}`);
      }
      case 'retry': {
        const { by } = payload as SignalPayload<'retry'>;
        return this.take({ kind: 'retry', by }, `retry ${stage} by ${by}`);
      }
      case 'reassign': {
        const { by, agent, stage: target } = payload as SignalPayload<'reassign'>;
        const where = `${target ?? stage}${agent ? ` to ${agent}` : ''}`;
        return this.take({ kind: 'reassign', by, agent, stage: target }, `reassign ${where} by ${by}`);
      }
      case 'cancel': {
        const { by, reason } = payload as SignalPayload<'cancel'>;
        this.action = { kind: 'cancel', by, reason };
        return this.signalTaken(`cancel by ${by}${reason ? `: ${reason}` : ''}`);
      }
      case 'pause': {
        const { by } = payload as SignalPayload<'pause'>;
        if (this.state.paused) return `already paused by ${this.state.paused.by}`;
        this.state.paused = { by, since: nowIso() };
        this.clockEpoch += 1;
        return this.signalTaken(`paused by ${by}`);
      }
      case 'resume': {
        const { by } = payload as SignalPayload<'resume'>;
        if (!this.state.paused) return 'the task is not paused';
        this.state.paused = null;
        this.markProgress();
        // Runs paused before this fix waited without a timer until the next stage: re-arm the clocks now.
        if (wf.patched('resume-rearms-clocks')) this.clockEpoch += 1;
        return this.signalTaken(`resumed by ${by}`);
      }
      case 'setPriority': {
        const { by, priority } = payload as SignalPayload<'setPriority'>;
        if (priority === this.state.priority) return `priority is already ${priority}`;
        this.state.priority = priority;
        return this.signalTaken(`priority set to ${priority} by ${by}`);
      }
      case 'addNote': {
        const { by, text } = payload as SignalPayload<'addNote'>;
        this.state.notes.push({ at: nowIso(), by, text });
        return this.signalTaken(`note from ${by}: ${text}`);
      }
      case 'escalate': {
        const { by, reason } = payload as SignalPayload<'escalate'>;
        if (this.state.escalation) return `already escalated (${this.state.escalation.reason})`;
        this.escalate('manual', reason, by);
        return undefined;
      }
      case 'progress': {
        const { agent, message } = payload as SignalPayload<'progress'>;
        this.markProgress();
        if (message) this.record('progress', `${agent}: ${message}`);
        return undefined;
      }
      case 'heartbeat':
        this.state.clocks.lastSignOfLifeAt = nowIso();
        return undefined;
    }
    return undefined;
  }

  private take(action: Action, detail: string): string | undefined {
    if (this.state.stage === 'done') return 'the task is done';
    if (this.action?.kind === 'cancel') return 'the task is being cancelled';
    this.action = action;
    return this.signalTaken(detail);
  }

  private signalTaken(detail: string): undefined {
    this.record('signal', detail);
    return undefined;
  }

  // ---- clocks and escalation ----------------------------------------------------------------------

  /**
   * Waits until `done()` holds while the escalation clocks run: the stall clock (no progress), the idle
   * clock (no sign of life from a working agent) and, once escalated, the reminder clock. Each is one
   * durable timer; a sign of life only moves a deadline later, so it re-arms the timer when it fires
   * instead of cancelling it, which keeps heartbeats from growing the history.
   */
  private async waitUntil(done: () => boolean): Promise<void> {
    while (!done()) {
      const clock = this.nextClock();
      const epoch = this.clockEpoch;
      const woken = () => done() || this.clockEpoch !== epoch;
      if (!clock) {
        await wf.condition(woken);
        continue;
      }
      const timedOut = !(await wf.condition(woken, Math.max(1, clock.at - Date.now()), { summary: clock.summary }));
      if (timedOut && !done()) this.onClock(clock.kind);
    }
  }

  private nextClock(): { kind: ClockKind; at: number; summary: string } | null {
    const { paused, escalation, clocks, policy } = this.state;
    if (paused) return null;
    if (escalation) {
      const at = Date.parse(escalation.lastNotifiedAt ?? escalation.since) + policy.reescalateAfterMs;
      return { kind: 'reminder', at, summary: `reminder · ${escalation.reason} unanswered for ${formatMs(policy.reescalateAfterMs)}` };
    }
    const stall = {
      kind: 'stall' as const,
      at: Date.parse(clocks.lastProgressAt) + policy.stallTimeoutMs,
      summary: `stall clock · ${formatMs(policy.stallTimeoutMs)} without progress`,
    };
    if (!this.agentRunning || !this.state.assignee) return stall;
    const idle = {
      kind: 'idle' as const,
      at: Date.parse(clocks.lastSignOfLifeAt) + policy.idleTimeoutMs,
      summary: `idle clock · ${this.state.assignee.agent} · ${formatMs(policy.idleTimeoutMs)} without a sign of life`,
    };
    return idle.at < stall.at ? idle : stall;
  }

  /** A timer ran out: escalate, remind, or re-arm when the deadline moved meanwhile. */
  private onClock(kind: ClockKind): void {
    const clock = this.nextClock();
    if (!clock || clock.kind !== kind || clock.at > Date.now()) return;
    const { policy } = this.state;
    if (kind === 'reminder') {
      const escalation = this.state.escalation!;
      escalation.notifications += 1;
      escalation.lastNotifiedAt = nowIso();
      this.record('reminder', `${escalation.reason} still unanswered (reminder ${escalation.notifications - 1})`);
      this.enqueueNotice('reminder');
    } else if (kind === 'stall') {
      this.escalate('stall', `no progress for ${formatMs(policy.stallTimeoutMs)}`);
    } else {
      this.escalate('idle', `no sign of life from ${this.state.assignee?.agent ?? 'the agent'} for ${formatMs(policy.idleTimeoutMs)}`);
    }
    this.sync();
  }

  private escalate(reason: EscalationReason, detail: string, by?: string): void {
    const at = nowIso();
    this.state.escalation = { reason, since: at, detail, by, notifications: 1, lastNotifiedAt: at };
    this.record('escalated', `${reason}: ${detail}${by ? ` (by ${by})` : ''}`);
    this.clockEpoch += 1;
    this.enqueueNotice('escalated');
    this.sync();
  }

  private resolveEscalation(by: string, how: string): void {
    const escalation = this.state.escalation;
    if (!escalation) return;
    this.state.escalation = null;
    this.record('resolved', `${escalation.reason} resolved by ${by}: ${how}`);
    this.clockEpoch += 1;
  }

  /** Progress resets both clocks (progress is also a sign of life). */
  private markProgress(): void {
    const at = nowIso();
    this.state.clocks = { lastProgressAt: at, lastSignOfLifeAt: at };
  }

  private enqueueNotice(kind: EscalationNotice['kind']): void {
    const { escalation } = this.state;
    if (!escalation) return;
    this.outbox.push({
      kind,
      taskId: this.state.taskId,
      workflowId: this.state.workflowId,
      title: this.state.title,
      priority: this.state.priority,
      stage: this.state.stage,
      reason: escalation.reason,
      detail: escalation.detail,
      since: escalation.since,
      notification: escalation.notifications,
    });
  }

  /** Delivers notices one by one; a notice leaves the outbox only once delivered, so continue-as-new keeps it. */
  private async deliverNotices(): Promise<void> {
    for (;;) {
      await wf.condition(() => this.outbox.length > 0);
      await notify(this.outbox[0]!);
      this.outbox.shift();
    }
  }

  // ---- transitions and bookkeeping ----------------------------------------------------------------

  private moveTo(stage: Stage): void {
    this.state.stage = stage;
    this.record('stage', stage === 'done' ? 'done' : `${stage} · round ${this.state.round}`);
    this.markProgress();
    this.sync();
  }

  private assign(agent: string, stage: AgentStage): void {
    this.state.assignee = { agent, stage, since: nowIso() };
    this.agentRunning = true;
    this.state.clocks.lastSignOfLifeAt = nowIso();
    this.record('assigned', `${stage} · ${agent} · round ${this.state.round}`);
    this.sync();
  }

  /** No upsert here: every path out of a dispatch ends in a transition that syncs. */
  private unassign(): void {
    this.agentRunning = false;
    this.state.assignee = null;
  }

  private close(status: 'completed' | 'cancelled', outcome?: { by?: string; reason?: string }): TaskState {
    const cancel = this.action?.kind === 'cancel' ? this.action : undefined;
    this.action = null;
    this.state.escalation = null;
    this.state.status = status;
    this.state.closedAt = nowIso();
    this.state.outcome = outcome ?? (cancel ? { by: cancel.by, reason: cancel.reason } : null);
    this.record('stage', status === 'completed' ? 'task completed' : `task cancelled${cancel ? ` by ${cancel.by}` : ''}`);
    this.sync();
    return this.state;
  }

  private record(type: TimelineType, detail: string): void {
    const { timeline } = this.state;
    const at = nowIso();
    timeline.push({ at, type, detail });
    if (timeline.length > TIMELINE_LIMIT) {
      timeline.splice(0, timeline.length - TIMELINE_LIMIT);
      this.state.timelineDropped += 1;
    }
    this.state.updatedAt = at;
  }

  /** Derives the status and upserts the search attributes that changed. */
  private sync(): void {
    const { state } = this;
    if (!state.closedAt) {
      state.status = state.paused
        ? 'paused'
        : state.escalation
          ? 'escalated'
          : this.agentRunning
            ? 'running'
            : state.results.length > 0 || state.stage !== 'define'
              ? 'running'
              : 'queued';
    }
    const wanted: Record<string, string> = {
      stage: state.stage,
      status: state.status,
      priority: state.priority,
      agent: state.assignee?.agent ?? '',
    };
    const changed = Object.keys(wanted).filter((key) => wanted[key] !== this.upserted[key]);
    if (changed.length === 0) return;
    wf.upsertSearchAttributes([
      { key: BatonStage, value: state.stage },
      { key: BatonStatus, value: state.status },
      { key: BatonPriority, value: state.priority },
      { key: BatonAgent, value: state.assignee ? state.assignee.agent : null },
    ]);
    this.upserted = wanted;
    const who = state.assignee ? ` · ${state.assignee.agent}` : '';
    wf.setCurrentDetails(`**${state.status}** · ${state.stage}${who} · round ${state.round}`);
  }

  private async continueAsNewIfSuggested(): Promise<void> {
    if (!wf.workflowInfo().continueAsNewSuggested) return;
    await wf.condition(wf.allHandlersFinished);
    await wf.continueAsNew<typeof taskWorkflow>({ ...this.input, state: this.state, pendingNotices: this.outbox });
  }
}
