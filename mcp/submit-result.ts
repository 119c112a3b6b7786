/**
 * `submit_result`, the one way an agent reports a stage's result: typed per stage (a definition; a summary;
 * a review verdict with confidence and feedback), never parsed from free text. Shared by `baton mcp` (for
 * the CLIs) and the `http` preset (an endpoint's tool call), so both accept exactly the same thing.
 */
import { z } from 'zod';
import type { AgentReport } from '../workflows/agent-protocol';
import type { AgentStage } from '../workflows/spec';

const Summary = z.string().trim().min(1).max(20_000);

/** The arguments of `submit_result`, per stage. */
export const SUBMIT_RESULT_SCHEMAS = {
  define: z.object({
    goal: z.string().trim().min(1).max(20_000).describe('The goal of the task in one or two sentences.'),
    acceptanceCriteria: z
      .array(z.string().trim().min(1).max(2_000))
      .min(1)
      .max(50)
      .describe('Checkable acceptance criteria: each one a reviewer can verify in the change.'),
    summary: Summary.optional().describe('Anything the implementer should know (optional).'),
  }),
  implement: z.object({
    summary: Summary.describe('What you changed and why, in a few sentences (it becomes the commit message).'),
  }),
  review: z.object({
    verdict: z.enum(['approved', 'changes_requested']).describe('approved when the change meets every acceptance criterion and is correct; otherwise changes_requested.'),
    confidence: z
      .number()
      .min(0)
      .max(1)
      .describe("How sure you are of your verdict, 0 to 1; an approval counts only at or above the task's threshold (default 0.9)."),
    feedback: z.string().trim().min(1).max(50_000).describe('What the implementer must change, or why the change is good: concrete and actionable.'),
    summary: Summary.optional().describe('One line for the task timeline (optional).'),
  }),
} as const;

export type Submission<S extends AgentStage> = z.output<(typeof SUBMIT_RESULT_SCHEMAS)[S]>;

export const SUBMIT_RESULT_DESCRIPTION: Record<AgentStage, string> = {
  define: 'Submit the definition of the task (goal and acceptance criteria). Call it once, at the end; it is your result.',
  implement: 'Submit the result of your implementation once the change is in the working directory. Call it once, at the end; it is your result.',
  review: 'Submit your review verdict with your confidence and feedback. Call it once, at the end; it is your result.',
};

export function submitResultSchema(stage: AgentStage): z.ZodType<Submission<AgentStage>> {
  return SUBMIT_RESULT_SCHEMAS[stage] as z.ZodType<Submission<AgentStage>>;
}

/** The agent report a submission stands for. */
export function submissionReport(stage: AgentStage, submission: Submission<AgentStage>): AgentReport {
  switch (stage) {
    case 'define': {
      const { goal, acceptanceCriteria, summary } = submission as Submission<'define'>;
      return { outcome: 'completed', summary: summary ?? `defined: ${goal}`, definition: { goal, acceptanceCriteria } };
    }
    case 'implement':
      return { outcome: 'completed', summary: (submission as Submission<'implement'>).summary };
    case 'review': {
      const { verdict, confidence, feedback, summary } = submission as Submission<'review'>;
      return { outcome: verdict, confidence, feedback, ...(summary ? { summary } : {}) };
    }
  }
}
