/**
 * The command agent driver: runs one agent command as a child process for one stage of one task,
 * following the agent protocol of the public contract (context on stdin and in a file, result in a file or
 * as the last stdout line, every output line a sign of life, a busy process tree too).
 */
import fsp from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { AgentReportSchema, type AgentReport, type AgentRunInput, type AgentRunResult } from '../../workflows/agent-protocol';
import { runProcess, SpawnError, type ProcessRun } from '../process';
import { AGENT_FAILURE_TYPES, errorMessage, quote, runAttempt, type AgentActivities, type AgentDriverDeps, type Attempt } from './attempt';
import { resolveCommand } from './config';

/**
 * Creates the activities of one command agent's worker.
 *
 * `runAgent` spawns `agent.command` (argv, no shell) in its own process group, feeds it the context,
 * forwards signs of life and progress reports to the workflow (throttled), heartbeats while it runs,
 * kills the whole group on cancellation, and returns the validated report (see `runAttempt`).
 */
export function createCommandAgentActivities(deps: AgentDriverDeps): AgentActivities {
  return {
    runAgent: (input: AgentRunInput): Promise<AgentRunResult> => runAttempt(deps, input, runCommand),
  };
}

async function runCommand(attempt: Attempt) {
  const { agent, workdir } = attempt;
  const cwd = agent.cwd ?? workdir;
  let run: ProcessRun;
  try {
    run = await runProcess({
      ledgerDir: attempt.ledgerDir,
      argv: resolveCommand(agent),
      cwd,
      env: attempt.env,
      stdin: attempt.contextJson,
      heartbeatEveryMs: attempt.heartbeatEveryMs,
      cancellationSignal: attempt.cancellationSignal,
      heartbeat: (details) => attempt.heartbeat(details),
      onLine: (stream, line) => attempt.output(stream, line, stream === 'stdout' ? progressMessage(line) : undefined),
      onBusy: () => attempt.signOfLife(),
      onSpawn: (pid) => attempt.info('Agent started', { pid, attemptDir: attempt.dir, workdir }),
      warn: (message, meta) => attempt.warn(message, meta),
    });
  } catch (err) {
    if (err instanceof SpawnError) {
      const code = err.code ?? 'unknown error';
      const message = `agent ${agent.name} could not start ${JSON.stringify(agent.command)} in ${cwd}: ${err.message}`;
      throw code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' ? attempt.misconfigured(message) : attempt.failed(message, null);
    }
    throw err;
  }
  attempt.info('Agent exited', { exitCode: run.exitCode, signal: run.signal, durationMs: run.durationMs });

  const report = await readReport(agent.name, attempt.resultFile, run.lastStdoutLine);
  if (!report) {
    const lastLine = run.lastStdoutLine === undefined ? '' : ` (last line: ${quote(run.lastStdoutLine)})`;
    const how =
      run.exitCode === 0
        ? 'exited without a result'
        : run.exitCode !== null
          ? `exited with code ${run.exitCode}`
          : `was killed by ${run.signal ?? 'a signal'}`;
    throw attempt.failed(`agent ${agent.name} ${how}${lastLine}`, run.exitCode);
  }
  return { report, exitCode: run.exitCode, durationMs: run.durationMs };
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

