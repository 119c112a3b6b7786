/**
 * Activities of the orchestrator worker (queue `baton`): choosing an agent for a stage from what Temporal
 * knows of the fleet (activities/fleet/registry.ts), telling whether an agent still has a live worker, and
 * delivering escalation notices.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { AgentStage } from '../workflows/spec';
import type { EscalationNotice } from '../workflows/notifications';
import type { AgentDescriptor, AgentKind, AgentLiveness, ChosenAgent } from '../workflows/fleet';
import type { AgentConfig } from './agents/config';
import { descriptorOf } from './fleet/membership';
import { metrics } from './metrics';
import { describeAgentRecord, livenessOf, readFleet } from './fleet/registry';
import { route, type Fleet } from './fleet/routing';

export interface ChooseAgentRequest {
  stage: AgentStage;
  capabilities: string[];
  /** An agent named by the spec or by a human's `reassign`; it must exist. */
  pinned?: string;
  /** Agents to avoid (those that just failed), unless no other can take the stage. */
  exclude: string[];
  /** Agents that must not take the stage at all (a review never goes to the agent that implemented the round). */
  forbid?: string[];
  /**
   * Other agents the task's spec pins (for its later stages): those that exist come back in `confirmed`, so
   * their stages need not ask again. One not found is left out, and its stage asks when it comes.
   */
  alsoConfirm?: string[];
}

export interface OrchestratorDeps {
  /** Reads the fleet: agent records, worker heartbeats, queue backlogs, running tasks. */
  client: Client;
  namespace: string;
  /** The orchestrator's queue: agent queues and record ids derive from it. */
  baseQueue: string;
  /** Agents of this process's agents file: known (offline) before their workers join. */
  agents: readonly AgentConfig[];
  /** Webhook that receives escalation notices (JSON POST with a Slack-compatible `text`). */
  webhookUrl?: string;
  fetchImpl?: typeof fetch;
  /** How long one read of the fleet serves this process's choices (default 1 s). */
  fleetFreshMs?: number;
}

/** One line a human can read in a chat channel. */
export function noticeText(notice: EscalationNotice): string {
  const head = notice.kind === 'reminder' ? `Reminder #${notice.notification - 1}: still escalated` : 'Escalated';
  const detail = notice.detail ? ` — ${notice.detail}` : '';
  return `${head}: task ${notice.taskId} "${notice.title}" (${notice.priority}, ${notice.stage}) needs a human: ${notice.reason}${detail}`;
}

const { PendingActivityState } = temporal.api.enums.v1;
/** A pending activity a worker took (a cancel request is only pending for a started one). */
const STARTED_STATES = new Set([PendingActivityState.PENDING_ACTIVITY_STATE_STARTED, PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED]);

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  const fetchImpl = deps.fetchImpl ?? fetch;
  const fleetOptions = { client: deps.client, namespace: deps.namespace, baseQueue: deps.baseQueue };
  const declared: AgentDescriptor[] = deps.agents.map(descriptorOf);
  /**
   * Pinned agents found lately, by name: a stage handed to a pinned agent need not ask Temporal again for
   * a few seconds (the handoff's critical path). Only found ones are kept, so an agent that starts is seen
   * at once; one that goes away is found out by its attempt (its queue has no live worker -> failover).
   */
  const recentlyFound = new Map<string, { descriptor: AgentDescriptor; at: number }>();
  const FOUND_FOR_MS = 5_000;
  /**
   * One read of the fleet serves this process's choices for FLEET_FRESH_MS, each choice counted into it
   * (the chosen agent's backlog grows by one): a burst of new tasks reads Temporal once, not once each. The
   * read lists every running task, so per choice it grew with the number of open tasks (1,000 queued tasks
   * made each choice a 1,000-row visibility query, and the worker fell behind on heartbeats).
   */
  let fleetRead: { fleet: Promise<Fleet>; at: number } | undefined;
  const FLEET_FRESH_MS = deps.fleetFreshMs ?? 1_000;
  const currentFleet = (): Promise<Fleet> => {
    const now = Date.now();
    if (!fleetRead || now - fleetRead.at >= FLEET_FRESH_MS) {
      const fleet = readFleet({ ...fleetOptions, declared });
      const read = { fleet, at: now };
      fleetRead = read;
      fleet.catch(() => {
        if (fleetRead === read) fleetRead = undefined;
      });
    }
    return fleetRead.fleet;
  };

  /** A pinned agent by name: its record in Temporal (cached for a few seconds), else this process's agents file. */
  const findPinned = async (name: string): Promise<AgentDescriptor | undefined> => {
    const found = recentlyFound.get(name);
    if (found && Date.now() - found.at < FOUND_FOR_MS) return found.descriptor;
    const record = await describeAgentRecord(deps.client, deps.baseQueue, name);
    if (record) recentlyFound.set(name, { descriptor: record.descriptor, at: Date.now() });
    return record?.descriptor ?? declared.find((agent) => agent.name === name);
  };

  const choose = async (request: ChooseAgentRequest): Promise<ChosenAgent> => {
    if (request.pinned) {
      const descriptor = await findPinned(request.pinned);
      if (!descriptor) {
        throw ApplicationFailure.nonRetryable(`no agent named "${request.pinned}" is registered (start it with baton agent, or declare it in the agents file)`, 'NoAgentAvailable');
      }
      return { agent: descriptor.name, kind: descriptor.kind };
    }
    const fleet = await currentFleet();
    const chosen = route(fleet.agents, request);
    if (!chosen) {
      const forbid = request.forbid ?? [];
      const needs = request.capabilities.length ? ` with capabilities [${request.capabilities.join(', ')}]` : '';
      const others = forbid.length ? ` other than ${forbid.join(', ')}` : '';
      const why = forbid.length ? ' (an agent never reviews its own change)' : '';
      throw ApplicationFailure.nonRetryable(`no agent${others} has the role "${request.stage}"${needs}${why}`, 'NoAgentAvailable');
    }
    chosen.backlog += 1;
    return { agent: chosen.descriptor.name, kind: chosen.descriptor.kind };
  };

  /** The kinds of those of `names` that exist (a later stage pinned to one of them need not ask again). */
  const confirmPins = async (names: readonly string[]): Promise<Record<string, AgentKind>> => {
    const found = await Promise.all(names.map((name) => findPinned(name).catch(() => undefined)));
    return Object.fromEntries(found.flatMap((descriptor) => (descriptor ? [[descriptor.name, descriptor.kind]] : [])));
  };

  return {
    /**
     * Picks the agent for a stage. A pinned agent must be known (its record, or this process's agents file).
     * Otherwise the least loaded agent with the role and every capability, live ones first, from what Temporal
     * shows now (records, worker heartbeats, backlogs, running tasks): every orchestrator worker picks alike.
     * The other agents the spec pins (`alsoConfirm`) are looked up meanwhile and returned in `confirmed`.
     */
    async chooseAgent(request: ChooseAgentRequest): Promise<ChosenAgent> {
      const [chosen, confirmed] = await Promise.all([choose(request), confirmPins(request.alsoConfirm ?? [])]);
      return Object.keys(confirmed).length > 0 ? { ...chosen, confirmed } : chosen;
    },

    /**
     * Whether the task's agent work has left its queue: a worker took the pending `runAgent` activity (asked
     * when a `setPriority` would re-queue work that sent no sign of life yet; started work must carry on).
     */
    async agentWorkStarted(request: { workflowId: string }): Promise<boolean> {
      const description = await deps.client.workflow.getHandle(request.workflowId).describe();
      return (description.raw.pendingActivities ?? []).some(
        (activity) => activity.activityType?.name === 'runAgent' && activity.state !== undefined && activity.state !== null && STARTED_STATES.has(activity.state),
      );
    },

    /** Whether an agent still has a live worker (asked after one of its attempts was lost). */
    async checkAgent(request: { agent: string }): Promise<AgentLiveness> {
      return livenessOf(fleetOptions, request.agent);
    },

    /** Delivers one escalation notice: a log line, then the webhook if one is configured (retried until it answers 2xx). */
    async notify(notice: EscalationNotice): Promise<void> {
      const text = noticeText(notice);
      // Counted once per escalation, not per delivery attempt nor per reminder.
      if (notice.kind === 'escalated' && Context.current().info.attempt === 1) metrics.escalations.inc({ reason: notice.reason });
      Context.current().log.warn(text, { taskId: notice.taskId, reason: notice.reason, kind: notice.kind });
      if (!deps.webhookUrl) return;
      const response = await fetchImpl(deps.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, ...notice }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        throw ApplicationFailure.retryable(`webhook answered ${response.status}`, 'WebhookFailed');
      }
    },
  };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
