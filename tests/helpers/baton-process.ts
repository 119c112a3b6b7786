/** Any `baton` command as a child process (a worker, the API, an agent), to be killed and started again. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

export interface BatonProcess {
  readonly child: ChildProcess;
  output(): string;
  /** SIGKILL: no goodbye, no cleanup. Resolves once it is gone. */
  kill9(): Promise<void>;
  /** Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

/** Starts `baton <args>` and resolves once its output contains `readyText`. */
export async function startBaton(args: string[], env: NodeJS.ProcessEnv, readyText: string, cwd = REPO_ROOT): Promise<BatonProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'baton.js'), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-500_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baton ${args.join(' ')} did not print "${readyText}" in 120 s:\n${output}`)), 120_000);
    const check = () => {
      if (output.includes(readyText)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`baton ${args.join(' ')} exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    child,
    output: () => output,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async interrupt() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGINT');
      return exited;
    },
  };
}
