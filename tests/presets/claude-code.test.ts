/**
 * The Claude Code preset against the real, pinned `claude` CLI, the real `baton mcp` and a stand-in Anthropic
 * API whose model is scripted: an implementation written with Claude Code's own Write tool and submitted with
 * submit_result, a typed review verdict, the follow-up turn of a run that ended without submit_result, and
 * the implementation again inside a network namespace where nothing but the stand-in is reachable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeCodePreset } from '../../activities/agents/presets/claude-code';
import { followUpMessage } from '../../activities/agents/presets/prompt';
import { ensureAgentCli } from '../setup/agent-clis';
import { removeTempDirs, statusOf } from '../helpers/git';
import { handler } from '../stand-ins/anthropic';
import type { ModelScript } from '../stand-ins/core';
import { isolationUnavailable } from '../stand-ins/isolation';
import { CASE_TIMEOUT_MS, LONG_PROMPT_END, longReviewPrompt, presetCase, RUN_TIMEOUT_MS, runIsolated, transcript, withStandIn, type PresetCase } from './helpers';
import { runInvocation, runPreset } from './run-cli';

const MODEL = 'claude-sonnet-4-5';
const ENV = { ANTHROPIC_API_KEY: 'sk-ant-stand-in' };
const USAGE = { inputTokens: 1200, outputTokens: 80 };
const SUBMIT = { endsWith: '__submit_result' };

let cli: string;
beforeAll(async () => {
  cli = await ensureAgentCli('claude-code');
}, 15 * 60_000);
afterAll(removeTempDirs);

/** A script that writes `src/hello.ts` in the case's worktree with Write, then submits. */
function implementScript(workdir: string): ModelScript {
  return {
    usage: USAGE,
    steps: [
      { text: 'Adding the hello module.', tool: { name: 'Write' }, input: { file_path: join(workdir, 'src', 'hello.ts'), content: "export const hello = 'world';\n" } },
      { tool: SUBMIT, input: { summary: 'Added src/hello.ts exporting hello.' } },
      { text: 'Done: src/hello.ts is in place and the result is submitted.' },
    ],
  };
}

function implementCase(name: string): PresetCase {
  return presetCase({ stage: 'implement', prompt: `Stage: implement. Case ${name}: add src/hello.ts.`, model: MODEL, env: ENV });
}

describe('claude-code preset with the real CLI', () => {
  it(
    'implements with its own Write tool and submits the typed result, with usage, cost, session and progress',
    async () => {
      const testCase = implementCase('implement-write');
      const run = await withStandIn(handler, [{ match: 'implement-write', script: implementScript(testCase.workdir) }], ({ url }) =>
        runPreset(claudeCodePreset, testCase.context(url), cli, RUN_TIMEOUT_MS),
      );

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(readFileSync(join(testCase.workdir, 'src', 'hello.ts'), 'utf8')).toBe("export const hello = 'world';\n");
      // The change and nothing else: Claude Code leaves no files of its own in the worktree.
      expect(statusOf(testCase.workdir)).toBe('?? src/hello.ts');
      expect(run.result).toEqual({ outcome: 'completed', summary: 'Added src/hello.ts exporting hello.' });
      // Three model calls (Write, submit_result, the final text), each reporting USAGE.
      expect(run.outcome.usage).toMatchObject({ inputTokens: 3 * USAGE.inputTokens, outputTokens: 3 * USAGE.outputTokens });
      expect(run.outcome.usage?.costUsd).toBeGreaterThan(0);
      expect(run.outcome.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(run.outcome.finalText).toBe('Done: src/hello.ts is in place and the result is submitted.');
      expect(run.outcome.error).toBeUndefined();
      expect(run.progress).toEqual(['editing src/hello.ts', 'submitting the result']);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'reviews a change whose prompt is too long for an argument: the verdict and confidence arrive typed, the worktree is unchanged',
    async () => {
      const testCase = presetCase({ stage: 'review', prompt: longReviewPrompt('review-verdict'), model: MODEL, env: ENV });
      const review = { verdict: 'changes_requested', confidence: 0.82, feedback: 'Export a function, not a constant, and add a test.' };
      const script: ModelScript = { steps: [{ tool: SUBMIT, input: review }, { text: 'Review submitted.' }] };
      const { run, requests } = await withStandIn(handler, [{ match: 'review-verdict', script }], async (standIn) => ({
        run: await runPreset(claudeCodePreset, testCase.context(standIn.url), cli, RUN_TIMEOUT_MS),
        requests: standIn.requests,
      }));

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(JSON.stringify(requests[0]!.body)).toContain(LONG_PROMPT_END);
      expect(run.result).toEqual({ outcome: 'changes_requested', confidence: 0.82, feedback: review.feedback });
      expect(statusOf(testCase.workdir)).toBe('');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'follows up in the same session when the first run ends without submit_result, counting only its own cost',
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
      await withStandIn(handler, [{ match: 'follow-up', script }], async ({ url }) => {
        const ctx = testCase.context(url);
        const first = await runPreset(claudeCodePreset, ctx, cli, RUN_TIMEOUT_MS);
        expect(first.exitCode, transcript(first)).toBe(0);
        expect(first.result).toBeNull();
        expect(existsSync(ctx.mcp.env.BATON_RESULT_FILE!)).toBe(false);
        expect(first.outcome.finalText).toBe('I looked at the code; nothing to change.');
        expect(first.outcome.sessionId).toBeDefined();

        const message = followUpMessage('implement');
        const second = await runInvocation(claudeCodePreset, ctx, await claudeCodePreset.followUp!(ctx, cli, first.outcome, message), RUN_TIMEOUT_MS);
        expect(second.exitCode, transcript(second)).toBe(0);
        expect(second.result).toEqual({ outcome: 'completed', summary: 'Nothing needed changing.' });
        expect(second.outcome.sessionId).toBe(first.outcome.sessionId);
        // The follow-up made two model calls; the session's earlier one is not counted again.
        expect(second.outcome.usage).toMatchObject({ inputTokens: 2 * USAGE.inputTokens, outputTokens: 2 * USAGE.outputTokens });
        expect(second.outcome.usage!.costUsd!).toBeCloseTo(2 * first.outcome.usage!.costUsd!, 9);
      });
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "ends with the CLI's own error when it cannot start (here: an unknown option among the agent's args)",
    async () => {
      const testCase = presetCase({ stage: 'implement', prompt: 'Stage: implement. Case bad-args.', model: MODEL, env: ENV, args: ['--no-such-option'] });
      const run = await runPreset(claudeCodePreset, testCase.context('http://127.0.0.1:9'), cli, RUN_TIMEOUT_MS);
      expect(run.exitCode).not.toBe(0);
      expect(run.outcome.error).toBe("error: unknown option '--no-such-option'");
    },
    CASE_TIMEOUT_MS,
  );

  const unavailable = isolationUnavailable();
  it.skipIf(unavailable !== null)(
    `implements inside a network namespace and connects to nothing but the stand-in${unavailable ? ` (skipped: ${unavailable})` : ''}`,
    async () => {
      const testCase = implementCase('isolated');
      const { run, targets, standIn, requests } = await runIsolated({
        preset: claudeCodePreset,
        cli,
        protocol: 'anthropic',
        scripts: [{ match: 'isolated', script: implementScript(testCase.workdir) }],
        case: testCase,
      });

      expect(run.exitCode, transcript(run)).toBe(0);
      expect(readFileSync(join(testCase.workdir, 'src', 'hello.ts'), 'utf8')).toBe("export const hello = 'world';\n");
      expect(run.result).toEqual({ outcome: 'completed', summary: 'Added src/hello.ts exporting hello.' });
      expect(requests.filter((request) => request.path.startsWith('/v1/messages')).length).toBeGreaterThanOrEqual(3);
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets)).toEqual(new Set([standIn]));
    },
    CASE_TIMEOUT_MS,
  );
});

describe('claude-code output parser', () => {
  const ctx = presetCase({ stage: 'implement', prompt: 'unused', model: MODEL, env: ENV }).context('http://127.0.0.1:9');
  const parse = (events: object[]) => {
    const parser = claudeCodePreset.parser(ctx);
    const progress = events.map((event) => parser.line('stdout', JSON.stringify(event))?.progress).filter(Boolean);
    return { progress, outcome: parser.result() };
  };

  it('shows model API retries, refused tools and shell commands as progress', () => {
    const { progress } = parse([
      { type: 'system', subtype: 'api_retry', attempt: 2, max_retries: 10, error_status: 529, error: 'overloaded' },
      { type: 'system', subtype: 'permission_denied', tool_name: 'Write', decision_reason: 'Path is outside allowed working directories' },
      { type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'npm test -- --run' } }] } },
      { type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Read', input: { file_path: '/etc/hosts' } }] } },
    ]);
    expect(progress).toEqual([
      'model API error (529 overloaded), retry 2/10',
      'Claude Code refused Write: Path is outside allowed working directories',
      'running npm test -- --run',
    ]);
  });

  it("reports a failed result as an error, and leaves out the cost Claude Code guessed for a model it does not know", () => {
    const { outcome } = parse([
      { type: 'system', subtype: 'init', session_id: 'S1' },
      {
        type: 'result',
        subtype: 'error_max_turns',
        is_error: true,
        session_id: 'S1',
        total_cost_usd: 0.5,
        model_usage_since_last_result: {
          'gateway-model': { inputTokens: 100, cacheReadInputTokens: 20, cacheCreationInputTokens: 5, outputTokens: 7, costUSD: 0.5, costBasis: 'unknown' },
        },
      },
    ]);
    expect(outcome).toEqual({ sessionId: 'S1', usage: { inputTokens: 125, outputTokens: 7 }, error: 'error_max_turns' });
  });
});
