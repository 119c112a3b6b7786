/**
 * The aider preset against real Aider (pinned, installed on first use) and a Chat Completions stand-in: the
 * scripted model answers with a SEARCH/REPLACE edit block, Aider applies it to the worktree and commits
 * nothing (Baton commits), the parser reads tokens, cost, progress and the reply; and, in a network namespace
 * with only loopback, nothing connects anywhere but the stand-in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiderPreset } from '../../activities/agents/presets/aider';
import { ensureAgentCli } from '../setup/agent-clis';
import { startStandIn, type Scripts, type StandIn } from '../stand-ins/core';
import { isolationUnavailable } from '../stand-ins/isolation';
import { runIsolated } from './helpers';
import { handler } from '../stand-ins/openai-chat';
import { createRepo, removeTempDirs, revParse, statusOf, tempDir } from '../helpers/git';
import { runContext, runPreset } from './run-cli';

/** A model LiteLLM's bundled price table knows, so Aider computes a cost. */
const MODEL = 'gpt-4o';
const MARKER = '[implement-greeting]';

/** Aider's default edit format for gpt-4o: the file name, then a fenced SEARCH/REPLACE block. */
const EDIT_REPLY = [
  'I will change the greeting.',
  '',
  'greet.py',
  '```python',
  '<<<<<<< SEARCH',
  '    return "hello"',
  '=======',
  '    return "hello, world"',
  '>>>>>>> REPLACE',
  '```',
  '',
  'Changed the greeting to "hello, world".',
].join('\n');

const SCRIPTS: Scripts = [{ match: MARKER, script: { steps: [{ text: EDIT_REPLY }] } }];

function context(workdir: string, baseUrl: string, userHome: string) {
  return runContext({
    stage: 'implement',
    prompt: `You are a coding agent working for Baton. Stage: implement. ${MARKER} Make greet() return "hello, world".`,
    workdir,
    runDir: join(tempDir('baton-aider-run-'), 'run'),
    model: MODEL,
    baseUrl,
    // The user's HOME: Aider must leave it alone.
    env: { OPENAI_API_KEY: 'sk-stand-in', HOME: userHome },
  });
}

const repoFiles = { 'greet.py': 'def greet():\n    return "hello"\n' };

describe('aider preset with real Aider', () => {
  let aider: string;
  let standIn: StandIn;

  beforeAll(async () => {
    aider = await ensureAgentCli('aider');
    standIn = await startStandIn(handler, { scripts: SCRIPTS });
  }, 15 * 60_000);

  afterAll(async () => {
    await standIn?.close();
    removeTempDirs();
  });

  it('implement: the edit block lands in the worktree, nothing is committed, tokens and cost are read', async () => {
    const workdir = createRepo(repoFiles);
    const initial = revParse(workdir, 'HEAD');
    const userHome = tempDir('baton-aider-user-home-');
    const ctx = context(workdir, `${standIn.url}/v1`, userHome);
    const run = await runPreset(aiderPreset, ctx, aider, 180_000);

    expect(run.exitCode, run.lines.join('\n')).toBe(0);
    expect(readFileSync(join(workdir, 'greet.py'), 'utf8')).toBe('def greet():\n    return "hello, world"\n');
    // No commit by Aider, and nothing else left for Baton to commit (histories, .gitignore, the map cache).
    expect(revParse(workdir, 'HEAD')).toBe(initial);
    expect(statusOf(workdir)).toBe(' M greet.py');
    expect(readdirSync(userHome)).toEqual([]);

    expect(run.progress).toContain('edited greet.py');
    expect(run.outcome.error).toBeUndefined();
    expect(run.outcome.finalText).toBe('I will change the greeting.\n\nChanged the greeting to "hello, world".');
    // Aider counts the tokens of a streamed reply itself, and prices them from LiteLLM's table.
    const usage = run.outcome.usage!;
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(usage.costUsd).toBeGreaterThan(0);
    // The reply is a report, not a typed result: the driver reads the clean exit and the final text.
    expect(run.result).toBeNull();

    const chats = standIn.requests.filter((request) => request.path === '/v1/chat/completions');
    expect(chats.length).toBeGreaterThan(0);
    for (const chat of chats) expect(chat.body).toMatchObject({ model: MODEL, stream: true });
    expect(chats[0]!.headers).toContain('authorization');
  }, 240_000);

  it('the parser reads thousands, cache reports, the session cost and API errors', () => {
    const parser = aiderPreset.parser(context(createRepo(), 'http://127.0.0.1:9/v1', tempDir('baton-aider-user-home-')));
    for (const line of [
      'Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 1.5k received.',
      'Cost: $0.12 message, $0.34 session.',
      'Tokens: 950 sent, 42 received. Cost: $0.0069 message, $0.35 session.',
      'litellm.RateLimitError: RateLimitError: OpenAIException - slow down',
      'please',
      '',
    ]) {
      parser.line('stdout', line);
    }
    expect(parser.result()).toMatchObject({
      usage: { inputTokens: 12_950, outputTokens: 1_542, costUsd: 0.35 },
      error: 'litellm.RateLimitError: RateLimitError: OpenAIException - slow down please',
    });
    // A reply after the error: Aider retried, and the run went on.
    parser.line('stdout', 'Tokens: 1.0k sent, 10 received.');
    expect(parser.result().error).toBeUndefined();
  });

  const unavailable = isolationUnavailable();
  if (unavailable) console.warn(`[aider preset] isolation test skipped: ${unavailable}`);

  it.skipIf(unavailable !== null)('isolation: in a namespace with only loopback, every connect() goes to the stand-in', async () => {
    const workdir = createRepo(repoFiles);
    const userHome = tempDir('baton-aider-user-home-');
    const { run, targets, standIn: only, requests } = await runIsolated({
      preset: aiderPreset,
      cli: aider,
      protocol: 'openai-chat',
      scripts: SCRIPTS,
      case: { workdir, runDir: '', context: (baseUrl) => context(workdir, `${baseUrl}/v1`, userHome) },
    });

    expect(run.exitCode, run.lines.join('\n')).toBe(0);
    expect(readFileSync(join(workdir, 'greet.py'), 'utf8')).toContain('hello, world');
    expect(targets.length).toBeGreaterThan(0);
    expect(new Set(targets)).toEqual(new Set([only]));
    expect(requests.some((request) => request.path === '/v1/chat/completions')).toBe(true);
  }, 240_000);
});
