/**
 * The Claude Code preset: `claude -p` in the task's worktree with `stream-json` output, edits accepted inside
 * the working directory only (`--permission-mode acceptEdits`, no `--add-dir`: writes elsewhere are refused,
 * and so is any shell command that is not read-only), and `baton mcp` as its only MCP server.
 *
 * Claude Code keeps its configuration, sessions and a `.claude.json` it rewrites on every start in
 * `~/.claude`; concurrent runs there race, and a user's own settings, hooks and MCP servers would leak into
 * Baton's runs. `CLAUDE_CONFIG_DIR` moves all of it into the attempt's private directory (HOME stays), so
 * every run starts from the same defaults and the follow-up finds its session there. The worktree's own
 * `CLAUDE.md` and `.claude/settings.json` still apply: they belong to the project.
 */
import { join } from 'node:path';
import {
  asArray,
  asNumber,
  asObject,
  asString,
  commandProgress,
  editProgress,
  jsonLine,
  mcpToolProgress,
  StderrError,
  sumOf,
  writeRunFile,
  type JsonObject,
} from './cli-common';
import { MCP_AGENT_TOOLS, MCP_SERVER_NAME, PRESET_ROLES, type CliInvocation, type CliOutcome, type CliOutputParser, type CliPreset, type CliRunContext, type CliUsage } from './types';

/** How Claude Code names an MCP tool to the model (and in `--allowedTools`). */
const MCP_TOOL_PREFIX = `mcp__${MCP_SERVER_NAME}__`;

/** Settings that keep Claude Code to the model API: no telemetry, error reports, update checks or other calls home. */
const OFFLINE_ENV = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
} as const;

/** Claude Code's file-editing tools and the argument naming the file. */
const EDIT_TOOLS: Record<string, string> = { Write: 'file_path', Edit: 'file_path', MultiEdit: 'file_path', NotebookEdit: 'notebook_path' };

export const claudeCodePreset: CliPreset = {
  name: 'claude-code',
  roles: PRESET_ROLES['claude-code'],
  executable: 'claude',
  install: 'npm install -g @anthropic-ai/claude-code',
  keyEnv: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'],
  invoke: async (ctx, executable) => invocation(ctx, executable, ctx.prompt),
  // Without a session (the CLI failed before it started one) there is nothing to continue: the first turn again.
  followUp: async (ctx, executable, previous, message) =>
    previous.sessionId ? invocation(ctx, executable, message, previous.sessionId) : invocation(ctx, executable, ctx.prompt),
  parser: (ctx) => new ClaudeOutputParser(ctx.workdir),
};

function invocation(ctx: CliRunContext, executable: string, prompt: string, resume?: string): CliInvocation {
  const mcpConfig = writeRunFile(
    ctx.runDir,
    'claude-mcp.json',
    // alwaysLoad: the tools are in every request. Otherwise Claude Code defers MCP tools behind its ToolSearch
    // tool and the model must first look up submit_result before it can call it.
    JSON.stringify({ mcpServers: { [MCP_SERVER_NAME]: { type: 'stdio', ...ctx.mcp, alwaysLoad: true } } }, null, 2),
  );
  return {
    argv: [
      executable,
      '--output-format', 'stream-json',
      '--verbose',
      '--model', ctx.model,
      '--permission-mode', 'acceptEdits',
      '--mcp-config', mcpConfig,
      '--strict-mcp-config',
      // One argument, comma-separated: the option is variadic and would swallow what follows.
      '--allowedTools', MCP_AGENT_TOOLS.map((tool) => `${MCP_TOOL_PREFIX}${tool}`).join(','),
      ...(resume ? ['--resume', resume] : []),
      ...ctx.args,
      // Last, so it also ends a variadic option the agent's args may end with. The prompt comes on stdin.
      '-p',
    ],
    stdin: prompt,
    env: {
      ...ctx.env,
      ...(ctx.baseUrl ? { ANTHROPIC_BASE_URL: ctx.baseUrl } : {}),
      CLAUDE_CONFIG_DIR: join(ctx.runDir, 'claude'),
      ...OFFLINE_ENV,
    },
  };
}

/**
 * Reads `--output-format stream-json --verbose`: `system/init` (the session), `system/api_retry` and
 * `system/permission_denied` (progress), `assistant` messages (one content block each: text, or a tool_use
 * shown as progress), and the final `result` with usage, the CLI's cost, the last text and whether it failed.
 */
class ClaudeOutputParser implements CliOutputParser {
  private sessionId?: string;
  private lastText?: string;
  private final?: JsonObject;
  private readonly stderr = new StderrError();

  constructor(private readonly workdir: string) {}

  line(stream: 'stdout' | 'stderr', text: string): { progress?: string } | undefined {
    this.stderr.see(stream, text);
    const event = jsonLine(stream, text);
    if (!event) return undefined;
    this.sessionId = asString(event.session_id) ?? this.sessionId;
    switch (event.type) {
      case 'system':
        return systemProgress(event);
      case 'assistant':
        return this.assistant(asObject(event.message));
      case 'result':
        this.final = event;
        return undefined;
      default:
        return undefined;
    }
  }

  private assistant(message: JsonObject | undefined): { progress?: string } | undefined {
    const progress: string[] = [];
    for (const block of asArray(message?.content).map(asObject)) {
      if (block?.type === 'text' && asString(block.text)?.trim()) this.lastText = asString(block.text);
      if (block?.type !== 'tool_use') continue;
      const line = toolProgress(asString(block.name) ?? '', asObject(block.input) ?? {}, this.workdir);
      if (line) progress.push(line);
    }
    return progress.length ? { progress: progress.join('; ') } : undefined;
  }

  result(): CliOutcome {
    const result = this.final;
    const finalText = asString(result?.result) ?? this.lastText;
    if (!result) return { sessionId: this.sessionId, finalText, error: this.stderr.message ?? 'Claude Code ended without a result' };
    const failed = result.is_error === true || result.subtype !== 'success';
    return {
      sessionId: this.sessionId,
      finalText,
      usage: runUsage(result),
      ...(failed ? { error: `${asString(result.subtype) ?? 'error'}${finalText ? `: ${finalText}` : ''}` } : {}),
    };
  }
}

/** Retries of the model API and refused tool calls: both explain a run that goes nowhere. */
function systemProgress(event: JsonObject): { progress?: string } | undefined {
  if (event.subtype === 'api_retry') {
    const status = [asNumber(event.error_status), asString(event.error)].filter((part) => part !== undefined).join(' ');
    return { progress: `model API error${status ? ` (${status})` : ''}, retry ${asNumber(event.attempt) ?? '?'}/${asNumber(event.max_retries) ?? '?'}` };
  }
  if (event.subtype === 'permission_denied') {
    return { progress: `Claude Code refused ${asString(event.tool_name) ?? 'a tool'}: ${asString(event.decision_reason) ?? asString(event.message) ?? 'not allowed'}` };
  }
  return undefined;
}

/** The progress line for a tool the model called, when it is one a person would want to see. */
function toolProgress(name: string, input: JsonObject, workdir: string): string | undefined {
  if (name.startsWith(MCP_TOOL_PREFIX)) return mcpToolProgress(name.slice(MCP_TOOL_PREFIX.length));
  const fileArg = EDIT_TOOLS[name];
  const file = fileArg ? asString(input[fileArg]) : undefined;
  if (file) return editProgress(file, workdir);
  const command = name === 'Bash' ? asString(input.command) : undefined;
  return command ? commandProgress(command) : undefined;
}

/**
 * This run's tokens and cost. A resumed session's `total_cost_usd` and `modelUsage` include the turns before
 * it, so this run's figures come from `model_usage_since_last_result` (one result per `-p` run), summed over
 * the models it used (subagents may use others); `usage` and `total_cost_usd` are the fallback of versions
 * without it. Input tokens include cache reads and writes: all the model read (the cost prices them lower).
 * Claude Code prices a model it does not know as if it were a default one (`costBasis: "unknown"`): that
 * guess is left out, so the agent's price table applies.
 */
function runUsage(result: JsonObject): CliUsage | undefined {
  const perModel = Object.values(asObject(result.model_usage_since_last_result) ?? {}).map((entry) => asObject(entry) ?? {});
  if (perModel.length > 0) {
    const known = perModel.every((entry) => entry.costBasis !== 'unknown');
    return {
      inputTokens: sumOf(...perModel.flatMap((entry) => [entry.inputTokens, entry.cacheReadInputTokens, entry.cacheCreationInputTokens])),
      outputTokens: sumOf(...perModel.map((entry) => entry.outputTokens)),
      ...(known ? { costUsd: sumOf(...perModel.map((entry) => entry.costUSD)) } : {}),
    };
  }
  const usage = asObject(result.usage);
  if (!usage && asNumber(result.total_cost_usd) === undefined) return undefined;
  return {
    inputTokens: sumOf(usage?.input_tokens, usage?.cache_read_input_tokens, usage?.cache_creation_input_tokens),
    outputTokens: asNumber(usage?.output_tokens),
    costUsd: asNumber(result.total_cost_usd),
  };
}
