/**
 * The real agent CLIs for the preset tests, installed on first use from the registries into Baton's cache
 * (`~/.cache/baton/agent-clis/<name>-<version>`), with progress, and reused after. Never project dependencies:
 * a user installs the CLIs they use (see the README), the tests pin the versions they were written against.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batonCacheDir, findOnPath, isExecutable, runTool } from '../../temporal/cli';

export type AgentCliName = 'claude-code' | 'codex' | 'gemini' | 'aider';

interface CliPackage {
  registry: 'npm' | 'pypi';
  pkg: string;
  version: string;
  /** The executable, relative to the install directory. */
  bin: string;
}

/** Pinned versions: what the presets were tested against. */
export const AGENT_CLIS: Record<AgentCliName, CliPackage> = {
  'claude-code': { registry: 'npm', pkg: '@anthropic-ai/claude-code', version: '2.1.330', bin: 'node_modules/.bin/claude' },
  codex: { registry: 'npm', pkg: '@openai/codex', version: '0.169.0', bin: 'node_modules/.bin/codex' },
  gemini: { registry: 'npm', pkg: '@google/gemini-cli', version: '0.61.0', bin: 'node_modules/.bin/gemini' },
  aider: { registry: 'pypi', pkg: 'aider-chat', version: '0.86.2', bin: 'venv/bin/aider' },
};

/** How long an install may take before the lock of a crashed installer is considered stale. */
const STALE_LOCK_MS = 30 * 60_000;

function log(line: string): void {
  process.stderr.write(`[agent-clis] ${line}\n`);
}

export function agentCliDir(name: AgentCliName, env: NodeJS.ProcessEnv = process.env): string {
  const { version } = AGENT_CLIS[name];
  return join(batonCacheDir(env), 'agent-clis', `${name}-${version}`);
}

/** Written last: a directory without it is an install that did not finish. */
const COMPLETE_MARKER = '.baton-installed';

/** The installed executable, or undefined when it is not (completely) installed yet. */
export function installedAgentCli(name: AgentCliName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = agentCliDir(name, env);
  const bin = join(dir, AGENT_CLIS[name].bin);
  return existsSync(join(dir, COMPLETE_MARKER)) && isExecutable(bin) ? bin : undefined;
}

/**
 * The path of the pinned CLI, installing it first if needed. Several test processes may ask at once: one
 * installs (in place, under a lock; complete once its marker is written), the others wait for it. In place,
 * because a Python virtualenv's scripts name their interpreter by absolute path: a moved venv breaks.
 */
export async function ensureAgentCli(name: AgentCliName, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const existing = installedAgentCli(name, env);
  if (existing) return existing;
  const dir = agentCliDir(name, env);
  const lock = `${dir}.lock`;
  mkdirSync(join(dir, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const installed = installedAgentCli(name, env);
      if (installed) return installed;
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  try {
    const already = installedAgentCli(name, env);
    if (already) return already;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await install(name, dir, env);
    writeFileSync(join(dir, COMPLETE_MARKER), `${AGENT_CLIS[name].pkg}@${AGENT_CLIS[name].version}\n`);
    const bin = installedAgentCli(name, env);
    if (!bin) throw new Error(`installed ${name} but ${join(dir, AGENT_CLIS[name].bin)} is missing`);
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function install(name: AgentCliName, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { registry, pkg, version } = AGENT_CLIS[name];
  const started = Date.now();
  log(`installing ${pkg}@${version} from ${registry === 'npm' ? 'the npm registry' : 'PyPI'} into ${dir} (once; cached after)`);
  const steps: { command: string; args: string[] }[] =
    registry === 'npm'
      ? [{ command: findOnPath('npm', env) ?? 'npm', args: ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `${pkg}@${version}`] }]
      : [
          { command: findOnPath('python3', env) ?? 'python3', args: ['-m', 'venv', join(dir, 'venv')] },
          { command: join(dir, 'venv', 'bin', 'pip'), args: ['install', '--quiet', '--disable-pip-version-check', `${pkg}==${version}`] },
        ];
  for (const step of steps) {
    const code = await runTool(
      {
        command: step.command,
        args: step.args,
        env: { ...env, npm_config_update_notifier: 'false' },
        onLine: (line) => log(`${name}: ${line}`),
        stillRunning: (seconds) => `still installing ${pkg}@${version} (${seconds} s)`,
      },
      log,
    );
    if (code !== 0) throw new Error(`installing ${pkg}@${version} failed: '${step.command} ${step.args.join(' ')}' exited with ${code}`);
  }
  if (!existsSync(join(dir, AGENT_CLIS[name].bin))) throw new Error(`${pkg}@${version} installed no ${AGENT_CLIS[name].bin}`);
  log(`installed ${pkg}@${version} in ${Math.round((Date.now() - started) / 1000)} s`);
}
