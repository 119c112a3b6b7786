/**
 * The feedback Baton itself writes when it sends a change back to implement: a failing gate, a secret in
 * the change, a conflict with the base, a review below the confidence threshold. Pure text, so the next
 * agent (a command or a CLI's model) reads exactly what went wrong.
 */
import type { GateRun, SecretFinding } from './workspace';

export function shortSha(commit: string): string {
  return commit.slice(0, 10);
}

export function formatUsd(amount: number): string {
  return `$${amount.toFixed(amount >= 1 ? 2 : 4)}`;
}

/** `test`: `npm test` exited 1 after 2.1 s. */
export function describeGateRun(run: GateRun): string {
  const command = run.command.join(' ');
  const how = run.notRunnable
    ? 'could not be started'
    : run.timedOut
      ? `timed out after ${(run.durationMs / 1000).toFixed(1)} s and was killed`
      : run.exitCode === null
        ? 'was killed'
        : `exited with code ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s`;
  return `gate ${run.name} (\`${command}\`) ${how}`;
}

/** Feedback for the gates that failed on a commit: each command, its exit code and the tail of its output. */
export function gateFeedback(failed: GateRun[], on: 'change' | 'merge', base: string): string {
  const what =
    on === 'merge'
      ? `The branch merged into the current ${base} fails its quality gates; make the change work on top of ${base}.`
      : `The change fails its quality gates (commit ${shortSha(failed[0]?.commit ?? '')}).`;
  const parts = failed.map((run) => `${describeGateRun(run)}. Last output:\n\`\`\`\n${run.tail || '(no output)'}\n\`\`\``);
  return `${what}\n\n${parts.join('\n\n')}`;
}

/** Feedback for a commit the secret scan blocked; the findings are already redacted. */
export function secretFeedback(findings: SecretFinding[]): string {
  const lines = findings.slice(0, 20).map((f) => `- ${f.file}:${f.line} (${f.kind}): ${f.preview}`);
  const more = findings.length > 20 ? `\n- … and ${findings.length - 20} more` : '';
  return (
    `The secret scan blocked the commit: nothing was committed or pushed. Remove these secrets from the change ` +
    `(read them from the environment or a secret store instead; the values are redacted here):\n${lines.join('\n')}${more}`
  );
}

/** Feedback for a branch that conflicts with the current base. */
export function conflictFeedback(files: string[], base: string, baseCommit: string, baseRef: string): string {
  const list = files.slice(0, 50).map((file) => `- ${file}`).join('\n');
  return (
    `The branch conflicts with ${base} (now at ${shortSha(baseCommit)}) in:\n${list}\n` +
    `Merge the current base into the branch (\`git merge ${baseRef}\`), resolve the conflicts, and keep the change working.`
  );
}

/** Feedback for an approval whose confidence is below `policy.minConfidence`. */
export function lowConfidenceFeedback(confidence: number | undefined, min: number, reviewerText: string | undefined): string {
  const stated = confidence === undefined ? 'without a confidence' : `with confidence ${confidence}`;
  return `The review approved ${stated}, below the required ${min}: not approved.${reviewerText ? ` Reviewer: ${reviewerText}` : ''}`;
}
