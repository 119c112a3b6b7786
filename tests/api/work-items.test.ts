/**
 * Claimed work over REST: an agent that runs no worker (`claim: true`) takes its stage with
 * `POST /agents/:name/claim`, heartbeats, and answers with `/work/:token/complete` or `/fail`; all of it on
 * the run's real dev server, through Temporal's asynchronous activity completion.
 */
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../activities/agents/config';
import { encodeWorkToken, type WorkItem } from '../../api/work-items';
import { FIXTURE_AGENTS_DIR, fixtureAgent } from '../helpers/stack';
import { issuePaths, startApiStack, type ApiStack, type ErrorBody } from '../helpers/api';

/** A person (or hosted agent) who implements: no worker, it claims its work. */
const HUMAN: AgentConfig = {
  name: 'human',
  roles: ['implement'],
  capabilities: [],
  maxConcurrent: 1,
  claim: true,
  env: {},
  baseDir: FIXTURE_AGENTS_DIR,
};
const APPROVER = fixtureAgent('approver', ['review'], 'scripted.mjs');

let stack: ApiStack;

beforeAll(async () => {
  stack = await startApiStack({ agents: [APPROVER], remoteAgents: [HUMAN], app: { logger: { level: 'error' } } });
});
afterAll(async () => {
  await stack?.stop();
});

function claim(agent: string, waitMs = 20_000): Promise<LightMyRequestResponse> {
  return stack.inject({ method: 'POST', url: `/agents/${agent}/claim?waitMs=${waitMs}` });
}

/** Claims until a work item comes (polls are short; the machine is shared: generous overall deadline). */
async function claimItem(agent: string, timeoutMs = 60_000): Promise<WorkItem> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await claim(agent, 10_000);
    if (response.statusCode === 200) return response.json<WorkItem>();
    expect(response.statusCode, response.body).toBe(204);
    if (Date.now() > deadline) throw new Error(`no work item for ${agent} within ${timeoutMs} ms`);
  }
}

function work(token: string, action: 'heartbeat' | 'complete' | 'fail', payload?: unknown): Promise<LightMyRequestResponse> {
  return stack.inject({ method: 'POST', url: `/work/${token}/${action}`, ...(payload === undefined ? {} : { payload: payload as never }) });
}

/**
 * Keeps a claimed item alive while a test holds it: until the workflow gives claimed stages no activity
 * heartbeat timeout, a silent item is lost after 5 s.
 */
function keepAlive(token: string): () => void {
  const timer = setInterval(() => void work(token, 'heartbeat').catch(() => undefined), 1_000);
  return () => clearInterval(timer);
}

function spec(id: string) {
  return { id, title: `Claimed implement ${id}`, goal: 'A person implements', acceptanceCriteria: ['it is done'], agents: { implement: 'human', review: 'approver' } };
}

describe('claimed work over REST', () => {
  it('answers 204 when nothing waits, 404 for an unknown agent, 409 for an agent that runs a worker', async () => {
    const idle = await claim('human', 0);
    expect(idle.statusCode, idle.body).toBe(204);
    expect(idle.body).toBe('');

    const unknown = await claim('nobody', 0);
    expect(unknown.statusCode, unknown.body).toBe(404);
    expect(unknown.json<ErrorBody>().error).toBe('AgentNotFound');

    const worker = await claim('approver', 0);
    expect(worker.statusCode, worker.body).toBe(409);
    expect(worker.json<ErrorBody>().error).toBe('AgentNotClaimable');

    const badName = await claim('no%20spaces', 0);
    expect(badName.statusCode, badName.body).toBe(400);
    const badWait = await claim('human', 60_000);
    expect(badWait.statusCode, badWait.body).toBe(400);
    expect(issuePaths(badWait)).toEqual(['querystring.waitMs']);
  });

  it('claims the stage, heartbeats, refuses a bad result (still claimed), completes, and the task finishes', async () => {
    const taskId = stack.taskId('T-claim');
    await stack.create(spec(taskId));
    const item = await claimItem('human');
    const stop = keepAlive(item.token);
    try {
      expect(item).toMatchObject({ taskId, workflowId: `task-${taskId}`, agent: 'human', stage: 'implement', round: 1 });
      expect(item.context).toMatchObject({ taskId, stage: 'implement', round: 1, task: { title: `Claimed implement ${taskId}` } });
      expect(item.context.definition).toEqual({ goal: 'A person implements', acceptanceCriteria: ['it is done'] });
      expect(item.heartbeatEveryMs).toBeGreaterThan(0);
      const assigned = await stack.waitFor(taskId, (s) => s.assignee?.agent === 'human');
      expect(assigned.status).toBe('running');

      const beat = await work(item.token, 'heartbeat', { message: 'halfway there' });
      expect(beat.statusCode, beat.body).toBe(200);
      expect(beat.json()).toEqual({ ok: true, paused: false });
      await stack.waitFor(taskId, (s) => s.timeline.some((e) => e.type === 'progress' && e.detail.includes('halfway there')));
      const bare = await work(item.token, 'heartbeat');
      expect(bare.statusCode, bare.body).toBe(200);

      // A result that breaks the protocol: 400 with the reasons, and nothing reached the task.
      const wrongOutcome = await work(item.token, 'complete', { outcome: 'approved', summary: 'implement cannot approve' });
      expect(wrongOutcome.statusCode, wrongOutcome.body).toBe(400);
      expect(issuePaths(wrongOutcome)).toEqual(['outcome']);
      expect(wrongOutcome.json<ErrorBody>().issues![0]!.message).toMatch(/not an outcome of the implement stage/);
      const malformed = await work(item.token, 'complete', { outcome: 'done', confidence: 3 });
      expect(malformed.statusCode, malformed.body).toBe(400);
      expect(issuePaths(malformed).sort()).toEqual(['confidence', 'outcome']);
      expect((await stack.read(taskId)).assignee?.agent).toBe('human');

      const done = await work(item.token, 'complete', { outcome: 'completed', summary: 'implemented by hand', usage: { costUsd: 0.25 } });
      expect(done.statusCode, done.body).toBe(200);
      expect(done.json()).toEqual({ taskId, stage: 'implement', outcome: 'completed' });
    } finally {
      stop();
    }

    const state = await stack.waitFor(taskId, (s) => s.status === 'completed', 60_000);
    expect(state.results.map((r) => `${r.stage}:${r.agent}:${r.outcome}`)).toEqual(['implement:human:completed', 'review:approver:approved']);
    expect(state.results[0]!.summary).toBe('implemented by hand');
    expect(state.cost.costUsd).toBe(0.25);

    // The item is gone: answering it again is a 404, never a 5xx.
    const again = await work(item.token, 'complete', { outcome: 'completed', summary: 'twice' });
    expect(again.statusCode, again.body).toBe(404);
    expect(again.json<ErrorBody>().error).toBe('WorkNotFound');
    const late = await work(item.token, 'heartbeat');
    expect(late.statusCode, late.body).toBe(404);
  });

  it('a failed item is retried as the workflow decides: the next claim gets the stage again', async () => {
    const taskId = stack.taskId('T-claim-fail');
    await stack.create(spec(taskId));
    const first = await claimItem('human');
    expect(first).toMatchObject({ taskId, stage: 'implement', round: 1 });
    const failed = await work(first.token, 'fail', { reason: 'my laptop died' });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json()).toEqual({ taskId, stage: 'implement', outcome: 'failed' });
    await stack.waitFor(taskId, (s) => s.timeline.some((e) => e.type === 'attempt-failed' && e.detail.includes('my laptop died')));

    const second = await claimItem('human');
    const stop = keepAlive(second.token);
    try {
      expect(second).toMatchObject({ taskId, stage: 'implement', round: 1 });
      expect(second.token).not.toBe(first.token);
      const done = await work(second.token, 'complete', { outcome: 'completed', summary: 'second try' });
      expect(done.statusCode, done.body).toBe(200);
    } finally {
      stop();
    }
    await stack.waitFor(taskId, (s) => s.status === 'completed', 60_000);
    const noReason = await work(second.token, 'fail', {});
    expect(noReason.statusCode, noReason.body).toBe(400);
  });

  it('answers a malformed or altered token with 400, and a token of a finished item with 404', async () => {
    for (const token of ['not-a-token', 'eyJ2IjoxfQ', '%E2%9C%93']) {
      const response = await work(token, 'heartbeat');
      expect(response.statusCode, `${token}: ${response.body}`).toBe(400);
    }
    // A token whose routing part names another task than Temporal's token inside it.
    const taskId = stack.taskId('T-claim-token');
    await stack.create(spec(taskId));
    const item = await claimItem('human');
    const stop = keepAlive(item.token);
    try {
      const parts = JSON.parse(Buffer.from(item.token, 'base64url').toString('utf8')) as Parameters<typeof encodeWorkToken>[0];
      const altered = encodeWorkToken({ ...parts, w: 'task-someone-else' });
      const response = await work(altered, 'complete', { outcome: 'completed', summary: 'x' });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json<ErrorBody>().error).toBe('InvalidWorkToken');
      // One whose parts agree, but whose Temporal token Temporal cannot read.
      const forged = encodeWorkToken({ ...parts, t: Buffer.from(`${parts.w}/${parts.i}`).toString('base64url') });
      const unreadable = await work(forged, 'heartbeat');
      expect(unreadable.statusCode, unreadable.body).toBe(400);
      expect(unreadable.json<ErrorBody>().error).toBe('InvalidWorkToken');
      expect((await work(item.token, 'complete', { outcome: 'completed', summary: 'done' })).statusCode).toBe(200);
    } finally {
      stop();
    }
    const gone = await work(item.token, 'fail', { reason: 'too late' });
    expect(gone.statusCode, gone.body).toBe(404);
    expect(gone.json<ErrorBody>().error).toBe('WorkNotFound');
  });

  it('a task cancelled while its item is claimed: the next heartbeat answers 404 and the task ends cancelled', async () => {
    const taskId = stack.taskId('T-claim-cancel');
    await stack.create(spec(taskId));
    const item = await claimItem('human');
    expect((await stack.signal(taskId, 'cancel', { by: 'alice', reason: 'not needed' })).statusCode).toBe(202);
    // The workflow waits for the item to confirm it stopped: the claimant learns it from its heartbeat.
    const deadline = Date.now() + 30_000;
    let beat = await work(item.token, 'heartbeat');
    while (beat.statusCode === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      beat = await work(item.token, 'heartbeat');
    }
    expect(beat.statusCode, beat.body).toBe(404);
    expect(beat.json<ErrorBody>()).toMatchObject({ error: 'WorkNotFound' });
    const state = await stack.waitFor(taskId, (s) => s.status === 'cancelled', 30_000);
    expect(state.results).toEqual([]);
    expect((await work(item.token, 'complete', { outcome: 'completed', summary: 'too late' })).statusCode).toBe(404);
  });

  it('a claimant that hangs up stops its wait: the work goes to the next claim', async () => {
    await stack.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = stack.app.server.address() as AddressInfo;
    const hungUp = await fetch(`http://127.0.0.1:${port}/agents/human/claim?waitMs=30000`, { method: 'POST', signal: AbortSignal.timeout(1_000) }).catch(
      (error: unknown) => error,
    );
    expect(hungUp).toBeInstanceOf(Error);
    const taskId = stack.taskId('T-claim-hangup');
    await stack.create(spec(taskId));
    const item = await claimItem('human', 20_000);
    expect(item.taskId).toBe(taskId);
    expect((await work(item.token, 'complete', { outcome: 'completed', summary: 'caught it' })).statusCode).toBe(200);
    // The first attempt went to this claim, not to the one that hung up.
    const state = await stack.waitFor(taskId, (s) => s.results.length > 0);
    expect(state.timeline.filter((e) => e.type === 'attempt-failed')).toEqual([]);
  });

  it('documents the endpoints in the OpenAPI description', async () => {
    const response = await stack.inject({ method: 'GET', url: '/docs/json' });
    const doc = response.json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/agents/{name}/claim', '/work/{token}/heartbeat', '/work/{token}/complete', '/work/{token}/fail', '/mcp']),
    );
  });
});
