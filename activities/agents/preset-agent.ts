/**
 * The preset driver: runs a real coding-agent CLI (Claude Code, Codex, Gemini CLI, Aider) for one stage,
 * non-interactively in the task's worktree, with Baton's MCP server registered for that stage. The verdict
 * comes only from the typed `submit_result` call (never from prose); a CLI that ends without it gets one
 * follow-up turn, then the attempt fails. Its output lines are signs of life and progress; a busy process
 * tree is alive too; usage and cost come from the CLI's own figures, else from the agent's price table.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { AgentReportSchema, type AgentReport, type AgentRunInput } from '../../workflows/agent-protocol';
import { findOnPath } from '../../temporal/cli';
import { runProcess, SpawnError } from '../process';
import { AGENT_FAILURE_TYPES, runAttempt, type AgentActivities, type AgentDriverDeps, type AgentRunEnd, type Attempt } from './attempt';
import type { AgentConfig } from './config';
import { runHttpPreset } from './presets/http';
import { CLI_PRESET_ADAPTERS } from './presets/index';
import { followUpMessage, stagePrompt } from './presets/prompt';
import { REPORTS_THROUGH_MCP, type CliInvocation, type CliOutcome, type CliPreset, type CliRunContext } from './presets/types';
import { runUsage } from './presets/usage';

/** The `baton` entry point a CLI starts as its MCP server (`baton mcp`). */
const BATON_BIN = resolve(__dirname, '..', '..', 'bin', 'baton.js');
/** How often the events `baton mcp` appends (progress, questions) are read while the CLI runs. */
const EVENTS_POLL_MS = 500;

export function createPresetAgentActivities(deps: AgentDriverDeps): AgentActivities {
  return {
    runAgent: (input: AgentRunInput) =>
      runAttempt(deps, input, (attempt) => (deps.agent.preset === 'http' ? runHttpPreset(attempt) : runCli(attempt, cliPreset(deps.agent)))),
  };
}

function cliPreset(agent: AgentConfig): CliPreset {
  const preset = agent.preset && agent.preset !== 'http' ? CLI_PRESET_ADAPTERS[agent.preset] : undefined;
  if (!preset) throw ApplicationFailure.nonRetryable(`agent ${agent.name} has no CLI preset`, AGENT_FAILURE_TYPES.misconfigured);
  return preset;
}

async function runCli(attempt: Attempt, preset: CliPreset): Promise<AgentRunEnd> {
  const { agent, context } = attempt;
  const throughMcp = REPORTS_THROUGH_MCP[preset.name];
  const key = preset.keyEnv.find((name) => attempt.env[name]);
  if (!key) {
    const name = preset.keyEnv[0]!;
    throw attempt.misconfigured(
      `agent ${agent.name} (preset ${preset.name}) needs ${preset.keyEnv.join(' or ')}: add \`env: { ${name}: "\${${name}}" }\` ` +
        `to the agent in agents.yaml and set ${name} where \`baton agent\` runs`,
    );
  }
  const prefix = agent.bin ?? [findOnPath(preset.executable, attempt.env) ?? ''];
  if (!prefix[0]) {
    throw attempt.misconfigured(
      `agent ${agent.name} (preset ${preset.name}) cannot find \`${preset.executable}\` on PATH: install it with \`${preset.install}\`, or set bin: in agents.yaml`,
    );
  }
  const runDir = join(attempt.dir, 'cli');
  mkdirSync(runDir, { recursive: true });
  const eventsFile = join(attempt.dir, 'events.jsonl');
  const ctx: CliRunContext = {
    model: agent.model!,
    baseUrl: agent.baseUrl,
    args: agent.args ?? [],
    stage: context.stage,
    prompt: stagePrompt(context, { typedResults: throughMcp, canEdit: true }),
    workdir: attempt.workdir,
    runDir,
    env: attempt.env,
    mcp: {
      command: process.execPath,
      args: [BATON_BIN, 'mcp'],
      env: { BATON_STAGE: context.stage, BATON_TASK_ID: context.taskId, BATON_RESULT_FILE: attempt.resultFile, BATON_EVENTS_FILE: eventsFile },
    },
  };

  const events = tailEvents(eventsFile, attempt);
  const turns: { outcome: CliOutcome; exitCode: number | null; durationMs: number }[] = [];
  try {
    turns.push(await runTurn(attempt, preset, ctx, prefix, await preset.invoke(ctx, prefix[0])));
    if (throughMcp && !existsSync(attempt.resultFile) && preset.followUp) {
      attempt.progress(`${preset.name} ended without submit_result: one follow-up turn asking for it`);
      const message = followUpMessage(context.stage);
      turns.push(await runTurn(attempt, preset, ctx, prefix, await preset.followUp(ctx, prefix[0], turns[0]!.outcome, message)));
    }
  } finally {
    events.stop();
  }

  const last = turns.at(-1)!;
  const usage = runUsage(agent, turns.map((turn) => turn.outcome.usage));
  const durationMs = turns.reduce((sum, turn) => sum + turn.durationMs, 0);
  const report = readTypedResult(attempt) ?? (throughMcp ? undefined : finalTextReport(attempt, last));
  if (!report) {
    const why = last.outcome.error ? `: ${last.outcome.error}` : last.exitCode ? ` (exit code ${last.exitCode})` : '';
    throw attempt.failed(
      `agent ${agent.name} (${preset.name}) ended without calling submit_result${turns.length > 1 ? ', also after a follow-up turn asking for it' : ''}${why}`,
      last.exitCode,
    );
  }
  return { report: { ...report, ...(usage ? { usage } : {}) }, exitCode: last.exitCode, durationMs };
}

/** One run of the CLI to its end: every line logged and parsed (signs of life, progress), the busy tree alive. */
async function runTurn(attempt: Attempt, preset: CliPreset, ctx: CliRunContext, prefix: string[], invocation: CliInvocation) {
  const parser = preset.parser(ctx);
  const argv = [...prefix, ...invocation.argv.slice(1)];
  try {
    const run = await runProcess({
      ledgerDir: attempt.ledgerDir,
      argv,
      cwd: attempt.workdir,
      env: invocation.env,
      stdin: invocation.stdin ?? '',
      heartbeatEveryMs: attempt.heartbeatEveryMs,
      cancellationSignal: attempt.cancellationSignal,
      heartbeat: (details) => attempt.heartbeat(details),
      onLine: (stream, line) => attempt.output(stream, line, parser.line(stream, line)?.progress),
      onBusy: () => attempt.signOfLife(),
      onSpawn: (pid) => attempt.info('Agent CLI started', { preset: preset.name, pid, workdir: attempt.workdir }),
      warn: (message, meta) => attempt.warn(message, meta),
    });
    attempt.info('Agent CLI exited', { preset: preset.name, exitCode: run.exitCode, signal: run.signal, durationMs: run.durationMs });
    removeScratch(attempt.workdir, preset.scratch ?? []);
    return { outcome: parser.result(), exitCode: run.exitCode, durationMs: run.durationMs };
  } catch (err) {
    if (err instanceof SpawnError) {
      throw attempt.misconfigured(`agent ${attempt.agent.name} could not start ${JSON.stringify(argv[0])}: ${err.message}; install it with \`${preset.install}\``);
    }
    throw err;
  }
}

/** Removes the CLI's own caches from the worktree's root: they are not the agent's change. */
export function removeScratch(workdir: string, scratch: readonly RegExp[]): void {
  if (scratch.length === 0) return;
  for (const entry of readdirSync(workdir)) {
    if (scratch.some((pattern) => pattern.test(entry))) rmSync(join(workdir, entry), { recursive: true, force: true });
  }
}

/** The report `submit_result` (or `ask_human`) wrote through `baton mcp`, validated; undefined when there is none. */
function readTypedResult(attempt: Attempt): AgentReport | undefined {
  if (!existsSync(attempt.resultFile)) return undefined;
  const parsed = AgentReportSchema.safeParse(JSON.parse(readFileSync(attempt.resultFile, 'utf8')));
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`agent ${attempt.agent.name} submitted an invalid result: ${parsed.error.message}`, AGENT_FAILURE_TYPES.invalidResult);
  }
  return parsed.data;
}

/**
 * A CLI without tool calls (Aider) reports with its final reply: a clean exit of implement without an error
 * it reported (Aider exits 0 when the API failed or its edits did not apply) is `completed`.
 */
function finalTextReport(attempt: Attempt, turn: { outcome: CliOutcome; exitCode: number | null }): AgentReport | undefined {
  if (turn.exitCode !== 0 || turn.outcome.error || attempt.context.stage !== 'implement') return undefined;
  return { outcome: 'completed', summary: turn.outcome.finalText?.trim() || `${attempt.agent.name} finished without a summary` };
}

/** Follows the JSON lines `baton mcp` appends (`report_progress`, `ask_human`) and forwards them as progress. */
function tailEvents(file: string, attempt: Attempt): { stop(): void } {
  let offset = 0;
  let partial = '';
  const read = () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const text = readFileSync(file).subarray(offset, size).toString('utf8');
    offset = size;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const event = JSON.parse(line) as { type?: string; message?: string; question?: string };
        if (event.type === 'progress' && event.message) attempt.progress(event.message);
        if (event.type === 'ask_human' && event.question) attempt.progress(`asks a human: ${event.question}`);
      } catch {
        // A line that is not JSON is not an event.
      }
    }
  };
  const timer = setInterval(read, EVENTS_POLL_MS);
  return {
    stop() {
      clearInterval(timer);
      read();
    },
  };
}
