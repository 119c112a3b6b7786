/**
 * Stand-in for the Gemini API as Gemini CLI uses it (`generativelanguage` v1beta, `x-goog-api-key`):
 *
 * - `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` is the agent's conversation: it answers from the
 *   script. The turn is the number of `model` entries in `contents` (a resumed session carries its earlier
 *   turns, so a follow-up run continues the same script); the script is chosen by the text of the first user
 *   entry (Gemini CLI puts its `<session_context>` and the prompt there as two text parts).
 * - `POST ...:generateContent` is only used by Gemini CLI for side calls (model routing, next-speaker and loop
 *   checks, edit correction, summaries): answered without advancing the script, with an object filling the
 *   requested JSON schema when there is one.
 * - `POST ...:countTokens` and `GET /v1beta/models[/MODEL]` get plausible answers.
 *
 * Tool steps answer with a `functionCall` part for the declared function the step's selector names: Gemini
 * CLI's own tools (`write_file`, `replace`) or MCP tools, which it declares as `mcp_<server>_<tool>`
 * (`mcp_baton_submit_result`).
 */
import type { ServerResponse } from 'node:http';
import { type ProtocolHandler, type Scripts, scriptFor, selectTool, stepAt, usageOf, writeJson, writeSse } from './core';

interface Part {
  text?: string;
  thought?: boolean;
  functionCall?: { name: string; args: Record<string, unknown> };
  functionResponse?: unknown;
}

interface Content {
  role?: string;
  parts?: Part[];
}

interface GenerateRequest {
  contents?: Content[];
  tools?: { functionDeclarations?: { name: string }[] }[];
  generationConfig?: { responseMimeType?: string; responseJsonSchema?: JsonSchema; responseSchema?: JsonSchema };
}

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
}

/** `/v1beta/models/gemini-2.5-pro:streamGenerateContent` -> model and method. */
const MODEL_METHOD = /^\/v1(?:beta|alpha)?\/models\/([^/:?]+):([A-Za-z]+)/;
const MODEL_INFO = /^\/v1(?:beta|alpha)?\/models(?:\/([^/:?]+))?(?:\?|$)/;

/** The Gemini API as Gemini CLI uses it (see the module comment). */
export const handler: ProtocolHandler = ({ method, path, body, scripts }, res) => {
  const call = MODEL_METHOD.exec(path);
  if (method === 'POST' && call) {
    const [, model, action] = call as unknown as [string, string, string];
    const request = (body ?? {}) as GenerateRequest;
    switch (action) {
      case 'streamGenerateContent':
        return conversationTurn(scripts, model, request, res, path.includes('alt=sse'));
      case 'generateContent':
        return writeJson(res, 200, sideAnswer(model, request));
      case 'countTokens':
        return writeJson(res, 200, { totalTokens: estimateTokens(request) });
    }
  }
  const info = method === 'GET' ? MODEL_INFO.exec(path) : null;
  if (info) {
    const describe = (name: string) => ({ name: `models/${name}`, displayName: name, inputTokenLimit: 1_048_576, outputTokenLimit: 65_536, supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'] });
    return writeJson(res, 200, info[1] ? describe(info[1]) : { models: [describe('gemini-2.5-pro'), describe('gemini-2.5-flash')] });
  }
  return googleError(res, 404, 'NOT_FOUND', `the Gemini stand-in does not serve ${method} ${path}`);
};

/** One answer of the scripted conversation, streamed (SSE) or as one JSON array like the real API without `alt=sse`. */
function conversationTurn(scripts: Scripts, model: string, request: GenerateRequest, res: ServerResponse, sse: boolean): void {
  const contents = request.contents ?? [];
  let chunks: object[];
  try {
    const firstUser = contents.find((content) => content.role === 'user');
    const script = scriptFor(scripts, textOf(firstUser));
    const turn = contents.filter((content) => content.role === 'model').length;
    const step = stepAt(script, turn);
    const offered = (request.tools ?? []).flatMap((tool) => (tool.functionDeclarations ?? []).map((declaration) => declaration.name));
    const parts: Part[] = [];
    if (step.text) parts.push({ text: step.text });
    if ('tool' in step) parts.push({ functionCall: { name: selectTool(step.tool, offered), args: step.input } });
    const { inputTokens, outputTokens } = usageOf(script);
    const usageMetadata = { promptTokenCount: inputTokens, candidatesTokenCount: outputTokens, totalTokenCount: inputTokens + outputTokens };
    // Like the real API: parts arrive over several chunks; the last one carries the finish reason and the usage.
    chunks = parts.map((part, index) => ({
      candidates: [{ content: { role: 'model', parts: [part] }, index: 0, ...(index === parts.length - 1 ? { finishReason: 'STOP' } : {}) }],
      ...(index === parts.length - 1 ? { usageMetadata } : {}),
      modelVersion: model,
      responseId: `standin-${turn}`,
    }));
  } catch (error) {
    // A 400 fails the CLI at once; a 5xx would be retried with backoff for minutes.
    return googleError(res, 400, 'INVALID_ARGUMENT', `stand-in script: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (sse) return writeSse(res, chunks.map((data) => ({ data })));
  return writeJson(res, 200, chunks);
}

/** A side call (routing, checks, summaries): a neutral answer, shaped by the requested JSON schema if any. */
function sideAnswer(model: string, request: GenerateRequest): object {
  const schema = request.generationConfig?.responseJsonSchema ?? request.generationConfig?.responseSchema;
  const wantsJson = schema !== undefined || request.generationConfig?.responseMimeType === 'application/json';
  const text = wantsJson ? JSON.stringify(schema ? exampleOf(schema) : {}) : 'OK.';
  return {
    candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: estimateTokens(request), candidatesTokenCount: 10, totalTokenCount: estimateTokens(request) + 10 },
    modelVersion: model,
  };
}

/** The first value a JSON schema allows: the first enum member, an empty string, zero, false, filled objects. */
function exampleOf(schema: JsonSchema): unknown {
  if (schema.enum?.length) return schema.enum[0];
  const type = (Array.isArray(schema.type) ? schema.type[0] : schema.type)?.toLowerCase();
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, exampleOf(value)]));
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return '';
  }
}

function textOf(content: Content | undefined): string {
  return (content?.parts ?? []).map((part) => (part.thought ? '' : (part.text ?? ''))).join('\n');
}

/** About four characters a token, like the rough estimates the CLIs use themselves. */
function estimateTokens(request: GenerateRequest): number {
  return Math.max(1, Math.ceil(JSON.stringify(request.contents ?? []).length / 4));
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  writeJson(res, code, { error: { code, message, status } });
}
