import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentsFile } from '../../activities/agents/config';
import { startAgentProcess } from '../helpers/agent-process';
import { agentPids, processGone } from '../helpers/processes';
import { FIXTURE_AGENTS_DIR, fixtureAgent, startStack, type TestStack } from '../helpers/stack';

const AGENTS_FILE = join(FIXTURE_AGENTS_DIR, 'failover-agents.yaml');

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('an agent worker process that dies mid-run', () => {
  let stack: TestStack;
  const workers: ChildProcess[] = [];
  const startSlowAgent = async () => workers.push((await startAgentProcess(stack, { agentsFile: AGENTS_FILE, name: 'slow' })).child);

  beforeAll(async () => {
    stack = await startStack({ agents: [fixtureAgent('checker', ['review'], 'context-echo.mjs')], remoteAgents: loadAgentsFile(AGENTS_FILE).agents });
    await startSlowAgent();
    await startSlowAgent();
  });
  afterAll(async () => {
    for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGINT');
    await stack?.stop();
  });

  it('is detected by the activity heartbeat in seconds and the stage is retried by the surviving worker of the pinned agent', async () => {
    const taskId = stack.taskId('T-failover');
    await stack.tasks.start({ id: taskId, title: 'failover', goal: 'survive', acceptanceCriteria: ['x'], agents: { implement: 'slow', review: 'checker' } });
    let agentPid = 0;
    for (let i = 0; i < 100 && !agentPid; i++) {
      agentPid = agentPids(taskId)[0] ?? 0;
      if (!agentPid) await new Promise((r) => setTimeout(r, 100));
    }
    expect(agentPid).toBeGreaterThan(0);
    const owner = workers.find((worker) => worker.pid === parentOf(agentPid));
    expect(owner).toBeDefined();

    // The machine goes away: its worker and the agent it ran die at once, with no goodbye.
    const killedAt = Date.now();
    owner!.kill('SIGKILL');
    process.kill(-agentPid, 'SIGKILL');
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed', 60_000);
    expect(processGone(agentPid)).toBe(true);

    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    // The workflow runs each attempt as its own activity: the retry is the second runAgent on slow's queue.
    const events = history.events ?? [];
    const retry = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent')[1];
    const retried = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === retry?.eventId?.toString());
    expect(retried).toBeDefined();
    expect(state.timeline.filter((e) => e.type === 'failover')).toEqual([]);
    const failover = Number(retried!.eventTime!.seconds) * 1000 + Math.round((retried!.eventTime!.nanos ?? 0) / 1e6) - killedAt;
    console.log(`failover: the surviving worker started the retry ${failover} ms after the first worker died`);
    expect(state.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:slow:completed', 'review:checker:approved']);
    expect(state.escalation).toBeNull();
  });
});
