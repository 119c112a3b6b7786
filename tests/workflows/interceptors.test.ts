import { describe, expect, it } from 'vitest';
import { mergeUpserts } from '../../workflows/interceptors';

const payload = (value: string) => ({ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(value)) });
const upsert = (fields: Record<string, string>) => ({
  upsertWorkflowSearchAttributes: { searchAttributes: { indexedFields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, payload(v)])) } },
});
const fieldsOf = (command: ReturnType<typeof upsert>) =>
  Object.fromEntries(Object.entries(command.upsertWorkflowSearchAttributes.searchAttributes.indexedFields).map(([k, v]) => [k, JSON.parse(new TextDecoder().decode(v.data)) as string]));

describe('one search-attribute upsert per activation', () => {
  it('merges the upserts into the last one (later values win) and keeps every other command in order', () => {
    const cancel = { cancelTimer: { seq: 1 } };
    const schedule = { scheduleActivity: { seq: 3, activityType: 'runAgent' } };
    const timer = { startTimer: { seq: 2 } };
    const merged = mergeUpserts([cancel, upsert({ BatonStage: 'review', BatonAgent: '' }), schedule, timer, upsert({ BatonAgent: 'checker', BatonStatus: 'running' })]);
    expect(merged.map((c) => Object.keys(c)[0])).toEqual(['cancelTimer', 'scheduleActivity', 'startTimer', 'upsertWorkflowSearchAttributes']);
    expect(merged[0]).toBe(cancel);
    expect(fieldsOf(merged[3] as ReturnType<typeof upsert>)).toEqual({ BatonStage: 'review', BatonAgent: 'checker', BatonStatus: 'running' });
  });

  it('leaves an activation with one upsert or none as it is', () => {
    const one = [upsert({ BatonStage: 'done' }), { completeWorkflowExecution: {} }];
    expect(mergeUpserts(one)).toEqual(one);
    expect(mergeUpserts([])).toEqual([]);
  });
});
