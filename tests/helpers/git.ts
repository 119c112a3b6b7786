/**
 * Real git repositories for tests: repositories with a first commit on `main`, bare remotes, commits, reads
 * at a ref, all refs, and a look into every object of an object database; and task workspaces opened on them
 * through the activity. Every command has an explicit identity and ignores the machine's global and system
 * git configuration.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createWorkspaceActivities } from '../../activities/git/workspace';
import type { OpenedWorkspace, RepoRef, WorkspaceRef } from '../../workflows/workspace';

export const TEST_AUTHOR = { name: 'Test Author', email: 'test@example.com' } as const;

const TEST_GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  // Looking at a checkout must not refresh (and so change) its index.
  GIT_OPTIONAL_LOCKS: '0',
  GIT_AUTHOR_NAME: TEST_AUTHOR.name,
  GIT_AUTHOR_EMAIL: TEST_AUTHOR.email,
  GIT_COMMITTER_NAME: TEST_AUTHOR.name,
  GIT_COMMITTER_EMAIL: TEST_AUTHOR.email,
};

const tempDirs: string[] = [];

/** Runs git in `cwd` and returns its stdout, trailing newline removed; throws on a non-zero exit. */
export function runGit(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...TEST_GIT_ENV, ...env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).replace(/\n$/, '');
}

/** A new empty directory under the system's temp directory (its real path), removed by `removeTempDirs`. */
export function tempDir(prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory `tempDir` made (call it in `afterAll`). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes files (relative paths, parent folders made) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
}

/** A new repository with `files` committed as the first commit on `main` (checked out). Returns its path. */
export function createRepo(files: Record<string, string> = { 'README.md': '# test repository\n' }): string {
  const dir = path.join(tempDir('baton-repo-'), 'project');
  fs.mkdirSync(dir);
  runGit(dir, ['init', '--quiet', '--initial-branch=main']);
  writeFiles(dir, files);
  runGit(dir, ['add', '--all']);
  runGit(dir, ['commit', '--quiet', '-m', 'Initial commit']);
  return dir;
}

/** A bare clone of `repo` (all its branches), in a new temp directory, named `remote.git`. Returns its path. */
export function createBareRemote(repo: string): string {
  const remote = path.join(tempDir('baton-remote-'), 'remote.git');
  runGit(path.dirname(remote), ['clone', '--quiet', '--bare', repo, remote]);
  return remote;
}

/** Writes and commits files on the branch checked out in `repo`. Returns the new commit id. */
export function commitFiles(
  repo: string,
  files: Record<string, string>,
  options: { message?: string; author?: { name: string; email: string } } = {},
): string {
  writeFiles(repo, files);
  runGit(repo, ['add', '--all']);
  const author = options.author ?? TEST_AUTHOR;
  runGit(repo, ['commit', '--quiet', '-m', options.message ?? `Change ${Object.keys(files).join(', ')}`], {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
  });
  return runGit(repo, ['rev-parse', 'HEAD']);
}

/** Writes and commits one file on the branch checked out in `repo`. Returns the new commit id. */
export function commitFile(repo: string, file: string, content: string, message?: string): string {
  return commitFiles(repo, { [file]: content }, { message });
}

/** Commits files on `branch` of a bare remote (through a throwaway clone) and pushes. Returns the new commit id. */
export function commitFilesOnRemote(remote: string, branch: string, files: Record<string, string>): string {
  const clone = path.join(tempDir('baton-pusher-'), 'clone');
  runGit(path.dirname(clone), ['clone', '--quiet', '--branch', branch, remote, clone]);
  const commit = commitFiles(clone, files);
  runGit(clone, ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
  return commit;
}

/** The commit a revision names in `repo`. */
export function revParse(repo: string, rev: string): string {
  return runGit(repo, ['rev-parse', '--verify', `${rev}^{commit}`]);
}

/** A file's content at `ref`, or null when the file is not there. */
export function readFileAt(repo: string, ref: string, file: string): string | null {
  try {
    return execFileSync('git', ['show', `${ref}:${file}`], {
      cwd: repo,
      env: TEST_GIT_ENV,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return null;
  }
}

/** Every ref of the repository with the object it points at. */
export function listRefs(repo: string): Record<string, string> {
  const out = runGit(repo, ['for-each-ref', '--format=%(refname) %(objectname)']);
  return Object.fromEntries(
    out
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split(' ') as [string, string]),
  );
}

/**
 * True when any object of the repository's object database (every object, reachable or not, loose or
 * packed) contains `needle`: proves whether a string was ever written into it.
 */
export function allObjectsContain(repoDir: string, needle: string): boolean {
  const objects = execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], {
    cwd: repoDir,
    env: TEST_GIT_ENV,
    maxBuffer: 1024 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return objects.includes(Buffer.from(needle));
}

/** What `git status --porcelain` says about a checkout (ignored files left out); empty when clean. */
export function statusOf(checkout: string): string {
  return runGit(checkout, ['status', '--porcelain', '--untracked-files=all']);
}

/** Activity logs are expected failures in these tests: only errors are shown. */
const quietLogger = new DefaultLogger('ERROR');

/** A mock activity environment whose log shows errors only; its heartbeats and `cancel()` are the test's. */
export function quietActivityEnvironment(): MockActivityEnvironment {
  return new MockActivityEnvironment(undefined, { logger: quietLogger });
}

/** Runs one activity function in its own mock activity environment. */
export function inActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return quietActivityEnvironment().run(fn, ...args);
}

let taskCounter = 0;

/** A task id of its own for every call (process id, counter, label). */
export function newTaskId(label: string): string {
  taskCounter += 1;
  return `T${process.pid}-${taskCounter}-${label}`;
}

/** Opens a task's workspace in `home` (as the activity) and returns the ref the workflow would keep. */
export async function openTask(
  home: string,
  repo: RepoRef,
  taskId = newTaskId('task'),
): Promise<{ opened: OpenedWorkspace; ref: WorkspaceRef; worktree: string }> {
  const opened = await inActivity(createWorkspaceActivities({ home }).openWorkspace, { taskId, repo });
  const ref: WorkspaceRef = {
    taskId,
    repo,
    branch: opened.branch,
    baseCommit: opened.baseCommit,
    head: opened.head,
    secretPatterns: opened.config.secretPatterns,
  };
  return { opened, ref, worktree: opened.worktree };
}
