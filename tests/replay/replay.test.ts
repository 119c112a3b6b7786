import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, inject, it } from 'vitest';
import { SCENARIOS } from './scenarios';

const HISTORIES_DIR = join(__dirname, 'histories');

/** The histories in one folder, by scenario name (passed as JSON: the worker turns it into a History itself). */
function historiesIn(dir: string) {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ name: file.replace(/\.json$/, ''), history: JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown }));
}

/** Captured from today's workflow by `npm run replay:capture`. */
const histories = historiesIn(HISTORIES_DIR);
/** Captured before coding tasks (the `coding-tasks` patch): runs still open then must replay forever. */
const v1Histories = historiesIn(join(HISTORIES_DIR, 'v1'));
/** Captured before the fleet (the `fleet-routing` patch): coding tasks with Temporal's own activity retries. */
const v2Histories = historiesIn(join(HISTORIES_DIR, 'v2'));
/** Captured before agents started quietly (the `requeue-asks-temporal` patch): a re-queue went by the first sign of life. */
const v3Histories = historiesIn(join(HISTORIES_DIR, 'v3'));
/** Captured before the lean handoff (the `lean-handoff` patch): every stage asked for its agent, one upsert per transition. */
const v4Histories = historiesIn(join(HISTORIES_DIR, 'v4'));
/** Captured before the steady clock (the `steady-clock` patch): each wait started its own timer and cancelled it. */
const v5Histories = historiesIn(join(HISTORIES_DIR, 'v5'));
/** Captured before one patch stood for all (the `all-patches-2026-12` patch): each run asked every patch in turn. */
const v6Histories = historiesIn(join(HISTORIES_DIR, 'v6'));

/** `agentRecord`: today's (a first run that continued as new), and one from before the `record-bounded-history` patch. */
const recordHistories = historiesIn(join(HISTORIES_DIR, 'agent-record'));
const recordV1Histories = historiesIn(join(HISTORIES_DIR, 'agent-record', 'v1'));

describe('replay of committed histories', () => {
  it('has a committed history for every scenario', () => {
    expect(histories.map((h) => h.name).sort()).toEqual(Object.keys(SCENARIOS).sort());
  });

  it.each(histories)('today’s taskWorkflow replays $name', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-${name}`);
  });

  it.each(v1Histories)('today’s taskWorkflow replays $name from before coding tasks (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v1-${name}`);
  });

  it.each(v2Histories)('today’s taskWorkflow replays $name from before the fleet (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v2-${name}`);
  });

  it.each(v3Histories)('today’s taskWorkflow replays $name from before the quiet start (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v3-${name}`);
  });

  it.each(v4Histories)('today’s taskWorkflow replays $name from before the lean handoff (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v4-${name}`);
  });

  it.each(v5Histories)('today’s taskWorkflow replays $name from before the steady clock (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v5-${name}`);
  });

  it.each(v6Histories)('today’s taskWorkflow replays $name from before one patch stood for all (unpatched)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-v6-${name}`);
  });

  it('has committed agentRecord histories from today and from before its history was bounded', () => {
    expect(recordHistories.length).toBeGreaterThan(0);
    expect(recordV1Histories.length).toBeGreaterThan(0);
  });

  it.each(recordHistories)('today’s agentRecord replays $name', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-record-${name}`);
  });

  it.each(recordV1Histories)('today’s agentRecord replays $name from before its history was bounded (unpatched, past 500 events)', async ({ name, history }) => {
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, `replay-record-v1-${name}`);
  });

  it('a changed command sequence without patched() fails replay with a DeterminismViolationError', async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: join(__dirname, 'changed-workflow.ts'), logger: new DefaultLogger('WARN') });
    const lifecycle = histories.find((h) => h.name === 'lifecycle')!;
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, lifecycle.history, 'replay-lifecycle')).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });
});
