/**
 * `buildApp`: the Fastify application (plugins, then routes) with the Temporal client injected, so the
 * process entry and the tests build the same app.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from '@fastify/type-provider-zod';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { metrics } from '../activities/metrics';
import type { ApiTokens } from './auth';
import { registerAuth } from './auth-hook';
import { registerErrorHandler } from './errors';
import { agentRoutes } from './routes/agents';
import { healthRoutes } from './routes/health';
import { metricsRoutes } from './routes/metrics';
import { signalRoutes } from './routes/signals';
import { taskRoutes } from './routes/tasks';
import { mcpRoutes } from './routes/mcp';
import { workRoutes } from './routes/work';
import { TaskClient, type TaskClientOptions } from './task-client';
import { WorkItems } from './work-items';

declare module 'fastify' {
  interface FastifyInstance {
    tasks: TaskClient;
    /** Claimed work of agents that run no worker (REST `/agents/:name/claim`, `/work/:token/*`, MCP). */
    workItems: WorkItems;
  }
}

export interface BuildAppOptions extends TaskClientOptions {
  logger?: FastifyServerOptions['logger'];
  /** Called once per started task (e.g. `baton dev` prints its Web UI link). */
  onTaskStarted?: (task: { taskId: string; ui: string | null }) => void;
  /** API tokens with roles (api/auth.ts); null or absent: no auth. */
  auth?: ApiTokens | null;
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  // A work token travels in the path (`/work/:token/complete`): longer than Fastify's default 100 characters.
  const app = Fastify({ logger: options.logger ?? false, routerOptions: { maxParamLength: 4096 } }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('tasks', new TaskClient(options));
  app.decorate('workItems', new WorkItems({ client: options.client, taskQueue: options.taskQueue, callTimeoutMs: options.callTimeoutMs }));
  registerErrorHandler(app);
  registerAuth(app, options.auth ?? null);
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Baton',
        description: 'Durable orchestration of AI coding agents and their human supervisors, on Temporal.',
        version: '1.0.0',
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes);
  await app.register(metricsRoutes);
  await app.register(taskRoutes, { onTaskStarted: options.onTaskStarted });
  await app.register(signalRoutes);
  await app.register(agentRoutes);
  await app.register(workRoutes);
  await app.register(mcpRoutes);
  return app;
}
