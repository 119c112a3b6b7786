import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { git, GitError, withRepoLock } from '../../activities/git/git';
import { checkoutForStage, commitStage, createWorkspaceActivities, reviewMaterial } from '../../activities/git/workspace';
import type { ChangeInfo, SecretFinding, WorkspaceRef } from '../../workflows/workspace';
import {
  allObjectsContain,
  commitFiles,
  commitFilesOnRemote,
  createBareRemote,
  createRepo,
  inActivity,
  listRefs,
  newTaskId,
  openTask,
  quietActivityEnvironment,
  readFileAt,
  removeTempDirs,
  revParse,
  runGit,
  statusOf,
  tempDir,
  writeFiles,
} from '../helpers/git';

const AGENT = { name: 'Coder Agent', email: 'coder@agents.example' };
/** Built at run time, so this file holds no secret a scanner would flag. */
const SECRET = 'ghp_' + 'x'.repeat(36);

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

async function commitAs(worktree: string, ref: WorkspaceRef, message = 'Implement the task'): Promise<ChangeInfo> {
  const result = await commitStage(worktree, ref, { author: AGENT, message });
  if (result.kind !== 'committed') throw new Error(`expected a commit, got ${JSON.stringify(result.findings)}`);
  return result.change;
}

async function blockedFindings(worktree: string, ref: WorkspaceRef): Promise<SecretFinding[]> {
  const result = await commitStage(worktree, ref, { author: AGENT, message: 'Implement the task' });
  if (result.kind !== 'blocked') throw new Error(`expected the commit to be blocked, got ${result.change.commit}`);
  return result.findings;
}

/** Everything about a checkout Baton must never change: HEAD, its branch, status and the index file. */
function checkoutSnapshot(repo: string) {
  return {
    branch: runGit(repo, ['symbolic-ref', 'HEAD']),
    head: revParse(repo, 'HEAD'),
    status: statusOf(repo),
    index: createHash('sha256')
      .update(fs.readFileSync(path.join(repo, '.git', 'index')))
      .digest('hex'),
  };
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

afterAll(() => removeTempDirs());

describe('git workspace: path mode', { timeout: 30_000 }, () => {
  it('makes a worktree outside the repository on baton/<taskId> and never touches the checkout', async () => {
    const repo = createRepo({ 'README.md': '# demo\n', 'src/app.js': 'export const x = 1;\n' });
    // Uncommitted work of the repository's owner, which must survive everything Baton does.
    writeFiles(repo, { 'README.md': '# demo, edited by a human\n', 'notes.txt': 'mine\n' });
    const before = checkoutSnapshot(repo);
    const home = tempDir('baton-home-');

    const taskId = newTaskId('path');
    const { opened, ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' }, taskId);
    expect(opened).toMatchObject({ branch: `baton/${taskId}`, base: 'main', baseCommit: before.head, head: before.head });
    expect(opened.config.source).toBe('none');
    expect(isInside(worktree, repo)).toBe(false);
    expect(worktree).toBe(path.join(home, 'worktrees', path.basename(path.dirname(worktree)), taskId));
    expect(runGit(worktree, ['symbolic-ref', 'HEAD'])).toBe(`refs/heads/baton/${taskId}`);
    expect(fs.readFileSync(path.join(worktree, 'README.md'), 'utf8')).toBe('# demo\n');
    expect(listRefs(repo)[`refs/heads/baton/${taskId}`]).toBe(before.head);

    fs.writeFileSync(path.join(worktree, 'src/app.js'), 'export const x = 2;\n');
    const change = await commitAs(worktree, ref);
    expect(await checkoutForStage(home, { ...ref, head: change.commit }, 'review')).toBe(worktree);

    expect(checkoutSnapshot(repo)).toEqual(before);
    expect(fs.readFileSync(path.join(repo, 'README.md'), 'utf8')).toBe('# demo, edited by a human\n');
  });

  it('is idempotent: opening again answers the same worktree and head', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const taskId = newTaskId('again');
    const first = await openTask(home, { path: repo, baseBranch: 'main' }, taskId);
    const second = await openTask(home, { path: repo, baseBranch: 'main' }, taskId);
    expect(second.opened).toEqual(first.opened);
  });

  it('shares one worktree between agent workers with different homes on one machine', async () => {
    const repo = createRepo();
    const { ref, worktree } = await openTask(tempDir('baton-home-a-'), { path: repo, baseBranch: 'main' });
    expect(await checkoutForStage(tempDir('baton-home-b-'), ref, 'implement')).toBe(worktree);
  });

  it('keeps two tasks on one repository apart, even when they run in parallel', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const repoRef = { path: repo, baseBranch: 'main' };
    const [a, b] = await Promise.all([openTask(home, repoRef, newTaskId('a')), openTask(home, repoRef, newTaskId('b'))]);
    expect(a.worktree).not.toBe(b.worktree);
    expect(a.opened.branch).not.toBe(b.opened.branch);

    writeFiles(a.worktree, { 'a.txt': 'from task a\n' });
    writeFiles(b.worktree, { 'b.txt': 'from task b\n' });
    const [changeA, changeB] = await Promise.all([commitAs(a.worktree, a.ref), commitAs(b.worktree, b.ref)]);
    expect(changeA.files).toEqual(['a.txt']);
    expect(changeB.files).toEqual(['b.txt']);
    expect(readFileAt(repo, a.opened.branch, 'a.txt')).toBe('from task a\n');
    expect(readFileAt(repo, a.opened.branch, 'b.txt')).toBeNull();
    expect(readFileAt(repo, b.opened.branch, 'b.txt')).toBe('from task b\n');
    expect(readFileAt(repo, b.opened.branch, 'a.txt')).toBeNull();
    expect(statusOf(repo)).toBe('');
  });

  it('puts the worktree inside the git directory when the home lies inside the repository', async () => {
    const repo = createRepo({ '.gitignore': '', 'README.md': '# demo\n' });
    const { worktree } = await openTask(path.join(repo, '.baton'), { path: repo, baseBranch: 'main' });
    expect(isInside(worktree, path.join(repo, '.git'))).toBe(true);
    expect(statusOf(repo)).toBe('');
  });

  it('fails non-retryable for a path that is not a git repository or a missing base branch', async () => {
    const home = tempDir('baton-home-');
    const notRepo = tempDir('baton-not-a-repo-');
    const activities = createWorkspaceActivities({ home });
    const notGit = await failureOf(inActivity(activities.openWorkspace, { taskId: newTaskId('x'), repo: { path: notRepo, baseBranch: 'main' } }));
    expect(notGit).toMatchObject({ type: 'WorkspaceMisconfigured', nonRetryable: true });
    expect(notGit.message).toContain('is not a git repository');

    const repo = createRepo();
    const noBase = await failureOf(inActivity(activities.openWorkspace, { taskId: newTaskId('x'), repo: { path: repo, baseBranch: 'develop' } }));
    expect(noBase).toMatchObject({ type: 'WorkspaceMisconfigured', nonRetryable: true });
    expect(noBase.message).toContain('base branch develop does not exist');
  });
});

describe('git workspace: commits', { timeout: 30_000 }, () => {
  it('commits what the agent left, with the agent as author, and reports the diff stat', async () => {
    const repo = createRepo({ 'README.md': 'one\ntwo\nthree\n' });
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    // One commit of the agent's own, then leftovers: a modified file and a new one.
    commitFiles(worktree, { 'own.txt': 'committed by the agent\n' }, { author: AGENT });
    writeFiles(worktree, { 'README.md': 'one\n2\nthree\nfour\n', 'src/new.js': 'a\nb\n' });

    const change = await commitAs(worktree, ref, 'Add the feature');
    expect(change).toMatchObject({
      parent: ref.head,
      commits: 2,
      diffStat: { files: 3, insertions: 5, deletions: 1 },
      files: ['README.md', 'own.txt', 'src/new.js'],
    });
    expect(revParse(repo, ref.branch)).toBe(change.commit);
    const [author, committer, subject] = runGit(repo, ['log', '-1', '--format=%an <%ae>%n%cn <%ce>%n%s', change.commit]).split('\n');
    expect(author).toBe(`${AGENT.name} <${AGENT.email}>`);
    expect(committer).toBe('Baton <baton@localhost>');
    expect(subject).toBe('Add the feature');
    expect(statusOf(worktree)).toBe('');
  });

  it('answers the head itself when the agent changed nothing', async () => {
    const repo = createRepo();
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    expect(await commitAs(worktree, ref)).toEqual({
      commit: ref.head,
      parent: ref.head,
      commits: 0,
      diffStat: { files: 0, insertions: 0, deletions: 0 },
      files: [],
    });
  });

  it("keeps an implement attempt's uncommitted work and resets it for other stages", async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'wip.txt': 'half done\n', 'README.md': 'changed\n' });
    await checkoutForStage(home, ref, 'implement');
    expect(statusOf(worktree)).toBe(' M README.md\n?? wip.txt');
    await checkoutForStage(home, ref, 'review');
    expect(statusOf(worktree)).toBe('');
  });

  it('keeps work the agent committed on another branch or a detached HEAD on the task branch', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    runGit(worktree, ['checkout', '--quiet', '--detach']);
    const own = commitFiles(worktree, { 'detached.txt': 'work\n' }, { author: AGENT });
    writeFiles(worktree, { 'left.txt': 'leftover\n' });

    const change = await commitAs(worktree, ref);
    expect(change).toMatchObject({ parent: ref.head, commits: 2, files: ['detached.txt', 'left.txt'] });
    expect(runGit(worktree, ['symbolic-ref', 'HEAD'])).toBe(`refs/heads/${ref.branch}`);
    expect(runGit(repo, ['rev-parse', `${change.commit}~1`])).toBe(own);
  });

  it('puts a worktree left detached back on the branch, and refuses a branch the task does not own', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    runGit(worktree, ['checkout', '--quiet', '--detach']);
    await checkoutForStage(home, ref, 'implement');
    expect(runGit(worktree, ['symbolic-ref', 'HEAD'])).toBe(`refs/heads/${ref.branch}`);

    runGit(worktree, ['checkout', '--quiet', '-b', 'someone-else']);
    const failure = await failureOf(checkoutForStage(home, ref, 'implement'));
    expect(failure).toMatchObject({ type: 'WorkspaceMisconfigured', nonRetryable: true });
    expect(failure.message).toContain('has someone-else checked out');
  });

  it('blocks a secret in a new file: no commit, nothing pushed, nothing in any object database', async () => {
    const remote = createBareRemote(createRepo());
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { url: remote, baseBranch: 'main' });
    const clone = runGit(worktree, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
    const remoteRefs = listRefs(remote);
    writeFiles(worktree, { 'config/settings.js': `export const token = '${SECRET}';\n`, 'ok.txt': 'fine\n' });

    const findings = await blockedFindings(worktree, ref);
    expect(findings).toEqual([
      { file: 'config/settings.js', line: 1, kind: 'github-token', preview: "export const token = '[REDACTED github-token]';" },
    ]);
    expect(revParse(worktree, 'HEAD')).toBe(ref.head);
    expect(revParse(clone, ref.branch)).toBe(ref.head);
    expect(listRefs(remote)).toEqual(remoteRefs);
    expect(allObjectsContain(clone, SECRET)).toBe(false);
    expect(allObjectsContain(remote, SECRET)).toBe(false);
    // The change stays for the next attempt, which can fix it and commit.
    expect(fs.readFileSync(path.join(worktree, 'config/settings.js'), 'utf8')).toContain(SECRET);
    writeFiles(worktree, { 'config/settings.js': 'export const token = process.env.TOKEN;\n' });
    const change = await commitAs(worktree, ref);
    expect(listRefs(remote)[`refs/heads/${ref.branch}`]).toBe(change.commit);
    expect(allObjectsContain(remote, SECRET)).toBe(false);
  });

  it("blocks a secret in the agent's own commit and takes that commit off the branch", async () => {
    const repo = createRepo({ 'README.md': 'line 1\nline 2\n' });
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    commitFiles(worktree, { 'README.md': `line 1\nline 2\nkey: ${SECRET}\n` }, { author: AGENT });

    const findings = await blockedFindings(worktree, ref);
    expect(findings).toMatchObject([{ file: 'README.md', line: 3, kind: 'github-token' }]);
    expect(findings[0]!.preview).not.toContain(SECRET);
    expect(revParse(repo, ref.branch)).toBe(ref.head);
    expect(revParse(worktree, 'HEAD')).toBe(ref.head);
    expect(fs.readFileSync(path.join(worktree, 'README.md'), 'utf8')).toContain(SECRET);
  });

  it('skips binary files in the scan, tracked and untracked', async () => {
    const repo = createRepo();
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    const binary = (label: string) => `\0\x01${label}\n${SECRET}\n`;
    commitFiles(worktree, { 'tracked.bin': binary('tracked') }, { author: AGENT });
    writeFiles(worktree, { 'untracked.bin': binary('untracked') });
    expect((await commitAs(worktree, ref)).files).toEqual(['tracked.bin', 'untracked.bin']);
  });

  it('blocks what matches a secret pattern of .baton.yaml', async () => {
    const repo = createRepo({ '.baton.yaml': 'secrets:\n  patterns: ["MYCO-[A-Z0-9]{12}"]\n' });
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    expect(ref.secretPatterns).toEqual(['MYCO-[A-Z0-9]{12}']);
    writeFiles(worktree, { 'key.txt': `MYCO-${'A1'.repeat(6)}\n` });
    expect(await blockedFindings(worktree, ref)).toMatchObject([{ file: 'key.txt', line: 1, kind: 'custom' }]);
  });
});

describe('git workspace: .baton.yaml', { timeout: 30_000 }, () => {
  const BASE_CONFIG = 'gates:\n  profile: minimal\n  commands:\n    test: { run: ["npm", "test"], timeout: 5m }\n';

  it('reads it from the base commit, never from the task branch', async () => {
    const repo = createRepo({ '.baton.yaml': BASE_CONFIG });
    const base = revParse(repo, 'main');
    const taskId = newTaskId('config');
    // The task's branch already exists and weakens the gates.
    runGit(repo, ['branch', `baton/${taskId}`, 'main']);
    const other = path.join(tempDir('baton-other-'), 'wt');
    runGit(repo, ['worktree', 'add', '--quiet', other, `baton/${taskId}`]);
    commitFiles(other, { '.baton.yaml': 'gates:\n  profile: minimal\n  commands:\n    test: { run: ["true"] }\n' });
    runGit(repo, ['worktree', 'remove', other]);

    const { opened } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' }, taskId);
    expect(opened.head).toBe(revParse(repo, `baton/${taskId}`));
    expect(opened.baseCommit).toBe(base);
    expect(opened.config).toMatchObject({
      source: `.baton.yaml at ${base.slice(0, 7)}`,
      profile: 'minimal',
      commands: { test: { run: ['npm', 'test'], timeoutMs: 300_000 } },
    });
  });

  it('fails non-retryable when the base has an invalid one', async () => {
    const repo = createRepo({ '.baton.yaml': 'gates:\n  profile: fastest\n' });
    const failure = await failureOf(openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' }));
    expect(failure).toMatchObject({ type: 'WorkspaceMisconfigured', nonRetryable: true });
    expect(failure.message).toContain('gates.profile');
  });
});

describe('git workspace: url mode', { timeout: 30_000 }, () => {
  it('moves work between two homes through the remote only', async () => {
    const remote = createBareRemote(createRepo({ 'README.md': '# demo\n' }));
    const repoRef = { url: remote, baseBranch: 'main' };
    const homeA = tempDir('baton-home-a-');
    const homeB = tempDir('baton-home-b-');

    const { ref, worktree } = await openTask(homeA, repoRef);
    expect(path.dirname(path.dirname(worktree))).toBe(path.join(homeA, 'worktrees'));
    expect(fs.existsSync(path.join(homeA, 'repos', `${path.basename(path.dirname(worktree))}.git`))).toBe(true);
    writeFiles(worktree, { 'feature.txt': 'the feature\n' });
    const change = await commitAs(worktree, ref);
    expect(listRefs(remote)[`refs/heads/${ref.branch}`]).toBe(change.commit);

    const next = { ...ref, head: change.commit };
    const worktreeB = await checkoutForStage(homeB, next, 'review');
    expect(isInside(worktreeB, homeB)).toBe(true);
    expect(fs.readFileSync(path.join(worktreeB, 'feature.txt'), 'utf8')).toBe('the feature\n');
    const material = await reviewMaterial(worktreeB, next, 64 * 1024);
    expect(material).toMatchObject({
      head: change.commit,
      truncated: false,
      diffStat: { files: 1, insertions: 1, deletions: 0 },
      files: ['feature.txt'],
    });
    expect(material.diff).toContain('+the feature');

    // The branch continues on home B: a later open or checkout in home A fetches it.
    writeFiles(worktreeB, { 'more.txt': 'more\n' });
    const second = await commitAs(worktreeB, next);
    await checkoutForStage(homeA, { ...ref, head: second.commit }, 'implement');
    expect(fs.readFileSync(path.join(worktree, 'more.txt'), 'utf8')).toBe('more\n');
  });

  it("reuses origin's baton/<taskId> when it exists", async () => {
    const remote = createBareRemote(createRepo());
    const taskId = newTaskId('reuse');
    const first = await openTask(tempDir('baton-home-a-'), { url: remote, baseBranch: 'main' }, taskId);
    writeFiles(first.worktree, { 'x.txt': 'x\n' });
    const change = await commitAs(first.worktree, first.ref);
    const again = await openTask(tempDir('baton-home-b-'), { url: remote, baseBranch: 'main' }, taskId);
    expect(again.opened).toMatchObject({ head: change.commit, baseCommit: first.ref.baseCommit });
    expect(fs.readFileSync(path.join(again.worktree, 'x.txt'), 'utf8')).toBe('x\n');
  });

  it('fails retryable for a head that is not on the remote', async () => {
    const remote = createBareRemote(createRepo());
    const { ref } = await openTask(tempDir('baton-home-'), { url: remote, baseBranch: 'main' });
    const failure = await failureOf(checkoutForStage(tempDir('baton-home-'), { ...ref, head: 'f'.repeat(40) }, 'review'));
    expect(failure).toMatchObject({ type: 'WorkspaceFailed', nonRetryable: false });
  });
});

describe('git workspace: review material', { timeout: 30_000 }, () => {
  it('cuts a long diff at a line boundary with a note, and redacts secrets', async () => {
    const repo = createRepo();
    const { ref, worktree } = await openTask(tempDir('baton-home-'), { path: repo, baseBranch: 'main' });
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} of a long file`);
    // An agent's own commit can hold a secret the review must not see (its commit was blocked, not this diff).
    commitFiles(worktree, { 'long.txt': `${lines.join('\n')}\n`, 'a-secret.txt': `${SECRET}\n` }, { author: AGENT });
    const head = revParse(worktree, 'HEAD');

    const whole = await reviewMaterial(worktree, ref, 1024 * 1024);
    expect(whole).toMatchObject({ head, truncated: false, diffStat: { files: 2, insertions: 401, deletions: 0 } });
    expect(whole.diff).not.toContain(SECRET);
    expect(whole.diff).toContain('+[REDACTED github-token]');

    const cut = await reviewMaterial(worktree, ref, 2000);
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.diff)).toBeLessThanOrEqual(2000);
    expect(cut.diff).toMatch(/\n\[diff cut to 2000 bytes; the whole change: git diff [0-9a-f]{40}\.\.\.[0-9a-f]{40} \(branch baton\/.+\)\]\n$/);
    expect(whole.diff.startsWith(cut.diff.slice(0, cut.diff.lastIndexOf('\n[diff cut') + 1))).toBe(true);
  });
});

describe('git workspace: integrate and deliver', { timeout: 30_000 }, () => {
  const AT = '2025-01-02T03:04:05.678Z';

  it('names the conflicting files against the current base', async () => {
    const repo = createRepo({ 'shared.txt': 'original\n', 'other.txt': 'x\n' });
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'shared.txt': 'from the task\n' });
    const change = await commitAs(worktree, ref);
    const baseTip = commitFiles(repo, { 'shared.txt': 'from main\n' });

    const result = await inActivity(createWorkspaceActivities({ home }).integrate, {
      workspace: { ...ref, head: change.commit },
      deliver: 'merge',
      at: AT,
    });
    expect(result).toEqual({ baseCommit: baseTip, conflicts: ['shared.txt'] });
  });

  it('builds the same merge commit on two homes and merges it into the remote base', async () => {
    const remote = createBareRemote(createRepo({ 'README.md': '# demo\n' }));
    const repoRef = { url: remote, baseBranch: 'main' };
    const homeA = tempDir('baton-home-a-');
    const homeB = tempDir('baton-home-b-');
    const { ref, worktree } = await openTask(homeA, repoRef);
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    const baseTip = commitFilesOnRemote(remote, 'main', { 'elsewhere.txt': 'someone else\n' });

    const a = await inActivity(createWorkspaceActivities({ home: homeA }).integrate, { workspace, deliver: 'merge', at: AT });
    const b = await inActivity(createWorkspaceActivities({ home: homeB }).integrate, { workspace, deliver: 'merge', at: AT });
    expect(a).toEqual(b);
    expect(a.merge).toMatchObject({ base: baseTip, head: workspace.head, at: AT });
    expect(a.merge!.commit).not.toBe(workspace.head);

    // Home C never saw the merge commit: deliver recreates it.
    const delivered = await inActivity(createWorkspaceActivities({ home: tempDir('baton-home-c-') }).deliver, {
      workspace,
      how: 'merge',
      merge: a.merge,
    });
    expect(delivered).toMatchObject({ ok: true, commit: a.merge!.commit });
    expect(listRefs(remote)).toMatchObject({ 'refs/heads/main': a.merge!.commit, [`refs/heads/${ref.branch}`]: workspace.head });
    const [parents, identity, date] = runGit(remote, ['log', '-1', '--format=%P%n%an <%ae> %cn <%ce>%n%at %ct', 'main']).split('\n');
    expect(parents).toBe(`${baseTip} ${workspace.head}`);
    expect(identity).toBe('Baton <baton@localhost> Baton <baton@localhost>');
    const seconds = String(Math.floor(Date.parse(AT) / 1000));
    expect(date).toBe(`${seconds} ${seconds}`);
    expect(readFileAt(remote, 'main', 'feature.txt')).toBe('feature\n');
    expect(readFileAt(remote, 'main', 'elsewhere.txt')).toBe('someone else\n');

    // A retry after success finds its merge there.
    const again = await inActivity(createWorkspaceActivities({ home: homeB }).deliver, { workspace, how: 'merge', merge: a.merge });
    expect(again).toMatchObject({ ok: true, commit: a.merge!.commit });
  });

  it('answers base-moved when the remote base moved after integrate', async () => {
    const remote = createBareRemote(createRepo());
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { url: remote, baseBranch: 'main' });
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    const activities = createWorkspaceActivities({ home });
    const integrated = await inActivity(activities.integrate, { workspace, deliver: 'merge', at: AT });
    // A fast-forward: the merge is the head itself.
    expect(integrated.merge).toEqual({ base: ref.baseCommit, head: workspace.head, at: AT, commit: workspace.head });
    const moved = commitFilesOnRemote(remote, 'main', { 'late.txt': 'late\n' });

    const delivered = await inActivity(activities.deliver, { workspace, how: 'merge', merge: integrated.merge });
    expect(delivered).toMatchObject({ ok: false, reason: 'base-moved' });
    expect(listRefs(remote)['refs/heads/main']).toBe(moved);
  });

  it('is blocked in path mode while the base is checked out, and merges when it is not', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    const activities = createWorkspaceActivities({ home });
    const { merge } = await inActivity(activities.integrate, { workspace, deliver: 'merge', at: AT });
    const before = checkoutSnapshot(repo);

    const blocked = await inActivity(activities.deliver, { workspace, how: 'merge', merge });
    expect(blocked).toEqual({
      ok: false,
      reason: 'blocked',
      detail: `main is checked out in ${repo}; Baton never modifies a checkout: merge ${ref.branch} yourself (it fast-forwards) or deliver through a bare remote`,
    });
    expect(checkoutSnapshot(repo)).toEqual(before);

    runGit(repo, ['checkout', '--quiet', '-b', 'elsewhere']);
    expect(await inActivity(activities.deliver, { workspace, how: 'merge', merge })).toMatchObject({ ok: true, commit: workspace.head });
    expect(revParse(repo, 'main')).toBe(workspace.head);
  });

  it('answers base-moved in path mode when the base moved after integrate', async () => {
    const repo = createRepo();
    runGit(repo, ['checkout', '--quiet', '-b', 'elsewhere']);
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    const activities = createWorkspaceActivities({ home });
    const { merge } = await inActivity(activities.integrate, { workspace, deliver: 'merge', at: AT });
    runGit(repo, ['checkout', '--quiet', 'main']);
    const moved = commitFiles(repo, { 'late.txt': 'late\n' });
    runGit(repo, ['checkout', '--quiet', 'elsewhere']);

    expect(await inActivity(activities.deliver, { workspace, how: 'merge', merge })).toMatchObject({ ok: false, reason: 'base-moved' });
    expect(revParse(repo, 'main')).toBe(moved);
  });

  it("pushes the branch to the repository's origin for deliver: push in path mode", async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    const activities = createWorkspaceActivities({ home });

    const noOrigin = await inActivity(activities.deliver, { workspace, how: 'push' });
    expect(noOrigin).toMatchObject({ ok: false, reason: 'blocked' });
    if (noOrigin.ok) throw new Error('expected a blocked delivery');
    expect(noOrigin.detail).toContain('has no remote origin');

    const remote = createBareRemote(repo);
    runGit(repo, ['remote', 'add', 'origin', remote]);
    expect(await inActivity(activities.deliver, { workspace, how: 'push' })).toMatchObject({ ok: true, commit: workspace.head });
    expect(listRefs(remote)[`refs/heads/${ref.branch}`]).toBe(workspace.head);
    expect(await inActivity(activities.deliver, { workspace, how: 'branch' })).toMatchObject({ ok: true, commit: workspace.head });
  });

  it('removes the worktree on close and keeps the branch', async () => {
    const repo = createRepo();
    const home = tempDir('baton-home-');
    const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' });
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const workspace = { ...ref, head: (await commitAs(worktree, ref)).commit };
    writeFiles(worktree, { 'scratch.txt': 'uncommitted\n' });
    const activities = createWorkspaceActivities({ home });

    expect(await inActivity(activities.closeWorkspace, { workspace })).toEqual({ removed: worktree });
    expect(fs.existsSync(worktree)).toBe(false);
    expect(runGit(repo, ['worktree', 'list', '--porcelain'])).not.toContain(worktree);
    expect(revParse(repo, ref.branch)).toBe(workspace.head);
    expect(await inActivity(activities.closeWorkspace, { workspace })).toEqual({ removed: null });
  });
});

describe('git runner', { timeout: 30_000 }, () => {
  it('strips credentials from the URLs in its failures', async () => {
    const failure: unknown = await git(['ls-remote', 'https://user:s3cret-token@127.0.0.1:9/repo.git'], {
      cwd: tempDir('baton-git-'),
      timeoutMs: 20_000,
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(GitError);
    expect((failure as GitError).message).toContain('https://***@127.0.0.1:9/repo.git');
    expect((failure as GitError).message).not.toContain('s3cret-token');
  });

  it('answers an allowed exit code and throws on any other', async () => {
    const repo = createRepo();
    expect((await git(['diff', '--quiet'], { cwd: repo })).code).toBe(0);
    writeFiles(repo, { 'README.md': 'changed\n' });
    expect((await git(['diff', '--quiet'], { cwd: repo, allowExit: [1] })).code).toBe(1);
    await expect(git(['diff', '--quiet'], { cwd: repo })).rejects.toThrow(/git diff --quiet failed \(exit 1\)/);
  });

  it('retries while another process holds the index lock', async () => {
    const repo = createRepo();
    writeFiles(repo, { 'new.txt': 'new\n' });
    const lock = path.join(repo, '.git', 'index.lock');
    fs.writeFileSync(lock, '');
    setTimeout(() => fs.rmSync(lock), 50);
    await git(['add', 'new.txt'], { cwd: repo });
    expect(statusOf(repo)).toBe('A  new.txt');
  });

  it('heartbeats while a command runs and kills it on cancellation', async () => {
    const env = quietActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    // A test-only alias that runs long; Baton itself never runs a shell.
    const run = env.run(() => git(['-c', 'alias.linger=!sleep 60', 'linger'], { cwd: tempDir('baton-git-'), heartbeatEveryMs: 20 }));
    run.catch(() => undefined);
    await vi.waitFor(() => expect(heartbeats.length).toBeGreaterThan(0), { timeout: 20_000, interval: 20 });
    expect(heartbeats[0]).toEqual({ git: 'linger' });
    env.cancel();
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
  });

  it('runs the work of one key one at a time, and of different keys side by side', async () => {
    const events: string[] = [];
    const step = (name: string, key: string) =>
      withRepoLock(key, async () => {
        events.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push(`${name} end`);
      });
    await Promise.all([step('a', 'one'), step('b', 'one'), step('c', 'two')]);
    expect(events.indexOf('b start')).toBeGreaterThan(events.indexOf('a end'));
    expect(events.indexOf('c start')).toBeLessThan(events.indexOf('a end'));
  });
});
