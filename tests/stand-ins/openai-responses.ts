/**
 * Stand-in for the OpenAI Responses API as Codex uses it: `POST /v1/responses` with `stream: true` (SSE:
 * response.created, response.in_progress, output_item.added/done around text, function-call and custom-tool
 * deltas, response.completed with usage), or one JSON response without `stream`.
 *
 * A tool step becomes a `custom_tool_call` when the offered tool is a custom (free-form) tool, as Codex's
 * `apply_patch` is (the step's `input.input` is the patch text), else a `function_call` with the input as its
 * JSON arguments. Codex offers MCP tools as a `namespace` tool (`mcp__baton` holding `submit_result`); the
 * selector sees those as `<namespace>__<tool>` (`mcp__baton__submit_result`, as Claude Code names them) and
 * the call carries `namespace`.
 *
 * For a model its built-in catalog says supports tool search (in 0.169.0: gpt-5.5 and newer), Codex does not
 * list MCP tools: it defers them behind its client-side `tool_search` tool. When a step's tool is not offered but `tool_search` is, the
 * stand-in answers first with a `tool_search_call` for it, as a real model does; Codex runs the search and
 * sends the found tools back in a `tool_search_output` item, from where the step then calls it.
 *
 * The script is chosen by the user text before the model's first output (Codex sends its environment and
 * instructions as user messages of their own ahead of the prompt); the turn is the number of model answers
 * already in `input` (a run of consecutive model items, e.g. a message and a tool call, is one answer), not
 * counting the stand-in's own tool searches.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { scriptFor, selectTool, stepAt, usageOf, writeJson, writeSse, type ModelStep, type ProtocolHandler, type StandInRequest, type ToolSelector } from './core';

interface InputItem {
  type?: string;
  role?: string;
  content?: string | { type?: string; text?: string }[];
  /** The tools a `tool_search_output` item loaded. */
  tools?: OfferedTool[];
}

interface OfferedTool {
  type?: string;
  name?: string;
  tools?: OfferedTool[];
}

interface ResponsesRequest {
  model?: string;
  stream?: boolean;
  input?: string | InputItem[];
  tools?: OfferedTool[];
}

/** A tool as the selector sees it, and how to call it. */
interface CallableTool {
  qualifiedName: string;
  name: string;
  namespace?: string;
  custom: boolean;
}

type OutputItem = Record<string, unknown> & { id: string; type: string };

/** Items the model produced (as opposed to user messages and tool outputs the client adds). */
const MODEL_ITEM_TYPES = new Set(['message:assistant', 'reasoning', 'function_call', 'custom_tool_call', 'local_shell_call', 'tool_search_call', 'web_search_call']);

/** The OpenAI Responses protocol. */
// Async so that a script error (no matching script, a tool not offered) becomes the stand-in's 500 answer.
export const handler: ProtocolHandler = async (request, res) => {
  if (request.method !== 'POST') return void writeJson(res, 200, {});
  const path = request.path.split('?')[0]!;
  if (path !== '/v1/responses') {
    return void writeJson(res, 404, { error: { type: 'invalid_request_error', message: `the stand-in does not serve ${path}` } });
  }
  answerResponses(request, res);
};

function answerResponses(request: StandInRequest, res: ServerResponse): void {
  const body = (request.body ?? {}) as ResponsesRequest;
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : (body.input ?? []);
  const script = scriptFor(request.scripts, openingUserText(input));
  const usage = usageOf(script);
  const response = {
    id: `resp_${randomUUID()}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model: body.model ?? 'stand-in',
    status: 'completed',
    output: modelOutput(stepAt(script, modelAnswers(input)), body, input),
    usage: {
      input_tokens: usage.inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.inputTokens + usage.outputTokens,
    },
  };
  if (body.stream) writeSse(res, streamEvents(response));
  else writeJson(res, 200, response);
}

/** The output items of one step: its text and tool call, or first a search for a deferred tool. */
function modelOutput(step: ModelStep, body: ResponsesRequest, input: InputItem[]): OutputItem[] {
  const tools = callableTools([...(body.tools ?? []), ...input.flatMap((item) => (item.type === 'tool_search_output' ? (item.tools ?? []) : []))]);
  const names = tools.map((tool) => tool.qualifiedName);
  const searchable = (body.tools ?? []).some((tool) => tool.type === 'tool_search');
  if ('tool' in step && searchable && !offers(step.tool, names)) {
    const query = (step.tool.name ?? step.tool.endsWith ?? '').replace(/^_+/, '');
    return [{ id: `tsc_${randomUUID()}`, type: 'tool_search_call', call_id: `call_${randomUUID()}`, status: 'completed', execution: 'client', arguments: { query } }];
  }
  const output: OutputItem[] = [];
  if (step.text) {
    output.push({ id: `msg_${randomUUID()}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: step.text, annotations: [] }] });
  }
  if ('tool' in step) {
    const tool = tools.find((candidate) => candidate.qualifiedName === selectTool(step.tool, names))!;
    const call = { status: 'completed', call_id: `call_${randomUUID()}`, name: tool.name, ...(tool.namespace ? { namespace: tool.namespace } : {}) };
    output.push(
      tool.custom
        ? { id: `ctc_${randomUUID()}`, type: 'custom_tool_call', ...call, input: customInput(step.input) }
        : { id: `fc_${randomUUID()}`, type: 'function_call', ...call, arguments: JSON.stringify(step.input) },
    );
  }
  return output;
}

/** A whole response as the SSE events of its stream: each item added, its text or arguments, done; then completed. */
function streamEvents(response: { output: OutputItem[] }): { event: string; data: unknown }[] {
  const events: { event: string; data: unknown }[] = [];
  const send = (event: string, data: Record<string, unknown>) => events.push({ event, data: { type: event, sequence_number: events.length, ...data } });
  const pending = { ...response, status: 'in_progress', output: [], usage: null };
  send('response.created', { response: pending });
  send('response.in_progress', { response: pending });
  response.output.forEach((item, output_index) => {
    const item_id = item.id;
    if (item.type === 'message') {
      const text = (item.content as { text: string }[])[0]!.text;
      const part = { item_id, output_index, content_index: 0 };
      send('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      send('response.content_part.added', { ...part, part: { type: 'output_text', text: '', annotations: [] } });
      send('response.output_text.delta', { ...part, delta: text });
      send('response.output_text.done', { ...part, text });
      send('response.content_part.done', { ...part, part: { type: 'output_text', text, annotations: [] } });
    } else if (item.type === 'custom_tool_call') {
      const text = item.input as string;
      send('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', input: '' } });
      send('response.custom_tool_call_input.delta', { item_id, output_index, delta: text });
      send('response.custom_tool_call_input.done', { item_id, output_index, input: text });
    } else if (item.type === 'function_call') {
      const args = item.arguments as string;
      send('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      send('response.function_call_arguments.delta', { item_id, output_index, delta: args });
      send('response.function_call_arguments.done', { item_id, output_index, arguments: args });
    } else {
      send('response.output_item.added', { output_index, item });
    }
    send('response.output_item.done', { output_index, item });
  });
  send('response.completed', { response });
  return events;
}

/** The offered tools by the names a selector uses: namespaced tools as `<namespace>__<tool>`. */
function callableTools(offered: OfferedTool[]): CallableTool[] {
  return offered.flatMap((tool): CallableTool[] => {
    if (tool.type === 'namespace' && tool.name) {
      return (tool.tools ?? [])
        .filter((inner) => inner.name)
        .map((inner) => ({ qualifiedName: `${tool.name}__${inner.name}`, name: inner.name!, namespace: tool.name, custom: inner.type === 'custom' }));
    }
    const name = tool.name ?? tool.type;
    return name ? [{ qualifiedName: name, name, custom: tool.type === 'custom' }] : [];
  });
}

/** A custom tool takes free text: the step's `input.input` (for apply_patch, the patch). */
function customInput(input: Record<string, unknown>): string {
  if (typeof input.input !== 'string') throw new Error(`a custom tool call needs its text as input.input, got ${JSON.stringify(input)}`);
  return input.input;
}

/** Whether the selector names one of `names`. */
function offers(selector: ToolSelector, names: string[]): boolean {
  try {
    selectTool(selector, names);
    return true;
  } catch {
    return false;
  }
}

function itemKind(item: InputItem): string {
  return item.type === 'message' || (item.type === undefined && item.role) ? `message:${item.role}` : (item.type ?? '');
}

/** The model answers in a conversation so far: runs of consecutive model items, except runs of tool searches only. */
function modelAnswers(input: InputItem[]): number {
  let answers = 0;
  let run: string[] = [];
  // The sentinel ends the last run.
  for (const item of [...input, { type: 'end' }]) {
    const kind = itemKind(item);
    if (MODEL_ITEM_TYPES.has(kind)) {
      run.push(kind);
      continue;
    }
    if (run.some((type) => type !== 'tool_search_call')) answers += 1;
    run = [];
  }
  return answers;
}

/** The text of every user message before the model's first output. */
function openingUserText(input: InputItem[]): string {
  const texts: string[] = [];
  for (const item of input) {
    const kind = itemKind(item);
    if (MODEL_ITEM_TYPES.has(kind)) break;
    if (kind !== 'message:user') continue;
    if (typeof item.content === 'string') texts.push(item.content);
    else for (const part of item.content ?? []) if (typeof part.text === 'string') texts.push(part.text);
  }
  return texts.join('\n');
}
