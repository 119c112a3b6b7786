import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { startStack } from '../helpers/stack';
import { SCENARIO_AGENTS, SCENARIOS } from './scenarios';

const HISTORIES_DIR = join(__dirname, 'histories');

describe('capture replay histories from real runs', () => {
  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    const stack = await startStack({ agents: SCENARIO_AGENTS() });
    try {
      const taskId = `replay-${name}`;
      await SCENARIOS[name]!(stack, stack.taskId(taskId));
      const [started] = await stack.tasks.list({ limit: 1 });
      expect(started).toBeDefined();
      // The CLI's JSON is the canonical history format (what the Web UI downloads too).
      const history = execFileSync(inject('temporalCliPath')!, [
        'workflow', 'show', '--workflow-id', started!.workflowId, '--output', 'json', '--address', inject('temporalAddress'),
      ]);
      writeFileSync(join(HISTORIES_DIR, `${name}.json`), history);
    } finally {
      await stack.stop();
    }
  });
});
