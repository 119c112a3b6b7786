/** The API's one error handler: validation -> 400, unknown task -> 404, conflicts -> 409, never internals on 5xx. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from '@fastify/type-provider-zod';
import { ZodError } from 'zod';
import { TaskAlreadyExistsError, TaskClosedError, TaskNotFoundError, TemporalUnavailableError } from './task-client';

export interface Issue {
  path: string;
  message: string;
}

/** Answers 400 with the contract's `ValidationError` body. */
export class BadRequestError extends Error {
  constructor(readonly issues: Issue[]) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
  }
}

function pathOf(segments: readonly PropertyKey[], prefix?: string): string {
  const path = segments.map(String).join('.');
  return [prefix, path].filter(Boolean).join('.') || '(root)';
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext === 'body' ? undefined : error.validationContext;
      const issues = error.validation.map((v) => ({
        path: pathOf(v.instancePath.split('/').filter(Boolean), where),
        message: v.message ?? 'invalid',
      }));
      return reply.status(400).send({ error: 'ValidationError', issues });
    }
    if (error instanceof ZodError) {
      return reply.status(400).send({
        error: 'ValidationError',
        issues: error.issues.map((issue) => ({ path: pathOf(issue.path), message: issue.message })),
      });
    }
    if (error instanceof BadRequestError) return reply.status(400).send({ error: 'ValidationError', issues: error.issues });
    if (error instanceof TaskNotFoundError) return reply.status(404).send({ error: 'TaskNotFound', taskId: error.taskId });
    if (error instanceof TaskAlreadyExistsError) {
      return reply.status(409).send({ error: 'TaskAlreadyExists', taskId: error.taskId });
    }
    if (error instanceof TaskClosedError) {
      return reply.status(409).send({ error: 'TaskClosed', taskId: error.taskId, status: error.status });
    }
    if (error instanceof TemporalUnavailableError) {
      request.log.warn({ err: error.cause }, 'Temporal unavailable');
      return reply.status(503).send({ error: 'TemporalUnavailable' });
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status < 500) return reply.status(status).send({ error: error.name, message: error.message });
    request.log.error({ err: error }, 'request failed');
    return reply.status(status).send({ error: 'InternalError' });
  });
}
