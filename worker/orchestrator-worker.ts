/**
 * The orchestrator worker: runs `taskWorkflow` and the agents' record workflows (`agentRecord`), with the
 * orchestrator activities (agent choice from the fleet, liveness, notifications) on the Baton task queue.
 */
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { AgentConfig } from '../activities/agents/config';
import { createOrchestratorActivities } from '../activities/orchestrator';
import { workflowBundle } from './workflow-bundle';

/**
 * Workflows kept in the worker's cache (`BATON_WORKFLOW_CACHE`, default 100). Each cached run holds its state
 * in memory; an evicted one (a task waiting on a human for hours) is replayed from its history when it next
 * has work. The SDK's default grows with the heap (thousands here), about 1 MB per open task.
 */
export function workflowCacheSize(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.BATON_WORKFLOW_CACHE ?? 100);
  return Number.isInteger(value) && value >= 0 ? value : 100;
}

export interface OrchestratorWorkerOptions {
  connection: NativeConnection;
  /** Reads the fleet from Temporal (agent choice and liveness). */
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Agents of this deployment's agents file (known before their workers join). */
  agents: readonly AgentConfig[];
  webhookUrl?: string;
  /** A prebuilt bundle; the worker bundles `workflows/` itself when omitted. */
  workflowBundle?: WorkflowBundleOption;
}

export async function createOrchestratorWorker(options: OrchestratorWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: options.workflowBundle ?? (await workflowBundle()),
    maxCachedWorkflows: workflowCacheSize(),
    activities: createOrchestratorActivities({
      client: options.client,
      namespace: options.namespace,
      baseQueue: options.taskQueue,
      agents: options.agents,
      webhookUrl: options.webhookUrl,
    }),
    shutdownGraceTime: '2s',
  });
}
