/**
 * Stand-in for OpenAI Chat Completions (`POST /v1/chat/completions`), streaming (SSE `chat.completion.chunk`s
 * ending with `[DONE]`, usage in a last chunk when `stream_options.include_usage`) and not (one
 * `chat.completion`). The script is chosen by the first user message, and the turn is the number of
 * assistant messages after it; for a client that puts canned exchanges before the prompt (Aider), the
 * conversation starts at the first user message a script names (see `conversationStart`).
 *
 * A tool step answers with `tool_calls` (finish_reason `tool_calls`) for the offered function its selector
 * names; a text step answers with content. Clients without function calling (Aider edits through edit blocks
 * in its replies) get text steps only: their script's text is the edit block.
 *
 * Side calls do not advance the script: Aider's commit-message and chat-summary requests (recognised by their
 * system prompts) get a short plausible answer. `GET /v1/models` lists a couple of model names for a client
 * that asks.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type ModelScript, type ProtocolHandler, type Scripts, scriptFor, selectTool, stepAt, usageOf, writeJson, writeSse } from './core';

type ContentPart = { type: string; text?: string };

interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
}

interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  tools?: { type: string; function?: { name: string } }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface Answer {
  content: string | null;
  toolCalls: ToolCall[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/**
 * Side calls, by their system prompt in Aider's own words (and never with tools): the commit message its weak
 * model writes when it commits, and the summary of a chat grown too long.
 */
const SIDE_CALLS: { system: RegExp; answer: string }[] = [
  { system: /one-line Git commit messages/i, answer: 'fix: apply the requested change' },
  { system: /summarize this partial conversation/i, answer: 'I asked you to make a change to the code, and you made it.' },
];

/** The OpenAI Chat Completions protocol (see the module comment). */
export const handler: ProtocolHandler = ({ method, path, body, scripts }, res) => {
  const route = path.split('?')[0]!;
  if (method === 'POST' && route.endsWith('/chat/completions')) return completion(scripts, body ?? {}, res);
  if (method === 'GET' && /\/models\/?$/.test(route)) {
    return writeJson(res, 200, { object: 'list', data: ['gpt-4o', 'gpt-4o-mini'].map((id) => ({ id, object: 'model', created: 0, owned_by: 'stand-in' })) });
  }
  return openAiError(res, 404, `the chat-completions stand-in does not serve ${method} ${path}`);
};

function completion(scripts: Scripts, request: ChatRequest, res: ServerResponse): void {
  let answer: Answer;
  try {
    answer = answerFor(scripts, request);
  } catch (error) {
    // A 400 fails the client at once; a 5xx would be retried with backoff.
    return openAiError(res, 400, `stand-in script: ${error instanceof Error ? error.message : String(error)}`);
  }
  const meta = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: request.model ?? 'stand-in' };
  const finishReason = answer.toolCalls.length > 0 ? 'tool_calls' : 'stop';
  if (!request.stream) {
    return writeJson(res, 200, {
      ...meta,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: answer.content, ...(answer.toolCalls.length ? { tool_calls: answer.toolCalls } : {}) }, finish_reason: finishReason }],
      usage: answer.usage,
    });
  }
  const chunk = (delta: object, finish: string | null = null) => ({ ...meta, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
  const chunks: object[] = [chunk({ role: 'assistant', content: '' })];
  // Text in a few pieces, as a streaming client has to put them together.
  for (const piece of splitText(answer.content ?? '')) chunks.push(chunk({ content: piece }));
  answer.toolCalls.forEach((call, index) => {
    chunks.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    chunks.push(chunk({ tool_calls: [{ index, function: { arguments: call.function.arguments } }] }));
  });
  chunks.push(chunk({}, finishReason));
  if (request.stream_options?.include_usage) chunks.push({ ...meta, object: 'chat.completion.chunk', choices: [], usage: answer.usage });
  writeSse(res, [...chunks.map((data) => ({ data })), { data: '[DONE]' }]);
}

function answerFor(scripts: Scripts, request: ChatRequest): Answer {
  const messages = request.messages ?? [];
  const system = messages.filter((message) => message.role === 'system').map(textOf).join('\n');
  const side = request.tools?.length ? undefined : SIDE_CALLS.find((call) => call.system.test(system));
  if (side) return { content: side.answer, toolCalls: [], usage: tokens(estimateTokens(messages), 10) };

  const { script, start } = conversationStart(scripts, messages);
  const turn = messages.slice(start).filter((message) => message.role === 'assistant').length;
  const step = stepAt(script, turn);
  const { inputTokens, outputTokens } = usageOf(script);
  const usage = tokens(inputTokens, outputTokens);
  if (!('tool' in step)) return { content: step.text, toolCalls: [], usage };
  const offered = (request.tools ?? []).flatMap((tool) => (tool.function ? [tool.function.name] : []));
  const name = selectTool(step.tool, offered);
  return { content: step.text ?? null, toolCalls: [{ id: `call_${turn}_0`, type: 'function', function: { name, arguments: JSON.stringify(step.input) } }], usage };
}

/**
 * The script and the message where the scripted conversation starts: the first user message that a script
 * with a non-empty `match` names, else the first user message. Aider puts canned exchanges before the prompt
 * (its repository map and the files in the chat, each acknowledged by a fixed assistant reply), so neither its
 * first user message nor all its assistant messages belong to the script.
 */
function conversationStart(scripts: Scripts, messages: ChatMessage[]): { script: ModelScript; start: number } {
  for (const [index, message] of messages.entries()) {
    if (message.role !== 'user') continue;
    const text = textOf(message);
    const named = scripts.find((entry) => entry.match !== '' && text.includes(entry.match));
    if (named) return { script: named.script, start: index };
  }
  const start = messages.findIndex((message) => message.role === 'user');
  return { script: scriptFor(scripts, textOf(messages[start])), start: Math.max(start, 0) };
}

function textOf(message: ChatMessage | undefined): string {
  const content = message?.content;
  if (typeof content === 'string') return content;
  return (content ?? []).map((part) => part.text ?? '').join('\n');
}

function splitText(text: string): string[] {
  if (text === '') return [];
  const middle = text.indexOf('\n', Math.floor(text.length / 2));
  return middle === -1 ? [text] : [text.slice(0, middle + 1), text.slice(middle + 1)].filter(Boolean);
}

function tokens(prompt: number, completion: number): Answer['usage'] {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** About four characters a token. */
function estimateTokens(messages: ChatMessage[]): number {
  return Math.max(1, Math.ceil(messages.map(textOf).join('\n').length / 4));
}

function openAiError(res: ServerResponse, status: number, message: string): void {
  writeJson(res, status, { error: { message, type: status === 404 ? 'not_found_error' : 'invalid_request_error', param: null, code: null } });
}
