import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';

/** `GET /healthz`: 200 when Temporal answers within two seconds, 503 otherwise. */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness of the API and its connection to Temporal',
        response: {
          200: z.object({ ok: z.literal(true), temporal: z.literal('reachable') }),
          503: z.object({ ok: z.literal(false), temporal: z.literal('unreachable') }),
        },
      },
    },
    async (_request, reply) => {
      try {
        await app.tasks.client.connection.withDeadline(Date.now() + 2_000, () =>
          app.tasks.client.workflowService.getSystemInfo({}),
        );
        return { ok: true as const, temporal: 'reachable' as const };
      } catch {
        return reply.status(503).send({ ok: false as const, temporal: 'unreachable' as const });
      }
    },
  );
};
