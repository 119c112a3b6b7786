/**
 * The only worker of an agent dies mid-stage (`kill -9`, no goodbye): the workflow learns it from the activity
 * heartbeat, Temporal shows the agent has no live worker, and the stage moves to another agent with the role.
 * The dead worker's agent process does not outlive it: a watchdog ends its process group within seconds.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentProcess, stopAgentProcesses, type AgentProcess } from '../helpers/agent-process';
import { freePort } from '../helpers/baton-dev';
import { agentPids, processGone } from '../helpers/processes';
import { FIXTURE_AGENTS_DIR, fixtureAgent, startStack, type TestStack } from '../helpers/stack';

const AGENTS_FILE = join(FIXTURE_AGENTS_DIR, 'fleet-agents.yaml');

function eventMs(event: temporal.api.history.v1.IHistoryEvent): number {
  return Number(event.eventTime!.seconds) * 1000 + Math.round((event.eventTime!.nanos ?? 0) / 1e6);
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('failover when every worker of the chosen agent is gone', () => {
  let stack: TestStack;
  const processes: AgentProcess[] = [];
  // Two machines: each agent has a home of its own.
  const alphaHome = mkdtempSync(join(tmpdir(), 'baton-alpha-'));
  const betaHome = mkdtempSync(join(tmpdir(), 'baton-beta-'));

  beforeAll(async () => {
    stack = await startStack({ agents: [fixtureAgent('checker', ['review'], 'context-echo.mjs')] });
  });
  afterAll(async () => {
    stopAgentProcesses(processes);
    await stack?.stop();
  });

  it('moves the stage to another agent, and the returning worker kills what its predecessor left', async () => {
    processes.push(await startAgentProcess(stack, { agentsFile: AGENTS_FILE, name: 'alpha', home: alphaHome }));
    const taskId = stack.taskId('T-fleet-failover');
    await stack.tasks.start({ id: taskId, title: 'failover across agents', goal: 'survive', acceptanceCriteria: ['x'], agents: { review: 'checker' } });
    const alphaAgent = await until('alpha to run the agent', () => agentPids(taskId)[0]);
    expect((await stack.tasks.state(taskId)).assignee?.agent).toBe('alpha');

    // A second agent with the role joins; then alpha's machine loses its worker (its agent process lives on).
    const betaMetrics = await freePort();
    processes.push(await startAgentProcess(stack, { agentsFile: AGENTS_FILE, name: 'beta', home: betaHome, env: { BATON_METRICS_PORT: String(betaMetrics) } }));
    const killedAt = Date.now();
    processes[0]!.child.kill('SIGKILL');

    const state = await stack.waitFor(taskId, (s) => s.status === 'completed', 120_000);
    expect(state.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:beta:completed', 'review:checker:approved']);
    const failover = state.timeline.find((e) => e.type === 'failover');
    expect(failover?.detail).toBe('alpha has no live worker: implement moves to beta');
    expect(state.escalation).toBeNull();

    // beta's own process serves its metrics: the stage it took over, and its SDK worker's series.
    const metrics = await (await fetch(`http://127.0.0.1:${betaMetrics}/metrics`)).text();
    expect(metrics).toMatch(/^baton_stage_runs_total\{agent="beta",stage="implement",outcome="completed"\} 1$/m);
    expect(metrics).toMatch(/^temporal_worker_task_slots_available\{.*\} \d+$/m);

    // Figures from the history: the heartbeat timeout is when the loss became detectable.
    const history = await stack.client.workflow.getHandle(`task-${taskId}`).fetchHistory();
    const events = history.events ?? [];
    const timedOut = events.find((e) => e.activityTaskTimedOutEventAttributes);
    expect(timedOut).toBeDefined();
    const betaScheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name?.endsWith('.agent.beta'));
    const betaStarted = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === betaScheduled?.eventId?.toString());
    expect(betaStarted).toBeDefined();
    console.log(
      `fleet failover: loss detectable (heartbeat timeout) ${eventMs(timedOut!) - killedAt} ms after kill -9; ` +
        `beta started the stage ${eventMs(betaStarted!) - eventMs(timedOut!)} ms after that (${eventMs(betaStarted!) - killedAt} ms after the kill)`,
    );

    // The dead worker's agent did not outlive it: its watchdog ended the agent's process group within seconds
    // of the kill; a worker that comes back on that home finds nothing of it left to sweep.
    const orphanGone = await until('the orphaned agent to be killed', () => (processGone(alphaAgent) ? Date.now() : undefined), 15_000);
    console.log(`fleet failover: the killed worker's agent process was found gone ${orphanGone - killedAt} ms after kill -9 (first look after the failover)`);
    processes.push(await startAgentProcess(stack, { agentsFile: AGENTS_FILE, name: 'alpha', home: alphaHome }));
    expect(processes[2]!.output()).not.toContain('killed process group');
  });
});
