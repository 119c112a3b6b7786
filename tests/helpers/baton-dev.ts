/**
 * Runs `baton dev` as a child process on free ports, as a user would, and talks to it over HTTP and
 * through the real `temporal` CLI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import type { TaskState } from '../../workflows/state';
import { REPO_ROOT } from './stack';

const execFileAsync = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface BatonDev {
  child: ChildProcess;
  apiUrl: string;
  uiUrl: string;
  temporalAddress: string;
  home: string;
  output(): string;
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Runs the Temporal CLI against this stack's server. */
  temporal(args: string[]): Promise<string>;
  waitForTask(taskId: string, predicate: (state: TaskState) => boolean, timeoutMs?: number): Promise<TaskState>;
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code. */
  interrupt(): Promise<number | null>;
  /** Stops this stack and starts `baton dev` again on the same ports, home and database file. */
  restart(): Promise<BatonDev>;
}

export async function startBatonDev(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  reuse?: { ports: [number, number, number]; home: string },
): Promise<BatonDev> {
  const [apiPort, temporalPort, uiPort] = reuse?.ports ?? [await freePort(), await freePort(), await freePort()];
  const home = reuse?.home ?? mkdtempSync(join(tmpdir(), 'baton-dev-'));
  const cliPath = inject('temporalCliPath');
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'baton.js'),
      'dev',
      '--api-port', String(apiPort),
      '--temporal-port', String(temporalPort),
      '--ui-port', String(uiPort),
      '--db', join(home, 'temporal.db'),
      ...extraArgs,
    ],
    {
      cwd: home,
      env: { ...process.env, BATON_HOME: home, TEMPORAL_ADDRESS: '', ...(cliPath ? { TEMPORAL_CLI_PATH: cliPath } : {}), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baton dev did not get ready in 120 s:\n${output}`)), 120_000);
    const check = () => {
      if (output.includes('ready (Ctrl-C stops everything)')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`baton dev exited with ${code} before it was ready:\n${output}`));
    });
  });

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const request = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const interrupt = async (): Promise<number | null> => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill('SIGINT');
    return exited;
  };
  return {
    child,
    apiUrl,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    temporalAddress,
    home,
    output: () => output,
    request,
    async temporal(args) {
      if (!cliPath) throw new Error('no Temporal CLI path was resolved for this run');
      const { stdout } = await execFileAsync(cliPath, [...args, '--address', temporalAddress], { timeout: 30_000 });
      return stdout;
    },
    async waitForTask(taskId, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: TaskState | undefined;
      while (Date.now() < deadline) {
        const response = await request<TaskState>('GET', `/tasks/${taskId}`);
        if (response.status === 200) {
          last = response.body;
          if (predicate(last)) return last;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`task ${taskId} did not reach the expected state; last:\n${JSON.stringify(last, null, 2)}`);
    },
    interrupt,
    async restart() {
      await interrupt();
      return startBatonDev(extraArgs, env, { ports: [apiPort, temporalPort, uiPort], home });
    },
  };
}
