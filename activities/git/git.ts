/**
 * A small git runner for the workspace and gate activities: argv only (never a shell), no prompts, no
 * assumed identity, credentials stripped from every message, heartbeats and cancellation when it runs
 * inside an activity, retries on lock contention, and an in-process lock per repository.
 */
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { delay, killGroupAfter, terminateGroup, throwIfCancelled } from '../process';

/** The identity of everything Baton itself writes (merge commits, its commits' committer, reflogs). */
export const BATON_IDENTITY = { name: 'Baton', email: 'baton@localhost' } as const;

export interface GitOptions {
  cwd: string;
  /** Added to the runner's environment (identity variables, dates). */
  env?: NodeJS.ProcessEnv;
  /** Exit codes other than 0 that are answers rather than failures (e.g. 1 for `diff --quiet`). */
  allowExit?: readonly number[];
  /** Kills the command (its whole process group) after this long; the run then fails with a GitError. */
  timeoutMs?: number;
  /** Streams stdout line by line (without the newline) instead of collecting it: for outputs of any size. */
  onStdoutLine?: (line: string) => void;
  /** False for cleanup that must run even after the activity was cancelled. Default true. */
  cancellable?: boolean;
  /** How often the activity heartbeats while the command runs. Default 3000 ms. */
  heartbeatEveryMs?: number;
}

export interface GitResult {
  /** Empty when `onStdoutLine` was given. */
  stdout: string;
  stderr: string;
  code: number;
}

/** A git command failed; the message names the command, its exit and the first lines of its stderr. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    /** The arguments, credentials stripped. */
    readonly args: readonly string[],
    /** Null when the command was killed (timeout) or could not start. */
    readonly code: number | null,
    /** The first lines of stderr, credentials stripped. */
    readonly stderrHead: string,
    how: string,
  ) {
    super(`git ${describeArgs(args)} ${how}${stderrHead === '' ? '' : `: ${stderrHead}`}`);
  }
}

const DEFAULT_HEARTBEAT_EVERY_MS = 3000;
const LOCK_RETRIES = 4;
const LOCK_BACKOFF_MS = 150;
const STDIO_DRAIN_MS = 2000;
const STDERR_KEEP_BYTES = 64 * 1024;
const STDERR_HEAD_LINES = 6;
const MAX_QUOTED_ARG_CHARS = 200;
/** A streamed line longer than this is cut (the rest until its newline dropped), keeping line counts exact. */
const MAX_STREAMED_LINE_BYTES = 1024 * 1024;

// Another git process holds a lock; "but expected" is an update-ref compare failure, which retrying cannot fix.
const LOCK_CONTENTION = /index\.lock|cannot lock ref|Unable to create '[^']*\.lock'|could not lock config file/i;
const NOT_CONTENTION = /but expected|reference already exists/i;

// Inherited from a hook or a parent git, these would point every command at another repository.
const INHERITED_GIT_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_COMMON_DIR',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

/**
 * Runs `git <args>` in `options.cwd` and returns its output; throws a `GitError` for an exit code that is
 * neither 0 nor in `allowExit`, a timeout, or a command that cannot start. Retries a few times, with backoff,
 * when another process holds one of the repository's locks. Inside an activity it heartbeats while the
 * command runs and, unless `cancellable` is false, kills it on cancellation and throws the cancellation.
 */
export async function git(args: readonly string[], options: GitOptions): Promise<GitResult> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await runGitOnce(args, options);
    } catch (err) {
      const retry =
        err instanceof GitError &&
        attempt < LOCK_RETRIES &&
        LOCK_CONTENTION.test(err.stderrHead) &&
        !NOT_CONTENTION.test(err.stderrHead);
      if (!retry) throw err;
      await delay(LOCK_BACKOFF_MS * 2 ** attempt);
    }
  }
}

/** The environment of every git command: no prompts, English messages, Baton as the fallback identity. */
function gitEnvironment(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    // Read-only commands (status, diff) must not take the index lock of a checkout Baton does not own.
    GIT_OPTIONAL_LOCKS: '0',
    // Messages are matched (lock contention, push rejections): keep them untranslated.
    LC_ALL: 'C',
    // Machines without a configured identity (CI) must work; commits that need another author set theirs.
    GIT_AUTHOR_NAME: BATON_IDENTITY.name,
    GIT_AUTHOR_EMAIL: BATON_IDENTITY.email,
    GIT_COMMITTER_NAME: BATON_IDENTITY.name,
    GIT_COMMITTER_EMAIL: BATON_IDENTITY.email,
    ...extra,
  };
  for (const name of INHERITED_GIT_VARIABLES) delete env[name];
  return env;
}

async function runGitOnce(args: readonly string[], options: GitOptions): Promise<GitResult> {
  const ctx = activityContext();
  const signal = options.cancellable === false ? undefined : ctx?.cancellationSignal;
  throwIfCancelled(signal);
  const child = spawn('git', args, {
    cwd: options.cwd,
    env: gitEnvironment(options.env),
    // Its own process group without a terminal: ssh cannot prompt, and a kill reaches its helpers too.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
    throw new GitError(args.map(stripCredentials), null, '', `could not start in ${options.cwd}: ${err.message}`);
  }

  const stdoutChunks: Buffer[] = [];
  const lines = options.onStdoutLine ? new LineSplitter(options.onStdoutLine) : undefined;
  const stderr = new BoundedBuffer(STDERR_KEEP_BYTES);
  child.stdout.on('data', (chunk: Buffer) => (lines ? lines.push(chunk) : stdoutChunks.push(chunk)));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.on('error', () => undefined);

  // Names the subcommand (`fetch`), not the options before it (`-c name=value`).
  const subcommand = args.find((arg, i) => !arg.startsWith('-') && args[i - 1] !== '-c');
  const heartbeatEveryMs = options.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_EVERY_MS;
  const heartbeat = ctx ? setInterval(() => ctx.heartbeat({ git: subcommand }), heartbeatEveryMs) : undefined;
  const onAbort = (): void => terminateGroup(pid);
  signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = killGroupAfter(pid, options.timeoutMs);
  let code: number | null;
  try {
    code = await exited;
    // A helper that outlives git (an ssh master) may hold the pipes open: do not wait for it forever.
    const drained = await Promise.race([closed.then(() => true), delay(STDIO_DRAIN_MS).then(() => false)]);
    if (!drained) {
      child.stdout.destroy();
      child.stderr.destroy();
    }
    lines?.end();
  } finally {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    deadline.clear();
    signal?.removeEventListener('abort', onAbort);
  }
  throwIfCancelled(signal);

  const stderrText = stderr.text();
  const safeArgs = (): string[] => args.map(stripCredentials);
  if (deadline.passed()) throw new GitError(safeArgs(), null, stderrHead(stderrText), `timed out after ${options.timeoutMs} ms`);
  if (code === null) throw new GitError(safeArgs(), null, stderrHead(stderrText), 'was killed');
  if (code !== 0 && !(options.allowExit ?? []).includes(code)) {
    throw new GitError(safeArgs(), code, stderrHead(stderrText), `failed (exit ${code})`);
  }
  return { stdout: Buffer.concat(stdoutChunks).toString('utf8'), stderr: stderrText, code };
}

/** The running activity's context, or undefined outside an activity (`Context.current()` throws there). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The text with the user information (`user:token@`) of every URL in it replaced by `***@`. */
export function stripCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}

function describeArgs(args: readonly string[]): string {
  return args
    .map((arg) => (arg.length > MAX_QUOTED_ARG_CHARS ? `${arg.slice(0, MAX_QUOTED_ARG_CHARS)}…` : arg))
    .map((arg) => (/^[\w./:@^~=+-]+$/.test(arg) ? arg : JSON.stringify(arg)))
    .join(' ');
}

function stderrHead(stderr: string): string {
  return stripCredentials(
    stderr
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .slice(0, STDERR_HEAD_LINES)
      .join(' | '),
  );
}

/** Keeps the first `limit` bytes written to it. */
class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.size >= this.limit) return;
    const kept = chunk.subarray(0, this.limit - this.size);
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Splits a byte stream at `\n` (never inside a UTF-8 sequence, so each line decodes on its own). Unlike the
 * agent's line reader it keeps `\r` and never splits a long line in two: diff parsing counts lines exactly.
 */
class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf(0x0a, start)) !== -1) {
      this.keep(chunk.subarray(start, newline));
      this.emit();
      start = newline + 1;
    }
    this.keep(chunk.subarray(start));
  }

  end(): void {
    if (this.pendingBytes > 0) this.emit();
  }

  private keep(part: Buffer): void {
    const room = MAX_STREAMED_LINE_BYTES - this.pendingBytes;
    if (room <= 0 || part.length === 0) return;
    const kept = part.subarray(0, room);
    this.pending.push(kept);
    this.pendingBytes += kept.length;
  }

  private emit(): void {
    const line = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    this.onLine(line);
  }
}

const repoLocks = new Map<string, Promise<void>>();

/**
 * Runs `fn` once every earlier `fn` of the same key has settled: serialises the operations that mutate a
 * repository or clone shared by several tasks (fetch, worktree add/remove/prune, update-ref) within this
 * process. Other processes are covered by git's own lock files and the runner's contention retries.
 */
export async function withRepoLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = repoLocks.get(key) ?? Promise.resolve();
  const run = previous.then(fn);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  repoLocks.set(key, settled);
  try {
    return await run;
  } finally {
    // The last holder cleans up, so the map does not grow with every repository ever seen.
    if (repoLocks.get(key) === settled) repoLocks.delete(key);
  }
}
