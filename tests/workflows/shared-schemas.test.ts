/**
 * The schema modules a worker shares between its workflows are deep-frozen by the SDK (its reusable VM freezes
 * every preloaded module). zod finishes schemas lazily, so a frozen schema that was never finished throws on
 * its first use; workflows/shared-schemas.ts finishes them before the freeze. This test freezes the shared
 * modules the way the SDK does and uses every kind of schema they export, on valid and invalid input.
 * (The workflow tests run the same modules inside the real SDK against a real Temporal server.)
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as agentProtocol from '../../workflows/agent-protocol';
import { FINISHED_SCHEMAS } from '../../workflows/shared-schemas';
import * as signalPayloads from '../../workflows/signal-payloads';
import * as spec from '../../workflows/spec';
import * as workspace from '../../workflows/workspace';

/** What the SDK's reusable VM does to a preloaded module: objects frozen all the way down, functions shallowly. */
function deepFreeze(value: unknown, seen = new WeakSet<object>()): void {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) return;
  seen.add(value);
  if (Object.isFrozen(value)) return;
  if (typeof value === 'object') {
    for (const key of Reflect.ownKeys(value)) {
      try {
        deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
      } catch {
        // some objects cannot be frozen (typed arrays), as in the SDK
      }
    }
  }
  Object.freeze(value);
}

describe('schemas shared between workflows', () => {
  it('a zod schema frozen before its first use throws (why the shared ones are finished first)', () => {
    const unfinished = z.object({ by: z.string().min(1), items: z.array(z.object({ n: z.number() })) });
    deepFreeze(unfinished);
    expect(() => unfinished.safeParse({ by: 'alice', items: [{ n: 1 }] })).toThrow(/not extensible|read only|Cannot (define|assign)/);
  });

  it('every shared schema works frozen: specs, signal payloads and agent reports, valid and invalid', () => {
    expect(FINISHED_SCHEMAS).toBeGreaterThan(50);
    for (const moduleExports of [spec, agentProtocol, workspace, signalPayloads]) deepFreeze(moduleExports);

    const parsed = spec.TaskSpecSchema.safeParse({
      id: 'T-1',
      title: 'Add rate limiting',
      goal: 'limit logins',
      acceptanceCriteria: ['429 after 5 tries'],
      priority: 'P1',
      repo: { url: '/srv/git/app.git', baseBranch: 'main' },
      policy: { gates: 'strict', minConfidence: 0.8, maxCostUsd: 5, deliver: 'push', stallTimeout: '2h' },
    });
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(parsed.data?.repo?.url).toBe('/srv/git/app.git');

    const credentials = spec.TaskSpecSchema.safeParse({ title: 'x', repo: { url: 'https://user:secret@example.com/r.git' } });
    expect(credentials.success).toBe(false);
    const strictPolicy = spec.TaskSpecSchema.safeParse({ title: 'x', policy: { nonsense: 1 } });
    expect(strictPolicy.success).toBe(false);
    expect(spec.DurationSchema.safeParse('90m').success).toBe(true);
    expect(spec.DurationSchema.safeParse('soon').success).toBe(false);

    const { SIGNAL_PAYLOADS } = signalPayloads;
    expect(SIGNAL_PAYLOADS.approve.safeParse({ by: 'alice', comment: 'ok' }).success).toBe(true);
    expect(SIGNAL_PAYLOADS.addNote.safeParse({ by: '  ', text: 'x' }).success).toBe(false);
    expect(SIGNAL_PAYLOADS.reassign.safeParse({ by: 'bob', stage: 'review' }).data).toEqual({ by: 'bob', stage: 'review' });
    expect(SIGNAL_PAYLOADS.setPriority.safeParse({ by: 'bob', priority: 'P9' }).success).toBe(false);
    expect(SIGNAL_PAYLOADS.setBudget.safeParse({ by: 'bob', maxCostUsd: -1 }).error?.issues[0]?.path).toEqual(['maxCostUsd']);

    const report = agentProtocol.AgentReportSchema.safeParse({
      outcome: 'completed',
      definition: { goal: 'g' },
      usage: { inputTokens: 10, costUsd: 0.01 },
    });
    expect(report.data?.definition?.acceptanceCriteria).toEqual([]);
    expect(agentProtocol.AgentReportSchema.safeParse({ outcome: 'done' }).success).toBe(false);
  });
});
