/**
 * Baton's own metrics in this process, in Prometheus' text format: what the activities observe (escalations,
 * assignment and handoff latency, gate runs, stage outcomes, cost and tokens). The API's `/metrics` serves
 * them with the task counts from Temporal visibility and the Temporal SDK's worker metrics (Core's Prometheus
 * exporter on a loopback port of this process). A small registry of its own: counters and histograms with
 * labels, nothing else.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

interface Metric {
  render(): string;
}

class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    if (!Number.isFinite(by) || by < 0) return;
    const key = keyOf(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    if (!Number.isFinite(value) || value < 0) return;
    const key = keyOf(labels);
    const entry = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, i) => {
      if (value <= bound) entry.counts[i]! += 1;
    });
    entry.sum += value;
    entry.count += 1;
    this.series.set(key, entry);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

/** Seconds: from 5 ms to ten minutes. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export const metrics = {
  escalations: new Counter('baton_escalations_total', 'Escalations to a human, by reason (reminders not counted).'),
  assignment: new Histogram('baton_assignment_seconds', "Task created -> its first agent's activity started.", LATENCY_BUCKETS),
  handoff: new Histogram('baton_handoff_seconds', 'Stage done -> the next stage\'s agent activity started (gates in between included).', LATENCY_BUCKETS),
  stages: new Counter('baton_stage_runs_total', 'Agent stage attempts that ended, by agent, stage and outcome.'),
  gates: new Counter('baton_gate_runs_total', 'Quality gate runs, by gate name and result (passed, failed).'),
  gateSeconds: new Histogram('baton_gate_seconds', 'Duration of quality gate runs, by gate name.', LATENCY_BUCKETS),
  costUsd: new Counter('baton_cost_usd_total', 'Cost agents reported (US dollars), by agent.'),
  tokens: new Counter('baton_tokens_total', 'Tokens agents reported, by agent and kind (input, output).'),
  httpRequests: new Counter('baton_http_requests_total', 'API requests answered, by method, route and status code.'),
};

/** Where this process's Temporal SDK serves its worker metrics (set when the runtime is installed with them). */
let sdkMetricsUrl: string | null = null;

export function setSdkMetricsUrl(url: string | null): void {
  sdkMetricsUrl = url;
}

export function getSdkMetricsUrl(): string | null {
  return sdkMetricsUrl;
}

/** Every metric of this process's registry, in Prometheus' text format. */
export function renderMetrics(): string {
  return Object.values(metrics)
    .map((metric: Metric) => metric.render())
    .join('\n');
}

/** A gauge family rendered from values read now (the API's task counts). */
export function renderGauge(name: string, help: string, samples: { labels: Labels; value: number }[]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map(({ labels, value }) => `${name}${labelText(labels)} ${value}`)].join('\n');
}
