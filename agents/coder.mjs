#!/usr/bin/env node
// Demo implement agent: writes <taskId>.md into the workdir with the goal, the criteria, the round and all
// feedback addressed so far (and a Tests section once tests were asked for). In the repository that
// `baton demo-repo` makes, it implements slugify instead (see lib/demo-repo-coder.mjs).
import { writeFileSync } from 'node:fs';
import { definitionOf, deliverablePath, flat, progress, readContext, report, sleep } from './lib/agent-kit.mjs';
import { implementDemoRepo, isDemoRepo } from './lib/demo-repo-coder.mjs';

const context = await readContext();
if (isDemoRepo()) {
  report(await implementDemoRepo(context));
  process.exit(0);
}
const definition = definitionOf(context);
const file = deliverablePath(context);
progress(`round ${context.round}: implementing "${definition.goal}"`);
await sleep(100);

const criteria = definition.acceptanceCriteria.length ? definition.acceptanceCriteria : [definition.goal];
const lines = [
  `# ${context.task.title}`,
  '',
  `Task ${context.taskId}, round ${context.round}, written by ${process.env.BATON_AGENT ?? 'coder'}.`,
  '',
  '## Goal',
  '',
  definition.goal,
  '',
  '## Acceptance criteria',
  '',
  ...criteria.map((criterion) => `- [x] ${criterion}`),
  '',
  '## Implementation',
  '',
  `Round ${context.round} of the demo implementation: one change per acceptance criterion.`,
];
if (context.feedback.some((entry) => /test/i.test(entry.text))) {
  lines.push('', '## Tests', '', ...criteria.map((criterion) => `- verifies: ${criterion}`));
}
if (context.feedback.length > 0) {
  lines.push('', '## Feedback addressed', '');
  for (const entry of context.feedback) lines.push(`- round ${entry.round}, from ${entry.from}: ${flat(entry.text)}`);
}
if (context.notes.length > 0) {
  lines.push('', '## Notes', '', ...context.notes.map((note) => `- ${note.by}: ${flat(note.text)}`));
}
progress(`writing ${file}`);
await sleep(150);
writeFileSync(file, `${lines.join('\n')}\n`);

report({
  outcome: 'completed',
  summary: `wrote ${file} (${criteria.length} criteria, ${context.feedback.length} feedback items addressed)`,
  confidence: 0.7,
});
