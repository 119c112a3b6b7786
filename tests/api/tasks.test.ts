import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskClient, type StartedTask, type TaskSummary } from '../../api/task-client';
import { TASK_ID_PATTERN } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import {
  agentsWithQuiet,
  anyString,
  demoSpec,
  heldSpec,
  ids,
  issuePaths,
  startApiStack,
  type ApiStack,
  type ErrorBody,
} from '../helpers/api';

describe('REST API: tasks', () => {
  let api: ApiStack;
  /** Runs to completion with the demo agents (priority P2). */
  let completedId: string;
  /** Held running in implement by the quiet agent (priority P0). */
  let runningId: string;

  beforeAll(async () => {
    api = await startApiStack({ agents: agentsWithQuiet() });
    completedId = await api.create(demoSpec(api.taskId('T-done')));
    runningId = await api.create(heldSpec(api.taskId('T-busy')));
    await api.waitFor(completedId, (s) => s.status === 'completed');
    await api.waitFor(runningId, (s) => s.status === 'running' && s.assignee?.agent === 'quiet');
  });
  afterAll(() => api?.stop());

  describe('POST /tasks', () => {
    it('answers 201 with a generated id for a body with only a title', async () => {
      const response = await api.post({ title: 'Only a title' });
      expect(response.statusCode, response.body).toBe(201);
      const body = response.json<StartedTask>();
      expect(body.taskId).toMatch(TASK_ID_PATTERN);
      expect(body.runId).toMatch(/^[0-9a-f-]{36}$/);
      expect(body).toEqual({
        taskId: body.taskId,
        workflowId: `task-${body.taskId}`,
        runId: body.runId,
        links: { self: `/tasks/${body.taskId}`, ui: null },
      });
      // The workflow really exists under that id and carries the defaults.
      const state = await api.read(body.taskId);
      expect(state).toMatchObject({ taskId: body.taskId, workflowId: `task-${body.taskId}`, title: 'Only a title', priority: 'P1' });
      const description = await api.client.workflow.getHandle(body.workflowId).describe();
      expect(description.runId).toBe(body.runId);
      expect(description.taskQueue).toBe(api.taskQueue);
    });

    it('answers 201 with the user-supplied id', async () => {
      const id = api.taskId('T-123');
      const response = await api.post({ id, title: 'With my own id' });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json<StartedTask>()).toMatchObject({ taskId: id, workflowId: `task-${id}`, links: { self: `/tasks/${id}` } });
    });

    it('links to the Web UI when the app knows its URL', async () => {
      const withUi = await startApiStack({ agents: [], app: { uiUrl: 'http://ui.example:8233' } });
      try {
        const id = withUi.taskId('T-ui');
        const response = await withUi.post({ id, title: 'Linked' });
        expect(response.statusCode, response.body).toBe(201);
        const { runId, links } = response.json<StartedTask>();
        expect(links.ui).toBe(`http://ui.example:8233/namespaces/default/workflows/task-${id}/${runId}/history`);
      } finally {
        await withUi.stop();
      }
    });

    it('answers 400 ValidationError naming `title` when the title is missing', async () => {
      const response = await api.post({ goal: 'no title here' });
      expect(response.statusCode).toBe(400);
      expect(issuePaths(response)).toContain('title');
    });

    it.each([
      ['a bad id', { id: '-starts-with-a-dash', title: 'x' }, 'id'],
      ['an id with a space', { id: 'has space', title: 'x' }, 'id'],
      ['a bad priority', { title: 'x', priority: 'P9' }, 'priority'],
      ['a bad duration in policy', { title: 'x', policy: { stallTimeout: 'soon' } }, 'policy.stallTimeout'],
      ['a relative repo.path', { title: 'x', repo: { path: 'relative/repo' } }, 'repo.path'],
      ['an empty title', { title: '   ' }, 'title'],
    ])('answers 400 for %s', async (_label, body, path) => {
      const response = await api.post(body);
      expect(response.statusCode, response.body).toBe(400);
      expect(issuePaths(response)).toContain(path);
    });

    it('answers 400 for an unknown top-level field (strict schema)', async () => {
      const response = await api.post({ title: 'x', colour: 'red' });
      expect(response.statusCode, response.body).toBe(400);
      expect(issuePaths(response)).toEqual(['(root)']);
      expect(response.json<ErrorBody>().issues?.[0]?.message).toContain('colour');
    });

    it('answers 400 for v2 fields that cannot work, naming the field', async () => {
      const cases: [unknown, string, RegExp][] = [
        [{ title: 'x', repo: { baseBranch: 'main' } }, 'repo', /exactly one of path .* or url/],
        [{ title: 'x', repo: { path: '/srv/a', url: '/srv/b.git' } }, 'repo', /exactly one of path/],
        [{ title: 'x', repo: { path: 'relative/dir' } }, 'repo.path', /absolute/],
        [{ title: 'x', repo: { url: 'https://user:hunter2@git.example/a.git' } }, 'repo.url', /must not carry credentials/],
        [{ title: 'x', repo: { url: 'https://ghp_abc@git.example/a.git' } }, 'repo.url', /must not carry credentials/],
        [{ title: 'x', repo: { url: '--upload-pack=evil' } }, 'repo.url', /must not start with "-"/],
        [{ title: 'x', repo: { url: '/srv/a.git', baseBranch: 'main..x' } }, 'repo.baseBranch', /plain branch name/],
        [{ id: 'T-1.lock', title: 'x', repo: { url: '/srv/a.git' } }, 'id', /baton\/<id>/],
        [{ title: 'x', agents: { implement: 'coder', review: 'coder' } }, 'agents.review', /never reviewed by the agent that made it/],
        [{ title: 'x', policy: { gates: 'lenient' } }, 'policy.gates', /./],
        [{ title: 'x', policy: { minConfidence: 1.5 } }, 'policy.minConfidence', /./],
        [{ title: 'x', policy: { maxCostUsd: 0 } }, 'policy.maxCostUsd', /./],
        [{ title: 'x', policy: { deliver: 'email' } }, 'policy.deliver', /./],
      ];
      for (const [body, path, message] of cases) {
        const response = await api.post(body);
        expect(response.statusCode, `${JSON.stringify(body)}: ${response.body}`).toBe(400);
        const issue = response.json<ErrorBody>().issues?.find((i) => i.path === path);
        expect(issue?.message, `${JSON.stringify(body)}: ${response.body}`).toMatch(message);
      }
      // ssh remotes name a user, not a secret; that is fine.
      const ssh = await api.post({ title: 'ssh remote', repo: { url: 'ssh://git@git.example/a.git' }, agents: { define: 'planner' } });
      expect(ssh.statusCode, ssh.body).toBe(201);
    });

    it('answers 400 for a body that is not an object', async () => {
      const response = await api.inject({ method: 'POST', url: '/tasks', payload: '["a"]', headers: { 'content-type': 'application/json' } });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json<ErrorBody>().error).toBe('ValidationError');
    });

    it('answers 409 TaskAlreadyExists for an id that is running', async () => {
      const response = await api.post({ id: runningId, title: 'Again' });
      expect(response.statusCode, response.body).toBe(409);
      expect(response.json<ErrorBody>()).toEqual({ error: 'TaskAlreadyExists', taskId: runningId });
    });

    it('answers 409 for the id of a completed task: ids are never reused', async () => {
      const response = await api.post({ id: completedId, title: 'Again, after completion' });
      expect(response.statusCode, response.body).toBe(409);
      expect(response.json<ErrorBody>()).toEqual({ error: 'TaskAlreadyExists', taskId: completedId });
    });
  });

  describe('GET /tasks/:taskId', () => {
    it('answers 200 with the task state of the contract', async () => {
      const response = await api.inject({ method: 'GET', url: `/tasks/${runningId}` });
      expect(response.statusCode, response.body).toBe(200);
      const state = response.json<TaskState>();
      expect(state).toMatchObject({
        taskId: runningId,
        workflowId: `task-${runningId}`,
        title: 'Stays in implement',
        priority: 'P0',
        stage: 'implement',
        status: 'running',
        assignee: { agent: 'quiet', stage: 'implement', since: anyString },
        round: 1,
        definition: { goal: 'Keep an agent busy', acceptanceCriteria: ['the agent is running'] },
        feedback: [],
        escalation: null,
      });
      expect(Number.isNaN(Date.parse(state.assignee?.since ?? ''))).toBe(false);
      expect(state.timeline.length).toBeGreaterThan(0);
      for (const entry of state.timeline) {
        expect(Object.keys(entry).sort()).toEqual(['at', 'detail', 'type']);
        expect(Number.isNaN(Date.parse(entry.at))).toBe(false);
      }
      expect(state.timeline.map((entry) => entry.type)).toContain('assigned');
    });

    it('answers 200 for a completed task: stage done, no assignee, feedback from the review', async () => {
      const state = await api.read(completedId);
      expect(state).toMatchObject({ taskId: completedId, stage: 'done', status: 'completed', priority: 'P2', assignee: null, escalation: null });
      expect(state.definition?.goal.length).toBeGreaterThan(0);
      expect(state.feedback.length).toBeGreaterThan(0);
      expect(state.feedback[0]).toMatchObject({ round: 1, from: 'reviewer', text: anyString });
    });

    it('answers 404 TaskNotFound for an unknown task', async () => {
      const id = api.taskId('T-nobody');
      const response = await api.inject({ method: 'GET', url: `/tasks/${id}` });
      expect(response.statusCode, response.body).toBe(404);
      expect(response.json<ErrorBody>()).toMatchObject({ error: 'TaskNotFound', taskId: id });
    });

    it('answers 400 for an id that fails the pattern', async () => {
      const response = await api.inject({ method: 'GET', url: '/tasks/-bad' });
      expect(response.statusCode, response.body).toBe(400);
      expect(issuePaths(response)).toContain('params.taskId');
    });
  });

  describe('GET /tasks', () => {
    it('lists this stack’s tasks with their summaries', async () => {
      const tasks = await api.listUntil('', (list) => ids(list).includes(completedId) && ids(list).includes(runningId));
      expect(tasks.find((task) => task.taskId === runningId)).toMatchObject({
        workflowId: `task-${runningId}`,
        title: 'Stays in implement',
        stage: 'implement',
        status: 'running',
        priority: 'P0',
        agent: 'quiet',
        workflowStatus: 'RUNNING',
        closeTime: null,
      });
      expect(tasks.find((task) => task.taskId === completedId)).toMatchObject({
        title: 'Runs to the end',
        stage: 'done',
        status: 'completed',
        priority: 'P2',
        agent: null,
        workflowStatus: 'COMPLETED',
        closeTime: anyString,
      });
    });

    it('filters by stage', async () => {
      const tasks = await api.listUntil('stage=implement', (list) => ids(list).includes(runningId));
      expect(ids(tasks)).not.toContain(completedId);
      for (const task of tasks) expect(task.stage).toBe('implement');
    });

    it('filters by status', async () => {
      const tasks = await api.listUntil('status=completed', (list) => ids(list).includes(completedId));
      expect(ids(tasks)).not.toContain(runningId);
      for (const task of tasks) expect(task.status).toBe('completed');
    });

    it('filters by priority', async () => {
      const p0 = await api.listUntil('priority=P0', (list) => ids(list).includes(runningId));
      expect(ids(p0)).not.toContain(completedId);
      for (const task of p0) expect(task.priority).toBe('P0');
      const p2 = await api.listUntil('priority=P2', (list) => ids(list).includes(completedId));
      expect(ids(p2)).not.toContain(runningId);
    });

    it('filters by agent', async () => {
      const tasks = await api.listUntil('agent=quiet', (list) => ids(list).includes(runningId));
      expect(ids(tasks)).not.toContain(completedId);
      for (const task of tasks) expect(task.agent).toBe('quiet');
    });

    it('combines filters', async () => {
      const tasks = await api.listUntil('stage=implement&status=running&priority=P0&agent=quiet', (list) => ids(list).includes(runningId));
      expect(ids(tasks)).toEqual([runningId]);
      const none = await api.inject({ method: 'GET', url: '/tasks?stage=review&agent=quiet' });
      expect(none.statusCode).toBe(200);
      expect(none.json<{ tasks: TaskSummary[] }>()).toEqual({ tasks: [] });
    });

    it('honours limit', async () => {
      await api.listUntil('', (list) => list.length >= 2);
      const tasks = await api.listUntil('limit=1', () => true);
      expect(tasks).toHaveLength(1);
    });

    it('filters by cost and sorts by it (tasks without a reported cost count as $0)', async () => {
      const free = await api.listUntil('maxCostUsd=0', (list) => ids(list).includes(completedId));
      for (const task of free) expect(task.costUsd).toBe(0);
      const costly = await api.inject({ method: 'GET', url: '/tasks?minCostUsd=0.5' });
      expect(costly.json<{ tasks: TaskSummary[] }>().tasks).toEqual([]);
      const sorted = await api.listUntil('sort=-cost', (list) => list.length >= 2);
      const costs = sorted.map((task) => task.costUsd ?? 0);
      expect(costs).toEqual([...costs].sort((a, b) => b - a));
    });

    it('answers 400 for a bad status or limit', async () => {
      for (const query of ['status=bogus', 'limit=0', 'limit=abc', 'stage=nowhere', 'priority=P7', 'minCostUsd=cheap', 'maxCostUsd=-1', 'sort=price']) {
        const response = await api.inject({ method: 'GET', url: `/tasks?${query}` });
        expect(response.statusCode, `${query}: ${response.body}`).toBe(400);
        expect(issuePaths(response)).toEqual([`querystring.${query.split('=')[0]}`]);
      }
    });

    it('lists only the tasks of its own task queue', async () => {
      // A task of another deployment (another queue, no worker): visible to that deployment only.
      const other = new TaskClient({ client: api.client, taskQueue: `other-${randomUUID().slice(0, 8)}` });
      const foreign = api.taskId('T-foreign');
      await other.start({ id: foreign, title: 'Someone else’s task' });
      try {
        const deadline = Date.now() + 15_000;
        while (!ids(await other.list()).includes(foreign)) {
          if (Date.now() > deadline) throw new Error('the foreign task never reached visibility');
          await new Promise((r) => setTimeout(r, 100));
        }
        const mine = await api.listUntil('limit=1000', (list) => ids(list).includes(runningId));
        expect(ids(mine)).not.toContain(foreign);
        for (const task of mine) {
          const description = await api.client.workflow.getHandle(task.workflowId).describe();
          expect(description.taskQueue).toBe(api.taskQueue);
        }
      } finally {
        await api.client.workflow.getHandle(`task-${foreign}`).terminate('test done');
      }
    });
  });
});
