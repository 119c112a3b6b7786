/**
 * `GET /metrics`, Prometheus' text format: the tasks of this deployment by stage and status (counted in
 * Temporal visibility, at most every 5 s), Baton's own counters and histograms of this process (escalations,
 * assignment and handoff latency, gate runs, stage outcomes, cost; activities/metrics.ts), and the Temporal
 * SDK's worker metrics of this process (`temporal_*`) when it runs workers (`baton dev`, `baton worker`).
 */
import type { FastifyPluginAsync } from 'fastify';
import { getSdkMetricsUrl, renderGauge, renderMetrics } from '../../activities/metrics';
import { BatonStage, BatonStatus } from '../../workflows/search-attributes';
import { AGENT_STAGES } from '../../workflows/spec';
import type { TaskClient } from '../task-client';

const OPEN_STATUSES = ['queued', 'running', 'waiting', 'escalated', 'paused'] as const;
/** Closed tasks: completed (stage done) and cancelled end their workflow normally; failed ones fail it (or were terminated). */
const CLOSED: { labels: Record<string, string>; where: string }[] = [
  { labels: { stage: 'done', status: 'completed' }, where: `ExecutionStatus = 'Completed' AND ${BatonStatus.name} = 'completed'` },
  { labels: { stage: 'any', status: 'cancelled' }, where: `ExecutionStatus = 'Completed' AND ${BatonStatus.name} = 'cancelled'` },
  { labels: { stage: 'any', status: 'failed' }, where: `ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')` },
];
const TASK_COUNTS_TTL_MS = 5_000;

type Sample = { labels: Record<string, string>; value: number };

/** Counts of tasks by stage and status: one visibility count each (Temporal groups by ExecutionStatus only). */
async function countTasks(tasks: TaskClient): Promise<Sample[]> {
  const base = tasks.visibilityQuery();
  const count = async (labels: Record<string, string>, where: string): Promise<Sample> => ({
    labels,
    value: (await tasks.client.workflow.count(`${base} AND ${where}`)).count,
  });
  const open = OPEN_STATUSES.flatMap((status) =>
    AGENT_STAGES.map((stage) =>
      count({ stage, status }, `ExecutionStatus = 'Running' AND ${BatonStatus.name} = '${status}' AND ${BatonStage.name} = '${stage}'`),
    ),
  );
  return Promise.all([...open, ...CLOSED.map(({ labels, where }) => count(labels, where))]);
}

/** This process's memory: resident set, and the main V8 heap (workflow threads have heaps of their own). */
function renderProcessMemory(): string {
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  return [
    renderGauge('baton_process_resident_memory_bytes', 'Resident memory of this Baton process.', [{ labels: {}, value: rss }]),
    renderGauge('baton_process_heap_bytes', 'The main V8 heap of this process: used, and total (allocated).', [
      { labels: { kind: 'used' }, value: heapUsed },
      { labels: { kind: 'total' }, value: heapTotal },
    ]),
    renderGauge('baton_process_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects (buffers).', [{ labels: {}, value: external }]),
  ].join('\n');
}

export const metricsRoutes: FastifyPluginAsync = async (app) => {
  let cached: { at: number; samples: Sample[] } | null = null;
  app.get('/metrics', { schema: { summary: 'Prometheus metrics: tasks by stage and status, escalations, latencies, gates, cost, SDK worker metrics' } }, async (request, reply) => {
    const parts: string[] = [];
    try {
      if (!cached || Date.now() - cached.at > TASK_COUNTS_TTL_MS) {
        cached = { at: Date.now(), samples: await app.tasks.client.withDeadline(Date.now() + 5_000, () => countTasks(app.tasks)) };
      }
      parts.push(renderGauge('baton_tasks', 'Tasks of this deployment by stage and status (Temporal visibility).', cached.samples));
    } catch (error) {
      // Temporal out of reach: the process's own metrics are still worth scraping.
      request.log.warn({ err: error }, 'task counts unavailable');
      parts.push(renderGauge('baton_tasks_up', 'Whether the task counts could be read from Temporal.', [{ labels: {}, value: 0 }]));
    }
    parts.push(renderMetrics(), renderProcessMemory());
    const sdk = getSdkMetricsUrl();
    if (sdk) {
      try {
        const response = await fetch(sdk, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) parts.push((await response.text()).trimEnd());
      } catch (error) {
        request.log.warn({ err: error }, 'SDK metrics unavailable');
      }
    }
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${parts.join('\n')}\n`);
  });
};
