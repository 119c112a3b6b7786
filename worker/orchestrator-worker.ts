/**
 * The orchestrator worker: runs `taskWorkflow` and the orchestrator activities (agent choice,
 * notifications) on the Baton task queue.
 */
import { resolve } from 'node:path';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { AgentConfig } from '../activities/agents/config';
import { createOrchestratorActivities } from '../activities/orchestrator';

/** The workflow sources, bundled by the worker at start (or ahead of time by the tests). */
export const WORKFLOWS_PATH = resolve(__dirname, '..', 'workflows', 'index.ts');

export interface OrchestratorWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
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
    activities: createOrchestratorActivities({ agents: options.agents, webhookUrl: options.webhookUrl }),
    shutdownGraceTime: '2s',
  });
}
