/**
 * Real coding agents end to end: `baton dev` with an agents file whose implementer is Claude Code and whose
 * reviewer is Codex (the real, pinned CLIs), each against a stand-in of its vendor's API with a scripted
 * model, completes a task on a real repository. Claude Code edits a file with its own Write tool and reports
 * through submit_result; Codex's verdict and confidence arrive through submit_result; the branch holds the
 * change; the state shows each agent's tokens and cost (Claude Code's own figure, Codex's from its price).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { ANSWER_REPO_FILES } from '../helpers/answer-repo';
import { createBareRemote, createRepo, readFileAt, removeTempDirs, runGit, tempDir } from '../helpers/git';
import { ensureAgentCli } from '../setup/agent-clis';
import { handler as anthropic } from '../stand-ins/anthropic';
import { startStandIn, type StandIn } from '../stand-ins/core';
import { handler as openaiResponses } from '../stand-ins/openai-responses';

const SUBMIT = { endsWith: '__submit_result' };

describe('baton dev with Claude Code implementing and Codex reviewing', () => {
  let dev: BatonDev;
  let claudeModel: StandIn;
  let codexModel: StandIn;

  beforeAll(async () => {
    const [claude, codex] = await Promise.all([ensureAgentCli('claude-code'), ensureAgentCli('codex')]);
    claudeModel = await startStandIn(anthropic, {
      scripts: [
        {
          match: 'Stage: implement',
          script: {
            usage: { inputTokens: 1200, outputTokens: 80 },
            steps: [
              // Claude Code's Write refuses to overwrite a file the model has not read first.
              { text: 'Reading the current answer.', tool: { name: 'Read' }, input: { file_path: '{{workdir}}/answer.txt' } },
              { text: 'Writing the answer.', tool: { name: 'Write' }, input: { file_path: '{{workdir}}/answer.txt', content: '42\n' } },
              { tool: SUBMIT, input: { summary: 'answer.txt now holds the answer, 42.' } },
              { text: 'Done.' },
            ],
          },
        },
      ],
    });
    codexModel = await startStandIn(openaiResponses, {
      scripts: [
        {
          match: 'Stage: review',
          script: {
            usage: { inputTokens: 3000, outputTokens: 40 },
            steps: [{ tool: SUBMIT, input: { verdict: 'approved', confidence: 0.93, feedback: 'The answer is right and the test gate passed.' } }, { text: 'Reviewed.' }],
          },
        },
      ],
    });
    const dir = tempDir('baton-coding-agents-');
    const agentsFile = join(dir, 'agents.yaml');
    writeFileSync(
      agentsFile,
      [
        'agents:',
        '  - name: claude',
        '    roles: [implement]',
        '    preset: claude-code',
        '    model: claude-sonnet-4-5',
        `    baseUrl: ${claudeModel.url}`,
        `    bin: [${JSON.stringify(claude)}]`,
        '    env: { ANTHROPIC_API_KEY: "${STAND_IN_ANTHROPIC_KEY}" }',
        '  - name: codex',
        '    roles: [review]',
        '    preset: codex',
        '    model: stand-in-gateway-model',
        `    baseUrl: ${codexModel.url}/v1`,
        `    bin: [${JSON.stringify(codex)}]`,
        '    price: { inputUsdPerMTok: 1.25, outputUsdPerMTok: 10 }',
        '    env: { OPENAI_API_KEY: "${STAND_IN_OPENAI_KEY}" }',
        '',
      ].join('\n'),
    );
    // The keys live in the environment of the machine, never in the file.
    dev = await startBatonDev(['--agents', agentsFile], { STAND_IN_ANTHROPIC_KEY: 'sk-ant-stand-in', STAND_IN_OPENAI_KEY: 'sk-stand-in' });
  }, 15 * 60_000);

  afterAll(async () => {
    await dev?.interrupt();
    await Promise.all([claudeModel?.close(), codexModel?.close()]);
    removeTempDirs();
  });

  it('completes a task on a real repository with typed results, tokens and cost', async () => {
    const remote = createBareRemote(createRepo(ANSWER_REPO_FILES));
    const created = await dev.request<{ taskId: string }>('POST', '/tasks', {
      id: 'T-agents-1',
      title: 'Answer the question',
      goal: 'answer.txt holds the answer',
      acceptanceCriteria: ['answer.txt says 42'],
      agents: { implement: 'claude', review: 'codex' },
      repo: { url: remote },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const state = await dev.waitForTask('T-agents-1', (s) => s.status === 'completed' || s.status === 'escalated', 300_000);

    expect(state.status, JSON.stringify(state.timeline.slice(-8), null, 2)).toBe('completed');
    const implement = state.results.find((r) => r.stage === 'implement')!;
    const review = state.results.find((r) => r.stage === 'review')!;
    // Claude Code's own Write tool changed the file; its result came through submit_result.
    expect(implement).toMatchObject({ agent: 'claude', outcome: 'completed', summary: 'answer.txt now holds the answer, 42.' });
    expect(readFileAt(remote, 'baton/T-agents-1', 'answer.txt')).toBe('42\n');
    expect(runGit(remote, ['log', '--format=%an', 'main..baton/T-agents-1'])).toBe('claude');
    expect(state.gates.map((g) => `${g.name}:${g.ok}`)).toEqual(['test:true']);
    // Codex's verdict and confidence, typed, about the commit Claude made.
    expect(review).toMatchObject({ agent: 'codex', outcome: 'approved', confidence: 0.93, reviewedCommit: state.branch!.head });
    // Tokens of each agent; Claude Code's cost is its own figure, Codex's comes from the agent's price table.
    expect(implement.usage!.inputTokens).toBeGreaterThanOrEqual(4 * 1200);
    expect(implement.usage!.costUsd).toBeGreaterThan(0);
    expect(review.usage).toEqual({ inputTokens: 2 * 3000, outputTokens: 2 * 40, costUsd: (6000 * 1.25 + 80 * 10) / 1e6 });
    expect(state.cost.costUsd).toBeCloseTo(implement.usage!.costUsd + review.usage!.costUsd, 6);
    expect(state.cost.inputTokens).toBe(implement.usage!.inputTokens + review.usage!.inputTokens);
    console.log(
      `[coding-agents] claude implement: ${JSON.stringify(implement.usage)}; codex review: ${JSON.stringify(review.usage)}; task cost ${JSON.stringify(state.cost)}`,
    );
    // The models were really asked: Claude Code by the Anthropic API, Codex by the Responses API.
    expect(claudeModel.requests.some((r) => r.path.startsWith('/v1/messages'))).toBe(true);
    expect(codexModel.requests.some((r) => r.path.startsWith('/v1/responses'))).toBe(true);
  }, 360_000);
});
