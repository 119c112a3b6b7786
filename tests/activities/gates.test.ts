import fs from 'node:fs';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { commitStage, createWorkspaceActivities } from '../../activities/git/workspace';
import { gateEnvironment } from '../../activities/gates/gates';
import type { GateCommand, GateRun, RunGateInput, WorkspaceRef } from '../../workflows/workspace';
import {
  commitFilesOnRemote,
  createBareRemote,
  createRepo,
  inActivity,
  newTaskId,
  openTask,
  quietActivityEnvironment,
  readFileAt,
  removeTempDirs,
  revParse,
  runGit,
  statusOf,
  tempDir,
  writeFiles,
} from '../helpers/git';
import { processGone } from '../helpers/processes';

const SECRET = 'ghp_' + 'y'.repeat(36);
const NODE = process.execPath;
/** A task on a fresh repository (with `files`), opened in a fresh home, with a secret pattern of its own. */
async function openGateTask(files: Record<string, string> = {}) {
  const repo = createRepo({ 'README.md': '# gates\n', '.gitignore': 'cache/\n', ...files });
  const home = tempDir('baton-home-');
  const { ref, worktree } = await openTask(home, { path: repo, baseBranch: 'main' }, newTaskId('gate'));
  const workspace: WorkspaceRef = { ...ref, secretPatterns: ['MYCO-[A-Z0-9]{8}'] };
  return { activities: createWorkspaceActivities({ home }), workspace, worktree };
}

function gate(script: string, timeoutMs = 60_000): GateCommand {
  return { run: [NODE, '-e', script], timeoutMs };
}

function gateInput(workspace: WorkspaceRef, name: string, command: GateCommand): RunGateInput {
  return { workspace, name, gate: command, round: 1, on: 'change' };
}

/** Runs the gate activity; returns the environment too, for heartbeats and cancellation. */
function startGate(activities: ReturnType<typeof createWorkspaceActivities>, input: RunGateInput) {
  const env = quietActivityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  const result: Promise<GateRun> = env.run(activities.runGate, input);
  result.catch(() => undefined);
  return { env, heartbeats, result };
}

/** Waits (generously) until the condition holds. */
async function waitFor(condition: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(condition()).toBe(true), { timeout: 20_000, interval: 20 });
}

afterAll(() => removeTempDirs());

describe('quality gates', { timeout: 30_000 }, () => {
  it('passes, with the gate environment set', async () => {
    const { activities, workspace } = await openGateTask();
    const command = gate('console.log([process.env.CI, process.env.BATON_GATE, process.env.BATON_TASK_ID].join(" "))');
    const run = await startGate(activities, gateInput(workspace, 'test', command)).result;
    expect(run).toEqual({
      round: 1,
      name: 'test',
      ok: true,
      exitCode: 0,
      durationMs: expect.any(Number) as number,
      tail: `1 test ${workspace.taskId}`,
      command: command.run,
      commit: workspace.head,
      on: 'change',
    });
  });

  it('fails with the exit code and the last 40 lines of output', async () => {
    const { activities, workspace } = await openGateTask();
    // One stream only: the order of lines across stdout and stderr is the pipes', not the program's.
    const script = 'for (let i = 1; i <= 60; i++) console.log("line " + i); process.exit(3)';
    const run = await startGate(activities, gateInput(workspace, 'lint', gate(script))).result;
    expect(run).toMatchObject({ ok: false, exitCode: 3, name: 'lint' });
    const lines = run.tail.split('\n');
    expect(lines).toHaveLength(40);
    expect(lines[0]).toBe('line 21');
    expect(lines[39]).toBe('line 60');
  });

  it('keeps the tail within 4000 characters', async () => {
    const { activities, workspace } = await openGateTask();
    const script = 'for (let i = 1; i <= 30; i++) console.log(String(i).padStart(4, "0") + "x".repeat(500)); process.exit(1)';
    const run = await startGate(activities, gateInput(workspace, 'test', gate(script))).result;
    expect(run.tail.length).toBeLessThanOrEqual(4000);
    expect(run.tail.endsWith(`0030${'x'.repeat(500)}`)).toBe(true);
    // It starts at a whole line.
    expect(run.tail).toMatch(/^\d{4}x/);
  });

  it('kills a gate that runs out of time', async () => {
    const { activities, workspace } = await openGateTask();
    const pidFile = path.join(tempDir('baton-gate-pid-'), 'pid');
    const script = `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`;
    const run = await startGate(activities, gateInput(workspace, 'test', gate(script, 2000))).result;
    expect(run).toMatchObject({ ok: false, exitCode: null, timedOut: true });
    // A machine too slow to start node within the timeout killed it before it wrote its pid: gone as well.
    await waitFor(() => !fs.existsSync(pidFile) || processGone(Number(fs.readFileSync(pidFile, 'utf8'))));
  });

  it('reports a command that cannot start as not runnable', async () => {
    const { activities, workspace } = await openGateTask({ 'scripts/check.sh': '#!/bin/sh\nexit 0\n' });
    const missing = await startGate(activities, gateInput(workspace, 'test', { run: ['baton-no-such-gate-xyz'], timeoutMs: 60_000 })).result;
    expect(missing).toMatchObject({ ok: false, exitCode: null, notRunnable: true });
    expect(missing.tail).toContain('ENOENT');
    // Committed without the executable bit.
    const notExecutable = await startGate(activities, gateInput(workspace, 'test', { run: ['./scripts/check.sh'], timeoutMs: 60_000 })).result;
    expect(notExecutable).toMatchObject({ ok: false, exitCode: null, notRunnable: true });
  });

  it('redacts secrets in the tail, built-in and from the secret patterns', async () => {
    const { activities, workspace } = await openGateTask();
    const script = `console.log("token=" + ${JSON.stringify(SECRET)}); console.error("key MYCO-ABCD1234 leaked"); process.exit(1)`;
    const run = await startGate(activities, gateInput(workspace, 'test', gate(script))).result;
    expect(run.tail.split('\n').sort()).toEqual(['key [REDACTED custom] leaked', 'token=[REDACTED github-token]']);
  });

  it('leaves the worktree clean after the gate, keeping ignored build caches', async () => {
    const { activities, workspace, worktree } = await openGateTask();
    const script =
      'const fs = require("fs"); fs.writeFileSync("artefact.txt", "x"); fs.writeFileSync("README.md", "changed by the gate");' +
      'fs.mkdirSync("cache", { recursive: true }); fs.writeFileSync("cache/build.bin", "cached")';
    const run = await startGate(activities, gateInput(workspace, 'build', gate(script))).result;
    expect(run.ok).toBe(true);
    expect(statusOf(worktree)).toBe('');
    expect(fs.existsSync(path.join(worktree, 'artefact.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(worktree, 'README.md'), 'utf8')).toBe('# gates\n');
    expect(fs.readFileSync(path.join(worktree, 'cache/build.bin'), 'utf8')).toBe('cached');
    expect(revParse(worktree, 'HEAD')).toBe(workspace.head);
  });

  it('heartbeats while the gate runs and kills it on cancellation', async () => {
    const { activities, workspace, worktree } = await openGateTask();
    const pidFile = path.join(tempDir('baton-gate-pid-'), 'pid');
    const script = `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); require("fs").writeFileSync("junk.txt", "x"); setInterval(() => {}, 1000)`;
    const { env, heartbeats, result } = startGate(activities, gateInput(workspace, 'test', gate(script)));
    await waitFor(() => fs.existsSync(pidFile) && heartbeats.length > 0);
    expect(heartbeats[0]).toMatchObject({ gate: 'test', pid: expect.any(Number) as number });
    env.cancel();
    await expect(result).rejects.toBeInstanceOf(CancelledFailure);
    await waitFor(() => processGone(Number(fs.readFileSync(pidFile, 'utf8'))));
    expect(statusOf(worktree)).toBe('');
  });

  it('runs on the merge commit, recreated on a machine that lacks it, then returns to the branch', async () => {
    const remote = createBareRemote(createRepo({ 'README.md': '# merge gate\n' }));
    const repoRef = { url: remote, baseBranch: 'main' };
    const homeA = tempDir('baton-home-a-');
    const { ref, worktree } = await openTask(homeA, repoRef, newTaskId('merge'));
    writeFiles(worktree, { 'feature.txt': 'feature\n' });
    const committed = await commitStage(worktree, ref, { author: { name: 'a', email: 'a@b' }, message: 'feature' });
    if (committed.kind !== 'committed') throw new Error('expected a commit');
    const workspace = { ...ref, head: committed.change.commit };
    commitFilesOnRemote(remote, 'main', { 'base.txt': 'base moved on\n' });
    const { merge } = await inActivity(createWorkspaceActivities({ home: homeA }).integrate, {
      workspace,
      deliver: 'merge',
      at: '2025-06-01T00:00:00Z',
    });
    expect(merge).toBeDefined();

    const homeB = tempDir('baton-home-b-');
    const check = gate('const fs = require("fs"); fs.accessSync("base.txt"); fs.accessSync("feature.txt"); console.log("both")');
    const run = await startGate(createWorkspaceActivities({ home: homeB }), {
      ...gateInput(workspace, 'test', check),
      on: 'merge',
      merge,
    }).result;
    expect(run).toMatchObject({ ok: true, tail: 'both', on: 'merge', commit: merge!.commit });

    const worktreeB = path.join(homeB, 'worktrees', path.basename(path.dirname(worktree)), workspace.taskId);
    expect(runGit(worktreeB, ['symbolic-ref', 'HEAD'])).toBe(`refs/heads/${workspace.branch}`);
    expect(revParse(worktreeB, 'HEAD')).toBe(workspace.head);
    expect(fs.existsSync(path.join(worktreeB, 'base.txt'))).toBe(false);
    expect(readFileAt(remote, 'main', 'feature.txt')).toBeNull();
  });
});

describe('gateEnvironment', () => {
  it("keeps the worker's environment but its credentials: a gate runs the change's own code", () => {
    const env = gateEnvironment({
      PATH: '/usr/bin',
      HOME: '/home/x',
      NODE_OPTIONS: '--max-old-space-size=512',
      ANTHROPIC_API_KEY: 'a',
      OPENAI_API_KEY: 'b',
      GEMINI_API_KEY: 'c',
      TEMPORAL_API_KEY: 'd',
      GITHUB_TOKEN: 'e',
      AWS_SECRET_ACCESS_KEY: 'f',
      ANTHROPIC_AUTH_TOKEN: 'g',
      DB_PASSWORD: 'h',
      KEYBOARD_LAYOUT: 'us',
      TEMPORAL_TLS_CLIENT_KEY_DATA: '-----BEGIN PRIVATE KEY-----',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/secrets/client.key',
      TEMPORAL_GRPC_META_AUTHORIZATION: 'Bearer x',
      TEMPORAL_ADDRESS: 'cluster:7233',
      DEPLOY_PRIVATE_KEY: 'k',
    });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/x', NODE_OPTIONS: '--max-old-space-size=512', KEYBOARD_LAYOUT: 'us' });
  });
});
