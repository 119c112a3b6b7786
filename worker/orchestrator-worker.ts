/**
 * The orchestrator worker: runs `taskWorkflow` and the agents' record workflows (`agentRecord`), with the
 * orchestrator activities (agent choice from the fleet, liveness, notifications) on the Baton task queue.
 */
import { resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { AgentConfig } from '../activities/agents/config';
import { createOrchestratorActivities } from '../activities/orchestrator';

/** The workflow sources, bundled by the worker at start (or ahead of time by the tests). */
export const WORKFLOWS_PATH = resolve(__dirname, '..', 'workflows', 'index.ts');

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

export function createOrchestratorWorker(options: OrchestratorWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
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
