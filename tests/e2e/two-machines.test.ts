/**
 * No shared filesystem: the coder and the reviewer run as separate `baton agent` processes with homes and
 * working directories of their own, and share nothing but the bare remote of `repo.url`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentsFile } from '../../activities/agents/config';
import { startAgentProcess, stopAgentProcesses, type AgentProcess } from '../helpers/agent-process';
import { ANSWER_REPO_FILES, WRONG_THEN_RIGHT } from '../helpers/answer-repo';
import { createBareRemote, createRepo, readFileAt, removeTempDirs, revParse, runGit, tempDir } from '../helpers/git';
import { FIXTURE_AGENTS_DIR, startStack, type TestStack } from '../helpers/stack';

const AGENTS_FILE = path.join(FIXTURE_AGENTS_DIR, 'repo-agents.yaml');

describe('two agent machines that share only the remote', () => {
  let stack: TestStack;
  const machines: AgentProcess[] = [];
  const homes = { coder: '', reviewer: '' };

  beforeAll(async () => {
    stack = await startStack({ agents: [], remoteAgents: loadAgentsFile(AGENTS_FILE).agents });
    for (const name of ['coder', 'reviewer'] as const) {
      homes[name] = tempDir(`baton-machine-${name}-`);
      machines.push(await startAgentProcess(stack, { agentsFile: AGENTS_FILE, name, home: homes[name] }));
    }
  });
  afterAll(async () => {
    stopAgentProcesses(machines);
    await stack?.stop();
    removeTempDirs();
  });

  it('hands the branch from the coder to the reviewer through the remote', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const taskId = stack.taskId('T-machines');
    await stack.tasks.start({
      id: taskId,
      title: 'two machines',
      goal: 'answer 42',
      acceptanceCriteria: ['the test gate passes'],
      agents: { implement: 'coder', review: 'reviewer' },
      repo: { url: remote },
      context: { script: WRONG_THEN_RIGHT },
    });
    const state = await stack.waitFor(taskId, (s) => s.status === 'completed' || s.status === 'escalated', 90_000);

    expect(state.status).toBe('completed');
    expect(state.gates.map((g) => `${g.round}:${g.ok}`)).toEqual(['1:false', '2:true']);
    const review = state.results.find((r) => r.stage === 'review')!;
    const seen = JSON.parse(review.summary!) as { workdir: string; head: string };
    // The reviewer worked in its own home, at the commit the coder pushed.
    expect(seen.workdir.startsWith(homes.reviewer)).toBe(true);
    expect(seen.head).toBe(state.branch!.head);
    expect(review.reviewedCommit).toBe(state.branch!.head);
    for (const home of [homes.coder, homes.reviewer]) {
      const clones = fs.readdirSync(path.join(home, 'repos'));
      expect(clones).toHaveLength(1);
      // Each machine's clone fetched the task's branch from the remote.
      expect(runGit(path.join(home, 'repos', clones[0]!), ['rev-parse', `refs/remotes/origin/baton/${taskId}`])).toBe(state.branch!.head);
    }
    expect(revParse(remote, `baton/${taskId}`)).toBe(state.branch!.head);
    expect(readFileAt(remote, `baton/${taskId}`, 'answer.txt')).toBe('42\n');
    expect(runGit(remote, ['log', '--format=%an', `main..baton/${taskId}`]).split('\n')).toEqual(['coder', 'coder']);
  });
});
