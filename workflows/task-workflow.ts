/**
 * `taskWorkflow`: one durable workflow per task, carrying it through define -> implement -> review -> done.
 * Agent work runs in activities on each agent's own task queue; two clocks (stall and idle) escalate to a
 * human, who steers with signals. All state lives in one serializable object (see `state.ts`).
 */
import * as wf from '@temporalio/workflow';
import type { ChooseAgentRequest, OrchestratorActivities } from '../activities/orchestrator';
import { awaitDependencies, DEPENDENCIES_PATCH, refusedWhileWaiting, type DependencyHost } from './dependencies';
import { addUsage, ZERO_USAGE, type AgentRunInput, type AgentRunResult, type Definition } from './agent-protocol';
import {
  conflictFeedback,
  formatUsd,
  gateFeedback,
  lowConfidenceFeedback,
  secretFeedback,
  shortSha,
} from './feedback';
import { PRIORITY_KEYS, type AgentKind, type AgentLiveness, type ChosenAgent } from './fleet';
import { SIGNAL_NAMES, SIGNAL_PAYLOADS, signals, stateQuery, type SignalName, type SignalPayload } from './messages';
import { mergeUpsertsOfEachActivation } from './interceptors';
import type { EscalationNotice } from './notifications';
import { BatonAgent, BatonCostUsd, BatonGates, BatonPriority, BatonStage, BatonStatus } from './search-attributes';
import { effectivePolicy, type AgentStage, type Stage } from './spec';
import {
  GATES_LIMIT,
  TIMELINE_LIMIT,
  type EscalationReason,
  type TaskState,
  type TaskWorkflowInput,
  type TimelineType,
} from './state';
import { agentTaskQueue, agentWorkspaceQueue } from './task-queues';
import {
  resolveGates,
  type GateCommand,
  type GateRun,
  type MergeSpec,
  type WorkspaceActivities,
  type WorkspaceRef,
} from './workspace';

/** How long an agent worker may go without an activity heartbeat before its attempt counts as lost. */
const AGENT_HEARTBEAT_TIMEOUT = '5s';
/** Tasks started before coding tasks existed keep their old command sequence (see `TaskRun.v2`). */
const CODING_TASKS_PATCH = 'coding-tasks';
/** Tasks started before the fleet keep Temporal's own retries on one agent's queue (see `TaskRun.fleet`). */
const FLEET_ROUTING_PATCH = 'fleet-routing';
/**
 * A re-queue asks Temporal first whether the agent work already started: agents send their first sign of
 * life only after a moment (a short stage sends none), so its absence no longer proves the work is queued.
 */
const REQUEUE_ASKS_PATCH = 'requeue-asks-temporal';
/** A resume re-arms the clocks (runs paused before it waited without a timer until the next stage). */
const RESUME_REARMS_CLOCKS_PATCH = 'resume-rearms-clocks';
/**
 * A lean handoff (see `TaskRun.lean`): the spec's pinned agents are confirmed once, at the first choice of a
 * run, and the search attributes one activation changes are upserted by one command.
 */
const LEAN_HANDOFF_PATCH = 'lean-handoff';
/**
 * A steady clock (see `TaskRun.steady`): one clock timer outlives the waits that armed it, so a handoff
 * neither cancels nor starts a timer.
 */
const STEADY_CLOCK_PATCH = 'steady-clock';
/**
 * Every patch of this workflow at once (see `TaskRun.patched`): a run started since records one marker for
 * all of them and asks no other. Each `patched()` writes a marker and an upsert of `TemporalChangeVersion`,
 * events that the first handoff's workflow task carries to the worker: five patches were ten such events.
 */
const ALL_PATCHES_PATCH = 'all-patches-2026-12';
/** How often a delivery may find the base moved under it before a human is asked. */
const MAX_DELIVERY_ATTEMPTS = 3;

/** The git and gate activities on one agent's queue (its worker has, or can fetch, the task's branch). */
function workspaceOn(agent: string, summary: string, options: Partial<wf.ActivityOptions> = {}): WorkspaceActivities {
  return wf.proxyActivities<WorkspaceActivities>({
    taskQueue: agentWorkspaceQueue(wf.workflowInfo().taskQueue, agent),
    startToCloseTimeout: '30m',
    heartbeatTimeout: '1m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 5,
      nonRetryableErrorTypes: ['WorkspaceMisconfigured'],
    },
    summary,
    ...options,
  });
}

function chooseAgent(request: ChooseAgentRequest): Promise<ChosenAgent> {
  return wf
    .proxyLocalActivities<OrchestratorActivities>({
      startToCloseTimeout: '10s',
      retry: { maximumAttempts: 3 },
      summary: `choose agent · ${request.stage}${request.pinned ? ` · ${request.pinned}` : ''}`,
    })
    .chooseAgent(request);
}

/** Asks Temporal whether the task's pending agent work was taken by a worker (before a re-queue). */
function agentWorkStarted(workflowId: string): Promise<boolean> {
  return wf
    .proxyLocalActivities<OrchestratorActivities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 }, summary: 'agent work started?' })
    .agentWorkStarted({ workflowId });
}

/** Asks Temporal whether an agent still has a live worker (after one of its attempts was lost). */
function checkAgent(agent: string): Promise<AgentLiveness> {
  return wf
    .proxyLocalActivities<FleetActivities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 }, summary: `check agent · ${agent}` })
    .checkAgent({ agent });
}

interface FleetActivities {
  checkAgent(request: { agent: string }): Promise<AgentLiveness>;
}

/** Failure types an agent attempt ends with that another attempt cannot fix. */
const FINAL_AGENT_FAILURES = ['InvalidAgentResult', 'AgentMisconfigured', 'WorkspaceMisconfigured'];

/** The attempt's worker went away: its activity heartbeat (or its start-to-close time) ran out. */
function workerLost(error: unknown): boolean {
  return error instanceof wf.ActivityFailure && error.cause instanceof wf.TimeoutFailure;
}

function finalFailure(error: unknown): boolean {
  const cause = error instanceof wf.ActivityFailure ? error.cause : undefined;
  return cause instanceof wf.ApplicationFailure && (cause.nonRetryable || FINAL_AGENT_FAILURES.includes(cause.type ?? ''));
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
  | { kind: 'interrupted' }
  /** Opening the task's workspace escalated (and the human has answered): the loop carries on. */
  | { kind: 'handled' };

/** How a piece of work that a human may interrupt ended (`requeued`: a new priority sent it back to the queue). */
type Interruptible<T> = { kind: 'ok'; value: T } | { kind: 'error'; error: unknown } | { kind: 'interrupted' } | { kind: 'requeued' };

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

/** A state carried over from a run started before the v2 fields existed gets their empty values. */
function upgradeState(state: TaskState): TaskState {
  return {
    ...state,
    // An old run's policy holds only the clock fields; the spec gives the rest (a v2 run's own values win).
    policy: { ...effectivePolicy(state.spec.policy, state.policy), ...state.policy },
    cost: state.cost ?? { ...ZERO_USAGE },
    branch: state.branch ?? null,
    gates: state.gates ?? [],
    repoConfig: state.repoConfig ?? null,
    step: state.step ?? 'agent',
  };
}

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
  /**
   * Runs started before coding tasks existed replay their old command sequence: no workspace, gates,
   * budget, confidence threshold or independent-review checks. Decided once, at the start of each run.
   */
  private v2 = false;
  /**
   * Runs with the fleet (patch `fleet-routing`, decided once at the start of a run): the workflow retries an
   * agent's attempts itself, fails a stage over to another agent when its agent has no live worker, queues
   * agent work at the task's priority, and re-queues work not yet started when the priority changes.
   */
  private fleet = false;
  /** The assigned agent's attempt has started (a sign of life arrived since the assignment, or Temporal said so). */
  private agentStarted = false;
  /** A new priority asks for the waiting agent work to go back to the queue. */
  private requeue = false;
  /** Runs that honour `spec.dependsOn` (patch `task-dependencies`, decided once at the start of a run). */
  private deps = false;
  /**
   * Runs with a lean handoff (patch `lean-handoff`, decided once at the start of a run): the first agent
   * choice also confirms every other agent the spec pins, so a later stage handed to one of them needs no
   * local activity (the handoff's critical path); and the search attributes one activation upserts go to
   * Temporal as one command (workflows/interceptors.ts), not one per transition. A human's reassignment and
   * every unpinned stage still ask the fleet each time.
   */
  private lean = false;
  /**
   * Runs with a steady clock (patch `steady-clock`, decided once at the start of a run): the clock timer is
   * armed once for the earliest deadline and kept across stages and waits (a deadline that moved later
   * re-arms it when it fires, as a sign of life does), and is replaced only when a deadline moves earlier or
   * no clock runs. A handoff then sends Temporal no timer commands, and the main loop no longer awaits the
   * checks that have nothing to wait for. Before it, each wait started its own timer and cancelled it on return.
   */
  private steady = false;
  /** Started with every patch (patch `all-patches-2026-12`): no other patch is asked, each one holds. */
  private allPatched = false;
  /** The steady clock's timer: the deadline it was armed for, and whether it fired. */
  private armed: { at: number; scope: wf.CancellationScope; fired: boolean } | null = null;
  /** The run's root scope, where the steady clock's timer lives (a stage's scope may be cancelled under it). */
  private rootScope: wf.CancellationScope | null = null;
  /** Agents the spec pins, confirmed by this run's first choice, with their kind. */
  private readonly confirmedPins = new Map<string, AgentKind>();
  /** The task waits for its dependencies (workflows/dependencies.ts): status `waiting`, no stall or idle clock. */
  private waiting = false;
  /**
   * Since when the next stage's work has been ready without a human in between (the task's start, the end of
   * its dependency wait, the last result), for the agent's latency metrics; null once a human stepped in.
   */
  private readySince: string | null = null;

  constructor(private readonly input: TaskWorkflowRunInput) {
    this.outbox = [...(input.pendingNotices ?? [])];
    this.state = input.state ? upgradeState(input.state) : this.initialState();
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
      cost: { ...ZERO_USAGE },
      branch: null,
      gates: [],
      repoConfig: null,
      step: 'agent',
      spec,
      createdAt: at,
      updatedAt: at,
      closedAt: null,
      outcome: null,
    };
  }

  async run(): Promise<TaskState> {
    this.allPatched = wf.patched(ALL_PATCHES_PATCH);
    this.v2 = this.patched(CODING_TASKS_PATCH);
    this.fleet = this.v2 && this.patched(FLEET_ROUTING_PATCH);
    this.deps = this.v2 && this.patched(DEPENDENCIES_PATCH);
    this.lean = this.fleet && this.patched(LEAN_HANDOFF_PATCH);
    if (this.lean) mergeUpsertsOfEachActivation();
    this.steady = this.lean && this.patched(STEADY_CLOCK_PATCH);
    this.rootScope = wf.CancellationScope.current();
    if (this.input.state) this.record('continued', `continued as new run ${wf.workflowInfo().runId}`);
    this.sync();
    this.deliverNotices().catch((error: unknown) => {
      if (!wf.isCancellation(error)) throw error;
    });
    try {
      // A continued run carries a task that started long ago: only a first run waits for its dependencies.
      if (this.deps && !this.input.state) await awaitDependencies(this.dependencyHost());
      if (!this.input.state) this.readySince = this.state.spec.dependsOn.length > 0 ? nowIso() : this.state.createdAt;
      while (this.state.stage !== 'done') {
        if (this.action?.kind === 'cancel') return await this.close('cancelled');
        const unpaused = () => this.state.paused === null || this.action?.kind === 'cancel';
        if (this.steady) {
          if (wf.workflowInfo().continueAsNewSuggested) await this.continueAsNewIfSuggested();
          if (!unpaused()) await this.waitUntil(unpaused);
        } else {
          await this.continueAsNewIfSuggested();
          await this.waitUntil(unpaused);
        }
        if (this.action) {
          this.applyAction();
          continue;
        }
        await this.runStage(this.state.stage);
      }
      return await this.close('completed');
    } catch (error) {
      // A cancellation requested through Temporal itself (UI, CLI `workflow cancel`) ends the task as cancelled.
      if (wf.isCancellation(error)) {
        return await wf.CancellationScope.nonCancellable(() =>
          this.close('cancelled', { reason: 'workflow cancelled through Temporal' }),
        );
      }
      throw error;
    }
  }

  // ---- stages -------------------------------------------------------------------------------------

  private async runStage(stage: AgentStage): Promise<void> {
    if (this.v2 && this.state.step === 'gates' && stage === 'implement') return this.gatesStep();
    if (this.v2 && this.state.step === 'deliver' && stage === 'review') return this.deliverStep();
    const { spec } = this.state;
    if (stage === 'define' && spec.goal && spec.acceptanceCriteria && spec.acceptanceCriteria.length > 0) {
      this.state.definition = { goal: spec.goal, acceptanceCriteria: spec.acceptanceCriteria };
      this.record('stage', 'the spec has a goal and acceptance criteria: taken as its own definition');
      return this.moveTo('implement');
    }
    if (this.v2 && this.overBudget()) {
      const { cost, policy } = this.state;
      this.escalate('budget', `reported cost ${formatUsd(cost.costUsd)} reached the budget ${formatUsd(policy.maxCostUsd!)}: no further stage starts`);
      return this.awaitHuman();
    }
    const outcome = await this.dispatch(stage);
    if (outcome.kind === 'handled') return;
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
      ...(this.v2 ? this.resultEvidence(result) : {}),
    });
    if (this.v2) this.noteWork(agent, result);
    this.readySince = nowIso();
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
    if (stage === 'implement') {
      if (this.v2 && this.state.branch) return this.afterImplement(agent, result);
      return this.moveTo('review');
    }
    if (result.outcome === 'approved') {
      if (this.v2 && (result.confidence ?? -1) < this.state.policy.minConfidence) {
        const text = lowConfidenceFeedback(result.confidence, this.state.policy.minConfidence, result.feedback ?? result.summary);
        return this.sendBack(agent, text);
      }
      if (this.v2 && this.state.branch) {
        this.state.step = 'deliver';
        return this.deliverStep();
      }
      return this.moveTo('done');
    }
    return this.sendBack(agent, result.feedback ?? result.summary ?? '');
  }

  /**
   * Sends the change back to implement with feedback (from a reviewer, a gate, the secret scan or a
   * conflict), or asks a human once the rounds are used up.
   */
  private sendBack(from: string, text: string): Promise<void> | void {
    this.state.feedback.push({ round: this.state.round, from, text });
    if (this.state.round >= this.state.policy.maxReviewRounds) {
      this.escalate('review-rounds', `changes still requested after ${this.state.round} round(s)`);
      return this.awaitHuman();
    }
    this.state.round += 1;
    this.moveTo('implement');
  }

  private overBudget(): boolean {
    const { maxCostUsd } = this.state.policy;
    return maxCostUsd !== null && this.state.cost.costUsd >= maxCostUsd;
  }

  /** What a result proves, kept in `state.results`: usage, a review's confidence and commit, an implement's commit. */
  private resultEvidence(result: AgentRunResult) {
    return {
      ...(result.usage ? { usage: addUsage(ZERO_USAGE, result.usage) } : {}),
      ...(result.confidence !== undefined ? { confidence: result.confidence } : {}),
      ...(result.reviewedCommit ? { reviewedCommit: result.reviewedCommit } : {}),
      ...(result.change ? { commit: result.change.commit, diffStat: result.change.diffStat } : {}),
    };
  }

  /** Books a run's cost and remembers which agent's machine worked on the branch. */
  private noteWork(agent: string, result: AgentRunResult): void {
    if (result.usage) {
      this.state.cost = addUsage(this.state.cost, result.usage);
      this.record('budget', `${agent} reported ${formatUsd(result.usage.costUsd ?? 0)}; task total ${formatUsd(this.state.cost.costUsd)}`);
    }
    const { branch } = this.state;
    if (!branch) return;
    branch.workedBy = agent;
    if (!branch.agents.includes(agent)) branch.agents.push(agent);
    if (result.worktree) branch.worktree = result.worktree;
  }

  // ---- the repository: workspace, gates, integration, delivery --------------------------------------

  private workspaceRef(): WorkspaceRef {
    const { branch, spec, repoConfig } = this.state;
    return {
      taskId: this.state.taskId,
      repo: spec.repo!,
      branch: branch!.name,
      baseCommit: branch!.baseCommit,
      head: branch!.head,
      secretPatterns: repoConfig?.secretPatterns ?? [],
    };
  }

  /**
   * Runs one git or gate activity that a human may interrupt. Returns undefined when it did not deliver a
   * value: interrupted (the action is applied) or failed for good (escalated `workspace`, and the human answered).
   */
  private async workspaceCall<T>(agent: string, summary: string, call: (activities: WorkspaceActivities) => Promise<T>, options?: Partial<wf.ActivityOptions>): Promise<T | undefined> {
    const outcome = await this.interruptible(() => call(workspaceOn(agent, summary, options)));
    // (`requeued` only ends agent work, never a git or gate call.)
    if (outcome.kind === 'interrupted' || outcome.kind === 'requeued') {
      this.applyAction();
      return undefined;
    }
    if (outcome.kind === 'error') {
      this.escalate('workspace', `${summary}: ${describeError(outcome.error)}`);
      await this.awaitHuman();
      return undefined;
    }
    return outcome.value;
  }

  /** Opens the task's branch and worktree on the machine of the agent about to work; false when a human had to step in. */
  private async openWorkspace(agent: string): Promise<boolean> {
    const repo = this.state.spec.repo!;
    const opened = await this.workspaceCall(agent, `workspace · open · ${agent}`, (a) =>
      a.openWorkspace({ taskId: this.state.taskId, repo }),
    );
    if (!opened) return false;
    this.state.branch = {
      name: opened.branch,
      base: opened.base,
      baseCommit: opened.baseCommit,
      head: opened.head,
      worktree: opened.worktree,
      workedBy: agent,
      agents: [agent],
    };
    this.state.repoConfig = opened.config;
    const setup = resolveGates(opened.config, this.state.policy.gates);
    const gates =
      setup.kind === 'skip'
        ? 'skipped (policy.gates: "skip")'
        : setup.kind === 'run'
          ? `${setup.profile} (${setup.gates.map((g) => g.name).join(', ')})`
          : 'not usable';
    this.record(
      'workspace',
      `${opened.branch} from ${opened.base} at ${shortSha(opened.baseCommit)}, worktree ${opened.worktree} on ${agent}'s machine; gates ${gates} from ${opened.config.source}`,
    );
    this.sync();
    return true;
  }

  /** After implement: record the commit, or send a change the secret scan blocked back; then the gates. */
  private async afterImplement(agent: string, result: AgentRunResult): Promise<void> {
    const branch = this.state.branch!;
    if (result.secretFindings && result.secretFindings.length > 0) {
      const kinds = [...new Set(result.secretFindings.map((f) => f.kind))].join(', ');
      this.record('secret-blocked', `${result.secretFindings.length} secret(s) (${kinds}) in ${agent}'s change: nothing committed`);
      return this.sendBack('secret-scan', secretFeedback(result.secretFindings));
    }
    if (result.change && result.change.commit !== branch.head) {
      const { diffStat } = result.change;
      branch.head = result.change.commit;
      this.record(
        'commit',
        `${agent}: ${shortSha(result.change.commit)} on ${branch.name} (${result.change.commits} commit(s), ${diffStat.files} file(s), +${diffStat.insertions} −${diffStat.deletions})`,
      );
    } else {
      this.record('commit', `${agent} changed nothing: ${branch.name} stays at ${shortSha(branch.head)}`);
    }
    this.state.step = 'gates';
    return this.gatesStep();
  }

  /** The quality gates on the branch head: all pass -> review; any fails -> back to implement with its output. */
  private async gatesStep(): Promise<void> {
    let setup = resolveGates(this.state.repoConfig!, this.state.policy.gates);
    if (setup.kind === 'problem') {
      // The base's .baton.yaml may have been fixed since: read it again before asking a human.
      const refreshed = await this.workspaceCall(this.state.branch!.workedBy, 'workspace · read .baton.yaml', (a) =>
        a.openWorkspace({ taskId: this.state.taskId, repo: this.state.spec.repo! }),
      );
      if (!refreshed) return;
      this.state.repoConfig = refreshed.config;
      setup = resolveGates(refreshed.config, this.state.policy.gates);
    }
    if (setup.kind === 'problem') {
      this.escalate('workspace', setup.problem);
      return this.awaitHuman();
    }
    if (setup.kind === 'skip') {
      this.record('gate', `gates skipped for ${shortSha(this.state.branch!.head)}: policy.gates is "skip"`);
      return this.moveTo('review');
    }
    const failed = await this.runGates(setup.gates, 'change');
    if (failed === undefined) return;
    if (failed.length > 0) return this.sendBack('gates', gateFeedback(failed, 'change', this.state.branch!.base));
    this.moveTo('review');
  }

  /**
   * Runs gates one after the other on the implementing agent's queue and records each run. Returns the
   * failed ones, or undefined when a human had to step in (interrupted, or a gate that cannot run at all).
   */
  private async runGates(gates: { name: string; command: GateCommand }[], on: 'change' | 'merge', merge?: MergeSpec): Promise<GateRun[] | undefined> {
    const branch = this.state.branch!;
    const failed: GateRun[] = [];
    for (const { name, command } of gates) {
      const label = on === 'merge' ? 'merge' : `round ${this.state.round}`;
      const run = await this.workspaceCall(
        branch.workedBy,
        `gate · ${name} · ${label}`,
        (a) => a.runGate({ workspace: this.workspaceRef(), name, gate: command, round: this.state.round, on, merge }),
        { startToCloseTimeout: command.timeoutMs + 5 * 60_000, heartbeatTimeout: '30s', retry: { maximumAttempts: 3 } },
      );
      if (!run) return undefined;
      this.state.gates.push(run);
      if (this.state.gates.length > GATES_LIMIT) this.state.gates.splice(0, this.state.gates.length - GATES_LIMIT);
      const seconds = (run.durationMs / 1000).toFixed(1);
      this.record('gate', `${name} · ${label} · ${run.ok ? 'passed' : `failed (exit ${run.exitCode ?? (run.timedOut ? 'timeout' : 'none')})`} in ${seconds} s on ${shortSha(run.commit)}`);
      this.markProgress();
      if (run.notRunnable) {
        this.escalate('workspace', `gate ${name} cannot run on ${branch.workedBy}'s machine (\`${run.command.join(' ')}\`): ${run.tail}`);
        await this.awaitHuman();
        return undefined;
      }
      if (!run.ok) failed.push(run);
    }
    return failed;
  }

  /** After an approving review: check the branch against the current base, run the merge's gates, deliver. */
  private async deliverStep(): Promise<void> {
    const branch = this.state.branch!;
    const how = this.state.policy.deliver;
    for (let attempt = 1; ; attempt++) {
      const integrated = await this.workspaceCall(branch.workedBy, `integrate · ${branch.name} with ${branch.base}`, (a) =>
        a.integrate({ workspace: this.workspaceRef(), deliver: how, at: nowIso() }),
      );
      if (!integrated) return;
      if (integrated.conflicts.length > 0) {
        this.record('conflict', `${branch.name} conflicts with ${branch.base} at ${shortSha(integrated.baseCommit)} in ${integrated.conflicts.join(', ')}`);
        const baseRef = this.state.spec.repo?.url ? `origin/${branch.base}` : branch.base;
        return this.sendBack('integration', conflictFeedback(integrated.conflicts, branch.base, integrated.baseCommit, baseRef));
      }
      const { merge } = integrated;
      if (how === 'merge' && merge && merge.commit !== branch.head) {
        const setup = resolveGates(this.state.repoConfig!, this.state.policy.gates);
        if (setup.kind === 'run') {
          const failed = await this.runGates(setup.gates, 'merge', merge);
          if (failed === undefined) return;
          if (failed.length > 0) return this.sendBack('gates', gateFeedback(failed, 'merge', branch.base));
        }
      }
      const delivered = await this.workspaceCall(branch.workedBy, `deliver · ${how} · ${branch.name}`, (a) =>
        a.deliver({ workspace: this.workspaceRef(), how, merge }),
      );
      if (!delivered) return;
      if (delivered.ok) {
        branch.delivered = { how, commit: delivered.commit, at: nowIso(), detail: delivered.detail };
        this.record('delivered', delivered.detail);
        return this.moveTo('done');
      }
      if (delivered.reason === 'base-moved' && attempt < MAX_DELIVERY_ATTEMPTS) {
        this.record('workspace', `${branch.base} moved during delivery: ${delivered.detail}; integrating again`);
        continue;
      }
      this.escalate('workspace', delivered.detail);
      return this.awaitHuman();
    }
  }

  /** Removes the task's worktrees (each machine that worked on it removes its own); best effort, the branch stays. */
  private async closeWorkspace(): Promise<void> {
    const branch = this.state.branch;
    if (!this.v2 || !branch || branch.worktree === null) return;
    const workspace = this.workspaceRef();
    const removals = branch.agents.map(async (agent) => {
      try {
        // An agent whose worker is gone must not hold the task open: its leftover worktree is noted instead.
        const { removed } = await workspaceOn(agent, `workspace · close · ${agent}`, {
          scheduleToStartTimeout: '30s',
          startToCloseTimeout: '2m',
          retry: { maximumAttempts: 2 },
        }).closeWorkspace({ workspace });
        return removed ? `${agent}: removed ${removed}` : `${agent}: no worktree`;
      } catch (error) {
        return `${agent}: not removed (${describeError(error)})`;
      }
    });
    const outcomes = await Promise.all(removals);
    branch.worktree = null;
    this.record('workspace', `worktrees closed, ${branch.name} kept: ${outcomes.join('; ')}`);
  }

  private definitionFromSpec(): Definition {
    const { spec } = this.state;
    return { goal: spec.goal ?? spec.title, acceptanceCriteria: spec.acceptanceCriteria ?? [] };
  }

  /** Chooses an agent, runs the stage on its queue, and returns its result unless a human interrupts. */
  private async dispatch(stage: AgentStage): Promise<DispatchOutcome> {
    const { spec, round } = this.state;
    let agent: string;
    let chosen: ChosenAgent;
    let request: ChooseAgentRequest;
    try {
      // An override of '' is a human's "any other agent": it lifts the spec's pin and avoids the last agent.
      const override = this.state.agentOverrides[stage];
      const pinned = override === undefined ? spec.agents[stage] : override || undefined;
      const exclude = override === '' && this.lastAgent ? [this.lastAgent] : [];
      const implementer = this.v2 && stage === 'review' ? this.implementerOfRound() : undefined;
      if (implementer && pinned === implementer) {
        return { kind: 'failed', agent: null, message: `${implementer} implemented round ${round} and may not review it; reassign the review to another agent` };
      }
      request = { stage, capabilities: spec.capabilities, pinned, exclude };
      if (implementer) request.forbid = [implementer];
      const confirmed = override === undefined && pinned !== undefined ? this.confirmedPins.get(pinned) : undefined;
      if (confirmed) {
        chosen = { agent: pinned!, kind: confirmed };
      } else {
        if (this.lean) {
          const others = [...new Set(Object.values(spec.agents))].filter((name) => name !== pinned && !this.confirmedPins.has(name));
          if (others.length > 0) request.alsoConfirm = others;
        }
        chosen = await chooseAgent(request);
        if (this.lean) {
          if (override === undefined && pinned !== undefined) this.confirmedPins.set(chosen.agent, chosen.kind ?? 'worker');
          for (const [name, kind] of Object.entries(chosen.confirmed ?? {})) this.confirmedPins.set(name, kind);
        }
      }
      agent = chosen.agent;
    } catch (error) {
      return { kind: 'failed', agent: null, message: describeError(error) };
    }
    if (this.v2 && spec.repo && !this.state.branch && !(await this.openWorkspace(agent))) return { kind: 'handled' };
    if (this.fleet) return this.runOnFleet(stage, chosen, request);
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
        nonRetryableErrorTypes: ['InvalidAgentResult', 'AgentMisconfigured', 'WorkspaceMisconfigured'],
      },
      summary: `${stage} · ${agent} · round ${round}`,
    });
    const input = this.agentInput(stage, agent);

    this.assign(agent, stage);
    this.lastAgent = agent;
    const outcome = await this.interruptible(() => runAgent(input));
    this.unassign();
    if (outcome.kind === 'interrupted' || outcome.kind === 'requeued') return { kind: 'interrupted' };
    return outcome.kind === 'ok'
      ? { kind: 'result', agent, result: outcome.value }
      : { kind: 'failed', agent, message: describeError(outcome.error) };
  }

  private agentInput(stage: AgentStage, agent: string): AgentRunInput {
    const { spec, round } = this.state;
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
    if (this.v2 && this.state.branch) input.workspace = this.workspaceRef();
    return input;
  }

  /**
   * A stage on the fleet: the workflow runs each attempt itself (one activity attempt each), queued at the
   * task's priority. When an attempt's worker is lost and Temporal shows no live worker of that agent, the
   * stage moves to another agent with the role (unless a spec or a human pinned it); other failures are
   * retried on the same agent with backoff, up to `policy.maxAttempts`.
   */
  private async runOnFleet(stage: AgentStage, first: ChosenAgent, request: ChooseAgentRequest): Promise<DispatchOutcome> {
    let chosen = first;
    const tried = [...request.exclude];
    for (let attempt = 1; ; attempt++) {
      const agent = chosen.agent;
      const claimed = chosen.kind === 'claim';
      const { runAgent } = wf.proxyActivities<AgentActivities>({
        taskQueue: agentTaskQueue(wf.workflowInfo().taskQueue, agent),
        startToCloseTimeout: '24h',
        // A claimed item (a person, a hosted agent) heartbeats when it can; the idle clock covers its silence.
        ...(claimed ? {} : { heartbeatTimeout: AGENT_HEARTBEAT_TIMEOUT }),
        cancellationType: wf.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        retry: { maximumAttempts: 1 },
        priority: { priorityKey: PRIORITY_KEYS[this.state.priority] },
        summary: `${stage} · ${agent} · round ${this.state.round}${attempt > 1 ? ` · attempt ${attempt}` : ''}`,
      });
      const input = this.agentInput(stage, agent);
      if (attempt === 1 && this.readySince) input.readySince = { kind: this.state.results.length === 0 ? 'assignment' : 'handoff', at: this.readySince };
      this.assign(agent, stage);
      this.lastAgent = agent;
      this.agentStarted = false;
      this.requeue = false;
      const outcome = await this.interruptible(() => runAgent(input));
      this.unassign();
      if (outcome.kind === 'interrupted') return outcome;
      if (outcome.kind === 'requeued') {
        this.record('requeued', `${stage} · ${agent}: not started yet, queued again at ${this.state.priority}`);
        attempt -= 1;
        continue;
      }
      if (outcome.kind === 'ok') return { kind: 'result', agent, result: outcome.value };
      const message = describeError(outcome.error);
      if (finalFailure(outcome.error) || attempt >= this.state.policy.maxAttempts) return { kind: 'failed', agent, message };
      this.record('attempt-failed', `${stage} · ${agent} · attempt ${attempt}: ${message}`);
      if (!claimed && workerLost(outcome.error) && !request.pinned) {
        const next = await this.failoverFrom(agent, request, tried);
        if (next) {
          chosen = next;
          continue;
        }
      }
      const backoffMs = Math.min(60_000, 1000 * 2 ** (attempt - 1));
      const waited = await this.interruptible(() => wf.sleep(backoffMs));
      if (waited.kind === 'interrupted') return waited;
    }
  }

  /** The agent that lost an attempt has no live worker: another agent with the role takes the stage, if any. */
  private async failoverFrom(agent: string, request: ChooseAgentRequest, tried: string[]): Promise<ChosenAgent | undefined> {
    const liveness = await checkAgent(agent);
    if (liveness.liveWorkers > 0) return undefined;
    if (!tried.includes(agent)) tried.push(agent);
    let next: ChosenAgent;
    try {
      next = await chooseAgent({ ...request, exclude: [...tried] });
    } catch (error) {
      this.record('failover', `${agent} has no live worker and no other agent can take ${request.stage}: ${describeError(error)}`);
      return undefined;
    }
    if (next.agent === agent) {
      this.record('failover', `${agent} has no live worker and no other agent with the role is available: waiting for it`);
      return undefined;
    }
    this.record('failover', `${agent} has no live worker: ${request.stage} moves to ${next.agent}`);
    return next;
  }

  /** The agent that delivered this round's implementation (it may not review it). */
  private implementerOfRound(): string | undefined {
    const implemented = this.state.results.filter((r) => r.stage === 'implement');
    return (implemented.filter((r) => r.round === this.state.round).at(-1) ?? implemented.at(-1))?.agent;
  }

  /**
   * Runs `work` in its own cancellation scope while the clocks run; a human action interrupts it (the work
   * is cancelled and waited for, so an agent's process group is gone before the task moves on).
   */
  private async interruptible<T>(work: () => Promise<T>): Promise<Interruptible<T>> {
    const scope = new wf.CancellationScope();
    const settled: { value?: { ok: true; result: T } | { ok: false; error: unknown } } = {};
    void scope.run(work).then(
      (result) => (settled.value = { ok: true, result }),
      (error: unknown) => (settled.value = { ok: false, error }),
    );
    for (;;) {
      await this.waitUntil(() => settled.value !== undefined || this.action !== null || this.requeue);
      if (!this.requeue || this.action !== null || settled.value !== undefined || !this.patched(REQUEUE_ASKS_PATCH)) break;
      let started: boolean;
      try {
        started = await agentWorkStarted(this.state.workflowId);
      } catch (error) {
        // Temporal could not say: leave the work where it is rather than risk cancelling a running agent.
        this.record('signal', `the new priority applies from the next stage: could not tell whether the agent work started (${describeError(error)})`);
        started = true;
      }
      if (!started) break;
      this.agentStarted = true;
      this.requeue = false;
    }
    if ((this.action !== null || this.requeue) && settled.value === undefined) {
      scope.cancel();
      await wf.condition(() => settled.value !== undefined);
    }
    if (this.action !== null) return { kind: 'interrupted' };
    if (this.requeue) {
      this.requeue = false;
      // Work that ended on its own while being re-queued keeps its outcome.
      if (!(settled.value!.ok === false && wf.isCancellation(settled.value!.error))) {
        const value = settled.value!;
        return value.ok ? { kind: 'ok', value: value.result } : { kind: 'error', error: value.error };
      }
      return { kind: 'requeued' };
    }
    const value = settled.value!;
    return value.ok ? { kind: 'ok', value: value.result } : { kind: 'error', error: value.error };
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
    this.readySince = null;
    const stage = this.state.stage as AgentStage;
    switch (action.kind) {
      case 'approve':
        this.resolveEscalation(action.by, `approved${action.comment ? `: ${action.comment}` : ''}`);
        if (this.v2 && this.state.branch) return this.approveStep(action.by, stage);
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

  /** A human's approve at a gate of a task with a repository passes the step the task waits in. */
  private approveStep(by: string, stage: AgentStage): void {
    const branch = this.state.branch!;
    if (this.state.step === 'gates') {
      this.record('gate', `gates not required for ${shortSha(branch.head)}: approved by ${by}`);
      return this.moveTo('review');
    }
    if (this.state.step === 'deliver') {
      this.record('delivered', `completed without delivery (${this.state.policy.deliver}): approved by ${by}; ${branch.name} is at ${shortSha(branch.head)}`);
      return this.moveTo('done');
    }
    if (stage === 'review') {
      // A human approving the change itself: it is integrated and delivered like a reviewer's approval.
      this.state.step = 'deliver';
      return this.markProgress();
    }
    if (stage === 'define' && !this.state.definition) this.state.definition = this.definitionFromSpec();
    this.moveTo(NEXT_STAGE[stage]);
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
    const refused = this.waiting ? refusedWhileWaiting(name, this.state) : undefined;
    if (refused) return refused;
    switch (name) {
      case 'approve': {
        const { by, comment } = payload as SignalPayload<'approve'>;
        if (this.gate && this.state.escalation?.reason === 'budget') {
          return 'the budget is used up: raise it with setBudget, or cancel the task';
        }
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
        if (this.patched(RESUME_REARMS_CLOCKS_PATCH)) this.clockEpoch += 1;
        return this.signalTaken(`resumed by ${by}`);
      }
      case 'setPriority': {
        const { by, priority } = payload as SignalPayload<'setPriority'>;
        if (priority === this.state.priority) return `priority is already ${priority}`;
        this.state.priority = priority;
        // Agent work still waiting in its queue goes back in at the new priority; started work carries on.
        if (this.fleet && this.agentRunning && !this.agentStarted) this.requeue = true;
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
        if (agent === this.state.assignee?.agent) this.agentStarted = true;
        this.markProgress();
        if (message) this.record('progress', `${agent}: ${message}`);
        return undefined;
      }
      case 'heartbeat':
        if ((payload as SignalPayload<'heartbeat'>).agent === this.state.assignee?.agent) this.agentStarted = true;
        this.state.clocks.lastSignOfLifeAt = nowIso();
        return undefined;
      case 'setBudget': {
        const { by, maxCostUsd } = payload as SignalPayload<'setBudget'>;
        const spent = this.state.cost.costUsd;
        if (maxCostUsd <= spent) return `a budget of ${formatUsd(maxCostUsd)} does not cover the ${formatUsd(spent)} already spent`;
        this.state.policy.maxCostUsd = maxCostUsd;
        const detail = `budget set to ${formatUsd(maxCostUsd)} by ${by} (spent so far ${formatUsd(spent)})`;
        if (this.gate && this.state.escalation?.reason === 'budget') return this.take({ kind: 'retry', by }, detail);
        return this.signalTaken(detail);
      }
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
    if (this.steady) return this.waitOnSteadyClock(done);
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

  /** `waitUntil` on the steady clock: one timer, kept while it fires no later than the next deadline. */
  private async waitOnSteadyClock(done: () => boolean): Promise<void> {
    while (!done()) {
      const armed = this.armClock(this.nextClock());
      const epoch = this.clockEpoch;
      await wf.condition(() => done() || this.clockEpoch !== epoch || armed?.fired === true);
      if (armed?.fired && !done()) {
        const due = this.nextClock();
        if (due) this.onClock(due.kind);
      }
    }
  }

  /**
   * The timer for `clock`: the armed one when it fires no later (when it fires early, the wait re-arms it),
   * else a new one in the run's root scope. Without a clock the armed timer is cancelled.
   */
  private armClock(clock: { at: number; summary: string } | null): { fired: boolean } | null {
    const armed = this.armed;
    if (armed && !armed.fired && clock && armed.at <= clock.at) return armed;
    if (armed && !armed.fired) armed.scope.cancel();
    this.armed = null;
    if (!clock) return null;
    const scope = new wf.CancellationScope({ cancellable: true, parent: this.rootScope ?? undefined });
    const timer = { at: clock.at, scope, fired: false };
    void scope
      .run(() => wf.sleep(Math.max(1, clock.at - Date.now()), { summary: clock.summary }))
      .then(
        () => (timer.fired = true),
        (error: unknown) => {
          if (!wf.isCancellation(error)) throw error;
          // Cancelled with the run (a cancellation through Temporal): the next wait arms a new timer, if any.
          if (this.armed === timer) this.armed = null;
        },
      );
    this.armed = timer;
    return timer;
  }

  private nextClock(): { kind: ClockKind; at: number; summary: string } | null {
    const { paused, escalation, clocks, policy } = this.state;
    if (paused) return null;
    if (escalation) {
      const at = Date.parse(escalation.lastNotifiedAt ?? escalation.since) + policy.reescalateAfterMs;
      return { kind: 'reminder', at, summary: `reminder · ${escalation.reason} unanswered for ${formatMs(policy.reescalateAfterMs)}` };
    }
    if (this.waiting) return null;
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
    this.state.step = 'agent';
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

  private async close(status: 'completed' | 'cancelled', outcome?: { by?: string; reason?: string }): Promise<TaskState> {
    await this.closeWorkspace();
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

  /**
   * Whether this run has the change of patch `id`: every change for a run started with `all-patches-2026-12`
   * (it records no marker of its own), else `wf.patched(id)`, as runs started before it asked.
   */
  private patched(id: string): boolean {
    return this.allPatched || wf.patched(id);
  }

  /** Derives the status and upserts the search attributes that changed. */
  private sync(): void {
    const { state } = this;
    if (!state.closedAt) {
      state.status = state.paused
        ? 'paused'
        : state.escalation
          ? 'escalated'
          : this.waiting
            ? 'waiting'
            : this.agentRunning
              ? 'running'
              : state.results.length > 0 || state.stage !== 'define'
                ? 'running'
                : 'queued';
    }
    const gates = this.gatesLabel();
    const wanted: Record<string, string> = {
      stage: state.stage,
      status: state.status,
      priority: state.priority,
      agent: state.assignee?.agent ?? '',
      ...(this.v2 ? { cost: String(state.cost.costUsd), gates: gates ?? '' } : {}),
    };
    const changed = Object.keys(wanted).filter((key) => wanted[key] !== this.upserted[key]);
    if (changed.length === 0) return;
    wf.upsertSearchAttributes([
      { key: BatonStage, value: state.stage },
      { key: BatonStatus, value: state.status },
      { key: BatonPriority, value: state.priority },
      { key: BatonAgent, value: state.assignee ? state.assignee.agent : null },
      ...(this.v2
        ? [
            { key: BatonCostUsd, value: state.cost.costUsd },
            { key: BatonGates, value: gates },
          ]
        : []),
    ]);
    this.upserted = wanted;
    const who = state.assignee ? ` · ${state.assignee.agent}` : '';
    wf.setCurrentDetails(`**${state.status}** · ${state.stage}${who} · round ${state.round}`);
  }

  /** `BatonGates`: the profile a task with a repository runs, or `skip`; none without a repository. */
  private gatesLabel(): string | null {
    if (!this.state.spec.repo) return null;
    const policy = this.state.policy.gates;
    if (policy) return policy;
    return this.state.repoConfig?.profile ?? null;
  }

  /** What the dependency wait (workflows/dependencies.ts) reads and drives of this run. */
  private dependencyHost(): DependencyHost {
    return {
      state: this.state,
      record: (type, detail) => this.record(type, detail),
      escalate: (reason, detail) => this.escalate(reason, detail),
      resolveEscalation: (by, how) => this.resolveEscalation(by, how),
      markProgress: () => this.markProgress(),
      sync: () => this.sync(),
      waitUntil: (done) => this.waitUntil(done),
      setWaiting: (waiting) => {
        this.waiting = waiting;
        // While waiting `approve` (start now) and `retry` (wait again) are taken as at a gate.
        this.gate = waiting;
        this.clockEpoch += 1;
      },
      action: () => this.action,
      clearAction: () => {
        this.action = null;
      },
    };
  }

  private async continueAsNewIfSuggested(): Promise<void> {
    if (!wf.workflowInfo().continueAsNewSuggested) return;
    await wf.condition(wf.allHandlersFinished);
    await wf.continueAsNew<typeof taskWorkflow>({ ...this.input, state: this.state, pendingNotices: this.outbox });
  }
}
