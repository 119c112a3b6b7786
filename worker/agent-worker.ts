/**
 * One agent's workers: the agent worker polls the agent's own task queue and runs its stages through the
 * command driver or, for a `preset`, the coding-agent CLI (or chat endpoint) driver (at most `maxConcurrent`
 * at once); beside it, on the same machine and home, the workspace
 * worker does the git and gate work of the agent's tasks (worktrees, gates, delivery) on a queue of its own,
 * so a gate never waits for an agent slot. Both run on any machine that reaches Temporal (`baton agent`).
 */
import { CancelledFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCommandAgentActivities } from '../activities/agents/command-agent';
import { createPresetAgentActivities } from '../activities/agents/preset-agent';
import type { AgentConfig } from '../activities/agents/config';
import { joinFleet, workerIdentity, type Membership } from '../activities/fleet/membership';
import { metrics } from '../activities/metrics';
import { createWorkspaceActivities } from '../activities/git/workspace';
import type { AgentRunInput, AgentRunResult } from '../workflows/agent-protocol';
import { ledgerDir, sweepOrphans } from '../activities/process-ledger';
import { agentTaskQueue, agentWorkspaceQueue } from '../workflows/task-queues';

/** How often a running agent's activity heartbeats (and so how fast a cancel reaches it). */
const AGENT_HEARTBEAT_EVERY_MS = 500;
/** Git and gate activities at once per agent process (gates of several tasks, clones, pushes). */
const WORKSPACE_CONCURRENCY = 4;

export interface AgentWorkerOptions {
  connection: NativeConnection;
  /** Sends the agent's signs of life and progress to the task's workflow. */
  client: Client;
  namespace: string;
  /** The orchestrator's queue; the agent's own queues are derived from it. */
  taskQueue: string;
  agent: AgentConfig;
  /** Where attempt directories, logs, clones and worktrees go. */
  home: string;
}

/** An agent's workers in this process, and its membership of the fleet (leave it after the workers stop). */
export interface AgentWorkers {
  /** The agent worker and its workspace worker; none for a `claim: true` agent (it claims its work over REST or MCP). */
  workers: Worker[];
  membership: Membership;
}

/**
 * Around each stage the agent runs: the latency metrics at its start (the workflow says since when the work
 * was ready), its outcome, cost and tokens at its end, and the agent's record hears how it ended (a
 * cancelled stage is not a finish).
 */
function withStageStats(activities: { runAgent(input: AgentRunInput): Promise<AgentRunResult> }, membership: () => Membership | undefined) {
  return {
    ...activities,
    async runAgent(input: AgentRunInput): Promise<AgentRunResult> {
      const started = Date.now();
      const { agent, context } = input;
      if (input.readySince) {
        const seconds = (started - Date.parse(input.readySince.at)) / 1000;
        (input.readySince.kind === 'assignment' ? metrics.assignment : metrics.handoff).observe(seconds, { stage: context.stage });
      }
      const finished = (ok: boolean, outcome: string) => {
        metrics.stages.inc({ agent, stage: context.stage, outcome });
        membership()?.stageFinished({ taskId: context.taskId, stage: context.stage, ok, durationMs: Date.now() - started });
      };
      try {
        const result = await activities.runAgent(input);
        finished(true, result.outcome);
        if (result.usage) {
          metrics.costUsd.inc({ agent }, result.usage.costUsd ?? 0);
          metrics.tokens.inc({ agent, kind: 'input' }, result.usage.inputTokens ?? 0);
          metrics.tokens.inc({ agent, kind: 'output' }, result.usage.outputTokens ?? 0);
        }
        return result;
      } catch (error) {
        if (!(error instanceof CancelledFailure)) finished(false, 'failed');
        throw error;
      }
    },
  };
}

/**
 * Joins the agent to the fleet (its record workflow) and creates its agent worker and workspace worker
 * (none for a claim agent). The caller runs the workers, and calls `membership.leave()` once they stopped.
 */
export async function createAgentWorkers(options: AgentWorkerOptions): Promise<AgentWorkers> {
  const { client, agent, connection, namespace, home } = options;
  const identity = workerIdentity(agent.name);
  if (agent.claim) {
    return { workers: [], membership: await joinFleet({ client, namespace, baseQueue: options.taskQueue, agent, identity }) };
  }
  // A worker killed on this home left its agents' process groups running: end them before taking new work.
  for (const group of sweepOrphans(ledgerDir(home))) {
    console.warn(`baton agent ${agent.name}: killed process group ${group.pgid} left by a worker that died (pid ${group.owner})`);
  }
  const joined: { membership?: Membership } = {};
  const driver = (agent.preset ? createPresetAgentActivities : createCommandAgentActivities)({
      agent,
      home,
      signalWorkflow: async (workflowId, signal, payload) => {
        await client.workflow.getHandle(workflowId).signal(signal, payload);
      },
      heartbeatEveryMs: AGENT_HEARTBEAT_EVERY_MS,
    });
  const agentWorker = await Worker.create({
    connection,
    namespace,
    identity,
    taskQueue: agentTaskQueue(options.taskQueue, agent.name),
    activities: withStageStats(driver, () => joined.membership),
    maxConcurrentActivityTaskExecutions: agent.maxConcurrent,
    // Cancellation reaches an activity with a heartbeat answer: heartbeat often so a kill lands within a second.
    maxHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    defaultHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    shutdownGraceTime: '5s',
  });
  const workspaceWorker = await Worker.create({
    connection,
    namespace,
    identity,
    taskQueue: agentWorkspaceQueue(options.taskQueue, agent.name),
    activities: createWorkspaceActivities({ home }),
    maxConcurrentActivityTaskExecutions: WORKSPACE_CONCURRENCY,
    maxHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    defaultHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    shutdownGraceTime: '5s',
  });
  // Joined once the workers exist (a worker that cannot be created never shows in the fleet).
  joined.membership = await joinFleet({ client, namespace, baseQueue: options.taskQueue, agent, identity });
  return { workers: [agentWorker, workspaceWorker], membership: joined.membership };
}
