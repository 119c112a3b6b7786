/**
 * `GET /agents`: the fleet as Temporal knows it (activities/fleet/registry.ts), no side database: each agent's
 * record, its live workers (worker heartbeats), what waits on its queue, the tasks it runs and its figures.
 */
import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { readFleet } from '../../activities/fleet/registry';
import { AGENT_STATUSES } from '../../activities/fleet/routing';
import { AGENT_STAGES } from '../../workflows/spec';
import { callTemporal } from '../task-client';

const WorkerSchema = z.object({
  identity: z.string(),
  host: z.string().nullable(),
  pid: z.number().nullable(),
  usedSlots: z.number().nullable().describe('Activity slots in use (null when only pollers are known)'),
  slots: z.number(),
  lastHeartbeat: z.string().nullable(),
});

export const AgentSummarySchema = z.object({
  name: z.string(),
  kind: z.enum(['worker', 'claim']).describe('worker: runs a worker (baton agent); claim: claims its work over REST or MCP'),
  roles: z.array(z.enum(AGENT_STAGES)),
  capabilities: z.array(z.string()),
  maxConcurrent: z.number().describe('Slots per worker; replicas add up'),
  preset: z.string().optional(),
  model: z.string().optional(),
  status: z.enum(AGENT_STATUSES),
  workers: z.array(WorkerSchema).describe('Live workers (none for a claim agent)'),
  running: z.array(z.string()).describe('Task ids the agent runs (or that wait on its queue)'),
  backlog: z.number().describe("Work waiting on the agent's queue (Temporal's approximate count)"),
  stats: z.object({ completed: z.number(), failed: z.number(), meanStageMs: z.number().nullable() }),
});

export const agentRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/agents',
    {
      schema: {
        summary: 'Every agent of the deployment with its status, live workers, running tasks and figures, from Temporal',
        response: {
          200: z.object({ agents: z.array(AgentSummarySchema), workerSource: z.enum(['heartbeats', 'pollers']) }),
        },
      },
    },
    async () => {
      const { client } = app.tasks;
      const fleet = await callTemporal(client, 10_000, () => readFleet({ client, namespace: client.options.namespace, baseQueue: app.tasks.taskQueue }));
      return {
        workerSource: fleet.workerSource,
        agents: fleet.agents.map(({ descriptor, status, workers, running, backlog, stats }) => ({
          ...descriptor,
          status,
          workers,
          running,
          backlog,
          stats,
        })),
      };
    },
  );
};
