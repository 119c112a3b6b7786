/**
 * The gemini preset against the real Gemini CLI (pinned, installed on first use) and a Gemini API stand-in:
 * the CLI's own write_file lands in the worktree, the typed result arrives through the real `baton mcp`, the
 * parser reads usage, progress and the session, the follow-up turn resumes the session, and, in a network
 * namespace with only loopback, nothing connects anywhere but the stand-in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geminiPreset } from '../../activities/agents/presets/gemini';
import { followUpMessage } from '../../activities/agents/presets/prompt';
import type { AgentStage } from '../../workflows/spec';
import { ensureAgentCli } from '../setup/agent-clis';
import { startStandIn, type LoggedRequest, type Scripts, type StandIn } from '../stand-ins/core';
import { handler } from '../stand-ins/gemini';
import { isolationUnavailable } from '../stand-ins/isolation';
import { runIsolated } from './helpers';
import { createRepo, removeTempDirs, statusOf, tempDir } from '../helpers/git';
import { runContext, runInvocation, runPreset } from './run-cli';

const MODEL = 'gemini-2.5-pro';
const USAGE = { inputTokens: 1200, outputTokens: 80 };

/** Scripts by a marker in the prompt; MCP tools are picked by the end of the name Gemini CLI gives them. */
const SCRIPTS: Scripts = [
  {
    match: '[implement-hello]',
    script: {
      usage: USAGE,
      steps: [
        { text: 'Writing the file.', tool: { name: 'write_file' }, input: { file_path: 'hello.txt', content: 'hello\n' } },
        { tool: { endsWith: 'submit_result' }, input: { summary: 'Added hello.txt' } },
        { text: 'Done: added hello.txt.' },
      ],
    },
  },
  {
    match: '[review-typed]',
    script: {
      steps: [
        { tool: { endsWith: 'report_progress' }, input: { message: 'reading the change' } },
        { tool: { endsWith: 'submit_result' }, input: { verdict: 'changes_requested', confidence: 0.8, feedback: 'greet() must handle an empty name.' } },
        { text: 'Submitted my review.' },
      ],
    },
  },
  {
    match: '[review-forgets]',
    script: {
      steps: [
        { text: 'The change looks correct to me.' },
        { tool: { endsWith: 'submit_result' }, input: { verdict: 'approved', confidence: 0.95, feedback: 'Correct and tested.' } },
        { text: 'Submitted.' },
      ],
    },
  },
];

function context(stage: AgentStage, marker: string, workdir: string, baseUrl: string, env: NodeJS.ProcessEnv = {}) {
  return runContext({
    stage,
    prompt: `You are a coding agent working for Baton. Stage: ${stage}. ${marker} Do the stage's work.`,
    workdir,
    runDir: join(tempDir('baton-gemini-run-'), 'run'),
    model: MODEL,
    baseUrl,
    env: { GEMINI_API_KEY: 'stand-in-key', ...env },
  });
}

const conversationRequests = (requests: LoggedRequest[]) => requests.filter((request) => request.path.includes(':streamGenerateContent'));

describe('gemini preset with the real Gemini CLI', () => {
  let gemini: string;
  let standIn: StandIn;

  beforeAll(async () => {
    gemini = await ensureAgentCli('gemini');
    standIn = await startStandIn(handler, { scripts: SCRIPTS });
  }, 15 * 60_000);

  afterAll(async () => {
    await standIn?.close();
    removeTempDirs();
  });

  it("implement: its own write_file edits the worktree, then submit_result records the typed summary", async () => {
    const workdir = createRepo();
    const userHome = tempDir('baton-gemini-user-home-');
    const ctx = context('implement', '[implement-hello]', workdir, standIn.url, { HOME: userHome });
    const run = await runPreset(geminiPreset, ctx, gemini);

    expect(run.exitCode, run.lines.join('\n')).toBe(0);
    expect(readFileSync(join(workdir, 'hello.txt'), 'utf8')).toBe('hello\n');
    // Nothing of Gemini CLI's own (settings, sessions) lands in the worktree or the user's HOME.
    expect(statusOf(workdir)).toBe('?? hello.txt');
    expect(readdirSync(userHome)).toEqual([]);
    expect(run.result).toEqual({ outcome: 'completed', summary: 'Added hello.txt' });
    expect(run.progress).toEqual(['editing hello.txt', 'submitting the result']);
    // Three model turns, each reporting the script's usage; the CLI adds them up.
    expect(run.outcome.usage).toEqual({ inputTokens: 3 * USAGE.inputTokens, outputTokens: 3 * USAGE.outputTokens });
    expect(run.outcome.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.outcome.finalText).toBe('Done: added hello.txt.');
    expect(run.outcome.error).toBeUndefined();

    const first = conversationRequests(standIn.requests).find((request) => JSON.stringify(request.body).includes('[implement-hello]'));
    const declared = (first?.body as { tools: { functionDeclarations: { name: string }[] }[] }).tools.flatMap((tool) => tool.functionDeclarations.map((d) => d.name));
    expect(declared).toEqual(expect.arrayContaining(['write_file', 'replace', 'mcp_baton_submit_result', 'mcp_baton_report_progress', 'mcp_baton_ask_human']));
    expect(first?.headers).toContain('x-goog-api-key');
  }, 180_000);

  it('review: the verdict and confidence arrive typed; report_progress lands in the events file', async () => {
    const workdir = createRepo();
    const ctx = context('review', '[review-typed]', workdir, standIn.url);
    const run = await runPreset(geminiPreset, ctx, gemini);

    expect(run.exitCode, run.lines.join('\n')).toBe(0);
    expect(run.result).toEqual({ outcome: 'changes_requested', confidence: 0.8, feedback: 'greet() must handle an empty name.' });
    expect(run.events).toEqual([expect.objectContaining({ type: 'progress', message: 'reading the change' })]);
    expect(run.progress).toEqual(['submitting the result']);
    expect(statusOf(workdir)).toBe('');
  }, 180_000);

  it('follow-up: a run that ended without submit_result resumes its session and submits there', async () => {
    const workdir = createRepo();
    const ctx = context('review', '[review-forgets]', workdir, standIn.url);
    const first = await runPreset(geminiPreset, ctx, gemini);
    expect(first.exitCode, first.lines.join('\n')).toBe(0);
    expect(first.result).toBeNull();
    expect(first.outcome.finalText).toBe('The change looks correct to me.');

    const message = followUpMessage('review');
    const invocation = await geminiPreset.followUp!(ctx, gemini, first.outcome, message);
    expect(invocation.argv).toEqual(expect.arrayContaining(['--resume', first.outcome.sessionId!]));
    const second = await runInvocation(geminiPreset, ctx, invocation);

    expect(second.exitCode, second.lines.join('\n')).toBe(0);
    expect(second.result).toEqual({ outcome: 'approved', confidence: 0.95, feedback: 'Correct and tested.' });
    expect(second.outcome.sessionId).toBe(first.outcome.sessionId);
    // The resumed conversation carries the first run's answer, then the follow-up message.
    const resumed = conversationRequests(standIn.requests).find((request) => JSON.stringify(request.body).includes(message));
    const contents = (resumed?.body as { contents: { role: string; parts: { text?: string }[] }[] }).contents;
    expect(contents.map((content) => content.role)).toEqual(['user', 'model', 'user']);
    expect(contents[1]!.parts.map((part) => part.text).join('')).toBe('The change looks correct to me.');
    expect(contents[2]!.parts.map((part) => part.text).join('')).toBe(message);
  }, 240_000);

  it('follow-up without a session to resume: a fresh run whose prompt carries the earlier answer and the message', async () => {
    const ctx = context('review', '[review-forgets]', createRepo(), standIn.url);
    const invocation = await geminiPreset.followUp!(ctx, gemini, { finalText: 'It looks fine.' }, 'Call submit_result now.');
    expect(invocation.argv).not.toContain('--resume');
    // The prompt travels on stdin (an argument is capped at 128 KiB).
    expect(invocation.argv[invocation.argv.indexOf('-p') + 1]).toBe('');
    const prompt = invocation.stdin!;
    expect(prompt.startsWith(ctx.prompt)).toBe(true);
    expect(prompt).toContain('It looks fine.');
    expect(prompt.endsWith('Call submit_result now.')).toBe(true);
  });

  const unavailable = isolationUnavailable();
  if (unavailable) console.warn(`[gemini preset] isolation test skipped: ${unavailable}`);

  it.skipIf(unavailable !== null)('isolation: in a namespace with only loopback, every connect() goes to the stand-in', async () => {
    const workdir = createRepo();
    const { run, targets, standIn: only, requests } = await runIsolated({
      preset: geminiPreset,
      cli: gemini,
      protocol: 'gemini',
      scripts: SCRIPTS,
      case: { workdir, runDir: '', context: (baseUrl) => context('implement', '[implement-hello]', workdir, baseUrl) },
    });

    expect(run.exitCode, run.lines.join('\n')).toBe(0);
    expect(readFileSync(join(workdir, 'hello.txt'), 'utf8')).toBe('hello\n');
    expect(run.result).toEqual({ outcome: 'completed', summary: 'Added hello.txt' });
    expect(targets.length).toBeGreaterThan(0);
    expect(new Set(targets)).toEqual(new Set([only]));
    expect(conversationRequests(requests).length).toBeGreaterThan(0);
  }, 240_000);
});
