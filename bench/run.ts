/**
 * `npm run bench`: Baton's figures beside a bare Temporal baseline doing the same work in the same run.
 *  - assignment: task start -> agent activity started (Baton) vs workflow start -> activity started (bare chain)
 *  - handoff: implement done -> review started (Baton) vs activity 1 done -> activity 2 started (bare chain)
 *  - escalation delay: idle deadline -> escalation recorded (Baton) vs timer deadline -> workflow woken (bare timer)
 *  - kill: cancel -> agent process group gone, one task at a time, then kill-all of many running agents
 * Figures are printed, never asserted.
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { AgentConfig } from '../activities/agents/config';
import { TaskClient } from '../api/task-client';
import { startDevServer } from '../temporal/dev-server';
import { agentPids, processGone } from '../tests/helpers/processes';
import { createAgentWorkers } from '../worker/agent-worker';
import { createDependencyWorker } from '../worker/dependency-worker';
import { createOrchestratorWorker } from '../worker/orchestrator-worker';
import type { AgentRunInput } from '../workflows/agent-protocol';
import { DEFAULT_POLICY, type TaskSpec } from '../workflows/spec';
import type { TaskState } from '../workflows/state';
import type { baselineChain, baselineTimer } from './workflows';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = { started: 'activityTaskStartedEventAttributes', completed: 'activityTaskCompletedEventAttributes' } as const;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const ESCALATIONS = Number(process.env.BENCH_ESCALATIONS ?? 20);
const KILLS = Number(process.env.BENCH_KILLS ?? 10);
const KILL_ALL = Number(process.env.BENCH_KILL_ALL ?? 100);
const FIXTURES = resolve(__dirname, '..', 'tests', 'fixtures', 'agents');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function row(name: string, baton: number[], baseline?: number[]): void {
  const fmt = (v: number) => `${v.toFixed(1).padStart(8)} ms`;
  const cols = [`p50 ${fmt(percentile(baton, 50))}`, `p99 ${fmt(percentile(baton, 99))}`, `max ${fmt(Math.max(...baton))}`];
  let line = `${name.padEnd(34)} ${cols.join('  ')}`;
  if (baseline) {
    const ratio = percentile(baton, 99) / percentile(baseline, 99);
    line += `   | bare Temporal p50 ${fmt(percentile(baseline, 50))} p99 ${fmt(percentile(baseline, 99))}  p99 ratio ${ratio.toFixed(2)}`;
  }
  console.log(line);
}

function agent(name: string, script: string, maxConcurrent: number): AgentConfig {
  return { name, roles: ['implement', 'review'], capabilities: [], maxConcurrent, command: [process.execPath, join(FIXTURES, script)], env: {}, baseDir: FIXTURES };
}

async function history(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

const eventMs = (event: HistoryEvent | undefined) => tsToMs(event?.eventTime);

/** First agent start after the run began, and the gap between the first completion and the next start. */
function chainFigures(events: HistoryEvent[]) {
  const started = events.filter((e) => e[EventType.started]);
  const completed = events.filter((e) => e[EventType.completed]);
  return {
    assignment: eventMs(started[0]) - eventMs(events[0]),
    handoff: eventMs(started[1]) - eventMs(completed[0]),
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  console.log(`Baton benchmark on ${process.platform}/${process.arch}, Node ${process.version}`);
  const server = await startDevServer({ log: (line) => console.log(`[temporal] ${line}`) });
  const bundle = await bundleWorkflowCode({ workflowsPath: join(__dirname, 'workflows.ts'), logger: new DefaultLogger('WARN') });
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
  const agents = [agent('instant', 'context-echo.mjs', 50), agent('quiet', 'quiet.mjs', KILL_ALL + 50)];
  const tasks = new TaskClient({ client, taskQueue, defaults: DEFAULT_POLICY });
  const home = join(server.address.replace(/[:.]/g, '-'));
  const workers: Worker[] = [
    await createOrchestratorWorker({ connection: native, client, namespace: 'default', taskQueue, agents, workflowBundle: bundle }),
    await createDependencyWorker({ connection: native, client, namespace: 'default', taskQueue }),
    ...(
      await Promise.all(
        agents.map((a) => createAgentWorkers({ connection: native, client, namespace: 'default', taskQueue, agent: a, home: join('/tmp', `baton-bench-${home}`) })),
      )
    ).flatMap((created) => created.workers),
  ];
  const running = workers.map((w) => w.run());

  try {
    // --- assignment and handoff, Baton and the bare chain interleaved ---
    const baton = { assignment: [] as number[], handoff: [] as number[] };
    const bare = { assignment: [] as number[], handoff: [] as number[] };
    for (let i = 0; i < ROUNDS + 2; i++) {
      const id = `bench-${randomUUID().slice(0, 8)}`;
      await tasks.start({ id, title: 'bench', goal: 'bench', acceptanceCriteria: ['fast'], agents: { implement: 'instant', review: 'instant' } });
      const handle = client.workflow.getHandle(`task-${id}`);
      await handle.result();
      const b = chainFigures(await history(handle));

      const spec = { id, title: 'bench' } as TaskSpec;
      const input = (stage: 'implement' | 'review'): AgentRunInput => ({
        workflowId: `bare-${id}`,
        agent: 'instant',
        signOfLifeEveryMs: 60_000,
        context: { taskId: `bare-${id}`, stage, round: 1, task: spec, definition: null, feedback: [], notes: [], results: [] },
      });
      const bareHandle = await client.workflow.start<typeof baselineChain>('baselineChain', {
        workflowId: `bare-${id}`,
        taskQueue,
        args: [taskQueue, 'instant', [input('implement'), input('review')]],
      });
      await bareHandle.result();
      const c = chainFigures(await history(bareHandle));
      if (i < 2) continue; // warm-up
      baton.assignment.push(b.assignment);
      baton.handoff.push(b.handoff);
      bare.assignment.push(c.assignment);
      bare.handoff.push(c.handoff);
    }

    // --- escalation delay: idle deadline -> escalation, against a bare timer's lateness ---
    const idleMs = 2_000;
    const escalated = await Promise.all(
      Array.from({ length: ESCALATIONS }, async () => {
        const id = `bench-idle-${randomUUID().slice(0, 8)}`;
        await tasks.start({ id, title: 'idle', goal: 'idle', acceptanceCriteria: ['x'], allowDuplicate: true, agents: { implement: 'quiet' }, policy: { idleTimeout: idleMs, stallTimeout: '1h' } });
        return waitFor('an idle escalation', async () => {
          const state = await tasks.state(id);
          return state.escalation ? { id, state } : undefined;
        });
      }),
    );
    const escalationDelays = escalated.map(({ state }: { state: TaskState }) =>
      Date.parse(state.escalation!.since) - (Date.parse(state.clocks.lastSignOfLifeAt) + idleMs),
    );
    const timerDelays = await Promise.all(
      Array.from({ length: ESCALATIONS }, async () => {
        const handle = await client.workflow.start<typeof baselineTimer>('baselineTimer', { workflowId: `bare-timer-${randomUUID()}`, taskQueue, args: [idleMs] });
        await handle.result();
        const events = await history(handle);
        const timerStarted = events.find((e) => e.timerStartedEventAttributes);
        const fired = events.findIndex((e) => e.timerFiredEventAttributes);
        const woken = events.slice(fired).find((e) => e.workflowTaskStartedEventAttributes);
        return eventMs(woken) - (eventMs(timerStarted) + idleMs);
      }),
    );
    await tasks.killAll({ by: 'bench' });

    // --- kill: one cancel at a time, signal -> process group gone ---
    const killTimes: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const id = `bench-kill-${randomUUID().slice(0, 8)}`;
      await tasks.start({ id, title: 'kill', goal: 'kill', acceptanceCriteria: ['x'], agents: { implement: 'quiet' } });
      const pids = await waitFor('the agent process', () => {
        const found = agentPids(id);
        return found.length > 0 ? found : undefined;
      });
      const t0 = performance.now();
      await tasks.signal(id, 'cancel', { by: 'bench' });
      await waitFor('the process group to go', () => (pids.every(processGone) ? true : undefined));
      killTimes.push(performance.now() - t0);
    }

    // --- kill-all: many running agents at once ---
    const ids = Array.from({ length: KILL_ALL }, () => `bench-all-${randomUUID().slice(0, 8)}`);
    await Promise.all(ids.map((id) => tasks.start({ id, title: 'kill-all', goal: 'kill', acceptanceCriteria: ['x'], allowDuplicate: true, agents: { implement: 'quiet' } })));
    const allPids = await waitFor(
      `${KILL_ALL} agent processes`,
      () => {
        const found = ids.map(agentPids);
        return found.every((p) => p.length > 0) ? found.flat() : undefined;
      },
      120_000,
    );
    await waitFor(`${KILL_ALL} tasks in visibility`, async () => ((await tasks.list({ status: 'running', limit: 1000 })).length >= KILL_ALL ? true : undefined));
    const t0 = performance.now();
    const result = await tasks.killAll({ by: 'bench', reason: 'drill' });
    const answered = performance.now() - t0;
    await waitFor('every agent process to go', () => (allPids.every(processGone) ? true : undefined));
    const allGone = performance.now() - t0;

    console.log('');
    console.log(`assignment and handoff: ${ROUNDS} tasks (implement -> review on a command agent that answers at once)`);
    row('assignment (start -> agent started)', baton.assignment, bare.assignment);
    row('handoff (implement done -> review)', baton.handoff, bare.handoff);
    console.log(`escalation: ${ESCALATIONS} tasks whose agent goes quiet, idle clock ${idleMs} ms`);
    row('deadline -> escalated', escalationDelays, timerDelays);
    console.log(`kill switch: cancel -> agent process group gone`);
    row(`one task at a time (${KILLS})`, killTimes);
    console.log(
      `kill-all: ${result.cancelled}/${result.matched} tasks cancelled (${result.failed.length} failed); answer in ${answered.toFixed(0)} ms, all ${allPids.length} agent processes gone in ${allGone.toFixed(0)} ms`,
    );
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await native.close();
    await connection.close();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
