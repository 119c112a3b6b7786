import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { SIGNAL_PAYLOADS } from '../../workflows/messages';
import { TaskSpecSchema } from '../../workflows/spec';
import {
  ErrorSchema,
  StartedTaskSchema,
  TaskConflictSchema,
  TaskParamsSchema,
  TaskStateSchema,
  TaskSummarySchema,
  ValidationErrorSchema,
} from '../schemas';
import { TaskFiltersSchema } from '../task-client';

export interface TaskRoutesOptions {
  onTaskStarted?: (task: { taskId: string; ui: string | null }) => void;
}

/** Starting, reading and listing tasks. */
export const taskRoutes: FastifyPluginAsyncZod<TaskRoutesOptions> = async (app, options) => {
  app.post(
    '/tasks',
    {
      schema: {
        summary: 'Start a task (only title is required)',
        body: TaskSpecSchema,
        response: {
          201: StartedTaskSchema,
          400: ValidationErrorSchema,
          409: TaskConflictSchema,
        },
      },
    },
    async (request, reply) => {
      const started = await app.tasks.start(request.body);
      options.onTaskStarted?.({ taskId: started.taskId, ui: started.links.ui });
      return reply.status(201).send(started);
    },
  );

  app.post(
    '/tasks/kill-all',
    {
      schema: {
        summary: 'Kill switch: cancel every open task (running agents are stopped)',
        body: SIGNAL_PAYLOADS.cancel,
        response: {
          200: z.object({
            matched: z.number(),
            cancelled: z.number(),
            failed: z.array(z.object({ taskId: z.string(), error: z.string() })),
          }),
          400: ValidationErrorSchema,
        },
      },
    },
    async (request) => app.tasks.killAll(request.body),
  );

  app.get(
    '/tasks/:taskId',
    {
      schema: {
        summary: 'The state of one task (the workflow query `state`)',
        params: TaskParamsSchema,
        response: { 200: TaskStateSchema, 404: ErrorSchema.extend({ taskId: z.string() }) },
      },
    },
    async (request) => ({ ...(await app.tasks.state(request.params.taskId)) }),
  );

  app.get(
    '/tasks',
    {
      schema: {
        summary: 'List tasks from Temporal visibility',
        querystring: TaskFiltersSchema,
        response: { 200: z.object({ tasks: z.array(TaskSummarySchema) }), 400: ValidationErrorSchema },
      },
    },
    async (request) => ({ tasks: await app.tasks.list(request.query) }),
  );
};
