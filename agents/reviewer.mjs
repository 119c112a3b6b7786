#!/usr/bin/env node
// Demo review agent: in round 1 asks for a Tests section; from round 2 on approves once the coder's file
// addresses every feedback item and every acceptance criterion.
import { existsSync, readFileSync } from 'node:fs';
import { definitionOf, deliverablePath, flat, progress, readContext, report, sleep } from './lib/agent-kit.mjs';

const context = await readContext();
const file = deliverablePath(context);
progress(`round ${context.round}: reviewing ${file}`);
await sleep(150);
report(review());

function review() {
  if (!existsSync(file)) {
    return { outcome: 'changes_requested', feedback: `Expected the implementation in ${file}, found nothing.` };
  }
  if (context.round <= 1) {
    return {
      outcome: 'changes_requested',
      summary: 'solid start, tests missing',
      feedback: 'Add a "## Tests" section that says how each acceptance criterion is verified.',
      confidence: 0.6,
    };
  }
  const text = flat(readFileSync(file, 'utf8'));
  const problems = [];
  for (const entry of context.feedback) {
    if (!text.includes(flat(entry.text))) problems.push(`feedback from ${entry.from} (round ${entry.round}) is not addressed`);
  }
  if (context.feedback.some((entry) => /test/i.test(entry.text)) && !text.includes('## Tests')) {
    problems.push('the "## Tests" section is missing');
  }
  for (const criterion of definitionOf(context).acceptanceCriteria) {
    if (!text.includes(flat(criterion))) problems.push(`acceptance criterion not covered: ${criterion}`);
  }
  return problems.length === 0
    ? { outcome: 'approved', summary: `all ${context.feedback.length} feedback items addressed`, confidence: 0.9 }
    : { outcome: 'changes_requested', feedback: problems.join('\n'), confidence: 0.7 };
}
