import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentsWithQuiet, heldSpec, startApiStack, type ApiStack } from '../helpers/api';

interface KillAllBody {
  matched: number;
  cancelled: number;
  failed: { taskId: string; error: string }[];
}

describe('POST /tasks/kill-all', () => {
  let api: ApiStack;
  beforeAll(async () => {
    api = await startApiStack({ agents: agentsWithQuiet() });
  });
  afterAll(() => api?.stop());

  it('answers 400 without `by`', async () => {
    const response = await api.inject({ method: 'POST', url: '/tasks/kill-all', payload: { reason: 'drill' } });
    expect(response.statusCode).toBe(400);
  });

  it('cancels every open task; one that fails to cancel is reported and does not stop the rest', async () => {
    // Five different tasks (identical open ones would be refused as duplicates).
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => api.create(heldSpec(api.taskId(`T-kill-${i}`), `Stays in implement ${i}`))));
    await Promise.all(ids.map((id) => api.waitFor(id, (s) => s.assignee?.agent === 'quiet')));
    await api.listUntil('status=running', (tasks) => ids.every((id) => tasks.some((t) => t.taskId === id)));

    // The first cancel of the second task fails, as a flaky network would make it.
    const signal = api.app.tasks.signal.bind(api.app.tasks);
    const spy = vi.spyOn(api.app.tasks, 'signal').mockImplementation(async (taskId, name, payload) => {
      if (taskId === ids[1]) throw new Error('connection reset');
      return signal(taskId, name, payload);
    });
    try {
      const response = await api.inject({ method: 'POST', url: '/tasks/kill-all', payload: { by: 'ops', reason: 'drill' } });
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<KillAllBody>();
      expect(body.matched).toBe(5);
      expect(body.cancelled).toBe(4);
      expect(body.failed).toEqual([{ taskId: ids[1], error: 'connection reset' }]);
    } finally {
      spy.mockRestore();
    }
    for (const id of ids.filter((id) => id !== ids[1])) {
      const state = await api.waitFor(id, (s) => s.status === 'cancelled');
      expect(state.outcome).toEqual({ by: 'ops', reason: 'drill' });
    }
    expect((await api.read(ids[1]!)).status).toBe('running');

    // A second pass finishes the job: the board empties.
    const again = await api.inject({ method: 'POST', url: '/tasks/kill-all', payload: { by: 'ops' } });
    expect(again.json<KillAllBody>()).toMatchObject({ cancelled: 1, failed: [] });
    await api.waitFor(ids[1]!, (s) => s.status === 'cancelled');
    await api.listUntil('status=running', (tasks) => tasks.length === 0);
  });
});
