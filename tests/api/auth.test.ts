/**
 * Who may do what: with API tokens configured, every route but /healthz and the docs needs a bearer token
 * (401), an agent token cannot approve, cancel, reassign or kill (403), a human token cannot use the kill
 * switch, an admin can; the MCP tools over HTTP check each call the same way. With no token configured the
 * API is open, and refuses to bind beyond loopback.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfigError, loadApiTokens, refusal, sha256Hex } from '../../api/auth';
import { startApi, type Connections } from '../../cli/runtime';
import { loadSettings } from '../../cli/settings';
import { agentsWithQuiet, heldSpec, startApiStack, type ApiStack } from '../helpers/api';

const ADMIN = 'adm-0123456789abcdef';
const HUMAN = 'hum-0123456789abcdef';
const AGENT = 'agt-0123456789abcdef';

describe('API tokens and roles', () => {
  let stack: ApiStack;
  const authFile = join(mkdtempSync(join(tmpdir(), 'baton-auth-')), 'auth.yaml');

  beforeAll(async () => {
    // Two sources: the agent's token inline (from the environment), the people's as digests in a file.
    writeFileSync(
      authFile,
      `tokens:\n  - { name: root, role: admin, sha256: ${sha256Hex(ADMIN)} }\n  - { name: alice, role: human, sha256: ${sha256Hex(HUMAN)} }\n`,
    );
    const auth = loadApiTokens({ BATON_API_TOKENS: `bot:agent:${AGENT}`, BATON_AUTH_FILE: authFile });
    expect(auth?.size).toBe(3);
    stack = await startApiStack({ agents: agentsWithQuiet(), app: { auth } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const as = (token: string | undefined) => (token ? { authorization: `Bearer ${token}` } : {});
  const get = (url: string, token?: string) => stack.inject({ method: 'GET', url, headers: as(token) });
  const post = (url: string, token: string | undefined, payload: unknown) => stack.inject({ method: 'POST', url, headers: as(token), payload: payload as never });
  const create = async (spec: unknown) => {
    const response = await post('/tasks', HUMAN, spec);
    expect(response.statusCode, response.body).toBe(201);
    return response.json<{ taskId: string }>().taskId;
  };

  it('answers 401 without a valid token, and keeps /healthz and the docs open', async () => {
    for (const response of [await get('/tasks'), await get('/tasks', 'not-a-token'), await get('/agents'), await post('/tasks', undefined, { title: 'x' })]) {
      expect(response.statusCode, response.body).toBe(401);
      expect(response.json<{ error: string }>().error).toBe('Unauthorized');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect((await get('/healthz')).statusCode).toBe(200);
    expect((await get('/docs/json')).statusCode).toBe(200);
    expect((await get('/tasks', AGENT)).statusCode).toBe(200);
  });

  it('lets an agent read, create and report, never approve, cancel, reassign or kill', async () => {
    const created = await post('/tasks', AGENT, heldSpec(stack.taskId('T-auth-agent'), 'created by an agent token'));
    expect(created.statusCode, created.body).toBe(201);
    const { taskId } = created.json<{ taskId: string }>();
    expect((await get(`/tasks/${taskId}`, AGENT)).statusCode).toBe(200);
    for (const [name, payload] of [
      ['progress', { agent: 'bot', message: 'halfway' }],
      ['addNote', { by: 'bot', text: 'found the cause' }],
    ] as const) {
      const response = await post(`/tasks/${taskId}/signals/${name}`, AGENT, payload);
      expect(response.statusCode, `${name}: ${response.body}`).toBe(202);
    }
    for (const [name, payload] of [
      ['approve', { by: 'bot' }],
      ['cancel', { by: 'bot' }],
      ['reassign', { by: 'bot' }],
      ['setBudget', { by: 'bot', maxCostUsd: 100 }],
    ] as const) {
      const response = await post(`/tasks/${taskId}/signals/${name}`, AGENT, payload);
      expect(response.statusCode, `${name}: ${response.body}`).toBe(403);
      const body = response.json<{ error: string; message: string }>();
      expect(body.error).toBe('Forbidden');
      expect(body.message).toContain(`not ${name}`);
    }
    const kill = await post('/tasks/kill-all', AGENT, { by: 'bot' });
    expect(kill.statusCode, kill.body).toBe(403);
    // Nothing the agent was refused reached the task.
    const state = await stack.tasks.state(taskId);
    expect(state.status).toBe('running');
    expect(state.timeline.filter((e) => e.type === 'signal').map((e) => e.detail)).toEqual(['note from bot: found the cause']);
  });

  it('lets a human steer and cancel, and only an admin use the kill switch', async () => {
    const taskId = await create(heldSpec(stack.taskId('T-auth-human'), 'steered by a human'));
    expect((await post(`/tasks/${taskId}/signals/setPriority`, HUMAN, { by: 'alice', priority: 'P1' })).statusCode).toBe(202);
    expect((await post('/tasks/kill-all', HUMAN, { by: 'alice' })).statusCode).toBe(403);
    expect((await post(`/tasks/${taskId}/signals/cancel`, HUMAN, { by: 'alice' })).statusCode).toBe(202);
    await stack.waitFor(taskId, (s) => s.status === 'cancelled');
    const kill = await post('/tasks/kill-all', ADMIN, { by: 'root', reason: 'auth test' });
    expect(kill.statusCode, kill.body).toBe(200);
  });

  it('checks every MCP tool call over HTTP against the caller’s role', async () => {
    await stack.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = stack.app.server.address() as AddressInfo;
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    const connect = async (token: string) => {
      const client = new McpClient({ name: 'baton-auth-test', version: '0.0.0' });
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      return client;
    };
    const agent = await connect(AGENT);
    const human = await connect(HUMAN);
    try {
      const taskId = await create(heldSpec(stack.taskId('T-auth-mcp'), 'steered over MCP'));
      const refused = (await agent.callTool({ name: 'signal_task', arguments: { taskId, signal: 'approve', payload: { by: 'bot' } } })) as CallToolResult;
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toMatch(/Forbidden: an agent token may send/);
      const noted = (await agent.callTool({ name: 'signal_task', arguments: { taskId, signal: 'addNote', payload: { by: 'bot', text: 'hi' } } })) as CallToolResult;
      expect(noted.isError, JSON.stringify(noted.content)).toBeFalsy();
      const cancelled = (await human.callTool({ name: 'signal_task', arguments: { taskId, signal: 'cancel', payload: { by: 'alice' } } })) as CallToolResult;
      expect(cancelled.isError, JSON.stringify(cancelled.content)).toBeFalsy();
      await stack.waitFor(taskId, (s) => s.status === 'cancelled');
    } finally {
      await agent.close();
      await human.close();
    }
    // Without a token the endpoint answers 401 before any MCP exchange.
    const bare = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(bare.status).toBe(401);
  });
});

describe('auth configuration', () => {
  it('names the bad entry, never the token', () => {
    const bad = (env: NodeJS.ProcessEnv) => {
      try {
        loadApiTokens(env);
      } catch (error) {
        expect(error).toBeInstanceOf(AuthConfigError);
        return (error as Error).message;
      }
      throw new Error('expected an AuthConfigError');
    };
    expect(bad({ BATON_API_TOKENS: 'bot:robot:agt-0123456789abcdef' })).toBe('BATON_API_TOKENS entry 1 (bot): role must be one of admin, human, agent, not robot');
    expect(bad({ BATON_API_TOKENS: 'ok:agent:agt-0123456789abcdef, short:human:abc' })).toBe('BATON_API_TOKENS entry 2 (short): a token needs at least 16 characters');
    expect(bad({ BATON_API_TOKENS: 'nameonly' })).toMatch(/entry 1: expected name:role:token/);
    expect(loadApiTokens({})).toBeNull();
  });

  it('allows per role exactly what the README says', () => {
    const of = (role: 'admin' | 'human' | 'agent') => ({ name: role, role });
    expect(refusal(of('admin'), { kind: 'kill' })).toBeUndefined();
    expect(refusal(of('human'), { kind: 'kill' })).toMatch(/admin/);
    expect(refusal(of('human'), { kind: 'signal', signal: 'approve' })).toBeUndefined();
    expect(refusal(of('agent'), { kind: 'signal', signal: 'heartbeat' })).toBeUndefined();
    expect(refusal(of('agent'), { kind: 'signal', signal: 'retry' })).toMatch(/not retry/);
    expect(refusal(of('agent'), { kind: 'work' })).toBeUndefined();
    expect(refusal(of('agent'), { kind: 'create' })).toBeUndefined();
  });

  it('refuses to open the API beyond loopback without auth', async () => {
    const settings = loadSettings({ BATON_API_HOST: '0.0.0.0', BATON_API_PORT: '1' });
    await expect(startApi(settings, {} as Connections, undefined)).rejects.toThrow(/would open the API beyond this machine without auth: set BATON_API_TOKENS/);
  });
});
