/**
 * `GET /metrics` in Prometheus' text format, after real work on the run's dev server: a coding task whose test
 * gate fails once and passes, with an agent that reports cost, and a task escalated by hand. The figures are
 * the ones Baton observed: tasks by stage and status from visibility, escalations by reason, assignment and
 * handoff latency, gate results, stage outcomes and cost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWER_REPO_FILES, WRONG_THEN_RIGHT } from '../helpers/answer-repo';
import { createBareRemote, createRepo, removeTempDirs } from '../helpers/git';
import { agentsWithQuiet, heldSpec, startApiStack, type ApiStack } from '../helpers/api';
import { fixtureAgent } from '../helpers/stack';

/** Samples of one metric family: `name{labels} value` lines, by their label text. */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) found.set(match[2] ?? '', Number(match[3]));
  }
  return found;
}

describe('GET /metrics', () => {
  let stack: ApiStack;

  beforeAll(async () => {
    stack = await startApiStack({
      agents: [
        ...agentsWithQuiet(),
        fixtureAgent('scripted-coder', ['implement'], 'scripted.mjs'),
        fixtureAgent('scripted-reviewer', ['review'], 'scripted.mjs'),
      ],
    });
  });
  afterAll(async () => {
    await stack?.stop();
    removeTempDirs();
  });

  it('counts what Baton did: tasks, escalations, latencies, gates, stages and cost', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const usage = { inputTokens: 1000, outputTokens: 200, costUsd: 0.25 };
    const script = { implement: { '1': { ...WRONG_THEN_RIGHT.implement['1'], usage }, '2': { ...WRONG_THEN_RIGHT.implement['2'], usage } } };
    const coding = await stack.create({
      id: stack.taskId('T-metrics'),
      title: 'metrics coding task',
      goal: 'answer 42',
      acceptanceCriteria: ['answer.txt says 42'],
      agents: { implement: 'scripted-coder', review: 'scripted-reviewer' },
      repo: { url: remote },
      context: { script },
    });
    await stack.waitFor(coding, (s) => s.status === 'completed', 90_000);
    const held = await stack.create(heldSpec(stack.taskId('T-metrics-held'), 'metrics: escalated by hand'));
    await stack.waitFor(held, (s) => s.status === 'running' && s.assignee !== null);
    expect((await stack.signal(held, 'escalate', { by: 'ops', reason: 'metrics test' })).statusCode).toBe(202);
    await stack.waitFor(held, (s) => s.status === 'escalated');

    // Visibility and the notice activity trail a moment: poll until the figures are in.
    let text = '';
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await stack.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      text = response.body;
      const ready =
        samples(text, 'baton_tasks').get('{stage="done",status="completed"}') === 1 &&
        samples(text, 'baton_tasks').get('{stage="implement",status="escalated"}') === 1 &&
        samples(text, 'baton_escalations_total').get('{reason="manual"}') === 1;
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`metrics never showed the work:\n${text}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    expect(samples(text, 'baton_tasks').get('{stage="review",status="running"}')).toBe(0);
    expect(samples(text, 'baton_gate_runs_total')).toEqual(new Map([['{gate="test",result="failed"}', 1], ['{gate="test",result="passed"}', 1]]));
    expect(samples(text, 'baton_gate_seconds_count').get('{gate="test"}')).toBe(2);
    // Two implement rounds and one review of the coding task; the held task's implement still runs.
    expect(samples(text, 'baton_stage_runs_total').get('{agent="scripted-coder",stage="implement",outcome="completed"}')).toBe(2);
    expect(samples(text, 'baton_stage_runs_total').get('{agent="scripted-reviewer",stage="review",outcome="approved"}')).toBe(1);
    expect(samples(text, 'baton_cost_usd_total').get('{agent="scripted-coder"}')).toBeCloseTo(0.5, 10);
    expect(samples(text, 'baton_tokens_total').get('{agent="scripted-coder",kind="input"}')).toBe(2000);
    // Assignment: both tasks' first stage; handoff: implement -> review and review... -> implement round 2.
    const assigned = samples(text, 'baton_assignment_seconds_count');
    expect([...assigned.values()].reduce((a, b) => a + b, 0)).toBe(2);
    const handed = samples(text, 'baton_handoff_seconds_count');
    expect(handed.get('{stage="implement"}')).toBe(1);
    expect(handed.get('{stage="review"}')).toBe(1);
    const handoffSum = samples(text, 'baton_handoff_seconds_sum').get('{stage="review"}')!;
    expect(handoffSum).toBeGreaterThan(0);
    expect(handoffSum).toBeLessThan(60);
    // Every histogram line is well formed: cumulative buckets ending at +Inf = count.
    expect(samples(text, 'baton_handoff_seconds_bucket').get('{stage="review",le="+Inf"}')).toBe(1);
    // The process's memory, as the kernel and V8 report it.
    const rss = samples(text, 'baton_process_resident_memory_bytes').get('')!;
    const heap = samples(text, 'baton_process_heap_bytes');
    expect(rss).toBeGreaterThan(heap.get('{kind="total"}')!);
    expect(heap.get('{kind="total"}')!).toBeGreaterThanOrEqual(heap.get('{kind="used"}')!);
    expect(heap.get('{kind="used"}')!).toBeGreaterThan(1024 * 1024);
  });
});
