/**
 * `baton demo-repo [DIR]`: a throw-away repository for the README's walkthrough — a small Node project
 * (implement slugify so its tests pass) with a `.baton.yaml`, published as a bare remote that Baton's
 * agents reach through `repo.url`, exactly as a team's real remote.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { git } from '../activities/git/git';

export const DEMO_TEMPLATE_DIR = resolve(__dirname, '..', 'agents', 'demo-repo');

export interface DemoRepo {
  dir: string;
  /** The bare repository: the `repo.url` of the walkthrough's task. */
  remote: string;
}

const DEMO_AUTHOR = { GIT_AUTHOR_NAME: 'Baton demo', GIT_AUTHOR_EMAIL: 'demo@baton.invalid', GIT_COMMITTER_NAME: 'Baton demo', GIT_COMMITTER_EMAIL: 'demo@baton.invalid' };

/** Creates `<dir>/remote.git` holding the demo project on `main`; refuses to touch a directory that is not empty. */
export async function createDemoRepo(dir: string): Promise<DemoRepo> {
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0) throw new Error(`${target} exists and is not empty: pick a new directory`);
  mkdirSync(target, { recursive: true });
  const seed = mkdtempSync(join(tmpdir(), 'baton-demo-seed-'));
  try {
    cpSync(DEMO_TEMPLATE_DIR, seed, { recursive: true });
    // Kept as `gitignore` in Baton's own tree so it does not apply there.
    renameSync(join(seed, 'gitignore'), join(seed, '.gitignore'));
    await git(['init', '--quiet', '--initial-branch=main'], { cwd: seed });
    await git(['add', '--all'], { cwd: seed });
    await git(['commit', '--quiet', '--message', 'baton-demo: slugify stub, tests and gates'], { cwd: seed, env: DEMO_AUTHOR });
    const remote = join(target, 'remote.git');
    await git(['clone', '--quiet', '--bare', seed, remote], { cwd: target });
    return { dir: target, remote };
  } finally {
    rmSync(seed, { recursive: true, force: true });
  }
}

/** What `baton demo-repo` prints: the walkthrough's next commands. */
export function demoInstructions(repo: DemoRepo, apiUrl = 'http://127.0.0.1:3000'): string {
  const spec = JSON.stringify({ id: 'DEMO-1', title: 'Implement slugify', repo: { url: repo.remote, baseBranch: 'main' } });
  return [
    `demo repository: ${repo.remote} (bare; branch main: a slugify stub, its tests, .baton.yaml with lint and test gates)`,
    '',
    'next:',
    '  npm run dev        # in another terminal, if it is not running yet',
    `  curl -s -X POST ${apiUrl}/tasks -H 'content-type: application/json' -d '${spec}'`,
    `  curl -s ${apiUrl}/tasks/DEMO-1 | jq '{status, round, gates, branch}'`,
    `  git --git-dir ${repo.remote} log --oneline main..baton/DEMO-1`,
  ].join('\n');
}
