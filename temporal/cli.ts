/**
 * Resolves the Temporal CLI that runs `server start-dev`, without a network download where possible:
 * `TEMPORAL_CLI_PATH`, then `temporal` on PATH, then a copy built before, then `go install` of a pinned
 * release (several minutes once, cached after), and only then the SDK's own download.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The newest CLI release without a `replace` directive, so `go install` accepts it. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'go-install';

export type ResolvedTemporalCli =
  | { kind: 'executable'; path: string; source: TemporalCliSource }
  | { kind: 'sdk-download' };

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines (the go build prints what it downloads and compiles). */
  log?: (line: string) => void;
}

/** Where Baton keeps what it builds for itself (the Temporal CLI). */
export function batonCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BATON_CACHE_DIR) return env.BATON_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'baton');
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface ToolRun {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every non-empty output line (stdout and stderr). */
  onLine(line: string): void;
  /** The progress line printed every 15 s while the tool runs; gets the elapsed seconds. */
  stillRunning(seconds: number): string;
}

/** Runs a slow build tool (go, mvn) to completion, printing progress while it runs; resolves its exit code. */
export async function runTool(run: ToolRun, log: (line: string) => void): Promise<number | null> {
  const started = Date.now();
  const child = spawn(run.command, run.args, { cwd: run.cwd, env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ticker = setInterval(() => log(run.stillRunning(Math.round((Date.now() - started) / 1000))), 15_000);
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) run.onLine(line);
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  try {
    return await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
  } finally {
    clearInterval(ticker);
  }
}

/** Runs `go install` of the pinned CLI into the cache, streaming its output as progress. */
async function goInstall(goBinary: string, binDir: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  mkdirSync(binDir, { recursive: true });
  log(`building the Temporal CLI with 'go install ${TEMPORAL_CLI_MODULE}' (several minutes the first time, cached after)`);
  const started = Date.now();
  const code = await runTool(
    {
      command: goBinary,
      args: ['install', TEMPORAL_CLI_MODULE],
      env: { ...env, GOBIN: binDir, GOFLAGS: '-mod=mod' },
      onLine: (line) => log(`go: ${line.replace(/^go: /, '')}`),
      stillRunning: (seconds) => `still building the Temporal CLI (${seconds} s)`,
    },
    log,
  );
  if (code !== 0) throw new Error(`'go install ${TEMPORAL_CLI_MODULE}' failed with exit code ${code}`);
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Finds (or builds) the Temporal CLI in the documented order. */
export async function resolveTemporalCli(options: ResolveOptions = {}): Promise<ResolvedTemporalCli> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`[baton] ${line}\n`));

  if (env.TEMPORAL_CLI_PATH) {
    if (!isExecutable(env.TEMPORAL_CLI_PATH)) {
      throw new Error(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file`);
    }
    return { kind: 'executable', path: env.TEMPORAL_CLI_PATH, source: 'env' };
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return { kind: 'executable', path: onPath, source: 'path' };

  const binDir = join(batonCacheDir(env), 'bin');
  const cached = join(binDir, 'temporal');
  if (isExecutable(cached)) return { kind: 'executable', path: cached, source: 'cache' };

  const go = findOnPath('go', env);
  if (go) {
    await goInstall(go, binDir, env, log);
    if (!existsSync(cached)) throw new Error(`'go install' finished but ${cached} is missing`);
    return { kind: 'executable', path: cached, source: 'go-install' };
  }
  log('no Temporal CLI and no Go toolchain found: falling back to the SDK download of the dev server');
  return { kind: 'sdk-download' };
}
