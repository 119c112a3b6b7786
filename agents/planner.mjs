#!/usr/bin/env node
// Demo define agent: turns the task's title, goal and context into a definition with acceptance criteria.
import { progress, readContext, report, sleep } from './lib/agent-kit.mjs';

const context = await readContext();
const { task } = context;
progress(`reading task ${context.taskId}: ${task.title}`);
await sleep(100);

const goal = task.goal?.trim() || task.title;
const criteria = task.acceptanceCriteria?.length
  ? [...task.acceptanceCriteria]
  : [`${task.title}: the described behaviour works end to end`, 'the change is covered by tests'];
for (const capability of task.capabilities ?? []) criteria.push(`the ${capability} part is done`);
for (const note of context.notes) criteria.push(`respects the note from ${note.by}: ${note.text}`);
const contextKeys = Object.keys(task.context ?? {});
progress(`drafting ${criteria.length} acceptance criteria`);
await sleep(150);

console.log(`definition ready${contextKeys.length ? ` (context considered: ${contextKeys.join(', ')})` : ''}`);
report({
  outcome: 'completed',
  summary: `defined "${goal}" with ${criteria.length} acceptance criteria`,
  confidence: 0.8,
  definition: { goal, acceptanceCriteria: criteria },
});
