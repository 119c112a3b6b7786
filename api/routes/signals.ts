import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { SIGNAL_NAMES, isSignalName } from '../../workflows/messages';
import { BadRequestError } from '../errors';
import { ErrorSchema, TaskParamsSchema, ValidationErrorSchema } from '../schemas';

/** `POST /tasks/:taskId/signals/:name`: forwards a human override (or an agent's report) to the task. */
export const signalRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/tasks/:taskId/signals/:name',
    {
      schema: {
        summary: `Send a signal to a task: ${SIGNAL_NAMES.join(', ')}`,
        params: TaskParamsSchema.extend({ name: z.string() }),
        body: z.unknown(),
        response: {
          202: z.object({ accepted: z.literal(true) }),
          400: ValidationErrorSchema,
          404: ErrorSchema.extend({ taskId: z.string() }),
          409: ErrorSchema.extend({ taskId: z.string(), status: z.string() }),
        },
      },
    },
    async (request, reply) => {
      const { taskId, name } = request.params;
      if (!isSignalName(name)) {
        throw new BadRequestError([{ path: 'name', message: `unknown signal "${name}"; expected one of ${SIGNAL_NAMES.join(', ')}` }]);
      }
      await app.tasks.signal(taskId, name, request.body ?? {});
      return reply.status(202).send({ accepted: true as const });
    },
  );
};
