/**
 * The cached workflow bundle: built by a child process into Baton's cache once per version, then read from it.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedBundlePath, workflowBundle } from '../../worker/workflow-bundle';

describe('workflowBundle', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'baton-bundle-cache-'));
  const env = { ...process.env, BATON_CACHE_DIR: cacheDir };
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('bundles into the cache in a child process once, and reads the cached bundle after', async () => {
    const lines: string[] = [];
    const first = await workflowBundle((line) => lines.push(line), env);
    const file = cachedBundlePath(env);
    expect(file.startsWith(cacheDir)).toBe(true);
    expect(first.code).toContain('taskWorkflow');
    expect(first.code).toContain('agentRecord');
    expect(lines).toEqual(['bundling the workflows (once per version; cached after)']);
    // Only the renamed bundle is left: no partial file of the child.
    expect(readdirSync(join(cacheDir, 'workflow-bundles'))).toEqual([file.split('/').at(-1)]);
    const written = statSync(file).mtimeMs;

    const again = await workflowBundle((line) => lines.push(line), env);
    expect(again.code).toBe(first.code);
    expect(lines).toHaveLength(1);
    expect(statSync(file).mtimeMs).toBe(written);
  }, 120_000);
});
