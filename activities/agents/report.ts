/**
 * What Baton does with an agent's report before the workflow sees it, whoever ran the agent: a define agent's
 * `approved` is read as `completed`, secrets are redacted, and the outcome must be one of the stage's. Pure (no
 * I/O, no Temporal): shared by the agent drivers (`attempt.ts`) and the API's claimed work items
 * (`api/work-items.ts`), so a report a worker would refuse is refused over REST and MCP too.
 */
import { OUTCOMES_BY_STAGE, type AgentOutcome, type AgentReport } from '../../workflows/agent-protocol';
import type { AgentStage } from '../../workflows/spec';
import type { SecretScanner } from '../git/secret-scan';

export type CheckedReport =
  | { ok: true; report: AgentReport }
  | {
      ok: false;
      /** e.g. `"completed", which is not an outcome of the review stage (expected one of approved, ...)`. */
      problem: string;
      allowed: readonly AgentOutcome[];
    };

/** Normalises, redacts and checks a report that already passed `AgentReportSchema`. */
export function checkReport(stage: AgentStage, report: AgentReport, scanner: SecretScanner): CheckedReport {
  const normalised = redactReport(normaliseReport(stage, report), scanner);
  const allowed = OUTCOMES_BY_STAGE[stage];
  if (!allowed.includes(normalised.outcome)) {
    return {
      ok: false,
      allowed,
      problem: `"${normalised.outcome}", which is not an outcome of the ${stage} stage (expected one of ${allowed.join(', ')})`,
    };
  }
  return { ok: true, report: normalised };
}

/** The report with every secret in its free text redacted (summary, feedback, definition). */
export function redactReport(report: AgentReport, scanner: SecretScanner): AgentReport {
  return {
    ...report,
    ...(report.summary !== undefined ? { summary: scanner.redact(report.summary) } : {}),
    ...(report.feedback !== undefined ? { feedback: scanner.redact(report.feedback) } : {}),
    ...(report.definition
      ? {
          definition: {
            goal: scanner.redact(report.definition.goal),
            acceptanceCriteria: report.definition.acceptanceCriteria.map((criterion) => scanner.redact(criterion)),
          },
        }
      : {}),
  };
}

/** A define agent may say `approved` (of its own definition); the workflow only knows `completed` there. */
function normaliseReport(stage: AgentStage, report: AgentReport): AgentReport {
  return stage === 'define' && report.outcome === 'approved' ? { ...report, outcome: 'completed' } : report;
}
