/**
 * The task tools of Baton's MCP server, for people and orchestrating agents: read the board and a task
 * (`list_tasks`, `get_task`), start and steer tasks (`create_task`, `signal_task`), and — for agents declared
 * `claim: true`, which run no worker — take a stage and answer it (`claim_work`, `heartbeat_work`,
 * `complete_work`, `fail_work`). Typed: zod input schemas, structured JSON results. They call Temporal through
 * the API's own `TaskClient` and `WorkItems`, never the REST API.
 *
 * Served on stdio by `baton mcp --tasks` (`serveTaskToolsOnStdio`) and over streamable HTTP at `/mcp` by the API.
 */
import { Client, Connection } from '@temporalio/client';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z, ZodError } from 'zod';
import { StartedTaskSchema, TaskStateSchema, TaskSummarySchema } from '../api/schemas';
import { DuplicateTaskError } from '../api/task-admission';
import { TaskAlreadyExistsError, TaskClient, TaskClosedError, TaskFiltersSchema, TaskNotFoundError, TemporalUnavailableError } from '../api/task-client';
import {
  AgentNameSchema,
  ClaimWaitSchema,
  FailWorkSchema,
  FinishedWorkSchema,
  HeartbeatAnswerSchema,
  HeartbeatWorkSchema,
  InvalidWorkResultError,
  WorkItems,
  WorkItemSchema,
  WorkTokenParamSchema,
} from '../api/work-items';
import type { Action } from '../api/auth';
import type { Settings } from '../cli/settings';
import { AgentReportSchema } from '../workflows/agent-protocol';
import { SIGNAL_NAMES } from '../workflows/messages';
import { TaskIdSchema, TaskSpecSchema } from '../workflows/spec';
import { createMcpServer, type ToolSet } from './server';

/** The tools' names. */
export const MCP_TASK_TOOLS = [
  'list_tasks',
  'get_task',
  'create_task',
  'signal_task',
  'claim_work',
  'heartbeat_work',
  'complete_work',
  'fail_work',
] as const;
type TaskToolName = (typeof MCP_TASK_TOOLS)[number];

export interface TaskToolsDeps {
  tasks: TaskClient;
  work: WorkItems;
  /** Why the caller may not do an action (api/auth.ts), or undefined; absent: everything is allowed. */
  authorize?: (action: Action) => string | undefined;
}

/** A tool call the caller's role does not allow (answered `Forbidden: ...`). */
export class ForbiddenError extends Error {
  override readonly name = 'Forbidden';
  readonly statusCode = 403;
}

const Token = WorkTokenParamSchema.describe('The token claim_work returned with the work item.');

const SIGNAL_HELP =
  'Payloads: approve {by, comment?}; requestChanges {by, feedback}; reassign {by, agent?, stage?}; retry {by}; ' +
  'cancel {by, reason?}; pause {by}; resume {by}; setPriority {by, priority: P0|P1|P2}; addNote {by, text}; ' +
  'escalate {by, reason}; setBudget {by, maxCostUsd}; progress {agent, message?}; heartbeat {agent}.';

/** The task tools as a tool set of `baton mcp`, with what a client is told on connecting. */
export function taskToolSet(deps: TaskToolsDeps): ToolSet {
  return {
    name: 'task tools',
    instructions:
      "Baton orchestrates coding tasks (define -> implement -> review -> done) on Temporal. list_tasks and get_task " +
      'read the board and one task; create_task starts a task (only title is required); signal_task steers one ' +
      '(approve, requestChanges, reassign, retry, cancel, pause, resume, setPriority, addNote, escalate, setBudget). ' +
      'An agent declared claim: true takes its stages with claim_work, sends heartbeat_work while it works (its ' +
      'idle clock counts silence), and answers with complete_work (its result) or fail_work, passing the token.',
    register: (server) => registerTaskTools(server, deps),
  };
}

/** Registers the task tools on `server`. */
export function registerTaskTools(server: McpServer, { tasks, work, authorize }: TaskToolsDeps): void {
  const allowed = (action: Action) => {
    const why = authorize?.(action);
    if (why) throw new ForbiddenError(why);
  };
  const tool = <I extends z.ZodObject, O extends z.ZodObject>(
    name: TaskToolName,
    config: { title: string; description: string; input: I; output: O; readOnly?: boolean; destructive?: boolean; idempotent?: boolean },
    run: (input: z.output<I>, signal: AbortSignal) => Promise<z.input<O>>,
  ) => {
    server.registerTool(
      name,
      {
        title: config.title,
        description: config.description,
        inputSchema: config.input,
        outputSchema: config.output,
        annotations: {
          readOnlyHint: config.readOnly ?? false,
          destructiveHint: config.destructive ?? false,
          idempotentHint: config.idempotent ?? false,
          openWorldHint: false,
        },
      },
      // The SDK validated the arguments against `input`; `structuredContent` is checked against `output`.
      (async (args: z.output<I>, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
        try {
          return structured(await run(args, extra.signal));
        } catch (error) {
          return toolError(describeError(error));
        }
      }) as never,
    );
  };

  tool(
    'list_tasks',
    {
      title: 'List tasks',
      description:
        'The board, from Temporal visibility: tasks filtered by stage, status, priority, agent or cost, newest first ' +
        '(or sorted by cost). Visibility trails a task by a moment.',
      input: TaskFiltersSchema,
      output: z.object({ tasks: z.array(TaskSummarySchema) }),
      readOnly: true,
      idempotent: true,
    },
    async (filters) => ({ tasks: await tasks.list(filters) }),
  );

  tool(
    'get_task',
    {
      title: 'Get a task',
      description: "One task's state: stage, status, assignee, round, definition, feedback, escalation, cost, branch, gates, timeline.",
      input: z.object({ taskId: TaskIdSchema }),
      output: TaskStateSchema,
      readOnly: true,
      idempotent: true,
    },
    async ({ taskId }) => ({ ...(await tasks.state(taskId)) }),
  );

  tool(
    'create_task',
    {
      title: 'Create a task',
      description:
        'Start a task: only title is required. Optional: id, goal, acceptanceCriteria, priority (P0|P1|P2), ' +
        'capabilities, dependsOn, agents {define, implement, review} to pin agents, policy, repo {path | url, ' +
        'baseBranch}, context (free-form JSON every agent gets).',
      input: TaskSpecSchema,
      output: StartedTaskSchema,
    },
    async (spec) => {
      allowed({ kind: 'create' });
      return tasks.start(spec);
    },
  );

  tool(
    'signal_task',
    {
      title: 'Signal a task',
      description: `Steer a task with a signal of the public contract, as a person does from the API or the temporal CLI. ${SIGNAL_HELP}`,
      input: z.object({
        taskId: TaskIdSchema,
        signal: z.enum(SIGNAL_NAMES).describe('The signal name.'),
        payload: z.record(z.string(), z.unknown()).default({}).describe('The signal payload (see the description).'),
      }),
      output: z.object({ accepted: z.literal(true), taskId: z.string(), signal: z.string() }),
      destructive: true,
    },
    async ({ taskId, signal, payload }) => {
      allowed({ kind: 'signal', signal });
      await tasks.signal(taskId, signal, payload);
      return { accepted: true as const, taskId, signal };
    },
  );

  tool(
    'claim_work',
    {
      title: 'Claim work',
      description:
        'For an agent declared claim: true (it runs no worker): wait up to waitMs for its next work item (a stage of ' +
        'a task) and take it. Answers {item: null} when none came. The item holds the task context and a token: ' +
        'heartbeat_work while you work, then complete_work with your result or fail_work.',
      input: z.object({
        agent: AgentNameSchema.describe('The agent you work as (claim: true in agents.yaml).'),
        waitMs: ClaimWaitSchema.optional().describe('How long to wait for work, 0..55000 ms (default 5000; Temporal long-polls at least about 2 s).'),
      }),
      output: z.object({ item: WorkItemSchema.nullable() }),
    },
    async ({ agent, waitMs }, signal) => {
      allowed({ kind: 'work' });
      const item = await work.claim(agent, { waitMs, signal });
      return { item: item ? { ...item, context: { ...item.context } } : null };
    },
  );

  tool(
    'heartbeat_work',
    {
      title: 'Heartbeat claimed work',
      description:
        "A sign of life for a claimed work item (resets the task's idle clock); with a message, a progress report on " +
        'the task timeline. An error WorkNotFound means the item is gone (cancelled, reassigned, finished): stop.',
      input: HeartbeatWorkSchema.extend({ token: Token }),
      output: HeartbeatAnswerSchema,
      idempotent: true,
    },
    async ({ token, message }) => {
      allowed({ kind: 'work' });
      return { ok: true as const, ...(await work.heartbeat(token, { message })) };
    },
  );

  tool(
    'complete_work',
    {
      title: 'Complete claimed work',
      description:
        'Answer a claimed work item with your result, as the agent protocol defines it: define -> outcome completed ' +
        'with definition {goal, acceptanceCriteria}; implement -> outcome completed with a summary; review -> ' +
        'outcome approved or changes_requested with feedback and confidence (0..1). Any stage may answer blocked ' +
        '(a human is asked) or failed (the stage is retried). A result that breaks the protocol is refused and the ' +
        'item stays yours.',
      input: z.object({ token: Token, result: AgentReportSchema }),
      output: FinishedWorkSchema,
    },
    async ({ token, result }) => {
      allowed({ kind: 'work' });
      return work.complete(token, result);
    },
  );

  tool(
    'fail_work',
    {
      title: 'Fail claimed work',
      description: 'Give a claimed work item up as failed, with the reason: the task retries the stage, then asks a human.',
      input: FailWorkSchema.extend({ token: Token }),
      output: FinishedWorkSchema,
    },
    async ({ token, reason }) => {
      allowed({ kind: 'work' });
      return work.fail(token, { reason });
    },
  );
}

/**
 * `baton mcp --tasks`: the task tools on stdio, connected to Temporal with the deployment's settings
 * (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `BATON_TASK_QUEUE`). The connection is lazy: the server starts at
 * once, and a tool answers `TemporalUnavailable` while Temporal cannot be reached.
 */
export async function serveTaskToolsOnStdio(settings: Settings, log: (line: string) => void): Promise<void> {
  const connection = Connection.lazy(settings.connectionOptions);
  const client = new Client({ connection, namespace: settings.namespace });
  const tasks = new TaskClient({ client, taskQueue: settings.taskQueue, defaults: settings.defaults, uiUrl: settings.uiUrl ?? null });
  const work = new WorkItems({ client, taskQueue: settings.taskQueue });
  const transport = new StdioServerTransport();
  const server = createMcpServer([taskToolSet({ tasks, work })]);
  // The gRPC channel would keep the process alive: it ends with the client's stdin.
  const stop = () => {
    void connection.close().finally(() => process.exit(0));
  };
  process.stdin.once('end', stop);
  transport.onclose = stop;
  await server.connect(transport);
  const address = settings.connectionOptions.address ?? 'localhost:7233';
  log(`baton mcp: serving the task tools on stdio (Temporal ${address}, namespace ${settings.namespace}, task queue ${settings.taskQueue})`);
}

function structured(content: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(content, null, 2) }], structuredContent: content };
}

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** `Name: what happened`, with the API's error names (ValidationError, TaskNotFound, WorkNotFound, ...). */
export function describeError(error: unknown): string {
  if (error instanceof ZodError) {
    return `ValidationError: ${error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ')}`;
  }
  if (error instanceof InvalidWorkResultError) return `ValidationError: ${error.message} (nothing was sent; the item is still yours)`;
  if (error instanceof TaskNotFoundError) return `TaskNotFound: ${error.message}`;
  if (error instanceof TaskAlreadyExistsError) return `TaskAlreadyExists: ${error.message}`;
  if (error instanceof DuplicateTaskError) return `DuplicateTask: ${error.message}`;
  if (error instanceof TaskClosedError) return `TaskClosed: ${error.message}`;
  if (error instanceof TemporalUnavailableError) return 'TemporalUnavailable: Temporal cannot be reached; try again';
  if (error instanceof Error) {
    // The work items' own errors (AgentNotFound, AgentNotClaimable, InvalidWorkToken, WorkNotFound) carry their name.
    return 'statusCode' in error ? `${error.name}: ${error.message}` : `InternalError: ${error.message}`;
  }
  return `InternalError: ${String(error)}`;
}
