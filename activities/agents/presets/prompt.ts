/**
 * The prompt of one stage for a model (a coding-agent CLI or a chat endpoint), built from the whole task
 * context: the spec, the definition, all feedback, human notes, earlier results, the branch, and for a review
 * the change. Nobody copies context between agents by hand.
 */
import type { AgentContext } from '../../../workflows/agent-protocol';
import { DEFAULT_MIN_CONFIDENCE } from '../../../workflows/spec';

export interface PromptOptions {
  /** The agent reports through the `submit_result` tool (false for Aider, which reports with its final reply). */
  typedResults: boolean;
  /** The agent can edit files in the working directory (false for a chat endpoint). */
  canEdit: boolean;
}

/** The follow-up a CLI gets when it ended its turn without calling `submit_result`. */
export function followUpMessage(stage: AgentContext['stage']): string {
  return (
    `You ended your turn without calling the submit_result tool, so Baton has no result for the ${stage} stage. ` +
    `Call submit_result now with your result. Do not change anything else.`
  );
}

export function stagePrompt(context: AgentContext, options: PromptOptions): string {
  const { task } = context;
  const sections: string[] = [];
  sections.push(
    `You are a coding agent working for Baton on task ${context.taskId}. Stage: ${context.stage} (round ${context.round}).`,
  );
  if (context.workspace) {
    const { worktree, branch, base } = context.workspace;
    sections.push(
      `Working directory: ${worktree} — the task's own git worktree on branch ${branch} (from ${base}). ` +
        (options.canEdit && context.stage === 'implement'
          ? 'Change files only inside it. Do not commit or push: Baton commits what you leave, after scanning it for secrets.'
          : 'Read it as you need; do not change files in this stage.'),
    );
  }

  const spec = [`Title: ${task.title}`];
  if (task.goal) spec.push(`Goal: ${task.goal}`);
  if (task.acceptanceCriteria?.length) spec.push(`Acceptance criteria:\n${bullets(task.acceptanceCriteria)}`);
  spec.push(`Priority: ${task.priority}`);
  if (task.capabilities.length) spec.push(`Capabilities: ${task.capabilities.join(', ')}`);
  if (task.context && Object.keys(task.context).length) spec.push(`Context (JSON): ${JSON.stringify(task.context)}`);
  sections.push(`# Task\n${spec.join('\n')}`);

  if (context.definition) {
    sections.push(`# Definition (from the define stage)\nGoal: ${context.definition.goal}\nAcceptance criteria:\n${bullets(context.definition.acceptanceCriteria)}`);
  }
  if (context.feedback.length) {
    sections.push(`# Feedback to address (oldest first)\n${context.feedback.map((f) => `## Round ${f.round}, from ${f.from}\n${f.text}`).join('\n\n')}`);
  }
  if (context.notes.length) sections.push(`# Notes from humans\n${bullets(context.notes.map((n) => `${n.by}: ${n.text}`))}`);
  if (context.results.length) {
    sections.push(`# Earlier results\n${bullets(context.results.map((r) => `${r.stage} · round ${r.round} · ${r.agent}: ${r.outcome}${r.summary ? ` — ${r.summary}` : ''}`))}`);
  }
  if (context.change) {
    const { diffStat, files, diff, truncated, head } = context.change;
    sections.push(
      `# The change to review (commit ${head.slice(0, 10)}: ${diffStat.files} file(s), +${diffStat.insertions} −${diffStat.deletions})\n` +
        `Files: ${files.join(', ')}\n` +
        (truncated ? 'The diff below is cut; the full change is in the working directory (git diff against the base).\n' : '') +
        `\`\`\`diff\n${diff}\n\`\`\``,
    );
  }
  sections.push(`# What to do\n${instructions(context, options)}`);
  return sections.join('\n\n');
}

function instructions(context: AgentContext, options: PromptOptions): string {
  const minConfidence = context.task.policy.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const report = options.typedResults
    ? 'You MUST finish by calling the submit_result tool: a result written only as text is not read. ' +
      'Use report_progress before anything long (a test run, a build). If you cannot go on without a human decision, call ask_human with your question and end your turn.'
    : 'When you are done, end with a short paragraph saying what you changed: it becomes your result.';
  switch (context.stage) {
    case 'define':
      return (
        'Turn the task into a definition: one clear goal and acceptance criteria that a reviewer can check. Do not change any file. ' +
        (options.typedResults ? 'Submit them with submit_result (goal, acceptanceCriteria). ' : '') +
        report
      );
    case 'implement':
      return (
        'Make the change in the working directory so that it meets every acceptance criterion and addresses all the feedback above. ' +
        "Run the project's tests when you can. " +
        (options.typedResults ? 'Then submit a short summary of what you changed with submit_result. ' : '') +
        report
      );
    case 'review':
      return (
        'Review the change above against the definition, the acceptance criteria and the feedback so far. Do not change any file. ' +
        `Submit your verdict with submit_result: approved or changes_requested, your confidence from 0 to 1 (an approval counts only at ${minConfidence} or above), ` +
        'and feedback the implementer can act on. ' +
        report
      );
  }
}

function bullets(items: string[]): string {
  return items.map((item) => `- ${item}`).join('\n');
}
