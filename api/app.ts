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
import { registerErrorHandler } from './errors';
import { healthRoutes } from './routes/health';
import { signalRoutes } from './routes/signals';
import { taskRoutes } from './routes/tasks';
import { TaskClient, type TaskClientOptions } from './task-client';

declare module 'fastify' {
  interface FastifyInstance {
    tasks: TaskClient;
  }
}

export interface BuildAppOptions extends TaskClientOptions {
  logger?: FastifyServerOptions['logger'];
  /** Called once per started task (e.g. `baton dev` prints its Web UI link). */
  onTaskStarted?: (task: { taskId: string; ui: string | null }) => void;
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('tasks', new TaskClient(options));
  registerErrorHandler(app);

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
  await app.register(taskRoutes, { onTaskStarted: options.onTaskStarted });
  await app.register(signalRoutes);
  return app;
}
