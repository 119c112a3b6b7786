/**
 * `.baton.yaml` at the root of a task's repository: which gates (test, lint, ...) a change must pass and how
 * to run them, and extra secret patterns. Pure: the caller reads the file from the base commit.
 */
import YAML from 'yaml';
import { z } from 'zod';
import { DurationSchema, durationMs } from '../../workflows/spec';
import {
  DEFAULT_GATE_PROFILES,
  GATE_PROFILES,
  type GateCommand,
  type GateProfile,
  type RepoConfig,
} from '../../workflows/workspace';
import { formatIssues } from '../config-errors';
import { SecretPatternError, createSecretScanner } from './secret-scan';

/** Gate names appear in logs, task state and messages: short, no spaces, no slashes. */
export const GATE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GATE_NAME_MESSAGE = 'gate names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const DEFAULT_GATE_TIMEOUT_MS = 30 * 60_000;
// A bare number is milliseconds: `timeout: 30` almost certainly meant minutes, and would fail every run.
const MIN_GATE_TIMEOUT_MS = 1_000;

const SHELL_STRING_MESSAGE = 'run must be an argv array, never a shell string';

const GateNameSchema = z.string().regex(GATE_NAME_PATTERN, GATE_NAME_MESSAGE);

const GateCommandSchema = z
  .object({
    run: z
      .array(z.string().min(1, 'run elements must not be empty'), {
        // A shell string would need a shell to split it, and with it quoting and injection problems.
        error: (issue) => (typeof issue.input === 'string' ? SHELL_STRING_MESSAGE : undefined),
      })
      .min(1, 'run must name a program'),
    // Milliseconds once parsed; the pipe only runs on a valid duration, so durationMs cannot throw.
    timeout: DurationSchema.transform(durationMs)
      .pipe(z.number().min(MIN_GATE_TIMEOUT_MS, 'timeout must be at least 1s (a bare number is milliseconds)'))
      .default(DEFAULT_GATE_TIMEOUT_MS),
  })
  .strict();

const GateListSchema = z
  .array(GateNameSchema)
  .refine((names) => new Set(names).size === names.length, { message: 'lists the same gate twice' });

/** The whole `.baton.yaml`; sections may be present but empty (`gates:` with everything commented out). */
const BatonFileSchema = z
  .object({
    gates: z
      .object({
        profile: z.enum(GATE_PROFILES).nullish(),
        profiles: z.partialRecord(z.enum(GATE_PROFILES), GateListSchema).nullish(),
        commands: z.record(GateNameSchema, GateCommandSchema, { error: invalidGateNameMessage }).nullish(),
      })
      .strict()
      .nullish(),
    secrets: z
      .object({
        patterns: z.array(z.string()).superRefine(checkSecretPatterns).nullish(),
      })
      .strict()
      .nullish(),
  })
  .strict();

function invalidGateNameMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issue.code === 'invalid_key' ? GATE_NAME_MESSAGE : undefined;
}

/** Compiles each pattern the way the secret scanner will, so a bad one fails here, naming its index. */
function checkSecretPatterns(patterns: string[], ctx: z.RefinementCtx): void {
  patterns.forEach((pattern, index) => {
    try {
      createSecretScanner([pattern]);
    } catch (err) {
      if (!(err instanceof SecretPatternError)) throw err;
      ctx.addIssue({ code: 'custom', path: [index], message: err.message });
    }
  });
}

/** A problem in a `.baton.yaml` or in the gates it gives a task; the message says what to change. */
export class RepoConfigError extends Error {
  override readonly name = 'RepoConfigError';
  constructor(
    message: string,
    /** One line per problem, each `<source>: <field>: <message>`. */
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

function defaultProfiles(): Record<GateProfile, string[]> {
  // Copies, so a caller changing its config cannot change the defaults of every other repository.
  return Object.fromEntries(GATE_PROFILES.map((p) => [p, [...DEFAULT_GATE_PROFILES[p]]])) as Record<GateProfile, string[]>;
}

/**
 * Parses and validates a `.baton.yaml`.
 *
 * @param text the file's content; `null` means the repository has no `.baton.yaml`: source `none`, no default
 *   profile, the default profiles, no commands and no extra secret patterns.
 * @param source where it was read from, e.g. `.baton.yaml at 1a2b3c4`; names it in errors.
 * @throws RepoConfigError for invalid YAML and for every bad field, each named as `<source>: <field.path>: ...`.
 */
export function parseRepoConfig(text: string | null, source: string): RepoConfig {
  if (text === null) {
    return { source: 'none', profile: null, profiles: defaultProfiles(), commands: {}, secretPatterns: [] };
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new RepoConfigError(`${source}: invalid YAML: ${(err as Error).message}`);
  }
  // An empty file (or one with only comments) parses to null: the same as a file with nothing set.
  const parsed = BatonFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = formatIssues(source, parsed.error.issues);
    throw new RepoConfigError(problems.join('\n'), problems);
  }

  const gates = parsed.data.gates;
  const commands: Record<string, GateCommand> = {};
  for (const [name, command] of Object.entries(gates?.commands ?? {})) {
    commands[name] = {
      run: command.run,
      timeoutMs: command.timeout,
    };
  }
  return {
    source,
    profile: gates?.profile ?? null,
    profiles: { ...defaultProfiles(), ...gates?.profiles },
    commands,
    secretPatterns: parsed.data.secrets?.patterns ?? [],
  };
}
