import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { AgentReportSchema } from '../../workflows/agent-protocol';
import { BadRequestError } from '../errors';
import { ErrorSchema, ValidationErrorSchema } from '../schemas';
import {
  AgentNameSchema,
  ClaimWaitSchema,
  DEFAULT_CLAIM_WAIT_MS,
  FailWorkSchema,
  FinishedWorkSchema,
  HeartbeatAnswerSchema,
  HeartbeatWorkSchema,
  InvalidWorkResultError,
  WorkItemSchema,
  WorkTokenParamSchema,
} from '../work-items';

const TokenParams = z.object({ token: WorkTokenParamSchema });
const NotFound = ErrorSchema.describe('AgentNotFound / WorkNotFound');

/** Claimed work for agents that run no worker (a hosted agent, a person): claim, heartbeat, complete, fail. */
export const workRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/agents/:name/claim',
    {
      schema: {
        summary: 'Claim the next work item of an agent declared with claim: true (204 when none came within waitMs)',
        params: z.object({ name: AgentNameSchema }),
        querystring: z.object({
          waitMs: ClaimWaitSchema.default(DEFAULT_CLAIM_WAIT_MS).describe(
            'How long to wait for work, 0..55000 ms (Temporal long-polls at least about 2 s)',
          ),
        }),
        response: {
          200: WorkItemSchema,
          204: z.null().describe('No work item came within waitMs'),
          400: ValidationErrorSchema,
          404: NotFound,
          409: ErrorSchema.describe('AgentNotClaimable: the agent runs a worker'),
        },
      },
    },
    async (request, reply) => {
      // A claimant that hangs up stops the wait (work already handed over is still answered, into the void).
      const left = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) left.abort();
      });
      const item = await app.workItems.claim(request.params.name, { waitMs: request.query.waitMs, signal: left.signal });
      if (!item) return reply.status(204).send(null);
      return reply.status(200).send({ ...item, context: { ...item.context } });
    },
  );

  app.post(
    '/work/:token/heartbeat',
    {
      schema: {
        summary: 'A sign of life from a claimed work item (with a message: a progress report on the timeline)',
        params: TokenParams,
        body: HeartbeatWorkSchema.nullish(),
        response: {
          200: HeartbeatAnswerSchema,
          400: ValidationErrorSchema.or(ErrorSchema),
          404: NotFound,
        },
      },
    },
    async (request) => ({ ok: true as const, ...(await app.workItems.heartbeat(request.params.token, request.body ?? {})) }),
  );

  app.post(
    '/work/:token/complete',
    {
      schema: {
        summary: 'Complete a claimed work item with the agent result (outcome, summary, feedback, confidence, definition, usage)',
        params: TokenParams,
        body: AgentReportSchema,
        response: { 200: FinishedWorkSchema, 400: ValidationErrorSchema.or(ErrorSchema), 404: NotFound },
      },
    },
    async (request) => {
      try {
        return await app.workItems.complete(request.params.token, request.body);
      } catch (error) {
        if (error instanceof InvalidWorkResultError) throw new BadRequestError(error.issues);
        throw error;
      }
    },
  );

  app.post(
    '/work/:token/fail',
    {
      schema: {
        summary: 'Fail a claimed work item: the task retries the stage, then asks a human',
        params: TokenParams,
        body: FailWorkSchema,
        response: { 200: FinishedWorkSchema, 400: ValidationErrorSchema.or(ErrorSchema), 404: NotFound },
      },
    },
    async (request) => app.workItems.fail(request.params.token, request.body),
  );
};
