/**
 * Joining and leaving the fleet: a process that runs an agent (its worker, or for a `claim: true` agent the
 * process that declares it) tells the agent's record workflow (`workflows/agent-record.ts`) it joined, with
 * signal-with-start so the first one creates the record; a graceful stop says it left and names the agent's
 * other workers it still sees alive, so a record forgets workers that were killed without a goodbye. The
 * record completes when the last worker leaves: `GET /agents` no longer lists the agent. A killed last
 * worker leaves the record running, and the agent shows `offline`.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { AgentConfig } from '../agents/config';
import {
  AGENT_RECORD_WORKFLOW_TYPE,
  STAGE_FINISHED_SIGNAL,
  WORKER_JOINED_SIGNAL,
  WORKER_LEFT_SIGNAL,
  agentRecordWorkflowId,
  type AgentDescriptor,
  type StageFinished,
  type WorkerJoined,
  type WorkerLeft,
} from '../../workflows/fleet';
import { liveWorkersOf } from './registry';

/** What a record publishes about an agent of the agents file. */
export function descriptorOf(agent: AgentConfig): AgentDescriptor {
  return {
    name: agent.name,
    kind: agent.claim ? 'claim' : 'worker',
    roles: [...agent.roles],
    capabilities: [...agent.capabilities],
    maxConcurrent: agent.maxConcurrent,
    ...(agent.preset ? { preset: agent.preset } : {}),
    ...(agent.model ? { model: agent.model } : {}),
  };
}

/**
 * A worker identity unique to one agent in one process (`pid@host/agent-xxxx`): the record tells its workers
 * apart by it, and ListWorkers lists it. The `pid@host` prefix is the SDK's own default form.
 */
export function workerIdentity(agent: string): string {
  return `${process.pid}@${hostname()}/${agent}-${randomBytes(3).toString('hex')}`;
}

export interface MembershipOptions {
  client: Client;
  namespace: string;
  /** The deployment's base queue: the record runs on it, its id derives from it. */
  baseQueue: string;
  agent: AgentConfig;
  /** The identity of the agent's worker (unused for a claim agent, which has none). */
  identity: string;
}

export interface Membership {
  readonly descriptor: AgentDescriptor;
  readonly identity: string;
  /** Tells the record this process left (best effort: a record that is gone has nothing to forget). */
  leave(): Promise<void>;
  /** Tells the record one of the agent's stages ended (best effort; the registry's stats). */
  stageFinished(finished: StageFinished): void;
}

/** Joins the agent's record (creating it when it is not running) and returns how to leave it. */
export async function joinFleet(options: MembershipOptions): Promise<Membership> {
  const { client, baseQueue, agent, identity } = options;
  const descriptor = descriptorOf(agent);
  const workflowId = agentRecordWorkflowId(baseQueue, agent.name);
  const joined: WorkerJoined = { identity, descriptor };
  await client.workflow.signalWithStart(AGENT_RECORD_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: baseQueue,
    args: [{ agent: descriptor }],
    signal: WORKER_JOINED_SIGNAL,
    signalArgs: [joined],
    memo: { agent: descriptor },
    staticSummary: `agent ${agent.name} (${descriptor.kind}: ${descriptor.roles.join(', ')})`,
  });
  const handle = client.workflow.getHandle(workflowId);
  // Stage figures go to the record in batches, off the handoff's path: one signal per second at most.
  let pending: StageFinished[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length > 0) void handle.signal(STAGE_FINISHED_SIGNAL, { batch }).catch(() => undefined);
  };
  return {
    descriptor,
    identity,
    async leave() {
      if (timer) clearTimeout(timer);
      flush();
      const left: WorkerLeft = { identity };
      if (descriptor.kind === 'worker') {
        // The others still alive; killed workers are not among them and are forgotten with this goodbye.
        const live = await liveWorkersOf({ client, namespace: options.namespace, baseQueue }, agent.name, agent.maxConcurrent).catch(() => undefined);
        if (live) left.live = live.map((worker) => worker.identity).filter((id) => id !== identity);
      }
      await handle.signal(WORKER_LEFT_SIGNAL, left).catch(() => undefined);
    },
    stageFinished(finished) {
      pending.push(finished);
      timer ??= setTimeout(flush, 1_000);
      timer.unref();
    },
  };
}
