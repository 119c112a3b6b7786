import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsWithQuiet, demoSpec, heldSpec, issuePaths, startApiStack, type ApiStack, type ErrorBody } from '../helpers/api';

describe('REST API: POST /tasks/:taskId/signals/:name', () => {
  let api: ApiStack;
  /** Held running in implement by the quiet agent. */
  let heldId: string;

  beforeAll(async () => {
    api = await startApiStack({ agents: agentsWithQuiet() });
    heldId = await api.create(heldSpec(api.taskId('T-held')));
    await api.waitFor(heldId, (s) => s.status === 'running' && s.assignee?.agent === 'quiet');
  });
  afterAll(() => api?.stop());

  it('answers 202 for addNote, and the note shows in the state', async () => {
    const response = await api.signal(heldId, 'addNote', { by: 'alice', text: 'the login form lives in web/login.tsx' });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json<{ accepted: boolean }>()).toEqual({ accepted: true });

    const state = await api.waitFor(heldId, (s) => s.notes.length > 0);
    expect(state.notes).toHaveLength(1);
    expect(state.notes[0]).toMatchObject({ by: 'alice', text: 'the login form lives in web/login.tsx' });
    const entry = state.timeline.find((e) => e.type === 'signal');
    expect(entry?.detail).toBe('note from alice: the login form lives in web/login.tsx');
    // The same through the API's read.
    expect((await api.read(heldId)).notes).toEqual(state.notes);
  });

  it('answers 400 naming `name` for an unknown signal', async () => {
    const response = await api.signal(heldId, 'selfDestruct', { by: 'mallory' });
    expect(response.statusCode, response.body).toBe(400);
    expect(issuePaths(response)).toEqual(['name']);
    expect(response.json<ErrorBody>().issues?.[0]?.message).toContain('selfDestruct');
  });

  it.each([
    ['addNote without text', 'addNote', { by: 'alice' }, 'text'],
    ['addNote with an empty text', 'addNote', { by: 'alice', text: '  ' }, 'text'],
    ['approve without by', 'approve', {}, 'by'],
    ['setPriority with a bad priority', 'setPriority', { by: 'alice', priority: 'P9' }, 'priority'],
    ['reassign to a stage that does not exist', 'reassign', { by: 'alice', stage: 'deploy' }, 'stage'],
  ])('answers 400 for a payload failing validation: %s', async (_label, name, payload, path) => {
    const before = (await api.read(heldId)).timeline.length;
    const response = await api.signal(heldId, name, payload);
    expect(response.statusCode, response.body).toBe(400);
    expect(issuePaths(response)).toContain(path);
    // Refused before it reached the workflow: nothing was recorded, not even a `signal-rejected`.
    const after = await api.read(heldId);
    expect(after.timeline).toHaveLength(before);
    expect(after.status).toBe('running');
  });

  it('answers 400 for a body that is not an object', async () => {
    const response = await api.inject({
      method: 'POST',
      url: `/tasks/${heldId}/signals/addNote`,
      payload: '"just a string"',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json<ErrorBody>().error).toBe('ValidationError');
  });

  it('answers 400 for a task id that fails the pattern', async () => {
    const response = await api.signal('-bad', 'addNote', { by: 'alice', text: 'x' });
    expect(response.statusCode, response.body).toBe(400);
    expect(issuePaths(response)).toContain('params.taskId');
  });

  it('answers 404 TaskNotFound for an unknown task', async () => {
    const id = api.taskId('T-ghost');
    const response = await api.signal(id, 'addNote', { by: 'alice', text: 'anyone there?' });
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json<ErrorBody>()).toMatchObject({ error: 'TaskNotFound', taskId: id });
  });

  it('answers 409 for a task that already completed', async () => {
    const id = await api.create(demoSpec(api.taskId('T-finished')));
    await api.waitFor(id, (s) => s.status === 'completed');
    const response = await api.signal(id, 'addNote', { by: 'alice', text: 'too late' });
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json<ErrorBody>()).toMatchObject({ error: 'TaskClosed', taskId: id, status: 'completed' });
  });

  it('cancel ends a running task as cancelled', async () => {
    const id = await api.create(heldSpec(api.taskId('T-cancel'), 'To be cancelled'));
    await api.waitFor(id, (s) => s.status === 'running' && s.assignee?.agent === 'quiet');

    const response = await api.signal(id, 'cancel', { by: 'bob', reason: 'not needed any more' });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json<{ accepted: boolean }>()).toEqual({ accepted: true });

    const state = await api.waitFor(id, (s) => s.status === 'cancelled', 20_000);
    expect(state.assignee).toBeNull();
    expect(state.outcome).toEqual({ by: 'bob', reason: 'not needed any more' });
    expect(state.closedAt).not.toBeNull();
    expect(state.timeline.some((e) => e.type === 'signal' && e.detail === 'cancel by bob: not needed any more')).toBe(true);

    // The workflow is closed: a later signal answers 409, and the read still works from the closed run.
    const { status } = await api.client.workflow.getHandle(`task-${id}`).describe();
    expect(status.name).toBe('COMPLETED');
    const late = await api.signal(id, 'addNote', { by: 'bob', text: 'after the end' });
    expect(late.statusCode, late.body).toBe(409);
    expect((await api.read(id)).status).toBe('cancelled');
  });
});
