/**
 * `agents.yaml`: which agents a deployment runs, what they can do and how to start them.
 * Read by `baton dev` and `baton agent`; each agent then gets its own worker and task queue.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { AGENT_STAGES } from '../../workflows/spec';
import { PRESET_ROLE_REASONS, PRESET_ROLES, PRESETS } from './presets/types';

/** Agent names become task queue names and log fields: short, no spaces, no slashes. */
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const SHELL_STRING_MESSAGE = 'must be an argv array, never a shell string';

/** An argv array; a shell string would need a shell to split it, and with it quoting and injection problems. */
const Argv = (what: string) =>
  z
    .array(z.string().min(1, `${what} elements must not be empty`), {
      error: (issue) => (typeof issue.input === 'string' ? `${what} ${SHELL_STRING_MESSAGE}` : undefined),
    })
    .min(1, `${what} must name a program`);

/** v2: what a preset's model costs, for CLIs that report tokens but no cost (US dollars per million tokens). */
export const PriceSchema = z
  .object({ inputUsdPerMTok: z.number().min(0), outputUsdPerMTok: z.number().min(0) })
  .strict();

/** One entry of `agents:` as written in the file. */
export const AgentEntrySchema = z
  .object({
    name: z.string().regex(AGENT_NAME_PATTERN, 'name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    roles: z.array(z.enum(AGENT_STAGES)).min(1, 'roles must list at least one of define, implement, review'),
    capabilities: z.array(z.string().min(1).max(64)).default([]),
    maxConcurrent: z.number().int().min(1).default(1),
    command: Argv('command').optional(),
    /** v2: an agent that runs no worker (a hosted agent, a person): it claims its work over REST or MCP. */
    claim: z.boolean().optional(),
    /** v2: a real agent CLI (or an OpenAI-compatible endpoint) instead of a command. */
    preset: z.enum(PRESETS).optional(),
    model: z.string().min(1).max(200).optional(),
    /** A gateway or a local model server speaking the vendor's API; required for `http`. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'baseUrl must be an http(s) URL' }).optional(),
    /** Extra arguments for the preset's CLI, after Baton's own. */
    args: z.array(z.string()).optional(),
    /** How to run the preset's CLI when it is not on PATH as its usual name (argv prefix, e.g. an absolute path). */
    bin: Argv('bin').optional(),
    price: PriceSchema.optional(),
    /** Values may name the environment, `${ANTHROPIC_API_KEY}`: secrets stay out of the file. */
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((agent, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (agent.claim) {
      for (const key of ['command', 'preset', 'model', 'baseUrl', 'args', 'bin', 'cwd'] as const) {
        if (agent[key] !== undefined) issue(key, `${key} runs a worker; an agent with claim: true runs none (it claims work over REST or MCP)`);
      }
      return;
    }
    if ((agent.command === undefined) === (agent.preset === undefined)) {
      issue('command', 'an agent needs exactly one of command (argv) or preset (claude-code, codex, gemini, aider, http)');
      return;
    }
    if (agent.command) {
      for (const key of ['model', 'baseUrl', 'bin', 'price'] as const) if (agent[key] !== undefined) issue(key, `${key} belongs to a preset; this agent has a command`);
      return;
    }
    const preset = agent.preset!;
    if (!agent.model) issue('model', `preset ${preset} needs a model`);
    if (preset === 'http' && !agent.baseUrl) issue('baseUrl', 'preset http needs baseUrl (an OpenAI-compatible chat-completions endpoint)');
    const allowed = PRESET_ROLES[preset];
    const unsupported = agent.roles.filter((role) => !allowed.includes(role));
    if (unsupported.length > 0) {
      issue('roles', `preset ${preset} can take ${allowed.join(', ')} only, not ${unsupported.join(', ')} (${PRESET_ROLE_REASONS[preset] ?? ''})`);
    }
  });

/** The whole agents file. */
export const AgentsFileSchema = z
  .object({
    agents: z.array(AgentEntrySchema).min(1, 'agents must list at least one agent'),
  })
  .strict();

/** One agent of the deployment, defaults applied. */
export type AgentConfig = z.output<typeof AgentEntrySchema> & {
  /** Absolute directory of the agents file: relative paths in `command` and `cwd` are relative to it. */
  baseDir: string;
};

export interface AgentsConfig {
  /** Where the configuration came from, as given (used in error messages). */
  source: string;
  baseDir: string;
  agents: AgentConfig[];
}

/** A problem in an agents file; the message names the file and the field, e.g. `agents.yaml: agents[1].command: ...`. */
export class AgentsConfigError extends Error {
  override readonly name = 'AgentsConfigError';
  constructor(
    message: string,
    /** One line per problem, each `<source>: <field>: <message>`. */
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

function formatPath(fieldPath: readonly PropertyKey[]): string {
  let out = '';
  for (const key of fieldPath) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Parses and validates the text of an agents file.
 *
 * @param text YAML (JSON is YAML too).
 * @param source the file's path; names it in errors, and its directory becomes every agent's `baseDir`.
 * @throws AgentsConfigError naming the file and each bad field.
 */
export function parseAgentsConfig(text: string, source: string): AgentsConfig {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new AgentsConfigError(`${source}: invalid YAML: ${(err as Error).message}`);
  }
  const parsed = AgentsFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${source}: ${formatPath(issue.path)}: ${issue.message}`);
    throw new AgentsConfigError(problems.join('\n'), problems);
  }

  const seen = new Map<string, number>();
  const problems: string[] = [];
  parsed.data.agents.forEach((agent, index) => {
    const first = seen.get(agent.name);
    if (first !== undefined) {
      problems.push(`${source}: agents[${index}].name: duplicate agent name "${agent.name}" (also agents[${first}])`);
    } else {
      seen.set(agent.name, index);
    }
  });
  if (problems.length > 0) throw new AgentsConfigError(problems.join('\n'), problems);

  const baseDir = path.resolve(path.dirname(source));
  return {
    source,
    baseDir,
    agents: parsed.data.agents.map((agent) => ({
      ...agent,
      ...(agent.cwd !== undefined ? { cwd: path.resolve(baseDir, agent.cwd) } : {}),
      baseDir,
    })),
  };
}

/**
 * Reads and validates an agents file.
 *
 * @throws AgentsConfigError if the file cannot be read or is invalid.
 */
export function loadAgentsFile(filePath: string): AgentsConfig {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    throw new AgentsConfigError(`${filePath}: cannot read agents file: ${(err as Error).message}`);
  }
  return parseAgentsConfig(text, filePath);
}

/** The agent called `name`, or `undefined`. */
export function findAgent(config: AgentsConfig, name: string): AgentConfig | undefined {
  return config.agents.find((agent) => agent.name === name);
}

/**
 * The agent called `name`.
 *
 * @throws AgentsConfigError listing the known agents if there is none.
 */
export function getAgent(config: AgentsConfig, name: string): AgentConfig {
  const agent = findAgent(config, name);
  if (!agent) {
    const known = config.agents.map((a) => a.name).join(', ');
    throw new AgentsConfigError(`${config.source}: no agent named "${name}" (agents: ${known})`);
  }
  return agent;
}

const SCRIPT_EXTENSIONS = ['.mjs', '.cjs', '.js', '.py', '.sh'];

/**
 * The argv to spawn: elements that look like paths (`./x`, `../x`, or a script `*.mjs|.cjs|.js|.py|.sh`)
 * and exist relative to the agents file become absolute, because the agent runs in the task's workdir,
 * not next to its agents file. Everything else (program names, flags, absolute paths) is kept as is.
 */
export function resolveCommand(agent: Pick<AgentConfig, 'command' | 'baseDir'>): string[] {
  return (agent.command ?? []).map((arg) => {
    if (path.isAbsolute(arg)) return arg;
    const looksLikePath =
      arg.startsWith('./') || arg.startsWith('../') || SCRIPT_EXTENSIONS.some((ext) => arg.endsWith(ext));
    if (!looksLikePath) return arg;
    const candidate = path.resolve(agent.baseDir, arg);
    return fs.existsSync(candidate) ? candidate : arg;
  });
}
