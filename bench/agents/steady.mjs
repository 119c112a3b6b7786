#!/usr/bin/env node
// The load test's agent: works on a stage for STEADY_WORK_MS (default 20 s), reporting progress every
// 5 s, then completes it (a review approves). Real coding agents take minutes per stage and spend them
// waiting on a model; this one spends them asleep, so the test loads Baton and Temporal, not the CPU.
import { readFileSync, writeFileSync } from 'node:fs';

const context = JSON.parse(readFileSync(process.env.BATON_CONTEXT_FILE, 'utf8'));
const workMs = Number(process.env.STEADY_WORK_MS ?? 20_000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
for (let spent = 0; spent < workMs; spent += 5_000) {
  console.log(JSON.stringify({ progress: `${context.stage}: ${Math.round((spent / workMs) * 100)} %` }));
  await sleep(Math.min(5_000, workMs - spent));
}
const result =
  context.stage === 'review'
    ? { outcome: 'approved', summary: 'looks right', confidence: 0.95 }
    : context.stage === 'define'
      ? { outcome: 'completed', summary: 'defined', definition: { goal: context.task.title, acceptanceCriteria: ['it works'] } }
      : { outcome: 'completed', summary: `${context.stage} done` };
writeFileSync(process.env.BATON_RESULT_FILE, JSON.stringify(result));
