/**
 * For tests: the argv prefix that runs an agent CLI next to its stand-in in a network namespace with only
 * loopback (see run-isolated.ts), and a reading of the connect() calls strace recorded there.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/stack';

export type StandInProtocol = 'anthropic' | 'openai-responses' | 'gemini' | 'openai-chat';

/** Why isolation is not available here (no `unshare -n` or no `strace`), or null when it is. */
export function isolationUnavailable(): string | null {
  try {
    execFileSync('unshare', ['-n', '--', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
  } catch {
    return 'cannot create a network namespace (unshare -n needs root or user namespaces)';
  }
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'strace is not installed';
  }
  return null;
}

/** The agent's `bin`: the CLI runs inside a fresh network namespace, next to its stand-in on 127.0.0.1:`port`. */
export function isolatedBin(options: {
  protocol: StandInProtocol;
  port: number;
  scriptsFile: string;
  logFile: string;
  connectionsFile: string;
  cli: string;
}): string[] {
  return [
    'unshare', '-n', '--',
    join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), join(REPO_ROOT, 'tests', 'stand-ins', 'run-isolated.ts'),
    '--protocol', options.protocol,
    '--port', String(options.port),
    '--scripts', options.scriptsFile,
    '--log', options.logFile,
    '--connections', options.connectionsFile,
    '--',
    options.cli,
  ];
}

/** Every TCP/UDP destination the CLI's process tree connected to (address:port), from strace's log. */
export function connectionTargets(connectionsFile: string): string[] {
  const targets: string[] = [];
  for (const line of readFileSync(connectionsFile, 'utf8').split('\n')) {
    const inet = /sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)/.exec(line);
    if (inet) targets.push(`${inet[2]}:${inet[1]}`);
    const inet6 = /sin6_port=htons\((\d+)\).*inet_pton\(AF_INET6, "([^"]+)"/.exec(line);
    if (inet6) targets.push(`[${inet6[2]}]:${inet6[1]}`);
  }
  return targets;
}
