/**
 * Duplicate tasks: `POST /tasks` refuses a task whose normalised title and goal match an open task of the
 * deployment (409 `DuplicateTask` naming it), unless `allowDuplicate`; once that task closed, it is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicateTaskError, normalizeText, taskFingerprint } from '../../api/task-admission';
import { BatonFingerprint } from '../../workflows/search-attributes';
import type { TaskSpecInput } from '../../workflows/spec';
import { agentsWithQuiet, startApiStack, type ApiStack, type ErrorBody } from '../helpers/api';

interface DuplicateBody extends ErrorBody {
  workflowId?: string;
}

describe('normalised title and goal', () => {
  it('ignores case, runs of whitespace and punctuation at the ends, not inside', () => {
    expect(normalizeText('  Add   Rate-Limiting\tto LOGIN!! ')).toBe('add rate-limiting to login');
    expect(normalizeText('"Fix the bug."')).toBe('fix the bug');
    expect(normalizeText('Ｆｉｘ bug')).toBe('fix bug'); // full-width letters (NFKC)
    expect(normalizeText('Port to C++')).not.toBe(normalizeText('Port to C'));
    expect(normalizeText('Bump to v1.2')).not.toBe(normalizeText('Bump to v12'));
    expect(taskFingerprint({ title: 'Add rate limiting', goal: 'Protect login.' })).toBe(taskFingerprint({ title: 'add RATE limiting', goal: ' protect   login' }));
    expect(taskFingerprint({ title: 'Add rate limiting' })).toBe(taskFingerprint({ title: 'Add rate limiting', goal: '' }));
    expect(taskFingerprint({ title: 'Add rate limiting' })).not.toBe(taskFingerprint({ title: 'Add rate limiting', goal: 'Protect login' }));
    expect(taskFingerprint({ title: 'a b', goal: 'c' })).not.toBe(taskFingerprint({ title: 'a', goal: 'b c' }));
  });
});

describe('POST /tasks: duplicates of open tasks', () => {
  let api: ApiStack;
  beforeAll(async () => {
    api = await startApiStack({ agents: agentsWithQuiet() });
  });
  afterAll(() => api?.stop());

  /** Held in implement by the quiet agent: open until cancelled. */
  const held = (id: string, title: string, goal?: string, extra: Partial<TaskSpecInput> = {}): TaskSpecInput => ({
    id,
    title,
    ...(goal !== undefined ? { goal } : {}),
    acceptanceCriteria: ['held'],
    agents: { define: 'planner', implement: 'quiet' },
    ...extra,
  });

  it('answers 409 DuplicateTask with the open task for a near-duplicate; allowDuplicate starts it; after the original closed it is accepted', async () => {
    const original = await api.create(held(api.taskId('T-orig'), 'Add Rate Limiting to Login', 'Protect the login form.'));
    const description = await api.client.workflow.getHandle(`task-${original}`).describe();
    expect(description.typedSearchAttributes.get(BatonFingerprint)).toBe(taskFingerprint({ title: 'add rate limiting to login', goal: 'protect the login form' }));

    // Different case, whitespace and end punctuation: the same task (visibility need not have caught up).
    const near = { title: '  add rate   limiting to LOGIN! ', goal: 'protect the Login form' };
    const refused = await api.post(near);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json<DuplicateBody>()).toEqual({
      error: 'DuplicateTask',
      taskId: original,
      workflowId: `task-${original}`,
      message: `open task ${original} has the same title and goal; set "allowDuplicate": true to start another one`,
    });
    // Another API process (its own TaskClient) finds it once visibility lists it.
    await api.listUntil('limit=1000', (tasks) => tasks.some((t) => t.taskId === original));
    const elsewhere = api.tasks.start({ ...near, id: api.taskId('T-near') });
    await expect(elsewhere).rejects.toBeInstanceOf(DuplicateTaskError);
    await expect(elsewhere).rejects.toMatchObject({ taskId: original, workflowId: `task-${original}` });

    // A different goal is a different task; so is the title alone.
    const otherGoal = await api.post(held(api.taskId('T-other'), 'Add rate limiting to login', 'Protect the signup form'));
    expect(otherGoal.statusCode, otherGoal.body).toBe(201);

    // An explicit duplicate is started.
    const copy = await api.post(held(api.taskId('T-copy'), near.title, near.goal, { allowDuplicate: true }));
    expect(copy.statusCode, copy.body).toBe(201);
    const copyId = copy.json<{ taskId: string }>().taskId;
    expect((await api.read(copyId)).spec.allowDuplicate).toBe(true);

    // Its own id again is TaskAlreadyExists, as before.
    const sameId = await api.post(held(original, 'Add Rate Limiting to Login', 'Protect the login form.'));
    expect(sameId.statusCode, sameId.body).toBe(409);
    expect(sameId.json<ErrorBody>()).toEqual({ error: 'TaskAlreadyExists', taskId: original });

    // Once no open task matches (visibility may still list them as running: each hit is confirmed), 201.
    for (const id of [original, copyId]) {
      await api.tasks.signal(id, 'cancel', { by: 'lead' });
      await api.waitFor(id, (s) => s.status === 'cancelled');
    }
    const after = await api.post(held(api.taskId('T-again'), near.title, near.goal));
    expect(after.statusCode, after.body).toBe(201);
    await api.tasks.signal(after.json<{ taskId: string }>().taskId, 'cancel', { by: 'lead' });
  });

  it('of two simultaneous identical requests one starts the task and the other answers 409 naming it', async () => {
    const title = `Simultaneous ${api.taskId('x')}`;
    const responses = await Promise.all([api.post(held(api.taskId('T-a'), title, 'same')), api.post(held(api.taskId('T-b'), title, 'same'))]);
    const codes = responses.map((r) => r.statusCode).sort();
    expect(codes, responses.map((r) => r.body).join('\n')).toEqual([201, 409]);
    const created = responses.find((r) => r.statusCode === 201)!.json<{ taskId: string }>().taskId;
    expect(responses.find((r) => r.statusCode === 409)!.json<DuplicateBody>()).toMatchObject({ error: 'DuplicateTask', taskId: created });
  });

  it('never answers 5xx for a client mistake in dependsOn', async () => {
    for (const body of [{ title: 'x', dependsOn: ['-bad'] }, { title: 'x', dependsOn: 'T-1' }, { title: 'x', dependsOn: [api.taskId('T-none')] }, { title: 'x', allowDuplicate: 'yes' }]) {
      const response = await api.post(body);
      expect(response.statusCode, `${JSON.stringify(body)}: ${response.body}`).toBe(400);
    }
  });
});
