/**
 * Resolves the Temporal CLI that runs `server start-dev`: `TEMPORAL_CLI_PATH`, then `temporal` on PATH, then
 * the copy in Baton's cache; else, where the internet is reachable, the official release downloaded into that
 * cache (seconds), and only where it is not, `go install` of a pinned release through the Go module proxy
 * (several minutes once, cached after). Which of the two is told by one HTTPS request to the download service
 * with a 3 s deadline: offline, its DNS lookup fails in milliseconds.
 */
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** The newest CLI release without a `replace` directive, so `go install` accepts it. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'download' | 'go-install';

export type ResolvedTemporalCli = { kind: 'executable'; path: string; source: TemporalCliSource };

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines (the go build prints what it downloads and compiles). */
  log?: (line: string) => void;
  /** The official download's description, or null when the download service cannot be reached (tests). */
  probeDownload?: (env: NodeJS.ProcessEnv) => Promise<DownloadInfo | null>;
}

/** What the download service answers: where the release archive is, and which file of it is the CLI. */
export interface DownloadInfo {
  archive_url: string;
  file_to_extract: string;
}

/** The release the SDK was tested with (`default`), for this machine's platform. */
function downloadInfoUrl(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
  const platform = process.platform === 'darwin' ? 'darwin' : process.platform === 'win32' ? 'windows' : 'linux';
  const sdkVersion = (JSON.parse(readFileSync(require.resolve('@temporalio/testing/package.json'), 'utf8')) as { version: string }).version;
  return `https://temporal.download/cli/default?arch=${arch}&platform=${platform}&format=tar.gz&sdk-name=sdk-typescript&sdk-version=${sdkVersion}`;
}

/** Asks the download service where the official CLI is; null when it cannot be reached within 3 s (offline). */
export async function probeOfficialDownload(env: NodeJS.ProcessEnv = process.env): Promise<DownloadInfo | null> {
  if (env.BATON_TEMPORAL_CLI_DOWNLOAD === 'off') return null;
  try {
    const response = await fetch(downloadInfoUrl(), { signal: AbortSignal.timeout(3_000) });
    if (!response.ok) return null;
    const info = (await response.json()) as Partial<DownloadInfo>;
    return typeof info.archive_url === 'string' && typeof info.file_to_extract === 'string' ? (info as DownloadInfo) : null;
  } catch {
    return null;
  }
}

/** Downloads the release archive and puts its CLI at `target`. */
async function downloadCli(info: DownloadInfo, target: string, log: (line: string) => void): Promise<void> {
  log(`downloading the official Temporal CLI (${info.archive_url})`);
  const started = Date.now();
  const response = await fetch(info.archive_url, { signal: AbortSignal.timeout(300_000) });
  if (!response.ok) throw new Error(`downloading ${info.archive_url} answered ${response.status}`);
  const work = mkdtempSync(join(tmpdir(), 'baton-temporal-cli-'));
  try {
    const archive = join(work, 'cli.tar.gz');
    writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
    const code = await runTool(
      { command: 'tar', args: ['-xzf', archive, '-C', work], env: process.env, onLine: log, stillRunning: (seconds) => `still unpacking the Temporal CLI (${seconds} s)` },
      log,
    );
    if (code !== 0) throw new Error(`unpacking ${archive} failed with exit code ${code}`);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(work, info.file_to_extract), target);
    chmodSync(target, 0o755);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`downloaded the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
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

  const official = await (options.probeDownload ?? probeOfficialDownload)(env);
  if (official) {
    try {
      await downloadCli(official, cached, log);
      return { kind: 'executable', path: cached, source: 'download' };
    } catch (error) {
      log(`the official download failed (${error instanceof Error ? error.message : String(error)}): building from source instead`);
    }
  }
  const go = findOnPath('go', env);
  if (go) {
    await goInstall(go, binDir, env, log);
    if (!existsSync(cached)) throw new Error(`'go install' finished but ${cached} is missing`);
    return { kind: 'executable', path: cached, source: 'go-install' };
  }
  throw new Error(
    'no Temporal CLI: set TEMPORAL_CLI_PATH, put `temporal` on PATH, allow https://temporal.download, or install Go to build it from source',
  );
}
