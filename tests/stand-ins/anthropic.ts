/**
 * Stand-in for the Anthropic Messages API as Claude Code uses it: `POST /v1/messages?beta=true` with
 * `stream: true` (SSE: message_start, content_block_start/delta/stop for text and tool_use, message_delta
 * with the stop reason and usage, message_stop), non-streaming answers, token counting, and a bare 200 for
 * any probe (`HEAD /`).
 *
 * The conversation's script is chosen by the text of its first user message (Claude Code puts its own
 * `<system-reminder>` blocks before the prompt in that message; the match looks at all of its text), and
 * the turn is the number of assistant messages already in `messages`.
 *
 * Claude Code can make calls of its own beside the conversation (a quota probe, title or topic calls to a
 * small model); 2.1.330 in `-p` mode with the preset's settings was seen to send none. Such calls offer no
 * tools, while every turn of the agent's loop offers its tools: a request without tools is answered with a
 * short text and neither consults nor advances a script.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { scriptFor, selectTool, stepAt, usageOf, writeJson, writeSse, type ProtocolHandler, type StandInRequest } from './core';

interface ContentBlock {
  type: string;
  text?: string;
}

interface Message {
  role: string;
  content: string | ContentBlock[];
}

interface MessagesRequest {
  model?: string;
  stream?: boolean;
  messages?: Message[];
  tools?: { name?: string }[];
}

type OutputBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

/** What a side request (one without tools) gets: harmless text that is no result of any stage. */
const SIDE_ANSWER = 'OK';

/** The Anthropic Messages protocol. */
// Async so that a script error (no matching script, a tool not offered) becomes the stand-in's 500 answer.
export const handler: ProtocolHandler = async (request, res) => {
  if (request.method !== 'POST') return void writeJson(res, 200, {});
  const path = request.path.split('?')[0]!;
  const body = (request.body ?? {}) as MessagesRequest;
  if (path === '/v1/messages/count_tokens') return void writeJson(res, 200, { input_tokens: roughTokens(body) });
  if (path !== '/v1/messages') {
    return void writeJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `the stand-in does not serve ${path}` } });
  }
  answerMessages(request, body, res);
};

function answerMessages(request: StandInRequest, body: MessagesRequest, res: ServerResponse): void {
  const offered = (body.tools ?? []).map((tool) => tool.name).filter((name): name is string => typeof name === 'string');
  const messages = body.messages ?? [];
  let blocks: OutputBlock[];
  let usage = { inputTokens: 10, outputTokens: 1 };
  if (offered.length === 0) {
    blocks = [{ type: 'text', text: SIDE_ANSWER }];
  } else {
    const script = scriptFor(request.scripts, firstUserText(messages));
    const step = stepAt(script, messages.filter((message) => message.role === 'assistant').length);
    usage = usageOf(script);
    blocks = step.text ? [{ type: 'text', text: step.text }] : [];
    if ('tool' in step) blocks.push({ type: 'tool_use', id: `toolu_${randomUUID()}`, name: selectTool(step.tool, offered), input: step.input });
  }
  const message = {
    id: `msg_${randomUUID()}`,
    type: 'message',
    role: 'assistant',
    model: body.model ?? 'stand-in',
    stop_sequence: null,
  };
  const stopReason = blocks.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn';
  const fullUsage = { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (!body.stream) return void writeJson(res, 200, { ...message, content: blocks, stop_reason: stopReason, usage: fullUsage });

  const events: { event: string; data: unknown }[] = [];
  const send = (event: string, data: Record<string, unknown>) => events.push({ event, data: { type: event, ...data } });
  // Input tokens arrive with message_start, output tokens with message_delta, as the real API reports them.
  send('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...fullUsage, output_tokens: 1 } } });
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      // The input arrives as JSON text (the real API sends it in pieces), never as the block's `input`.
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.outputTokens } });
  send('message_stop', {});
  writeSse(res, events);
}

/** The text of the conversation's first user message: a string, or its text blocks joined. */
function firstUserText(messages: Message[]): string {
  const content = messages.find((message) => message.role === 'user')?.content ?? '';
  if (typeof content === 'string') return content;
  return content
    .filter((block) => block.type === 'text')
    .map((block) => block.text ?? '')
    .join('\n');
}

/** About four characters a token: enough for a client that only sizes its context with it. */
function roughTokens(body: MessagesRequest): number {
  return Math.max(1, Math.ceil(JSON.stringify(body.messages ?? []).length / 4));
}
