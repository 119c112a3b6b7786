/**
 * The agent tools of `baton mcp`: what a coding-agent CLI's model calls during one stage of a task.
 * `submit_result` (typed per stage: only the current stage's arguments are offered), `report_progress` and
 * `ask_human`. They write where Baton's preset driver reads: the agent report to `BATON_RESULT_FILE`, events
 * as JSON lines to `BATON_EVENTS_FILE`. The stage's result is this typed call, never parsed from prose.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { MCP_AGENT_TOOLS } from '../activities/agents/presets/types';
import { AgentReportSchema, OUTCOMES_BY_STAGE, type AgentReport } from '../workflows/agent-protocol';
import type { AgentStage } from '../workflows/spec';
import { SUBMIT_RESULT_DESCRIPTION, submissionReport, submitResultSchema } from './submit-result';
import type { ToolSet } from './server';

/** Where and for what the agent tools write: one stage of one task (from the environment Baton's presets set). */
export interface AgentToolsConfig {
  stage: AgentStage;
  /** Named in the answers and instructions only; the files already belong to one attempt. */
  taskId?: string;
  resultFile: string;
  eventsFile: string;
}

/** One line of `BATON_EVENTS_FILE`. */
export type AgentToolEvent = { type: 'progress'; message: string; at: string } | { type: 'ask_human'; question: string; at: string };

/** The tools' names, checked against the list the presets allow in each CLI's configuration. */
type AgentToolName = (typeof MCP_AGENT_TOOLS)[number];

/** The variables `baton mcp` needs to serve the agent tools; `BATON_TASK_ID` is optional. */
export const AGENT_TOOLS_ENV = ['BATON_STAGE', 'BATON_RESULT_FILE', 'BATON_EVENTS_FILE'] as const;

/** What a model is told when the arguments are fine but Baton could not record them (a full disk, a bad path). */
const NOT_RECORDED = 'Baton could not record this call';

const AskHumanInput = {
  question: z
    .string()
    .trim()
    .min(1)
    .max(4_000)
    .describe('The question, self-contained (the person has not seen your session): what you need decided, and the options you see.'),
};

const ReportProgressInput = {
  message: z
    .string()
    .trim()
    .min(1)
    .max(2_000)
    .describe('One short line on what you are doing now, e.g. "running the test suite" or "fixing the failing slugify test".'),
};

/**
 * Reads the agent tools' configuration from Baton's environment: the config, or a one-line problem naming what
 * is missing or wrong.
 */
export function agentToolsConfig(env: NodeJS.ProcessEnv): { config: AgentToolsConfig } | { problem: string } {
  const missing = AGENT_TOOLS_ENV.filter((name) => !env[name]);
  if (missing.length > 0) {
    return {
      problem:
        `${missing.join(', ')} not set: Baton's presets set BATON_STAGE, BATON_TASK_ID, BATON_RESULT_FILE and ` +
        'BATON_EVENTS_FILE when they run an agent CLI for a stage of a task, and start `baton mcp` with them',
    };
  }
  const stage = env.BATON_STAGE!;
  // OUTCOMES_BY_STAGE is keyed by the stages, and is loaded anyway (workflows/spec is not needed here).
  if (!Object.hasOwn(OUTCOMES_BY_STAGE, stage)) {
    return { problem: `BATON_STAGE=${stage}: expected one of ${Object.keys(OUTCOMES_BY_STAGE).join(', ')}` };
  }
  return {
    config: {
      stage: stage as AgentStage,
      taskId: env.BATON_TASK_ID || undefined,
      resultFile: env.BATON_RESULT_FILE!,
      eventsFile: env.BATON_EVENTS_FILE!,
    },
  };
}

/** The agent tools as a tool set of `baton mcp`, with the instructions a model gets on connecting. */
export function agentToolSet(config: AgentToolsConfig): ToolSet {
  const task = config.taskId ? `task ${config.taskId}` : 'this task';
  return {
    name: `agent tools (${config.stage} stage of ${task})`,
    instructions:
      `Baton runs the ${config.stage} stage of ${task}. Report your result only by calling submit_result: ` +
      'Baton does not read your result from the text of your replies. report_progress shows the people ' +
      'supervising the task what you are doing; ask_human sends a question to a person and blocks the task ' +
      'until they answer.',
    register: (server) => registerAgentTools(server, config),
  };
}

/** Registers `submit_result` (for `config.stage` only), `report_progress` and `ask_human` on `server`. */
export function registerAgentTools(server: McpServer, config: AgentToolsConfig): void {
  const { stage } = config;
  const task = config.taskId ? `task ${config.taskId}` : 'the task';
  let askedHuman = false;
  // Tool calls may overlap: recording them in arrival order is what makes "the last call counts" true.
  let recorded: Promise<unknown> = Promise.resolve();
  const inOrder = (record: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    const next = recorded.then(record);
    recorded = next.catch(() => undefined);
    return next.catch((error: unknown) => notRecorded(error));
  };
  const appendEvent = (event: AgentToolEvent) => appendLine(config.eventsFile, JSON.stringify(event));

  server.registerTool(
    'submit_result' satisfies AgentToolName,
    {
      title: `Submit the ${stage} result`,
      description:
        `${SUBMIT_RESULT_DESCRIPTION[stage]} This call is the only way Baton receives your result: the text of ` +
        'your replies is not read. Calling it again replaces the earlier result (the last call counts). After ' +
        'ask_human it is refused: the task then waits for the human. When it succeeds, end your turn.',
      inputSchema: submitResultSchema(stage),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (submission) =>
      inOrder(async () => {
        if (askedHuman) {
          return toolError(
            `Not recorded: you asked a human with ask_human, so ${task} waits for their answer and this result would ` +
              'discard the question. End your turn now; the task resumes with their answer.',
          );
        }
        const report = submissionReport(stage, submission);
        const problem = await writeReport(config, report);
        if (problem) return toolError(`Not recorded: ${problem}. Fix the arguments and call submit_result again.`);
        return answer(
          `Recorded ${submittedWhat(stage, report)} for ${task}. If you call submit_result again, that call ` +
            'replaces this one (the last call counts). You may end your turn now.',
        );
      }),
  );

  server.registerTool(
    'report_progress' satisfies AgentToolName,
    {
      title: 'Report progress',
      description:
        'Show the people supervising the task what you are doing now, in one short line (it appears on the ' +
        "task's timeline). Use it at milestones, not for every step. It does not report your result: call " +
        'submit_result for that.',
      inputSchema: ReportProgressInput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ message }) =>
      inOrder(async () => {
        await appendEvent({ type: 'progress', message, at: new Date().toISOString() });
        return answer('Progress noted; carry on.');
      }),
  );

  server.registerTool(
    'ask_human' satisfies AgentToolName,
    {
      title: 'Ask a human',
      description:
        'Ask a person a question you cannot answer from the task, the code or the repository: a decision ' +
        'that is not yours, contradictory requirements, access you lack. The task stops and escalates to a ' +
        'human (agent-blocked) and resumes with their answer in a later run. The question becomes your ' +
        'result: it replaces anything you submitted with submit_result, and submit_result is refused after ' +
        'it. Use it only when you are blocked; then end your turn.',
      inputSchema: AskHumanInput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ question }) =>
      inOrder(async () => {
        // The blocked report is what escalates the task; the event shows the question while the CLI still runs.
        const problem = await writeReport(config, { outcome: 'blocked', summary: `question for a human: ${question}` });
        if (problem) return toolError(`Not recorded: ${problem}. Fix the question and call ask_human again.`);
        askedHuman = true;
        await appendEvent({ type: 'ask_human', question, at: new Date().toISOString() });
        return answer('Your question was sent to a human. End your turn now; the task resumes with their answer.');
      }),
  );
}

/** What the answer to a submission names, so the model can check it was understood. */
function submittedWhat(stage: AgentStage, report: AgentReport): string {
  switch (stage) {
    case 'define':
      return `your definition (goal and ${report.definition?.acceptanceCriteria.length ?? 0} acceptance criteria)`;
    case 'implement':
      return 'your implementation summary';
    case 'review':
      return `your review verdict (${report.outcome}, confidence ${report.confidence})`;
  }
}

/**
 * Validates the report against the agent protocol and the stage, then writes it atomically (temp file and
 * rename): the driver never reads half a report. Returns what is wrong instead of writing, if anything.
 */
async function writeReport(config: AgentToolsConfig, report: AgentReport): Promise<string | undefined> {
  const parsed = AgentReportSchema.safeParse(report);
  if (!parsed.success) return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'report'}: ${issue.message}`).join('; ');
  if (!OUTCOMES_BY_STAGE[config.stage].includes(parsed.data.outcome)) return `outcome ${parsed.data.outcome} is not a result of the ${config.stage} stage`;
  await mkdir(dirname(config.resultFile), { recursive: true });
  const temp = `${config.resultFile}.${randomUUID()}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(parsed.data)}\n`);
    await rename(temp, config.resultFile);
  } finally {
    await rm(temp, { force: true });
  }
  return undefined;
}

/** One JSON line, written with one append so a reader following the file never sees half an event. */
async function appendLine(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${line}\n`);
}

function answer(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** An I/O failure is the model's to know about (as a tool error) and the operator's (on stderr), never a crash. */
function notRecorded(error: unknown): CallToolResult {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`baton mcp: ${NOT_RECORDED}: ${message}\n`);
  return toolError(`${NOT_RECORDED}: ${message}. Call the tool again; if it keeps failing, say so in your last reply and end your turn.`);
}
