/**
 * What the task workflow and the git and gate activities exchange about a task's repository: where it is,
 * the task's branch and worktree, the repository's `.baton.yaml`, gate runs and changes. Types and pure
 * helpers only, so the workflow bundle can import it.
 */
import type { AgentStage } from './spec';

/** A task's repository as the spec gives it: a path on the agent's machine, or a URL every agent machine reaches. */
export interface RepoRef {
  /** One-machine shortcut: a repository on the agent worker's machine; worktrees are made from it. */
  path?: string;
  /** Any git URL (or the path of a bare repository): each agent worker clones it into its own home. */
  url?: string;
  baseBranch: string;
}

export const GATE_PROFILES = ['strict', 'standard', 'minimal'] as const;
export type GateProfile = (typeof GATE_PROFILES)[number];
/** `policy.gates`: a profile, or an explicit skip. */
export type GatesPolicy = GateProfile | 'skip';

/** One gate command of `.baton.yaml` (`gates.commands.<name>`). */
export interface GateCommand {
  run: string[];
  timeoutMs: number;
}

/** `.baton.yaml` at the root of the repository, as read from the base commit (never from the task's branch). */
export interface RepoConfig {
  /** Where it was read from, e.g. `.baton.yaml at 1a2b3c4`, or `none` when the repository has no such file. */
  source: string;
  /** `gates.profile`: the default profile of tasks on this repository. */
  profile: GateProfile | null;
  /** `gates.profiles`: gate names per profile (built-in defaults for profiles the file leaves out). */
  profiles: Record<GateProfile, string[]>;
  /** `gates.commands`. */
  commands: Record<string, GateCommand>;
  /** `secrets.patterns`: regular expressions added to the built-in secret patterns. */
  secretPatterns: string[];
}

/** The profiles a repository gets when its `.baton.yaml` does not define them. */
export const DEFAULT_GATE_PROFILES: Record<GateProfile, string[]> = {
  strict: ['typecheck', 'lint', 'test'],
  standard: ['lint', 'test'],
  minimal: ['test'],
};

/** A task's place in its repository, handed to every activity that touches it. */
export interface WorkspaceRef {
  taskId: string;
  repo: RepoRef;
  /** `baton/<taskId>`. */
  branch: string;
  /** The base commit the branch started from (the review's diff base until the base is merged in). */
  baseCommit: string;
  /** The commit the next step must start from: the branch head as the workflow knows it. */
  head: string;
  /** Patterns from `.baton.yaml`, added to the built-in secret patterns. */
  secretPatterns: string[];
}

/** What `openWorkspace` answers. */
export interface OpenedWorkspace {
  branch: string;
  base: string;
  baseCommit: string;
  head: string;
  /** The worktree's path on the machine that opened it. */
  worktree: string;
  config: RepoConfig;
}

/** The task state's `branch` field. */
export interface BranchState {
  name: string;
  base: string;
  baseCommit: string;
  head: string;
  /** Path of the worktree on the machine that last worked on the task; null once removed. */
  worktree: string | null;
  /** The agent whose worker last worked on the branch (gates and delivery run on its queue). */
  workedBy: string;
  /** Agents whose machines may hold a worktree of the task (each removes its own at the end). */
  agents: string[];
  /** Set once the branch is delivered (`policy.deliver`). */
  delivered?: { how: DeliverPolicy; commit: string; at: string; detail: string };
}

export const DELIVER_POLICIES = ['branch', 'push', 'merge'] as const;
export type DeliverPolicy = (typeof DELIVER_POLICIES)[number];

/** One gate run (an entry of the task state's `gates`). */
export interface GateRun {
  round: number;
  name: string;
  ok: boolean;
  /** Null when the command was killed (timeout) or could not start. */
  exitCode: number | null;
  durationMs: number;
  /** The last lines of its output (stdout and stderr interleaved), secrets redacted. */
  tail: string;
  command: string[];
  /** The commit it ran on. */
  commit: string;
  /** `change`: the task's branch after implement; `merge`: the branch merged into the current base. */
  on: 'change' | 'merge';
  timedOut?: boolean;
  /** The command could not be started (not found, not executable): a configuration problem, not the change's. */
  notRunnable?: boolean;
}

export interface RunGateInput {
  workspace: WorkspaceRef;
  name: string;
  gate: GateCommand;
  round: number;
  on: 'change' | 'merge';
  /** For `on: 'merge'`: the merge commit to check out (recreated from `merge` when missing on this machine). */
  merge?: MergeSpec;
}

/** A deterministic merge commit: the same inputs give the same commit id on every machine. */
export interface MergeSpec {
  base: string;
  head: string;
  /** ISO time used as author and committer date. */
  at: string;
  commit: string;
}

/** A secret found in a change; `preview` is redacted and safe to show anywhere. */
export interface SecretFinding {
  file: string;
  line: number;
  kind: string;
  preview: string;
}

export interface DiffStat {
  files: number;
  insertions: number;
  deletions: number;
}

/** What an implement stage left on the branch. */
export interface ChangeInfo {
  /** The branch head after the stage (equals `parent` when the agent changed nothing). */
  commit: string;
  parent: string;
  /** Commits the stage added: Baton's own commit of what the agent left, plus any the agent made itself. */
  commits: number;
  diffStat: DiffStat;
  /** Changed files, at most 100. */
  files: string[];
}

/** What `integrate` answers before done: conflicts with the current base, and the merge commit for `deliver: merge`. */
export interface IntegrateResult {
  baseCommit: string;
  conflicts: string[];
  /** Set when `deliver` is `merge` and there is no conflict. */
  merge?: MergeSpec;
}

export interface IntegrateInput {
  workspace: WorkspaceRef;
  deliver: DeliverPolicy;
  /** ISO time for a deterministic merge commit. */
  at: string;
}

export interface DeliverInput {
  workspace: WorkspaceRef;
  how: DeliverPolicy;
  merge?: MergeSpec;
}

export type DeliverResult =
  | { ok: true; commit: string; detail: string }
  /** `base-moved`: the base changed since `integrate`; integrate again. `blocked`: a human must act (detail says why). */
  | { ok: false; reason: 'base-moved' | 'blocked'; detail: string };

/**
 * The git and gate activities every agent worker registers next to `runAgent` (on the agent's own queue,
 * so they run on a machine that has, or can fetch, the task's branch).
 */
export interface WorkspaceActivities {
  /** Resolves the base, reads `.baton.yaml` from it, creates the branch and the worktree; idempotent. */
  openWorkspace(input: { taskId: string; repo: RepoRef }): Promise<OpenedWorkspace>;
  runGate(input: RunGateInput): Promise<GateRun>;
  integrate(input: IntegrateInput): Promise<IntegrateResult>;
  deliver(input: DeliverInput): Promise<DeliverResult>;
  /** Removes this machine's worktree of the task; the branch stays. */
  closeWorkspace(input: { workspace: WorkspaceRef }): Promise<{ removed: string | null }>;
}

/** The gates a task runs, from `.baton.yaml` and `policy.gates`. */
export type GateSetup =
  | { kind: 'skip' }
  | { kind: 'run'; profile: GateProfile; gates: { name: string; command: GateCommand }[] }
  /** No usable gates: a human fixes `.baton.yaml` (then `retry`), or decides to go on without them (`approve`). */
  | { kind: 'problem'; problem: string };

/** How messages name the configuration: its source, or a note that there is no file at all. */
function describeSource(config: RepoConfig): string {
  return config.source === 'none' ? 'the repository has no .baton.yaml' : config.source;
}

/**
 * The gates a task runs, in the order its profile lists them: `policy.gates` overrides the file's
 * `gates.profile`, `skip` runs none. A `problem` says what to add to `.baton.yaml`, or to set
 * `policy.gates: "skip"`.
 */
export function resolveGates(config: RepoConfig, policy: GatesPolicy | undefined): GateSetup {
  if (policy === 'skip') return { kind: 'skip' };
  const profile = policy ?? config.profile;
  if (profile === null) {
    return {
      kind: 'problem',
      problem:
        `${describeSource(config)}: gates.profile: no gate profile is set: add \`gates: { profile: standard }\` ` +
        `(strict, standard or minimal) and its gates.commands to .baton.yaml on the base branch, ` +
        `or set policy.gates in the task (e.g. "standard", or "skip" to run no gates)`,
    };
  }
  const gates: { name: string; command: GateCommand }[] = [];
  const missing: string[] = [];
  for (const name of config.profiles[profile]) {
    // Object.hasOwn: a gate called `constructor` must not find Object.prototype's.
    const command = Object.hasOwn(config.commands, name) ? config.commands[name] : undefined;
    if (command) gates.push({ name, command });
    else missing.push(name);
  }
  if (missing.length > 0) {
    const problems = missing.map(
      (name) =>
        `${describeSource(config)}: gates.commands.${name}: profile "${profile}" runs gate "${name}", which has no command: ` +
        `add \`gates: { commands: { ${name}: { run: ["<program>", "<arg>", ...], timeout: 10m } } }\` to .baton.yaml, ` +
        `or set policy.gates: "skip"`,
    );
    return { kind: 'problem', problem: problems.join('\n') };
  }
  return { kind: 'run', profile, gates };
}

/** `baton/<taskId>`. */
export function branchForTask(taskId: string): string {
  return `baton/${taskId}`;
}

/** Stages whose agent may change code (and whose leftovers Baton commits). */
export function stageChangesCode(stage: AgentStage): boolean {
  return stage === 'implement';
}
