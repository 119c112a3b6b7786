#!/usr/bin/env node
// Demo review agent: in round 1 asks for a Tests section; from round 2 on approves once the coder's file
// addresses every feedback item and every acceptance criterion. On a task with a repository it reviews the
// change Baton hands it (the diff against the base, after the quality gates passed) instead.
import { existsSync, readFileSync } from 'node:fs';
import { definitionOf, deliverablePath, flat, progress, readContext, report, sleep } from './lib/agent-kit.mjs';

const context = await readContext();
const file = deliverablePath(context);
progress(`round ${context.round}: reviewing ${context.change ? `commit ${context.change.head.slice(0, 10)}` : file}`);
await sleep(150);
report(context.change ? reviewChange(context.change) : review());

/** A change that passed its gates is approved when it touches files and leaves no TODO behind. */
function reviewChange(change) {
  const { files, insertions, deletions } = change.diffStat;
  if (change.files.length === 0) {
    return { outcome: 'changes_requested', feedback: 'The branch has no change against the base: nothing to review.', confidence: 0.9 };
  }
  const todo = change.diff.split('\n').find((line) => line.startsWith('+') && /\bTODO\b/.test(line));
  if (todo) {
    return { outcome: 'changes_requested', feedback: `A TODO is left in the change: ${todo.slice(1).trim()}`, confidence: 0.9 };
  }
  return {
    outcome: 'approved',
    summary: `reviewed ${change.head.slice(0, 10)}: ${files} file(s), +${insertions} -${deletions}; gates passed, no TODO left`,
    confidence: 0.95,
  };
}

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
