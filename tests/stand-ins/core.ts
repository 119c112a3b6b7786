/**
 * Stand-in model servers: plain Node HTTP servers that speak a vendor's wire protocol (Anthropic Messages,
 * OpenAI Responses, Gemini streamGenerateContent, OpenAI Chat Completions) and answer from a script, so
 * the real agent CLIs run their real request and tool-use loop while only the model is scripted.
 *
 * This module is the protocol-independent part: scripts, choosing the script of a conversation, the turn a
 * request is at, the request log, SSE, and the server itself. Each protocol module supplies a handler.
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Picks a tool from those the request offers: by exact name, or by the end of its name (CLIs prefix MCP tools). */
export interface ToolSelector {
  name?: string;
  endsWith?: string;
}

/** One answer of the scripted model: a call to a tool the CLI offered, or a final text that ends the turn. */
export type ModelStep = { tool: ToolSelector; input: Record<string, unknown>; text?: string } | { text: string };

export interface ModelScript {
  steps: ModelStep[];
  /** Token usage reported with every response (defaults: 1000 in, 100 out). */
  usage?: { inputTokens: number; outputTokens: number };
}

/**
 * Scripts by conversation: the first script whose `match` occurs in the conversation's first user message
 * (e.g. "Stage: review") answers it; `match: ''` matches any.
 */
export type Scripts = { match: string; script: ModelScript }[];

export interface LoggedRequest {
  at: string;
  method: string;
  path: string;
  /** Parsed JSON body (or the raw text when not JSON). */
  body: unknown;
  /** Header names only: the values would include the API key. */
  headers: string[];
}

/** What a protocol handler gets for one request. */
export interface StandInRequest {
  method: string;
  path: string;
  body: unknown;
  headers: IncomingMessage['headers'];
  scripts: Scripts;
}

/** A protocol: answers one request (SSE or JSON) from the scripts. */
export type ProtocolHandler = (request: StandInRequest, res: ServerResponse) => void | Promise<void>;

export interface StandIn {
  url: string;
  port: number;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

export interface StandInOptions {
  scripts: Scripts;
  host?: string;
  /** 0 (default) for a free port. */
  port?: number;
  /** Also appends each request as a JSON line here (for a stand-in running in another process). */
  logFile?: string;
}

/** Starts a stand-in server for one protocol. */
export async function startStandIn(handler: ProtocolHandler, options: StandInOptions): Promise<StandIn> {
  const requests: LoggedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // Not JSON: kept as text.
      }
      const path = req.url ?? '/';
      const logged: LoggedRequest = { at: new Date().toISOString(), method: req.method ?? 'GET', path, body, headers: Object.keys(req.headers) };
      requests.push(logged);
      if (options.logFile) appendFileSync(options.logFile, `${JSON.stringify(logged)}\n`);
      // then(): a handler that throws at once (no script matches) answers 500 instead of killing the server.
      Promise.resolve()
        .then(() => handler({ method: logged.method, path, body, headers: req.headers, scripts: options.scripts }, res))
        .catch((error: unknown) => {
          // Said on stderr too: a CLI that retries a 500 shows only its own words in a failing test.
          process.stderr.write(`stand-in ${logged.method} ${path}: ${String(error)}\n`);
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: `stand-in failed: ${String(error)}` } }));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The script of a conversation, chosen by its first user message. `{{workdir}}` in a step's input becomes the
 * working directory Baton's prompt names ("Working directory: <path> —"), for tools that want absolute paths.
 */
export function scriptFor(scripts: Scripts, firstUserText: string): ModelScript {
  const found = scripts.find((entry) => firstUserText.includes(entry.match));
  if (!found) throw new Error(`no script matches a conversation starting with ${JSON.stringify(firstUserText.slice(0, 200))}`);
  const workdir = /Working directory: (\S+) /.exec(firstUserText)?.[1];
  if (!workdir) return found.script;
  const fill = (value: unknown): unknown =>
    typeof value === 'string' ? value.replaceAll('{{workdir}}', workdir) : Array.isArray(value) ? value.map(fill) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)])) : value;
  return { ...found.script, steps: found.script.steps.map((step) => fill(step) as ModelStep) };
}

/** The step for a conversation in which the model has already answered `turn` times; past the end, the last text. */
export function stepAt(script: ModelScript, turn: number): ModelStep {
  return script.steps[Math.min(turn, script.steps.length - 1)]!;
}

/** The name of the offered tool a selector means, or an error naming what was offered. */
export function selectTool(selector: ToolSelector, offered: string[]): string {
  const name = offered.find((tool) => (selector.name ? tool === selector.name : selector.endsWith ? tool.endsWith(selector.endsWith) : false));
  if (!name) throw new Error(`the script calls ${JSON.stringify(selector)}, but the request offers only: ${offered.join(', ')}`);
  return name;
}

export function usageOf(script: ModelScript): { inputTokens: number; outputTokens: number } {
  return script.usage ?? { inputTokens: 1000, outputTokens: 100 };
}

/** Writes a Server-Sent Events stream: one `event:`/`data:` block per event, then ends the response. */
export function writeSse(res: ServerResponse, events: { event?: string; data: unknown }[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (const { event, data } of events) {
    res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }
  res.end();
}

export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
