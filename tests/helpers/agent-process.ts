/** Runs `baton agent` as its own process, the way another machine would: its own home, talking to Temporal only. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, type TestStack } from './stack';

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
}

/** Starts `baton agent --agents FILE --name NAME` against the stack's server and queue; resolves once it polls. */
export async function startAgentProcess(
  stack: TestStack,
  options: { agentsFile: string; name: string; home?: string; env?: NodeJS.ProcessEnv },
): Promise<AgentProcess> {
  const home = options.home ?? stack.home;
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'baton.js'), 'agent', '--agents', options.agentsFile, '--name', options.name], {
    cwd: home,
    env: { ...process.env, TEMPORAL_ADDRESS: stack.address, BATON_TASK_QUEUE: stack.taskQueue, BATON_HOME: home, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baton agent ${options.name} did not start:\n${output}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`baton agent ${options.name} exited with ${code}:\n${output}`)));
    child.stdout.on('data', () => {
      if (output.includes('polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, output: () => output };
}

/** Stops agent processes still running (Ctrl-C, as a person would). */
export function stopAgentProcesses(processes: AgentProcess[]): void {
  for (const { child } of processes) if (child.exitCode === null) child.kill('SIGINT');
}
