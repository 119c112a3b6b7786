/**
 * The orchestrator worker: runs `taskWorkflow` and the agents' record workflows (`agentRecord`), with the
 * orchestrator activities (agent choice from the fleet, liveness, notifications) on the Baton task queue.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { batonCacheDir } from '../temporal/cli';
import type { AgentConfig } from '../activities/agents/config';
import { createOrchestratorActivities } from '../activities/orchestrator';

/** The workflow sources, bundled once per version of them (or ahead of time by the tests). */
export const WORKFLOWS_PATH = resolve(__dirname, '..', 'workflows', 'index.ts');

/**
 * Modules evaluated once per worker and shared by every workflow it runs (the SDK's `preloadModules`): zod and
 * the modules that only define schemas and constants, so each cached workflow does not build its own copy of
 * every schema. The SDK deep-freezes them, and zod finishes a schema on first use, so
 * workflows/shared-schemas.ts (last) finishes every shared schema first. Stateless, all of them.
 */
export const SHARED_WORKFLOW_MODULES = [
  'zod',
  ...['spec.ts', 'agent-protocol.ts', 'workspace.ts', 'signal-payloads.ts', 'shared-schemas.ts'].map((file) => resolve(__dirname, '..', 'workflows', file)),
];

/** The workflows' interceptors (one search-attribute upsert per activation for runs that ask for it). */
export const WORKFLOW_INTERCEPTOR_MODULES = [resolve(__dirname, '..', 'workflows', 'interceptors.ts')];

/** How the workflows are bundled (by workers, the tests and the benchmark alike). */
export function bundleOptions(workflowsPath = WORKFLOWS_PATH) {
  return {
    workflowsPath,
    preloadModules: SHARED_WORKFLOW_MODULES,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  };
}

/**
 * Workflows kept in the worker's cache (`BATON_WORKFLOW_CACHE`, default 100). Each cached run holds its state
 * in memory; an evicted one (a task waiting on a human for hours) is replayed from its history when it next
 * has work. The SDK's default grows with the heap (thousands here), about 1 MB per open task.
 */
export function workflowCacheSize(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.BATON_WORKFLOW_CACHE ?? 100);
  return Number.isInteger(value) && value >= 0 ? value : 100;
}

/**
 * The workflow bundle, built once per version of `workflows/` and of the SDK and kept in Baton's cache: a
 * start of `baton dev` or `baton worker` then takes its code from disk instead of bundling for seconds.
 */
export async function workflowBundle(log?: (line: string) => void): Promise<{ code: string }> {
  const dir = resolve(__dirname, '..', 'workflows');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) hash.update(name).update(readFileSync(join(dir, name)));
  hash.update(JSON.stringify([SHARED_WORKFLOW_MODULES, WORKFLOW_INTERCEPTOR_MODULES]));
  for (const pkg of ['@temporalio/workflow', '@temporalio/worker', '@temporalio/common', 'zod']) {
    hash.update(readFileSync(require.resolve(`${pkg}/package.json`)));
  }
  const file = join(batonCacheDir(), 'workflow-bundles', `${hash.digest('hex').slice(0, 24)}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    log?.('bundling the workflows (once per version; cached after)');
    const { code } = await bundleWorkflowCode(bundleOptions());
    try {
      mkdirSync(join(file, '..'), { recursive: true });
      // Written aside and renamed: two processes starting at once never read half a bundle.
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, code);
      renameSync(partial, file);
    } catch {
      // A read-only cache only costs the next start its bundling.
    }
    return { code };
  }
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
