/**
 * One attempt of an agent at one stage of a task, whatever runs the agent (a command, a coding-agent CLI,
 * a chat endpoint): the worktree and context, the attempt directory, redaction of everything the agent says,
 * signs of life and progress forwarded to the workflow (throttled, so the history stays bounded), the
 * bounded agent log, and — once the driver has the agent's report — its validation and the stage's commit.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  type AgentContext,
  type AgentReport,
  type AgentRunInput,
  type AgentRunResult,
} from '../../workflows/agent-protocol';
import { AGENT_STAGES, TASK_ID_PATTERN } from '../../workflows/spec';
import { createSecretScanner, type SecretScanner } from '../git/secret-scan';
import { withoutTemporalSettings } from '../environment';
import { throwIfCancelled } from '../process';
import { ledgerDir } from '../process-ledger';
import type { AgentConfig } from './config';
import { checkReport } from './report';
import { prepareStage } from './stage-workspace';

/** Failure types the agent drivers throw (`ApplicationFailure.type`). */
export const AGENT_FAILURE_TYPES = {
  /** The attempt failed (non-zero exit, no result, or outcome `failed`); retryable. */
  failed: 'AgentFailed',
  /** The agent wrote a result that breaks the protocol; retrying the same agent will not help. */
  invalidResult: 'InvalidAgentResult',
  /** The agent cannot be started as configured (program or CLI not found, key not set, wrong agent). */
  misconfigured: 'AgentMisconfigured',
  /** The task's workdir (`repo.path`) does not exist or the input is malformed. */
  invalidInput: 'InvalidAgentInput',
} as const;

export type SignalWorkflow = (workflowId: string, signal: 'heartbeat' | 'progress', payload: object) => Promise<void>;

export interface AgentDriverDeps {
  agent: AgentConfig;
  /** Baton's home directory: attempt files go to `<home>/runs`, default workdirs to `<home>/work`. */
  home: string;
  /** Sends a signal to the task's workflow (heartbeat = sign of life, progress = progress report). */
  signalWorkflow: SignalWorkflow;
  /** How often the activity heartbeats to Temporal while the agent runs. Default 1000 ms. */
  heartbeatEveryMs?: number;
  /** Size bound of `agent.log` per attempt. Default 1 MiB. */
  logLimitBytes?: number;
}

export interface AgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

const DEFAULT_HEARTBEAT_EVERY_MS = 1000;
const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;
/** Progress goes out no more often than signs of life (and never more than once a second): history stays bounded. */
const MIN_PROGRESS_EVERY_MS = 1000;
/** Signs of life and progress start this long after an attempt's start at most: a stage shorter than it sends none. */
const FIRST_SIGNAL_AFTER_MS = 2000;
/** The `progress` signal's payload schema caps the message at this length. */
const MAX_PROGRESS_CHARS = 2000;
const MAX_QUOTED_LINE_CHARS = 500;

/** What a driver's run of the agent ended with. */
export interface AgentRunEnd {
  report: AgentReport;
  exitCode: number | null;
  durationMs: number;
}

/** Everything a driver needs while it runs the agent for one attempt. */
export interface Attempt {
  /** The process-group ledger of this home: pass it to `runProcess` so a restart sweeps what a killed worker left. */
  ledgerDir: string;
  agent: AgentConfig;
  input: AgentRunInput;
  /** The context the agent gets (with the branch, and for a review the change). */
  context: AgentContext;
  contextJson: string;
  /** Where the agent works (`BATON_WORKDIR`): the task's worktree, or a scratch directory. */
  workdir: string;
  /** This attempt's private directory (outside the worktree): context, result, log, CLI configuration. */
  dir: string;
  contextFile: string;
  resultFile: string;
  logFile: string;
  /** The worker's environment, the agent's `env` (with `${VAR}` expanded) and the protocol's `BATON_*` variables. */
  env: NodeJS.ProcessEnv;
  scanner: SecretScanner;
  cancellationSignal: AbortSignal;
  heartbeatEveryMs: number;
  heartbeat(details: unknown): void;
  /** One line the agent printed: redacted, logged, and a sign of life (or, with `progress`, a progress report). */
  output(stream: 'stdout' | 'stderr', line: string, progress?: string): void;
  /** A progress report that did not come from an output line (an MCP tool call, a driver step). */
  progress(message: string): void;
  /** A sign of life that is not an output line (the process tree using CPU, a response from an endpoint). */
  signOfLife(): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  /** A retryable `AgentFailed` carrying the exit code and the log's path. */
  failed(message: string, exitCode: number | null): ApplicationFailure;
  /** A non-retryable `AgentMisconfigured` (a missing CLI or key: retrying cannot help). */
  misconfigured(message: string): ApplicationFailure;
}

/**
 * Runs one attempt: prepares it, lets `drive` run the agent, then validates and redacts the report and
 * completes the stage (the secret-scanned commit after implement). Failures: `AgentFailed` (retryable),
 * `InvalidAgentResult`, `AgentMisconfigured`, `InvalidAgentInput` (non-retryable); a cancellation propagates
 * once the agent is gone.
 */
export async function runAttempt(deps: AgentDriverDeps, input: AgentRunInput, drive: (attempt: Attempt) => Promise<AgentRunEnd>): Promise<AgentRunResult> {
  const { agent, home } = deps;
  const ctx = Context.current();
  checkInput(agent, input);
  throwIfCancelled(ctx.cancellationSignal);
  // Secrets never reach the history, the log or a notice: everything the agent says passes through this.
  const scanner = createSecretScanner(input.workspace?.secretPatterns ?? []);
  const stage = await prepareStage(home, input, scanner);
  const { context, workdir } = stage;

  const dir = path.join(home, 'runs', context.taskId, `${context.stage}-r${context.round}-a${ctx.info.attempt}`);
  const contextFile = path.join(dir, 'context.json');
  const resultFile = path.join(dir, 'result.json');
  const logFile = path.join(dir, 'agent.log');
  const contextJson = JSON.stringify(context, null, 2);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(contextFile, contextJson);
  await fsp.rm(resultFile, { force: true });

  const signal = (name: 'heartbeat' | 'progress', payload: object): void => {
    // A lost sign of life only delays the idle clock's reset; it must never fail the agent's work.
    Promise.resolve()
      .then(() => deps.signalWorkflow(input.workflowId, name, payload))
      .catch((err: unknown) => {
        ctx.log.warn('Could not signal the task workflow', { signal: name, error: errorMessage(err) });
      });
  };
  const signOfLifeEveryMs = validInterval(input.signOfLifeEveryMs);
  // Nothing goes out before this long after the start (never later than the first interval's end).
  const firstSignalAfterMs = Math.min(FIRST_SIGNAL_AFTER_MS, signOfLifeEveryMs);
  const signOfLife = new Throttle<void>(signOfLifeEveryMs, () => signal('heartbeat', { agent: agent.name }), firstSignalAfterMs);
  // Signs of life begin a moment after the start (the activity's start is one): a short stage sends none,
  // which halves the workflow tasks of a quick task. Whether the work left its queue, a re-queue asks Temporal.
  signOfLife.push();
  const progress = new Throttle<string>(Math.max(MIN_PROGRESS_EVERY_MS, signOfLifeEveryMs), (message) => {
    signal('progress', { agent: agent.name, message });
    // A progress report resets the idle clock too, so it stands in for the pending sign of life.
    signOfLife.markSent();
  }, firstSignalAfterMs);
  const log = new BoundedLog(logFile, deps.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES, (err) => {
    ctx.log.warn('Could not write the agent log', { logFile, error: errorMessage(err) });
  });
  const report = (message: string) => progress.push(scanner.redact(message).slice(0, MAX_PROGRESS_CHARS));

  const attempt: Attempt = {
    ledgerDir: ledgerDir(home),
    agent,
    input,
    context,
    contextJson,
    workdir,
    dir,
    contextFile,
    resultFile,
    logFile,
    env: {
      // An agent never needs Temporal: the worker's client settings (API key, TLS keys) stay with the worker.
      ...withoutTemporalSettings(process.env),
      ...expandEnv(agent.env, process.env),
      BATON_TASK_ID: context.taskId,
      BATON_STAGE: context.stage,
      BATON_ROUND: String(context.round),
      BATON_WORKDIR: workdir,
      BATON_CONTEXT_FILE: contextFile,
      BATON_RESULT_FILE: resultFile,
      BATON_AGENT: agent.name,
    },
    scanner,
    cancellationSignal: ctx.cancellationSignal,
    heartbeatEveryMs: deps.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_EVERY_MS,
    heartbeat: (details) => ctx.heartbeat(details),
    output(stream, raw, progressMessage) {
      log.line(stream === 'stdout' ? 'out| ' : 'err| ', scanner.redact(raw));
      if (progressMessage === undefined || !report(progressMessage)) signOfLife.push();
    },
    progress(message) {
      log.line('baton| ', `progress: ${scanner.redact(message)}`);
      if (!report(message)) signOfLife.push();
    },
    signOfLife: () => signOfLife.push(),
    warn(message, meta) {
      ctx.log.warn(message, { agent: agent.name, ...meta });
    },
    info(message, meta) {
      ctx.log.info(message, { agent: agent.name, ...meta });
    },
    failed: (message, exitCode) =>
      ApplicationFailure.retryable(scanner.redact(message), AGENT_FAILURE_TYPES.failed, { agent: agent.name, exitCode, logFile }),
    misconfigured: (message) => ApplicationFailure.nonRetryable(message, AGENT_FAILURE_TYPES.misconfigured),
  };

  throwIfCancelled(ctx.cancellationSignal);
  let end: AgentRunEnd;
  try {
    end = await drive(attempt);
  } catch (err) {
    // An agent killed because the activity was cancelled failed because of the cancellation: say that.
    throwIfCancelled(ctx.cancellationSignal);
    throw err;
  } finally {
    signOfLife.stop();
    progress.stop();
    await log.close();
  }
  throwIfCancelled(ctx.cancellationSignal);

  const details = { agent: agent.name, exitCode: end.exitCode, logFile };
  const checked = checkReport(context.stage, end.report, scanner);
  if (!checked.ok) throw ApplicationFailure.nonRetryable(`agent ${agent.name} answered ${checked.problem}`, AGENT_FAILURE_TYPES.invalidResult, details);
  const normalised = checked.report;
  if (normalised.outcome === 'failed') {
    throw ApplicationFailure.retryable(normalised.summary ?? `agent ${agent.name} reported failure`, AGENT_FAILURE_TYPES.failed, details);
  }
  const evidence = await stage.complete(agent.name, normalised);
  return { ...normalised, ...evidence, agent: agent.name, exitCode: end.exitCode, logFile, durationMs: end.durationMs };
}

/**
 * The agent's `env` with `${NAME}` replaced from the worker's environment (an unset variable becomes empty):
 * the file names the secret, the machine holds it.
 */
export function expandEnv(env: Record<string, string>, from: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => from[name] ?? '')]));
}

function checkInput(agent: AgentConfig, input: AgentRunInput): void {
  const { context } = input;
  // The workflow routes by agent name; a mismatch means a routing bug, and running the wrong agent is worse.
  if (input.agent !== agent.name) {
    throw ApplicationFailure.nonRetryable(`agent ${agent.name}'s worker received work for agent ${input.agent}`, AGENT_FAILURE_TYPES.misconfigured);
  }
  // The task id and stage become path segments: refuse anything that could leave the home directory.
  if (!TASK_ID_PATTERN.test(context.taskId) || !(AGENT_STAGES as readonly string[]).includes(context.stage)) {
    throw ApplicationFailure.nonRetryable(
      `invalid agent input: task id ${JSON.stringify(context.taskId)}, stage ${JSON.stringify(context.stage)}`,
      AGENT_FAILURE_TYPES.invalidInput,
    );
  }
  if (!Number.isInteger(context.round) || context.round < 0) {
    throw ApplicationFailure.nonRetryable(`invalid agent input: round ${String(context.round)}`, AGENT_FAILURE_TYPES.invalidInput);
  }
}

function validInterval(ms: number): number {
  return Number.isFinite(ms) && ms >= 0 ? ms : 60_000;
}

/** A line quoted in a message, cut to a readable length. */
export function quote(line: string): string {
  return JSON.stringify(line.length > MAX_QUOTED_LINE_CHARS ? `${line.slice(0, MAX_QUOTED_LINE_CHARS)}…` : line);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Leading- and trailing-edge throttle: the first value goes out at once, later ones at most once per
 * interval, and only the newest value of an interval is sent. Nothing is sent after `stop()`.
 */
class Throttle<T> {
  private lastSentAt: number;
  private pending: { value: T } | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** `firstAfterMs`: nothing goes out before this long after construction (0: the first value at once). */
  constructor(
    private readonly intervalMs: number,
    private readonly send: (value: T) => void,
    firstAfterMs = 0,
  ) {
    this.lastSentAt = performance.now() - intervalMs + Math.min(firstAfterMs, intervalMs);
  }

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
