/**
 * Hostile input against every route of the OpenAPI document: schemathesis generates requests from `/docs/json`
 * (valid and invalid: wrong types, missing and extra fields, odd bytes, wrong methods) against `baton dev`,
 * and fails on any 5xx. The API's own request counter (`baton_http_requests_total` on /metrics) says how
 * many requests it answered and with what. `npm test` runs at least HOSTILE_REQUESTS=10000 of them;
 * `npm run hostile` at least 30,000.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBatonDev, type BatonDev } from '../helpers/baton-dev';
import { ensureSchemathesis } from '../helpers/schemathesis';
import { FIXTURE_AGENTS_DIR } from '../helpers/stack';

const TARGET = Number(process.env.HOSTILE_REQUESTS ?? 10_000);

/** Requests the API answered so far, by status code (its own counter). */
async function answered(dev: BatonDev): Promise<Map<number, number>> {
  const text = await (await fetch(`${dev.apiUrl}/metrics`)).text();
  const byStatus = new Map<number, number>();
  for (const match of text.matchAll(/^baton_http_requests_total\{[^}]*status="(\d+)"[^}]*\} (\d+)$/gm)) {
    byStatus.set(Number(match[1]), (byStatus.get(Number(match[1])) ?? 0) + Number(match[2]));
  }
  return byStatus;
}

const total = (counts: Map<number, number>, filter: (status: number) => boolean = () => true) =>
  [...counts].filter(([status]) => filter(status)).reduce((sum, [, n]) => sum + n, 0);

describe('hostile input', () => {
  let dev: BatonDev;
  let schemathesis: string;

  beforeAll(async () => {
    schemathesis = await ensureSchemathesis((line) => process.stderr.write(`[hostile] ${line}\n`));
    // One agent that runs no worker takes every stage: the tasks generated requests start wait on its queue.
    dev = await startBatonDev(['--agents', join(FIXTURE_AGENTS_DIR, 'hostile-agents.yaml')]);
  }, 300_000);
  afterAll(async () => {
    await dev?.interrupt();
  });

  it(`answers at least ${TARGET} generated requests over every route with no 5xx`, async () => {
    const before = await answered(dev);
    const reports = mkdtempSync(join(tmpdir(), 'baton-hostile-'));
    let runs = 0;
    const started = Date.now();
    // Each run is one seed over every operation (coverage: schema-derived edge cases; fuzzing: random data);
    // runs repeat with new seeds until the API answered the target.
    while (total(await answered(dev)) - total(before) < TARGET) {
      runs += 1;
      const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(
          schemathesis,
          [
            'run',
            `${dev.apiUrl}/docs/json`,
            '--checks', 'not_a_server_error',
            '--phases', 'coverage,fuzzing',
            '--max-examples', '60',
            // One worker: with threads, CPython 3.11's ast module can fail inside Hypothesis (cpython#106905).
            '--workers', '1',
            '--no-shrink',
            '--seed', String(1000 + runs),
            '--request-timeout', '70',
            '--generation-database', 'none',
            '--report', 'ndjson',
            '--report-dir', reports,
            '--no-color',
          ],
          { maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 },
          (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
        );
      });
      // On a failure: what schemathesis saw, and what the API logged about it.
      const apiErrors = dev.output().split('\n').filter((line) => line.includes('"level":50')).slice(-5).join('\n');
      expect(result.code, `${result.output.slice(-6000)}\n--- API errors ---\n${apiErrors}`).toBe(0);
      if (runs >= 20) break;
    }
    const after = await answered(dev);
    const seen = new Map([...after].map(([status, n]) => [status, n - (before.get(status) ?? 0)]));
    const requests = total(seen);
    const serverErrors = total(seen, (status) => status >= 500);
    const byStatus = [...seen].filter(([, n]) => n > 0).sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`).join(', ');
    console.log(`hostile input: ${requests} requests in ${runs} schemathesis run(s), ${Math.round((Date.now() - started) / 1000)} s; by status ${byStatus}; 5xx: ${serverErrors}`);
    expect(requests).toBeGreaterThanOrEqual(TARGET);
    expect(serverErrors).toBe(0);
    // The stack is still healthy afterwards.
    expect((await dev.request('GET', '/healthz')).status).toBe(200);
  }, 30 * 60_000);
});
