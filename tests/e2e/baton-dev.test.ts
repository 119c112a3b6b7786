import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskState } from '../../workflows/state';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { DEMO_ROUND_TRIP, REPO_ROOT, stageOutcomes } from '../helpers/stack';

interface HistoryEvent {
  eventType: string;
  userMetadata?: { summary?: { data?: string } };
}

/** The summaries the Web UI shows next to the activities of a task's history. */
function activitySummaries(history: { events: HistoryEvent[] }): string[] {
  return history.events
    .filter((event) => event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')
    .map((event) => JSON.parse(Buffer.from(event.userMetadata?.summary?.data ?? '', 'base64').toString()) as string);
}

describe('baton dev, end to end', () => {
  let dev: BatonDev;
  beforeAll(async () => {
    dev = await startBatonDev();
  });
  afterAll(async () => {
    await dev?.interrupt();
  });

  it('prints the API, docs and Web UI URLs, and serves the Web UI', async () => {
    expect(dev.output()).toContain(`API:       ${dev.apiUrl}`);
    expect(dev.output()).toContain(`API docs:  ${dev.apiUrl}/docs`);
    expect(dev.output()).toContain(`Web UI:    ${dev.uiUrl}/namespaces/default/workflows`);
    // Agent workers run no workflows: the SDK's warning about it is nothing a newcomer can act on.
    expect(dev.output()).not.toContain('No workflows registered');
    const ui = await fetch(dev.uiUrl);
    expect(ui.status).toBe(200);
    expect((await dev.request('GET', '/healthz')).status).toBe(200);
  });

  it('takes a task with only a title through define, implement, review x2 to done', async () => {
    const created = await dev.request<{ taskId: string; links: { ui: string } }>('POST', '/tasks', { title: 'Add rate limiting to login' });
    expect(created.status).toBe(201);
    const { taskId } = created.body;
    expect(created.body.links.ui).toContain(`${dev.uiUrl}/namespaces/default/workflows/task-${taskId}/`);
    const state = await dev.waitForTask(taskId, (s) => s.status === 'completed');
    expect(stageOutcomes(state)).toEqual(DEMO_ROUND_TRIP);
    // The link to the task's history is printed for each new task.
    expect(dev.output()).toContain(`task ${taskId} started: ${dev.uiUrl}/namespaces/default/workflows/task-${taskId}/`);

    const history = JSON.parse(await dev.temporal(['workflow', 'show', '--workflow-id', `task-${taskId}`, '--output', 'json'])) as {
      events: HistoryEvent[];
    };
    expect(activitySummaries(history)).toEqual([
      'define · planner · round 1',
      'implement · coder · round 1',
      'review · reviewer · round 1',
      'implement · coder · round 2',
      'review · reviewer · round 2',
    ]);
  });

  it('answers 400 naming the field for a body without title, and 409 for a duplicate id', async () => {
    const missing = await dev.request<{ error: string; issues: { path: string }[] }>('POST', '/tasks', { goal: 'no title' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('ValidationError');
    expect(missing.body.issues.map((issue) => issue.path)).toContain('title');

    const id = `T-dup-${Date.now()}`;
    expect((await dev.request('POST', '/tasks', { id, title: 'first' })).status).toBe(201);
    const second = await dev.request<{ error: string; taskId: string }>('POST', '/tasks', { id, title: 'second' });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ error: 'TaskAlreadyExists', taskId: id });
  });

  it('records a malformed signal sent with `temporal workflow signal` as signal-rejected, and the task carries on', async () => {
    const created = await dev.request<{ taskId: string }>('POST', '/tasks', { title: 'malformed note' });
    const { taskId } = created.body;
    await dev.temporal(['workflow', 'signal', '--workflow-id', `task-${taskId}`, '--name', 'addNote', '--input', '{"nope":1}']);
    const state: TaskState = await dev.waitForTask(taskId, (s) => s.status === 'completed');
    const rejected = state.timeline.filter((entry) => entry.type === 'signal-rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.detail).toMatch(/^addNote: by: .*; text: /);
    expect(state.notes).toEqual([]);
  });

  it('walks the README\'s repository walkthrough: the test gate fails round 1, round 2 passes and the branch is on the remote', async () => {
    const dir = join(dev.home, 'demo');
    const printed = execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'baton.js'), 'demo-repo', dir], { encoding: 'utf8' });
    const remote = join(dir, 'remote.git');
    expect(printed).toContain(`demo repository: ${remote}`);
    const created = await dev.request<{ taskId: string }>('POST', '/tasks', { id: 'DEMO-1', title: 'Implement slugify', repo: { url: remote } });
    expect(created.status).toBe(201);
    const state = await dev.waitForTask('DEMO-1', (s) => s.status === 'completed' || s.status === 'escalated', 120_000);

    expect(state.status).toBe('completed');
    expect(state.gates.map((g) => `${g.name}:${g.round}:${g.ok ? 'pass' : 'fail'}`)).toEqual(['lint:1:pass', 'test:1:fail', 'lint:2:pass', 'test:2:pass']);
    expect(state.feedback[0]!.from).toBe('gates');
    expect(state.feedback[0]!.text).toContain('gate test (`node --test`) exited with code 1');
    expect(state.results.at(-1)).toMatchObject({ stage: 'review', agent: 'reviewer', outcome: 'approved', confidence: 0.95 });
    const log = execFileSync('git', ['--git-dir', remote, 'log', '--format=%an %s', 'main..baton/DEMO-1'], { encoding: 'utf8' });
    expect(log.trim().split('\n')).toEqual([
      'coder DEMO-1 round 2: slugify: drop accents and punctuation (the test gate failed round 1)',
      'coder DEMO-1 round 1: implement slugify: lower case, words joined by dashes',
    ]);
  });

  it('serves /metrics with the tasks it ran and the Temporal SDK worker metrics of its workers', async () => {
    const response = await fetch(`${dev.apiUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    // The tasks above completed (visibility), their stages were timed, and the SDK's own series are there.
    expect(text).toMatch(/^baton_tasks\{stage="done",status="completed"\} [1-9]\d*$/m);
    expect(text).toMatch(/^baton_handoff_seconds_count\{stage="review"\} [1-9]\d*$/m);
    expect(text).toMatch(/^baton_gate_runs_total\{gate="test",result="failed"\} 1$/m);
    expect(text).toMatch(/^temporal_worker_task_slots_available\{.*task_queue="baton".*\} \d+$/m);
    expect(text).toMatch(/^temporal_activity_execution_latency_count\{.*activity_type="runAgent".*\} [1-9]\d*$/m);
  });

  it('stops every child process on Ctrl-C', async () => {
    const code = await dev.interrupt();
    expect(code).toBe(0);
    expect(dev.output()).toContain('[baton] stopped');
    // The embedded dev server (started with this stack's --db file) is gone too.
    // (The server's lifeline watcher notices within a second that it has nothing left to watch.)
    const left = () => execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((line) => line.includes(dev.home));
    for (let i = 0; i < 50 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(left()).toEqual([]);
  });
});
