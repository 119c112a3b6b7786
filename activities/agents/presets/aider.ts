/**
 * Aider (`aider-chat`, tested with 0.86): implement only. Aider has no tool calls: the model edits through the
 * text edit blocks Aider's own system prompt defines (SEARCH/REPLACE for most models), and Aider applies them.
 * So it cannot call `submit_result`; its report is its final reply. The parser's `finalText` is the model's
 * last reply without its edit blocks, and `error` is set whenever the run went wrong although Aider exited 0
 * (it does on API errors and on edits it could not apply): the driver reads a clean exit without an error as
 * `completed` with `finalText` as the summary.
 *
 * Offline and off the user's files: Aider runs with its own HOME under the attempt's run directory, because
 * everything it keeps there is either network (a price list it fetches from GitHub when
 * `~/.aider/caches/model_prices_and_context_window.json` is missing, empty or a day old) or state
 * (`~/.aider/analytics.json`, which `--analytics-disable` rewrites for good). A placeholder price cache stops
 * the fetch, and with `LITELLM_LOCAL_MODEL_COST_MAP=True` LiteLLM prices known models from the table it ships
 * with. Git inside Aider still reads the user's global git configuration (`GIT_CONFIG_GLOBAL`). Chat and input
 * histories go to the run directory, not the repository. `--no-auto-commits --no-dirty-commits`: Baton commits
 * what an agent leaves, after its secret scan; `--no-gitignore`: Aider would add `.aider*` to `.gitignore`.
 * Its repository-map cache (`.aider.tags.cache.v4/` at the repository root) is scratch: the driver removes it
 * after the run, so Baton's commit leaves it out. URL scraping is off (it would fetch pages named in the
 * prompt) and so are shell-command suggestions (which `--yes-always` would not run anyway).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeRunFile } from './cli-common';
import { PRESET_ROLES, type CliInvocation, type CliOutcome, type CliOutputParser, type CliPreset, type CliRunContext } from './types';

/** The repository-map cache Aider writes at the repository root. */
const AIDER_REPO_MAP_CACHE = /^\.aider\.tags\.cache\.v\d+$/;

/** Aider's own files of one attempt: its HOME, the prompt and its histories. */
function aiderFiles(ctx: Pick<CliRunContext, 'runDir'>) {
  const dir = join(ctx.runDir, 'aider');
  return {
    dir,
    home: join(dir, 'home'),
    prompt: join(dir, 'prompt.md'),
    chatHistory: join(dir, 'chat.history.md'),
    inputHistory: join(dir, 'input.history'),
  };
}

/**
 * `--model`: with a base URL (an OpenAI-compatible gateway or local server) a bare model name gets LiteLLM's
 * `openai/` provider prefix, the only provider `--openai-api-base` applies to.
 */
function aiderModel(ctx: Pick<CliRunContext, 'model' | 'baseUrl'>): string {
  return ctx.baseUrl && !ctx.model.includes('/') ? `openai/${ctx.model}` : ctx.model;
}

async function invoke(ctx: CliRunContext, executable: string): Promise<CliInvocation> {
  const files = aiderFiles(ctx);
  // Not empty (an empty cache is fetched again), and fresh for Aider's one-day TTL; LiteLLM's table is the source.
  writeRunFile(files.home, join('.aider', 'caches', 'model_prices_and_context_window.json'), '{"baton-placeholder": {}}\n');
  // The prompt as a file: no limit on an argument's length, and it stays out of `ps` and of the history header.
  writeRunFile(files.dir, 'prompt.md', ctx.prompt);

  const env: NodeJS.ProcessEnv = { ...ctx.env, HOME: files.home, LITELLM_LOCAL_MODEL_COST_MAP: 'True' };
  const gitConfig = userGitConfig(ctx.env);
  if (!ctx.env.GIT_CONFIG_GLOBAL && gitConfig) env.GIT_CONFIG_GLOBAL = gitConfig;
  const argv = [
    executable,
    '--model', aiderModel(ctx),
    ...(ctx.baseUrl ? ['--openai-api-base', ctx.baseUrl] : []),
    '--yes-always',
    '--no-check-update',
    '--no-show-release-notes',
    '--analytics-disable',
    '--no-show-model-warnings',
    '--no-pretty',
    '--no-fancy-input',
    '--no-auto-commits',
    '--no-dirty-commits',
    '--no-gitignore',
    '--no-detect-urls',
    '--no-suggest-shell-commands',
    '--input-history-file', files.inputHistory,
    '--chat-history-file', files.chatHistory,
    '--message-file', files.prompt,
    ...ctx.args,
  ];
  return { argv, env };
}

/** The user's global git configuration file, which Aider's private HOME would otherwise hide from git. */
function userGitConfig(env: NodeJS.ProcessEnv): string | undefined {
  const home = env.HOME ?? homedir();
  const xdg = env.XDG_CONFIG_HOME ?? join(home, '.config');
  return [join(home, '.gitconfig'), join(xdg, 'git', 'config')].find((file) => existsSync(file));
}

/** `Tokens: 2.6k sent, 1.2k cache write, 12k cache hit, 42 received.` */
const TOKENS = /^Tokens: ([\d.]+[kM]?) sent,(?: .*?,)? ([\d.]+[kM]?) received\./;
/** `Cost: $0.0069 message, $0.01 session.` (on the tokens line, or its own line when the cache is reported). */
const COST = /Cost: \$([\d.]+) message, \$([\d.]+) session\./;
const APPLIED = /^Applied edit to (.+)$/;
const NOT_MATCHED = /SEARCH\/REPLACE blocks? failed to match/;
/** An API error as Aider prints it (`litellm.AuthenticationError: ...`), possibly wrapped over several lines. */
const API_ERROR = /^litellm\.[A-Za-z]+(?:Error|Exception)\b/;

/** `2.6k` -> 2600. */
function aiderCount(text: string): number {
  const scale = text.endsWith('k') ? 1e3 : text.endsWith('M') ? 1e6 : 1;
  return Math.round(Number.parseFloat(text) * scale);
}

/**
 * The model's replies in Aider's chat history, oldest first. The file marks what is not a reply: the user's
 * message (`#### `), Aider's own output (`> `) and the start of a session (`# aider chat started at`).
 */
function aiderReplies(history: string): string[] {
  const replies: string[] = [];
  let current: string[] = [];
  const close = () => {
    const reply = current.join('\n').trim();
    if (reply) replies.push(reply);
    current = [];
  };
  for (const line of history.split('\n')) {
    if (line.startsWith('> ') || line === '>' || line.startsWith('#### ') || line.startsWith('# aider chat started at')) close();
    else current.push(line);
  }
  close();
  return replies;
}

/** A reply without its edit blocks (fenced blocks, and the file name line before each): what the model said. */
function withoutEditBlocks(reply: string): string {
  const kept: string[] = [];
  let fenced = false;
  for (const line of reply.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      if (!fenced) {
        // The file name Aider's formats put on the line before the fence.
        const previous = kept.at(-1);
        if (previous !== undefined && previous.trim() !== '' && !/\s/.test(previous.trim())) kept.pop();
      }
      fenced = !fenced;
      continue;
    }
    if (!fenced) kept.push(line);
  }
  return kept.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

/** Reads Aider's plain output (`--no-pretty`): edits applied, tokens and cost, errors; the reply from its chat history. */
function aiderParser(ctx: CliRunContext): CliOutputParser {
  const { chatHistory } = aiderFiles(ctx);
  // The history file is appended to: only what this run adds counts.
  const historyStart = existsSync(chatHistory) ? statSync(chatHistory).size : 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let sawTokens = false;
  let sessionCost: number | undefined;
  let apiError: string | undefined;
  let readingError = false;
  let editsFailed = false;
  let stderrError: string | undefined;

  return {
    line(stream, text) {
      if (stream === 'stderr') {
        if (/error/i.test(text)) stderrError = text.trim();
        return undefined;
      }
      const cost = COST.exec(text);
      if (cost) sessionCost = Number(cost[2]);
      const tokens = TOKENS.exec(text);
      if (tokens) {
        inputTokens += aiderCount(tokens[1]!);
        outputTokens += aiderCount(tokens[2]!);
        sawTokens = true;
        // A reply came after the error (Aider retried): the error is over.
        apiError = undefined;
        readingError = false;
        return undefined;
      }
      const applied = APPLIED.exec(text);
      if (applied) {
        editsFailed = false;
        return { progress: `edited ${applied[1]!.trim()}` };
      }
      if (NOT_MATCHED.test(text)) {
        editsFailed = true;
        return { progress: 'an edit did not apply: Aider asks the model to fix it' };
      }
      if (readingError) {
        // Aider wraps long messages over several lines; a blank line ends one.
        if (text.trim() === '') readingError = false;
        else apiError = `${apiError} ${text.trim()}`;
      } else if (API_ERROR.test(text)) {
        apiError = text.trim();
        readingError = true;
      }
      return undefined;
    },
    result(): CliOutcome {
      let finalText: string | undefined;
      try {
        const history = readFileSync(chatHistory).subarray(historyStart).toString('utf8');
        finalText = withoutEditBlocks(aiderReplies(history).at(-1) ?? '') || undefined;
      } catch {
        // No history: Aider stopped before the model answered.
      }
      const error =
        apiError ??
        (editsFailed ? "the model's last edits did not apply (their SEARCH blocks did not match the files)" : undefined) ??
        (sawTokens ? undefined : stderrError);
      return {
        finalText,
        usage: sawTokens ? { inputTokens, outputTokens, ...(sessionCost !== undefined ? { costUsd: sessionCost } : {}) } : undefined,
        error,
      };
    },
  };
}

/** Aider as an implement agent; it reports with its final reply (see the module comment). */
export const aiderPreset: CliPreset = {
  name: 'aider',
  roles: PRESET_ROLES.aider,
  executable: 'aider',
  install: 'pipx install aider-chat',
  keyEnv: ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'DEEPSEEK_API_KEY'],
  invoke,
  parser: aiderParser,
  scratch: [AIDER_REPO_MAP_CACHE],
};
