/**
 * A task's git workspace: its branch `baton/<taskId>`, its worktree outside the repository's own checkout,
 * the commits of what its agents changed (secret-scanned first), the review's diff, the check against the
 * current base, and delivery. Used by the agent driver (checkout, commit, review material) and as activities
 * of every agent worker.
 *
 * Two modes. `repo.path`: worktrees are made from that repository on this machine, and its checkout is never
 * touched. `repo.url`: every agent worker keeps its own bare clone in its home, and work travels between
 * machines as pushes and fetches of the task's branch.
 */
import { metrics } from '../metrics';
import { createHash, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { TASK_ID_PATTERN, type AgentStage } from '../../workflows/spec';
import {
  branchForTask,
  stageChangesCode,
  type ChangeInfo,
  type DeliverResult,
  type DiffStat,
  type GateRun,
  type MergeSpec,
  type RepoConfig,
  type RepoRef,
  type SecretFinding,
  type WorkspaceActivities,
  type WorkspaceRef,
} from '../../workflows/workspace';
import { executeGate } from '../gates/gates';
import { BATON_IDENTITY, git, GitError, stripCredentials, withRepoLock } from './git';
import { parseRepoConfig, RepoConfigError } from './repo-config';
import { createSecretScanner, SecretPatternError, type SecretScanner } from './secret-scan';

/** Failure types of the workspace functions and activities (`ApplicationFailure.type`). */
export const WORKSPACE_FAILURE_TYPES = {
  /**
   * Non-retryable: `repo.path` is not a git repository, the base branch is missing, `.baton.yaml` is invalid,
   * a branch the task does not own is checked out in its worktree, or the input is malformed.
   */
  misconfigured: 'WorkspaceMisconfigured',
  /** Retryable: a clone, fetch or push failed, a commit is not on the remote yet, or git failed otherwise. */
  failed: 'WorkspaceFailed',
} as const;

/** The repository's configuration file, read from the base commit only. */
const CONFIG_FILE = '.baton.yaml';
/** Clones, fetches and pushes give up after this long (and are retried as an activity). */
const NETWORK_TIMEOUT_MS = 15 * 60_000;
/** Secret scan: the part of each file that is scanned, and the part that decides whether it is binary. */
const SCAN_LIMIT_BYTES = 1024 * 1024;
const BINARY_SNIFF_BYTES = 8 * 1024;
const MAX_CHANGED_FILES = 100;
/** The review diff is read up to this much beyond its byte bound (redaction may shorten it), then cut. */
const REVIEW_READ_SLACK_BYTES = 64 * 1024;
const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Where a task's repository is on this machine. */
interface RepoSite {
  mode: 'path' | 'url';
  /** Where commands on the repository run: `repo.path`, or this home's bare clone of `repo.url`. */
  dir: string;
  /** The real path of the repository's git directory: the key of its in-process lock. */
  commonDir: string;
  /** The repository's own working tree (path mode, not bare): task worktrees stay out of it. */
  toplevel: string | null;
  /** `<name>-<hash8>`, the folder of the task worktrees. */
  slug: string;
  /** How messages name the repository, never with credentials. */
  display: string;
  /** The base branch's name and the ref that holds its current tip here. */
  base: string;
  baseRef: string;
}

/**
 * Makes sure the task's worktree exists on this machine and sits at `ref.head`; returns its path. For stage
 * `implement` an existing worktree already at `ref.head` keeps its uncommitted changes (a previous attempt's,
 * or a change the secret scan blocked); for other stages, and whenever HEAD is not `ref.head`, it is reset
 * hard to `ref.head` and cleaned (`-fd`). In url mode a head missing here is fetched; a head still missing
 * after that is a retryable `WorkspaceFailed`.
 */
export async function checkoutForStage(home: string, ref: WorkspaceRef, stage: AgentStage): Promise<string> {
  return workspaceStep(`checking out ${ref.branch} for ${stage}`, async () => {
    const { worktree } = await prepareWorktree(home, ref, stageChangesCode(stage));
    return worktree;
  });
}

/**
 * Secret-scans what the agent changed since `ref.head` (its own commits, uncommitted and untracked files)
 * before anything is added to git, and, when clean, commits the leftovers (author: the agent, committer:
 * Baton) and pushes the branch in url mode. A finding blocks: nothing is committed or pushed, commits the
 * agent made itself are taken off the branch (`reset --mixed`), and the change stays in the worktree.
 */
export async function commitStage(
  worktree: string,
  ref: WorkspaceRef,
  options: { author: { name: string; email: string }; message: string },
): Promise<{ kind: 'committed'; change: ChangeInfo } | { kind: 'blocked'; findings: SecretFinding[] }> {
  return workspaceStep(`committing the change on ${ref.branch}`, async () => {
    checkWorkspaceRef(ref);
    const scanner = secretScanner(ref.secretPatterns);
    const start = ref.head;
    await keepWorkOnBranch(worktree, ref);

    const findings = await scanChange(worktree, start, scanner);
    if (findings.length > 0) {
      if ((await resolveCommit(worktree, 'HEAD')) !== start) {
        await git(['reset', '--mixed', '--quiet', start], { cwd: worktree });
      }
      return { kind: 'blocked', findings };
    }

    await git(['add', '--all'], { cwd: worktree });
    const staged = await git(['diff', '--cached', '--quiet'], { cwd: worktree, allowExit: [1] });
    if (staged.code === 1) {
      const message = options.message.trim() === '' ? `Changes of task ${ref.taskId}` : options.message;
      await git(['-c', 'commit.gpgSign=false', 'commit', '--quiet', '--no-verify', '-m', message], {
        cwd: worktree,
        env: { GIT_AUTHOR_NAME: options.author.name, GIT_AUTHOR_EMAIL: options.author.email },
      });
    }
    const head = await requireCommit(worktree, 'HEAD');
    const commits = Number((await git(['rev-list', '--count', `${start}..${head}`], { cwd: worktree })).stdout.trim());
    const summary = await diffSummary(worktree, [start, head]);
    if (ref.repo.url !== undefined && head !== start) {
      await pushTaskBranch(worktree, await commonDirOf(worktree), ref.branch, head);
    }
    return { kind: 'committed', change: { commit: head, parent: start, commits, ...summary } };
  });
}

/**
 * The change under review: the diff `baseCommit...head` (three dots: what the branch added), secrets
 * redacted, cut at a line boundary so that it and the note saying how to see the rest fit in `maxBytes`;
 * with its diff stat and changed files. `head` is the commit the worktree is at: the commit reviewed.
 */
export async function reviewMaterial(
  worktree: string,
  ref: WorkspaceRef,
  maxBytes: number,
): Promise<{ head: string; diff: string; truncated: boolean; diffStat: DiffStat; files: string[] }> {
  return workspaceStep(`reading the change on ${ref.branch}`, async () => {
    checkWorkspaceRef(ref);
    const scanner = secretScanner(ref.secretPatterns);
    const head = await requireCommit(worktree, 'HEAD');
    const range = `${ref.baseCommit}...${head}`;
    const readLimit = 2 * maxBytes + REVIEW_READ_SLACK_BYTES;
    const lines: string[] = [];
    let readBytes = 0;
    let overflowed = false;
    await git(['diff', '--no-color', '--no-ext-diff', '--no-textconv', '-M', range, '--'], {
      cwd: worktree,
      onStdoutLine: (line) => {
        if (readBytes > readLimit) {
          overflowed = true;
          return;
        }
        lines.push(line);
        readBytes += Buffer.byteLength(line) + 1;
      },
    });
    const full = scanner.redact(lines.map((line) => `${line}\n`).join(''));
    const note = `[diff cut to ${maxBytes} bytes; the whole change: git diff ${range} (branch ${ref.branch})]\n`;
    const fits = !overflowed && Buffer.byteLength(full) <= maxBytes;
    const diff = fits ? full : cutAtLine(full, maxBytes - Buffer.byteLength(note)) + note;
    return { head, diff, truncated: !fits, ...(await diffSummary(worktree, [range])) };
  });
}

/**
 * Creates the workspace activities of an agent worker whose home is `deps.home` (url-mode clones go to
 * `<home>/repos`, worktrees to `<home>/worktrees`). Failures: `WorkspaceMisconfigured` (non-retryable) and
 * `WorkspaceFailed` (retryable); a cancellation propagates as `CancelledFailure`.
 */
export function createWorkspaceActivities(deps: { home: string }): WorkspaceActivities {
  const { home } = deps;
  return {
    async openWorkspace(input) {
      const { taskId, repo } = input;
      const branch = branchForTask(taskId);
      return workspaceStep(`opening ${branch}`, async () => {
        checkTaskId(taskId);
        const site = await locateRepo(home, repo);
        if (site.mode === 'url') await fetchOrigin(site);
        const baseTip = await requireBase(site);
        const existing = await resolveCommit(
          site.dir,
          site.mode === 'url' ? `refs/remotes/origin/${branch}` : `refs/heads/${branch}`,
        );
        const head = existing ?? baseTip;
        // A branch from an earlier run starts where it forked from the base, not at today's base tip.
        const baseCommit = existing === null ? baseTip : ((await mergeBase(site.dir, baseTip, existing)) ?? baseTip);
        const config = await readRepoConfig(site, baseCommit);
        const ref: WorkspaceRef = { taskId, repo, branch, baseCommit, head, secretPatterns: config.secretPatterns };
        const worktree = await ensureWorktree(home, site, ref);
        await alignWorktree(worktree, ref, true);
        return { branch, base: repo.baseBranch, baseCommit, head, worktree, config };
      });
    },

    async runGate(input) {
      const { workspace, gate, name } = input;
      return workspaceStep(`running gate ${name} on ${workspace.branch}`, async () => {
        const scanner = secretScanner(workspace.secretPatterns);
        const { site, worktree } = await prepareWorktree(home, workspace, false);
        const backToBranch = (): Promise<void> =>
          cleanCheckout(worktree, ['-B', workspace.branch, workspace.head], { cancellable: false });
        let run: GateRun;
        try {
          let commit = workspace.head;
          if (input.on === 'merge') {
            if (input.merge === undefined) throw misconfigured(`gate ${name} on the merge needs the merge commit`);
            await ensureMergeCommit(site, workspace, input.merge);
            await cleanCheckout(worktree, ['--detach', input.merge.commit], { cancellable: true });
            commit = input.merge.commit;
          }
          const execution = await executeGate({
            cwd: worktree,
            name,
            taskId: workspace.taskId,
            gate,
            redact: (text) => scanner.redact(text),
          });
          run = { round: input.round, name, command: gate.run, commit, on: input.on, ...execution };
        } catch (err) {
          // The gate's own failure (or cancellation) matters more than a failed cleanup.
          await backToBranch().catch(() => undefined);
          throw err;
        }
        await backToBranch();
        metrics.gates.inc({ gate: name, result: run.ok ? 'passed' : 'failed' });
        metrics.gateSeconds.observe(run.durationMs / 1000, { gate: name });
        return run;
      });
    },

    async integrate(input) {
      const { workspace } = input;
      return workspaceStep(`checking ${workspace.branch} against ${workspace.repo.baseBranch}`, async () => {
        checkWorkspaceRef(workspace);
        const site = await locateRepo(home, workspace.repo);
        if (site.mode === 'url') await fetchOrigin(site);
        const baseTip = await requireBase(site);
        await ensureCommit(site, workspace.head);
        const check = await checkMerge(site.dir, baseTip, workspace.head);
        if (check.kind === 'conflicts') return { baseCommit: baseTip, conflicts: check.files };
        if (input.deliver !== 'merge') return { baseCommit: baseTip, conflicts: [] };
        const merge = { base: baseTip, head: workspace.head, at: input.at };
        const commit = await mergeCommitFor(site.dir, workspace, merge, check);
        return { baseCommit: baseTip, conflicts: [], merge: { ...merge, commit } };
      });
    },

    async deliver(input) {
      const { workspace, how } = input;
      return workspaceStep(`delivering ${workspace.branch} (${how})`, async (): Promise<DeliverResult> => {
        checkWorkspaceRef(workspace);
        const site = await locateRepo(home, workspace.repo);
        const { branch, head } = workspace;
        if (how === 'merge') {
          if (input.merge === undefined) throw misconfigured('deliver: merge needs the merge commit from integrate');
          return deliverMerge(site, workspace, input.merge);
        }
        if (site.mode === 'url') {
          await ensureCommit(site, head);
          await pushTaskBranch(site.dir, site.commonDir, branch, head);
          return { ok: true, commit: head, detail: `${branch} at ${short(head)} on ${site.display}` };
        }
        if (how === 'branch') return { ok: true, commit: head, detail: `${branch} at ${short(head)} in ${site.display}` };
        const origin = await git(['remote', 'get-url', 'origin'], { cwd: site.dir, allowExit: [2] });
        if (origin.code === 2) {
          return {
            ok: false,
            reason: 'blocked',
            detail: `${site.display} has no remote origin to push ${branch} to: add one, or deliver: branch`,
          };
        }
        await pushTaskBranch(site.dir, site.commonDir, branch, head);
        return { ok: true, commit: head, detail: `pushed ${branch} at ${short(head)} to origin (${stripCredentials(origin.stdout.trim())})` };
      });
    },

    async closeWorkspace(input) {
      const { workspace } = input;
      return workspaceStep(`removing the worktree of ${workspace.branch}`, async () => {
        checkWorkspaceRef(workspace);
        const site = await locateRepo(home, workspace.repo, { existingOnly: true });
        if (site === null) return { removed: null };
        return withRepoLock(site.commonDir, async () => {
          await git(['worktree', 'prune'], { cwd: site.dir });
          const own = await worktreePath(home, site, workspace.taskId);
          const found = await findTaskWorktree(site, workspace.branch, own, { allowMain: true });
          if (found !== null && !found.main) {
            const folder = path.dirname(await realpathOrSelf(found.path));
            await git(['worktree', 'remove', '--force', found.path], { cwd: site.dir });
            await git(['worktree', 'prune'], { cwd: site.dir });
            // This home's folder of the repository's worktrees goes when its last worktree does.
            if (folder === path.dirname(own)) await fsp.rmdir(folder).catch(() => undefined);
            return { removed: found.path };
          }
          // A directory git no longer knows (an interrupted add or remove) is still this task's.
          if (await pathExists(own)) {
            await fsp.rm(own, { recursive: true, force: true });
            return { removed: own };
          }
          return { removed: null };
        });
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Failures and validation

function misconfigured(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, WORKSPACE_FAILURE_TYPES.misconfigured);
}

/** Runs one workspace step: git failures become a retryable `WorkspaceFailed`, bad configuration a non-retryable one. */
async function workspaceStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GitError) {
      throw ApplicationFailure.create({
        message: `${what}: ${err.message}`,
        type: WORKSPACE_FAILURE_TYPES.failed,
        nonRetryable: false,
        cause: err,
      });
    }
    if (err instanceof RepoConfigError || err instanceof SecretPatternError) throw misconfigured(`${what}: ${err.message}`);
    throw err;
  }
}

function checkTaskId(taskId: string): void {
  // The task id becomes a path segment and part of a ref name: refuse anything that is neither.
  if (!TASK_ID_PATTERN.test(taskId) || /\.\.|\.lock$|\.$/.test(taskId)) {
    throw misconfigured(`invalid task id ${JSON.stringify(taskId)} for a workspace`);
  }
}

function checkWorkspaceRef(ref: WorkspaceRef): void {
  checkTaskId(ref.taskId);
  if (ref.branch !== branchForTask(ref.taskId)) {
    throw misconfigured(`task ${ref.taskId} owns branch ${branchForTask(ref.taskId)}, not ${JSON.stringify(ref.branch)}`);
  }
  for (const [field, value] of [
    ['head', ref.head],
    ['baseCommit', ref.baseCommit],
  ] as const) {
    if (!COMMIT_ID.test(value)) throw misconfigured(`workspace ${field} ${JSON.stringify(value)} is not a commit id`);
  }
}

function secretScanner(patterns: readonly string[]): SecretScanner {
  try {
    return createSecretScanner(patterns);
  } catch (err) {
    if (err instanceof SecretPatternError) throw misconfigured(`secrets.patterns: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Repositories, clones and commits

/**
 * The task's repository on this machine: `repo.path` checked, or this home's clone of `repo.url` (made if
 * missing). With `existingOnly`, null instead of a clone made or a failure for a path that is gone.
 */
async function locateRepo(home: string, repo: RepoRef, options: { existingOnly: true }): Promise<RepoSite | null>;
async function locateRepo(home: string, repo: RepoRef): Promise<RepoSite>;
async function locateRepo(home: string, repo: RepoRef, options?: { existingOnly: true }): Promise<RepoSite | null> {
  const existingOnly = options?.existingOnly === true;
  await fsp.mkdir(home, { recursive: true });
  const base = repo.baseBranch;
  const valid =
    typeof base === 'string' &&
    base !== '' &&
    (await git(['check-ref-format', `refs/heads/${base}`], { cwd: home, allowExit: [1] })).code === 0;
  if (!valid) {
    throw misconfigured(`repo.baseBranch ${JSON.stringify(base)} is not a valid branch name`);
  }

  if (repo.url !== undefined) {
    const url = repo.url;
    // Relative to what? The clone's directory would be the answer, which no user means.
    if (url.startsWith('-') || (!url.includes(':') && !path.isAbsolute(url))) {
      throw misconfigured(`repo.url ${JSON.stringify(stripCredentials(url))} is neither a git URL nor an absolute path`);
    }
    const slug = repoSlug(url);
    const dir = path.join(home, 'repos', `${slug}.git`);
    if (existingOnly && !(await isBareRepository(dir))) return null;
    await ensureClone(dir, url);
    const commonDir = await fsp.realpath(dir);
    return { mode: 'url', dir, commonDir, toplevel: null, slug, display: stripCredentials(url), base, baseRef: `refs/remotes/origin/${base}` };
  }

  if (repo.path === undefined) throw misconfigured('the task has neither repo.path nor repo.url');
  const dir = path.resolve(repo.path);
  const stat = await fsp.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    if (existingOnly) return null;
    throw misconfigured(`repo.path ${dir} is not a directory on this machine`);
  }
  const probe = await git(['rev-parse', '--path-format=absolute', '--git-common-dir', '--is-bare-repository'], {
    cwd: dir,
    allowExit: [128],
  });
  if (probe.code === 128) throw misconfigured(`repo.path ${dir} is not a git repository`);
  const [commonDir = '', bare] = probe.stdout.split('\n');
  const toplevel =
    bare === 'true' ? null : await fsp.realpath((await git(['rev-parse', '--show-toplevel'], { cwd: dir })).stdout.trim());
  return {
    mode: 'path',
    dir,
    commonDir: await fsp.realpath(commonDir),
    toplevel,
    slug: repoSlug(dir),
    display: dir,
    base,
    baseRef: `refs/heads/${base}`,
  };
}

/** `<name>-<hash8>`: the last path or URL segment without `.git`, and the start of the sha256 of the whole. */
function repoSlug(source: string): string {
  const last = source.replace(/[/\\]+$/, '').split(/[/\\:]/).pop() ?? '';
  const name = last.replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'repo';
  return `${name}-${createHash('sha256').update(source).digest('hex').slice(0, 8)}`;
}

/**
 * This home's bare clone of `url`, fetching `+refs/heads/*:refs/remotes/origin/*` so that `origin/<base>`
 * exists. Made in a temporary directory and renamed into place, so an interrupted clone is never used.
 */
async function ensureClone(dir: string, url: string): Promise<void> {
  if (await isBareRepository(dir)) return;
  await withRepoLock(`clone:${dir}`, async () => {
    if (await isBareRepository(dir)) return;
    await fsp.mkdir(path.dirname(dir), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await git(['init', '--bare', '--quiet', tmp], { cwd: path.dirname(dir) });
      await git(['remote', 'add', 'origin', url], { cwd: tmp });
      await fsp.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another process on this machine made it meanwhile: use theirs.
        if (!(await isBareRepository(dir))) throw err;
      });
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
}

async function isBareRepository(dir: string): Promise<boolean> {
  return (await pathExists(path.join(dir, 'HEAD'))) && (await pathExists(path.join(dir, 'objects')));
}

async function fetchOrigin(site: RepoSite): Promise<void> {
  await withRepoLock(site.commonDir, () =>
    git(['fetch', '--prune', '--quiet', 'origin'], { cwd: site.dir, timeoutMs: NETWORK_TIMEOUT_MS }),
  );
}

/** The commit a revision names, or null when there is none. */
async function resolveCommit(cwd: string, rev: string): Promise<string | null> {
  const result = await git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd, allowExit: [1, 128] });
  return result.code === 0 ? result.stdout.trim() : null;
}

async function requireCommit(cwd: string, rev: string): Promise<string> {
  const commit = await resolveCommit(cwd, rev);
  if (commit === null) throw misconfigured(`${rev} does not name a commit in ${cwd}`);
  return commit;
}

async function requireBase(site: RepoSite): Promise<string> {
  const tip = await resolveCommit(site.dir, site.baseRef);
  if (tip === null) throw misconfigured(`base branch ${site.base} does not exist in ${site.display}`);
  return tip;
}

/** Makes sure `commit` is here: fetched in url mode (still missing: retryable), a misconfiguration in path mode. */
async function ensureCommit(site: RepoSite, commit: string): Promise<void> {
  if ((await resolveCommit(site.dir, commit)) !== null) return;
  if (site.mode === 'path') throw misconfigured(`commit ${commit} is not in ${site.display}`);
  await fetchOrigin(site);
  if ((await resolveCommit(site.dir, commit)) !== null) return;
  throw ApplicationFailure.retryable(`commit ${commit} is not on ${site.display} yet`, WORKSPACE_FAILURE_TYPES.failed);
}

async function isAncestor(cwd: string, ancestor: string, descendant: string): Promise<boolean> {
  return (await git(['merge-base', '--is-ancestor', ancestor, descendant], { cwd, allowExit: [1] })).code === 0;
}

async function mergeBase(cwd: string, a: string, b: string): Promise<string | null> {
  const result = await git(['merge-base', a, b], { cwd, allowExit: [1] });
  return result.code === 0 ? result.stdout.trim() : null;
}

/** The real path of the git directory shared by all worktrees of the repository `cwd` is in. */
async function commonDirOf(cwd: string): Promise<string> {
  const result = await git(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd });
  return fsp.realpath(result.stdout.trim());
}

/** `.baton.yaml` as the commit has it (never the task's branch): parsed, or the defaults when there is none. */
async function readRepoConfig(site: RepoSite, commit: string): Promise<RepoConfig> {
  const source = `${CONFIG_FILE} at ${short(commit)}`;
  const entry = (await git(['ls-tree', '-z', '--full-tree', commit, '--', CONFIG_FILE], { cwd: site.dir })).stdout;
  if (entry === '') return parseRepoConfig(null, source);
  const [, type, object] = /^\d+ (\w+) ([0-9a-f]+)\t/.exec(entry) ?? [];
  if (type !== 'blob' || object === undefined) throw misconfigured(`${source} is not a file`);
  const text = (await git(['cat-file', 'blob', object], { cwd: site.dir })).stdout;
  return parseRepoConfig(text, source);
}

function short(commit: string): string {
  return commit.slice(0, 7);
}

/** Pushes `commit` to the task's branch on origin. Forced: the branch is the task's, and the workflow's head is the truth. */
async function pushTaskBranch(cwd: string, lockKey: string, branch: string, commit: string): Promise<void> {
  await withRepoLock(lockKey, () =>
    git(['push', '--quiet', 'origin', `+${commit}:refs/heads/${branch}`], { cwd, timeoutMs: NETWORK_TIMEOUT_MS }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Worktrees

interface WorktreeEntry {
  path: string;
  branch: string | null;
  bare: boolean;
  /** The repository's own checkout (listed first). */
  main: boolean;
}

async function listWorktrees(site: RepoSite): Promise<WorktreeEntry[]> {
  const out = (await git(['worktree', 'list', '--porcelain', '-z'], { cwd: site.dir })).stdout;
  const entries: WorktreeEntry[] = [];
  let current: WorktreeEntry | undefined;
  for (const field of out.split('\0')) {
    if (field.startsWith('worktree ')) {
      current = { path: field.slice('worktree '.length), branch: null, bare: false, main: entries.length === 0 };
      entries.push(current);
    } else if (current && field.startsWith('branch ')) {
      current.branch = field.slice('branch '.length);
    } else if (current && field === 'bare') {
      current.bare = true;
    }
  }
  return entries;
}

/**
 * The worktree of the task: the one with its branch checked out, or the one at its own path (left detached by
 * an interrupted merge gate). Its branch in the repository's own checkout is a misconfiguration, unless
 * `allowMain` (then the entry says `main`).
 */
async function findTaskWorktree(
  site: RepoSite,
  branch: string,
  ownPath: string,
  options: { allowMain: boolean } = { allowMain: false },
): Promise<{ path: string; main: boolean } | null> {
  const branchRef = `refs/heads/${branch}`;
  for (const entry of await listWorktrees(site)) {
    const main = entry.main && !entry.bare;
    if (entry.branch !== branchRef && (main || (await realpathOrSelf(entry.path)) !== ownPath)) continue;
    if (main && !options.allowMain) {
      throw misconfigured(
        `${branch} is checked out in ${entry.path}, the repository's own checkout, which Baton never modifies: check out another branch there`,
      );
    }
    return { path: entry.path, main };
  }
  return null;
}

/**
 * Where this home puts the task's worktree: `<home>/worktrees/<slug>/<taskId>`, unless that is inside the
 * repository's own working tree (a home inside the repository), in which case it goes inside the repository's
 * git directory, which no working tree includes.
 */
async function worktreePath(home: string, site: RepoSite, taskId: string): Promise<string> {
  const preferred = path.join(await fsp.realpath(home), 'worktrees', site.slug, taskId);
  if (site.toplevel !== null && isInside(preferred, site.toplevel)) {
    return path.join(site.commonDir, 'baton-worktrees', taskId);
  }
  return preferred;
}

/**
 * The task's worktree on this machine, made if missing. In path mode an existing worktree of the branch is
 * used wherever it is, so agent workers with different homes on one machine share it.
 */
async function ensureWorktree(home: string, site: RepoSite, ref: WorkspaceRef): Promise<string> {
  return withRepoLock(site.commonDir, async () => {
    await git(['worktree', 'prune'], { cwd: site.dir });
    const own = await worktreePath(home, site, ref.taskId);
    const found = await findTaskWorktree(site, ref.branch, own);
    if (found !== null) return found.path;
    // A directory git does not know at our path is what an interrupted add or remove left.
    await fsp.rm(own, { recursive: true, force: true });
    await fsp.mkdir(path.dirname(own), { recursive: true });
    try {
      await git(['worktree', 'add', '--quiet', '-B', ref.branch, own, ref.head], { cwd: site.dir });
    } catch (err) {
      // An agent worker in another process on this machine made it meanwhile.
      const raced = await findTaskWorktree(site, ref.branch, own);
      if (raced !== null) return raced.path;
      throw err;
    }
    return own;
  });
}

/** Puts the worktree on the task's branch at `ref.head`, clean, unless it is there already and changes are kept. */
async function alignWorktree(worktree: string, ref: WorkspaceRef, keepUncommitted: boolean): Promise<void> {
  const branchRef = `refs/heads/${ref.branch}`;
  const symbolic = await symbolicHead(worktree);
  if (symbolic !== null && symbolic !== branchRef) {
    throw misconfigured(
      `the worktree ${worktree} of task ${ref.taskId} has ${symbolic.replace(/^refs\/heads\//, '')} checked out, ` +
        `which the task does not own: check out ${ref.branch} there or remove the worktree`,
    );
  }
  if (keepUncommitted && symbolic === branchRef && (await resolveCommit(worktree, 'HEAD')) === ref.head) return;
  await cleanCheckout(worktree, ['-B', ref.branch, ref.head], { cancellable: true });
}

async function prepareWorktree(
  home: string,
  ref: WorkspaceRef,
  keepUncommitted: boolean,
): Promise<{ site: RepoSite; worktree: string }> {
  checkWorkspaceRef(ref);
  const site = await locateRepo(home, ref.repo);
  await ensureCommit(site, ref.head);
  const worktree = await ensureWorktree(home, site, ref);
  await alignWorktree(worktree, ref, keepUncommitted);
  return { site, worktree };
}

/** `git checkout --force <target>` then `git clean -fd`: ignored files (build caches) survive, nothing else does. */
async function cleanCheckout(worktree: string, target: string[], options: { cancellable: boolean }): Promise<void> {
  await git(['checkout', '--force', '--quiet', ...target], { cwd: worktree, ...options });
  await git(['clean', '-fd', '--quiet'], { cwd: worktree, ...options });
}

async function symbolicHead(worktree: string): Promise<string | null> {
  const result = await git(['symbolic-ref', '--quiet', 'HEAD'], { cwd: worktree, allowExit: [1] });
  return result.code === 0 ? result.stdout.trim() : null;
}

/**
 * Whatever the agent did with HEAD, its work ends up on the task's branch, descending from `ref.head`: a
 * detached HEAD or another branch is adopted, and history that does not descend from `ref.head` is squashed
 * onto it (the index and the files stay as the agent left them).
 */
async function keepWorkOnBranch(worktree: string, ref: WorkspaceRef): Promise<void> {
  const branchRef = `refs/heads/${ref.branch}`;
  const current = await resolveCommit(worktree, 'HEAD');
  if ((await symbolicHead(worktree)) !== branchRef) {
    await git(['update-ref', branchRef, current ?? ref.head], { cwd: worktree });
    await git(['symbolic-ref', 'HEAD', branchRef], { cwd: worktree });
  }
  if (current === null || !(await isAncestor(worktree, ref.head, current))) {
    await git(['update-ref', branchRef, ref.head], { cwd: worktree });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Changes: secret scan and summaries

/**
 * Secrets in what changed since `start`, read without writing anything into git: the added lines of tracked
 * files (`git diff <start>` against the files on disk) and the content of untracked, not ignored files.
 * Binary files (a NUL in the first 8 KiB) are skipped; each file is scanned up to 1 MiB.
 */
async function scanChange(worktree: string, start: string, scanner: SecretScanner): Promise<SecretFinding[]> {
  const added = new AddedLinesScanner(scanner);
  await git(
    [
      '-c',
      'core.quotePath=false',
      'diff',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      // Without it, a `.gitattributes` saying `binary` would hide a file from the scan.
      '--text',
      '-U0',
      '-M',
      '--src-prefix=a/',
      '--dst-prefix=b/',
      start,
      '--',
    ],
    { cwd: worktree, onStdoutLine: (line) => added.push(line) },
  );
  const findings = added.end();

  const untracked = (await git(['ls-files', '--others', '--exclude-standard', '-z'], { cwd: worktree })).stdout;
  for (const file of untracked.split('\0')) {
    // A nested repository is listed as `dir/`; git adds it as a link, not as content.
    if (file === '' || file.endsWith('/')) continue;
    const text = await readForScan(path.join(worktree, file));
    if (text !== null) findings.push(...scanner.scanText(file, text));
  }
  return findings;
}

/** A file's text for the scan (a symlink's target, as git would store it), or null when it is binary or not a file. */
async function readForScan(file: string): Promise<string | null> {
  const stat = await fsp.lstat(file).catch(() => undefined);
  if (stat?.isSymbolicLink()) return fsp.readlink(file);
  if (!stat?.isFile()) return null;
  const handle = await fsp.open(file, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(stat.size, SCAN_LIMIT_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const content = buffer.subarray(0, bytesRead);
    if (content.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return null;
    return content.toString('utf8');
  } finally {
    await handle.close();
  }
}

const HUNK_HEADER = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * Reads a `git diff -U0` line by line and scans each file's added lines when its section ends. Hunk line
 * counts decide what is content, so an added line that looks like a header (`++ b/x`) is still content.
 */
class AddedLinesScanner {
  private readonly findings: SecretFinding[] = [];
  private file: string | null = null;
  private lines: { line: number; text: string }[] = [];
  private bytes = 0;
  private binary = false;
  private oldLeft = 0;
  private newLeft = 0;
  private newLine = 0;

  constructor(private readonly scanner: SecretScanner) {}

  push(line: string): void {
    if (this.oldLeft > 0 || this.newLeft > 0) {
      this.hunkLine(line);
    } else if (line.startsWith('diff --git ')) {
      this.flush();
    } else if (line.startsWith('+++ ')) {
      this.file = diffPath(line.slice('+++ '.length));
    } else {
      const hunk = HUNK_HEADER.exec(line);
      if (hunk) {
        this.oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
        this.newLine = Number(hunk[2]);
        this.newLeft = hunk[3] === undefined ? 1 : Number(hunk[3]);
      }
    }
  }

  /** The findings of all files. */
  end(): SecretFinding[] {
    this.flush();
    return this.findings;
  }

  private hunkLine(line: string): void {
    switch (line[0]) {
      case '+':
        this.added(line.slice(1));
        this.newLeft -= 1;
        break;
      case '-':
        this.oldLeft -= 1;
        break;
      case ' ':
        this.oldLeft -= 1;
        this.newLeft -= 1;
        this.newLine += 1;
        break;
      default:
      // `\ No newline at end of file` counts for neither side.
    }
  }

  private added(text: string): void {
    const line = this.newLine;
    this.newLine += 1;
    if (this.file === null || this.binary || this.bytes >= SCAN_LIMIT_BYTES) return;
    if (this.bytes < BINARY_SNIFF_BYTES && text.slice(0, BINARY_SNIFF_BYTES - this.bytes).includes('\0')) {
      this.binary = true;
      this.lines = [];
      return;
    }
    this.bytes += Buffer.byteLength(text) + 1;
    this.lines.push({ line, text });
  }

  private flush(): void {
    if (this.file !== null && !this.binary && this.lines.length > 0) {
      this.findings.push(...this.scanner.scanLines(this.file, this.lines));
    }
    this.file = null;
    this.lines = [];
    this.bytes = 0;
    this.binary = false;
  }
}

/** The file name of a `+++ ` line: `b/<path>`, C-quoted when it has special characters, `/dev/null` for none. */
function diffPath(raw: string): string | null {
  // Git ends the name with a tab when it contains a space.
  const name = raw.endsWith('\t') ? raw.slice(0, -1) : raw;
  if (name === '/dev/null') return null;
  const unquoted = name.startsWith('"') && name.endsWith('"') ? unquoteC(name.slice(1, -1)) : name;
  return unquoted.startsWith('b/') ? unquoted.slice(2) : unquoted;
}

const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** Undoes git's C-style quoting of a path (escapes, and octal bytes of UTF-8 sequences). */
function unquoteC(text: string): string {
  const chars = Array.from(text);
  const bytes: number[] = [];
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i]!;
    const next = chars[i + 1];
    if (char !== '\\' || next === undefined) {
      bytes.push(...Buffer.from(char));
    } else if (/[0-7]/.test(next)) {
      bytes.push(parseInt(chars.slice(i + 1, i + 4).join(''), 8));
      i += 3;
    } else {
      bytes.push(C_ESCAPES[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Diff stat and changed files (at most 100) of `git diff <revs>`. */
async function diffSummary(cwd: string, revs: string[]): Promise<{ diffStat: DiffStat; files: string[] }> {
  const stat = (await git(['diff', '--shortstat', '-M', ...revs, '--'], { cwd })).stdout;
  const count = (pattern: RegExp): number => Number(pattern.exec(stat)?.[1] ?? 0);
  const names = (await git(['diff', '--name-only', '-z', '-M', ...revs, '--'], { cwd })).stdout;
  return {
    diffStat: {
      files: count(/(\d+) files? changed/),
      insertions: count(/(\d+) insertions?\(\+\)/),
      deletions: count(/(\d+) deletions?\(-\)/),
    },
    files: names
      .split('\0')
      .filter((name) => name !== '')
      .slice(0, MAX_CHANGED_FILES),
  };
}

/** The longest start of `text` that ends at a line boundary and fits in `maxBytes` bytes. */
function cutAtLine(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  if (maxBytes <= 0) return '';
  const end = bytes.lastIndexOf(0x0a, maxBytes - 1);
  return end === -1 ? '' : bytes.subarray(0, end + 1).toString('utf8');
}

// ---------------------------------------------------------------------------------------------------------
// Integration and delivery

type MergeCheck = { kind: 'fast-forward' } | { kind: 'up-to-date' } | { kind: 'clean'; tree: string } | { kind: 'conflicts'; files: string[] };

/** How `head` merges into `base`: a fast-forward, nothing to merge, a clean merge tree, or conflicting files. */
async function checkMerge(cwd: string, base: string, head: string): Promise<MergeCheck> {
  if (await isAncestor(cwd, base, head)) return { kind: 'fast-forward' };
  if (await isAncestor(cwd, head, base)) return { kind: 'up-to-date' };
  const result = await git(['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', base, head], {
    cwd,
    allowExit: [1],
  });
  const [tree = '', ...files] = result.stdout.split('\0').filter((field) => field !== '');
  // Exit 1 without a tree is an error (a revision git cannot merge), not a conflict.
  if (!COMMIT_ID.test(tree)) throw misconfigured(`cannot merge ${head} into ${base}: ${result.stderr.trim()}`);
  return result.code === 1 ? { kind: 'conflicts', files: [...new Set(files)] } : { kind: 'clean', tree };
}

/**
 * The commit `deliver: merge` sets the base to: the head for a fast-forward, the base when there is nothing
 * to merge, else a merge commit with a fixed identity, message and dates, so every machine makes the same one.
 */
async function mergeCommitFor(
  cwd: string,
  ref: WorkspaceRef,
  merge: Omit<MergeSpec, 'commit'>,
  check: Exclude<MergeCheck, { kind: 'conflicts' }>,
): Promise<string> {
  if (check.kind === 'fast-forward') return merge.head;
  if (check.kind === 'up-to-date') return merge.base;
  const seconds = Math.floor(Date.parse(merge.at) / 1000);
  if (!Number.isFinite(seconds)) throw misconfigured(`invalid merge time ${JSON.stringify(merge.at)}`);
  const date = `@${seconds} +0000`;
  const message = `Merge branch '${ref.branch}' into ${ref.repo.baseBranch}`;
  const result = await git(
    ['-c', 'i18n.commitEncoding=UTF-8', 'commit-tree', '--no-gpg-sign', check.tree, '-p', merge.base, '-p', merge.head, '-m', message],
    {
      cwd,
      env: {
        GIT_AUTHOR_NAME: BATON_IDENTITY.name,
        GIT_AUTHOR_EMAIL: BATON_IDENTITY.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: BATON_IDENTITY.name,
        GIT_COMMITTER_EMAIL: BATON_IDENTITY.email,
        GIT_COMMITTER_DATE: date,
      },
    },
  );
  return result.stdout.trim();
}

/** Makes sure the merge commit of `spec` is here, recreating it with the same recipe when this machine lacks it. */
async function ensureMergeCommit(site: RepoSite, ref: WorkspaceRef, spec: MergeSpec): Promise<void> {
  if ((await resolveCommit(site.dir, spec.commit)) !== null) return;
  await ensureCommit(site, spec.base);
  await ensureCommit(site, spec.head);
  const check = await checkMerge(site.dir, spec.base, spec.head);
  if (check.kind === 'conflicts') throw misconfigured(`the merge ${spec.commit} cannot be recreated: ${check.files.join(', ')} conflict`);
  const commit = await mergeCommitFor(site.dir, ref, spec, check);
  if (commit !== spec.commit) {
    throw misconfigured(`recreating the merge of ${ref.branch} gave ${commit}, not ${spec.commit}: was it made by another recipe?`);
  }
}

async function deliverMerge(site: RepoSite, ref: WorkspaceRef, spec: MergeSpec): Promise<DeliverResult> {
  const baseRef = `refs/heads/${site.base}`;
  const done: DeliverResult = {
    ok: true,
    commit: spec.commit,
    detail: `merged ${ref.branch} into ${site.base} at ${short(spec.commit)} in ${site.display}`,
  };
  const baseMoved: DeliverResult = {
    ok: false,
    reason: 'base-moved',
    detail: `${site.base} moved since ${short(spec.base)} in ${site.display}: integrate again`,
  };
  await ensureMergeCommit(site, ref, spec);

  if (site.mode === 'url') {
    // Not forced: a base that moved meanwhile rejects the push, and the task integrates again.
    const pushed = await withRepoLock(site.commonDir, () =>
      git(['push', '--porcelain', 'origin', `${spec.commit}:${baseRef}`], {
        cwd: site.dir,
        allowExit: [1],
        timeoutMs: NETWORK_TIMEOUT_MS,
      }),
    );
    if (pushed.code === 1) {
      const rejection = pushed.stdout.split('\n').find((line) => line.startsWith('!')) ?? '';
      if (/non-fast-forward|fetch first|stale info/.test(rejection)) return baseMoved;
      if (rejection !== '') {
        return { ok: false, reason: 'blocked', detail: `${site.display} refused ${site.base}: ${rejection.split('\t').pop()}` };
      }
      throw ApplicationFailure.retryable(
        `pushing ${site.base} to ${site.display} failed: ${stripCredentials(pushed.stderr.trim())}`,
        WORKSPACE_FAILURE_TYPES.failed,
      );
    }
    await pushTaskBranch(site.dir, site.commonDir, ref.branch, ref.head);
    return done;
  }

  return withRepoLock(site.commonDir, async () => {
    await git(['worktree', 'prune'], { cwd: site.dir });
    const holder = (await listWorktrees(site)).find((entry) => entry.branch === baseRef);
    if (holder !== undefined) {
      return {
        ok: false,
        reason: 'blocked',
        detail:
          `${site.base} is checked out in ${holder.path}; Baton never modifies a checkout: merge ${ref.branch} ` +
          `yourself (it fast-forwards) or deliver through a bare remote`,
      };
    }
    const current = await resolveCommit(site.dir, baseRef);
    // A retry after the update went through finds its own merge there.
    if (current === spec.commit) return done;
    if (current !== spec.base) return baseMoved;
    try {
      await git(['update-ref', baseRef, spec.commit, spec.base], { cwd: site.dir });
    } catch (err) {
      // Moved between our look and the update (git checks the old value under its lock).
      if (err instanceof GitError && /but expected/.test(err.stderrHead)) return baseMoved;
      throw err;
    }
    return done;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Small file-system helpers

async function pathExists(file: string): Promise<boolean> {
  return fsp.lstat(file).then(
    () => true,
    () => false,
  );
}

async function realpathOrSelf(file: string): Promise<string> {
  return fsp.realpath(file).catch(() => file);
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative.split(path.sep)[0] !== '..' && !path.isAbsolute(relative));
}
