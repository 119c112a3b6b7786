/** The API's one error handler: validation -> 400, unknown task -> 404, conflicts -> 409, never internals on 5xx. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from '@fastify/type-provider-zod';
import { isGrpcServiceError } from '@temporalio/client';
import { ZodError } from 'zod';
import { DuplicateTaskError } from './task-admission';
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
    if (error instanceof DuplicateTaskError) {
      return reply.status(409).send({ error: 'DuplicateTask', taskId: error.taskId, workflowId: error.workflowId, message: error.message });
    }
    if (error instanceof TaskClosedError) {
      return reply.status(409).send({ error: 'TaskClosed', taskId: error.taskId, status: error.status });
    }
    if (error instanceof TemporalUnavailableError) {
      request.log.warn({ err: error.cause }, 'Temporal unavailable');
      return reply.status(503).send({ error: 'TemporalUnavailable' });
    }
    const notReady = missingSearchAttribute(error);
    if (notReady) {
      request.log.error({ err: error }, 'namespace not prepared for Baton');
      return reply.status(503).send({ error: 'NamespaceNotReady', message: `${notReady}: run \`baton setup\` against this Temporal server` });
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    // A body that is not JSON (or empty, or of the wrong encoding) is a validation error like any other:
    // routes declare their 400 answer as `ValidationError`, so that is the form it takes.
    if (status === 400 && 'code' in error && String(error.code).startsWith('FST_')) {
      return reply.status(400).send({ error: 'ValidationError', issues: [{ path: '(body)', message: error.message }] });
    }
    if (status < 500) return reply.status(status).send({ error: error.name, message: error.message });
    request.log.error({ err: error }, 'request failed');
    return reply.status(status).send({ error: 'InternalError' });
  });
}

/** The message of a Temporal answer saying the namespace lacks one of Baton's search attributes, if that is the error. */
function missingSearchAttribute(error: unknown): string | undefined {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && (e.code as number) === 3 /* INVALID_ARGUMENT */ && /search attribute/i.test(e.details ?? e.message)) return e.details || e.message;
  }
  return undefined;
}
