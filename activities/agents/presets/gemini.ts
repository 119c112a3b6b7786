/**
 * Gemini CLI (`@google/gemini-cli`, tested with 0.61): `gemini -p PROMPT --output-format stream-json
 * --approval-mode auto_edit -m MODEL` in the worktree, Baton's MCP server registered as `baton`.
 *
 * Configuration without touching the worktree or HOME: Gemini CLI keeps everything of its own (settings,
 * sessions, its project temp directory) under `$GEMINI_CLI_HOME/.gemini` when that variable is set, and uses
 * it for nothing else (git and the tools it starts still see the real HOME). So each attempt gets its own
 * `<runDir>/gemini-home/.gemini/settings.json`: API-key auth (without it, a custom base URL exits 41), no
 * usage statistics, telemetry or update checks, and `mcpServers.baton` with `trust: true` (headless Gemini CLI
 * leaves untrusted MCP tools out of the model's tool list). The user's own `~/.gemini` (their MCP servers,
 * extensions, memory) is deliberately not used; a repository's `.gemini/settings.json` and `GEMINI.md` still
 * apply. The system settings path (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) is no alternative: Gemini CLI skips a
 * system settings file unless it and every parent directory are owned by root and not group/world-writable.
 *
 * `auto_edit` approves its edit tools (`write_file`, `replace`) and refuses paths outside the workspace (the
 * worktree, and its project temp directory under `GEMINI_CLI_HOME`). Headless, tools that would need a
 * confirmation, like `run_shell_command`, are not offered at all; an agent that should run commands needs
 * `args: [--approval-mode, yolo]`, which then replaces Baton's `auto_edit` (Gemini CLI refuses the option twice).
 *
 * MCP tools reach the model as `mcp_<server>_<tool>` (`mcp_baton_submit_result`). Usage is in the final
 * `result` event (tokens; Gemini CLI reports no cost). The follow-up turn resumes the session by its id
 * (`--resume <session id>`, sessions live under `GEMINI_CLI_HOME` of the same attempt).
 */
import { join } from 'node:path';
import { asNumber, asObject, asString, commandProgress, editProgress, jsonLine, mcpToolProgress, writeRunFile, type JsonObject } from './cli-common';
import { MCP_SERVER_NAME, PRESET_ROLES, type CliInvocation, type CliOutcome, type CliOutputParser, type CliPreset, type CliRunContext, type CliUsage } from './types';

/** Where Gemini CLI keeps its own state for one attempt (`GEMINI_CLI_HOME`; it adds `.gemini` itself). */
const GEMINI_HOME = 'gemini-home';

/** The settings of one attempt, in the shape of Gemini CLI's `settings.json`. */
function geminiSettings(ctx: Pick<CliRunContext, 'mcp'>): object {
  return {
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    mcpServers: { [MCP_SERVER_NAME]: { command: ctx.mcp.command, args: ctx.mcp.args, env: ctx.mcp.env, trust: true } },
  };
}

/** One run: the settings written (again: a follow-up gets the same), then `turn` (`-p` or `--resume`) and the common flags. */
function invocation(ctx: CliRunContext, executable: string, turn: string[]): Promise<CliInvocation> {
  writeRunFile(ctx.runDir, join(GEMINI_HOME, '.gemini', 'settings.json'), `${JSON.stringify(geminiSettings(ctx), null, 2)}\n`);
  const env: NodeJS.ProcessEnv = { ...ctx.env, GEMINI_CLI_HOME: join(ctx.runDir, GEMINI_HOME), GEMINI_CLI_TRUST_WORKSPACE: 'true' };
  if (ctx.baseUrl) env.GOOGLE_GEMINI_BASE_URL = ctx.baseUrl;
  // API-key auth reads GEMINI_API_KEY only; a key given as GOOGLE_API_KEY is the same kind of key.
  if (!env.GEMINI_API_KEY && env.GOOGLE_API_KEY) env.GEMINI_API_KEY = env.GOOGLE_API_KEY;
  const approval = ctx.args.some((arg) => /^(?:--approval-mode(?:=|$)|--yolo$|-y$)/.test(arg)) ? [] : ['--approval-mode', 'auto_edit'];
  return Promise.resolve({ argv: [executable, ...turn, '--output-format', 'stream-json', ...approval, '-m', ctx.model, ...ctx.args], env });
}

/** What a tool call means for the people watching the task; reads and searches are only signs of life. */
function toolProgress(name: string, parameters: JsonObject, workdir: string): string | undefined {
  switch (name) {
    case 'write_file':
    case 'replace':
      return editProgress(asString(parameters.file_path) ?? 'a file', workdir);
    case 'run_shell_command':
      return commandProgress(asString(parameters.command) ?? 'a command');
  }
  // Gemini CLI names MCP tools `mcp_<server>_<tool>`.
  const batonPrefix = `mcp_${MCP_SERVER_NAME}_`;
  return name.startsWith(batonPrefix) ? mcpToolProgress(name.slice(batonPrefix.length)) : undefined;
}

/** Reads `--output-format stream-json`: one JSON event a line (init, message, tool_use, tool_result, error, result). */
function geminiParser(ctx: CliRunContext): CliOutputParser {
  let sessionId: string | undefined;
  let usage: CliUsage | undefined;
  let error: string | undefined;
  let lastStderrError: string | undefined;
  let sawResult = false;
  // The model's last message: the assistant deltas since its last tool call.
  let message = '';
  let inMessage = false;
  let finalText: string | undefined;

  return {
    line(stream, text) {
      const event = jsonLine(stream, text);
      if (!event) {
        // Before the stream starts (settings, auth, trust), Gemini CLI explains itself on stderr only.
        if (stream === 'stderr' && /error/i.test(text)) lastStderrError = text.trim();
        return undefined;
      }
      switch (event.type) {
        case 'init':
          sessionId = asString(event.session_id) ?? sessionId;
          break;
        case 'message': {
          const content = asString(event.content);
          if (event.role !== 'assistant' || content === undefined) break;
          message = inMessage && event.delta === true ? message + content : content;
          inMessage = true;
          if (message.trim()) finalText = message.trim();
          break;
        }
        case 'tool_use': {
          inMessage = false;
          const name = asString(event.tool_name);
          return name ? { progress: toolProgress(name, asObject(event.parameters) ?? {}, ctx.workdir) } : undefined;
        }
        case 'error':
          // Warnings (a loop detected, a blocked hook) do not end the run; errors explain why it ended.
          if (event.severity === 'error') error = asString(event.message) ?? error;
          break;
        case 'result': {
          sawResult = true;
          const stats = asObject(event.stats);
          if (stats) usage = { inputTokens: asNumber(stats.input_tokens), outputTokens: asNumber(stats.output_tokens) };
          if (event.status === 'error') error = asString(asObject(event.error)?.message) ?? error ?? 'Gemini CLI reported an error';
          break;
        }
      }
      return undefined;
    },
    result(): CliOutcome {
      return { sessionId, finalText, usage, error: error ?? (sawResult ? undefined : lastStderrError) };
    },
  };
}

/** Gemini CLI as a define, implement or review agent. */
export const geminiPreset: CliPreset = {
  name: 'gemini',
  roles: PRESET_ROLES.gemini,
  executable: 'gemini',
  install: 'npm install -g @google/gemini-cli',
  keyEnv: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
  // The prompt goes on stdin (`-p ''` makes the run non-interactive): an argument is capped at 128 KiB.
  invoke: async (ctx, executable) => ({ ...(await invocation(ctx, executable, ['-p', ''])), stdin: ctx.prompt }),
  async followUp(ctx, executable, previous, message) {
    if (previous.sessionId) return invocation(ctx, executable, ['--resume', previous.sessionId, '-p', message]);
    // The first run ended before it had a session (it failed at startup): a fresh run with the whole context.
    const earlier = previous.finalText ? `\n\n# Your previous answer\n${previous.finalText}` : '';
    return { ...(await invocation(ctx, executable, ['-p', ''])), stdin: `${ctx.prompt}${earlier}\n\n# Now\n${message}` };
  },
  parser: geminiParser,
};
