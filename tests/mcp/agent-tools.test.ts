/**
 * `baton mcp` as an agent CLI runs it: the MCP SDK's own client spawns `node bin/baton.js mcp` over stdio with
 * the environment Baton's presets set, and each test checks what the tools wrote where the driver reads.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { MCP_AGENT_TOOLS } from '../../activities/agents/presets/types';
import { AgentReportSchema } from '../../workflows/agent-protocol';
import type { AgentStage } from '../../workflows/spec';

// Not imported from helpers/stack: that module loads the workers, which this test does not need.
const BATON_BIN = resolve(__dirname, '..', '..', 'bin', 'baton.js');

interface McpSession {
  client: Client;
  resultFile: string;
  eventsFile: string;
  /** Errors the client saw on the transport, such as a stdout line that is not a protocol message. */
  transportErrors: Error[];
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  result(): unknown;
  events(): Record<string, unknown>[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** `baton mcp` for one stage of one task, with its result and events files in a fresh directory. */
async function startMcp(stage: AgentStage, options: { resultFile?: (dir: string) => string } = {}): Promise<McpSession> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mcp-'));
  const taskId = `T-mcp-${stage}-${Math.random().toString(36).slice(2, 8)}`;
  const resultFile = options.resultFile?.(dir) ?? join(dir, 'attempt', 'result.json');
  const eventsFile = join(dir, 'attempt', 'events.jsonl');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BATON_BIN, 'mcp'],
    env: { BATON_STAGE: stage, BATON_TASK_ID: taskId, BATON_RESULT_FILE: resultFile, BATON_EVENTS_FILE: eventsFile },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'baton-mcp-test', version: '0.0.0' });
  const transportErrors: Error[] = [];
  client.onerror = (error) => transportErrors.push(error);
  await client.connect(transport);
  cleanups.push(async () => {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    client,
    resultFile,
    eventsFile,
    transportErrors,
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    result: () => JSON.parse(readFileSync(resultFile, 'utf8')) as unknown,
    events: () =>
      readFileSync(eventsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function text(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

const VALID: Record<AgentStage, { args: Record<string, unknown>; report: unknown }> = {
  define: {
    args: { goal: 'Slugify titles for URLs', acceptanceCriteria: ['lowercases', 'replaces spaces with dashes'], summary: 'two criteria' },
    report: {
      outcome: 'completed',
      summary: 'two criteria',
      definition: { goal: 'Slugify titles for URLs', acceptanceCriteria: ['lowercases', 'replaces spaces with dashes'] },
    },
  },
  implement: {
    args: { summary: 'Implemented slugify with a regex; tests pass' },
    report: { outcome: 'completed', summary: 'Implemented slugify with a regex; tests pass' },
  },
  review: {
    args: { verdict: 'changes_requested', confidence: 0.8, feedback: 'Handle unicode: "Crème" becomes "crme".' },
    report: { outcome: 'changes_requested', confidence: 0.8, feedback: 'Handle unicode: "Crème" becomes "crme".' },
  },
};

describe('baton mcp agent tools', () => {
  it.each(['define', 'implement', 'review'] as const)('offers the three agent tools, submit_result typed for the %s stage', async (stage) => {
    const mcp = await startMcp(stage);
    const { tools } = await mcp.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([...MCP_AGENT_TOOLS].sort());
    const submit = tools.find((tool) => tool.name === 'submit_result')!;
    const properties = submit.inputSchema.properties as Record<string, { description?: string; minItems?: number; minimum?: number; maximum?: number }>;
    const expected = { define: ['acceptanceCriteria', 'goal', 'summary'], implement: ['summary'], review: ['confidence', 'feedback', 'summary', 'verdict'] }[stage];
    expect(Object.keys(properties).sort()).toEqual(expected);
    for (const name of expected) expect(properties[name]!.description, `${stage} ${name} is described`).toBeTruthy();
    if (stage === 'define') expect(properties.acceptanceCriteria!.minItems).toBe(1);
    if (stage === 'review') {
      expect(properties.confidence).toMatchObject({ minimum: 0, maximum: 1 });
      expect(properties.confidence!.description).toMatch(/threshold/);
      expect(submit.inputSchema.required).toEqual(expect.arrayContaining(['verdict', 'confidence', 'feedback']));
    }
    expect(mcp.client.getInstructions()).toContain(`the ${stage} stage`);
  });

  it.each(['define', 'implement', 'review'] as const)('records a valid %s submission as exactly the agent report', async (stage) => {
    const mcp = await startMcp(stage);
    const answer = await mcp.call('submit_result', VALID[stage].args);
    expect(answer.isError).toBeFalsy();
    expect(text(answer)).toMatch(/^Recorded .*end your turn/s);
    expect(mcp.result()).toEqual(VALID[stage].report);
    expect(AgentReportSchema.safeParse(mcp.result()).success).toBe(true);
    expect(existsSync(mcp.eventsFile)).toBe(false);
    // Only the report itself is left: the temporary file was renamed into place.
    expect(readFileSync(mcp.resultFile, 'utf8').endsWith('\n')).toBe(true);
    expect(mcp.transportErrors).toEqual([]);
  });

  it.each([
    ['review', { verdict: 'approved', confidence: 7, feedback: 'fine' }, /confidence/],
    ['review', { verdict: 'maybe', confidence: 0.9, feedback: 'fine' }, /verdict/],
    ['define', { goal: 'Slugify titles', acceptanceCriteria: [] }, /acceptanceCriteria/],
    ['implement', {}, /summary/],
  ] as const)('answers invalid %s arguments %j with a readable tool error and writes nothing', async (stage, args, field) => {
    const mcp = await startMcp(stage);
    const answer = await mcp.call('submit_result', args);
    expect(answer.isError).toBe(true);
    expect(text(answer)).toMatch(/Invalid arguments for tool submit_result/);
    expect(text(answer)).toMatch(field);
    expect(existsSync(mcp.resultFile)).toBe(false);
    // The server is still up and takes the corrected call.
    const retry = await mcp.call('submit_result', VALID[stage].args);
    expect(retry.isError).toBeFalsy();
    expect(mcp.result()).toEqual(VALID[stage].report);
  });

  it('a second submit_result replaces the first, and the answer says so', async () => {
    const mcp = await startMcp('review');
    const first = await mcp.call('submit_result', { verdict: 'changes_requested', confidence: 0.6, feedback: 'add tests' });
    expect(text(first)).toMatch(/last call counts/);
    await mcp.call('submit_result', { verdict: 'approved', confidence: 0.95, feedback: 'tests added, all criteria met', summary: 'approve' });
    expect(mcp.result()).toEqual({ outcome: 'approved', confidence: 0.95, feedback: 'tests added, all criteria met', summary: 'approve' });
  });

  it('report_progress appends one event per call and records no result', async () => {
    const mcp = await startMcp('implement');
    const before = Date.now();
    const answer = await mcp.call('report_progress', { message: 'running the test suite' });
    await mcp.call('report_progress', { message: 'fixing the unicode case' });
    expect(answer.isError).toBeFalsy();
    const events = mcp.events();
    expect(events.map(({ type, message }) => ({ type, message }))).toEqual([
      { type: 'progress', message: 'running the test suite' },
      { type: 'progress', message: 'fixing the unicode case' },
    ]);
    for (const event of events) expect(Date.parse(event.at as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(existsSync(mcp.resultFile)).toBe(false);
    const empty = await mcp.call('report_progress', { message: '' });
    expect(empty.isError).toBe(true);
    expect(text(empty)).toMatch(/message/);
    expect(mcp.events()).toHaveLength(2);
  });

  it('ask_human records a blocked report and an event, wins over an earlier submit_result, and refuses a later one', async () => {
    const mcp = await startMcp('review');
    await mcp.call('submit_result', { verdict: 'approved', confidence: 0.99, feedback: 'looks right' });
    const question = 'The criteria say ASCII only, the issue shows emoji: which one holds?';
    const answer = await mcp.call('ask_human', { question });
    expect(answer.isError).toBeFalsy();
    expect(text(answer)).toBe('Your question was sent to a human. End your turn now; the task resumes with their answer.');
    const blocked = { outcome: 'blocked', summary: `question for a human: ${question}` };
    expect(mcp.result()).toEqual(blocked);
    expect(AgentReportSchema.parse(mcp.result())).toEqual(blocked);
    const [event, ...more] = mcp.events();
    expect(more).toEqual([]);
    expect(event).toEqual({ type: 'ask_human', question, at: new Date(event!.at as string).toISOString() });

    const late = await mcp.call('submit_result', { verdict: 'approved', confidence: 0.99, feedback: 'looks right' });
    expect(late.isError).toBe(true);
    expect(text(late)).toMatch(/asked a human/);
    expect(mcp.result()).toEqual(blocked);
  });

  it('answers a result file it cannot write with a tool error and keeps serving', async () => {
    const mcp = await startMcp('implement', {
      resultFile: (dir) => {
        // A file where the result's directory should be: creating that directory fails.
        writeFileSync(join(dir, 'not-a-dir'), '');
        return join(dir, 'not-a-dir', 'result.json');
      },
    });
    const answer = await mcp.call('submit_result', VALID.implement.args);
    expect(answer.isError).toBe(true);
    expect(text(answer)).toMatch(/Baton could not record this call: .*(EEXIST|ENOTDIR)/);
    const progress = await mcp.call('report_progress', { message: 'still here' });
    expect(progress.isError).toBeFalsy();
    expect(mcp.events()).toHaveLength(1);
  });

  it('exits with code 2 and one line on stderr without the environment Baton sets', () => {
    const run = spawnSync(process.execPath, [BATON_BIN, 'mcp'], { env: { PATH: process.env.PATH }, encoding: 'utf8', input: '' });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/BATON_STAGE.*BATON_RESULT_FILE.*BATON_EVENTS_FILE.*not set/);
    expect(run.stderr).toMatch(/Baton's presets set .* when they run an agent CLI/);

    const wrongStage = spawnSync(process.execPath, [BATON_BIN, 'mcp'], {
      env: { PATH: process.env.PATH, BATON_STAGE: 'deploy', BATON_RESULT_FILE: '/nonexistent/r.json', BATON_EVENTS_FILE: '/nonexistent/e.jsonl' },
      encoding: 'utf8',
      input: '',
    });
    expect(wrongStage.status).toBe(2);
    expect(wrongStage.stderr).toMatch(/BATON_STAGE=deploy: expected one of define, implement, review/);
  });
});
