/**
 * The MCP task tools as people and orchestrating agents use them, with the MCP SDK's own client: over stdio
 * (`node bin/baton.js mcp --tasks`, pointed at the run's dev server and a test queue by the environment) and
 * over streamable HTTP at the API's `/mcp`. A task is created, listed, read and steered, and its implement
 * stage is claimed and completed by an agent that runs no worker.
 */
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../activities/agents/config';
import type { StartedTask, TaskSummary } from '../../api/task-client';
import type { WorkItem } from '../../api/work-items';
import { MCP_TASK_TOOLS } from '../../mcp/task-tools';
import type { TaskState } from '../../workflows/state';
import { startApiStack, type ApiStack } from '../helpers/api';
import { FIXTURE_AGENTS_DIR, fixtureAgent } from '../helpers/stack';

const BATON_BIN = resolve(__dirname, '..', '..', 'bin', 'baton.js');

const HUMAN: AgentConfig = { name: 'human', roles: ['implement'], capabilities: [], maxConcurrent: 1, claim: true, env: {}, baseDir: FIXTURE_AGENTS_DIR };
const APPROVER = fixtureAgent('approver', ['review'], 'scripted.mjs');

let stack: ApiStack;
let stdio: Client;
let http: Client;

beforeAll(async () => {
  stack = await startApiStack({ agents: [APPROVER], remoteAgents: [HUMAN] });
  await stack.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = stack.app.server.address() as AddressInfo;

  stdio = new Client({ name: 'baton-task-tools-test', version: '0.0.0' });
  await stdio.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BATON_BIN, 'mcp', '--tasks'],
      env: { PATH: process.env.PATH!, TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: 'default', BATON_TASK_QUEUE: stack.taskQueue },
      stderr: 'pipe',
    }),
  );
  http = new Client({ name: 'baton-task-tools-test', version: '0.0.0' });
  await http.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
});
afterAll(async () => {
  await stdio?.close();
  await http?.close();
  await stack?.stop();
});

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** A call that must succeed: its structured content. */
async function ok<T>(client: Client, name: string, args: Record<string, unknown>): Promise<T> {
  const result = await call(client, name, args);
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  expect(result.structuredContent).toBeDefined();
  // The text is the same JSON, for clients that read text only.
  expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
  return result.structuredContent as T;
}

/** A call that must fail: its error text. */
async function fails(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await call(client, name, args);
  expect(result.isError, JSON.stringify(result.content)).toBe(true);
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('baton MCP task tools', () => {
  it('offers the task tools, typed, on stdio and over HTTP', async () => {
    for (const client of [stdio, http]) {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual([...MCP_TASK_TOOLS].sort());
      for (const tool of tools) {
        expect(tool.description, tool.name).toBeTruthy();
        expect(tool.outputSchema, tool.name).toBeDefined();
      }
      const create = tools.find((tool) => tool.name === 'create_task')!;
      expect(create.inputSchema.required).toEqual(['title']);
      const complete = tools.find((tool) => tool.name === 'complete_work')!;
      expect(complete.inputSchema.required).toEqual(expect.arrayContaining(['token', 'result']));
      expect(client.getInstructions()).toMatch(/claim_work/);
    }
  });

  it('creates, lists, reads and steers a task over stdio; its stage is claimed and completed over HTTP', async () => {
    const taskId = stack.taskId('T-mcp-tasks');
    const started = await ok<StartedTask>(stdio, 'create_task', {
      id: taskId,
      title: `Claimed over MCP ${taskId}`,
      goal: 'An orchestrating agent hands implement to a person',
      acceptanceCriteria: ['it is done'],
      agents: { implement: 'human', review: 'approver' },
    });
    expect(started).toMatchObject({ taskId, workflowId: `task-${taskId}` });
    expect(await fails(stdio, 'create_task', { id: taskId, title: 'Another title' })).toMatch(/^TaskAlreadyExists: /);
    expect(await fails(stdio, 'create_task', { title: '' })).toMatch(/title/);

    const listed = await until('the task in list_tasks', async () => {
      const { tasks } = await ok<{ tasks: TaskSummary[] }>(stdio, 'list_tasks', { limit: 50 });
      return tasks.find((task) => task.taskId === taskId);
    });
    expect(listed.title).toBe(`Claimed over MCP ${taskId}`);

    const accepted = await ok(stdio, 'signal_task', { taskId, signal: 'addNote', payload: { by: 'orchestrator', text: 'keep it small' } });
    expect(accepted).toEqual({ accepted: true, taskId, signal: 'addNote' });
    expect(await fails(stdio, 'signal_task', { taskId, signal: 'addNote', payload: { by: 'orchestrator' } })).toMatch(/^ValidationError: text/);
    expect(await fails(stdio, 'get_task', { taskId: 'T-no-such-task' })).toMatch(/^TaskNotFound/);
    const noted = await until('the note', async () => {
      const state = await ok<TaskState>(stdio, 'get_task', { taskId });
      return state.notes.length > 0 ? state : undefined;
    });
    expect(noted.notes[0]).toMatchObject({ by: 'orchestrator', text: 'keep it small' });

    // The person's side, over HTTP: claim the implement stage, report progress, answer it.
    const item = await until('a work item', async () => (await ok<{ item: WorkItem | null }>(http, 'claim_work', { agent: 'human', waitMs: 10_000 })).item ?? undefined);
    expect(item).toMatchObject({ taskId, stage: 'implement', round: 1, agent: 'human' });
    // Until the workflow gives claimed stages no activity heartbeat timeout, a silent item is lost after 5 s.
    const keepAlive = setInterval(() => void call(http, 'heartbeat_work', { token: item.token }).catch(() => undefined), 1_000);
    try {
      expect(await ok(http, 'heartbeat_work', { token: item.token, message: 'on it' })).toEqual({ ok: true, paused: false });
      const refused = await fails(http, 'complete_work', { token: item.token, result: { outcome: 'approved', summary: 'not a review' } });
      expect(refused).toMatch(/^ValidationError: outcome: .*not an outcome of the implement stage.*still yours/);
      expect(await fails(http, 'complete_work', { token: item.token, result: { outcome: 'maybe' } })).toMatch(/outcome/);
      const finished = await ok(http, 'complete_work', { token: item.token, result: { outcome: 'completed', summary: 'done by hand' } });
      expect(finished).toEqual({ taskId, stage: 'implement', outcome: 'completed' });
    } finally {
      clearInterval(keepAlive);
    }
    expect(await fails(http, 'heartbeat_work', { token: item.token })).toMatch(/^WorkNotFound/);
    expect(await fails(http, 'fail_work', { token: 'garbage', reason: 'x' })).toMatch(/^InvalidWorkToken/);

    const done = await until('the task to complete', async () => {
      const state = await ok<TaskState>(http, 'get_task', { taskId });
      return state.status === 'completed' ? state : undefined;
    });
    expect(done.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:human:completed', 'review:approver:approved']);
    expect(done.timeline.some((e) => e.type === 'progress' && e.detail.includes('on it'))).toBe(true);
  });

  it('claim_work answers null when nothing waits, and names the problem for an unknown agent', async () => {
    expect(await ok(http, 'claim_work', { agent: 'human', waitMs: 0 })).toEqual({ item: null });
    expect(await fails(http, 'claim_work', { agent: 'nobody', waitMs: 0 })).toMatch(/^AgentNotFound/);
  });

  it('answers GET /mcp with 405: the endpoint is stateless', async () => {
    const response = await stack.inject({ method: 'GET', url: '/mcp' });
    expect(response.statusCode).toBe(405);
  });
});
