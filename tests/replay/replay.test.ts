import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, inject, it } from 'vitest';
import { SCENARIOS } from './scenarios';

const HISTORIES_DIR = join(__dirname, 'histories');
const histories = readdirSync(HISTORIES_DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({
    name: file.replace(/\.json$/, ''),
    // Passed as JSON: the worker turns it into a History itself.
    history: JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as unknown,
  }));

describe('replay of committed histories', () => {
  it('has a committed history for every scenario', () => {
    expect(histories.map((h) => h.name).sort()).toEqual(Object.keys(SCENARIOS).sort());
  });

  it.each(histories)('today’s taskWorkflow replays $name', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-${name}`);
  });

  it('a changed command sequence without patched() fails replay with a DeterminismViolationError', async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: join(__dirname, 'changed-workflow.ts'), logger: new DefaultLogger('WARN') });
    const lifecycle = histories.find((h) => h.name === 'lifecycle')!;
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, lifecycle.history, 'replay-lifecycle')).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });
});
