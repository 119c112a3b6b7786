/**
 * The command agent driver: runs one agent command as a child process for one stage of one task,
 * following the agent protocol of the public contract (context on stdin and in a file, result in a file or
 * as the last stdout line, every output line a sign of life).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  AgentReportSchema,
  OUTCOMES_BY_STAGE,
  type AgentReport,
  type AgentRunInput,
  type AgentRunResult,
} from '../../workflows/agent-protocol';
import { AGENT_STAGES, TASK_ID_PATTERN } from '../../workflows/spec';
import { resolveCommand, type AgentConfig } from './config';

/** Failure types this driver throws (`ApplicationFailure.type`). */
export const AGENT_FAILURE_TYPES = {
  /** The attempt failed (non-zero exit, no result, or outcome `failed`); retryable. */
  failed: 'AgentFailed',
  /** The agent wrote a result that breaks the protocol; retrying the same agent will not help. */
  invalidResult: 'InvalidAgentResult',
  /** The agent cannot be started as configured (program not found, not executable, wrong agent). */
  misconfigured: 'AgentMisconfigured',
  /** The task's workdir (`repo.path`) does not exist or the input is malformed. */
  invalidInput: 'InvalidAgentInput',
} as const;

export type SignalWorkflow = (workflowId: string, signal: 'heartbeat' | 'progress', payload: object) => Promise<void>;

export interface CommandAgentDeps {
  agent: AgentConfig;
  /** Baton's home directory: attempt files go to `<home>/runs`, default workdirs to `<home>/work`. */
  home: string;
  /** Sends a signal to the task's workflow (heartbeat = sign of life, progress = progress report). */
  signalWorkflow: SignalWorkflow;
  /** How often the activity heartbeats to Temporal while the process runs. Default 1000 ms. */
  heartbeatEveryMs?: number;
  /** Size bound of `agent.log` per attempt. Default 1 MiB. */
  logLimitBytes?: number;
}

export interface CommandAgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

const DEFAULT_HEARTBEAT_EVERY_MS = 1000;
const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;
/** Progress goes out no more often than signs of life (and never more than once a second): history stays bounded. */
const MIN_PROGRESS_EVERY_MS = 1000;
const KILL_GRACE_MS = 2000;
/** After the agent exits, how long to wait for its output pipes to drain (a stray child may hold them open). */
const STDIO_DRAIN_MS = 1000;
/** A line without a newline is cut here so an agent cannot grow our memory without bound. */
const MAX_LINE_CHARS = 1024 * 1024;
/** The `progress` signal's payload schema caps the message at this length. */
const MAX_PROGRESS_CHARS = 2000;
const MAX_QUOTED_LINE_CHARS = 500;

/**
 * Creates the activities of one command agent's worker.
 *
 * `runAgent` spawns `agent.command` (argv, no shell) in its own process group, feeds it the context,
 * forwards signs of life and progress reports to the workflow (throttled), heartbeats while it runs,
 * kills the whole group on cancellation, and returns the validated report.
 *
 * Failures: `AgentFailed` (retryable), `InvalidAgentResult`, `AgentMisconfigured` and `InvalidAgentInput`
 * (non-retryable); a cancellation propagates as `CancelledFailure` once the process group has exited.
 */
export function createCommandAgentActivities(deps: CommandAgentDeps): CommandAgentActivities {
  const { agent, home } = deps;
  const heartbeatEveryMs = deps.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_EVERY_MS;
  const logLimitBytes = deps.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES;

  return {
    async runAgent(input: AgentRunInput): Promise<AgentRunResult> {
      const ctx = Context.current();
      const { context } = input;
      checkInput(agent, input);
      throwIfCancelled(ctx.cancellationSignal);

      const attemptDir = path.join(
        home,
        'runs',
        context.taskId,
        `${context.stage}-r${context.round}-a${ctx.info.attempt}`,
      );
      const contextFile = path.join(attemptDir, 'context.json');
      const resultFile = path.join(attemptDir, 'result.json');
      const logFile = path.join(attemptDir, 'agent.log');
      const contextJson = JSON.stringify(context, null, 2);
      await fsp.mkdir(attemptDir, { recursive: true });
      await fsp.writeFile(contextFile, contextJson);
      await fsp.rm(resultFile, { force: true });
      const workdir = await prepareWorkdir(home, input);

      const signal = (name: 'heartbeat' | 'progress', payload: object): void => {
        // A lost sign of life only delays the idle clock's reset; it must never fail the agent's work.
        Promise.resolve()
          .then(() => deps.signalWorkflow(input.workflowId, name, payload))
          .catch((err: unknown) => {
            ctx.log.warn('Could not signal the task workflow', { signal: name, error: errorMessage(err) });
          });
      };
      const signOfLife = new Throttle<void>(validInterval(input.signOfLifeEveryMs), () =>
        signal('heartbeat', { agent: agent.name }),
      );
      const progress = new Throttle<string>(Math.max(MIN_PROGRESS_EVERY_MS, validInterval(input.signOfLifeEveryMs)), (message) => {
        signal('progress', { agent: agent.name, message });
        // A progress report resets the idle clock too, so it stands in for the pending sign of life.
        signOfLife.markSent();
      });

      throwIfCancelled(ctx.cancellationSignal);
      const log = new BoundedLog(logFile, logLimitBytes, (err) => {
        ctx.log.warn('Could not write the agent log', { logFile, error: errorMessage(err) });
      });
      let run: ProcessRun;
      try {
        run = await runProcess({
          argv: resolveCommand(agent),
          cwd: agent.cwd ?? workdir,
          env: {
            ...process.env,
            ...agent.env,
            BATON_TASK_ID: context.taskId,
            BATON_STAGE: context.stage,
            BATON_ROUND: String(context.round),
            BATON_WORKDIR: workdir,
            BATON_CONTEXT_FILE: contextFile,
            BATON_RESULT_FILE: resultFile,
            BATON_AGENT: agent.name,
          },
          stdin: contextJson,
          heartbeatEveryMs,
          cancellationSignal: ctx.cancellationSignal,
          heartbeat: (details) => ctx.heartbeat(details),
          onLine: (stream, line) => {
            log.line(stream === 'stdout' ? 'out| ' : 'err| ', line);
            const message = stream === 'stdout' ? progressMessage(line) : undefined;
            const forwarded = message !== undefined && progress.push(message.slice(0, MAX_PROGRESS_CHARS));
            if (!forwarded) signOfLife.push();
          },
          onSpawn: (pid) => {
            ctx.log.info('Agent started', { agent: agent.name, pid, attemptDir, workdir });
          },
          warn: (message, meta) => {
            ctx.log.warn(message, meta);
          },
        });
      } catch (err) {
        if (err instanceof SpawnError) {
          const code = err.code ?? 'unknown error';
          const misconfigured = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR';
          const message = `agent ${agent.name} could not start ${JSON.stringify(agent.command)} in ${agent.cwd ?? workdir}: ${err.message}`;
          throw misconfigured
            ? ApplicationFailure.nonRetryable(message, AGENT_FAILURE_TYPES.misconfigured)
            : ApplicationFailure.retryable(message, AGENT_FAILURE_TYPES.failed);
        }
        throw err;
      } finally {
        signOfLife.stop();
        progress.stop();
        await log.close();
      }

      ctx.log.info('Agent exited', {
        agent: agent.name,
        exitCode: run.exitCode,
        signal: run.signal,
        durationMs: run.durationMs,
      });
      throwIfCancelled(ctx.cancellationSignal);

      const failureDetails = { agent: agent.name, exitCode: run.exitCode, logFile };
      const report = await readReport(agent.name, resultFile, run.lastStdoutLine);
      if (!report) {
        const lastLine = run.lastStdoutLine === undefined ? '' : ` (last line: ${quote(run.lastStdoutLine)})`;
        const how =
          run.exitCode === 0
            ? 'exited without a result'
            : run.exitCode !== null
              ? `exited with code ${run.exitCode}`
              : `was killed by ${run.signal ?? 'a signal'}`;
        throw ApplicationFailure.retryable(
          `agent ${agent.name} ${how}${lastLine}`,
          AGENT_FAILURE_TYPES.failed,
          failureDetails,
        );
      }

      const normalised = normaliseReport(context.stage, report);
      const allowed = OUTCOMES_BY_STAGE[context.stage];
      if (!allowed.includes(normalised.outcome)) {
        throw ApplicationFailure.nonRetryable(
          `agent ${agent.name} answered "${normalised.outcome}", which is not an outcome of the ${context.stage} stage (expected one of ${allowed.join(', ')})`,
          AGENT_FAILURE_TYPES.invalidResult,
          failureDetails,
        );
      }
      if (normalised.outcome === 'failed') {
        throw ApplicationFailure.retryable(
          normalised.summary ?? `agent ${agent.name} reported failure`,
          AGENT_FAILURE_TYPES.failed,
          failureDetails,
        );
      }
      return { ...normalised, agent: agent.name, exitCode: run.exitCode, logFile, durationMs: run.durationMs };
    },
  };
}

function checkInput(agent: AgentConfig, input: AgentRunInput): void {
  const { context } = input;
  // The workflow routes by agent name; a mismatch means a routing bug, and running the wrong agent is worse.
  if (input.agent !== agent.name) {
    throw ApplicationFailure.nonRetryable(
      `agent ${agent.name}'s worker received work for agent ${input.agent}`,
      AGENT_FAILURE_TYPES.misconfigured,
    );
  }
  // The task id and stage become path segments: refuse anything that could leave the home directory.
  if (!TASK_ID_PATTERN.test(context.taskId) || !(AGENT_STAGES as readonly string[]).includes(context.stage)) {
    throw ApplicationFailure.nonRetryable(
      `invalid agent input: task id ${JSON.stringify(context.taskId)}, stage ${JSON.stringify(context.stage)}`,
      AGENT_FAILURE_TYPES.invalidInput,
    );
  }
  if (!Number.isInteger(context.round) || context.round < 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid agent input: round ${String(context.round)}`,
      AGENT_FAILURE_TYPES.invalidInput,
    );
  }
}

async function prepareWorkdir(home: string, input: AgentRunInput): Promise<string> {
  const repoPath = input.context.task.repo?.path;
  if (repoPath === undefined) {
    const workdir = path.join(home, 'work', input.context.taskId);
    await fsp.mkdir(workdir, { recursive: true });
    return workdir;
  }
  const stat = await fsp.stat(repoPath).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw ApplicationFailure.nonRetryable(
      `repo.path ${repoPath} is not a directory on this agent's machine`,
      AGENT_FAILURE_TYPES.invalidInput,
    );
  }
  return repoPath;
}

function throwIfCancelled(signal: AbortSignal): void {
  if (!signal.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new CancelledFailure(typeof reason === 'string' ? reason : 'cancelled');
}

function validInterval(ms: number): number {
  return Number.isFinite(ms) && ms >= 0 ? ms : 60_000;
}

/** The message of a progress report line (`{"progress": "..."}`), or undefined for any other line. */
function progressMessage(line: string): string | undefined {
  const value = parseJsonObject(line);
  return typeof value?.['progress'] === 'string' ? value['progress'] : undefined;
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent's raw report, from the result file or else the last stdout line, validated.
 * Returns undefined if the agent reported nothing; throws `InvalidAgentResult` if it reported garbage.
 */
async function readReport(
  agentName: string,
  resultFile: string,
  lastStdoutLine: string | undefined,
): Promise<AgentReport | undefined> {
  let raw: unknown;
  let from: string;
  const text = await fsp.readFile(resultFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text !== undefined) {
    from = 'result file';
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `agent ${agentName} wrote a result file that is not JSON: ${errorMessage(err)}`,
        AGENT_FAILURE_TYPES.invalidResult,
      );
    }
  } else {
    // Only a JSON object with an `outcome` is a result; any other last line (text, a progress report) is not.
    const candidate = lastStdoutLine === undefined ? undefined : parseJsonObject(lastStdoutLine);
    if (!candidate || !('outcome' in candidate)) return undefined;
    from = 'last stdout line';
    raw = candidate;
  }
  const parsed = AgentReportSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    throw ApplicationFailure.nonRetryable(
      `agent ${agentName} returned an invalid result (${from}): ${issues}`,
      AGENT_FAILURE_TYPES.invalidResult,
    );
  }
  return parsed.data;
}

/** A define agent may say `approved` (of its own definition); the workflow only knows `completed` there. */
function normaliseReport(stage: AgentRunInput['context']['stage'], report: AgentReport): AgentReport {
  return stage === 'define' && report.outcome === 'approved' ? { ...report, outcome: 'completed' } : report;
}

function quote(line: string): string {
  return JSON.stringify(line.length > MAX_QUOTED_LINE_CHARS ? `${line.slice(0, MAX_QUOTED_LINE_CHARS)}…` : line);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Leading- and trailing-edge throttle: the first value goes out at once, later ones at most once per
 * interval, and only the newest value of an interval is sent. Nothing is sent after `stop()`.
 */
class Throttle<T> {
  private lastSentAt = -Infinity;
  private pending: { value: T } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (value: T) => void,
  ) {}

  /** Returns true if the value was sent now. */
  push(value: T): boolean {
    const now = performance.now();
    if (this.timer === undefined && now - this.lastSentAt >= this.intervalMs) {
      this.fire(value);
      return true;
    }
    this.pending = { value };
    this.timer ??= setTimeout(() => this.flush(), this.lastSentAt + this.intervalMs - now);
    return false;
  }

  /** Records a send made by other means: drops the pending value and restarts the interval. */
  markSent(): void {
    this.clear();
    this.lastSentAt = performance.now();
  }

  stop(): void {
    this.clear();
  }

  private flush(): void {
    this.timer = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) this.fire(pending.value);
  }

  private fire(value: T): void {
    this.lastSentAt = performance.now();
    this.send(value);
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}

/** `agent.log`: every output line with its stream, cut off (once, with a marker) at the size limit. */
class BoundedLog {
  private readonly stream: fs.WriteStream;
  private written = 0;
  private truncated = false;

  constructor(
    file: string,
    private readonly limitBytes: number,
    onError: (err: Error) => void,
  ) {
    this.stream = fs.createWriteStream(file, { flags: 'w' });
    this.stream.on('error', onError);
  }

  line(prefix: string, text: string): void {
    if (this.truncated) return;
    const entry = `${prefix}${text}\n`;
    const bytes = Buffer.byteLength(entry);
    if (this.written + bytes > this.limitBytes) {
      this.truncated = true;
      this.stream.write('[log truncated]\n');
      return;
    }
    this.written += bytes;
    this.stream.write(entry);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.destroyed) return resolve();
      this.stream.once('error', () => resolve());
      this.stream.end(() => resolve());
    });
  }
}

class SpawnError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface ProcessRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  lastStdoutLine: string | undefined;
  durationMs: number;
}

interface ProcessOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdin: string;
  heartbeatEveryMs: number;
  cancellationSignal: AbortSignal;
  heartbeat: (details: { pid: number; lines: number }) => void;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  onSpawn: (pid: number) => void;
  warn: (message: string, meta: Record<string, unknown>) => void;
}

/**
 * Runs argv in its own process group until it exits. On cancellation the whole group gets SIGTERM, then
 * SIGKILL after a grace period; the function still resolves only once the leader has exited. Whatever
 * is left of the group when this returns (strays, or the agent itself if we failed) is terminated too.
 */
async function runProcess(options: ProcessOptions): Promise<ProcessRun> {
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

  let lines = 0;
  let lastStdoutLine: string | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.on('error', (err) => options.warn('Agent process error', { pid, error: err.message }));
  const stdoutDone = readLines(child.stdout, (line) => {
    lines += 1;
    if (line.trim() !== '') lastStdoutLine = line;
    options.onLine('stdout', line);
  });
  const stderrDone = readLines(child.stderr, (line) => {
    lines += 1;
    options.onLine('stderr', line);
  });
  // Agents that never read stdin close the pipe early; that is not an error.
  child.stdin.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') options.warn('Could not write the context to the agent', { pid, error: err.message });
  });
  child.stdin.end(options.stdin);

  const heartbeat = (): void => options.heartbeat({ pid, lines });
  heartbeat();
  const heartbeatTimer = setInterval(heartbeat, options.heartbeatEveryMs);
  const onAbort = (): void => terminateGroup(pid);
  options.cancellationSignal.addEventListener('abort', onAbort, { once: true });
  if (options.cancellationSignal.aborted) onAbort();

  try {
    const { code, signal } = await exited;
    const drained = await Promise.race([
      Promise.all([stdoutDone, stderrDone]).then(() => true),
      delay(STDIO_DRAIN_MS).then(() => false),
    ]);
    if (!drained) {
      options.warn('Agent output still open after it exited; a child process holds it', { pid });
      child.stdout.destroy();
      child.stderr.destroy();
    }
    return { exitCode: code, signal, lastStdoutLine, durationMs: Math.round(performance.now() - startedAt) };
  } finally {
    clearInterval(heartbeatTimer);
    options.cancellationSignal.removeEventListener('abort', onAbort);
    if (groupExists(pid)) terminateGroup(pid);
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the group now, SIGKILL to whatever of it is left after the grace period. */
function terminateGroup(pgid: number): void {
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
