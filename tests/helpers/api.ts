/**
 * API tests: a test stack (real dev server, workers on a queue of their own) plus the Fastify app built on
 * its client, driven with `app.inject()`.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildApp, type BuildAppOptions } from '../../api/app';
import type { TaskSummary } from '../../api/task-client';
import type { TaskSpecInput } from '../../workflows/spec';
import type { TaskState } from '../../workflows/state';
import { demoAgents, fixtureAgent, startStack, type StackOptions, type TestStack } from './stack';

export interface ApiStack extends TestStack {
  app: FastifyInstance;
  /** `POST /tasks` with this body. */
  post(body: unknown): Promise<LightMyRequestResponse>;
  /** `POST /tasks` that must answer 201; returns the started task's id. */
  create(spec: TaskSpecInput): Promise<string>;
  /** `GET /tasks/:taskId`, the state it answers (asserts 200). */
  read(taskId: string): Promise<TaskState>;
  /** `POST /tasks/:taskId/signals/:name` with `payload` as the body. */
  signal(taskId: string, name: string, payload?: unknown): Promise<LightMyRequestResponse>;
  /** `GET /tasks?query` polled (visibility is eventually consistent) until `predicate` holds on the list. */
  listUntil(query: string, predicate: (tasks: TaskSummary[]) => boolean, timeoutMs?: number): Promise<TaskSummary[]>;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
}

export async function startApiStack(
  options: StackOptions & { app?: Omit<Partial<BuildAppOptions>, 'client' | 'taskQueue'> } = { agents: [] },
): Promise<ApiStack> {
  const stack = await startStack(options);
  const app = await buildApp({ client: stack.client, taskQueue: stack.taskQueue, ...options.app });
  await app.ready();

  const inject = (request: InjectOptions) => app.inject(request);
  const post = (body: unknown) => inject({ method: 'POST', url: '/tasks', payload: body as never });

  return {
    ...stack,
    app,
    inject,
    post,
    async create(spec) {
      const response = await post(spec);
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ taskId: string }>().taskId;
    },
    async read(taskId) {
      const response = await inject({ method: 'GET', url: `/tasks/${encodeURIComponent(taskId)}` });
      expect(response.statusCode, response.body).toBe(200);
      return response.json<TaskState>();
    },
    signal(taskId, name, payload = {}) {
      return inject({
        method: 'POST',
        url: `/tasks/${encodeURIComponent(taskId)}/signals/${encodeURIComponent(name)}`,
        payload: payload as never,
      });
    },
    async listUntil(query, predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await inject({ method: 'GET', url: `/tasks?${query}` });
        expect(response.statusCode, response.body).toBe(200);
        const { tasks } = response.json<{ tasks: TaskSummary[] }>();
        if (predicate(tasks)) return tasks;
        if (Date.now() > deadline) {
          throw new Error(`GET /tasks?${query} did not match in ${timeoutMs} ms; last answer:\n${JSON.stringify(tasks, null, 2)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await app.close();
      // Tasks still open (an agent sleeping in implement) would hold the agent workers' shutdown grace time.
      const open = await stack.tasks.list({ limit: 1000 }).catch(() => []);
      await Promise.all(
        open
          .filter((task) => task.workflowStatus === 'RUNNING')
          .map((task) => stack.client.workflow.getHandle(task.workflowId).terminate('test stack stopped').catch(() => undefined)),
      );
      await stack.stop();
    },
  };
}

export const ids = (tasks: TaskSummary[]): string[] => tasks.map((task) => task.taskId);

/** One entry of a 400 answer's `issues`. */
export interface Issue {
  path: string;
  message: string;
}

/** The body of an error answer (400, 404, 409, 5xx). */
export interface ErrorBody {
  error: string;
  issues?: Issue[];
  taskId?: string;
  status?: string;
  message?: string;
}

/** The paths of a 400 answer's issues (asserts it is a `ValidationError`). */
export function issuePaths(response: LightMyRequestResponse): string[] {
  const body = response.json<ErrorBody>();
  expect(body.error, response.body).toBe('ValidationError');
  expect(Array.isArray(body.issues), response.body).toBe(true);
  for (const issue of body.issues ?? []) {
    expect(typeof issue.message).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
  }
  return (body.issues ?? []).map((issue) => issue.path);
}

/** `expect.any(String)`, typed for use inside object literals. */
export const anyString: unknown = expect.any(String);

/**
 * The demo agents plus `quiet`, an implement agent that prints one line and sleeps: a task pinned to it
 * stays running in implement. Tasks meant to finish pin the demo agents (`demoSpec`), so none lands on it.
 */
export function agentsWithQuiet() {
  return [...demoAgents(), fixtureAgent('quiet', ['implement'], 'quiet.mjs')];
}

/** A spec that skips define (goal and criteria given) and stays running in implement with `quiet`. */
export function heldSpec(id: string, title = 'Stays in implement'): TaskSpecInput {
  return {
    id,
    title,
    goal: 'Keep an agent busy',
    acceptanceCriteria: ['the agent is running'],
    priority: 'P0',
    agents: { implement: 'quiet' },
  };
}

/** A spec the demo agents carry to completion (pinned to them, so `quiet` never picks it up). */
export function demoSpec(id: string, title = 'Runs to the end'): TaskSpecInput {
  return { id, title, priority: 'P2', agents: { define: 'planner', implement: 'coder', review: 'reviewer' } };
}
