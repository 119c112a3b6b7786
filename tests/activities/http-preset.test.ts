/**
 * The `http` preset against the OpenAI chat-completions stand-in: the verdict and the definition arrive only
 * as a typed `submit_result` tool call; one follow-up turn; retries with backoff on 429/5xx; a client error
 * is a misconfiguration; usage priced from the agent's price table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { createPresetAgentActivities } from '../../activities/agents/preset-agent';
import type { AgentConfig } from '../../activities/agents/config';
import type { AgentRunInput, AgentRunResult } from '../../workflows/agent-protocol';
import { TaskSpecSchema, type AgentStage } from '../../workflows/spec';
import { quietActivityEnvironment } from '../helpers/git';
import { startStandIn, writeJson, type ModelStep, type ProtocolHandler, type StandIn } from '../stand-ins/core';
import { handler as chatHandler } from '../stand-ins/openai-chat';

const standIns: StandIn[] = [];
afterEach(async () => {
  await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
});

async function chatStandIn(steps: ModelStep[], front?: (next: ProtocolHandler) => ProtocolHandler): Promise<StandIn> {
  const standIn = await startStandIn(front ? front(chatHandler) : chatHandler, { scripts: [{ match: '', script: { steps, usage: { inputTokens: 2000, outputTokens: 500 } } }] });
  standIns.push(standIn);
  return standIn;
}

function judge(standIn: StandIn, roles: AgentStage[] = ['review', 'define']): AgentConfig {
  return {
    name: 'judge',
    roles,
    capabilities: [],
    maxConcurrent: 1,
    preset: 'http',
    model: 'gpt-4o',
    baseUrl: `${standIn.url}/v1`,
    price: { inputUsdPerMTok: 2.5, outputUsdPerMTok: 10 },
    env: { OPENAI_API_KEY: '${HTTP_PRESET_TEST_KEY}' },
    baseDir: os.tmpdir(),
  };
}

function run(agent: AgentConfig, stage: AgentStage) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-http-preset-'));
  const taskId = `T-http-${path.basename(home)}`;
  const input: AgentRunInput = {
    workflowId: `task-${taskId}`,
    agent: agent.name,
    signOfLifeEveryMs: 60_000,
    context: {
      taskId,
      stage,
      round: 1,
      task: { ...TaskSpecSchema.parse({ title: 'Rate limit the login', goal: 'at most 5 attempts a minute' }), id: taskId },
      definition: null,
      feedback: [],
      notes: [],
      results: [],
    },
  };
  const activities = createPresetAgentActivities({ agent, home, signalWorkflow: async () => undefined });
  return { result: quietActivityEnvironment().run<[AgentRunInput], AgentRunResult, typeof activities.runAgent>(activities.runAgent, input) };
}

const verdict = (input: Record<string, unknown>): ModelStep => ({ tool: { name: 'submit_result' }, input });

describe('http preset', () => {
  it('takes a review verdict and its confidence from the submit_result tool call, with tokens priced', async () => {
    process.env.HTTP_PRESET_TEST_KEY = 'test-key';
    const standIn = await chatStandIn([verdict({ verdict: 'changes_requested', confidence: 0.8, feedback: 'count attempts per account, not per IP' })]);
    const { result } = run(judge(standIn), 'review');
    const report = await result;

    expect(report).toMatchObject({
      outcome: 'changes_requested',
      confidence: 0.8,
      feedback: 'count attempts per account, not per IP',
      usage: { inputTokens: 2000, outputTokens: 500, costUsd: 0.01 },
    });
    const [request] = standIn.requests;
    const body = request!.body as { tools: { function: { name: string; parameters: { properties: Record<string, unknown> } } }[]; messages: { content: string }[] };
    expect(body.tools.map((tool) => tool.function.name)).toEqual(['submit_result']);
    expect(Object.keys(body.tools[0]!.function.parameters.properties).sort()).toEqual(['confidence', 'feedback', 'summary', 'verdict']);
    expect(body.messages[1]!.content).toContain('Stage: review');
    expect(body.messages[1]!.content).toContain('Rate limit the login');
    // The key came from the machine's environment through `${...}`, and went as a bearer token.
    expect(request!.headers).toContain('authorization');
  });

  it('takes a definition from the define stage\'s submit_result', async () => {
    const standIn = await chatStandIn([verdict({ goal: 'Limit login attempts', acceptanceCriteria: ['5 per minute per account', 'a 429 with Retry-After'] })]);
    const report = await run(judge(standIn), 'define').result;
    expect(report).toMatchObject({ outcome: 'completed', definition: { goal: 'Limit login attempts', acceptanceCriteria: ['5 per minute per account', 'a 429 with Retry-After'] } });
  });

  it('asks once more when the model answers with text, then fails the attempt if it still does not call the tool', async () => {
    const again = await chatStandIn([{ text: 'Looks good to me!' }, verdict({ verdict: 'approved', confidence: 0.95, feedback: 'fine' })]);
    const { result } = run(judge(again), 'review');
    const approved = await result;
    expect(approved).toMatchObject({ outcome: 'approved', confidence: 0.95 });
    expect(again.requests).toHaveLength(2);
    const second = again.requests[1]!.body as { messages: { role: string; content: string }[] };
    expect(second.messages.at(-1)!.content).toContain('without calling the submit_result tool');
    // The agent log tells the story (progress signals to the workflow are throttled).
    const log = fs.readFileSync(approved.logFile!, 'utf8');
    expect(log).toContain('out| Looks good to me!');
    expect(log).toContain('answered without submit_result: asking once more');

    const never = await chatStandIn([{ text: 'Approved.' }]);
    const failure = await run(judge(never), 'review').result.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('AgentFailed');
    expect((failure as ApplicationFailure).message).toContain('without calling submit_result, also after a follow-up');
  });

  it('retries 503 and 429 with backoff (Retry-After honoured) and then succeeds', async () => {
    let failures = 0;
    const flaky = await chatStandIn([verdict({ verdict: 'approved', confidence: 0.99, feedback: 'ok' })], (next) => (request, res) => {
      if (failures < 2) {
        failures += 1;
        res.setHeader('retry-after', '0');
        return writeJson(res, failures === 1 ? 503 : 429, { error: { message: 'busy' } });
      }
      return next(request, res);
    });
    expect(await run(judge(flaky), 'review').result).toMatchObject({ outcome: 'approved' });
    expect(flaky.requests).toHaveLength(3);
  });

  it('does not retry a client error: a wrong key or model is AgentMisconfigured', async () => {
    const refusing = await chatStandIn([], () => (_request, res) => writeJson(res, 401, { error: { message: 'invalid api key' } }));
    const failure = await run(judge(refusing), 'review').result.catch((error: unknown) => error);
    expect((failure as ApplicationFailure).type).toBe('AgentMisconfigured');
    expect((failure as ApplicationFailure).message).toContain('401');
    expect(refusing.requests).toHaveLength(1);
  });

  it('fails the attempt when the tool call breaks the stage\'s schema', async () => {
    const sloppy = await chatStandIn([verdict({ verdict: 'maybe', confidence: 7, feedback: 'hm' })]);
    const failure = await run(judge(sloppy), 'review').result.catch((error: unknown) => error);
    expect((failure as ApplicationFailure).type).toBe('AgentFailed');
    expect((failure as ApplicationFailure).message).toMatch(/verdict: .*confidence: /);
  });
});
