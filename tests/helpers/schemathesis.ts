/**
 * Schemathesis, the property-based API tester from PyPI, pinned and installed once into a virtualenv in
 * Baton's cache (never a project dependency), with pip's progress.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { batonCacheDir, findOnPath, runTool } from '../../temporal/cli';

export const SCHEMATHESIS_VERSION = '4.32.5';

export async function ensureSchemathesis(log: (line: string) => void): Promise<string> {
  const venv = join(batonCacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const bin = join(venv, 'bin', 'schemathesis');
  if (existsSync(bin)) return bin;
  const python = findOnPath('python3', process.env);
  if (!python) throw new Error('schemathesis needs Python 3 (python3 on PATH) with venv');
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${venv} (once; cached after)`);
  const step = async (command: string, args: string[]) => {
    const code = await runTool(
      { command, args, env: process.env, onLine: (line) => log(`pip: ${line}`), stillRunning: (s) => `still installing schemathesis (${s} s)` },
      log,
    );
    if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${code}`);
  };
  await step(python, ['-m', 'venv', venv]);
  await step(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--progress-bar', 'off', `schemathesis==${SCHEMATHESIS_VERSION}`]);
  return bin;
}
