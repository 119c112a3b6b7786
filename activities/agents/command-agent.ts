/**
 * The command agent driver: runs one agent command as a child process for one stage of one task,
 * following the agent protocol of the public contract (context on stdin and in a file, result in a file or
 * as the last stdout line, every output line a sign of life).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
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
import { createSecretScanner } from '../git/secret-scan';
import { runProcess, SpawnError, type ProcessRun } from '../process';
import { resolveCommand, type AgentConfig } from './config';
import { prepareStage, redactReport } from './stage-workspace';

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
      checkInput(agent, input);
      throwIfCancelled(ctx.cancellationSignal);
      // Secrets never reach the history, the log or a notice: everything the agent says passes through this.
      const scanner = createSecretScanner(input.workspace?.secretPatterns ?? []);
      const stage = await prepareStage(home, input, scanner);
      const { context, workdir } = stage;

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
          onLine: (stream, raw) => {
            const line = scanner.redact(raw);
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
        const lastLine = run.lastStdoutLine === undefined ? '' : ` (last line: ${quote(scanner.redact(run.lastStdoutLine))})`;
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

      const normalised = redactReport(normaliseReport(context.stage, report), scanner);
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
      const evidence = await stage.complete(agent.name, normalised);
      return { ...normalised, ...evidence, agent: agent.name, exitCode: run.exitCode, logFile, durationMs: run.durationMs };
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
