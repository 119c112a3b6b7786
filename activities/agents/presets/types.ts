/**
 * What an agent preset is: how Baton runs a real coding-agent CLI (Claude Code, Codex, Gemini CLI, Aider)
 * for one stage of a task, non-interactively in the task's worktree, and how it reads the CLI's output.
 * The driver (`preset-agent.ts`) does the rest the same way for every CLI: the worktree, the prompt, signs
 * of life, the typed result through `baton mcp`, the one follow-up turn, usage and cost, redaction.
 */
import type { AgentStage } from '../../../workflows/spec';

export const CLI_PRESETS = ['claude-code', 'codex', 'gemini', 'aider'] as const;
export type CliPresetName = (typeof CLI_PRESETS)[number];
export const PRESETS = [...CLI_PRESETS, 'http'] as const;
export type PresetName = (typeof PRESETS)[number];

/** The stages each preset can take. */
export const PRESET_ROLES: Record<PresetName, readonly AgentStage[]> = {
  'claude-code': ['define', 'implement', 'review'],
  codex: ['define', 'implement', 'review'],
  gemini: ['define', 'implement', 'review'],
  aider: ['implement'],
  http: ['define', 'review'],
};

/** Whether a CLI reports its result through `baton mcp`'s `submit_result` (Aider reports with its final reply). */
export const REPORTS_THROUGH_MCP: Record<CliPresetName, boolean> = {
  'claude-code': true,
  codex: true,
  gemini: true,
  aider: false,
};

/** Why a preset is limited to some stages (named in the configuration error). */
export const PRESET_ROLE_REASONS: Partial<Record<PresetName, string>> = {
  aider: 'Aider has no tool calls, so it cannot submit a typed definition or verdict',
  http: 'a chat endpoint cannot edit files in the worktree',
};

/** How the CLI starts Baton's MCP server for this stage (`baton mcp`, stdio), to register in its own config. */
export interface McpLaunch {
  command: string;
  args: string[];
  /** BATON_STAGE, BATON_TASK_ID, BATON_RESULT_FILE, BATON_EVENTS_FILE: where `submit_result` and the other tools write. */
  env: Record<string, string>;
}

/** The MCP tools of `baton mcp` as a CLI's model sees them, before each CLI's own prefixing. */
export const MCP_SERVER_NAME = 'baton';
export const MCP_AGENT_TOOLS = ['submit_result', 'report_progress', 'ask_human'] as const;

/** What a preset gets for one run of its CLI. */
export interface CliRunContext {
  /** `model`, optional `baseUrl` (a gateway or a local server speaking the vendor's API) and extra `args`. */
  model: string;
  baseUrl?: string;
  args: string[];
  stage: AgentStage;
  /** The whole stage prompt (task, definition, feedback, notes, earlier results, and for review the diff). */
  prompt: string;
  /** The task's worktree: the CLI's working directory and the only place its edits may go. */
  workdir: string;
  /** A private directory of this attempt, for the CLI's configuration and home (outside the worktree). */
  runDir: string;
  /** The environment the CLI runs with (the worker's, plus the agent's `env`); a preset adds what its CLI needs. */
  env: NodeJS.ProcessEnv;
  mcp: McpLaunch;
}

export interface CliInvocation {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /**
   * Written to the CLI's stdin (then closed). Long prompts go here: Linux caps one argument at 128 KiB, and a
   * review prompt carries up to 100 KiB of diff.
   */
  stdin?: string;
}

/** Token usage (and the CLI's own cost figure, when it reports one) of a run. */
export interface CliUsage {
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
}

/** What a whole run of the CLI said, read from its machine-readable output. */
export interface CliOutcome {
  /** The session to continue for the follow-up turn. */
  sessionId?: string;
  /** The model's last message. */
  finalText?: string;
  usage?: CliUsage;
  /** The CLI reported an error (its own words; the driver adds the exit code). */
  error?: string;
}

/** Reads one run's output line by line. */
export interface CliOutputParser {
  /** What a line means for the task: a progress report (a tool the model used: "running npm test"), or nothing. */
  line(stream: 'stdout' | 'stderr', text: string): { progress?: string } | undefined;
  result(): CliOutcome;
}

/** One coding-agent CLI. */
export interface CliPreset {
  name: CliPresetName;
  /** Stages it can run: every stage for CLIs with MCP tools, implement only for Aider (it has no tool calls). */
  roles: readonly AgentStage[];
  /** The executable looked up on PATH (or the agent's `bin`), and what to install when it is missing. */
  executable: string;
  install: string;
  /** Environment variables that can carry the API key; one must be set, or the run is `AgentMisconfigured`. */
  keyEnv: readonly string[];
  /** The first turn: writes its configuration under `ctx.runDir`, returns the argv and environment. */
  invoke(ctx: CliRunContext, executable: string): Promise<CliInvocation>;
  /**
   * One more turn in the same session, asking the model to report through `submit_result` (a CLI that ended
   * without calling it). Undefined for a CLI without typed results.
   */
  followUp?(ctx: CliRunContext, executable: string, previous: CliOutcome, message: string): Promise<CliInvocation>;
  parser(ctx: CliRunContext): CliOutputParser;
  /**
   * Entries the CLI leaves at the worktree's root that are not part of the change (its caches): removed after
   * each run, before Baton commits, so nothing of the user's repository configuration has to change for them.
   */
  scratch?: readonly RegExp[];
}
