import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { startStack } from '../helpers/stack';
import { AGENT_RECORD_SCENARIO, SCENARIO_AGENTS, SCENARIOS } from './scenarios';

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

  it('agentRecord', async () => {
    const stack = await startStack({ agents: [] });
    try {
      const { workflowId, firstRunId } = await AGENT_RECORD_SCENARIO(stack);
      const history = execFileSync(inject('temporalCliPath')!, [
        'workflow', 'show', '--workflow-id', workflowId, '--run-id', firstRunId, '--output', 'json', '--address', inject('temporalAddress'),
      ]);
      mkdirSync(join(HISTORIES_DIR, 'agent-record'), { recursive: true });
      writeFileSync(join(HISTORIES_DIR, 'agent-record', 'record.json'), history);
    } finally {
      await stack.stop();
    }
  });
});
