/**
 * Runs one program (argv, no shell) in its own process group, line by line: the building block of the agent
 * drivers and the quality gates. Cancellation and timeouts kill the whole group.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CancelledFailure } from '@temporalio/common';
import { watchBusy } from './liveness';
import { recordGroup } from './process-ledger';

const KILL_GRACE_MS = 2000;
/** After the program exits, how long to wait for its output pipes to drain (a stray child may hold them open). */
const STDIO_DRAIN_MS = 1000;
/** A line without a newline is cut here so a program cannot grow our memory without bound. */
const MAX_LINE_CHARS = 1024 * 1024;

export class SpawnError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface ProcessRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  lastStdoutLine: string | undefined;
  durationMs: number;
  /** True when `timeoutMs` ran out and the group was killed. */
  timedOut: boolean;
}

export interface ProcessOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdin: string;
  heartbeatEveryMs: number;
  cancellationSignal: AbortSignal;
  /** Kills the group after this long (the run then reports `timedOut`). */
  timeoutMs?: number;
  /** Called when the process tree used CPU since the last look (a silent but busy program is alive). */
  onBusy?: () => void;
  heartbeat: (details: { pid: number; lines: number }) => void;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  onSpawn: (pid: number) => void;
  warn: (message: string, meta: Record<string, unknown>) => void;
  /** The process-group ledger of this home (`process-ledger.ts`): a restart kills what a killed worker left. */
  ledgerDir?: string;
}

/**
 * Runs argv in its own process group until it exits. On cancellation the whole group gets SIGTERM, then
 * SIGKILL after a grace period; the function still resolves only once the leader has exited. Whatever
 * is left of the group when this returns (strays, or the agent itself if we failed) is terminated too.
 */
export async function runProcess(options: ProcessOptions): Promise<ProcessRun> {
  const [program, ...args] = options.argv;
  if (program === undefined) throw new SpawnError('empty command', 'EINVAL');
  const startedAt = performance.now();
  const child = spawn(program, args, {
    cwd: options.cwd,
    env: options.env,
    // Its own process group, so cancellation reaches everything the agent started.
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
    throw new SpawnError(err.message, err.code);
  }
  options.onSpawn(pid);
  const forget = options.ledgerDir ? recordGroup(options.ledgerDir, pid) : undefined;

  let lines = 0;
  let lastStdoutLine: string | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.on('error', (err) => options.warn('Process error', { pid, error: err.message }));
  const stdoutDone = readLines(child.stdout, (line) => {
    lines += 1;
    if (line.trim() !== '') lastStdoutLine = line;
    options.onLine('stdout', line);
  });
  const stderrDone = readLines(child.stderr, (line) => {
    lines += 1;
    options.onLine('stderr', line);
  });
  // Programs that never read stdin close the pipe early; that is not an error.
  child.stdin.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') options.warn('Could not write to the process stdin', { pid, error: err.message });
  });
  child.stdin.end(options.stdin);

  const heartbeat = (): void => options.heartbeat({ pid, lines });
  heartbeat();
  const stopBusyWatch = options.onBusy ? watchBusy(pid, options.onBusy) : undefined;
  const heartbeatTimer = setInterval(heartbeat, options.heartbeatEveryMs);
  const onAbort = (): void => terminateGroup(pid);
  options.cancellationSignal.addEventListener('abort', onAbort, { once: true });
  if (options.cancellationSignal.aborted) onAbort();
  const deadline = killGroupAfter(pid, options.timeoutMs);

  try {
    const { code, signal } = await exited;
    const drained = await Promise.race([
      Promise.all([stdoutDone, stderrDone]).then(() => true),
      delay(STDIO_DRAIN_MS).then(() => false),
    ]);
    if (!drained) {
      options.warn('Output still open after the process exited; a child process holds it', { pid });
      child.stdout.destroy();
      child.stderr.destroy();
    }
    return { exitCode: code, signal, lastStdoutLine, durationMs: Math.round(performance.now() - startedAt), timedOut: deadline.passed() };
  } finally {
    clearInterval(heartbeatTimer);
    stopBusyWatch?.();
    deadline.clear();
    options.cancellationSignal.removeEventListener('abort', onAbort);
    if (groupExists(pid)) terminateGroup(pid);
    forget?.();
  }
}

/** Throws the cancellation (a `CancelledFailure`) once the signal is aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new CancelledFailure(typeof reason === 'string' ? reason : 'cancelled');
}

/** Kills the process group once `timeoutMs` has passed (never without one); `passed()` tells whether it did. */
export function killGroupAfter(pgid: number, timeoutMs: number | undefined): { passed(): boolean; clear(): void } {
  let passed = false;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          passed = true;
          terminateGroup(pgid);
        }, timeoutMs);
  return {
    passed: () => passed,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the group now, SIGKILL to whatever of it is left after the grace period. */
export function terminateGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return; // ESRCH: the group is already gone.
  }
  setTimeout(() => {
    if (groupExists(pgid)) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // Gone in the meantime.
      }
    }
  }, KILL_GRACE_MS).unref();
}

/** Calls onLine for every line of the stream (without the newline); resolves when the stream ends. */
function readLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  const emit = (line: string): void => onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      buffer += decoder.write(chunk);
      let start = 0;
      let newline: number;
      while ((newline = buffer.indexOf('\n', start)) !== -1) {
        emit(buffer.slice(start, newline));
        start = newline + 1;
      }
      buffer = buffer.slice(start);
      if (buffer.length > MAX_LINE_CHARS) {
        emit(buffer);
        buffer = '';
      }
    });
    const finish = (): void => {
      buffer += decoder.end();
      if (buffer !== '') emit(buffer);
      buffer = '';
      resolve();
    };
    stream.once('end', finish);
    stream.once('close', () => resolve());
    stream.once('error', () => resolve());
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
