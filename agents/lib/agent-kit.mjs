/**
 * The agent protocol from the agent's side, shared by the demo agents (no dependencies).
 * Context: `$BATON_CONTEXT_FILE` (or stdin); result: `$BATON_RESULT_FILE` (or the last stdout line).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The task context the driver hands to every agent. */
export async function readContext() {
  if (process.env.BATON_CONTEXT_FILE) return JSON.parse(readFileSync(process.env.BATON_CONTEXT_FILE, 'utf8'));
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

/** A progress report: resets the task's stall clock. */
export function progress(message) {
  console.log(JSON.stringify({ progress: message }));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reports the result and ends the agent. */
export function report(result) {
  if (process.env.BATON_RESULT_FILE) writeFileSync(process.env.BATON_RESULT_FILE, JSON.stringify(result, null, 2));
  else console.log(JSON.stringify(result));
}

/** The definition to work from: the define stage's, else what the task spec says. */
export function definitionOf(context) {
  return (
    context.definition ?? {
      goal: context.task.goal?.trim() || context.task.title,
      acceptanceCriteria: context.task.acceptanceCriteria ?? [],
    }
  );
}

/** The file the coder writes and the reviewer reads. */
export function deliverablePath(context) {
  return path.join(process.env.BATON_WORKDIR ?? process.cwd(), `${context.taskId}.md`);
}

/** Whitespace-insensitive form of a text, so a multi-line feedback matches its one-line rendering. */
export function flat(text) {
  return text.replace(/\s+/g, ' ').trim();
}
