/**
 * Runs a stand-in model server and a real agent CLI together inside a network namespace that has nothing but
 * a loopback interface (start it as `unshare -n -- tsx run-isolated.ts ...`): the CLI can reach the stand-in
 * and nothing else. With `--connections FILE`, every connect() of the CLI's process tree is recorded by strace,
 * so a test can show that nothing even tried to leave the machine.
 *
 *   run-isolated.ts --protocol anthropic --port 8765 --scripts scripts.json --log requests.jsonl
 *                   [--connections connect.log] -- <cli> <args...>
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ProtocolHandler, Scripts } from './core';
import { startStandIn } from './core';

async function main(): Promise<number> {
  const separator = process.argv.indexOf('--');
  if (separator === -1) throw new Error('usage: run-isolated.ts --protocol P --port N --scripts FILE [--log FILE] [--connections FILE] -- <cli...>');
  const { values } = parseArgs({
    args: process.argv.slice(2, separator),
    options: {
      protocol: { type: 'string' },
      port: { type: 'string' },
      scripts: { type: 'string' },
      log: { type: 'string' },
      connections: { type: 'string' },
    },
  });
  const cli = process.argv.slice(separator + 1);
  // A new network namespace starts with its loopback down.
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const { handler } = (await import(`./${values.protocol}`)) as { handler: ProtocolHandler };
  const scripts = JSON.parse(readFileSync(values.scripts!, 'utf8')) as Scripts;
  const standIn = await startStandIn(handler, { scripts, port: Number(values.port), logFile: values.log });
  // Under strace the CLI runs in a shell that writes its exit status to a file: strace exits 1 on a ptrace error
  // of its own (seen once: "ptrace(PTRACE_LISTEN,...): Input/output error" after the CLI had finished its turn),
  // and the run's code must be the CLI's. strace's complaint still reaches stderr, and so the transcript.
  const statusFile = values.connections ? `${values.connections}.status` : null;
  const argv = values.connections
    ? ['strace', '-f', '-qq', '-e', 'trace=connect', '-o', values.connections, 'sh', '-c', '"$@"; echo $? > "$0"', statusFile!, ...cli]
    : cli;
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
      child.once('error', reject);
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
    });
    if (!statusFile || !existsSync(statusFile)) return code;
    const cliCode = Number(readFileSync(statusFile, 'utf8').trim());
    if (cliCode !== code) process.stderr.write(`run-isolated: strace exited ${code}, the CLI ${cliCode}: the CLI's code counts\n`);
    return cliCode;
  } finally {
    await standIn.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`run-isolated: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(70);
  },
);
