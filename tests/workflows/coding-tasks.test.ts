/**
 * Coding tasks on real repositories, against the run's real dev server: worktrees, gates, the secret scan,
 * independent review with a confidence threshold, integration with the base, delivery, cost and budget.
 * The coder and the reviewer run as agent workers with different homes (as on two machines): with
 * `repo.url` they share nothing but the bare remote.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskSpecInput } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import {
  allObjectsContain,
  commitFile,
  commitFilesOnRemote,
  createBareRemote,
  createRepo,
  listRefs,
  readFileAt,
  removeTempDirs,
  revParse,
  runGit,
  statusOf,
  tempDir,
} from '../helpers/git';
import { ANSWER_REPO_FILES, WRONG_THEN_RIGHT } from '../helpers/answer-repo';
import { fixtureAgent, historyText, loggedText, startStack, type TestStack } from '../helpers/stack';

/** Built at run time so no token-shaped literal sits in the source; reaches the coder only through its environment. */
const FAKE_TOKEN = ['ghp', '_', 'Zq7', 'x'.repeat(20), 'Baton', '0123456789'].join('');

describe('coding tasks on real repositories', () => {
  let stack: TestStack;
  let coderHome: string;
  let reviewerHome: string;

  beforeAll(async () => {
    coderHome = tempDir('baton-home-coder-');
    reviewerHome = tempDir('baton-home-reviewer-');
    stack = await startStack({
      agents: [
        fixtureAgent('coder', ['implement'], 'scripted.mjs', { env: { FIXTURE_SECRET: FAKE_TOKEN } }),
        fixtureAgent('reviewer', ['review'], 'scripted.mjs'),
      ],
      homes: { coder: coderHome, reviewer: reviewerHome },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    removeTempDirs();
  });

  /** Starts a task that skips define, on the coder and the reviewer, with its own script. */
  async function start(label: string, spec: Partial<TaskSpecInput> & { script?: object }): Promise<string> {
    const taskId = stack.taskId(label);
    const { script, ...rest } = spec;
    await stack.tasks.start({
      id: taskId,
      title: label,
      goal: `task ${label}`,
      acceptanceCriteria: ['answer.txt says 42'],
      agents: { implement: 'coder', review: 'reviewer' },
      context: { script: script ?? {} },
      ...rest,
    });
    return taskId;
  }

  const closed = (s: TaskState) => s.status === 'completed' || s.status === 'cancelled';

  it('fails the test gate in round 1 with its output as feedback, passes it and an independent review on another home in round 2, and leaves the branch on the remote', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const taskId = await start('T-gates', { repo: { url: remote }, script: WRONG_THEN_RIGHT });
    const state = await stack.waitFor(taskId, closed, 60_000);

    expect(state.status).toBe('completed');
    expect(state.round).toBe(2);
    // Every gate run is in the state: the failure in round 1, the pass in round 2.
    expect(state.gates.map((g) => [g.name, g.round, g.ok, g.exitCode])).toEqual([
      ['test', 1, false, 1],
      ['test', 2, true, 0],
    ]);
    expect(state.gates[0]!.tail).toContain('expected 42, got 41');
    // The failing gate became feedback naming the command, its exit code and the tail of its output.
    const [gateFeedback] = state.feedback;
    expect(gateFeedback).toMatchObject({ round: 1, from: 'gates' });
    expect(gateFeedback!.text).toContain('`node check.mjs`');
    expect(gateFeedback!.text).toContain('exited with code 1');
    expect(gateFeedback!.text).toContain('expected 42, got 41');

    // The reviewer is not the implementer, ran on its own home and fetched the branch from the remote.
    const review = state.results.find((r) => r.stage === 'review')!;
    expect(review).toMatchObject({ agent: 'reviewer', outcome: 'approved', confidence: 0.95, round: 2 });
    expect(review.reviewedCommit).toBe(state.branch!.head);
    const seen = JSON.parse(review.summary!) as { workdir: string; head: string; files: string[] };
    expect(seen.workdir.startsWith(reviewerHome)).toBe(true);
    expect(seen.head).toBe(state.branch!.head);
    expect(seen.files).toEqual(['answer.txt']);
    expect(fs.readdirSync(path.join(reviewerHome, 'repos')).length).toBe(1);
    expect(fs.readdirSync(path.join(coderHome, 'repos')).length).toBe(1);

    // The branch on the remote holds the coder's two commits, the last one the state's head.
    const branch = `baton/${taskId}`;
    expect(state.branch).toMatchObject({ name: branch, base: 'main', worktree: null });
    expect(revParse(remote, branch)).toBe(state.branch!.head);
    const log = runGit(remote, ['log', '--format=%an|%s', `main..${branch}`]).split('\n');
    expect(log).toEqual([`coder|${taskId} round 2: round 2 by coder`, `coder|${taskId} round 1: round 1 by coder`]);
    expect(readFileAt(remote, branch, 'answer.txt')).toBe('42\n');
    expect(readFileAt(remote, 'main', 'answer.txt')).toBe('unknown\n');

    // Both homes' worktrees were removed at done; the Web UI reads the gates' story.
    for (const home of [coderHome, reviewerHome]) {
      const worktrees = path.join(home, 'worktrees');
      const left = fs.existsSync(worktrees) ? fs.readdirSync(worktrees).flatMap((d) => fs.readdirSync(path.join(worktrees, d))) : [];
      expect(left).not.toContain(taskId);
    }
    const history = await historyText(stack.client, `task-${taskId}`);
    expect(history).toContain('gate · test · round 1');
    expect(history).toContain('gate · test · round 2');
    expect(history).toContain(`review · reviewer · round 2`);
  });

  it('blocks a change holding a token before any commit: it reaches no repository, no history, no log', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const taskId = await start('T-secret', {
      repo: { url: remote },
      script: {
        implement: {
          '1': { files: { 'answer.txt': '42\n', 'config.js': "export const token = '${SECRET}';\n" }, say: 'using token ${SECRET}', summary: 'wired the token ${SECRET}' },
          '2': { files: { 'config.js': 'export const token = process.env.GITHUB_TOKEN;\n' } },
        },
      },
    });
    const state = await stack.waitFor(taskId, closed, 60_000);

    expect(state.status).toBe('completed');
    expect(state.timeline.some((e) => e.type === 'secret-blocked' && e.detail.includes('github-token'))).toBe(true);
    const [feedback] = state.feedback;
    expect(feedback).toMatchObject({ round: 1, from: 'secret-scan' });
    expect(feedback!.text).toContain('config.js:1 (github-token)');
    expect(feedback!.text).toContain('[REDACTED github-token]');
    // Only round 2's clean change was committed.
    const log = runGit(remote, ['log', '--format=%s', `main..baton/${taskId}`]).split('\n');
    expect(log).toHaveLength(1);
    expect(readFileAt(remote, `baton/${taskId}`, 'config.js')).toContain('process.env.GITHUB_TOKEN');

    // Nowhere in clear: the remote's and the coder's object databases, the history, the state, the logs.
    expect(allObjectsContain(remote, FAKE_TOKEN)).toBe(false);
    for (const clone of fs.readdirSync(path.join(coderHome, 'repos'))) {
      expect(allObjectsContain(path.join(coderHome, 'repos', clone), FAKE_TOKEN)).toBe(false);
    }
    expect(await historyText(stack.client, `task-${taskId}`)).not.toContain(FAKE_TOKEN);
    expect(JSON.stringify(state)).not.toContain(FAKE_TOKEN);
    expect(loggedText()).not.toContain(FAKE_TOKEN);
    const agentLog = fs.readFileSync(path.join(coderHome, 'runs', taskId, 'implement-r1-a1', 'agent.log'), 'utf8');
    expect(agentLog).toContain('using token [REDACTED github-token]');
    expect(agentLog).not.toContain(FAKE_TOKEN);
  });

  it('runs two tasks on one repository at once in worktrees of their own, never touching its checkout', async () => {
    const repo = createRepo(ANSWER_REPO_FILES);
    // The user's own work in progress: a modified tracked file and an untracked one.
    fs.writeFileSync(path.join(repo, 'README.md'), '# answer (editing)\n');
    fs.writeFileSync(path.join(repo, 'notes.txt'), 'mine\n');
    const before = { head: revParse(repo, 'HEAD'), status: statusOf(repo), branch: runGit(repo, ['branch', '--show-current']) };
    const script = { implement: { '*': { files: { 'answer.txt': '42\n', 'owner.txt': '${TASK}\n' }, sleepMs: 1500 } } };
    const [a, b] = await Promise.all([
      start('T-twin-a', { repo: { path: repo }, script }),
      start('T-twin-b', { repo: { path: repo }, script }),
    ]);
    // Both implement at the same time, each in its own worktree outside the repository.
    const [runningA, runningB] = await Promise.all([
      stack.waitFor(a, (s) => s.assignee?.stage === 'implement'),
      stack.waitFor(b, (s) => s.assignee?.stage === 'implement'),
    ]);
    expect(runningA.branch!.worktree).not.toBe(runningB.branch!.worktree);
    for (const worktree of [runningA.branch!.worktree!, runningB.branch!.worktree!]) {
      expect(path.relative(repo, worktree).startsWith('..')).toBe(true);
    }
    const [doneA, doneB] = await Promise.all([stack.waitFor(a, closed, 60_000), stack.waitFor(b, closed, 60_000)]);

    expect([doneA.status, doneB.status]).toEqual(['completed', 'completed']);
    expect(readFileAt(repo, `baton/${a}`, 'owner.txt')).toBe(`${a}\n`);
    expect(readFileAt(repo, `baton/${b}`, 'owner.txt')).toBe(`${b}\n`);
    expect({ head: revParse(repo, 'HEAD'), status: statusOf(repo), branch: runGit(repo, ['branch', '--show-current']) }).toEqual(before);
    expect(fs.readFileSync(path.join(repo, 'answer.txt'), 'utf8')).toBe('unknown\n');
    expect(runGit(repo, ['worktree', 'list', '--porcelain'])).not.toContain(`baton/${a}`);
  });

  it('stops at the budget: no further stage starts, escalates budget, refuses approve, and goes on once setBudget raises it', async () => {
    const repo = createRepo(ANSWER_REPO_FILES);
    const taskId = await start('T-budget', {
      repo: { path: repo },
      policy: { maxCostUsd: 0.01, gates: 'skip' },
      script: { implement: { '*': { files: { 'answer.txt': '42\n' }, usage: { inputTokens: 1200, outputTokens: 300, costUsd: 0.02 } } } },
    });
    const escalated = await stack.waitFor(taskId, (s) => s.escalation?.reason === 'budget');

    expect(escalated.stage).toBe('review');
    expect(escalated.results.map((r) => r.stage)).toEqual(['implement']);
    expect(escalated.cost).toEqual({ inputTokens: 1200, outputTokens: 300, costUsd: 0.02 });
    expect(escalated.escalation!.detail).toContain('$0.0200 reached the budget $0.0100');
    expect(escalated.timeline.some((e) => e.type === 'gate' && e.detail.includes('policy.gates is "skip"'))).toBe(true);
    // Cost and gates are search attributes: GET /tasks filters on them.
    const listed = await waitForList(() => stack.tasks.list({ minCostUsd: 0.015 }), (tasks) => tasks.some((t) => t.taskId === taskId));
    expect(listed.find((t) => t.taskId === taskId)).toMatchObject({ costUsd: 0.02, gates: 'skip' });
    expect((await stack.tasks.list({ maxCostUsd: 0.015 })).some((t) => t.taskId === taskId)).toBe(false);

    await stack.tasks.signal(taskId, 'approve', { by: 'alice' });
    await stack.tasks.signal(taskId, 'setBudget', { by: 'alice', maxCostUsd: 0.015 });
    await stack.tasks.signal(taskId, 'setBudget', { by: 'alice', maxCostUsd: 1 });
    const done = await stack.waitFor(taskId, closed);

    expect(done.status).toBe('completed');
    const rejected = done.timeline.filter((e) => e.type === 'signal-rejected').map((e) => e.detail);
    expect(rejected).toEqual([
      'approve: the budget is used up: raise it with setBudget, or cancel the task',
      'setBudget: a budget of $0.0150 does not cover the $0.0200 already spent',
    ]);
    expect(done.policy.maxCostUsd).toBe(1);
  });

  it('sends an approval below policy.minConfidence back to implement with the reviewer\'s words', async () => {
    const taskId = await start('T-confidence', {
      script: { review: { '1': { outcome: 'approved', confidence: 0.8, summary: 'looks fine, not sure about edge cases' } } },
    });
    const state = await stack.waitFor(taskId, closed);

    expect(state.status).toBe('completed');
    expect(state.round).toBe(2);
    expect(state.feedback).toEqual([
      {
        round: 1,
        from: 'reviewer',
        text: 'The review approved with confidence 0.8, below the required 0.9: not approved. Reviewer: looks fine, not sure about edge cases',
      },
    ]);
    expect(state.results.filter((r) => r.stage === 'review').map((r) => r.confidence)).toEqual([0.8, 0.95]);
  });

  it('sends a branch that conflicts with the moved base back to implement naming the files, and delivers once merged', async () => {
    const repo = createRepo(ANSWER_REPO_FILES);
    const taskId = await start('T-conflict', {
      repo: { path: repo },
      script: {
        implement: {
          '1': { files: { 'answer.txt': '42\n' } },
          '2': { run: ['git', '-c', 'user.name=scripted', '-c', 'user.email=s@x.invalid', 'merge', '--no-edit', '-X', 'ours', 'main'] },
        },
        review: { '1': { sleepMs: 1500 } },
      },
    });
    await stack.waitFor(taskId, (s) => s.assignee?.stage === 'review');
    // Meanwhile someone changes the same line on main, in the repository's own checkout.
    const moved = commitFile(repo, 'answer.txt', '43\n', 'main moves on');
    const state = await stack.waitFor(taskId, closed, 60_000);

    expect(state.status).toBe('completed');
    const conflict = state.feedback.find((f) => f.from === 'integration')!;
    expect(conflict.text).toContain(`conflicts with main (now at ${moved.slice(0, 10)}) in:\n- answer.txt`);
    expect(conflict.text).toContain('git merge main');
    expect(state.timeline.some((e) => e.type === 'conflict')).toBe(true);
    // The delivered branch contains the moved base.
    expect(runGit(repo, ['merge-base', '--is-ancestor', moved, `baton/${taskId}`])).toBe('');
    expect(state.branch!.delivered).toMatchObject({ how: 'branch', commit: state.branch!.head });
  });

  it('delivers with merge: gates run again on the merged result, and the remote base moves to the merge commit', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const taskId = await start('T-merge', {
      repo: { url: remote },
      policy: { deliver: 'merge' },
      script: { implement: { '*': { files: { 'answer.txt': '42\n' } } }, review: { '*': { sleepMs: 1500 } } },
    });
    await stack.waitFor(taskId, (s) => s.assignee?.stage === 'review');
    const unrelated = commitFilesOnRemote(remote, 'main', { 'CHANGELOG.md': 'unrelated\n' });
    const state = await stack.waitFor(taskId, closed, 60_000);

    expect(state.status).toBe('completed');
    const mergeGate = state.gates.find((g) => g.on === 'merge')!;
    expect(mergeGate).toMatchObject({ name: 'test', ok: true });
    const main = revParse(remote, 'main');
    expect(state.branch!.delivered).toMatchObject({ how: 'merge', commit: main });
    expect(mergeGate.commit).toBe(main);
    expect(runGit(remote, ['log', '-1', '--format=%P', main]).split(' ')).toEqual([unrelated, state.branch!.head]);
    expect(readFileAt(remote, 'main', 'answer.txt')).toBe('42\n');
    expect(readFileAt(remote, 'main', 'CHANGELOG.md')).toBe('unrelated\n');
  });

  it('delivers with push: the branch goes to the repository\'s origin', async () => {
    const origin = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const clone = path.join(tempDir('baton-clone-'), 'project');
    runGit(path.dirname(clone), ['clone', '--quiet', origin, clone]);
    const taskId = await start('T-push', { repo: { path: clone }, policy: { deliver: 'push' }, script: { implement: { '*': { files: { 'answer.txt': '42\n' } } } } });
    const state = await stack.waitFor(taskId, closed, 60_000);

    expect(state.status).toBe('completed');
    expect(listRefs(origin)[`refs/heads/baton/${taskId}`]).toBe(state.branch!.head);
  });

  it('asks a human when the repository defines no gates, and an approve goes on without them', async () => {
    const repo = createRepo({ 'README.md': '# no gates here\n' });
    const taskId = await start('T-no-gates', { repo: { path: repo }, script: { implement: { '*': { files: { 'x.txt': 'x\n' } } } } });
    const escalated = await stack.waitFor(taskId, (s) => s.escalation !== null);

    expect(escalated.escalation).toMatchObject({ reason: 'workspace' });
    expect(escalated.escalation!.detail).toContain('the repository has no .baton.yaml');
    expect(escalated.escalation!.detail).toContain('policy.gates');
    expect(escalated.step).toBe('gates');
    // Kept while a human decides.
    expect(fs.existsSync(escalated.branch!.worktree!)).toBe(true);

    await stack.tasks.signal(taskId, 'approve', { by: 'carol' });
    const done = await stack.waitFor(taskId, closed);
    expect(done.status).toBe('completed');
    expect(done.timeline.some((e) => e.type === 'gate' && e.detail.includes('approved by carol'))).toBe(true);
    expect(done.gates).toEqual([]);
  });

  it('keeps the worktree while the task is escalated and removes it when the task is cancelled; the branch stays', async () => {
    const repo = createRepo(ANSWER_REPO_FILES);
    const taskId = await start('T-cancel', {
      repo: { path: repo },
      policy: { idleTimeout: '1s', gates: 'skip' },
      script: { implement: { '*': { files: { 'answer.txt': '42\n' } } }, review: { '*': { sleepMs: 60_000 } } },
    });
    const escalated = await stack.waitFor(taskId, (s) => s.escalation?.reason === 'idle');
    const worktree = escalated.branch!.worktree!;
    expect(fs.existsSync(worktree)).toBe(true);

    await stack.tasks.signal(taskId, 'cancel', { by: 'dave', reason: 'not needed' });
    const cancelled = await stack.waitFor(taskId, closed);

    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.branch!.worktree).toBeNull();
    expect(fs.existsSync(worktree)).toBe(false);
    expect(revParse(repo, `baton/${taskId}`)).toBe(cancelled.branch!.head);
  });

  it('never lets the implementer review its own change: with no other reviewer the task escalates', async () => {
    const solo = await startStack({ agents: [fixtureAgent('solo', ['implement', 'review'], 'scripted.mjs')] });
    try {
      const taskId = solo.taskId('T-solo');
      await solo.tasks.start({ id: taskId, title: 'solo', goal: 'g', acceptanceCriteria: ['c'] });
      const escalated = await solo.waitFor(taskId, (s) => s.escalation !== null);

      expect(escalated.escalation).toMatchObject({ reason: 'agent-failed' });
      expect(escalated.escalation!.detail).toContain('no agent other than solo has the role "review"');
      expect(escalated.results.map((r) => `${r.stage}:${r.agent}`)).toEqual(['implement:solo']);
      // Pinning the same agent to both is refused when the task is created.
      await expect(solo.tasks.start({ title: 'x', agents: { implement: 'solo', review: 'solo' } })).rejects.toThrow(/agents.review must differ/);
    } finally {
      await solo.stop();
    }
  });
});

async function waitForList<T>(list: () => Promise<T[]>, done: (items: T[]) => boolean, timeoutMs = 15_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = await list();
    if (done(items) || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 200));
  }
}
