/**
 * The Codex preset against the real, pinned `codex` CLI, the real `baton mcp` and a stand-in OpenAI Responses
 * API whose model is scripted: an implementation patched with Codex's own apply_patch tool and submitted with
 * submit_result, a typed review verdict, the follow-up turn of a run that ended without submit_result, and
 * the implementation again inside a network namespace where nothing but the stand-in is reachable.
 *
 * `gpt-5.5` is a model Codex knows: it offers apply_patch and defers MCP tools behind tool_search (the
 * stand-in searches first, as a real model does). The review uses a name Codex has no metadata for, as a
 * gateway's model would be: then the MCP tools come as the namespace `mcp__baton`, called directly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codexPreset } from '../../activities/agents/presets/codex';
import { followUpMessage } from '../../activities/agents/presets/prompt';
import { ensureAgentCli } from '../setup/agent-clis';
import { removeTempDirs, statusOf } from '../helpers/git';
import { handler } from '../stand-ins/openai-responses';
import type { LoggedRequest, ModelScript, StandIn } from '../stand-ins/core';
import { isolationUnavailable } from '../stand-ins/isolation';
import { CASE_TIMEOUT_MS, LONG_PROMPT_END, longReviewPrompt, presetCase, RUN_TIMEOUT_MS, runIsolated, transcript, withStandIn, type PresetCase } from './helpers';
import { runInvocation, runPreset } from './run-cli';

const MODEL = 'gpt-5.5';
const GATEWAY_MODEL = 'stand-in-gateway-model';
const ENV = { OPENAI_API_KEY: 'sk-stand-in' };
const USAGE = { inputTokens: 1500, outputTokens: 60 };
const SUBMIT = { endsWith: '__submit_result' };
// --strict-config: Codex refuses a config.toml with a key this version does not know.
const ARGS = ['--strict-config'];

const PATCH = [
  '*** Begin Patch',
  '*** Update File: src/greeting.ts',
  '@@',
  "-export const greeting = 'hello';",
  "+export const greeting = 'hello, world';",
  '*** End Patch',
  '',
].join('\n');

const IMPLEMENT: ModelScript = {
  usage: USAGE,
  steps: [
    { text: 'Patching the greeting.', tool: { name: 'apply_patch' }, input: { input: PATCH } },
    { tool: SUBMIT, input: { summary: 'The greeting now says hello, world.' } },
    { text: 'Done: the greeting is patched and the result submitted.' },
  ],
};

let cli: string;
beforeAll(async () => {
  cli = await ensureAgentCli('codex');
}, 15 * 60_000);
afterAll(removeTempDirs);

function implementCase(name: string): PresetCase {
  return presetCase({ stage: 'implement', prompt: `Stage: implement. Case ${name}: make the greeting say hello, world.`, model: MODEL, env: ENV, args: ARGS });
}

/** The stand-in's URL as Codex wants it: the API's base (…/v1), as OpenAI's own is. */
function apiBase(standIn: StandIn): string {
  return `${standIn.url}/v1`;
}

/** The item types of the last request's input: what Codex sent back after the model's calls. */
function lastInputTypes(requests: LoggedRequest[]): string[] {
  const body = requests.at(-1)?.body as { input?: { type?: string }[] } | undefined;
  return (body?.input ?? []).map((item) => item.type ?? '');
}

describe('codex preset with the real CLI', () => {
  it(
    'implements with its own apply_patch tool and submits the typed result, with usage, session and progress',
    async () => {
      const testCase = implementCase('implement-patch');
      const { run, requests } = await withStandIn(handler, [{ match: 'implement-patch', script: IMPLEMENT }], async (standIn) => ({
        run: await runPreset(codexPreset, testCase.context(apiBase(standIn)), cli, RUN_TIMEOUT_MS),
        requests: standIn.requests,
      }));

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(readFileSync(join(testCase.workdir, 'src', 'greeting.ts'), 'utf8')).toBe("export const greeting = 'hello, world';\n");
      // The change and nothing else: Codex leaves no files of its own in the worktree.
      expect(statusOf(testCase.workdir)).toBe(' M src/greeting.ts');
      expect(run.result).toEqual({ outcome: 'completed', summary: 'The greeting now says hello, world.' });
      expect(lastInputTypes(requests)).toEqual(expect.arrayContaining(['custom_tool_call_output', 'tool_search_output', 'function_call_output']));
      // Four model calls (the patch, the tool search, submit_result, the final text), each reporting USAGE.
      expect(run.outcome.usage).toEqual({ inputTokens: 4 * USAGE.inputTokens, outputTokens: 4 * USAGE.outputTokens });
      expect(run.outcome.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(run.outcome.finalText).toBe('Done: the greeting is patched and the result submitted.');
      expect(run.outcome.error).toBeUndefined();
      expect(run.progress).toEqual(['editing src/greeting.ts', 'submitting the result']);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'reviews through the mcp__baton namespace with a prompt too long for an argument: the verdict arrives typed, the worktree is unchanged',
    async () => {
      const testCase = presetCase({ stage: 'review', prompt: longReviewPrompt('review-verdict'), model: GATEWAY_MODEL, env: ENV, args: ARGS });
      const review = { verdict: 'approved', confidence: 0.93, feedback: 'Correct and minimal.', summary: 'Approved.' };
      const script: ModelScript = { steps: [{ tool: SUBMIT, input: review }, { text: 'Review submitted.' }] };
      const { run, requests } = await withStandIn(handler, [{ match: 'review-verdict', script }], async (standIn) => ({
        run: await runPreset(codexPreset, testCase.context(apiBase(standIn)), cli, RUN_TIMEOUT_MS),
        requests: standIn.requests,
      }));

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(JSON.stringify(requests[0]!.body)).toContain(LONG_PROMPT_END);
      expect(run.result).toEqual({ outcome: 'approved', confidence: 0.93, feedback: 'Correct and minimal.', summary: 'Approved.' });
      expect(lastInputTypes(requests)).not.toContain('tool_search_output');
      expect(statusOf(testCase.workdir)).toBe('');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'follows up in the same session when the first run ends without submit_result, counting only its own tokens',
    async () => {
      const testCase = implementCase('follow-up');
      const script: ModelScript = {
        usage: USAGE,
        steps: [
          { text: 'I looked at the code; nothing to change.' },
          { tool: SUBMIT, input: { summary: 'Nothing needed changing.' } },
          { text: 'Submitted.' },
        ],
      };
      await withStandIn(handler, [{ match: 'follow-up', script }], async (standIn) => {
        const ctx = testCase.context(apiBase(standIn));
        const first = await runPreset(codexPreset, ctx, cli, RUN_TIMEOUT_MS);
        expect(first.exitCode, transcript(first)).toBe(0);
        expect(first.result).toBeNull();
        expect(existsSync(ctx.mcp.env.BATON_RESULT_FILE!)).toBe(false);
        expect(first.outcome.finalText).toBe('I looked at the code; nothing to change.');
        expect(first.outcome.usage).toEqual({ inputTokens: USAGE.inputTokens, outputTokens: USAGE.outputTokens });

        const message = followUpMessage('implement');
        const second = await runInvocation(codexPreset, ctx, await codexPreset.followUp!(ctx, cli, first.outcome, message), RUN_TIMEOUT_MS);
        expect(second.exitCode, transcript(second)).toBe(0);
        expect(second.result).toEqual({ outcome: 'completed', summary: 'Nothing needed changing.' });
        expect(second.outcome.sessionId).toBe(first.outcome.sessionId);
        // Codex reports the thread's usage so far; the follow-up's own three calls (search, submit, text) remain.
        expect(second.outcome.usage).toEqual({ inputTokens: 3 * USAGE.inputTokens, outputTokens: 3 * USAGE.outputTokens });
      });
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "ends with the CLI's own error when it cannot start (here: an unknown option among the agent's args)",
    async () => {
      const testCase = presetCase({ stage: 'implement', prompt: 'Stage: implement. Case bad-args.', model: MODEL, env: ENV, args: ['--no-such-option'] });
      const run = await runPreset(codexPreset, testCase.context('http://127.0.0.1:9/v1'), cli, RUN_TIMEOUT_MS);
      expect(run.exitCode).not.toBe(0);
      expect(run.outcome.error).toBe("error: unexpected argument '--no-such-option' found");
    },
    CASE_TIMEOUT_MS,
  );

  const unavailable = isolationUnavailable();
  it.skipIf(unavailable !== null)(
    `implements inside a network namespace and connects to nothing but the stand-in${unavailable ? ` (skipped: ${unavailable})` : ''}`,
    async () => {
      const testCase = implementCase('isolated');
      const { run, targets, standIn, requests } = await runIsolated({
        preset: codexPreset,
        cli,
        protocol: 'openai-responses',
        scripts: [{ match: 'isolated', script: IMPLEMENT }],
        case: { ...testCase, context: (baseUrl) => testCase.context(`${baseUrl}/v1`) },
      });

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(readFileSync(join(testCase.workdir, 'src', 'greeting.ts'), 'utf8')).toBe("export const greeting = 'hello, world';\n");
      expect(run.result).toEqual({ outcome: 'completed', summary: 'The greeting now says hello, world.' });
      expect(requests.filter((request) => request.path === '/v1/responses').length).toBeGreaterThanOrEqual(4);
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets)).toEqual(new Set([standIn]));
    },
    CASE_TIMEOUT_MS,
  );
});

describe('codex output parser', () => {
  const testCase = presetCase({ stage: 'implement', prompt: 'unused', model: MODEL, env: ENV });
  const parse = (events: object[]) => {
    const parser = codexPreset.parser(testCase.context('http://127.0.0.1:9/v1'));
    const progress = events.map((event) => parser.line('stdout', JSON.stringify(event))?.progress).filter(Boolean);
    return { progress, outcome: parser.result() };
  };

  it('shows commands without their shell wrapper, file changes, submit_result and warnings, each once', () => {
    const command = { id: 'item_0', type: 'command_execution', command: "/bin/bash -lc 'npm test'", status: 'in_progress' };
    const { progress } = parse([
      { type: 'item.completed', item: { id: 'item_9', type: 'error', message: 'Model metadata for `x` not found.' } },
      { type: 'item.started', item: command },
      { type: 'item.completed', item: { ...command, status: 'completed', exit_code: 0 } },
      { type: 'item.completed', item: { id: 'item_1', type: 'file_change', changes: [{ path: join(testCase.workdir, 'src', 'a.ts'), kind: 'add' }, { path: '/etc/x', kind: 'update' }] } },
      { type: 'item.started', item: { id: 'item_2', type: 'mcp_tool_call', server: 'baton', tool: 'submit_result' } },
      { type: 'item.started', item: { id: 'item_3', type: 'mcp_tool_call', server: 'baton', tool: 'report_progress' } },
    ]);
    expect(progress).toEqual(['Codex: Model metadata for `x` not found.', 'running npm test', 'editing src/a.ts; editing /etc/x', 'submitting the result']);
  });

  it("reports a failed turn with the model API's last error", () => {
    const { outcome } = parse([
      { type: 'thread.started', thread_id: 'T1' },
      { type: 'error', message: 'Reconnecting... 1/5 (server error)' },
      { type: 'turn.failed', error: { message: 'unexpected status 401 Unauthorized' } },
    ]);
    expect(outcome).toEqual({ sessionId: 'T1', error: 'unexpected status 401 Unauthorized' });
  });
});
