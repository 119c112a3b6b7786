/**
 * One real Temporal dev server for the whole test run (`temporal server start-dev`, SQLite file, no UI),
 * and one workflow bundle that every test worker reuses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startDevServer } from '../../temporal/dev-server';
import { bundleOptions } from '../../worker/workflow-bundle';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string | null;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-tests-'));
  const log = (line: string) => process.stderr.write(`[temporal] ${line}\n`);
  const [server, bundle] = await Promise.all([
    startDevServer({ dbFile: join(dir, 'temporal.db'), log }),
    bundleWorkflowCode(bundleOptions()),
  ]);
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('temporalCliPath', server.cliPath);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
