/**
 * The `http` preset: an OpenAI-compatible chat-completions endpoint (a local model server, a gateway) as a
 * define or review agent. It cannot edit files; it gets the whole stage prompt (for a review, the diff) and
 * must answer with a `submit_result` tool call, typed per stage exactly as `baton mcp` offers it. Retries
 * with backoff on 429 and 5xx (honouring Retry-After); one follow-up turn when it answers without the call.
 */
import { z } from 'zod';
import type { AgentReport } from '../../../workflows/agent-protocol';
import { submitResultSchema, SUBMIT_RESULT_DESCRIPTION, submissionReport } from '../../../mcp/submit-result';
import { throwIfCancelled } from '../../process';
import type { AgentRunEnd, Attempt } from '../attempt';
import { runUsage } from './usage';
import { followUpMessage, stagePrompt } from './prompt';
import type { CliUsage } from './types';

/** Environment variables that may carry the endpoint's key (a local server usually needs none). */
export const HTTP_KEY_ENV = ['BATON_HTTP_API_KEY', 'OPENAI_API_KEY'] as const;
const MAX_TRIES = 6;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10 * 60_000;

interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

interface ChatResponse {
  choices?: { message?: ChatMessage; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

const SYSTEM = 'You are a careful senior software engineer acting as one stage of Baton, an orchestrator of coding agents. You answer by calling the submit_result tool.';

export async function runHttpPreset(attempt: Attempt, fetchImpl: typeof fetch = fetch): Promise<AgentRunEnd> {
  const { agent, context } = attempt;
  const started = performance.now();
  const endpoint = `${agent.baseUrl!.replace(/\/+$/, '')}/chat/completions`;
  const key = HTTP_KEY_ENV.map((name) => attempt.env[name]).find(Boolean);
  const schema = submitResultSchema(context.stage);
  const tools = [{ type: 'function', function: { name: 'submit_result', description: SUBMIT_RESULT_DESCRIPTION[context.stage], parameters: z.toJSONSchema(schema) } }];
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: stagePrompt(context, { typedResults: true, canEdit: false }) },
  ];
  const usages: CliUsage[] = [];
  for (let turn = 1; turn <= 2; turn++) {
    attempt.progress(turn === 1 ? `asking ${agent.model} at ${new URL(endpoint).host}` : `${agent.model} answered without submit_result: asking once more`);
    const response = await postChat(attempt, fetchImpl, endpoint, key, { model: agent.model, messages, tools, tool_choice: 'auto', stream: false });
    usages.push({ inputTokens: response.usage?.prompt_tokens, outputTokens: response.usage?.completion_tokens });
    const message = response.choices?.[0]?.message;
    const call = message?.tool_calls?.find((candidate) => candidate.function.name === 'submit_result');
    if (call) {
      const report = parseSubmission(attempt, call.function.arguments);
      const usage = runUsage(agent, usages);
      return { report: { ...report, ...(usage ? { usage } : {}) }, exitCode: 0, durationMs: Math.round(performance.now() - started) };
    }
    if (message?.content) attempt.output('stdout', message.content);
    messages.push({ role: 'assistant', content: message?.content ?? '' }, { role: 'user', content: followUpMessage(context.stage) });
  }
  throw attempt.failed(`agent ${agent.name} (http, ${agent.model}) answered without calling submit_result, also after a follow-up turn asking for it`, null);
}

function parseSubmission(attempt: Attempt, text: string): AgentReport {
  let args: unknown;
  try {
    args = JSON.parse(text);
  } catch {
    throw attempt.failed(`agent ${attempt.agent.name} called submit_result with arguments that are not JSON`, null);
  }
  const parsed = submitResultSchema(attempt.context.stage).safeParse(args);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw attempt.failed(`agent ${attempt.agent.name} called submit_result with invalid arguments: ${issues}`, null);
  }
  return submissionReport(attempt.context.stage, parsed.data);
}

/** One chat completion, retried with backoff on 429, 5xx and network errors; heartbeats and honours cancellation. */
async function postChat(attempt: Attempt, fetchImpl: typeof fetch, endpoint: string, key: string | undefined, body: object): Promise<ChatResponse> {
  let lastProblem = '';
  for (let tryNumber = 1; tryNumber <= MAX_TRIES; tryNumber++) {
    throwIfCancelled(attempt.cancellationSignal);
    attempt.heartbeat({ endpoint, try: tryNumber });
    let retryAfterMs: number | undefined;
    try {
      const response = await fetchImpl(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.any([attempt.cancellationSignal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      attempt.signOfLife();
      if (response.ok) return (await response.json()) as ChatResponse;
      const text = (await response.text()).slice(0, 500);
      lastProblem = `${response.status} ${response.statusText}: ${text}`;
      if (response.status !== 429 && response.status < 500) {
        // A client error (bad model name, bad key) does not get better by asking again.
        throw attempt.misconfigured(`agent ${attempt.agent.name} (http): ${endpoint} answered ${lastProblem}`);
      }
      retryAfterMs = retryAfter(response.headers.get('retry-after'));
    } catch (error) {
      if (attempt.cancellationSignal.aborted) throwIfCancelled(attempt.cancellationSignal);
      if (error instanceof Error && error.name === 'ApplicationFailure') throw error;
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    if (tryNumber === MAX_TRIES) break;
    const backoff = Math.min(MAX_BACKOFF_MS, retryAfterMs ?? FIRST_BACKOFF_MS * 2 ** (tryNumber - 1));
    attempt.warn('Chat endpoint failed, retrying', { endpoint, try: tryNumber, backoffMs: backoff, problem: lastProblem });
    await sleepUnlessCancelled(backoff, attempt.cancellationSignal);
  }
  throw attempt.failed(`agent ${attempt.agent.name} (http): ${endpoint} failed ${MAX_TRIES} times; last: ${lastProblem}`, null);
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleepUnlessCancelled(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
