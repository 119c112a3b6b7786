/**
 * What every CLI preset test does (shared by the tests of all presets): a fresh repository and run context
 * for one case, and one run inside a network namespace with only loopback, next to the case's stand-in
 * model, with every connect() of the CLI recorded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliPreset, CliRunContext } from '../../activities/agents/presets/types';
import type { AgentStage } from '../../workflows/spec';
import { createRepo, tempDir } from '../helpers/git';
import { startStandIn, type LoggedRequest, type ProtocolHandler, type Scripts, type StandIn } from '../stand-ins/core';
import { connectionTargets, isolatedBin, type StandInProtocol } from '../stand-ins/isolation';
import { runContext, runInvocation, type CliRun } from './run-cli';

/** The files of every case's repository. */
export const CASE_FILES = {
  'README.md': '# greeting\n',
  'src/greeting.ts': "export const greeting = 'hello';\n",
};

/**
 * A review prompt for case `name` whose diff is longer than Linux allows one argument to be (128 KiB): such a
 * prompt only reaches the CLI on stdin.
 */
export function longReviewPrompt(name: string): string {
  const diff = Array.from({ length: 3000 }, (_, line) => `+export const value${line} = ${JSON.stringify('x'.repeat(40))};`).join('\n');
  return `Stage: review. Case ${name}: review the change.\n\n\`\`\`diff\n${diff}\n\`\`\`\n${LONG_PROMPT_END}`;
}

/** The last line of `longReviewPrompt`: the model saw the whole prompt when its request holds it. */
export const LONG_PROMPT_END = 'That is the whole change.';

/** How long one run of a real CLI may take: generous, so a loaded machine does not fail a test. */
export const RUN_TIMEOUT_MS = 150_000;
/** A test's timeout: room for two runs (a first turn and its follow-up). */
export const CASE_TIMEOUT_MS = 2 * RUN_TIMEOUT_MS + 60_000;

export interface PresetCase {
  workdir: string;
  runDir: string;
  /** The context of a run against `baseUrl` (the stand-in's). */
  context(baseUrl: string): CliRunContext;
}

/** A fresh repository (CASE_FILES on `main`) and attempt directory for one case. */
export function presetCase(options: { stage: AgentStage; prompt: string; model: string; env: NodeJS.ProcessEnv; args?: string[] }): PresetCase {
  const workdir = createRepo(CASE_FILES);
  const runDir = join(tempDir('baton-preset-run-'), 'attempt');
  return {
    workdir,
    runDir,
    context: (baseUrl) => runContext({ ...options, workdir, runDir, baseUrl }),
  };
}

/** Runs `body` with a stand-in model answering from `scripts` on 127.0.0.1, closed after. */
export async function withStandIn<T>(handler: ProtocolHandler, scripts: Scripts, body: (standIn: StandIn) => Promise<T>): Promise<T> {
  const standIn = await startStandIn(handler, { scripts });
  try {
    return await body(standIn);
  } finally {
    await standIn.close();
  }
}

/** The port the stand-in listens on inside the namespace (any: the namespace has nothing else). */
const ISOLATED_PORT = 41_873;

export interface IsolatedRun {
  run: CliRun;
  /** Where the CLI's process tree connected (address:port), from strace. */
  targets: string[];
  /** The stand-in's address, the only one the CLI may have connected to. */
  standIn: string;
  requests: LoggedRequest[];
}

/**
 * The first turn of a preset run inside `unshare -n` next to its stand-in (see stand-ins/run-isolated.ts): the
 * preset's argv[0] (the executable) replaced by the isolating prefix that ends with the CLI's path.
 */
export async function runIsolated(options: {
  preset: CliPreset;
  cli: string;
  protocol: StandInProtocol;
  scripts: Scripts;
  case: PresetCase;
}): Promise<IsolatedRun> {
  const dir = tempDir('baton-isolated-');
  const files = { scriptsFile: join(dir, 'scripts.json'), logFile: join(dir, 'requests.jsonl'), connectionsFile: join(dir, 'connect.log') };
  writeFileSync(files.scriptsFile, JSON.stringify(options.scripts));
  writeFileSync(files.logFile, '');
  const ctx = options.case.context(`http://127.0.0.1:${ISOLATED_PORT}`);
  const invocation = await options.preset.invoke(ctx, options.cli);
  const prefix = isolatedBin({ protocol: options.protocol, port: ISOLATED_PORT, cli: options.cli, ...files });
  const run = await runInvocation(options.preset, ctx, { ...invocation, argv: [...prefix, ...invocation.argv.slice(1)] }, RUN_TIMEOUT_MS);
  return {
    run,
    targets: connectionTargets(files.connectionsFile),
    standIn: `127.0.0.1:${ISOLATED_PORT}`,
    requests: readFileSync(files.logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LoggedRequest),
  };
}

/** What a run printed, for a failed assertion's message. */
export function transcript(run: CliRun): string {
  return run.lines.join('\n');
}
