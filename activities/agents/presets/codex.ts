/**
 * The Codex preset: `codex exec --json` in the task's worktree, with its own `CODEX_HOME` in the attempt's
 * private directory holding a generated `config.toml` (the user's `~/.codex` is neither read nor written,
 * and concurrent runs share nothing): one model provider (the agent's `baseUrl`, else OpenAI's API) keyed by
 * `OPENAI_API_KEY`, no approvals, the workspace-write sandbox (writes to the worktree and a private temp
 * directory only, no network for commands), features that call outside hosts off, and `baton mcp` as its
 * only MCP server, its tools pre-approved.
 *
 * What the model gets depends on the model name and Codex's built-in model catalog (in 0.169.0: gpt-5.5 and
 * newer). For a model in it, `apply_patch` edits files and MCP tools are deferred behind Codex's `tool_search`
 * tool; for any other name (a gateway's model, but also older ones such as gpt-5-codex) Codex warns in an
 * `error` item (shown as progress), offers no `apply_patch` (the model edits through shell commands) and lists
 * the MCP tools directly as the namespace `mcp__baton`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asArray, asNumber, asObject, asString, commandProgress, editProgress, jsonLine, mcpToolProgress, StderrError, writeRunFile, type JsonObject } from './cli-common';
import {
  MCP_SERVER_NAME,
  PRESET_ROLES,
  type CliInvocation,
  type CliOutcome,
  type CliOutputParser,
  type CliPreset,
  type CliRunContext,
  type CliUsage,
} from './types';

/** OpenAI's API, for an agent without `baseUrl`. */
const OPENAI_BASE_URL = 'https://api.openai.com/v1';
const PROVIDER_ID = 'baton';
/** How long Codex waits for `baton mcp` to start (its default, 10 s, is short for a loaded machine's first tsx compile). */
const MCP_STARTUP_TIMEOUT_SEC = 60;

export const codexPreset: CliPreset = {
  name: 'codex',
  roles: PRESET_ROLES.codex,
  executable: 'codex',
  install: 'npm install -g @openai/codex',
  keyEnv: ['OPENAI_API_KEY'],
  invoke: async (ctx, executable) => invocation(ctx, executable, ctx.prompt),
  followUp: async (ctx, executable, previous, message) => {
    // Without a session (the CLI failed before it started one) there is nothing to continue: the first turn again.
    if (!previous.sessionId) return invocation(ctx, executable, ctx.prompt);
    writeUsageBaseline(ctx, previous.sessionId, previous.usage);
    return invocation(ctx, executable, message, previous.sessionId);
  },
  parser: (ctx) => new CodexOutputParser(ctx),
};

function codexHome(ctx: CliRunContext): string {
  return join(ctx.runDir, 'codex');
}

function invocation(ctx: CliRunContext, executable: string, prompt: string, resume?: string): CliInvocation {
  const tmp = join(ctx.runDir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  writeRunFile(ctx.runDir, 'codex/config.toml', configToml(ctx, tmp));
  return {
    argv: [
      executable,
      'exec',
      '--json',
      // The worktree is a git checkout; the check is only Codex's guard for an unknown directory.
      '--skip-git-repo-check',
      '--cd', ctx.workdir,
      '-m', ctx.model,
      ...ctx.args,
      // `resume` takes the options of `exec` before it; `-`: the prompt comes on stdin.
      ...(resume ? ['resume', resume] : []),
      '-',
    ],
    stdin: prompt,
    // Commands in the sandbox may write only the worktree and this run's own temp directory (never the shared /tmp).
    env: { ...ctx.env, CODEX_HOME: codexHome(ctx), TMPDIR: tmp },
  };
}

/** `config.toml` for one run. */
function configToml(ctx: CliRunContext, tmp: string): string {
  const { command, args, env } = ctx.mcp;
  return [
    `model_provider = ${toml(PROVIDER_ID)}`,
    'approval_policy = "never"',
    'sandbox_mode = "workspace-write"',
    // A hosted tool of OpenAI's; a gateway or local server would not run it.
    'web_search = "disabled"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    // The prompt history of the interactive CLI; sessions (for the follow-up) are kept regardless.
    '[history]',
    'persistence = "none"',
    '',
    // Plugins and apps are fetched from OpenAI's hosts.
    '[features]',
    'plugins = false',
    'remote_plugin = false',
    'apps = false',
    '',
    // Commands the model runs do not see the API key (nor other *KEY*, *SECRET*, *TOKEN* variables).
    '[shell_environment_policy]',
    'inherit = "all"',
    'ignore_default_excludes = false',
    'exclude = ["OPENAI_API_KEY"]',
    '',
    '[sandbox_workspace_write]',
    'network_access = false',
    'exclude_slash_tmp = true',
    'exclude_tmpdir_env_var = true',
    `writable_roots = [${toml(tmp)}]`,
    '',
    `[model_providers.${PROVIDER_ID}]`,
    'name = "Baton"',
    `base_url = ${toml(ctx.baseUrl ?? OPENAI_BASE_URL)}`,
    'env_key = "OPENAI_API_KEY"',
    'wire_api = "responses"',
    'supports_websockets = false',
    '',
    `[mcp_servers.${MCP_SERVER_NAME}]`,
    `command = ${toml(command)}`,
    `args = [${args.map(toml).join(', ')}]`,
    // Under approval_policy "never", an MCP call that needs approval is refused.
    'default_tools_approval_mode = "approve"',
    `startup_timeout_sec = ${MCP_STARTUP_TIMEOUT_SEC}`,
    // Required: the first turn waits until the server listed its tools (on a busy machine `baton mcp` may take
    // seconds to start; without this Codex starts the turn without submit_result), and a server that fails
    // to start fails the run instead of a turn that cannot report.
    'required = true',
    '',
    `[mcp_servers.${MCP_SERVER_NAME}.env]`,
    ...Object.entries(env).map(([name, value]) => `${toml(name)} = ${toml(value)}`),
    '',
  ].join('\n');
}

/** A TOML basic string (its escapes are JSON's). */
function toml(value: string): string {
  return JSON.stringify(value);
}

/**
 * Codex reports a thread's usage so far with each `turn.completed`: a resumed session's includes the turns of
 * the run before it. The follow-up leaves that run's usage here, and its parser subtracts it.
 */
function baselineFile(sessionId: string): string {
  return join('codex', `baton-usage-before-${sessionId.replace(/[^\w-]/g, '_')}.json`);
}

function writeUsageBaseline(ctx: CliRunContext, sessionId: string, usage: CliUsage | undefined): void {
  writeRunFile(ctx.runDir, baselineFile(sessionId), JSON.stringify(usage ?? {}));
}

function readUsageBaseline(ctx: CliRunContext, sessionId: string): CliUsage {
  try {
    return JSON.parse(readFileSync(join(ctx.runDir, baselineFile(sessionId)), 'utf8')) as CliUsage;
  } catch {
    // No follow-up of an earlier run: nothing to subtract.
    return {};
  }
}

/**
 * Reads `codex exec --json`: `thread.started` (the session), `item.started`/`item.completed` (commands, file
 * changes, MCP calls, agent messages, warnings as `error` items), `turn.completed` with the thread's usage,
 * `turn.failed` and top-level `error` events (retries of the model API, then the failure).
 */
class CodexOutputParser implements CliOutputParser {
  private sessionId?: string;
  private lastText?: string;
  private usage?: CliUsage;
  private failure?: string;
  private lastError?: string;
  private completed = false;
  private readonly stderr = new StderrError();
  /** Items already shown when they started, so their completion is not shown again. */
  private readonly shown = new Set<string>();

  constructor(private readonly ctx: CliRunContext) {}

  line(stream: 'stdout' | 'stderr', text: string): { progress?: string } | undefined {
    this.stderr.see(stream, text);
    const event = jsonLine(stream, text);
    switch (event?.type) {
      case 'thread.started':
        this.sessionId = asString(event.thread_id) ?? this.sessionId;
        return undefined;
      case 'item.started':
      case 'item.completed':
        return this.item(asObject(event.item), event.type === 'item.completed');
      case 'turn.completed':
        this.completed = true;
        this.usage = this.runUsage(asObject(event.usage));
        return undefined;
      case 'turn.failed':
        this.failure = asString(asObject(event.error)?.message) ?? 'turn failed';
        return undefined;
      case 'error':
        this.lastError = asString(event.message);
        return this.lastError ? { progress: `Codex: ${this.lastError}` } : undefined;
      default:
        return undefined;
    }
  }

  private item(item: JsonObject | undefined, completed: boolean): { progress?: string } | undefined {
    if (!item) return undefined;
    if (completed && item.type === 'agent_message') this.lastText = asString(item.text) ?? this.lastText;
    const id = asString(item.id) ?? '';
    if (this.shown.has(id)) return undefined;
    const progress = itemProgress(item, this.ctx.workdir);
    if (!progress) return undefined;
    this.shown.add(id);
    return { progress };
  }

  /** This run's share of the thread's usage; input tokens include cached ones (all the model read), as Codex counts them. */
  private runUsage(usage: JsonObject | undefined): CliUsage | undefined {
    if (!usage) return undefined;
    const before = this.sessionId ? readUsageBaseline(this.ctx, this.sessionId) : {};
    const since = (total: unknown, earlier: number | undefined) => {
      const value = asNumber(total);
      return value === undefined ? undefined : Math.max(0, value - (earlier ?? 0));
    };
    return { inputTokens: since(usage.input_tokens, before.inputTokens), outputTokens: since(usage.output_tokens, before.outputTokens) };
  }

  result(): CliOutcome {
    const error = this.failure ?? (this.completed ? undefined : (this.lastError ?? this.stderr.message ?? 'Codex ended without completing its turn'));
    return { sessionId: this.sessionId, finalText: this.lastText, usage: this.usage, ...(error ? { error } : {}) };
  }
}

/** The progress line for an item, when it is one a person would want to see. */
function itemProgress(item: JsonObject, workdir: string): string | undefined {
  switch (item.type) {
    case 'command_execution': {
      const command = asString(item.command);
      return command ? commandProgress(command) : undefined;
    }
    case 'file_change': {
      const files = asArray(item.changes).map((change) => asString(asObject(change)?.path)).filter((path) => path !== undefined);
      return files.length ? files.map((file) => editProgress(file, workdir)).join('; ') : undefined;
    }
    case 'mcp_tool_call':
      return item.server === MCP_SERVER_NAME ? mcpToolProgress(asString(item.tool) ?? '') : undefined;
    case 'error':
      return asString(item.message) ? `Codex: ${asString(item.message)}` : undefined;
    default:
      return undefined;
  }
}
