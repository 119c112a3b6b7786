/**
 * Runs one CLI preset the way the preset driver does, without Temporal: invoke, spawn in the workdir (own
 * process group), feed every output line to the preset's parser, and read what `baton mcp` recorded. Preset
 * tests use it to check an adapter against the real CLI and a stand-in model.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeScratch } from '../../activities/agents/preset-agent';
import { runProcess } from '../../activities/process';
import type { CliInvocation, CliOutcome, CliPreset, CliRunContext, McpLaunch } from '../../activities/agents/presets/types';
import type { AgentStage } from '../../workflows/spec';
import { REPO_ROOT } from '../helpers/stack';

export interface CliRun {
  exitCode: number | null;
  lines: string[];
  progress: string[];
  outcome: CliOutcome;
  /** What `submit_result` wrote to BATON_RESULT_FILE (the agent report), or null. */
  result: unknown;
  /** What `report_progress` and `ask_human` appended to BATON_EVENTS_FILE. */
  events: unknown[];
}

/** How the CLI starts `baton mcp` for a stage, writing into `runDir`. */
export function mcpLaunch(stage: AgentStage, runDir: string, taskId = 'T-preset'): McpLaunch {
  return {
    command: process.execPath,
    args: [join(REPO_ROOT, 'bin', 'baton.js'), 'mcp'],
    env: {
      BATON_STAGE: stage,
      BATON_TASK_ID: taskId,
      BATON_RESULT_FILE: join(runDir, 'result.json'),
      BATON_EVENTS_FILE: join(runDir, 'events.jsonl'),
    },
  };
}

/** A run context with `baton mcp` registered, for a stage in `workdir`. */
export function runContext(options: {
  stage: AgentStage;
  prompt: string;
  workdir: string;
  runDir: string;
  model: string;
  baseUrl?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): CliRunContext {
  mkdirSync(options.runDir, { recursive: true });
  return {
    model: options.model,
    baseUrl: options.baseUrl,
    args: options.args ?? [],
    stage: options.stage,
    prompt: options.prompt,
    workdir: options.workdir,
    runDir: options.runDir,
    env: { ...process.env, ...options.env },
    mcp: mcpLaunch(options.stage, options.runDir),
  };
}

/** Spawns one invocation to completion and parses its output with a fresh parser of the preset. */
export async function runInvocation(preset: CliPreset, ctx: CliRunContext, invocation: CliInvocation, timeoutMs = 120_000): Promise<CliRun> {
  const parser = preset.parser(ctx);
  const lines: string[] = [];
  const progress: string[] = [];
  const run = await runProcess({
    argv: invocation.argv,
    cwd: ctx.workdir,
    env: invocation.env,
    stdin: invocation.stdin ?? '',
    heartbeatEveryMs: 60_000,
    cancellationSignal: new AbortController().signal,
    timeoutMs,
    heartbeat: () => undefined,
    onLine: (stream, text) => {
      lines.push(`${stream}| ${text}`);
      const meaning = parser.line(stream, text);
      if (meaning?.progress) progress.push(meaning.progress);
    },
    onSpawn: () => undefined,
    warn: () => undefined,
  });
  removeScratch(ctx.workdir, preset.scratch ?? []);
  const read = (file: string): string | null => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  const resultText = read(ctx.mcp.env.BATON_RESULT_FILE!);
  const eventsText = read(ctx.mcp.env.BATON_EVENTS_FILE!) ?? '';
  return {
    exitCode: run.timedOut ? null : run.exitCode,
    lines,
    progress,
    outcome: parser.result(),
    result: resultText === null ? null : (JSON.parse(resultText) as unknown),
    events: eventsText.split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown),
  };
}

/** The first turn of a preset, run to completion. */
export async function runPreset(preset: CliPreset, ctx: CliRunContext, executable: string, timeoutMs?: number): Promise<CliRun> {
  return runInvocation(preset, ctx, await preset.invoke(ctx, executable), timeoutMs);
}
