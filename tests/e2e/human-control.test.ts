/**
 * Human control, end to end: `baton dev` as a child process with the agents of
 * `tests/fixtures/agents/e2e-agents.yaml`, every signal sent through the real `temporal` CLI, escalation
 * notices to a local webhook, the kill switch (cancel) on a real agent process, and kill-all through the
 * API and through `baton kill --all`.
 *
 * Timing figures (escalation delay, kill time, kill-all time) are printed, never asserted: performance is
 * proven by the benchmark, not by a timed test. Tests only assert what must hold whatever the machine's
 * load, such as "not escalated before the deadline" and "the agent process is gone".
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskSpecInput } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { processGone } from '../helpers/processes';
import { REPO_ROOT } from '../helpers/stack';
import { startWebhook, type ReceivedNotice, type Webhook } from '../helpers/webhook';

const execFileAsync = promisify(execFile);
const AGENTS_FILE = join(REPO_ROOT, 'tests', 'fixtures', 'agents', 'e2e-agents.yaml');
/** Generous waits: other test runs share this small machine. */
const WAIT_MS = 60_000;
const RUN = Date.now().toString(36);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (iso: string | undefined | null) => Date.parse(iso ?? '');

interface TaskSummary {
  taskId: string;
  status: string | null;
  priority: string | null;
}

function lastOfType(state: TaskState, type: string) {
  return state.timeline.filter((entry) => entry.type === type).at(-1);
}

function details(state: TaskState, type: string): string[] {
  return state.timeline.filter((entry) => entry.type === type).map((entry) => entry.detail);
}

/**
 * The pids of the running agent processes of `script`, by task id, found through /proc: the driver gives
 * every agent `BATON_TASK_ID` in its environment, and nothing on disk records the pid.
 */
function agentPidsByTask(script: string): Map<string, number[]> {
  const byTask = new Map<string, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(script)) continue;
      const pid = Number(entry);
      if (processGone(pid)) continue;
      const variable = readFileSync(`/proc/${entry}/environ`, 'utf8')
        .split('\0')
        .find((line) => line.startsWith('BATON_TASK_ID='));
      if (!variable) continue;
      const taskId = variable.slice('BATON_TASK_ID='.length);
      byTask.set(taskId, [...(byTask.get(taskId) ?? []), pid]);
    } catch {
      // The process ended while we looked.
    }
  }
  return byTask;
}

/** Waits until each task has an agent process of `script` (other than those excluded) and returns their pids. */
async function waitForAgentPids(taskIds: string[], script: string, exclude: number[] = []): Promise<number[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const byTask = agentPidsByTask(script);
    const pids = taskIds.map((id) => (byTask.get(id) ?? []).find((pid) => !exclude.includes(pid)));
    if (pids.every((pid) => pid !== undefined)) return pids;
    if (Date.now() > deadline) {
      const missing = taskIds.filter((_, i) => pids[i] === undefined);
      throw new Error(`no ${script} process for task(s) ${missing.join(', ')} within ${WAIT_MS} ms`);
    }
    await sleep(50);
  }
}

async function waitForAgentPid(taskId: string, script: string, exclude: number[] = []): Promise<number> {
  return (await waitForAgentPids([taskId], script, exclude))[0]!;
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

describe('human control through the temporal CLI, escalations and the kill switch (baton dev, end to end)', () => {
  let dev: BatonDev;
  let webhook: Webhook;

  beforeAll(async () => {
    webhook = await startWebhook();
    dev = await startBatonDev(['--agents', AGENTS_FILE], { BATON_WEBHOOK_URL: webhook.url });
  });
  afterAll(async () => {
    await dev?.interrupt();
    await webhook?.close();
  });

  const taskId = (label: string) => `${label}-${RUN}`;

  /** Every signal goes through the real Temporal CLI, as a human would send it. */
  async function signal(id: string, name: string, payload: unknown): Promise<void> {
    await dev.temporal(['workflow', 'signal', '--workflow-id', `task-${id}`, '--name', name, '--input', JSON.stringify(payload)]);
  }

  /** Starts a task whose spec has a goal and criteria, so define is skipped and implement starts at once. */
  async function start(id: string, agents: TaskSpecInput['agents'], extra: Partial<TaskSpecInput> = {}): Promise<void> {
    const created = await dev.request<{ taskId: string }>('POST', '/tasks', {
      id,
      title: `human control ${id}`,
      goal: 'let a human steer the task',
      acceptanceCriteria: ['the human is heard'],
      agents,
      ...extra,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }

  const waitFor = (id: string, predicate: (state: TaskState) => boolean, timeoutMs = WAIT_MS) =>
    dev.waitForTask(id, predicate, timeoutMs);

  async function waitForNotice(id: string, predicate: (notice: ReceivedNotice) => boolean): Promise<ReceivedNotice> {
    let found: ReceivedNotice | undefined;
    await waitUntil(`a webhook notice for ${id}`, () => (found = webhook.forTask(id).find(predicate)) !== undefined);
    return found!;
  }

  async function board(query: string): Promise<TaskSummary[]> {
    const response = await dev.request<{ tasks: TaskSummary[] }>('GET', `/tasks?${query}`);
    expect(response.status).toBe(200);
    return response.body.tasks;
  }

  async function cancelAndWait(id: string, by = 'test'): Promise<TaskState> {
    await signal(id, 'cancel', { by });
    return waitFor(id, (s) => s.status === 'cancelled');
  }

  it('escalates idle when the agent goes quiet, notifies the webhook, and a reassign through the CLI completes the task', async () => {
    const id = taskId('T-idle');
    await start(id, { implement: 'quiet', review: 'checker' }, { policy: { idleTimeout: '2s', stallTimeout: '1m' } });
    await waitFor(id, (s) => s.assignee?.agent === 'quiet');
    const quietPid = await waitForAgentPid(id, 'quiet.mjs');

    const escalated = await waitFor(id, (s) => s.status === 'escalated');
    expect(escalated.escalation).toMatchObject({ reason: 'idle', detail: 'no sign of life from quiet for 2s' });
    const deadline = at(escalated.clocks.lastSignOfLifeAt) + escalated.policy.idleTimeoutMs;
    const since = at(escalated.escalation!.since);
    expect(since).toBeGreaterThanOrEqual(deadline);
    // Idleness is a human's call: the agent keeps its work until someone decides.
    expect(escalated.assignee?.agent).toBe('quiet');
    expect(processGone(quietPid)).toBe(false);

    const notice = await waitForNotice(id, (n) => n.body.kind === 'escalated');
    expect(notice.body).toMatchObject({ kind: 'escalated', reason: 'idle', taskId: id, notification: 1 });
    expect(notice.body.text).toContain(id);
    console.log(
      `[human-control] idle escalation: escalation.since - idle deadline = ${since - deadline} ms; ` +
        `webhook received it ${notice.at - deadline} ms after the deadline`,
    );

    await signal(id, 'reassign', { by: 'alice', agent: 'echo' });
    const done = await waitFor(id, (s) => s.status === 'completed');
    expect(done.stage).toBe('done');
    expect(done.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:echo:completed', 'review:checker:approved']);
    expect(details(done, 'signal')).toContain('reassign implement to echo by alice');
    expect(details(done, 'resolved')).toContain('idle resolved by alice: reassigned implement to echo');
    expect(done.agentOverrides).toEqual({ implement: 'echo' });
    // Reassigning stopped the quiet agent's process.
    expect(processGone(quietPid)).toBe(true);
  }, 180_000);

  it('escalates stall when the agent talks but makes no progress; cancel through the CLI ends it', async () => {
    const id = taskId('T-stall');
    await start(id, { implement: 'chatty', review: 'checker' }, { policy: { stallTimeout: '3s', idleTimeout: '1m' } });
    await waitFor(id, (s) => s.assignee?.agent === 'chatty');
    const chattyPid = await waitForAgentPid(id, 'chatty.mjs');

    const escalated = await waitFor(id, (s) => s.status === 'escalated');
    expect(escalated.escalation).toMatchObject({ reason: 'stall', detail: 'no progress for 3s' });
    const deadline = at(escalated.clocks.lastProgressAt) + escalated.policy.stallTimeoutMs;
    const since = at(escalated.escalation!.since);
    expect(since).toBeGreaterThanOrEqual(deadline);
    console.log(`[human-control] stall escalation: escalation.since - stall deadline = ${since - deadline} ms`);
    const notice = await waitForNotice(id, (n) => n.body.kind === 'escalated');
    expect(notice.body).toMatchObject({ reason: 'stall', taskId: id });

    await signal(id, 'cancel', { by: 'bob', reason: 'it only talks' });
    const cancelled = await waitFor(id, (s) => s.status === 'cancelled');
    expect(cancelled.outcome).toEqual({ by: 'bob', reason: 'it only talks' });
    expect(cancelled.escalation).toBeNull();
    expect(cancelled.assignee).toBeNull();
    expect(details(cancelled, 'signal')).toContain('cancel by bob: it only talks');
    expect(processGone(chattyPid)).toBe(true);
  }, 180_000);

  describe('every signal of the contract, sent with `temporal workflow signal`', () => {
    const held = { idleTimeout: '10m', stallTimeout: '10m' };

    it('approve is rejected when nothing waits; escalate escalates by hand; approve clears the escalation and the agent carries on', async () => {
      const id = taskId('T-approve');
      await start(id, { implement: 'quiet', review: 'checker' }, { policy: held });
      await waitFor(id, (s) => s.assignee?.agent === 'quiet');

      await signal(id, 'approve', { by: 'alice' });
      let state = await waitFor(id, (s) => lastOfType(s, 'signal-rejected') !== undefined);
      expect(lastOfType(state, 'signal-rejected')?.detail).toBe('approve: nothing waits for approval');
      expect(state.status).toBe('running');

      await signal(id, 'escalate', { by: 'alice', reason: 'looks wrong to me' });
      state = await waitFor(id, (s) => s.status === 'escalated');
      expect(state.escalation).toMatchObject({ reason: 'manual', detail: 'looks wrong to me', by: 'alice' });
      expect(details(state, 'escalated')).toContain('manual: looks wrong to me (by alice)');
      const notice = await waitForNotice(id, (n) => n.body.kind === 'escalated');
      expect(notice.body.reason).toBe('manual');

      // A second escalation while one is open is refused.
      await signal(id, 'escalate', { by: 'bob', reason: 'me too' });
      state = await waitFor(id, (s) => details(s, 'signal-rejected').includes('escalate: already escalated (manual)'));
      expect(state.escalation?.by).toBe('alice');

      await signal(id, 'approve', { by: 'alice', comment: 'false alarm' });
      state = await waitFor(id, (s) => s.escalation === null);
      expect(state.status).toBe('running');
      expect(state.assignee?.agent).toBe('quiet');
      expect(details(state, 'resolved')).toContain('manual resolved by alice: approved: continue (false alarm)');
      expect(details(state, 'signal')).toContain('approve by alice: escalation cleared, the agent carries on');

      await cancelAndWait(id);
    }, 180_000);

    it('pause, resume, setPriority, addNote, progress, heartbeat, a malformed payload, retry and reassign', async () => {
      const id = taskId('T-steer');
      await start(id, { implement: 'quiet', review: 'checker' }, { policy: held, priority: 'P2' });
      let state = await waitFor(id, (s) => s.assignee?.agent === 'quiet');
      const firstPid = await waitForAgentPid(id, 'quiet.mjs');

      // pause / resume
      await signal(id, 'pause', { by: 'bob' });
      state = await waitFor(id, (s) => s.status === 'paused');
      expect(state.paused?.by).toBe('bob');
      expect(details(state, 'signal')).toContain('paused by bob');
      await signal(id, 'pause', { by: 'carol' });
      state = await waitFor(id, (s) => details(s, 'signal-rejected').includes('pause: already paused by bob'));
      await signal(id, 'resume', { by: 'bob' });
      state = await waitFor(id, (s) => s.status === 'running');
      expect(state.paused).toBeNull();
      expect(details(state, 'signal')).toContain('resumed by bob');

      // setPriority: in the state at once, on the board once visibility catches up
      await signal(id, 'setPriority', { by: 'bob', priority: 'P0' });
      state = await waitFor(id, (s) => s.priority === 'P0');
      expect(details(state, 'signal')).toContain('priority set to P0 by bob');
      await waitUntil(`${id} on the P0 board`, async () => (await board('priority=P0')).some((t) => t.taskId === id), WAIT_MS, 250);

      // addNote
      await signal(id, 'addNote', { by: 'bob', text: 'mind the rate limiter' });
      state = await waitFor(id, (s) => s.notes.length === 1);
      expect(state.notes[0]).toMatchObject({ by: 'bob', text: 'mind the rate limiter' });
      expect(details(state, 'signal')).toContain('note from bob: mind the rate limiter');

      // progress: a timeline entry, and both clocks move
      let before = state.clocks;
      await sleep(1100);
      await signal(id, 'progress', { agent: 'quiet', message: 'halfway there' });
      state = await waitFor(id, (s) => details(s, 'progress').includes('quiet: halfway there'));
      expect(at(state.clocks.lastProgressAt)).toBeGreaterThan(at(before.lastProgressAt));
      expect(at(state.clocks.lastSignOfLifeAt)).toBeGreaterThan(at(before.lastSignOfLifeAt));

      // heartbeat: only the sign-of-life clock moves
      before = state.clocks;
      await sleep(1100);
      await signal(id, 'heartbeat', { agent: 'quiet' });
      state = await waitFor(id, (s) => at(s.clocks.lastSignOfLifeAt) > at(before.lastSignOfLifeAt));
      expect(state.clocks.lastProgressAt).toBe(before.lastProgressAt);

      // a malformed payload is recorded and ignored
      await signal(id, 'setPriority', { by: 'bob', priority: 'urgent' });
      state = await waitFor(id, (s) => details(s, 'signal-rejected').some((d) => d.startsWith('setPriority: priority:')));
      expect(state.priority).toBe('P0');
      expect(state.status).toBe('running');

      // retry: the stage runs again on a fresh agent process
      const assignedBefore = details(state, 'assigned').length;
      await signal(id, 'retry', { by: 'bob' });
      state = await waitFor(id, (s) => details(s, 'assigned').length > assignedBefore && s.assignee?.agent === 'quiet');
      expect(details(state, 'signal')).toContain('retry implement by bob');
      const secondPid = await waitForAgentPid(id, 'quiet.mjs', [firstPid]);
      expect(processGone(firstPid)).toBe(true);
      expect(secondPid).not.toBe(firstPid);

      // reassign: the named agent takes the stage, with the note in its context
      await signal(id, 'reassign', { by: 'bob', agent: 'echo' });
      state = await waitFor(id, (s) => s.status === 'completed');
      expect(state.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['implement:echo', 'review:checker']);
      const implementerSaw = JSON.parse(state.results[0]!.summary!) as { notes: string[] };
      expect(implementerSaw.notes).toEqual(['bob: mind the rate limiter']);
      expect(processGone(secondPid)).toBe(true);
    }, 240_000);

    it('requestChanges during review sends the task back to implement with the feedback', async () => {
      const id = taskId('T-changes');
      await start(id, { implement: 'echo', review: 'quiet' }, { policy: held });
      await waitFor(id, (s) => s.assignee?.stage === 'review' && s.assignee.agent === 'quiet');

      await signal(id, 'requestChanges', { by: 'carol', feedback: 'cover the error path' });
      const state = await waitFor(id, (s) => s.round === 2 && s.assignee?.stage === 'review');
      expect(state.feedback).toEqual([{ round: 1, from: 'carol', text: 'cover the error path' }]);
      expect(details(state, 'signal')).toContain('requestChanges by carol');
      const secondImplement = state.results.filter((r) => r.stage === 'implement' && r.round === 2);
      expect(secondImplement).toHaveLength(1);
      expect((JSON.parse(secondImplement[0]!.summary!) as { feedback: string[] }).feedback).toEqual(['carol: cover the error path']);

      await cancelAndWait(id);
    }, 180_000);

    it('a review-rounds escalation is answered with requestChanges (another round) or approve (done)', async () => {
      // The demo reviewer always asks for tests in round 1: with one review round allowed, that escalates.
      const demo = { implement: 'coder', review: 'reviewer' };
      const changesId = taskId('T-rounds-changes');
      const approveId = taskId('T-rounds-approve');
      await start(changesId, demo, { policy: { ...held, maxReviewRounds: 1 } });
      await start(approveId, demo, { policy: { ...held, maxReviewRounds: 1 } });

      for (const id of [changesId, approveId]) {
        const escalated = await waitFor(id, (s) => s.status === 'escalated');
        expect(escalated.escalation?.reason).toBe('review-rounds');
        expect(escalated.round).toBe(1);
      }

      await signal(changesId, 'requestChanges', { by: 'dave', feedback: 'also log rejected logins' });
      let state = await waitFor(changesId, (s) => s.status === 'completed');
      expect(state.results.map((r) => `${r.stage}:${r.round}:${r.outcome}`)).toEqual([
        'implement:1:completed',
        'review:1:changes_requested',
        'implement:2:completed',
        'review:2:approved',
      ]);
      expect(state.feedback.map((f) => `${f.round}:${f.from}`)).toEqual(['1:reviewer', '1:dave']);
      expect(details(state, 'resolved')).toContain('review-rounds resolved by dave: changes requested');

      await signal(approveId, 'approve', { by: 'dave', comment: 'tests come later' });
      state = await waitFor(approveId, (s) => s.status === 'completed');
      expect(state.stage).toBe('done');
      expect(state.results.map((r) => `${r.stage}:${r.outcome}`)).toEqual(['implement:completed', 'review:changes_requested']);
      expect(details(state, 'resolved')).toContain('review-rounds resolved by dave: approved: tests come later');
    }, 180_000);

    it('a malformed signal sent with the CLI is recorded as signal-rejected and the task carries on', async () => {
      const id = taskId('T-malformed');
      await start(id, { implement: 'echo', review: 'checker' }, { policy: held });
      await signal(id, 'addNote', { nope: 1 });
      const state = await waitFor(id, (s) => s.status === 'completed');
      const rejected = details(state, 'signal-rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatch(/^addNote: by: .*; text: /);
      expect(state.notes).toEqual([]);
    }, 120_000);
  });

  it('kill switch: cancel through the CLI stops the running agent process and cancels the task', async () => {
    const id = taskId('T-kill');
    await start(id, { implement: 'quiet', review: 'checker' }, { policy: { idleTimeout: '10m', stallTimeout: '10m' } });
    await waitFor(id, (s) => s.assignee?.agent === 'quiet');
    const pid = await waitForAgentPid(id, 'quiet.mjs');
    expect(processGone(pid)).toBe(false);

    const sentAt = performance.now();
    await signal(id, 'cancel', { by: 'ops', reason: 'kill switch' });
    const cliDone = performance.now();
    await waitUntil(`agent ${pid} to stop`, () => processGone(pid), WAIT_MS, 10);
    const goneAt = performance.now();
    console.log(
      `[human-control] kill time: ${Math.round(goneAt - sentAt)} ms from sending cancel with the CLI to the agent process gone ` +
        `(${Math.round(goneAt - cliDone)} ms after the CLI returned)`,
    );

    expect(processGone(pid)).toBe(true);
    const state = await waitFor(id, (s) => s.status === 'cancelled');
    expect(state.outcome).toEqual({ by: 'ops', reason: 'kill switch' });
    expect(state.assignee).toBeNull();
  }, 180_000);

  it('kill-all: POST /tasks/kill-all cancels 20 running tasks, and `baton kill --all` cancels another batch', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => taskId(`T-killall-${i}`));
    const policy = { idleTimeout: '10m', stallTimeout: '10m' };
    await Promise.all(ids.map((id) => start(id, { implement: 'quiet', review: 'checker' }, { policy })));
    await Promise.all(ids.map((id) => waitFor(id, (s) => s.assignee?.agent === 'quiet', 120_000)));
    const pids = await waitForAgentPids(ids, 'quiet.mjs');
    expect(new Set(pids).size).toBe(20);
    // The board must see them before the kill switch can: visibility is eventually consistent.
    await waitUntil('the 20 tasks on the running board', async () => {
      const running = new Set((await board('status=running&limit=1000')).map((t) => t.taskId));
      return ids.every((id) => running.has(id));
    }, WAIT_MS, 250);

    type KillAll = { matched: number; cancelled: number; failed: { taskId: string; error: string }[] };
    const responses: { status: number; body: KillAll }[] = [];
    const killAll = async () => {
      responses.push(await dev.request<KillAll>('POST', '/tasks/kill-all', { by: 'ops', reason: 'drill' }));
    };
    const onRunningBoard = async () => {
      const running = await board('status=running&limit=1000');
      return ids.filter((id) => running.some((t) => t.taskId === id));
    };
    const stillOpen = async () => {
      const states = await Promise.all(ids.map((id) => dev.request<TaskState>('GET', `/tasks/${id}`)));
      return ids.filter((_, i) => states[i]!.body.status !== 'cancelled');
    };

    const killedAt = performance.now();
    await killAll();
    const answeredAt = performance.now();
    // While the tasks wind down, note when each agent process goes and when the board has none of them.
    const goneAfter = new Map<number, number>();
    const watchProcesses = (async () => {
      const deadline = Date.now() + 20_000;
      while (goneAfter.size < pids.length && Date.now() < deadline) {
        for (const pid of pids) if (!goneAfter.has(pid) && processGone(pid)) goneAfter.set(pid, performance.now() - killedAt);
        await sleep(20);
      }
    })();
    let boardEmptyAfter: number | undefined;
    const watchBoard = (async () => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if ((await onRunningBoard()).length === 0) {
          boardEmptyAfter = performance.now() - killedAt;
          return;
        }
        await sleep(100);
      }
    })();
    await Promise.all([watchProcesses, watchBoard]);
    // Bounded retries: a task the visibility store did not list yet is caught by a later call.
    for (let call = 1; call < 5 && (await stillOpen()).length > 0; call++) {
      await killAll();
      await waitUntil('the retried kill-all to land', async () => (await stillOpen()).length === 0, 10_000, 200).catch(() => undefined);
    }
    await waitUntil('the running board to be empty of the 20 tasks', async () => (await onRunningBoard()).length === 0, WAIT_MS, 100);
    boardEmptyAfter ??= performance.now() - killedAt;
    await waitUntil('every agent process to stop', () => pids.every((pid) => processGone(pid)), WAIT_MS, 20);
    const gone = [...goneAfter.values()].sort((a, b) => a - b);
    const ms = (value: number | undefined) => (value === undefined ? 'n/a' : `${Math.round(value)} ms`);
    console.log(
      `[human-control] kill-all of 20 tasks: ${responses.length} call(s) ${JSON.stringify(responses.map((r) => r.body))}, ` +
        `the first answered in ${ms(answeredAt - killedAt)}; agent processes gone after ${ms(gone[0])} (first), ` +
        `${ms(gone[Math.floor(gone.length / 2)])} (median), ${ms(gone.at(-1))} (last of ${gone.length} seen within 20 s); ` +
        `running board empty after ${ms(boardEmptyAfter)}`,
    );

    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses[0]!.body.failed).toEqual([]);
    expect(responses.reduce((sum, r) => sum + r.body.cancelled, 0)).toBeGreaterThanOrEqual(20);
    expect(await stillOpen()).toEqual([]);
    for (const id of ids) {
      const state = (await dev.request<TaskState>('GET', `/tasks/${id}`)).body;
      expect(state.outcome).toEqual({ by: 'ops', reason: 'drill' });
    }
    expect(pids.every((pid) => processGone(pid))).toBe(true);

    // `baton kill --all`, the same switch from a shell.
    const batch = Array.from({ length: 3 }, (_, i) => taskId(`T-killcli-${i}`));
    await Promise.all(batch.map((id) => start(id, { implement: 'quiet', review: 'checker' }, { policy })));
    await Promise.all(batch.map((id) => waitFor(id, (s) => s.assignee?.agent === 'quiet', 120_000)));
    await waitUntil('the 3 tasks on the running board', async () => {
      const running = new Set((await board('status=running&limit=1000')).map((t) => t.taskId));
      return batch.every((id) => running.has(id));
    }, WAIT_MS, 250);
    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: dev.temporalAddress };
    delete env.BATON_TASK_QUEUE;
    delete env.TEMPORAL_NAMESPACE;
    const { stdout } = await execFileAsync(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'baton.js'), 'kill', '--all', '--by', 'ops', '--reason', 'cli drill'],
      { cwd: REPO_ROOT, env, timeout: 90_000 },
    );
    const match = /cancelled (\d+) of (\d+) open task\(s\)/.exec(stdout);
    expect(match, stdout).not.toBeNull();
    const [cancelled, matched] = [Number(match![1]), Number(match![2])];
    expect(cancelled).toBe(matched);
    expect(cancelled).toBeGreaterThanOrEqual(3);
    for (const id of batch) {
      const state = await waitFor(id, (s) => s.status === 'cancelled');
      expect(state.outcome).toEqual({ by: 'ops', reason: 'cli drill' });
    }
  }, 300_000);
});
