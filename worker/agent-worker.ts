/**
 * One agent's worker: polls that agent's own task queue and runs its stages through the command
 * driver. It can run on any machine that reaches Temporal (`baton agent`).
 */
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCommandAgentActivities } from '../activities/agents/command-agent';
import type { AgentConfig } from '../activities/agents/config';
import { agentTaskQueue } from '../workflows/task-queues';

/** How often a running agent's activity heartbeats (and so how fast a cancel reaches it). */
const AGENT_HEARTBEAT_EVERY_MS = 500;

export interface AgentWorkerOptions {
  connection: NativeConnection;
  /** Sends the agent's signs of life and progress to the task's workflow. */
  client: Client;
  namespace: string;
  /** The orchestrator's queue; the agent's own queue is derived from it. */
  taskQueue: string;
  agent: AgentConfig;
  /** Where attempt directories, logs and default workdirs go. */
  home: string;
}

export function createAgentWorker(options: AgentWorkerOptions): Promise<Worker> {
  const { client, agent } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: agentTaskQueue(options.taskQueue, agent.name),
    activities: createCommandAgentActivities({
      agent,
      home: options.home,
      signalWorkflow: async (workflowId, signal, payload) => {
        await client.workflow.getHandle(workflowId).signal(signal, payload);
      },
      heartbeatEveryMs: AGENT_HEARTBEAT_EVERY_MS,
    }),
    maxConcurrentActivityTaskExecutions: agent.maxConcurrent,
    // Cancellation reaches an activity with a heartbeat answer: heartbeat often so a kill lands within a second.
    maxHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    defaultHeartbeatThrottleInterval: AGENT_HEARTBEAT_EVERY_MS,
    shutdownGraceTime: '5s',
  });
}
