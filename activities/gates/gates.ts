/**
 * Quality gates: runs one gate command of a repository's `.baton.yaml` (argv, no shell) in a task's worktree,
 * with its timeout, and keeps the end of its output, secrets redacted. Checking out what the gate runs on and
 * cleaning up after it is the workspace's part (`activities/git/workspace.ts`).
 */
import type { GateCommand } from '../../workflows/workspace';
import { activityContext } from '../git/git';
import { withoutTemporalSettings } from '../environment';
import { runProcess, SpawnError, throwIfCancelled } from '../process';

/** How much of a gate's output its `GateRun.tail` keeps. */
export const GATE_TAIL_LIMITS = { lines: 40, chars: 4000 } as const;

/** What running a gate command gave; `GateRun` without the fields the caller knows (round, commit, ...). */
export interface GateExecution {
  ok: boolean;
  /** Null when the command was killed (timeout) or could not start. */
  exitCode: number | null;
  durationMs: number;
  /** The last lines of stdout and stderr as they came, secrets redacted. */
  tail: string;
  timedOut?: true;
  /** The program could not be started (not found, not executable). */
  notRunnable?: true;
}

export interface GateExecutionOptions {
  /** The worktree the gate runs in. */
  cwd: string;
  /** The gate's name (`BATON_GATE`). */
  name: string;
  taskId: string;
  gate: GateCommand;
  /** Redacts secrets from the tail (the scanner built from the workspace's secret patterns). */
  redact: (text: string) => string;
  /** How often the activity heartbeats while the gate runs. Default 1000 ms. */
  heartbeatEveryMs?: number;
}

const DEFAULT_HEARTBEAT_EVERY_MS = 1000;
/** Each kept line is at most this long (its end is kept); far more than the tail shows, so cuts never show. */
const MAX_KEPT_LINE_CHARS = 2 * GATE_TAIL_LIMITS.chars;
// The program is missing or cannot be executed: the gate's configuration is wrong, not the change.
const NOT_RUNNABLE_CODES = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR']);

/** Credentials in the worker's environment (agents' API keys, cloud and git tokens, private keys inline or by path). */
const CREDENTIAL_NAME =
  /(^|_)(API_?KEY|AUTH_TOKEN|ACCESS_TOKEN|TOKEN|SECRET|SECRET_ACCESS_KEY|PASSWORD|PASSPHRASE|CREDENTIALS?|PRIVATE_KEY|KEY_DATA|KEY_PATH)$/i;

/**
 * The worker's environment without its credentials: a gate runs the change's own code (its tests), which must
 * not be able to read the agents' API keys or Temporal's (none of Temporal's client settings reach it).
 */
export function gateEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(withoutTemporalSettings(env)).filter(([key]) => !CREDENTIAL_NAME.test(key)));
}

/**
 * Runs one gate command in `cwd` with `CI=1`, `BATON_GATE` and `BATON_TASK_ID` set (so test runners do not
 * watch), kills its process group on timeout or cancellation, and heartbeats the activity while it runs.
 * A command that cannot start is `notRunnable`, not an error. Throws the cancellation once the group is gone.
 */
export async function executeGate(options: GateExecutionOptions): Promise<GateExecution> {
  const { gate, name } = options;
  const ctx = activityContext();
  const cancellationSignal = ctx?.cancellationSignal ?? new AbortController().signal;
  const tail = new OutputTail();
  try {
    const run = await runProcess({
      argv: gate.run,
      cwd: options.cwd,
      env: { ...gateEnvironment(process.env), CI: '1', BATON_GATE: name, BATON_TASK_ID: options.taskId },
      stdin: '',
      heartbeatEveryMs: options.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_EVERY_MS,
      cancellationSignal,
      timeoutMs: gate.timeoutMs,
      heartbeat: (details) => ctx?.heartbeat({ gate: name, ...details }),
      onLine: (_stream, line) => tail.push(line),
      onSpawn: (pid) => {
        ctx?.log.info('Gate started', { gate: name, pid, cwd: options.cwd });
      },
      warn: (message, meta) => {
        ctx?.log.warn(message, { gate: name, ...meta });
      },
    });
    throwIfCancelled(cancellationSignal);
    const execution: GateExecution = {
      ok: !run.timedOut && run.exitCode === 0,
      exitCode: run.timedOut ? null : run.exitCode,
      durationMs: run.durationMs,
      tail: tail.text(options.redact),
    };
    if (run.timedOut) execution.timedOut = true;
    ctx?.log.info('Gate finished', { gate: name, ok: execution.ok, exitCode: execution.exitCode, durationMs: run.durationMs });
    return execution;
  } catch (err) {
    if (err instanceof SpawnError && err.code !== undefined && NOT_RUNNABLE_CODES.has(err.code)) {
      const message = `gate ${name} could not start ${JSON.stringify(gate.run)}: ${err.message}`;
      return { ok: false, exitCode: null, durationMs: 0, tail: options.redact(message), notRunnable: true };
    }
    throw err;
  }
}

/**
 * The last lines of an output (at most `GATE_TAIL_LIMITS.lines`), as text of at most `GATE_TAIL_LIMITS.chars`.
 * Secrets are redacted before the text is cut, so a cut never leaves part of a secret unrecognisable.
 */
export class OutputTail {
  private readonly lines: string[] = [];

  push(line: string): void {
    this.lines.push(line.length > MAX_KEPT_LINE_CHARS ? line.slice(-MAX_KEPT_LINE_CHARS) : line);
    if (this.lines.length > GATE_TAIL_LIMITS.lines) this.lines.shift();
  }

  text(redact: (text: string) => string): string {
    const redacted = redact(this.lines.join('\n'));
    if (redacted.length <= GATE_TAIL_LIMITS.chars) return redacted;
    const cut = redacted.slice(-GATE_TAIL_LIMITS.chars);
    // Start at a whole line when the kept part has one.
    const newline = cut.indexOf('\n');
    return newline === -1 || newline === cut.length - 1 ? cut : cut.slice(newline + 1);
  }
}
