/**
 * What every agent driver does around one stage of a task with a repository: put the agent in the task's
 * worktree at the head the workflow expects, hand a reviewer the change, and after implement commit what
 * the agent left — secret-scanned first. Drivers differ in how they run the agent, never in this.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { AgentContext, AgentReport, AgentRunInput, AgentRunResult } from '../../workflows/agent-protocol';
import { stageChangesCode } from '../../workflows/workspace';
import type { SecretScanner } from '../git/secret-scan';
import { checkoutForStage, commitStage, reviewMaterial } from '../git/workspace';

/** How much of the diff a reviewer gets in its context; the full diff is in the worktree. */
export const REVIEW_DIFF_MAX_BYTES = 100 * 1024;

/** The evidence a stage adds to the agent's result. */
export type StageEvidence = Pick<AgentRunResult, 'change' | 'secretFindings' | 'reviewedCommit' | 'worktree'>;

export interface PreparedStage {
  /** Where the agent runs (`BATON_WORKDIR`). */
  workdir: string;
  /** The context the agent gets: the workflow's, plus the branch and, for a review, the change. */
  context: AgentContext;
  /** After a successful run: commits an implement stage's change (or reports the secrets that blocked it). */
  complete(agentName: string, report: AgentReport): Promise<StageEvidence>;
}

/**
 * Prepares one stage's working directory. Without a repository the agent gets a scratch directory of its
 * own (`<home>/work/<taskId>`); a run started before repositories had worktrees keeps working in `repo.path`.
 */
export async function prepareStage(home: string, input: AgentRunInput, scanner: SecretScanner): Promise<PreparedStage> {
  const { context, workspace } = input;
  if (!workspace) {
    const workdir = await legacyWorkdir(home, input);
    return { workdir, context, complete: async () => ({}) };
  }
  const worktree = await checkoutForStage(home, workspace, context.stage);
  const enriched: AgentContext = {
    ...context,
    workspace: {
      worktree,
      branch: workspace.branch,
      base: workspace.repo.baseBranch,
      baseCommit: workspace.baseCommit,
      head: workspace.head,
    },
  };
  if (context.stage === 'review') enriched.change = await reviewMaterial(worktree, workspace, REVIEW_DIFF_MAX_BYTES);
  return {
    workdir: worktree,
    context: enriched,
    async complete(agentName, report) {
      if (context.stage === 'review') return { worktree, reviewedCommit: workspace.head };
      if (!stageChangesCode(context.stage) || report.outcome !== 'completed') return { worktree };
      const committed = await commitStage(worktree, workspace, {
        author: { name: agentName, email: `${agentName}@agents.baton.invalid` },
        message: commitMessage(context, agentName, report, scanner),
      });
      return committed.kind === 'committed'
        ? { worktree, change: committed.change }
        : { worktree, secretFindings: committed.findings };
    },
  };
}

/** Longest commit subject; a longer summary is cut at a word and kept whole in the body. */
const SUBJECT_MAX_CHARS = 100;

/** `T-123 round 2: <summary>` with trailers naming the task, round and agent; the agent's text is redacted. */
function commitMessage(context: AgentContext, agentName: string, report: AgentReport, scanner: SecretScanner): string {
  const summary = scanner.redact(report.summary?.trim() || context.task.title);
  const full = `${context.taskId} round ${context.round}: ${summary.split('\n')[0]!}`;
  const fits = full.length <= SUBJECT_MAX_CHARS && !summary.includes('\n');
  const cut = full.slice(0, SUBJECT_MAX_CHARS - 1);
  const subject = fits ? full : `${cut.slice(0, Math.max(cut.lastIndexOf(' '), cut.indexOf(':') + 1))}…`;
  const body = fits ? '' : `\n\n${summary.slice(0, 4000)}`;
  return `${subject}${body}\n\nBaton-Task: ${context.taskId}\nBaton-Round: ${context.round}\nBaton-Agent: ${agentName}\n`;
}

async function legacyWorkdir(home: string, input: AgentRunInput): Promise<string> {
  const repoPath = input.context.task.repo?.path;
  if (repoPath === undefined) {
    const workdir = path.join(home, 'work', input.context.taskId);
    await fsp.mkdir(workdir, { recursive: true });
    return workdir;
  }
  const stat = await fsp.stat(repoPath).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw ApplicationFailure.nonRetryable(
      `repo.path ${repoPath} is not a directory on this agent's machine`,
      'InvalidAgentInput',
    );
  }
  return repoPath;
}
