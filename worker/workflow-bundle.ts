/**
 * The workflow bundle: how `workflows/` is bundled (by workers, the tests and the benchmark alike), and the
 * bundle a worker starts from, built once per version and kept in Baton's cache.
 *
 * Run as a script (`node --require tsx/cjs worker/workflow-bundle.ts <file>`) it bundles into that file: a
 * worker bundles in such a child process so that webpack's memory leaves with it. Bundled in `baton dev`'s own
 * process, its first start after a change of `workflows/` held 403 MiB resident at idle instead of 235, and
 * 460 with 10,000 open tasks instead of 365 (README, "Benchmark"): V8 does not hand that heap back.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { batonCacheDir } from '../temporal/cli';

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

/** Where the bundle of this version of `workflows/` and of the SDK is cached. */
export function cachedBundlePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = resolve(__dirname, '..', 'workflows');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) hash.update(name).update(readFileSync(join(dir, name)));
  hash.update(JSON.stringify([SHARED_WORKFLOW_MODULES, WORKFLOW_INTERCEPTOR_MODULES]));
  for (const pkg of ['@temporalio/workflow', '@temporalio/worker', '@temporalio/common', 'zod']) {
    hash.update(readFileSync(require.resolve(`${pkg}/package.json`)));
  }
  return join(batonCacheDir(env), 'workflow-bundles', `${hash.digest('hex').slice(0, 24)}.js`);
}

/**
 * The workflow bundle, from Baton's cache, or bundled by a child process into it: a start of `baton dev` or
 * `baton worker` takes its code from disk instead of bundling for seconds, and never holds webpack's heap.
 * A cache that cannot be written only costs each start its bundling (into a scratch file, removed after).
 */
export async function workflowBundle(log?: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<{ code: string }> {
  const file = cachedBundlePath(env);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    // Not bundled yet for this version.
  }
  log?.('bundling the workflows (once per version; cached after)');
  let target = file;
  let scratch: string | undefined;
  try {
    mkdirSync(dirname(file), { recursive: true });
    accessSync(dirname(file), constants.W_OK);
  } catch {
    scratch = mkdtempSync(join(tmpdir(), 'baton-bundle-'));
    target = join(scratch, 'bundle.js');
  }
  try {
    await bundleInChild(target);
    return { code: readFileSync(target, 'utf8') };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

function bundleInChild(target: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile(process.execPath, ['--require', require.resolve('tsx/cjs'), __filename, target], { maxBuffer: 16 * 2 ** 20 }, (error, _stdout, stderr) => {
      if (error) fail(new Error(`bundling the workflows failed (${error.message.split('\n')[0]}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else done();
    });
  });
}

/** Bundles into `target`, written aside and renamed: two processes starting at once never read half a bundle. */
async function bundleInto(target: string): Promise<void> {
  const { code } = await bundleWorkflowCode(bundleOptions());
  const partial = `${target}.${process.pid}.tmp`;
  writeFileSync(partial, code);
  renameSync(partial, target);
}

if (require.main === module) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: workflow-bundle.ts <file>\n');
    process.exit(2);
  }
  bundleInto(target).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
